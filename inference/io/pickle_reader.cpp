// Restricted unpickler for torch.save state dicts (see pickle_reader.h). The machine is iterative: a flat
// value stack with mark positions, a memo vector and an arena that owns every object, so neither deep
// nesting nor reference cycles (a list appended to itself) can recurse or leak.
#include "io/pickle_reader.h"

#include <array>
#include <cstdio>
#include <optional>
#include <memory>
#include <string_view>

namespace tessera {

namespace {

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };

// The only callables and type tags a state dict pickle may name.
enum class GlobalId : uint8_t { OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, StorageType };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::Str: return "str";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

struct Obj {
    Kind kind = Kind::None;
    GlobalId global = GlobalId::OrderedDict;
    int64_t i = 0;             // Int / Bool value; Storage numel; Tensor storage offset
    std::string s;             // Str value; Global and Storage: storage type name; Storage: key in s2
    std::string s2;
    std::vector<Obj*> items;   // Tuple / List; Dict as key, value, key, value ...
    Obj* storage = nullptr;    // Tensor
    std::vector<int64_t> sizes, strides;
};

// Storage type tags torch.save writes. Only the float ones become tensors; the others are accepted as
// tags so that the error can name the tensor that uses them.
struct StorageTag {
    std::string_view name;
    std::optional<DType> dtype;
};
constexpr std::array<StorageTag, 13> kStorageTags{{
    {"FloatStorage", DType::F32}, {"BFloat16Storage", DType::BF16}, {"HalfStorage", DType::F16},
    {"DoubleStorage", std::nullopt}, {"LongStorage", std::nullopt}, {"IntStorage", std::nullopt},
    {"ShortStorage", std::nullopt}, {"CharStorage", std::nullopt}, {"ByteStorage", std::nullopt},
    {"BoolStorage", std::nullopt}, {"ComplexFloatStorage", std::nullopt}, {"ComplexDoubleStorage", std::nullopt},
    {"UntypedStorage", std::nullopt},
}};

class Unpickler {
public:
    Unpickler(std::span<const std::byte> bytes, const std::string& label, const PickleLimits& limits)
        : m_bytes(bytes), m_label(label), m_limits(limits) {}

    Result<std::vector<PickledTensor>> run();

private:
    Error fail(const std::string& msg, ErrorCode code = ErrorCode::Format) const {
        return make_error(code, m_label + ": byte " + std::to_string(m_op_pos) + ": " + msg);
    }
    Result<Obj*> make(Kind k);
    Status push(Obj* o);
    Result<Obj*> pop();
    Result<Obj*> top();
    Result<std::vector<Obj*>> pop_mark();
    Result<uint64_t> read_le(size_t n);
    Result<std::string_view> read_bytes(uint64_t n);
    Result<std::string_view> read_line();
    Status memo_put(uint64_t index);
    Status memo_get(uint64_t index);
    Result<Obj*> resolve_global(std::string_view module, std::string_view name);
    Result<Obj*> reduce(Obj* callable, Obj* args);
    Result<Obj*> persistent_load(Obj* pid);
    Status step(uint8_t op, bool& stop);

