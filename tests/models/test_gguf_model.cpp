// GGUF checkpoints as models (tools/fixtures/make_gguf_fixtures.py): the qwen2 and llama fixtures widened
// from their bf16 safetensors give the same logits as the safetensors runs and the same greedy text; the
// block-quantized variants (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K; a llama Q4_K whose q/k rows are permuted in the
// file) match transformers run on the dequantized weights. quant_matmul rounds each activation row to int8
// per block, so those logits are compared twice: with a transformers run that applies the same rounding
// to every linear layer's input (only the f32 summation order differs: tight), and with the exact run
// (within the gap the rounding itself makes there, measured by the fixture script, plus a margin).
#include <QtTest/QtTest>

#include <cmath>

#include "models/llm_reference.h"
#include "tessera/engine.h"

using namespace tessera;
using namespace tessera::test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> logitsOf(const std::filesystem::path& path, const std::vector<int32_t>& ids, std::string& error) {
    LoadOptions lo;
    lo.device = Device::Cpu;
    auto model = Model::load(path, lo);
    if (!model.ok()) {
        error = model.error().to_string();
        return {};
    }
    SessionOptions so;
    so.context_length = int(ids.size()) + 4;
    auto session = (*model)->open_session(so);
    if (!session.ok()) {
        error = session.error().to_string();
        return {};
    }
    auto logits = (*session)->logits(ids);
    if (!logits.ok()) {
        error = logits.error().to_string();
        return {};
    }
    return *logits;
}

double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0.0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
    return m;
}

}  // namespace

class TestGgufModel : public QObject {
    Q_OBJECT

private slots:
    void floatGgufMatchesSafetensors_data() {
        QTest::addColumn<QString>("gguf");
        QTest::addColumn<QString>("reference");
        QTest::addColumn<double>("tolerance");
        // f32 holds the bf16 values exactly: the same model, so only kernel summation order may differ.
        QTest::newRow("qwen2 f32") << "qwen2_f32.gguf" << "qwen2_st_single" << 1e-5;
        QTest::newRow("llama f32 (permuted q/k)") << "llama_f32.gguf" << "llama_st_single" << 1e-5;
        // f16 holds these bf16 values exactly too (|w| far from f16's subnormal range, 7 < 10 mantissa bits).
        QTest::newRow("qwen2 f16") << "qwen2_f16.gguf" << "qwen2_st_single" << 1e-5;
    }
    void floatGgufMatchesSafetensors() {
        QFETCH(QString, gguf);
        QFETCH(QString, reference);
        QFETCH(double, tolerance);
        const LlmReference ref = load_llm_reference(reference.toStdString());
        std::string error;
        const std::vector<float> st = logitsOf(ref.dir, ref.ids, error);
        QVERIFY2(!st.empty(), error.c_str());
        const std::vector<float> gg = logitsOf(fixture("gguf/" + gguf.toStdString()), ref.ids, error);
        QVERIFY2(!gg.empty(), error.c_str());
        QCOMPARE(gg.size(), st.size());
        const double err = max_rel_error(gg, st);
        QVERIFY2(err <= tolerance, qPrintable(QString("GGUF vs safetensors: max relative error %1").arg(err)));
        QVERIFY(max_rel_error(gg, ref.logits) <= 1e-4);  // and the transformers reference, as the parity test
    }

    void greedyContinuationOfF32Gguf_data() {
        QTest::addColumn<QString>("gguf");
        QTest::addColumn<QString>("reference");
        QTest::newRow("qwen2") << "qwen2_f32.gguf" << "qwen2_st_single";
        QTest::newRow("llama") << "llama_f32.gguf" << "llama_st_single";
    }
    void greedyContinuationOfF32Gguf() {
        QFETCH(QString, gguf);
        QFETCH(QString, reference);
        const LlmReference ref = load_llm_reference(reference.toStdString());
        auto model = Model::load(fixture("gguf/" + gguf.toStdString()));
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
        auto session = (*model)->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = int(ref.greedy_continuation.size());
        opt.stop_at_eos = false;
        auto stats = (*session)->generate(ref.greedy_prompt, opt);
        QVERIFY2(stats.ok(), stats.ok() ? "" : stats.error().to_string().c_str());
        QCOMPARE(stats->tokens, ref.greedy_continuation);
        // The chat prompt from the GGUF tokenizer and template choice equals the folder's.
        QCOMPARE((*model)->chat_prompt(ref.chat_messages), ref.chat_prompt);
    }

