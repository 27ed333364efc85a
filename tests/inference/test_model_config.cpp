// config.json parsing: the fixture configs (models.md §2.1 and §3.1, in transformers 4.x and 5 spelling)
// give exactly the documented values, defaults follow the transformers config classes, and every wrong,
// missing or unsupported field fails with a message that names the file and the field.
#include <QtTest/QtTest>

#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/model_config.h"
#include "support/test_support.h"

using namespace tessera;

namespace {

template <class R>
void expect_error(const R& r, ErrorCode code, std::initializer_list<std::string> needles) {
    QVERIFY2(!r.ok(), ("expected an error containing '" + (needles.size() ? *needles.begin() : std::string()) + "'").c_str());
    const std::string msg = r.error().message;
    QVERIFY2(r.error().code == code, (std::string("wrong code: ") + r.error().to_string()).c_str());
    for (const std::string& n : needles)
        QVERIFY2(msg.find(n) != std::string::npos, ("'" + n + "' not in: " + msg).c_str());
}

// The smallest config the parser accepts; cases below add or break one field each.
nlohmann::json minimal_llama() {
    return {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 64}, {"intermediate_size", 172},
            {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"vocab_size", 300}};
}

Result<LlmConfig> load(const nlohmann::json& config, const std::string* generation = nullptr) {
    test::TempDir dir;
    test::write_file(dir / "config.json", config.dump());
    if (generation) test::write_file(dir / "generation_config.json", *generation);
    return load_llm_config(dir.path());
}

}  // namespace

class TestModelConfig : public QObject {
    Q_OBJECT

private slots:
    void deepseekLlm7bChat() {
        auto c = load_llm_config(test::fixture("io/configs/deepseek_llm_7b_chat"));
        QVERIFY2(c.ok(), c.ok() ? "" : c.error().to_string().c_str());
        QVERIFY(c->family == ModelFamily::Llama);
        QCOMPARE(QString::fromStdString(c->architecture), QString("LlamaForCausalLM"));
        QCOMPARE(c->hidden_size, 4096);
        QCOMPARE(c->intermediate_size, 11008);
        QCOMPARE(c->num_hidden_layers, 30);
        QCOMPARE(c->num_attention_heads, 32);
        QCOMPARE(c->num_key_value_heads, 32);
        QCOMPARE(c->head_dim, 128);
        QCOMPARE(c->vocab_size, 102400);
        QCOMPARE(c->max_position_embeddings, 4096);
        QCOMPARE(c->rms_norm_eps, 1e-6f);
        QCOMPARE(c->rope_theta, 10000.f);
        QVERIFY(!c->attention_bias);
        QVERIFY(!c->tie_word_embeddings);
        QVERIFY(c->dtype == DType::BF16);
        QCOMPARE(c->bos_token_id.value_or(-1), 100000);
        QVERIFY(c->eos_token_ids == std::vector<int>{100001});
    }

    void r1DistillQwen() {
        for (const char* name : {"r1_distill_qwen_1_5b", "r1_distill_qwen_1_5b_tf5"}) {
            auto c = load_llm_config(test::fixture(std::string("io/configs/") + name));
            QVERIFY2(c.ok(), c.ok() ? "" : c.error().to_string().c_str());
            QVERIFY(c->family == ModelFamily::Qwen2);
            QCOMPARE(c->hidden_size, 1536);
            QCOMPARE(c->intermediate_size, 8960);
            QCOMPARE(c->num_hidden_layers, 28);
            QCOMPARE(c->num_attention_heads, 12);
            QCOMPARE(c->num_key_value_heads, 2);
            QCOMPARE(c->head_dim, 128);
            QCOMPARE(c->vocab_size, 151936);
            QCOMPARE(c->max_position_embeddings, 131072);
            QCOMPARE(c->rope_theta, 10000.f);
            QVERIFY(c->attention_bias);  // Qwen2: q/k/v bias without a config switch
            QVERIFY(c->dtype == DType::BF16);
            QCOMPARE(c->bos_token_id.value_or(-1), 151643);
        }
        // generation_config.json decides eos: an int in the 4.x fixture, a list in the 5.x one.
        auto v4 = load_llm_config(test::fixture("io/configs/r1_distill_qwen_1_5b"));
        QVERIFY(v4->eos_token_ids == std::vector<int>{151643});
        auto v5 = load_llm_config(test::fixture("io/configs/r1_distill_qwen_1_5b_tf5"));
        QVERIFY((v5->eos_token_ids == std::vector<int>{151643, 151645}));
    }

