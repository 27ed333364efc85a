// PyTorch checkpoint reader: the torch.save fixtures (protocol 2 and 4, zip64, sharded) must read back
// value for value, views that share a storage must map or copy correctly, and every hostile or broken
// archive or pickle crafted here (foreign globals, bombs, lying views, truncation) must fail cleanly with
// a message that names the file and the tensor or the byte.
#include <QtTest/QtTest>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "io/checkpoint.h"
#include "io/pickle_reader.h"
#include "io/zip_reader.h"
#include "support/checkpoint_checks.h"
#include "support/test_support.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

using test::check_expected;
using test::element;
using test::expect_error;

// --- a pickle writer for the opcodes torch.save uses ---
class Pickle {
public:
    explicit Pickle(int protocol = 2) { m_b += "\x80" + std::string(1, char(protocol)); }
    Pickle& op(char c) { m_b += c; return *this; }
    Pickle& raw(const std::string& s) { m_b += s; return *this; }
    Pickle& u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) m_b += char((v >> (8 * i)) & 0xFF);
        return *this;
    }
    Pickle& str(const std::string& s) { return op('X').u32(uint32_t(s.size())).raw(s); }
    Pickle& global(const std::string& module, const std::string& name) { return op('c').raw(module + "\n" + name + "\n"); }
    Pickle& integer(int64_t v) {
        if (v >= 0 && v < 256) return op('K').raw(std::string(1, char(v)));
        op('\x8a').raw(std::string(1, char(8)));
        for (int i = 0; i < 8; ++i) m_b += char((uint64_t(v) >> (8 * i)) & 0xFF);
        return *this;
    }
    Pickle& ints(const std::vector<int64_t>& v) {
        op('(');
        for (int64_t x : v) integer(x);
        return op('t');
    }
    const std::string& bytes() const { return m_b; }

private:
    std::string m_b;
};

struct Spec {
    std::string name;
    std::string storage_type = "FloatStorage";
    std::string key = "0";
    int64_t numel = 0;
    int64_t offset = 0;
    std::vector<int64_t> sizes, strides;
};

// OrderedDict of _rebuild_tensor_v2 calls, exactly as torch.save lays them out.
std::string state_dict_pickle(const std::vector<Spec>& specs) {
    Pickle p;
    p.global("collections", "OrderedDict").op(')').op('R').op('(');
    for (const Spec& s : specs) {
        p.str(s.name).global("torch._utils", "_rebuild_tensor_v2").op('(');
        p.op('(').str("storage").global("torch", s.storage_type).str(s.key).str("cpu").integer(s.numel).op('t').op('Q');
        p.integer(s.offset).ints(s.sizes).ints(s.strides).op('\x89').global("collections", "OrderedDict").op(')').op('R');
        p.op('t').op('R');
    }
    return p.op('u').op('.').bytes();
}

// --- a zip writer: stored entries whose data starts `phase` bytes past a 64-byte boundary (torch: 0) ---
struct Item {
    std::string name, data;
    uint16_t method = 0;
    bool bad_crc = false;
};

void put16(std::string& s, uint32_t v) { s += char(v & 0xFF), s += char((v >> 8) & 0xFF); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xFFFF), put16(s, v >> 16); }

