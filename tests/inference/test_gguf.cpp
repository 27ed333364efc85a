// GGUF reader (io/gguf.h): the fixtures written by tools/fixtures/make_gguf_fixtures.py with the gguf
// package must read back exactly (metadata of every type, shapes, and every block type decoded to gguf-py's
// own dequantization, bit for bit, and to the original values within the type's bound); the config and
// tensor-name mapping must give what the models expect; and every hostile header crafted here must fail
// with a Format error that names the file and what is wrong. TESSERA_REAL_GGUF (optional) points at a
// real model file (tools/get-real-models.sh) for an extra check.
#include <QtTest/QtTest>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "core/thread_pool.h"
#include "io/gguf.h"
#include "support/test_support.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<GgufFile> open_fixture(const char* name) {
    auto r = GgufFile::open(test::fixture(std::string("gguf/") + name));
    if (!r.ok()) qFatal("%s", r.error().to_string().c_str());
    return std::move(r).value();
}

std::vector<float> read_f32_tensor(const GgufTensor& t) {
    std::vector<float> v(size_t(t.shape.numel()));
    std::memcpy(v.data(), t.data, v.size() * 4);
    return v;
}

// Little-endian GGUF bytes, built field by field.
struct Bytes {
    std::string b;
    Bytes& u32(uint32_t v) { return raw(&v, 4); }
    Bytes& u64(uint64_t v) { return raw(&v, 8); }
    Bytes& raw(const void* p, size_t n) {
        b.append(static_cast<const char*>(p), n);
        return *this;
    }
    Bytes& str(const std::string& s) {
        u64(s.size());
        b += s;
        return *this;
    }
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        b += "GGUF";
        u32(version);
        u64(n_tensors);
        return u64(n_kv);
    }
    Bytes& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
    Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).u32(uint32_t(ne.size()));
        for (uint64_t d : ne) u64(d);
        return u32(type).u64(offset);
    }
    Bytes& pad(size_t align = 32) {
        while (b.size() % align) b.push_back('\0');
        return *this;
    }
    Bytes& zeros(size_t n) {
        b.append(n, '\0');
        return *this;
    }
    QByteArray q() const { return QByteArray(b.data(), qsizetype(b.size())); }
};

Result<std::unique_ptr<GgufFile>> open_bytes(const test::TempDir& dir, const QByteArray& bytes,
                                             GgufOpenOptions options = {}) {
    const fs::path p = dir / "hostile.gguf";
    test::write_file(p, std::string(bytes.constData(), size_t(bytes.size())));
    return GgufFile::open(p, options);
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT

private slots:
    void quantTypesMatchReference();
    void metadataOfEveryType();
    void shapesAreRowMajor();
    void tensorDataIsAlignedInsideTheFile();
    void qwen2Config();
    void llamaVersion2Config();
    void tensorNamesMapToHuggingFace();
    void llamaQkRowPermutation();
    void configErrorsNameTheKey();
    void hostileFilesFail_data();
    void hostileFilesFail();
    void truncatedFileOpensOnlyWhenAllowed();
    void corruptionSweep();
    void missingFileIsAnIoError();
    void realFileIfConfigured();
};

