// GGUF reader: parses the header of a mapped file with a bounds-checked cursor, so a hostile or damaged file
// ends in an Error that names the file and the key or tensor, never in a read past the mapping, an
// overflowed size or a huge allocation. Layout (all little-endian):
//   magic "GGUF", u32 version (2 or 3), u64 tensor_count, u64 kv_count,
//   kv_count × { string key, u32 type, value }   (string = u64 length + bytes; array = u32 type, u64 n, items)
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
//   padding to general.alignment (default 32), then the data section; offsets are relative to its start.
#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace tessera {

static_assert(std::endian::native == std::endian::little, "the GGUF reader maps little-endian data directly");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kGgmlMaxDims = 4;  // GGML_MAX_DIMS (equal to our Shape's kMaxDims)

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
        case GgufType::U16: case GgufType::I16: return 2;
        case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
        case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
        default: return 0;
    }
}

bool known_type(uint32_t t) { return t <= uint32_t(GgufType::F64); }

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Decodes one little-endian scalar of type t at p into the integer / float payloads.
void decode_scalar(GgufType t, const std::byte* p, uint64_t& u, int64_t& i, double& f) {
    switch (t) {
        case GgufType::U8: u = load<uint8_t>(p); i = int64_t(u); break;
        case GgufType::I8: i = load<int8_t>(p); break;
        case GgufType::U16: u = load<uint16_t>(p); i = int64_t(u); break;
        case GgufType::I16: i = load<int16_t>(p); break;
        case GgufType::U32: u = load<uint32_t>(p); i = int64_t(u); break;
        case GgufType::I32: i = load<int32_t>(p); break;
        case GgufType::U64: u = load<uint64_t>(p); i = int64_t(u); break;  // i only used when u fits
        case GgufType::I64: i = load<int64_t>(p); break;
        case GgufType::Bool: u = load<uint8_t>(p); i = int64_t(u); break;
        case GgufType::F32: f = double(load<float>(p)); break;
        case GgufType::F64: f = load<double>(p); break;
        default: break;
    }
    bool is_signed = t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
    if (is_signed) u = uint64_t(i);
}

bool signed_type(GgufType t) {
    return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
    switch (type) {
        case GgufType::U8: return "u8";
        case GgufType::I8: return "i8";
        case GgufType::U16: return "u16";
        case GgufType::I16: return "i16";
        case GgufType::U32: return "u32";
        case GgufType::I32: return "i32";
        case GgufType::F32: return "f32";
        case GgufType::Bool: return "bool";
        case GgufType::String: return "string";
        case GgufType::Array: return "array";
        case GgufType::U64: return "u64";
        case GgufType::I64: return "i64";
        case GgufType::F64: return "f64";
    }
    return "?";
}

// ---- GgufValue ----

bool GgufValue::is_integer() const {
    switch (m_type) {
        case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
        case GgufType::I32: case GgufType::U64: case GgufType::I64:
            return true;
        default:
            return false;
    }
}

