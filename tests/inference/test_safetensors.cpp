// safetensors reader, sharded index and Checkpoint::open/get: the fixtures written by
// tools/fixtures/make_io_fixtures.py (real safetensors output) must read back value for value, and every
// malformed header crafted here must fail with a message that names the file and the tensor.
#include <QtTest/QtTest>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "io/checkpoint.h"
#include "support/checkpoint_checks.h"
#include "support/test_support.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

using test::check_expected;
using test::element;
using test::expect_error;

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xFF);
    return s;
}

std::string st_file(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

void copy_dir(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private slots:
    void readsSingleFile() {
        auto ckpt = Checkpoint::open(test::fixture("io/safetensors_single"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        QCOMPARE(qs((*ckpt)->format()), QString("safetensors"));
        check_expected(**ckpt, "safetensors_single");
        for (const TensorEntry& e : (*ckpt)->tensors()) QCOMPARE(qs(e.file), QString("model.safetensors"));
        // 6 f32 + 4 bf16 + 4 f16 + 1 f32 scalar + 0 elements.
        QCOMPARE((*ckpt)->total_bytes(), uint64_t(6 * 4 + 4 * 2 + 4 * 2 + 4));
        const TensorEntry* scalar = (*ckpt)->find("d.scalar");
        QVERIFY(scalar);
        QCOMPARE(scalar->tensor.shape.ndim, 0);
    }

    void readsShardedFiles() {
        auto ckpt = Checkpoint::open(test::fixture("io/safetensors_sharded"));
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        check_expected(**ckpt, "safetensors_sharded");
        QCOMPARE(qs((*ckpt)->find("model.embed_tokens.weight")->file), QString("model-00001-of-00002.safetensors"));
        QCOMPARE(qs((*ckpt)->find("lm_head.weight")->file), QString("model-00002-of-00002.safetensors"));
    }

    void getChecksShapeAndNamesTheFile() {
        auto ckpt = Checkpoint::open(test::fixture("io/safetensors_sharded"));
        QVERIFY(ckpt.ok());
        auto ok = (*ckpt)->get("model.layers.0.self_attn.q_proj.weight", Shape{4, 4});
        QVERIFY(ok.ok());
        QCOMPARE(ok->dtype, DType::BF16);
        auto bad = (*ckpt)->get("model.layers.0.self_attn.q_proj.weight", Shape{4, 3});
        expect_error(bad, ErrorCode::Shape, {});
        QCOMPARE(qs(bad.error().message),
                 QString("model.layers.0.self_attn.q_proj.weight: expected shape [4, 3], file has [4, 4] "
                         "(model-00001-of-00002.safetensors)"));
        expect_error((*ckpt)->get("model.layers.1.mlp.up_proj.weight", Shape{4, 4}), ErrorCode::Format,
                     {"model.layers.1.mlp.up_proj.weight", "not found"});
    }

    void misalignedDataIsCopied() {
        // A 9-byte header puts the f32 data at file offset 17: the reader must hand out aligned memory.
        test::TempDir dir;
        const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        std::string padded = header;
        while ((8 + padded.size()) % 8 != 1) padded += ' ';
        float vals[2] = {1.5f, -3.25f};
        test::write_file(dir / "model.safetensors", st_file(padded, std::string(reinterpret_cast<char*>(vals), 8)));
        auto ckpt = Checkpoint::open(dir.path());
        QVERIFY2(ckpt.ok(), ckpt.ok() ? "" : ckpt.error().to_string().c_str());
        const Tensor& t = (*ckpt)->find("w")->tensor;
        QVERIFY(reinterpret_cast<uintptr_t>(t.data) % 4 == 0);
        QCOMPARE(t.as<const float>()[0], 1.5f);
        QCOMPARE(t.as<const float>()[1], -3.25f);
    }

    void badHeaders_data() {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<int>("data_bytes");
        QTest::addColumn<int>("code");
        QTest::addColumn<QStringList>("needles");
        const int fmt = int(ErrorCode::Format);
        auto row = [](const char* tag, const char* header, int data, int code, QStringList needles) {
            QTest::newRow(tag) << QByteArray(header) << data << code << needles;
        };
        row("unsupported dtype I64", R"({"x.ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16,
            int(ErrorCode::DType), {"model.safetensors", "'x.ids'", "I64", "not supported"});
        row("unsupported dtype F64", R"({"y":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, int(ErrorCode::DType),
            {"'y'", "F64"});
        row("missing dtype", R"({"x":{"shape":[2],"data_offsets":[0,8]}})", 8, fmt, {"'x'", "dtype"});
        row("negative dim", R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, fmt, {"'x'", "non-negative"});
        row("shape overflow", R"({"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}})", 4, fmt,
            {"'x'", "overflows"});
        row("five dims", R"({"x":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", 4,
            int(ErrorCode::Unsupported), {"'x'", "5 dimensions"});
        row("offsets past end", R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, fmt,
            {"'x'", "[0, 16]", "past the end", "8-byte data section"});
        row("begin after end", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, fmt, {"'x'", "begin after end"});
        row("shape lies", R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 16, fmt,
            {"'x'", "hold 8 bytes", "[2, 2] needs 16"});
        row("dtype lies", R"({"x":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})", 16, fmt, {"'x'", "needs 8"});
        row("overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12, fmt, {"'a'", "'b'", "overlap"});
        row("duplicate name", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            8, fmt, {"'x'", "more than once"});
        row("not json", "{not json at all", 0, fmt, {"model.safetensors header", "not valid JSON"});
        row("array header", "[1, 2, 3]", 0, fmt, {"must be a JSON object", "array"});
        row("entry not object", R"({"x": 5})", 0, fmt, {"'x'", "must be an object"});
        row("offsets arity", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, fmt, {"'x'", "data_offsets"});
        row("negative offset", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4, fmt, {"'x'", "non-negative"});
        row("float offset", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}})", 4, fmt, {"'x'", "data_offsets"});
        row("metadata not object", R"({"__metadata__": 5})", 0, fmt, {"__metadata__"});
    }

    void badHeaders() {
        QFETCH(QByteArray, header);
        QFETCH(int, data_bytes);
        QFETCH(int, code);
        QFETCH(QStringList, needles);
        test::TempDir dir;
        test::write_file(dir / "model.safetensors", st_file(header.toStdString(), std::string(size_t(data_bytes), '\x01')));
        Checkpoint ckpt;
        Status s = read_safetensors_file(dir / "model.safetensors", ckpt);
        expect_error(s, ErrorCode(code), {});
        for (const QString& n : needles)
            QVERIFY2(s.error().message.find(n.toStdString()) != std::string::npos, s.error().message.c_str());
        QVERIFY(ckpt.tensors().empty());
    }

    void badLengths() {
        test::TempDir dir;
        const fs::path p = dir / "model.safetensors";
        Checkpoint ckpt;
        test::write_file(p, "");
        expect_error(read_safetensors_file(p, ckpt), ErrorCode::Format, {"model.safetensors", "0 bytes is too short"});
        test::write_file(p, "abcde");
        expect_error(read_safetensors_file(p, ckpt), ErrorCode::Format, {"5 bytes is too short"});
        test::write_file(p, le64(uint64_t(9e18)) + "{}");
        expect_error(read_safetensors_file(p, ckpt), ErrorCode::Format,
                     {"header length 9000000000000000000 exceeds the file size 10"});
        test::write_file(p, le64(100) + std::string(12, ' '));
        expect_error(read_safetensors_file(p, ckpt), ErrorCode::Format, {"header length 100 exceeds the file size 20"});
        // Within the file but absurd: a sparse 100 MB file whose header would be all of it.
        test::write_file(p, le64(100'000'001));
        fs::resize_file(p, 100'000'009);
        expect_error(read_safetensors_file(p, ckpt), ErrorCode::Format, {"above the limit"});
        QVERIFY(ckpt.tensors().empty());
    }

    void truncatedFile() {
        test::TempDir dir;
        const std::string full = test::read_file(test::fixture("io/safetensors_single/model.safetensors"));
        test::write_file(dir / "model.safetensors", full.substr(0, full.size() - 4));
        auto ckpt = Checkpoint::open(dir.path());
        expect_error(ckpt, ErrorCode::Format, {"model.safetensors", "past the end"});
        test::write_file(dir / "model.safetensors", full.substr(0, 30));
        expect_error(Checkpoint::open(dir.path()), ErrorCode::Format, {"exceeds the file size"});
    }

    void survivesCorruption() {
        // Corrupted variants of a real file (header bytes, length, truncation): load or fail, never crash.
        std::mt19937 rng(7);
        const std::string good = test::read_file(test::fixture("io/safetensors_single/model.safetensors"));
        test::TempDir dir;
        int failed = 0;
        for (int i = 0; i < 400; ++i) {
            std::string m = good;
            const unsigned kind = rng() % 3;
            if (kind == 0) {
                m.resize(rng() % m.size());
            } else {
                // Aim at the length and header, where a wrong byte changes meaning.
                const size_t span = std::min<size_t>(m.size(), 8 + 200);
                for (unsigned n = 1 + rng() % 3; n > 0; --n) m[rng() % span] = char(rng());
            }
            test::write_file(dir / "model.safetensors", m);
            Checkpoint ckpt;
            if (!read_safetensors_file(dir / "model.safetensors", ckpt).ok()) {
                ++failed;
                continue;
            }
            for (const TensorEntry& e : ckpt.tensors())  // every accepted byte must be readable
                for (size_t k = 0; k < e.tensor.nbytes(); ++k) (void)static_cast<const volatile uint8_t*>(e.tensor.data)[k];
        }
        QVERIFY(failed > 200);
    }

    void openPrefersSafetensors() {
        test::TempDir dir;
        fs::copy(test::fixture("io/safetensors_single/model.safetensors"), dir / "model.safetensors");
        fs::copy(test::fixture("io/pytorch_single/pytorch_model.bin"), dir / "pytorch_model.bin");
        auto ckpt = Checkpoint::open(dir.path());
        QVERIFY(ckpt.ok());
        QCOMPARE(qs((*ckpt)->format()), QString("safetensors"));
        QVERIFY((*ckpt)->find("a.f32"));
        QVERIFY(!(*ckpt)->find("proj.weight"));
    }

    void openReportsMissingCheckpoint() {
        test::TempDir dir;
        expect_error(Checkpoint::open(dir.path()), ErrorCode::Io, {"no checkpoint found", "model.safetensors"});
        expect_error(Checkpoint::open(dir / "nope"), ErrorCode::Io, {"not a directory"});
    }

    void shardedErrors() {
        const fs::path src = test::fixture("io/safetensors_sharded");
        const std::string index_name = "model.safetensors.index.json";
        const nlohmann::json index = nlohmann::json::parse(test::read_file(src / index_name));
        auto with_index = [&](const nlohmann::json& idx, const test::TempDir& dir) {
            copy_dir(src, dir.path());
            test::write_file(dir / index_name, idx.dump());
            return Checkpoint::open(dir.path());
        };
        {  // a shard the index names is gone
            test::TempDir dir;
            copy_dir(src, dir.path());
            fs::remove(dir / "model-00002-of-00002.safetensors");
            expect_error(Checkpoint::open(dir.path()), ErrorCode::Io,
                         {index_name, "model-00002-of-00002.safetensors", "does not exist", "lm_head.weight"});
        }
        {  // the index assigns a tensor the shard does not hold
            test::TempDir dir;
            nlohmann::json idx = index;
            idx["weight_map"]["model.layers.0.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
            expect_error(with_index(idx, dir), ErrorCode::Format,
                         {"model.layers.0.mlp.up_proj.weight", "model-00001-of-00002.safetensors", "does not contain"});
        }
        {  // the shard holds a tensor the index puts elsewhere
            test::TempDir dir;
            nlohmann::json idx = index;
            idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
            expect_error(with_index(idx, dir), ErrorCode::Format, {"model.norm.weight"});
        }
        {  // path traversal out of the folder
            test::TempDir dir;
            nlohmann::json idx = index;
            idx["weight_map"]["lm_head.weight"] = "../model-00002-of-00002.safetensors";
            expect_error(with_index(idx, dir), ErrorCode::Format, {"lm_head.weight", "not a file in the checkpoint folder"});
        }
        {  // structure
            test::TempDir dir;
            expect_error(with_index(nlohmann::json{{"metadata", {}}}, dir), ErrorCode::Format, {index_name, "weight_map"});
            test::write_file(dir / index_name, "{\"weight_map\": ");
            expect_error(Checkpoint::open(dir.path()), ErrorCode::Format, {index_name, "not valid JSON"});
            nlohmann::json idx = index;
            idx["weight_map"]["lm_head.weight"] = 3;
            expect_error(with_index(idx, dir), ErrorCode::Format, {"lm_head.weight", "must be a file name"});
        }
        {  // the same tensor in two shards
            test::TempDir dir;
            copy_dir(src, dir.path());
            fs::copy(src / "model-00001-of-00002.safetensors", dir / "model-00003-of-00003.safetensors");
            nlohmann::json idx = index;
            idx["weight_map"]["model.embed_tokens.weight"] = "model-00003-of-00003.safetensors";
            expect_error(with_index(idx, dir), ErrorCode::Format,
                         {"model.embed_tokens.weight", "model-00001-of-00002.safetensors", "does not assign"});
        }
    }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
