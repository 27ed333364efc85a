// PyTorch checkpoint reader (torch.save since 1.6: a zip of stored entries <prefix>/data.pkl and
// <prefix>/data/<storage key>). deepseek-llm-7b-chat and Janus-Pro ship only this format (models.md §0.1).
// The pickle is read by the restricted unpickler; each tensor is a view (offset, sizes, strides) into a
// storage entry, mapped without a copy when it is contiguous, copied into an owned buffer otherwise.
#include <cstring>
#include <string>
#include <unordered_map>

#include "io/checkpoint.h"
#include "io/pickle_reader.h"
#include "io/reader_util.h"
#include "io/zip_reader.h"

namespace tessera {

namespace {

// data.pkl of a 2,000-tensor checkpoint is ~200 KB; anything near this limit is not a state dict.
constexpr uint64_t kMaxPickleBytes = uint64_t(256) << 20;

struct Storage {
    std::string type;
    int64_t numel = 0;
    std::span<const std::byte> bytes;
};

std::string dims_string(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

// The archive folder is "archive/" or the file stem depending on the torch version; find data.pkl one
// level down and read everything relative to it.
Result<const ZipEntry*> find_data_pkl(const ZipReader& zip) {
    const ZipEntry* found = nullptr;
    for (const ZipEntry& e : zip.entries()) {
        const std::string& n = e.name;
        const bool top = n == "data.pkl";
        const bool one_down = n.size() > 9 && n.ends_with("/data.pkl") && n.find('/') == n.size() - 9;
        if (!top && !one_down) continue;
        if (found)
            return make_error(ErrorCode::Format, zip.label() + ": several data.pkl entries ('" + found->name + "', '" +
                                                     n + "')");
        found = &e;
    }
    if (!found)
        return make_error(ErrorCode::Format, zip.label() + ": no data.pkl in the archive (not a torch.save checkpoint?)");
    return found;
}

// Copies a strided view (at most kMaxDims dims, checked in range by the caller) into contiguous memory.
void gather(const std::byte* base, size_t elem, const PickledTensor& t, std::byte* dst) {
    int64_t size[kMaxDims] = {1, 1, 1, 1}, stride[kMaxDims] = {0, 0, 0, 0};
    const size_t pad = size_t(kMaxDims) - t.sizes.size();
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        size[pad + d] = t.sizes[d];
        stride[pad + d] = t.strides[d];
    }
    for (int64_t a = 0; a < size[0]; ++a)
        for (int64_t b = 0; b < size[1]; ++b)
            for (int64_t c = 0; c < size[2]; ++c)
                for (int64_t d = 0; d < size[3]; ++d) {
                    int64_t src = t.storage_offset + a * stride[0] + b * stride[1] + c * stride[2] + d * stride[3];
                    std::memcpy(dst, base + size_t(src) * elem, elem);
                    dst += elem;
                }
}

Status add_tensor(const PickledTensor& t, const Storage& storage, const std::string& label, Checkpoint& out) {
    const std::string what = label + ": tensor '" + t.name + "'";
    const DType dtype = *t.dtype;
    const size_t elem = dtype_size(dtype);
    if (t.sizes.size() > size_t(kMaxDims))
        return make_error(ErrorCode::Unsupported, what + ": " + std::to_string(t.sizes.size()) +
                                                      " dimensions, at most " + std::to_string(kMaxDims) + " supported");
    const std::string view = " (offset " + std::to_string(t.storage_offset) + ", size " + dims_string(t.sizes) +
                             ", stride " + dims_string(t.strides) + ")";
    if (t.storage_offset < 0) return make_error(ErrorCode::Format, what + ": negative storage offset" + view);
    Shape shape;
    for (int64_t s : t.sizes) shape.dims[size_t(shape.ndim++)] = s;
    std::optional<int64_t> numel = checked_numel(shape.dims.data(), shape.ndim, elem);
    if (!numel) return make_error(ErrorCode::Format, what + ": size is negative or overflows" + view);

    // Highest element the view touches, with overflow checks; it must lie inside the storage.
    bool contiguous = true;
    if (*numel > 0) {
        int64_t reach = t.storage_offset;
        int64_t expect = 1;  // row-major stride of the current dim
        for (size_t d = t.sizes.size(); d-- > 0;) {
            const int64_t s = t.sizes[d], st = t.strides[d];
            if (st < 0) return make_error(ErrorCode::Unsupported, what + ": negative stride" + view);
            if (s - 1 > 0 && st > (INT64_MAX - reach) / (s - 1))
                return make_error(ErrorCode::Format, what + ": view overflows" + view);
            reach += (s - 1) * st;
            if (s != 1 && st != expect) contiguous = false;
            expect *= s;
        }
        if (reach >= storage.numel)
            return make_error(ErrorCode::Format, what + ": view reaches element " + std::to_string(reach) +
                                                     " of storage '" + t.storage_key + "' which has only " +
                                                     std::to_string(storage.numel) + view);
    } else if (t.storage_offset > storage.numel) {
        return make_error(ErrorCode::Format, what + ": storage offset past the end of storage '" + t.storage_key +
                                                 "' (" + std::to_string(storage.numel) + " elements)" + view);
    }

    TensorEntry e;
    e.name = t.name;
    e.file = label;
    e.tensor.dtype = dtype;
    e.tensor.shape = shape;
    e.tensor.device = DeviceKind::Cpu;
    const size_t nbytes = size_t(*numel) * elem;
    if (contiguous || *numel == 0) {
        TESSERA_ASSIGN(e.tensor.data,
                       place_tensor_bytes(storage.bytes.data() + size_t(t.storage_offset) * elem, nbytes, dtype, out));
    } else {
        // A transposed or sliced view shares its storage with another tensor; the engine wants
        // row-major data, so this one gets its own copy (rare: save_pretrained writes contiguous tensors).
        TESSERA_ASSIGN(HostBuffer copy, HostBuffer::allocate(nbytes));
        gather(storage.bytes.data(), elem, t, copy.data());
        e.tensor.data = copy.data();
        out.keep_alive(std::move(copy));
    }
    return out.add(std::move(e));
}

Status read_pytorch_impl(const std::filesystem::path& path, Checkpoint& out) {
    const std::string label = path.filename().string();
    TESSERA_ASSIGN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
    const std::byte* head = file->data();
    if (file->size() >= 2 && head[0] == std::byte{0x80} && uint8_t(head[1]) <= 5)
        return make_error(ErrorCode::Unsupported, label + ": legacy (pre-1.6, not zip) torch.save format is not "
                                                          "supported; re-save it with a current torch or convert it "
                                                          "to safetensors");
    if (file->size() < 4 || std::memcmp(head, "PK\x03\x04", 4) != 0)
        return make_error(ErrorCode::Format, label + ": not a zip archive (PyTorch checkpoints are zip files)");

    TESSERA_ASSIGN(ZipReader zip, ZipReader::open(file, label));
    TESSERA_ASSIGN(const ZipEntry* pkl, find_data_pkl(zip));
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // keeps the trailing '/'

    if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
        TESSERA_ASSIGN(std::span<const std::byte> order, zip.stored_data(*bo));
        std::string_view s(reinterpret_cast<const char*>(order.data()), order.size());
        if (s != "little")
            return make_error(ErrorCode::Unsupported, label + ": byte order '" + std::string(s.substr(0, 16)) +
                                                          "' is not supported (only little-endian)");
    }