    void defaults() {
        auto c = load(minimal_llama());
        QVERIFY2(c.ok(), c.ok() ? "" : c.error().to_string().c_str());
        QCOMPARE(c->num_key_value_heads, 4);
        QCOMPARE(c->head_dim, 16);
        QCOMPARE(c->max_position_embeddings, 2048);
        QCOMPARE(c->rope_theta, 10000.f);
        QCOMPARE(c->rms_norm_eps, 1e-6f);
        QVERIFY(c->dtype == DType::BF16);
        QVERIFY(!c->bos_token_id);
        QVERIFY(c->eos_token_ids.empty());
        nlohmann::json q = minimal_llama();
        q["architectures"] = {"Qwen2ForCausalLM"};
        auto qc = load(q);
        QVERIFY(qc.ok());
        QCOMPARE(qc->max_position_embeddings, 32768);
        QVERIFY(qc->attention_bias);
    }

    void optionalSpellings() {
        nlohmann::json j = minimal_llama();
        j["head_dim"] = 32;
        j["num_key_value_heads"] = 2;
        j["torch_dtype"] = "float32";
        j["dtype"] = "float16";  // transformers 5 spelling wins
        j["rope_scaling"] = {{"type", "default"}};
        j["rope_parameters"] = {{"rope_theta", 500000}, {"rope_type", "default"}};
        j["rms_norm_eps"] = 1e-5;
        j["attention_bias"] = true;
        j["tie_word_embeddings"] = true;
        j["eos_token_id"] = {2, 7};
        j["bos_token_id"] = 1;
        j["hidden_act"] = "silu";
        auto c = load(j);
        QVERIFY2(c.ok(), c.ok() ? "" : c.error().to_string().c_str());
        QCOMPARE(c->head_dim, 32);
        QCOMPARE(c->num_key_value_heads, 2);
        QVERIFY(c->dtype == DType::F16);
        QCOMPARE(c->rope_theta, 500000.f);
        QCOMPARE(c->rms_norm_eps, 1e-5f);
        QVERIFY(c->attention_bias);
        QVERIFY(c->tie_word_embeddings);
        QVERIFY((c->eos_token_ids == std::vector<int>{2, 7}));
        QCOMPARE(c->bos_token_id.value_or(-1), 1);
        j.erase("dtype");
        QVERIFY(load(j)->dtype == DType::F32);
        j["torch_dtype"] = "torch.bfloat16";
        QVERIFY(load(j)->dtype == DType::BF16);
        // A generation config without eos keeps the config.json one.
        const std::string gen = R"({"temperature": 0.7})";
        QVERIFY((load(j, &gen)->eos_token_ids == std::vector<int>{2, 7}));
    }