void TestGguf::quantTypesMatchReference() {
    auto f = open_fixture("quant_types.gguf");
    QCOMPARE(f->version(), 3u);
    const char* types[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"};
    for (const char* name : types) {
        const GgufTensor* t = f->find_tensor(name);
        QVERIFY2(t, name);
        QCOMPARE(quant_name(t->type), std::string_view(name));
        QCOMPARE(t->shape, (Shape{2, 512}));
        QCOMPARE(t->nbytes, *quant_row_bytes(t->type, 512) * 2);
        const auto orig = read_f32_tensor(*f->find_tensor(std::string(name) + ".orig"));
        const auto ref = read_f32_tensor(*f->find_tensor(std::string(name) + ".ref"));
        auto bound = f->get_float(std::string("bound.") + name);
        QVERIFY(bound.ok());
        std::vector<float> got(1024);
        for (int r = 0; r < 2; ++r) {
            Status st = cpu::dequantize_row(t->type, t->data + r * t->row_bytes(), got.data() + r * 512, 512);
            QVERIFY2(st.ok(), name);
        }
        for (int r = 0; r < 2; ++r) {
            float row_max = 0.f;
            for (int i = 0; i < 512; ++i) row_max = std::max(row_max, std::fabs(orig[size_t(r * 512 + i)]));
            for (int i = 0; i < 512; ++i) {
                const size_t k = size_t(r * 512 + i);
                // Bit-exact with gguf-py: both round each value once from the same f32 products.
                if (std::memcmp(&got[k], &ref[k], 4) != 0)
                    QFAIL(qPrintable(QString("%1[%2]: ours %3, gguf-py %4").arg(name).arg(k).arg(got[k]).arg(ref[k])));
                if (double(std::fabs(got[k] - orig[k])) > *bound * double(row_max))
                    QFAIL(qPrintable(QString("%1[%2]: %3 vs original %4 beyond %5 of the row max")
                                         .arg(name).arg(k).arg(got[k]).arg(orig[k]).arg(*bound)));
            }
        }
    }
}

void TestGguf::metadataOfEveryType() {
    auto f = open_fixture("quant_types.gguf");
    QCOMPARE(f->architecture(), std::string_view("tessera-test"));
    auto check_int = [&](const char* key, GgufType type, int64_t value) {
        const GgufValue* v = f->find(key);
        QVERIFY2(v, key);
        QCOMPARE(v->type(), type);
        QCOMPARE(*v->as_int(), value);
    };
    check_int("test.u8", GgufType::U8, 200);
    check_int("test.i8", GgufType::I8, -100);
    check_int("test.u16", GgufType::U16, 60000);
    check_int("test.i16", GgufType::I16, -30000);
    check_int("test.u32", GgufType::U32, 4000000000);
    check_int("test.i32", GgufType::I32, -2000000000);
    check_int("test.i64", GgufType::I64, -9000000000000000000);
    const GgufValue* u64 = f->find("test.u64");
    QCOMPARE(u64->type(), GgufType::U64);
    QVERIFY(!u64->as_int());  // does not fit int64
    QCOMPARE(*u64->as_uint(), uint64_t(18000000000000000000u));
    QVERIFY(!f->find("test.i8")->as_uint());
    QCOMPARE(*f->find("test.f32")->as_float(), 0.25);
    QCOMPARE(*f->find("test.f64")->as_float(), 1e-300);
    QCOMPARE(*f->get_bool("test.bool"), true);
    QCOMPARE(*f->get_string("test.string"), std::string_view("h\xc3\xa9llo \xe2\x9c\x93"));
    QVERIFY(!f->find("test.string")->as_int());

    auto arr = f->get_array("test.arr_i16", GgufType::I16);
    QVERIFY(arr.ok());
    QCOMPARE((*arr)->array_size(), uint64_t(3));
    QCOMPARE(*(*arr)->int_at(2), int64_t(-3));
    QVERIFY(!(*arr)->int_at(3));
    const GgufValue* au64 = f->find("test.arr_u64");
    QCOMPARE(*au64->int_at(0), int64_t(1));
    QVERIFY(!au64->int_at(1));  // 2^63 + 5
    QCOMPARE(*f->find("test.arr_f32")->float_at(1), -1.5);
    QCOMPARE(*f->find("test.arr_f64")->float_at(0), 3.25);
    QCOMPARE(*f->find("test.arr_bool")->int_at(1), int64_t(0));
    const auto& strs = f->find("test.arr_str")->strings();
    QCOMPARE(strs.size(), size_t(3));
    QCOMPARE(strs[1], std::string_view(""));
    QCOMPARE(strs[2], std::string_view("ccc"));

    auto wrong = f->get_int("test.string");
    QVERIFY(!wrong.ok());
    QCOMPARE(wrong.error().message, std::string("quant_types.gguf: test.string: expected an integer, file has string"));
    auto wrong_arr = f->get_array("test.arr_str", GgufType::I32);
    QVERIFY(wrong_arr.error().message.find("file has array of string") != std::string::npos);
    auto missing = f->get_float("no.such.key");
    QCOMPARE(missing.error().code, ErrorCode::Config);
    QVERIFY(missing.error().message.find("no.such.key: missing") != std::string::npos);
}

void TestGguf::shapesAreRowMajor() {
    auto f = open_fixture("quant_types.gguf");
    const GgufTensor* t = f->find_tensor("shape3d");  // numpy shape (2, 3, 8): GGUF ne = {8, 3, 2}
    QVERIFY(t);
    QCOMPARE(t->shape, (Shape{2, 3, 8}));
    QCOMPARE(t->cols(), int64_t(8));
    QCOMPARE(t->rows(), int64_t(6));
    auto v = read_f32_tensor(*t);
    for (int i = 0; i < 48; ++i) QCOMPARE(v[size_t(i)], float(i));
    auto q = open_fixture("tiny_qwen2.gguf");
    QCOMPARE(q->find_tensor("blk.0.attn_k.weight")->shape, (Shape{32, 64}));  // [kv·hd, H]
    QCOMPARE(q->find_tensor("blk.1.ffn_down.weight")->shape, (Shape{64, 128}));
    QCOMPARE(q->find_tensor("blk.0.attn_k.bias")->shape, (Shape{32}));
}

void TestGguf::tensorDataIsAlignedInsideTheFile() {
    for (const char* name : {"quant_types.gguf", "tiny_qwen2.gguf", "tiny_llama_v2.gguf"}) {
        auto f = open_fixture(name);
        const auto* base = f->mapped_file()->data();
        QVERIFY(!f->truncated());
        QCOMPARE(f->data_offset() % f->alignment(), uint64_t(0));
        for (const GgufTensor& t : f->tensors()) {
            QVERIFY(t.data);
            const auto at = uint64_t(t.data - base);
            QCOMPARE(at % f->alignment(), uint64_t(0));
            QVERIFY(at + t.nbytes <= f->file_size());
        }
    }
}

void TestGguf::qwen2Config() {
    auto f = open_fixture("tiny_qwen2.gguf");
    auto r = gguf_llm_config(*f);
    QVERIFY2(r.ok(), r.ok() ? "" : r.error().message.c_str());
    const LlmConfig& c = *r;
    QCOMPARE(c.family, ModelFamily::Qwen2);
    QCOMPARE(c.architecture, std::string("Qwen2ForCausalLM"));
    QCOMPARE(c.hidden_size, 64);
    QCOMPARE(c.intermediate_size, 128);
    QCOMPARE(c.num_hidden_layers, 2);
    QCOMPARE(c.num_attention_heads, 4);
    QCOMPARE(c.num_key_value_heads, 2);
    QCOMPARE(c.head_dim, 16);
    QCOMPARE(c.vocab_size, 96);
    QCOMPARE(c.max_position_embeddings, 4096);
    QCOMPARE(c.rms_norm_eps, 1e-6f);
    QCOMPARE(c.rope_theta, 1e6f);
    QVERIFY(c.attention_bias);
    QVERIFY(!c.tie_word_embeddings);
    QCOMPARE(c.dtype, DType::F32);  // Q8_0 embedding: computed in f32
    QCOMPARE(*c.bos_token_id, 1);
    QCOMPARE(c.eos_token_ids, std::vector<int>{2});
    QCOMPARE(*f->get_string("tokenizer.ggml.pre"), std::string_view("deepseek-r1-qwen"));
    QCOMPARE(f->find_tensor("token_embd.weight")->type, QuantType::Q8_0);
    QCOMPARE(f->find_tensor("blk.1.ffn_up.weight")->type, QuantType::Q4_0);
    QCOMPARE(f->find_tensor("blk.1.attn_output.weight")->type, QuantType::F16);
    auto view = f->find_tensor("blk.1.attn_output.weight")->float_view();
    QVERIFY(view.has_value());
    QCOMPARE(view->dtype, DType::F16);
    QCOMPARE(view->shape, (Shape{64, 64}));
    QCOMPARE(static_cast<const void*>(view->data), static_cast<const void*>(f->find_tensor("blk.1.attn_output.weight")->data));
    QCOMPARE(view->nbytes(), size_t(64 * 64 * 2));
    QVERIFY(!f->find_tensor("token_embd.weight")->float_view());  // Q8_0
}

void TestGguf::llamaVersion2Config() {
    auto f = open_fixture("tiny_llama_v2.gguf");
    QCOMPARE(f->version(), 2u);
    QCOMPARE(f->alignment(), uint64_t(64));
    auto r = gguf_llm_config(*f);
    QVERIFY2(r.ok(), r.ok() ? "" : r.error().message.c_str());
    QCOMPARE(r->family, ModelFamily::Llama);
    QCOMPARE(r->architecture, std::string("LlamaForCausalLM"));
    QCOMPARE(r->num_hidden_layers, 1);
    QCOMPARE(r->rope_theta, 1e4f);
    QCOMPARE(r->rms_norm_eps, 1e-5f);
    QVERIFY(!r->attention_bias);
    QVERIFY(r->tie_word_embeddings);  // no output.weight
    QCOMPARE(r->dtype, DType::F16);
}

void TestGguf::tensorNamesMapToHuggingFace() {
    const std::pair<const char*, const char*> cases[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
        {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
        {"blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias"},
        {"blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"},
        {"blk.3.attn_v.bias", "model.layers.3.self_attn.v_proj.bias"},
        {"blk.27.attn_output.weight", "model.layers.27.self_attn.o_proj.weight"},
        {"blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"},
        {"blk.1.ffn_up.weight", "model.layers.1.mlp.up_proj.weight"},
        {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"},
        {"blk.5.attn_norm.weight", "model.layers.5.input_layernorm.weight"},
        {"blk.5.ffn_norm.weight", "model.layers.5.post_attention_layernorm.weight"},
    };
    for (const auto& [g, hf] : cases) QCOMPARE(gguf_to_hf_name(g).value_or("<none>"), std::string(hf));
    for (const char* bad : {"rope_freqs.weight", "blk.x.attn_q.weight", "blk..attn_q.weight", "blk.0.attn_q",
                            "blk.0.attn_q.scale", "blk.0.ffn_gate_exps.weight", "blk.-1.attn_q.weight"})
        QVERIFY2(!gguf_to_hf_name(bad), bad);
    // Every tensor of a converted model has an HF name.
    auto f = open_fixture("tiny_qwen2.gguf");
    for (const GgufTensor& t : f->tensors()) QVERIFY2(gguf_to_hf_name(t.name), t.name.c_str());
}

void TestGguf::llamaQkRowPermutation() {
    QVERIFY(gguf_needs_qk_unpermute("llama", "blk.0.attn_q.weight"));
    QVERIFY(gguf_needs_qk_unpermute("llama", "blk.7.attn_k.weight"));
    QVERIFY(!gguf_needs_qk_unpermute("llama", "blk.0.attn_v.weight"));
    QVERIFY(!gguf_needs_qk_unpermute("qwen2", "blk.0.attn_q.weight"));
    // The converter: w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2). Emulate it on row ids and invert.
    const int n_head = 3, hd = 8;
    std::vector<int64_t> gguf_rows;  // gguf_rows[g] = the HF row stored at GGUF row g
    for (int h = 0; h < n_head; ++h)
        for (int i = 0; i < hd / 2; ++i)
            for (int j = 0; j < 2; ++j) gguf_rows.push_back(h * hd + j * (hd / 2) + i);
    for (int64_t g = 0; g < int64_t(gguf_rows.size()); ++g) QCOMPARE(gguf_llama_qk_row(gguf_rows[size_t(g)], hd), g);
}

void TestGguf::configErrorsNameTheKey() {
    test::TempDir dir;
    Bytes b;
    b.header(0, 3).str("general.architecture").u32(8).str("qwen2").kv_u32("qwen2.embedding_length", 64);
    b.str("qwen2.block_count").u32(8).str("two");
    auto f = open_bytes(dir, b.q());
    QVERIFY(f.ok());
    auto c = gguf_llm_config(**f);
    QVERIFY(!c.ok());
    QVERIFY2(c.error().message.find("hostile.gguf: qwen2.feed_forward_length: missing") != std::string::npos,
             c.error().message.c_str());
    Bytes g;
    g.header(0, 1).str("general.architecture").u32(8).str("gemma");
    auto f2 = open_bytes(dir, g.q());
    auto c2 = gguf_llm_config(**f2);
    QCOMPARE(c2.error().code, ErrorCode::Unsupported);
    QVERIFY(c2.error().message.find("'gemma'") != std::string::npos);
}

void TestGguf::hostileFilesFail_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("needle");
    auto ok_tensor = [](Bytes& b) -> Bytes& { return b.tensor("w", {32, 2}, 0, 0); };

    QTest::newRow("empty") << QByteArray() << QString("too short");
    QTest::newRow("bad magic") << Bytes().raw("GGML", 4).u32(3).u64(0).u64(0).q() << QString("not a GGUF file (magic \"GGML\"");
    QTest::newRow("version 1") << Bytes().header(0, 0, 1).q() << QString("GGUF version 1 is not supported");
    QTest::newRow("big-endian") << Bytes().raw("GGUF", 4).raw("\0\0\0\3", 4).u64(0).u64(0).q() << QString("big-endian");
    QTest::newRow("kv count past end") << Bytes().header(0, uint64_t(1) << 40).q() << QString("metadata count 1099511627776");
    QTest::newRow("tensor count past end") << Bytes().header(uint64_t(1) << 60, 0).q() << QString("tensor count");
    QTest::newRow("huge key length") << Bytes().header(0, 1).u64(uint64_t(1) << 62).zeros(16).q() << QString("metadata key #0");
    QTest::newRow("huge string value") << Bytes().header(0, 1).str("k").u32(8).u64(~uint64_t(0)).q()
                                       << QString("metadata 'k' (string of 18446744073709551615 bytes)");
    QTest::newRow("unknown value type") << Bytes().header(0, 1).str("k").u32(13).u32(0).q() << QString("unknown value type 13");
    QTest::newRow("array of arrays") << Bytes().header(0, 1).str("k").u32(9).u32(9).u64(1).zeros(8).q()
                                     << QString("arrays of arrays");
    QTest::newRow("huge array") << Bytes().header(0, 1).str("k").u32(9).u32(4).u64(uint64_t(1) << 61).zeros(8).q()
                                << QString("array of 2305843009213693952 u32 runs past the end");
    QTest::newRow("huge string array") << Bytes().header(0, 1).str("k").u32(9).u32(8).u64(uint64_t(1) << 40).zeros(8).q()
                                       << QString("strings cannot fit");
    QTest::newRow("bool not 0/1") << Bytes().header(0, 1).str("k").u32(7).raw("\x02", 1).q() << QString("bool is neither");
    QTest::newRow("duplicate key") << Bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).q() << QString("'k': duplicate key");
    QTest::newRow("alignment not a power of two") << Bytes().header(0, 1).kv_u32("general.alignment", 48).q()
                                                  << QString("general.alignment must be a power of two");
    QTest::newRow("alignment zero") << Bytes().header(0, 1).kv_u32("general.alignment", 0).q() << QString("power of two");
    QTest::newRow("alignment wrong type") << Bytes().header(0, 1).str("general.alignment").u32(8).str("32").q()
                                          << QString("power of two");
    QTest::newRow("five dims") << Bytes().header(1, 0).tensor("t5", {32, 1, 1, 1, 1}, 0, 0).q()
                               << QString("tensor 't5': 5 dimensions");
    QTest::newRow("zero dim") << Bytes().header(1, 0).tensor("z", {32, 0}, 0, 0).q() << QString("tensor 'z': dimension 1 is 0");
    QTest::newRow("dims overflow") << Bytes().header(1, 0).tensor("big", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0).q()
                                   << QString("tensor 'big': element count overflows");
    QTest::newRow("dim over int64") << Bytes().header(1, 0).tensor("neg", {~uint64_t(0)}, 0, 0).q()
                                    << QString("tensor 'neg': element count overflows");
    QTest::newRow("bytes overflow") << Bytes().header(1, 0).tensor("f", {uint64_t(1) << 61, 2}, 0, 0).q()
                                    << QString("tensor 'f': byte size overflows");
    QTest::newRow("unknown tensor type") << Bytes().header(1, 0).tensor("u", {32}, 99, 0).q()
                                         << QString("tensor 'u': unknown GGML type 99");
    QTest::newRow("row not whole blocks") << Bytes().header(1, 0).tensor("k4", {100, 2}, 12, 0).q()
                                          << QString("tensor 'k4': row length 100 is not a multiple of the Q4_K block size 256");
    QTest::newRow("misaligned offset") << Bytes().header(1, 0).tensor("m", {32}, 0, 16).pad().zeros(256).q()
                                       << QString("tensor 'm': data offset 16 is not a multiple of the alignment 32");
    {
        Bytes b;
        b.header(1, 0).tensor("past", {1024}, 0, 0).pad().zeros(64);
        QTest::newRow("data past end") << b.q() << QString("tensor 'past': data [0, +4096) runs past the end");
    }
    {
        Bytes b;
        b.header(1, 0).tensor("wrap", {32}, 0, ~uint64_t(31)).pad().zeros(128);
        QTest::newRow("offset wraps around") << b.q() << QString("tensor 'wrap'");
    }
    {
        Bytes b;
        b.header(2, 0);
        ok_tensor(b).tensor("w2", {32}, 0, 64).pad().zeros(512);
        QTest::newRow("overlap") << b.q() << QString("tensor 'w2' (offset 64) overlaps tensor 'w'");
    }
    {
        Bytes b;
        b.header(2, 0);
        ok_tensor(b);
        ok_tensor(b).pad().zeros(1024);
        QTest::newRow("duplicate tensor") << b.q() << QString("tensor 'w' appears twice");
    }
    {
        Bytes b;
        b.header(1, 0).str("cut").u32(4).u64(32).u64(1);
        QTest::newRow("ends inside tensor info") << b.q() << QString("tensor 'cut' dimension");
    }
    QTest::newRow("empty tensor name") << Bytes().header(1, 0).tensor("", {32}, 0, 0).q() << QString("tensor #0: empty name");
    QTest::newRow("empty key") << Bytes().header(0, 1).kv_u32("", 1).q() << QString("metadata key #0 is empty");
}

void TestGguf::hostileFilesFail() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, needle);
    test::TempDir dir;
    auto r = open_bytes(dir, bytes);
    QVERIFY2(!r.ok(), "hostile file opened");
    const Error& e = r.error();
    QCOMPARE(e.code, ErrorCode::Format);
    QVERIFY2(e.message.rfind("hostile.gguf: ", 0) == 0, e.message.c_str());
    QVERIFY2(QString::fromStdString(e.message).contains(needle), e.message.c_str());
}