    void quantizedLogitsMatchDequantizedReference_data() {
        QTest::addColumn<int>("index");
        const auto cases = nlohmann::json::parse(read_file(fixture("gguf/quant_models.json")))["cases"];
        for (size_t i = 0; i < cases.size(); ++i)
            QTest::newRow(cases[i]["file"].get<std::string>().c_str()) << int(i);
    }
    void quantizedLogitsMatchDequantizedReference() {
        QFETCH(int, index);
        const auto c = nlohmann::json::parse(read_file(fixture("gguf/quant_models.json")))["cases"][size_t(index)];
        const std::vector<int32_t> ids = c["ids"].get<std::vector<int32_t>>();
        const std::vector<float> exact = read_f32_file(fixture("gguf/" + c["logits_file"].get<std::string>()));
        const std::vector<float> actq = read_f32_file(fixture("gguf/" + c["logits_actq_file"].get<std::string>()));
        const auto path = fixture("gguf/" + c["file"].get<std::string>());
        std::string error;
        const std::vector<float> ours = logitsOf(path, ids, error);
        QVERIFY2(!ours.empty(), error.c_str());
        QCOMPARE(ours.size(), exact.size());
        const double gap = c["actq_gap"].get<double>();  // |exact - actq| of the two transformers runs
        const double vs_actq = maxAbsDiff(ours, actq), vs_exact = maxAbsDiff(ours, exact);
        qInfo("%s: |ours - actq| %.2e, |ours - exact| %.2e (rounding gap %.2e)", c["file"].get<std::string>().c_str(),
              vs_actq, vs_exact, gap);
        // Same rounding, same integer sums: only f32 summation order (and the rare activation that lands
        // on the other side of a rounding boundary) differ.
        QVERIFY2(vs_actq <= 2e-3 * c["max_abs_logit"].get<double>() + 1e-3, qPrintable(QString::number(vs_actq)));
        QVERIFY2(vs_exact <= 1.25 * gap + 1e-3, qPrintable(QString::number(vs_exact)));

        auto info = probe_model(path);
        QVERIFY(info.ok());
        QCOMPARE(info->weight_format, std::string("gguf"));
        std::string type = c["type"].get<std::string>();
        for (char& ch : type) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        QCOMPARE(info->dtype, type);
        QVERIFY(info->weight_bytes < uint64_t(info->parameters) * 2);  // blocks, not floats
        QVERIFY(info->memory_estimate > info->weight_bytes);
        QCOMPARE(info->file_bytes, uint64_t(std::filesystem::file_size(path)));
    }

    void quantizedGreedyDecodes() {
        auto model = Model::load(fixture("gguf/quant_q4_k.gguf"));
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
        const std::vector<int32_t> prompt = (*model)->tokenize("Hello, world!");
        QCOMPARE(prompt.front(), 257);  // BOS from tokenizer.ggml.bos_token_id
        QCOMPARE((*model)->detokenize(prompt, /*skip_special=*/true), std::string("Hello, world!"));
        auto session = (*model)->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 8;
        opt.stop_at_eos = false;
        auto stats = (*session)->generate(prompt, opt);
        QVERIFY2(stats.ok(), stats.ok() ? "" : stats.error().to_string().c_str());
        QCOMPARE(stats->generated_tokens, 8);
        // The first step's choice is the argmax of the reference's last-position logits.
        const auto c = nlohmann::json::parse(read_file(fixture("gguf/quant_models.json")))["cases"][2];
        QCOMPARE(c["file"].get<std::string>(), std::string("quant_q4_k.gguf"));
        QCOMPARE(c["ids"].get<std::vector<int32_t>>(), prompt);
        const std::vector<float> actq = read_f32_file(fixture("gguf/" + c["logits_actq_file"].get<std::string>()));
        const int64_t V = c["vocab"].get<int64_t>();
        const float* last = actq.data() + (int64_t(prompt.size()) - 1) * V;
        QCOMPARE(int64_t(stats->tokens.front()), int64_t(std::max_element(last, last + V) - last));
    }