std::optional<int64_t> GgufValue::as_int() const {
    if (!is_integer()) return std::nullopt;
    if (m_type == GgufType::U64 && m_u > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return m_i;
}

std::optional<uint64_t> GgufValue::as_uint() const {
    if (!is_integer()) return std::nullopt;
    if (signed_type(m_type) && m_i < 0) return std::nullopt;
    return m_u;
}

std::optional<double> GgufValue::as_float() const {
    if (!is_float()) return std::nullopt;
    return m_f;
}

std::optional<bool> GgufValue::as_bool() const {
    if (m_type != GgufType::Bool) return std::nullopt;
    return m_u != 0;
}

std::optional<std::string_view> GgufValue::as_string() const {
    if (m_type != GgufType::String) return std::nullopt;
    return m_str;
}

std::optional<int64_t> GgufValue::int_at(uint64_t i) const {
    if (m_type != GgufType::Array || i >= m_count || m_elem == GgufType::String || m_elem == GgufType::F32 ||
        m_elem == GgufType::F64)
        return std::nullopt;
    uint64_t u = 0;
    int64_t v = 0;
    double f = 0.0;
    decode_scalar(m_elem, m_raw + i * scalar_size(m_elem), u, v, f);
    if (m_elem == GgufType::U64 && u > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return v;
}

std::optional<double> GgufValue::float_at(uint64_t i) const {
    if (m_type != GgufType::Array || i >= m_count || (m_elem != GgufType::F32 && m_elem != GgufType::F64))
        return std::nullopt;
    uint64_t u = 0;
    int64_t v = 0;
    double f = 0.0;
    decode_scalar(m_elem, m_raw + i * scalar_size(m_elem), u, v, f);
    return f;
}

std::string GgufValue::to_string() const {
    switch (m_type) {
        case GgufType::String: {
            std::string s(m_str.substr(0, 80));
            return "\"" + s + (m_str.size() > 80 ? "...\"" : "\"");
        }
        case GgufType::Bool: return m_u ? "true" : "false";
        case GgufType::F32: case GgufType::F64: return std::to_string(m_f);
        case GgufType::Array: {
            std::string s = "[" + std::string(gguf_type_name(m_elem)) + " x " + std::to_string(m_count) + ": ";
            for (uint64_t i = 0; i < std::min<uint64_t>(m_count, 3); ++i) {
                if (i) s += ", ";
                if (m_elem == GgufType::String)
                    s += "\"" + std::string(m_strings[i].substr(0, 20)) + "\"";
                else if (auto v = int_at(i))
                    s += std::to_string(*v);
                else if (auto f = float_at(i))
                    s += std::to_string(*f);
            }
            return s + (m_count > 3 ? ", ...]" : "]");
        }
        default:
            return signed_type(m_type) ? std::to_string(m_i) : std::to_string(m_u);
    }
}

// ---- parser ----

class GgufParser {
public:
    GgufParser(GgufFile& out, GgufOpenOptions options)
        : m_out(out), m_options(options), m_base(out.m_file->data()), m_size(out.m_file->size()),
          m_name(out.file_name()) {}

    Status parse();

private:
    Error fail(const std::string& what) const {
        return make_error(ErrorCode::Format, m_name + ": " + what + " (at byte " + std::to_string(m_pos) + ")");
    }
    size_t remaining() const { return m_size - m_pos; }
    Status need(uint64_t n, const std::string& what) const {
        if (n > remaining())
            return fail(what + ": needs " + std::to_string(n) + " bytes, only " + std::to_string(remaining()) +
                        " left in the file of " + std::to_string(m_size) + " bytes");
        return {};
    }
    template <class T>
    Result<T> read(const std::string& what) {
        TESSERA_TRY(need(sizeof(T), what));
        T v = load<T>(m_base + m_pos);
        m_pos += sizeof(T);
        return v;
    }
    Result<std::string_view> read_string(const std::string& what) {
        TESSERA_ASSIGN(uint64_t n, read<uint64_t>(what + " length"));
        TESSERA_TRY(need(n, what + " (string of " + std::to_string(n) + " bytes)"));
        std::string_view s(reinterpret_cast<const char*>(m_base + m_pos), size_t(n));
        m_pos += size_t(n);
        return s;
    }
    Status read_value(GgufType type, GgufValue& v, const std::string& what);
    Status read_tensor_info(uint64_t index);

    GgufFile& m_out;
    GgufOpenOptions m_options;
    const std::byte* m_base;
    size_t m_size;
    size_t m_pos = 0;
    std::string m_name;
};

Status GgufParser::read_value(GgufType type, GgufValue& v, const std::string& what) {
    v.m_type = type;
    if (type == GgufType::String) {
        TESSERA_ASSIGN(v.m_str, read_string(what));
        return {};
    }
    if (type == GgufType::Array) {
        TESSERA_ASSIGN(uint32_t elem, read<uint32_t>(what + " array type"));
        if (!known_type(elem)) return fail(what + ": unknown array element type " + std::to_string(elem));
        v.m_elem = GgufType(elem);
        if (v.m_elem == GgufType::Array) return fail(what + ": arrays of arrays are not supported");
        TESSERA_ASSIGN(v.m_count, read<uint64_t>(what + " array length"));
        if (v.m_elem == GgufType::String) {
            // Each string takes at least its 8-byte length: bounds the count before anything is reserved.
            if (v.m_count > remaining() / 8)
                return fail(what + ": array of " + std::to_string(v.m_count) + " strings cannot fit in the " +
                            std::to_string(remaining()) + " bytes left");
            v.m_strings.reserve(size_t(v.m_count));
            for (uint64_t i = 0; i < v.m_count; ++i) {
                TESSERA_ASSIGN(std::string_view s, read_string(what + "[" + std::to_string(i) + "]"));
                v.m_strings.push_back(s);
            }
            return {};
        }
        size_t es = scalar_size(v.m_elem);
        if (v.m_count > remaining() / es)
            return fail(what + ": array of " + std::to_string(v.m_count) + " " + std::string(gguf_type_name(v.m_elem)) +
                        " runs past the end of the file");
        v.m_raw = m_base + m_pos;
        if (v.m_elem == GgufType::Bool)
            for (uint64_t i = 0; i < v.m_count; ++i)
                if (uint8_t(v.m_raw[i]) > 1) return fail(what + "[" + std::to_string(i) + "]: bool is neither 0 nor 1");
        m_pos += size_t(v.m_count * es);
        return {};
    }
    size_t es = scalar_size(type);
    TESSERA_TRY(need(es, what));
    decode_scalar(type, m_base + m_pos, v.m_u, v.m_i, v.m_f);
    if (type == GgufType::Bool && v.m_u > 1) return fail(what + ": bool is neither 0 nor 1");
    m_pos += es;
    return {};
}

Status GgufParser::read_tensor_info(uint64_t index) {
    const std::string where = "tensor #" + std::to_string(index);
    TESSERA_ASSIGN(std::string_view name, read_string(where + " name"));
    if (name.empty()) return fail(where + ": empty name");
    const std::string tw = "tensor '" + std::string(name) + "'";
    TESSERA_ASSIGN(uint32_t n_dims, read<uint32_t>(tw + " dimension count"));
    if (n_dims > uint32_t(kGgmlMaxDims))
        return fail(tw + ": " + std::to_string(n_dims) + " dimensions (at most " + std::to_string(kGgmlMaxDims) + ")");
    uint64_t ne[kGgmlMaxDims] = {1, 1, 1, 1};
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
        TESSERA_ASSIGN(ne[d], read<uint64_t>(tw + " dimension"));
        if (ne[d] == 0) return fail(tw + ": dimension " + std::to_string(d) + " is 0");
        if (ne[d] > uint64_t(std::numeric_limits<int64_t>::max()) ||
            numel > uint64_t(std::numeric_limits<int64_t>::max()) / ne[d])
            return fail(tw + ": element count overflows (dimension " + std::to_string(d) + " = " +
                        std::to_string(ne[d]) + ")");
        numel *= ne[d];
    }
    TESSERA_ASSIGN(uint32_t type_id, read<uint32_t>(tw + " type"));
    auto traits = quant_traits(type_id);
    if (!traits) return fail(tw + ": unknown GGML type " + std::to_string(type_id));
    if (ne[0] % uint64_t(traits->block_size) != 0)
        return fail(tw + ": row length " + std::to_string(ne[0]) + " is not a multiple of the " +
                    std::string(traits->name) + " block size " + std::to_string(traits->block_size));
    uint64_t blocks = numel / uint64_t(traits->block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / uint64_t(traits->block_bytes))
        return fail(tw + ": byte size overflows");
    TESSERA_ASSIGN(uint64_t offset, read<uint64_t>(tw + " offset"));

    GgufTensor t;
    t.name = std::string(name);
    t.type = traits->type;
    t.shape.ndim = int(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) t.shape.dims[size_t(n_dims - 1 - d)] = int64_t(ne[d]);
    t.offset = offset;
    t.nbytes = blocks * uint64_t(traits->block_bytes);
    m_out.m_tensors.push_back(std::move(t));
    return {};
}

Status GgufParser::parse() {
    if (m_size < 24) return fail("too short for a GGUF header (" + std::to_string(m_size) + " bytes)");
    TESSERA_ASSIGN(uint32_t magic, read<uint32_t>("magic"));
    if (magic != kMagic) {
        char m[5] = {};
        std::memcpy(m, m_base, 4);
        for (char& c : m)
            if (c && (c < 32 || c > 126)) c = '?';
        return fail("not a GGUF file (magic \"" + std::string(m) + "\", expected \"GGUF\")");
    }
    TESSERA_ASSIGN(uint32_t version, read<uint32_t>("version"));
    if (version == 0x02000000u || version == 0x03000000u) return fail("big-endian GGUF files are not supported");
    if (version != 2 && version != 3)
        return fail("GGUF version " + std::to_string(version) + " is not supported (2 or 3)");
    m_out.m_version = version;
    TESSERA_ASSIGN(uint64_t n_tensors, read<uint64_t>("tensor count"));
    TESSERA_ASSIGN(uint64_t n_kv, read<uint64_t>("metadata count"));
    // Lower bounds on the encoded size of each entry keep a forged count from reserving gigabytes.
    if (n_kv > remaining() / 13)
        return fail("metadata count " + std::to_string(n_kv) + " cannot fit in the file");
    if (n_tensors > remaining() / 24)
        return fail("tensor count " + std::to_string(n_tensors) + " cannot fit in the file");

    m_out.m_kv.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        TESSERA_ASSIGN(std::string_view key, read_string("metadata key #" + std::to_string(i)));
        if (key.empty()) return fail("metadata key #" + std::to_string(i) + " is empty");
        const std::string kw = "metadata '" + std::string(key) + "'";
        TESSERA_ASSIGN(uint32_t type, read<uint32_t>(kw + " type"));
        if (!known_type(type)) return fail(kw + ": unknown value type " + std::to_string(type));
        GgufValue v;
        TESSERA_TRY(read_value(GgufType(type), v, kw));
        if (!m_out.m_kv_index.emplace(key, m_out.m_kv.size()).second) return fail(kw + ": duplicate key");
        m_out.m_kv.emplace_back(key, std::move(v));
    }

    if (const GgufValue* a = m_out.find("general.alignment")) {
        auto al = a->as_uint();
        if (!al || *al == 0 || *al > (uint64_t(1) << 30) || (*al & (*al - 1)) != 0)
            return fail("general.alignment must be a power of two, file has " + a->to_string());
        m_out.m_alignment = *al;
    }

    m_out.m_tensors.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) TESSERA_TRY(read_tensor_info(i));
    for (size_t i = 0; i < m_out.m_tensors.size(); ++i)
        if (!m_out.m_tensor_index.emplace(m_out.m_tensors[i].name, i).second)
            return fail("tensor '" + m_out.m_tensors[i].name + "' appears twice");

    const uint64_t al = m_out.m_alignment;
    const uint64_t data = (uint64_t(m_pos) + al - 1) / al * al;
    m_out.m_data_offset = data;
    const uint64_t data_size = data <= m_size ? m_size - data : 0;

    std::vector<const GgufTensor*> by_offset;
    by_offset.reserve(m_out.m_tensors.size());
    for (GgufTensor& t : m_out.m_tensors) {
        const std::string tw = m_name + ": tensor '" + t.name + "'";
        if (t.offset % al != 0)
            return make_error(ErrorCode::Format, tw + ": data offset " + std::to_string(t.offset) +
                                                     " is not a multiple of the alignment " + std::to_string(al));
        if (t.offset > data_size || t.nbytes > data_size - t.offset) {
            if (t.offset > std::numeric_limits<uint64_t>::max() - t.nbytes || !m_options.allow_truncated)
                return make_error(ErrorCode::Format,
                                  tw + ": data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
                                      ") runs past the end of the data section (" + std::to_string(data_size) +
                                      " bytes from file offset " + std::to_string(data) + "; file is " +
                                      std::to_string(m_size) + " bytes: truncated?)");
            m_out.m_truncated = true;
            t.data = nullptr;
        } else {
            t.data = m_base + data + t.offset;
        }
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const GgufTensor& p = *by_offset[i - 1];
        const GgufTensor& q = *by_offset[i];
        if (p.offset + p.nbytes > q.offset)
            return make_error(ErrorCode::Format, m_name + ": tensor '" + q.name + "' (offset " + std::to_string(q.offset) +
                                                     ") overlaps tensor '" + p.name + "' (offset " +
                                                     std::to_string(p.offset) + ", " + std::to_string(p.nbytes) + " bytes)");
    }
    return {};
}