void TestGguf::truncatedFileOpensOnlyWhenAllowed() {
    test::TempDir dir;
    const std::string full = test::read_file(test::fixture("gguf/quant_types.gguf"));
    auto whole = open_fixture("quant_types.gguf");
    // Cut inside the data of the third tensor: the first two stay whole.
    const auto& ts = whole->tensors();
    const size_t cut = size_t(whole->data_offset() + ts[2].offset + 10);
    const QByteArray part(full.data(), qsizetype(cut));
    auto strict = open_bytes(dir, part);
    QVERIFY(!strict.ok());
    QVERIFY2(strict.error().message.find("tensor '" + ts[2].name + "'") != std::string::npos, strict.error().message.c_str());
    QVERIFY(strict.error().message.find("truncated?") != std::string::npos);

    GgufOpenOptions lenient;
    lenient.allow_truncated = true;
    auto r = open_bytes(dir, part, lenient);
    QVERIFY2(r.ok(), r.ok() ? "" : r.error().message.c_str());
    QVERIFY((*r)->truncated());
    QCOMPARE((*r)->tensors().size(), ts.size());
    QVERIFY((*r)->tensors()[0].data && (*r)->tensors()[1].data);
    QVERIFY(!(*r)->tensors()[2].data);
    QVERIFY(!(*r)->tensors().back().data);
    QCOMPARE(*(*r)->get_float("bound.Q4_K"), *whole->get_float("bound.Q4_K"));

    // Cut inside the header: no option makes that readable.
    auto header_cut = open_bytes(dir, QByteArray(full.data(), 200), lenient);
    QVERIFY(!header_cut.ok());
    QCOMPARE(header_cut.error().code, ErrorCode::Format);
}

