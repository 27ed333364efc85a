// Zip central-directory reader (PKWARE APPNOTE 6.3: end of central directory, zip64 locator and record,
// central file headers with the zip64 extended-information extra field, local file headers). Every offset
// read from the file is checked against the file before it is followed.
#include "io/zip_reader.h"

#include <array>
#include <optional>

namespace tessera {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint64_t kEocdSize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EocdSize = 56;
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kLocalSize = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;

uint16_t rd16(const std::byte* p) { return uint16_t(uint16_t(p[0]) | uint16_t(p[1]) << 8); }
uint32_t rd32(const std::byte* p) { return uint32_t(rd16(p)) | uint32_t(rd16(p + 2)) << 16; }
uint64_t rd64(const std::byte* p) { return uint64_t(rd32(p)) | uint64_t(rd32(p + 4)) << 32; }

constexpr std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

}  // namespace

uint32_t ZipReader::crc32(std::span<const std::byte> bytes) {
    uint32_t c = 0xFFFFFFFFu;
    for (std::byte b : bytes) c = kCrcTable[(c ^ uint32_t(b)) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

Result<ZipReader> ZipReader::open(std::shared_ptr<MappedFile> file, std::string label) {
    ZipReader z;
    z.m_file = std::move(file);
    z.m_label = std::move(label);
    TESSERA_TRY(z.read_central_directory());
    return z;
}

const ZipEntry* ZipReader::find(std::string_view name) const {
    auto it = m_by_name.find(std::string(name));
    return it == m_by_name.end() ? nullptr : &m_entries[it->second];
}

Status ZipReader::read_central_directory() {
    const std::byte* base = m_file->data();
    const uint64_t size = m_file->size();
    auto fail = [&](std::string msg) { return make_error(ErrorCode::Format, m_label + ": " + std::move(msg)); };
    if (size < kEocdSize)
        return fail(std::to_string(size) + " bytes is too short to be a zip archive (truncated?)");

    // The end record sits in the last 22 + 65535 bytes (it may carry a comment); scan backwards and take
    // the first signature whose comment length reaches exactly to the end of the file.
    const uint64_t lowest = size > kEocdSize + 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
    std::optional<uint64_t> eocd;
    for (uint64_t pos = size - kEocdSize;; --pos) {
        if (rd32(base + pos) == kEocdSig && pos + kEocdSize + rd16(base + pos + 20) == size) {
            eocd = pos;
            break;
        }
        if (pos == lowest) break;
    }
    if (!eocd) return fail("end of central directory not found (truncated, or not a zip archive)");

    const std::byte* e = base + *eocd;
    uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6);
    uint64_t n_disk = rd16(e + 8), n_total = rd16(e + 10);
    uint64_t cd_size = rd32(e + 12), cd_offset = rd32(e + 16);
    uint64_t cd_limit = *eocd;  // the central directory ends before the end records

    if (*eocd >= kZip64LocatorSize && rd32(e - kZip64LocatorSize) == kZip64LocatorSig) {
        const std::byte* loc = e - kZip64LocatorSize;
        const uint64_t record = rd64(loc + 8);
        const uint64_t loc_pos = *eocd - kZip64LocatorSize;
        if (record > loc_pos || loc_pos - record < kZip64EocdSize)
            return fail("zip64 end record offset " + std::to_string(record) + " lies outside the archive");
        const std::byte* z = base + record;
        if (rd32(z) != kZip64EocdSig) return fail("zip64 end of central directory record not found");
        disk = rd32(z + 16);
        cd_disk = rd32(z + 20);
        n_disk = rd64(z + 24);
        n_total = rd64(z + 32);
        cd_size = rd64(z + 40);
        cd_offset = rd64(z + 48);
        cd_limit = record;
    } else if (n_total == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
        return fail("end record defers to zip64 but no zip64 locator is present");
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total)
        return make_error(ErrorCode::Unsupported, m_label + ": multi-volume zip archives are not supported");
    if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
        return fail("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
                    " bytes) lies outside the archive (truncated?)");
    if (n_total > cd_size / kCentralSize)
        return fail("central directory claims " + std::to_string(n_total) + " entries in " + std::to_string(cd_size) +
                    " bytes");
    m_cd_offset = cd_offset;
    m_entries.reserve(size_t(n_total));

    uint64_t pos = cd_offset;
    const uint64_t end = cd_offset + cd_size;
    for (uint64_t i = 0; i < n_total; ++i) {
        const std::string where = "central directory entry " + std::to_string(i) + " at offset " + std::to_string(pos);
        if (end - pos < kCentralSize) return fail(where + " is truncated");
        const std::byte* p = base + pos;
        if (rd32(p) != kCentralSig) return fail(where + " has a bad signature");
        ZipEntry entry;
        entry.flags = rd16(p + 8);
        entry.method = rd16(p + 10);
        entry.crc32 = rd32(p + 16);
        entry.compressed_size = rd32(p + 20);
        entry.size = rd32(p + 24);
        const uint64_t name_len = rd16(p + 28), extra_len = rd16(p + 30), comment_len = rd16(p + 32);
        uint64_t disk_start = rd16(p + 34);
        entry.local_header_offset = rd32(p + 42);
        if (kCentralSize + name_len + extra_len + comment_len > end - pos) return fail(where + " is truncated");
        entry.name.assign(reinterpret_cast<const char*>(p + kCentralSize), size_t(name_len));

        // zip64 extended information: 8-byte values present only for the fields whose 32-bit slot is
        // saturated, in the fixed order size, compressed size, local header offset, disk.
        const bool need_size = entry.size == 0xFFFFFFFF, need_csize = entry.compressed_size == 0xFFFFFFFF;
        const bool need_offset = entry.local_header_offset == 0xFFFFFFFF, need_disk = disk_start == 0xFFFF;
        bool have_zip64 = false;
        const std::byte* x = p + kCentralSize + name_len;
        const std::byte* x_end = x + extra_len;
        while (x_end - x >= 4) {
            const uint16_t id = rd16(x), len = rd16(x + 2);
            if (len > x_end - x - 4) return fail(where + " ('" + entry.name + "') has a malformed extra field");
            if (id == kZip64ExtraId) {
                const std::byte* f = x + 4;
                uint64_t left = len;
                auto take64 = [&](uint64_t& dst) {
                    if (left < 8) return false;
                    dst = rd64(f);
                    f += 8;
                    left -= 8;
                    return true;
                };
                bool ok = (!need_size || take64(entry.size)) && (!need_csize || take64(entry.compressed_size)) &&
                          (!need_offset || take64(entry.local_header_offset));
                if (ok && need_disk) {
                    if (left < 4) ok = false;
                    else disk_start = rd32(f);
                }
                if (!ok) return fail(where + " ('" + entry.name + "') has a short zip64 extra field");
                have_zip64 = true;
            }
            x += 4 + len;
        }
        if ((need_size || need_csize || need_offset || need_disk) && !have_zip64)
            return fail(where + " ('" + entry.name + "') lacks its zip64 extra field");
        if (disk_start != 0)
            return make_error(ErrorCode::Unsupported, m_label + ": multi-volume zip archives are not supported");
        if (!m_by_name.emplace(entry.name, m_entries.size()).second)
            return fail("entry '" + entry.name + "' appears twice");
        m_entries.push_back(std::move(entry));
        pos += kCentralSize + name_len + extra_len + comment_len;
    }
    return {};
}

Result<std::span<const std::byte>> ZipReader::stored_data(const ZipEntry& entry) const {
    const std::string what = m_label + ": zip entry '" + entry.name + "'";
    if (entry.flags & 1u) return make_error(ErrorCode::Unsupported, what + " is encrypted");
    if (entry.method != 0)
        return make_error(ErrorCode::Unsupported,
                          what + " is compressed (method " + std::to_string(entry.method) +
                              "); only stored entries are supported, as written by torch.save");
    if (entry.compressed_size != entry.size)
        return make_error(ErrorCode::Format, what + " is stored but its compressed and plain sizes differ");

    const uint64_t lho = entry.local_header_offset;
    if (lho > m_cd_offset || m_cd_offset - lho < kLocalSize)
        return make_error(ErrorCode::Format, what + ": local header offset " + std::to_string(lho) +
                                                 " lies outside the archive");
    const std::byte* p = m_file->data() + lho;
    if (rd32(p) != kLocalSig) return make_error(ErrorCode::Format, what + ": local header has a bad signature");
    const uint64_t name_len = rd16(p + 26), extra_len = rd16(p + 28);
    const uint64_t data_offset = lho + kLocalSize + name_len + extra_len;
    if (data_offset > m_cd_offset)
        return make_error(ErrorCode::Format, what + ": local header runs into the central directory");
    if (std::string_view(reinterpret_cast<const char*>(p + kLocalSize), size_t(name_len)) != entry.name)
        return make_error(ErrorCode::Format, what + ": local header names a different file");
    if (entry.size > m_cd_offset - data_offset)
        return make_error(ErrorCode::Format, what + ": " + std::to_string(entry.size) + " bytes at offset " +
                                                 std::to_string(data_offset) +
                                                 " run past the end of the archive data (truncated?)");
    return std::span<const std::byte>(m_file->data() + data_offset, size_t(entry.size));
}

}  // namespace tessera