    if (pkl->size > kMaxPickleBytes)
        return make_error(ErrorCode::Format, label + ": " + pkl->name + " is " + std::to_string(pkl->size) +
                                                 " bytes, too large for a state dict");
    TESSERA_ASSIGN(std::span<const std::byte> pickle, zip.stored_data(*pkl));
    // Only the pickle's CRC is checked: it is small, while hashing gigabytes of weights would cost
    // seconds at every load.
    if (ZipReader::crc32(pickle) != pkl->crc32)
        return make_error(ErrorCode::Format, label + ": " + pkl->name + " fails its CRC check (corrupt file)");
    TESSERA_ASSIGN(std::vector<PickledTensor> tensors, read_state_dict_pickle(pickle, label + ":" + pkl->name));

    // Kept alive before any tensor points into it, so `out` stays valid even if a later tensor fails.
    out.keep_alive(file);
    std::unordered_map<std::string, Storage> storages;
    for (const PickledTensor& t : tensors) {
        const std::string what = label + ": tensor '" + t.name + "'";
        if (!t.dtype)
            return make_error(ErrorCode::DType, what + " has storage type torch." + t.storage_type +
                                                    ", which is not supported (supported: FloatStorage, "
                                                    "BFloat16Storage, HalfStorage)");
        auto it = storages.find(t.storage_key);
        if (it == storages.end()) {
            const std::string entry_name = prefix + "data/" + t.storage_key;
            const ZipEntry* entry = zip.find(entry_name);
            if (!entry)
                return make_error(ErrorCode::Format, what + ": storage entry '" + entry_name + "' is missing");
            TESSERA_ASSIGN(std::span<const std::byte> bytes, zip.stored_data(*entry));
            const uint64_t elem = dtype_size(*t.dtype);
            if (uint64_t(t.storage_numel) > UINT64_MAX / elem || bytes.size() != uint64_t(t.storage_numel) * elem)
                return make_error(ErrorCode::Format, what + ": storage entry '" + entry_name + "' holds " +
                                                         std::to_string(bytes.size()) + " bytes, but " +
                                                         std::to_string(t.storage_numel) + " elements of torch." +
                                                         t.storage_type + " need " +
                                                         std::to_string(uint64_t(t.storage_numel) * elem));
            it = storages.emplace(t.storage_key, Storage{t.storage_type, t.storage_numel, bytes}).first;
        } else if (it->second.type != t.storage_type || it->second.numel != t.storage_numel) {
            return make_error(ErrorCode::Format, what + ": storage '" + t.storage_key + "' is described as torch." +
                                                     t.storage_type + " of " + std::to_string(t.storage_numel) +
                                                     " elements, but earlier as torch." + it->second.type + " of " +
                                                     std::to_string(it->second.numel));
        }
        TESSERA_TRY(add_tensor(t, it->second, label, out));
    }
    return {};
}

}  // namespace

Status read_pytorch_file(const std::filesystem::path& path, Checkpoint& out) {
    return exception_guard(path.filename().string(), [&] { return read_pytorch_impl(path, out); });
}

}  // namespace tessera