std::string make_zip(const std::vector<Item>& items, size_t phase = 0) {
    std::string out, central;
    for (const Item& it : items) {
        const uint32_t offset = uint32_t(out.size());
        uint32_t crc = ZipReader::crc32({reinterpret_cast<const std::byte*>(it.data.data()), it.data.size()});
        if (it.bad_crc) crc ^= 1;
        const size_t pad = (64 + phase - (out.size() + 30 + it.name.size() + 4) % 64) % 64;
        std::string extra;
        put16(extra, 0x4246), put16(extra, uint32_t(pad)), extra += std::string(pad, 'Z');
        std::string h;
        put32(h, 0x04034b50), put16(h, 20), put16(h, 0), put16(h, it.method), put32(h, 0), put32(h, crc);
        put32(h, uint32_t(it.data.size())), put32(h, uint32_t(it.data.size()));
        put16(h, uint32_t(it.name.size())), put16(h, uint32_t(extra.size()));
        out += h + it.name + extra + it.data;
        std::string c;
        put32(c, 0x02014b50), put16(c, 20), put16(c, 20), put16(c, 0), put16(c, it.method), put32(c, 0), put32(c, crc);
        put32(c, uint32_t(it.data.size())), put32(c, uint32_t(it.data.size()));
        put16(c, uint32_t(it.name.size())), put16(c, 0), put16(c, 0), put16(c, 0), put16(c, 0), put32(c, 0);
        put32(c, offset);
        central += c + it.name;
    }
    const uint32_t cd_offset = uint32_t(out.size());
    out += central;
    std::string e;
    put32(e, 0x06054b50), put16(e, 0), put16(e, 0), put16(e, uint32_t(items.size())), put16(e, uint32_t(items.size()));
    put32(e, uint32_t(central.size())), put32(e, cd_offset), put16(e, 0);
    return out + e;
}