    void errors_data() {
        QTest::addColumn<QString>("patch");  // JSON merged into minimal_llama (null removes a field)
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("message");  // exact, or a fragment when it starts with '~'
        const int cfg = int(ErrorCode::Config), uns = int(ErrorCode::Unsupported);
        QTest::newRow("unknown architecture")
            << R"({"architectures": ["FooForCausalLM"]})" << uns
            << "config.json: architecture 'FooForCausalLM' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM)";
        QTest::newRow("deepseek v2 architecture") << R"({"architectures": ["DeepseekV2ForCausalLM"]})" << uns
                                                  << "~architecture 'DeepseekV2ForCausalLM' is not supported";
        QTest::newRow("missing architectures") << R"({"architectures": null})" << cfg
                                               << "config.json: missing field 'architectures'";
        QTest::newRow("architectures not a list") << R"({"architectures": "LlamaForCausalLM"})" << cfg
                                                  << "~field 'architectures' must be a non-empty list";
        QTest::newRow("empty architectures") << R"({"architectures": []})" << cfg << "~'architectures'";
        QTest::newRow("missing hidden_size") << R"({"hidden_size": null})" << cfg
                                             << "config.json: missing field 'hidden_size'";
        QTest::newRow("string hidden_size") << R"({"hidden_size": "4096"})" << cfg
                                            << "config.json: field 'hidden_size' must be an integer, got string";
        QTest::newRow("float layers") << R"({"num_hidden_layers": 2.5})" << cfg
                                      << "config.json: field 'num_hidden_layers' must be an integer, got number";
        QTest::newRow("negative vocab") << R"({"vocab_size": -3})" << cfg
                                        << "config.json: field 'vocab_size' must be a positive integer, got -3";
        QTest::newRow("huge intermediate") << R"({"intermediate_size": 99999999999})" << cfg << "~'intermediate_size'";
        QTest::newRow("missing heads") << R"({"num_attention_heads": null})" << cfg << "~'num_attention_heads'";
        QTest::newRow("kv heads do not divide") << R"({"num_key_value_heads": 3})" << cfg
                                                << "~num_attention_heads (4) is not a multiple of num_key_value_heads (3)";
        QTest::newRow("head_dim not derivable") << R"({"hidden_size": 66})" << cfg << "~hidden_size (66)";
        QTest::newRow("odd head_dim") << R"({"head_dim": 15})" << cfg << "~head_dim 15 must be even";
        QTest::newRow("yarn rope_scaling") << R"({"rope_scaling": {"type": "yarn", "factor": 40}})" << uns
                                           << "config.json: rope_scaling type 'yarn' is not supported yet (only default RoPE)";
        QTest::newRow("linear rope_parameters") << R"({"rope_parameters": {"rope_type": "linear", "rope_theta": 1e4}})"
                                                << uns << "~rope_parameters type 'linear' is not supported";
        QTest::newRow("rope_scaling not an object") << R"({"rope_scaling": 2.0})" << cfg
                                                    << "~field 'rope_scaling' must be an object or null";
        QTest::newRow("rope_type wrong type") << R"({"rope_scaling": {"rope_type": 3}})" << cfg
                                              << "~field 'rope_scaling.rope_type' must be a string";
        QTest::newRow("string rope_theta") << R"({"rope_theta": "10000"})" << cfg
                                           << "config.json: field 'rope_theta' must be a number, got string";
        QTest::newRow("rope_parameters theta") << R"({"rope_parameters": {"rope_theta": "x"}})" << cfg
                                               << "~field 'rope_parameters.rope_theta' must be a number";
        QTest::newRow("zero eps") << R"({"rms_norm_eps": 0})" << cfg << "~'rms_norm_eps'";
        QTest::newRow("bool as int") << R"({"tie_word_embeddings": 1})" << cfg
                                     << "~field 'tie_word_embeddings' must be true or false, got integer";
        QTest::newRow("f64 dtype") << R"({"torch_dtype": "float64"})" << uns << "~torch_dtype 'float64' is not supported";
        QTest::newRow("dtype wrong type") << R"({"dtype": 16})" << cfg << "~field 'dtype' must be a string";
        QTest::newRow("gelu") << R"({"hidden_act": "gelu"})" << uns << "~hidden_act 'gelu'";
        QTest::newRow("mlp bias") << R"({"mlp_bias": true})" << uns << "~mlp_bias";
        QTest::newRow("qwen sliding window") << R"({"architectures": ["Qwen2ForCausalLM"], "use_sliding_window": true})"
                                             << uns << "~use_sliding_window";
        QTest::newRow("eos string") << R"({"eos_token_id": "</s>"})" << cfg
                                    << "~config.json: field 'eos_token_id' must be a token id";
        QTest::newRow("eos list with junk") << R"({"eos_token_id": [1, "x"]})" << cfg << "~'eos_token_id'";
        QTest::newRow("bos negative") << R"({"bos_token_id": -1})" << cfg << "~'bos_token_id'";
    }

    void errors() {
        QFETCH(QString, patch);
        QFETCH(int, code);
        QFETCH(QString, message);
        nlohmann::json j = minimal_llama();
        j.merge_patch(nlohmann::json::parse(patch.toStdString()));
        auto r = load(j);
        const std::string m = message.toStdString();
        if (m.starts_with("~")) {
            expect_error(r, ErrorCode(code), {m.substr(1)});
        } else {
            expect_error(r, ErrorCode(code), {});
            QCOMPARE(QString::fromStdString(r.error().message), message);
        }
    }

    void fileErrors() {
        test::TempDir dir;
        expect_error(load_llm_config(dir.path()), ErrorCode::Io, {"config.json", "not found"});
        test::write_file(dir / "config.json", "{\"hidden_size\": 4096,");
        expect_error(load_llm_config(dir.path()), ErrorCode::Format, {"config.json: not valid JSON"});
        test::write_file(dir / "config.json", "[1, 2]");
        expect_error(load_llm_config(dir.path()), ErrorCode::Config, {"config.json: must be a JSON object, got array"});
        test::write_file(dir / "config.json", "");
        expect_error(load_llm_config(dir.path()), ErrorCode::Format, {"config.json: not valid JSON"});

        const std::string bad_gen = R"({"eos_token_id": "nope"})";
        expect_error(load(minimal_llama(), &bad_gen), ErrorCode::Config,
                     {"generation_config.json: field 'eos_token_id' must be a token id"});
        const std::string broken_gen = "{eos";
        expect_error(load(minimal_llama(), &broken_gen), ErrorCode::Format, {"generation_config.json: not valid JSON"});
        const std::string list_gen = "[]";
        expect_error(load(minimal_llama(), &list_gen), ErrorCode::Config, {"generation_config.json: must be a JSON object"});
    }
};

QTEST_APPLESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
