// safetensors reader: the file is mapped read-only and every tensor points into the map. Layout:
// u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__"},
// then the data section that data_offsets index. Everything in the header is checked against the file
// before any tensor is exposed, because a lying header would otherwise turn into out-of-bounds reads.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/json_util.h"
#include "io/reader_util.h"

namespace tessera {

namespace {

// The reference implementation refuses headers above 100 MB; real ones are a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::optional<DType> safetensors_dtype(const std::string& s) {
    if (s == "F32") return DType::F32;
    if (s == "BF16") return DType::BF16;
    if (s == "F16") return DType::F16;
    return std::nullopt;
}

std::optional<uint64_t> as_u64(const nlohmann::json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) {
        int64_t i = v.get<int64_t>();
        if (i >= 0) return uint64_t(i);
    }
    return std::nullopt;
}

struct Pending {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin;
    uint64_t end;
};

Result<Pending> parse_entry(const std::string& label, const std::string& name, const nlohmann::json& v,
                            uint64_t data_size) {
    const std::string what = label + ": tensor '" + name + "'";
    if (!v.is_object())
        return make_error(ErrorCode::Format, what + ": header entry must be an object, got " + json_type_name(v));

    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string())
        return make_error(ErrorCode::Format, what + ": missing or non-string 'dtype'");
    const std::string dtype_str = dt->get<std::string>();
    std::optional<DType> dtype = safetensors_dtype(dtype_str);
    if (!dtype)
        return make_error(ErrorCode::DType, what + ": dtype " + dtype_str +
                                                " is not supported (supported: F32, BF16, F16)");

    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) return make_error(ErrorCode::Format, what + ": missing or non-array 'shape'");
    if (sh->size() > size_t(kMaxDims))
        return make_error(ErrorCode::Unsupported, what + ": " + std::to_string(sh->size()) +
                                                      " dimensions, at most " + std::to_string(kMaxDims) + " supported");
    Shape shape;
    for (const nlohmann::json& d : *sh) {
        std::optional<uint64_t> u = as_u64(d);
        if (!u || *u > uint64_t(INT64_MAX))
            return make_error(ErrorCode::Format, what + ": shape entries must be non-negative integers");
        shape.dims[size_t(shape.ndim++)] = int64_t(*u);
    }
    std::optional<int64_t> numel = checked_numel(shape.dims.data(), shape.ndim, dtype_size(*dtype));
    if (!numel) return make_error(ErrorCode::Format, what + ": shape " + shape.to_string() + " overflows");

    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2)
        return make_error(ErrorCode::Format, what + ": 'data_offsets' must be an array [begin, end]");
    std::optional<uint64_t> begin = as_u64((*off)[0]);
    std::optional<uint64_t> end = as_u64((*off)[1]);
    if (!begin || !end) return make_error(ErrorCode::Format, what + ": data_offsets must be non-negative integers");
    const std::string range = "[" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
    if (*begin > *end) return make_error(ErrorCode::Format, what + ": data_offsets " + range + " begin after end");
    if (*end > data_size)
        return make_error(ErrorCode::Format, what + ": data_offsets " + range + " run past the end of the " +
                                                 std::to_string(data_size) + "-byte data section");
    const uint64_t expected = uint64_t(*numel) * dtype_size(*dtype);
    if (*end - *begin != expected)
        return make_error(ErrorCode::Format, what + ": data_offsets " + range + " hold " +
                                                 std::to_string(*end - *begin) + " bytes, but " + dtype_str + " " +
                                                 shape.to_string() + " needs " + std::to_string(expected));
    return Pending{name, *dtype, shape, *begin, *end};
}

Status read_safetensors_impl(const std::filesystem::path& path, Checkpoint& out) {
    const std::string label = path.filename().string();
    TESSERA_ASSIGN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
    const uint64_t size = file->size();
    if (size < 8)
        return make_error(ErrorCode::Format, label + ": " + std::to_string(size) +
                                                 " bytes is too short for a safetensors header");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | uint64_t(file->data()[i]);
    if (header_len > size - 8)
        return make_error(ErrorCode::Format, label + ": header length " + std::to_string(header_len) +
                                                 " exceeds the file size " + std::to_string(size));
    if (header_len > kMaxHeaderBytes)
        return make_error(ErrorCode::Format, label + ": header length " + std::to_string(header_len) +
                                                 " is above the limit of " + std::to_string(kMaxHeaderBytes));

    const char* header_chars = reinterpret_cast<const char*>(file->data() + 8);
    TESSERA_ASSIGN(nlohmann::json header,
                   parse_json_text(std::string_view(header_chars, size_t(header_len)), label + " header",
                                   JsonParseOptions{.reject_duplicate_keys = true}));
    if (!header.is_object())
        return make_error(ErrorCode::Format, label + ": header must be a JSON object, got " + json_type_name(header));

    const uint64_t data_size = size - 8 - header_len;
    const std::byte* data = file->data() + 8 + header_len;
    std::vector<Pending> pending;
    pending.reserve(header.size());
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            // Free-form string map (format, total_size ...); nothing in it changes how tensors are read.
            if (!it.value().is_object())
                return make_error(ErrorCode::Format, label + ": __metadata__ must be an object");
            continue;
        }
        TESSERA_ASSIGN(Pending p, parse_entry(label, it.key(), it.value(), data_size));
        pending.push_back(std::move(p));
    }

    // Overlap check on the ranges sorted by start; empty tensors occupy nothing and cannot overlap.
    std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const Pending* last = nullptr;
    for (const Pending& p : pending) {
        if (p.begin == p.end) continue;
        if (last && p.begin < last->end)
            return make_error(ErrorCode::Format, label + ": tensors '" + last->name + "' [" + std::to_string(last->begin) +
                                                     ", " + std::to_string(last->end) + "] and '" + p.name + "' [" +
                                                     std::to_string(p.begin) + ", " + std::to_string(p.end) +
                                                     "] overlap");
        last = &p;
    }

    // Kept alive before any tensor points into it, so `out` stays valid even if a later add fails.
    out.keep_alive(file);
    for (const Pending& p : pending) {
        TensorEntry e;
        e.name = p.name;
        e.file = label;
        e.tensor.dtype = p.dtype;
        e.tensor.shape = p.shape;
        e.tensor.device = DeviceKind::Cpu;
        TESSERA_ASSIGN(e.tensor.data, place_tensor_bytes(data + p.begin, size_t(p.end - p.begin), p.dtype, out));
        TESSERA_TRY(out.add(std::move(e)));
    }
    return {};
}

}  // namespace

Status read_safetensors_file(const std::filesystem::path& path, Checkpoint& out) {
    return exception_guard(path.filename().string(), [&] { return read_safetensors_impl(path, out); });
}

}  // namespace tessera