std::string f32_bytes(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

// A torch-style archive: archive/data.pkl, archive/byteorder and archive/data/<key> for each storage.
std::string torch_zip(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                      size_t phase = 0, const std::string& order = "little") {
    std::vector<Item> items{{"archive/data.pkl", pickle}, {"archive/byteorder", order}};
    for (const auto& [key, data] : storages) items.push_back({"archive/data/" + key, data});
    return make_zip(items, phase);
}

Status read_bytes(const test::TempDir& dir, const std::string& bytes, Checkpoint& out) {
    test::write_file(dir / "pytorch_model.bin", bytes);
    return read_pytorch_file(dir / "pytorch_model.bin", out);
}

std::vector<std::byte> as_bytes(const std::string& s) {
    std::vector<std::byte> b(s.size());
    for (size_t i = 0; i < s.size(); ++i) b[i] = std::byte(uint8_t(s[i]));
    return b;
}

Result<std::vector<PickledTensor>> unpickle(const std::string& s, const PickleLimits& limits = {}) {
    std::vector<std::byte> b = as_bytes(s);
    return read_state_dict_pickle(b, "test.pkl", limits);
}

const std::vector<float> kTwelve{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

// Deterministic corruption: truncation, bit flips, random bytes or boundary values at a few places.
std::string mutate(std::string s, std::mt19937& rng) {
    const unsigned kind = rng() % 4;
    if (kind == 0 && !s.empty()) {
        s.resize(rng() % s.size());
        return s;
    }
    const char boundary[] = {0, '\xff', '\x7f', '\x80', 1};
    for (unsigned n = 1 + rng() % 4; n > 0 && !s.empty(); --n) {
        const size_t at = rng() % s.size();
        if (kind == 1) s[at] = char(s[at] ^ char(1u << (rng() % 8)));
        else if (kind == 2) s[at] = char(rng());
        else s[at] = boundary[rng() % 5];
    }
    return s;
}

// Touches every byte of every tensor a reader accepted, so a view past its storage would fault here.
uint32_t touch_all(const Checkpoint& ckpt) {
    uint32_t h = 0;
    for (const TensorEntry& e : ckpt.tensors())
        for (size_t k = 0; k < e.tensor.nbytes(); ++k) h = h * 31 + static_cast<const uint8_t*>(e.tensor.data)[k];
    return h;
}

}  // namespace

class TestPytorchCheckpoint : public QObject {
    Q_OBJECT

private slots:
    void readsSingleFile() {
        auto ckpt = Checkpoint::open(test::fixture("io/pytorch_single"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        QCOMPARE(qs((*ckpt)->format()), QString("pytorch"));
        check_expected(**ckpt, "pytorch_single");
        // shared.row = base[2] is contiguous at element offset 12 of base's storage: mapped, not copied.
        const auto* base = (*ckpt)->find("shared.base");
        const auto* row = (*ckpt)->find("shared.row");
        const auto* transposed = (*ckpt)->find("shared.transposed");
        QVERIFY(base && row && transposed);
        QCOMPARE(static_cast<const std::byte*>(row->tensor.data), static_cast<const std::byte*>(base->tensor.data) + 12 * 2);
        // The transposed view needed a copy, so it cannot lie inside base's bytes.
        const auto* t = static_cast<const std::byte*>(transposed->tensor.data);
        const auto* b = static_cast<const std::byte*>(base->tensor.data);
        QVERIFY(t < b || t >= b + base->tensor.nbytes());
        auto bad = (*ckpt)->get("proj.weight", Shape{3, 5});
        expect_error(bad, ErrorCode::Shape, {});
        QCOMPARE(qs(bad.error().message), QString("proj.weight: expected shape [3, 5], file has [3, 4] (pytorch_model.bin)"));
    }

    void readsProtocol4() {
        auto ckpt = Checkpoint::open(test::fixture("io/pytorch_protocol4"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        check_expected(**ckpt, "pytorch_protocol4");
    }

    void readsZip64() {
        auto ckpt = Checkpoint::open(test::fixture("io/pytorch_zip64"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        check_expected(**ckpt, "pytorch_zip64");
    }

    void readsShards() {
        auto ckpt = Checkpoint::open(test::fixture("io/pytorch_sharded"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        QCOMPARE(qs((*ckpt)->format()), QString("pytorch"));
        check_expected(**ckpt, "pytorch_sharded");
        QCOMPARE(qs((*ckpt)->find("model.norm.weight")->file), QString("pytorch_model-00002-of-00002.bin"));
        QCOMPARE(qs((*ckpt)->find("model.embed_tokens.weight")->file), QString("pytorch_model-00001-of-00002.bin"));
        test::TempDir dir;
        fs::copy(test::fixture("io/pytorch_sharded"), dir.path());
        fs::remove(dir / "pytorch_model-00001-of-00002.bin");
        expect_error(Checkpoint::open(dir.path()), ErrorCode::Io,
                     {"pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "does not exist"});
    }

    void craftedArchiveRoundTrip() {
        // Positive control for the writers below: a contiguous view with an offset, a transposed view of
        // the same storage, and a misaligned archive (f32 data 2 bytes off: copied, still correct).
        const std::string pkl = state_dict_pickle({{"w", "FloatStorage", "0", 12, 2, {2, 3}, {3, 1}},
                                                   {"wt", "FloatStorage", "0", 12, 0, {3, 4}, {1, 3}}});
        for (size_t phase : {size_t(0), size_t(2)}) {
            test::TempDir dir;
            Checkpoint ckpt;
            Status s = read_bytes(dir, torch_zip(pkl, {{"0", f32_bytes(kTwelve)}}, phase), ckpt);
            QVERIFY2(s.ok(), s.ok() ? "" : s.error().to_string().c_str());
            const Tensor& w = ckpt.find("w")->tensor;
            QVERIFY(w.shape == (Shape{2, 3}));
            QVERIFY(reinterpret_cast<uintptr_t>(w.data) % 4 == 0);
            for (int i = 0; i < 6; ++i) QCOMPARE(w.as<const float>()[i], float(2 + i));
            const Tensor& wt = ckpt.find("wt")->tensor;
            for (int r = 0; r < 3; ++r)
                for (int c = 0; c < 4; ++c) QCOMPARE(wt.as<const float>()[r * 4 + c], float(c * 3 + r));
        }
    }

    void refusesForeignGlobals() {
        test::TempDir dir;
        Checkpoint ckpt;
        expect_error(Checkpoint::open(test::fixture("io/evil_pickle")), ErrorCode::Unsupported,
                     {"pytorch_model.bin", "data.pkl", "refusing global 'posix.system'"});
        const std::string eval = Pickle().global("builtins", "eval").str("1+1").op('\x85').op('R').op('.').bytes();
        expect_error(read_bytes(dir, torch_zip(eval, {}), ckpt), ErrorCode::Unsupported,
                     {"pytorch_model.bin:archive/data.pkl", "byte 2", "'builtins.eval'"});
        // Protocol 4 names globals from the stack.
        const std::string stack_global =
            Pickle(4).op('\x8c').raw("\x02os").op('\x8c').raw("\x06system").op('\x93').str("true").op('\x85').op('R').op('.').bytes();
        expect_error(read_bytes(dir, torch_zip(stack_global, {}), ckpt), ErrorCode::Unsupported, {"'os.system'"});
        for (auto [module, name] : {std::pair{"torch", "load"}, std::pair{"torch._utils", "_rebuild_qtensor"},
                                    std::pair{"__builtin__", "getattr"}, std::pair{"collections", "defaultdict"}}) {
            const std::string p = Pickle().global(module, name).op(')').op('R').op('.').bytes();
            expect_error(unpickle(p), ErrorCode::Unsupported, {std::string(module) + "." + name});
        }
        QVERIFY(ckpt.tensors().empty());
    }

    void rejectsBrokenArchives() {
        test::TempDir dir;
        Checkpoint ckpt;
        const std::string good = test::read_file(test::fixture("io/pytorch_single/pytorch_model.bin"));
        expect_error(read_bytes(dir, good.substr(0, good.size() / 2), ckpt), ErrorCode::Format,
                     {"pytorch_model.bin", "end of central directory not found"});
        expect_error(read_bytes(dir, good.substr(0, good.size() - 5), ckpt), ErrorCode::Format, {"truncated"});
        expect_error(read_bytes(dir, "hello, not a zip", ckpt), ErrorCode::Format, {"not a zip archive"});
        expect_error(read_bytes(dir, "", ckpt), ErrorCode::Format, {"not a zip archive"});
        expect_error(read_bytes(dir, Pickle().op('}').op('.').bytes(), ckpt), ErrorCode::Unsupported, {"legacy"});

        // Central directory offset pointing past the end: torch writes zip64 end records, whose offset
        // is the one that counts; make_zip writes only the classic record.
        std::string cd = good;
        const size_t z64 = cd.rfind(std::string("PK\x06\x06", 4));
        QVERIFY(z64 != std::string::npos);
        cd[z64 + 48 + 4] = '\x7f';
        expect_error(read_bytes(dir, cd, ckpt), ErrorCode::Format, {"central directory", "outside the archive"});
        cd = make_zip({{"archive/data.pkl", Pickle().op('}').op('.').bytes()}});
        cd[cd.size() - 3] = '\x7f';
        expect_error(read_bytes(dir, cd, ckpt), ErrorCode::Format, {"central directory", "outside the archive"});
        cd = good;
        cd[z64 + 1] = 'X';  // the locator now points at garbage
        expect_error(read_bytes(dir, cd, ckpt), ErrorCode::Format, {"zip64 end of central directory record not found"});

        const std::string pkl = state_dict_pickle({{"w", "FloatStorage", "0", 12, 0, {12}, {1}}});
        const std::string data = f32_bytes(kTwelve);
        expect_error(read_bytes(dir, make_zip({{"archive/data.pkl", pkl}, {"archive/data/0", data, 8}}), ckpt),
                     ErrorCode::Unsupported, {"'archive/data/0'", "compressed (method 8)"});
        expect_error(read_bytes(dir, make_zip({{"archive/data.pkl", pkl, 0, true}, {"archive/data/0", data}}), ckpt),
                     ErrorCode::Format, {"archive/data.pkl", "CRC"});
        expect_error(read_bytes(dir, make_zip({{"archive/version", "3"}, {"archive/data/0", data}}), ckpt),
                     ErrorCode::Format, {"no data.pkl"});
        expect_error(read_bytes(dir, torch_zip(pkl, {}), ckpt), ErrorCode::Format,
                     {"tensor 'w'", "'archive/data/0' is missing"});
        expect_error(read_bytes(dir, torch_zip(pkl, {{"0", data.substr(0, 40)}}), ckpt), ErrorCode::Format,
                     {"tensor 'w'", "holds 40 bytes", "need 48"});
        expect_error(read_bytes(dir, torch_zip(pkl, {{"0", data}}, 64, "big"), ckpt), ErrorCode::Unsupported,
                     {"byte order 'big'"});
        // The prefix folder may be any name: only data.pkl's own folder counts.
        std::vector<Item> other{{"my-model/data.pkl", pkl}, {"my-model/data/0", data}};
        QVERIFY(read_bytes(dir, make_zip(other), ckpt).ok());
        QVERIFY(ckpt.find("w"));
    }

    void rejectsLyingViews() {
        test::TempDir dir;
        const std::string data = f32_bytes(kTwelve);
        struct Case {
            Spec spec;
            ErrorCode code;
            std::vector<std::string> needles;
        };
        const std::vector<Case> cases{
            {{"past.end", "FloatStorage", "0", 12, 10, {4}, {1}}, ErrorCode::Format,
             {"tensor 'past.end'", "reaches element 13", "only 12", "offset 10"}},
            {{"strided.past.end", "FloatStorage", "0", 12, 0, {3, 4}, {5, 1}}, ErrorCode::Format, {"'strided.past.end'", "reaches element 13"}},
            {{"negative.offset", "FloatStorage", "0", 12, -1, {4}, {1}}, ErrorCode::Format, {"'negative.offset'", "negative storage offset"}},
            {{"negative.size", "FloatStorage", "0", 12, 0, {-4}, {1}}, ErrorCode::Format, {"'negative.size'", "negative or overflows"}},
            {{"huge", "FloatStorage", "0", 12, 0, {int64_t(1) << 40, int64_t(1) << 40}, {1, 1}}, ErrorCode::Format, {"'huge'", "overflows"}},
            {{"huge.stride", "FloatStorage", "0", 12, 0, {4, 2}, {int64_t(1) << 62, 1}}, ErrorCode::Format, {"'huge.stride'", "overflows"}},
            {{"negative.stride", "FloatStorage", "0", 12, 11, {4}, {-1}}, ErrorCode::Unsupported, {"'negative.stride'", "negative stride"}},
            {{"five.dims", "FloatStorage", "0", 12, 0, {1, 1, 1, 1, 12}, {12, 12, 12, 12, 1}}, ErrorCode::Unsupported, {"'five.dims'", "5 dimensions"}},
            {{"ids", "LongStorage", "0", 6, 0, {6}, {1}}, ErrorCode::DType, {"tensor 'ids'", "torch.LongStorage", "not supported"}},
            {{"wrong.numel", "FloatStorage", "0", 13, 0, {12}, {1}}, ErrorCode::Format, {"'wrong.numel'", "13 elements"}},
        };
        for (const Case& c : cases) {
            Checkpoint ckpt;
            Status s = read_bytes(dir, torch_zip(state_dict_pickle({c.spec}), {{"0", data}}), ckpt);
            QVERIFY2(!s.ok(), c.spec.name.c_str());
            QVERIFY2(s.error().code == c.code, s.error().to_string().c_str());
            for (const std::string& n : c.needles)
                QVERIFY2(s.error().message.find(n) != std::string::npos, s.error().message.c_str());
            QVERIFY2(s.error().message.find("pytorch_model.bin") != std::string::npos, s.error().message.c_str());
        }
        // One storage described twice with different types.
        Checkpoint ckpt;
        const std::string two = state_dict_pickle(
            {{"a", "FloatStorage", "0", 12, 0, {12}, {1}}, {"b", "HalfStorage", "0", 24, 0, {24}, {1}}});
        expect_error(read_bytes(dir, torch_zip(two, {{"0", data}}), ckpt), ErrorCode::Format,
                     {"tensor 'b'", "storage '0'", "torch.HalfStorage", "earlier as torch.FloatStorage"});
    }

    void pickleBombsAndGarbage() {
        using E = ErrorCode;
        // Recursion bomb: nested marks.
        expect_error(unpickle(Pickle().raw(std::string(100000, '(')).op('.').bytes()), E::Format,
                     {"test.pkl", "more than 4096 nested marks"});
        // Stack bomb, with a small limit so the test stays cheap.
        PickleLimits small;
        small.max_stack = 1000;
        expect_error(unpickle(Pickle().raw(std::string(5000, ']')).op('.').bytes(), small), E::Format,
                     {"stack deeper than 1000"});
        small = {};
        small.max_objects = 100;
        expect_error(unpickle(Pickle().raw(std::string(200, ']') + std::string(199, '0')).op('.').bytes(), small), E::Format,
                     {"more than 100 objects"});
        // Huge memo index / never-stored index.
        expect_error(unpickle(Pickle().op('}').op('r').u32(0xFFFFFFFF).op('.').bytes()), E::Format,
                     {"memo index 4294967295 exceeds the limit"});
        expect_error(unpickle(Pickle().op('j').u32(7).op('.').bytes()), E::Format, {"memo index 7 was never stored"});
        // Lengths past the end.
        expect_error(unpickle(Pickle().op('X').u32(0xFFFFFFFF).raw("abc").bytes()), E::Format,
                     {"length 4294967295 runs past the end"});
        expect_error(unpickle(Pickle().op('\x8d').raw(std::string(8, '\xff')).bytes()), E::Format, {"runs past the end"});
        expect_error(unpickle(Pickle().op('\x8a').raw(std::string(1, char(200))).raw(std::string(200, '\1')).bytes()),
                     E::Format, {"integer of 200 bytes"});
        expect_error(unpickle(Pickle().op('\x95').raw(std::string(8, '\x7f')).bytes()), E::Format, {"frame"});
        // Opcodes outside the subset, protocol too new, no STOP, truncated operand.
        expect_error(unpickle(Pickle().raw("I12\n").op('.').bytes()), E::Format, {"unsupported pickle opcode 0x49"});
        expect_error(unpickle(std::string("\x80\x06}.")), E::Format, {"unsupported pickle protocol 6"});
        expect_error(unpickle(Pickle().op('}').bytes()), E::Format, {"no STOP"});
        expect_error(unpickle(Pickle().op('J').raw("\1").bytes()), E::Format, {"truncated"});
        expect_error(unpickle(Pickle().op('c').raw("collections").bytes()), E::Format, {"GLOBAL"});
        // Wrong structure.
        expect_error(unpickle(Pickle().op('R').op('.').bytes()), E::Format, {"stack underflow"});
        expect_error(unpickle(Pickle().op('(').op('0').op('.').bytes()), E::Format, {"stack underflow"});
        expect_error(unpickle(Pickle().op('t').op('.').bytes()), E::Format, {"no mark"});
        expect_error(unpickle(Pickle().op(')').op('K').raw("\1").op('a').op('.').bytes()), E::Format, {"APPEND to a tuple"});
        expect_error(unpickle(Pickle().op(']').op('K').raw("\1").op('K').raw("\2").op('s').op('.').bytes()), E::Format,
                     {"SETITEM(S) on a list"});
        expect_error(unpickle(Pickle().op(']').op('}').op('b').op('.').bytes()), E::Format, {"BUILD on a list"});
        expect_error(unpickle(Pickle().global("collections", "OrderedDict").op('K').raw("\1").op('\x85').op('R').op('.').bytes()),
                     E::Format, {"OrderedDict called with arguments"});
        expect_error(unpickle(Pickle().global("torch", "FloatStorage").op(')').op('R').op('.').bytes()), E::Format,
                     {"torch.FloatStorage may not be called"});
        expect_error(unpickle(Pickle().global("torch._utils", "_rebuild_tensor_v2").op(')').op('R').op('.').bytes()),
                     E::Format, {"_rebuild_tensor_v2 takes 6 or 7 arguments"});
        expect_error(unpickle(Pickle().str("storage").op('\x85').op('Q').op('.').bytes()), E::Format, {"persistent id"});
        // A list that contains itself: must neither recurse nor leak.
        expect_error(unpickle(Pickle().op(']').op('q').raw(std::string(1, '\0')).op('h').raw(std::string(1, '\0')).op('a').op('.').bytes()), E::Format,
                     {"holds a list, not a state dict"});
        expect_error(unpickle(Pickle().op('}').str("k").op('K').raw("\5").op('s').op('.').bytes()), E::Format,
                     {"entry 'k' is a int, not a tensor"});
        expect_error(unpickle(Pickle().op('}').op('K').raw("\5").op('}').op('s').op('.').bytes()), E::Format,
                     {"key 0 is a int"});
        // And the smallest valid pickle: an empty state dict.
        auto empty = unpickle(Pickle().op('}').op('.').bytes());
        QVERIFY(empty.ok());
        QVERIFY(empty->empty());
    }

    void survivesCorruption() {
        // Thousands of corrupted variants of real torch.save output (protocol 2 and 4): each must load or
        // fail with an error, never crash or read out of bounds (this runs under ASan in CI).
        std::mt19937 rng(20250101);
        std::vector<std::string> pickles, archives;
        for (const char* f : {"io/pytorch_single/pytorch_model.bin", "io/pytorch_protocol4/pytorch_model.bin"}) {
            auto mapped = MappedFile::open(test::fixture(f));
            QVERIFY(mapped.ok());
            auto zip = ZipReader::open(*mapped, f);
            QVERIFY(zip.ok());
            auto pkl = zip->stored_data(*zip->find("pytorch_model/data.pkl"));
            QVERIFY(pkl.ok());
            pickles.emplace_back(reinterpret_cast<const char*>(pkl->data()), pkl->size());
            archives.push_back(test::read_file(test::fixture(f)));
        }
        int failed = 0;
        for (int i = 0; i < 3000; ++i) {
            const std::string m = mutate(pickles[size_t(i) % 2], rng);
            if (!unpickle(m).ok()) ++failed;
        }
        QVERIFY(failed > 1000);  // the corruption really corrupts
        test::TempDir dir;
        for (int i = 0; i < 600; ++i) {
            Checkpoint ckpt;
            if (read_bytes(dir, mutate(archives[size_t(i) % 2], rng), ckpt).ok()) (void)touch_all(ckpt);
        }
    }

    void parsesWhatTorchWrites() {
        // LONG1 offsets (torch uses it above 2^31), BINPUT/BINGET reuse, parameters and 7-argument rebuilds.
        Pickle p;
        p.global("collections", "OrderedDict").op(')').op('R').op('(');
        p.str("p").global("torch._utils", "_rebuild_parameter").op('(');
        p.global("torch._utils", "_rebuild_tensor_v2").op('q').raw("\1").op('(');
        p.op('(').str("storage").global("torch", "BFloat16Storage").op('q').raw("\2").str("7").str("cuda:0").integer(3000000000).op('t').op('Q');
        p.integer(int64_t(2500000000)).ints({2}).ints({1}).op('\x88').op('}').op('N').op('t').op('R');
        p.op('\x89').op('}').op('t').op('R');
        p.op('u').op('.');
        auto r = unpickle(p.bytes());
        QVERIFY2(r.ok(), r.ok() ? "" : r.error().to_string().c_str());
        QCOMPARE(r->size(), size_t(1));
        const PickledTensor& t = (*r)[0];
        QCOMPARE(qs(t.name), QString("p"));
        QCOMPARE(qs(t.storage_key), QString("7"));
        QCOMPARE(qs(t.storage_type), QString("BFloat16Storage"));
        QVERIFY(t.dtype == DType::BF16);
        QCOMPARE(t.storage_numel, int64_t(3000000000));
        QCOMPARE(t.storage_offset, int64_t(2500000000));
        QVERIFY(t.sizes == std::vector<int64_t>{2});
        // A negative 3-byte LONG1 must be sign-extended (the reader then rejects the negative offset).
        Pickle q;
        q.op('}').str("x").global("torch._utils", "_rebuild_tensor_v2").op('(');
        q.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(4).op('t').op('Q');
        q.op('\x8a').raw(std::string("\x03\xfe\xff\xff", 4)).ints({1}).ints({1}).op('\x89').op('}').op('t').op('R');
        auto neg = unpickle(q.op('s').op('.').bytes());
        QVERIFY2(neg.ok(), neg.ok() ? "" : neg.error().to_string().c_str());
        QCOMPARE((*neg)[0].storage_offset, int64_t(-2));
    }
};

QTEST_APPLESS_MAIN(TestPytorchCheckpoint)
#include "test_pytorch_checkpoint.moc"
