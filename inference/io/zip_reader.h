// A read-only zip reader over a mapped file, enough for torch.save archives: the central directory
// (with zip64 records, since real shards are ~10 GB) and stored (uncompressed) entries, whose bytes are
// handed out as spans into the map so tensors need no copy. Compressed or encrypted entries are reported,
// not inflated: torch writes everything stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "tessera/error.h"

namespace tessera {

struct ZipEntry {
    std::string name;
    uint16_t flags = 0;
    uint16_t method = 0;        // 0 = stored, 8 = deflate
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;          // uncompressed
    uint64_t local_header_offset = 0;
};

class ZipReader {
public:
    // Parses the central directory of `file`; `label` (the file name) starts every error message.
    static Result<ZipReader> open(std::shared_ptr<MappedFile> file, std::string label);

    const std::vector<ZipEntry>& entries() const { return m_entries; }
    const ZipEntry* find(std::string_view name) const;
    const std::string& label() const { return m_label; }

    // The bytes of a stored entry, inside the mapped file. Checks the local header (signature, name)
    // and that the data lies inside the archive.
    Result<std::span<const std::byte>> stored_data(const ZipEntry& entry) const;

    static uint32_t crc32(std::span<const std::byte> bytes);

private:
    ZipReader() = default;
    Status read_central_directory();

    std::shared_ptr<MappedFile> m_file;
    std::string m_label;
    std::vector<ZipEntry> m_entries;
    std::unordered_map<std::string, size_t> m_by_name;
    uint64_t m_cd_offset = 0;  // entry data must end before the central directory
};

}  // namespace tessera