    std::span<const std::byte> m_bytes;
    const std::string& m_label;
    const PickleLimits& m_limits;
    size_t m_pos = 0;
    size_t m_op_pos = 0;
    std::vector<std::unique_ptr<Obj>> m_arena;
    std::vector<Obj*> m_stack;
    std::vector<size_t> m_marks;
    std::vector<Obj*> m_memo;
    size_t m_memo_count = 0;
};

Result<Obj*> Unpickler::make(Kind k) {
    if (m_arena.size() >= m_limits.max_objects)
        return fail("more than " + std::to_string(m_limits.max_objects) + " objects");
    m_arena.push_back(std::make_unique<Obj>());
    m_arena.back()->kind = k;
    return m_arena.back().get();
}

Status Unpickler::push(Obj* o) {
    if (m_stack.size() >= m_limits.max_stack)
        return fail("stack deeper than " + std::to_string(m_limits.max_stack) + " entries");
    m_stack.push_back(o);
    return {};
}

// Pickle keeps the objects above the newest mark as a separate list; popping below it is an underflow.
Result<Obj*> Unpickler::pop() {
    size_t floor = m_marks.empty() ? 0 : m_marks.back();
    if (m_stack.size() <= floor) return fail("stack underflow");
    Obj* o = m_stack.back();
    m_stack.pop_back();
    return o;
}

Result<Obj*> Unpickler::top() {
    size_t floor = m_marks.empty() ? 0 : m_marks.back();
    if (m_stack.size() <= floor) return fail("stack underflow");
    return m_stack.back();
}

Result<std::vector<Obj*>> Unpickler::pop_mark() {
    if (m_marks.empty()) return fail("no mark on the stack");
    size_t mark = m_marks.back();
    m_marks.pop_back();
    std::vector<Obj*> items(m_stack.begin() + std::ptrdiff_t(mark), m_stack.end());
    m_stack.resize(mark);
    return items;
}

Result<uint64_t> Unpickler::read_le(size_t n) {
    if (m_bytes.size() - m_pos < n) return fail("truncated pickle (operand runs past the end)");
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(m_bytes[m_pos + k]) << (8 * k);
    m_pos += n;
    return v;
}

Result<std::string_view> Unpickler::read_bytes(uint64_t n) {
    if (n > m_bytes.size() - m_pos)
        return fail("length " + std::to_string(n) + " runs past the end of the pickle (" +
                    std::to_string(m_bytes.size() - m_pos) + " bytes left)");
    std::string_view s(reinterpret_cast<const char*>(m_bytes.data() + m_pos), size_t(n));
    m_pos += size_t(n);
    return s;
}

// GLOBAL operands are newline-terminated module and attribute names; real ones are short.
Result<std::string_view> Unpickler::read_line() {
    constexpr size_t kMaxLine = 256;
    size_t start = m_pos;
    while (m_pos < m_bytes.size() && m_pos - start <= kMaxLine) {
        if (m_bytes[m_pos] == std::byte{'\n'}) {
            std::string_view s(reinterpret_cast<const char*>(m_bytes.data() + start), m_pos - start);
            ++m_pos;
            return s;
        }
        ++m_pos;
    }
    return fail("unterminated or over-long GLOBAL name");
}

Status Unpickler::memo_put(uint64_t index) {
    if (index >= m_limits.max_memo_index)
        return fail("memo index " + std::to_string(index) + " exceeds the limit of " +
                    std::to_string(m_limits.max_memo_index));
    TESSERA_ASSIGN(Obj * o, top());
    if (index >= m_memo.size()) m_memo.resize(size_t(index) + 1, nullptr);
    if (!m_memo[size_t(index)]) ++m_memo_count;
    m_memo[size_t(index)] = o;
    return {};
}

Status Unpickler::memo_get(uint64_t index) {
    if (index >= m_memo.size() || !m_memo[size_t(index)])
        return fail("memo index " + std::to_string(index) + " was never stored");
    return push(m_memo[size_t(index)]);
}

Result<Obj*> Unpickler::resolve_global(std::string_view module, std::string_view name) {
    std::optional<GlobalId> id;
    std::string storage_type;
    if (module == "collections" && name == "OrderedDict") {
        id = GlobalId::OrderedDict;
    } else if (module == "torch._utils") {
        if (name == "_rebuild_tensor_v2") id = GlobalId::RebuildTensorV2;
        else if (name == "_rebuild_parameter") id = GlobalId::RebuildParameter;
        else if (name == "_rebuild_parameter_with_state") id = GlobalId::RebuildParameterWithState;
    } else if (module == "torch") {
        for (const StorageTag& t : kStorageTags)
            if (name == t.name) {
                id = GlobalId::StorageType;
                storage_type = std::string(name);
            }
    }
    if (!id)
        return fail("refusing global '" + std::string(module) + "." + std::string(name) +
                        "': a state dict may only name collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                        "torch._utils._rebuild_parameter and torch.*Storage",
                    ErrorCode::Unsupported);
    TESSERA_ASSIGN(Obj * g, make(Kind::Global));
    g->global = *id;
    g->s = std::move(storage_type);
    return g;
}

// A tuple of ints (sizes/strides), checked element by element.
bool int_tuple(const Obj* o, std::vector<int64_t>& out) {
    if (o->kind != Kind::Tuple) return false;
    out.clear();
    for (const Obj* e : o->items) {
        if (e->kind != Kind::Int) return false;
        out.push_back(e->i);
    }
    return true;
}

Result<Obj*> Unpickler::reduce(Obj* callable, Obj* args) {
    if (callable->kind != Kind::Global) return fail(std::string("REDUCE on a ") + kind_name(callable->kind));
    if (args->kind != Kind::Tuple) return fail(std::string("REDUCE arguments must be a tuple, got ") + kind_name(args->kind));
    const std::vector<Obj*>& a = args->items;
    switch (callable->global) {
        case GlobalId::OrderedDict:
            if (!a.empty()) return fail("OrderedDict called with arguments");
            return make(Kind::Dict);
        case GlobalId::RebuildTensorV2: {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() != 6 && a.size() != 7)
                return fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
            if (a[0]->kind != Kind::Storage) return fail("_rebuild_tensor_v2: argument 1 must be a storage");
            if (a[1]->kind != Kind::Int) return fail("_rebuild_tensor_v2: argument 2 (storage offset) must be an int");
            TESSERA_ASSIGN(Obj * t, make(Kind::Tensor));
            if (!int_tuple(a[2], t->sizes)) return fail("_rebuild_tensor_v2: argument 3 (size) must be a tuple of ints");
            if (!int_tuple(a[3], t->strides))
                return fail("_rebuild_tensor_v2: argument 4 (stride) must be a tuple of ints");
            if (t->sizes.size() != t->strides.size()) return fail("_rebuild_tensor_v2: size and stride lengths differ");
            t->storage = a[0];
            t->i = a[1]->i;
            return t;
        }
        case GlobalId::RebuildParameter:
        case GlobalId::RebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its data for our purposes.
            if (a.size() < 3 || a.size() > 4) return fail("_rebuild_parameter: wrong number of arguments");
            if (a[0]->kind != Kind::Tensor) return fail("_rebuild_parameter: argument 1 must be a tensor");
            return a[0];
        case GlobalId::StorageType: return fail("torch." + callable->s + " may not be called");
    }
    return fail("unknown callable");
}