// Every cut inside the header, and every header byte replaced by 0xFF or 0x7F, must either open (then
// every tensor's bytes are readable and decode) or fail with a Format error that names the file.
void TestGguf::corruptionSweep() {
    test::TempDir dir;
    const std::string full = test::read_file(test::fixture("gguf/tiny_qwen2.gguf"));
    const size_t header = size_t(open_fixture("tiny_qwen2.gguf")->data_offset());
    int opened = 0, failed = 0;
    auto check = [&](const std::string& bytes) {
        auto r = open_bytes(dir, QByteArray(bytes.data(), qsizetype(bytes.size())));
        if (!r.ok()) {
            ++failed;
            if (r.error().code != ErrorCode::Format || r.error().message.rfind("hostile.gguf: ", 0) != 0)
                QFAIL(r.error().to_string().c_str());
            return;
        }
        ++opened;
        std::vector<float> row;
        for (const GgufTensor& t : (*r)->tensors()) {
            QVERIFY(t.data && t.offset + t.nbytes <= (*r)->file_size() - (*r)->data_offset());
            if (!quant_supported(t.type)) continue;
            row.resize(size_t(t.cols()));
            QVERIFY(cpu::dequantize_row(t.type, t.data + (t.rows() - 1) * int64_t(t.row_bytes()), row.data(), t.cols()).ok());
        }
    };
    // Every byte of the fixed header and the first key, then a stride through the rest (token strings
    // and tensor infos) to keep the run short.
    for (size_t i = 0; i < header; i += i < 96 ? 1 : 11) {
        check(full.substr(0, i));
        std::string bad = full;
        bad[i] = i % 2 ? '\xff' : '\x7f';
        check(bad);
    }
    qInfo("corruption sweep: %d opened, %d rejected", opened, failed);
    QVERIFY(failed > 0);
}