std::optional<Tensor> GgufTensor::float_view() const {
    auto dt = quant_float_dtype(type);
    if (!dt || !data) return std::nullopt;
    Tensor t;
    t.dtype = *dt;
    t.shape = shape;
    t.device = DeviceKind::Cpu;
    t.data = const_cast<std::byte*>(data);  // Tensor is a mutable view by design; the mapping is read-only
    return t;
}

// ---- GgufFile ----

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::filesystem::path& path, GgufOpenOptions options) {
    TESSERA_ASSIGN(auto mapped, MappedFile::open(path));
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->m_file = std::move(mapped);
    GgufParser parser(*f, options);
    TESSERA_TRY(parser.parse());
    return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = m_kv_index.find(key);
    return it == m_kv_index.end() ? nullptr : &m_kv[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
    auto it = m_tensor_index.find(name);
    return it == m_tensor_index.end() ? nullptr : &m_tensors[it->second];
}

namespace {

Error key_error(const GgufFile& f, std::string_view key, ErrorCode code, const std::string& what) {
    return make_error(code, f.file_name() + ": " + std::string(key) + ": " + what);
}

Error wrong_type(const GgufFile& f, std::string_view key, const char* expected, const GgufValue& v) {
    std::string has(gguf_type_name(v.type()));
    if (v.type() == GgufType::Array) has += " of " + std::string(gguf_type_name(v.array_type()));
    return key_error(f, key, ErrorCode::Format, std::string("expected ") + expected + ", file has " + has);
}

}  // namespace

Result<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return key_error(*this, key, ErrorCode::Config, "missing");
    if (auto i = v->as_int()) return *i;
    return wrong_type(*this, key, "an integer", *v);
}

Result<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return key_error(*this, key, ErrorCode::Config, "missing");
    if (auto f = v->as_float()) return *f;
    if (auto i = v->as_int()) return double(*i);
    return wrong_type(*this, key, "a number", *v);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return key_error(*this, key, ErrorCode::Config, "missing");
    if (auto b = v->as_bool()) return *b;
    return wrong_type(*this, key, "a bool", *v);
}

Result<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return key_error(*this, key, ErrorCode::Config, "missing");
    if (auto s = v->as_string()) return *s;
    return wrong_type(*this, key, "a string", *v);
}

Result<const GgufValue*> GgufFile::get_array(std::string_view key, GgufType elem) const {
    const GgufValue* v = find(key);
    if (!v) return key_error(*this, key, ErrorCode::Config, "missing");
    if (v->type() != GgufType::Array || v->array_type() != elem) {
        std::string expected = "an array of " + std::string(gguf_type_name(elem));
        return wrong_type(*this, key, expected.c_str(), *v);
    }
    return v;
}

std::string_view GgufFile::architecture() const {
    const GgufValue* v = find("general.architecture");
    auto s = v ? v->as_string() : std::nullopt;
    return s ? *s : std::string_view();
}

}  // namespace tessera