// torch.save's persistent id: ('storage', <storage type>, key, location, numel).
Result<Obj*> Unpickler::persistent_load(Obj* pid) {
    if (pid->kind != Kind::Tuple || pid->items.size() != 5)
        return fail("persistent id must be a 5-tuple ('storage', type, key, location, numel)");
    const std::vector<Obj*>& p = pid->items;
    if (p[0]->kind != Kind::Str || p[0]->s != "storage") return fail("persistent id does not start with 'storage'");
    if (p[1]->kind != Kind::Global || p[1]->global != GlobalId::StorageType)
        return fail("persistent id: element 2 must be a torch.*Storage type");
    if (p[2]->kind != Kind::Str) return fail("persistent id: storage key must be a string");
    if (p[3]->kind != Kind::Str) return fail("persistent id: location must be a string");
    if (p[4]->kind != Kind::Int || p[4]->i < 0) return fail("persistent id: numel must be a non-negative int");
    TESSERA_ASSIGN(Obj * s, make(Kind::Storage));
    s->s = p[1]->s;
    s->s2 = p[2]->s;
    s->i = p[4]->i;
    return s;
}

Status Unpickler::step(uint8_t op, bool& stop) {
    auto push_new = [&](Kind k) -> Result<Obj*> {
        TESSERA_ASSIGN(Obj * o, make(k));
        TESSERA_TRY(push(o));
        return o;
    };
    auto push_kind = [&](Kind k) -> Status {
        TESSERA_ASSIGN(Obj * o, push_new(k));
        (void)o;
        return {};
    };
    auto push_int = [&](int64_t v) -> Status {
        TESSERA_ASSIGN(Obj * o, push_new(Kind::Int));
        o->i = v;
        return {};
    };
    auto push_str = [&](uint64_t len) -> Status {
        TESSERA_ASSIGN(std::string_view s, read_bytes(len));
        TESSERA_ASSIGN(Obj * o, push_new(Kind::Str));
        o->s = std::string(s);
        return {};
    };
    auto push_tuple = [&](std::vector<Obj*> items) -> Status {
        TESSERA_ASSIGN(Obj * o, push_new(Kind::Tuple));
        o->items = std::move(items);
        return {};
    };
    auto pop_n = [&](size_t n) -> Result<std::vector<Obj*>> {
        std::vector<Obj*> items(n);
        for (size_t k = n; k-- > 0;) {
            TESSERA_ASSIGN(items[k], pop());
        }
        return items;
    };
    auto add_pairs = [&](Obj* dict, const std::vector<Obj*>& kv) -> Status {
        if (dict->kind != Kind::Dict) return fail(std::string("SETITEM(S) on a ") + kind_name(dict->kind));
        if (kv.size() % 2 != 0) return fail("SETITEMS with an odd number of items");
        dict->items.insert(dict->items.end(), kv.begin(), kv.end());
        return {};
    };

    switch (op) {
        case 0x80: {  // PROTO
            TESSERA_ASSIGN(uint64_t v, read_le(1));
            if (v > 5) return fail("unsupported pickle protocol " + std::to_string(v));
            return {};
        }
        case 0x95: {  // FRAME: a length prefix for buffering; the bytes follow inline.
            TESSERA_ASSIGN(uint64_t n, read_le(8));
            if (n > m_bytes.size() - m_pos) return fail("frame of " + std::to_string(n) + " bytes runs past the end");
            return {};
        }
        case '.': stop = true; return {};
        case 'N': return push_kind(Kind::None);
        case 0x88:
        case 0x89: {  // NEWTRUE / NEWFALSE
            TESSERA_ASSIGN(Obj * o, push_new(Kind::Bool));
            o->i = op == 0x88;
            return {};
        }
        case 'J': {  // BININT: signed 32-bit
            TESSERA_ASSIGN(uint64_t v, read_le(4));
            return push_int(int64_t(int32_t(uint32_t(v))));
        }
        case 'K': {
            TESSERA_ASSIGN(uint64_t v, read_le(1));
            return push_int(int64_t(v));
        }
        case 'M': {
            TESSERA_ASSIGN(uint64_t v, read_le(2));
            return push_int(int64_t(v));
        }
        case 0x8a: {  // LONG1: n-byte little-endian two's complement
            TESSERA_ASSIGN(uint64_t n, read_le(1));
            if (n > 8) return fail("integer of " + std::to_string(n) + " bytes is too large");
            TESSERA_ASSIGN(uint64_t v, read_le(size_t(n)));
            if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1u) v |= ~uint64_t(0) << (8 * n);  // sign-extend
            return push_int(int64_t(v));
        }
        case 'G': {  // BINFLOAT: big-endian IEEE double
            TESSERA_ASSIGN(uint64_t le, read_le(8));
            uint64_t be = 0;
            for (int k = 0; k < 8; ++k) be = be << 8 | ((le >> (8 * k)) & 0xFFu);
            // Floats never matter to a state dict; keep the bits only so the value exists on the stack.
            TESSERA_ASSIGN(Obj * o, push_new(Kind::Float));
            o->i = int64_t(be);
            return {};
        }
        case 'X': {
            TESSERA_ASSIGN(uint64_t n, read_le(4));
            return push_str(n);
        }
        case 0x8c: {
            TESSERA_ASSIGN(uint64_t n, read_le(1));
            return push_str(n);
        }
        case 0x8d: {
            TESSERA_ASSIGN(uint64_t n, read_le(8));
            return push_str(n);
        }
        case ')': return push_tuple({});
        case 't': {
            TESSERA_ASSIGN(std::vector<Obj*> items, pop_mark());
            return push_tuple(std::move(items));
        }
        case 0x85:
        case 0x86:
        case 0x87: {
            TESSERA_ASSIGN(std::vector<Obj*> items, pop_n(size_t(op - 0x84)));
            return push_tuple(std::move(items));
        }
        case ']': return push_kind(Kind::List);
        case 'l': {
            TESSERA_ASSIGN(std::vector<Obj*> items, pop_mark());
            TESSERA_ASSIGN(Obj * o, push_new(Kind::List));
            o->items = std::move(items);
            return {};
        }
        case 'a': {
            TESSERA_ASSIGN(Obj * v, pop());
            TESSERA_ASSIGN(Obj * list, top());
            if (list->kind != Kind::List) return fail(std::string("APPEND to a ") + kind_name(list->kind));
            list->items.push_back(v);
            return {};
        }
        case 'e': {
            TESSERA_ASSIGN(std::vector<Obj*> items, pop_mark());
            TESSERA_ASSIGN(Obj * list, top());
            if (list->kind != Kind::List) return fail(std::string("APPENDS to a ") + kind_name(list->kind));
            list->items.insert(list->items.end(), items.begin(), items.end());
            return {};
        }
        case '}': return push_kind(Kind::Dict);
        case 'd': {
            TESSERA_ASSIGN(std::vector<Obj*> items, pop_mark());
            TESSERA_ASSIGN(Obj * o, push_new(Kind::Dict));
            return add_pairs(o, items);
        }
        case 's': {
            TESSERA_ASSIGN(std::vector<Obj*> kv, pop_n(2));
            TESSERA_ASSIGN(Obj * dict, top());
            return add_pairs(dict, kv);
        }
        case 'u': {
            TESSERA_ASSIGN(std::vector<Obj*> kv, pop_mark());
            TESSERA_ASSIGN(Obj * dict, top());
            return add_pairs(dict, kv);
        }
        case '(':
            if (m_marks.size() >= m_limits.max_marks)
                return fail("more than " + std::to_string(m_limits.max_marks) + " nested marks");
            m_marks.push_back(m_stack.size());
            return {};
        case '0': {
            TESSERA_ASSIGN(Obj * discarded, pop());
            (void)discarded;
            return {};
        }
        case '1': {
            TESSERA_ASSIGN(std::vector<Obj*> discarded, pop_mark());
            (void)discarded;
            return {};
        }
        case '2': {
            TESSERA_ASSIGN(Obj * o, top());
            return push(o);
        }
        case 'q': {
            TESSERA_ASSIGN(uint64_t i, read_le(1));
            return memo_put(i);
        }
        case 'r': {
            TESSERA_ASSIGN(uint64_t i, read_le(4));
            return memo_put(i);
        }
        case 0x94: return memo_put(m_memo_count);  // MEMOIZE: next index is the memo's length
        case 'h': {
            TESSERA_ASSIGN(uint64_t i, read_le(1));
            return memo_get(i);
        }
        case 'j': {
            TESSERA_ASSIGN(uint64_t i, read_le(4));
            return memo_get(i);
        }
        case 'c': {
            TESSERA_ASSIGN(std::string_view module, read_line());
            TESSERA_ASSIGN(std::string_view name, read_line());
            TESSERA_ASSIGN(Obj * g, resolve_global(module, name));
            return push(g);
        }
        case 0x93: {  // STACK_GLOBAL
            TESSERA_ASSIGN(Obj * name, pop());
            TESSERA_ASSIGN(Obj * module, pop());
            if (module->kind != Kind::Str || name->kind != Kind::Str) return fail("STACK_GLOBAL operands must be strings");
            TESSERA_ASSIGN(Obj * g, resolve_global(module->s, name->s));
            return push(g);
        }
        case 'R': {
            TESSERA_ASSIGN(Obj * args, pop());
            TESSERA_ASSIGN(Obj * callable, pop());
            TESSERA_ASSIGN(Obj * result, reduce(callable, args));
            return push(result);
        }
        case 'b': {  // BUILD: torch only sets instance state (state_dict()._metadata), which we ignore.
            TESSERA_ASSIGN(Obj * state, pop());
            (void)state;
            TESSERA_ASSIGN(Obj * target, top());
            if (target->kind != Kind::Dict && target->kind != Kind::Tensor)
                return fail(std::string("BUILD on a ") + kind_name(target->kind));
            return {};
        }
        case 'Q': {
            TESSERA_ASSIGN(Obj * pid, pop());
            TESSERA_ASSIGN(Obj * storage, persistent_load(pid));
            return push(storage);
        }
        default: break;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", unsigned(op));
    return fail(std::string("unsupported pickle opcode ") + hex);
}