    void probeFillsInfo() {
        auto info = probe_model(fixture("gguf/qwen2_f16.gguf"));
        QVERIFY2(info.ok(), info.ok() ? "" : info.error().to_string().c_str());
        const LlmReference ref = load_llm_reference("qwen2_st_single");
        QCOMPARE(info->kind, ModelKind::Qwen2);
        QCOMPARE(info->weight_format, std::string("gguf"));
        QCOMPARE(info->dtype, std::string("f16"));
        QCOMPARE(info->chat_format, std::string("r1-distill"));
        QCOMPARE(info->parameters, ref.parameters);
        QCOMPARE(info->num_layers, 3);
        QCOMPARE(info->hidden_size, 72);
        auto llama = probe_model(fixture("gguf/llama_f32.gguf"));
        QVERIFY(llama.ok());
        QCOMPARE(llama->kind, ModelKind::Llama);
        QCOMPARE(llama->chat_format, std::string("deepseek-llm"));
        QCOMPARE(llama->dtype, std::string("f32"));
    }

    void folderWithOneGgufIsAModel() {
        TempDir tmp;
        std::filesystem::create_directories(tmp / "one");
        std::filesystem::copy_file(fixture("gguf/quant_q8_0.gguf"), tmp / "one" / "model.gguf");
        auto info = probe_model(tmp / "one");
        QVERIFY2(info.ok(), info.ok() ? "" : info.error().to_string().c_str());
        QCOMPARE(info->dtype, std::string("q8_0"));
        auto model = Model::load(tmp / "one");
        QVERIFY(model.ok());

        std::filesystem::copy_file(fixture("gguf/quant_q4_0.gguf"), tmp / "one" / "other.gguf");
        auto two = probe_model(tmp / "one");
        QVERIFY(!two.ok());
        QVERIFY2(contains(two.error().message, "several GGUF files (model.gguf, other.gguf)"), two.error().message.c_str());
    }

    void truncatedGgufFailsClearly() {
        const auto path = fixture("gguf/qwen2_truncated.gguf");
        auto info = probe_model(path);
        QVERIFY(!info.ok());
        const std::string& m = info.error().message;
        QVERIFY2(contains(m, "qwen2_truncated.gguf: tensor '") && contains(m, "runs past the end of the data section") &&
                     contains(m, "truncated?"),
                 m.c_str());
        auto model = Model::load(path);
        QVERIFY(!model.ok());
        QCOMPARE(model.error().message, m);
    }

    // A copy of quant_q4_0.gguf with one tensor's info edited in place: the type id (IQ4_NL has Q4_0's block
    // size and bytes, so the file stays valid) or the name (same length, no architecture has it).
    void unsupportedTensorsAreNamed_data() {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("expected");
        QTest::newRow("type the kernels do not read")
            << "type" << "quant_q4_0.gguf: tensor 'blk.0.ffn_up.weight' has type IQ4_NL, which the CPU kernels do not read";
        QTest::newRow("unknown tensor name")
            << "name" << "quant_q4_0.gguf: tensor 'blk.0.ffn_zz.weight' [256, 256] has no equivalent";
    }
    void unsupportedTensorsAreNamed() {
        QFETCH(QString, edit);
        QFETCH(QString, expected);
        std::string bytes = read_file(fixture("gguf/quant_q4_0.gguf"));
        const std::string name = "blk.0.ffn_up.weight";
        const size_t at = bytes.find(name);
        QVERIFY(at != std::string::npos);
        if (edit == "type") {
            const size_t type_at = at + name.size() + 4 + 2 * 8;  // n_dims u32, two u64 dims, then the type
            QCOMPARE(uint8_t(bytes[type_at]), uint8_t(2));          // Q4_0
            bytes[type_at] = char(20);                              // IQ4_NL
        } else {
            bytes.replace(at + 10, 2, "zz");
        }
        TempDir tmp;
        write_file(tmp / "quant_q4_0.gguf", bytes);
        auto model = Model::load(tmp / "quant_q4_0.gguf");
        QVERIFY(!model.ok());
        QVERIFY2(contains(model.error().message, expected.toStdString()), model.error().message.c_str());
    }

    void blockQuantizedOnCuda() {
        // Block types run on the GPU too (tests/gpu/check_cuda_llm.cpp compares them with this CPU path); where
        // there is no GPU, the error is about the device, not about the weights.
        LoadOptions lo;
        lo.device = Device::Cuda;
        auto model = Model::load(fixture("gguf/quant_q6_k.gguf"), lo);
        if (!model.ok())
            QVERIFY2(!contains(model.error().message, "CPU only") && !contains(model.error().message, "Q6_K"),
                     model.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestGgufModel)
#include "test_gguf_model.moc"