void TestGguf::missingFileIsAnIoError() {
    test::TempDir dir;
    auto r = GgufFile::open(dir / "nope.gguf");
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::Io);
    QVERIFY(r.error().message.find("nope.gguf") != std::string::npos);
}

void TestGguf::realFileIfConfigured() {
    const char* env = std::getenv("TESSERA_REAL_GGUF");
    if (!env || !*env) QSKIP("TESSERA_REAL_GGUF not set (tools/get-real-models.sh prints the path)");
    GgufOpenOptions opts;
    opts.allow_truncated = true;  // the published parts may be a partial upload; the header is what we check
    auto r = GgufFile::open(env, opts);
    QVERIFY2(r.ok(), r.ok() ? "" : r.error().message.c_str());
    const GgufFile& f = **r;
    auto c = gguf_llm_config(f);
    QVERIFY2(c.ok(), c.ok() ? "" : c.error().message.c_str());
    QVERIFY(c->num_hidden_layers > 0 && c->vocab_size > 0);
    for (const GgufTensor& t : f.tensors()) QVERIFY2(gguf_to_hf_name(t.name), t.name.c_str());
    // Decode and multiply whatever rows of the first tensor are present.
    const GgufTensor& t0 = f.tensors().front();
    const std::byte* end = f.mapped_file()->data() + f.file_size();
    const std::byte* start = f.mapped_file()->data() + f.data_offset() + t0.offset;
    const int64_t rows = std::min<int64_t>(t0.rows(), int64_t(uint64_t(end - start) / t0.row_bytes()));
    QVERIFY(rows > 0);
    const int64_t n = std::min<int64_t>(rows, 64), K = t0.cols();
    if (!quant_supported(t0.type)) QSKIP("first tensor's type has no kernel");
    std::vector<float> w(static_cast<size_t>(n * K)), x(static_cast<size_t>(K), 0.01f), y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) QVERIFY(cpu::dequantize_row(t0.type, start + i * int64_t(t0.row_bytes()), w.data() + i * K, K).ok());
    for (float v : w) QVERIFY(std::isfinite(v));
    QVERIFY(cpu::quant_matmul(x.data(), 1, K, start, t0.type, n, y.data(), ThreadPool::global()).ok());
    for (int64_t i = 0; i < n; ++i) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
            ref += double(w[size_t(i * K + k)]) * 0.01;
            mag += std::fabs(double(w[size_t(i * K + k)])) * 0.01;
        }
        QVERIFY(std::fabs(double(y[size_t(i)]) - ref) <= 1e-5 * mag + 1e-6);
    }
}

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