Result<std::vector<PickledTensor>> Unpickler::run() {
    bool stop = false;
    while (!stop) {
        m_op_pos = m_pos;
        if (m_pos >= m_bytes.size()) return fail("truncated pickle (no STOP opcode)");
        uint8_t op = uint8_t(m_bytes[m_pos++]);
        TESSERA_TRY(step(op, stop));
    }
    TESSERA_ASSIGN(Obj * root, pop());
    if (root->kind != Kind::Dict)
        return fail(std::string("the pickle holds a ") + kind_name(root->kind) + ", not a state dict");

    std::vector<PickledTensor> out;
    out.reserve(root->items.size() / 2);
    for (size_t k = 0; k + 1 < root->items.size(); k += 2) {
        const Obj* key = root->items[k];
        const Obj* value = root->items[k + 1];
        if (key->kind != Kind::Str)
            return fail(std::string("state dict key ") + std::to_string(k / 2) + " is a " + kind_name(key->kind) +
                        ", not a string");
        if (value->kind != Kind::Tensor)
            return fail("state dict entry '" + key->s + "' is a " + kind_name(value->kind) + ", not a tensor");
        PickledTensor t;
        t.name = key->s;
        t.storage_type = value->storage->s;
        t.storage_key = value->storage->s2;
        t.storage_numel = value->storage->i;
        for (const StorageTag& tag : kStorageTags)
            if (tag.name == t.storage_type) t.dtype = tag.dtype;
        t.storage_offset = value->i;
        t.sizes = value->sizes;
        t.strides = value->strides;
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace

Result<std::vector<PickledTensor>> read_state_dict_pickle(std::span<const std::byte> bytes, const std::string& label,
                                                          const PickleLimits& limits) {
    try {
        Unpickler u(bytes, label, limits);
        return u.run();
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, label + ": out of memory while reading the pickle");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, label + ": " + e.what());
    }
}

}  // namespace tessera
