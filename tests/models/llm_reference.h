// Helpers for the language-model tests: reading the transformers references of tests/fixtures/llm/<name>/
// (reference.json + logits.f32, written by tools/fixtures/make_llm_fixtures.py), and writing small crafted
// model folders (f32 safetensors) for the failure and edge-case tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "tessera/engine.h"

namespace tessera::test {

inline std::vector<int32_t> json_ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

struct LlmReference {
    std::filesystem::path dir;
    nlohmann::json json;
    std::vector<int32_t> ids;    // teacher-forced sequence
    std::vector<float> logits;   // [ids.size(), vocab] from transformers in float32
    int64_t vocab = 0;
    int64_t parameters = 0;
    std::vector<int32_t> greedy_prompt, greedy_continuation;
    std::vector<Message> chat_messages;
    std::vector<int32_t> chat_prompt, chat_continuation;
    std::string chat_text;  // transformers' decode of chat_continuation (special tokens kept)
};

inline LlmReference load_llm_reference(const std::string& name) {
    LlmReference r;
    r.dir = fixture("llm/" + name);
    r.json = nlohmann::json::parse(read_file(r.dir / "reference.json"));
    r.ids = json_ids(r.json["ids"]);
    r.logits = read_f32_file(r.dir / r.json["logits_file"].get<std::string>());
    r.vocab = r.json["logits_shape"][1].get<int64_t>();
    r.parameters = r.json["parameters"].get<int64_t>();
    r.greedy_prompt = json_ids(r.json["greedy"]["prompt_ids"]);
    r.greedy_continuation = json_ids(r.json["greedy"]["continuation"]);
    for (const auto& m : r.json["chat"]["messages"])
        r.chat_messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    r.chat_prompt = json_ids(r.json["chat"]["prompt_ids"]);
    r.chat_continuation = json_ids(r.json["chat"]["continuation"]);
    r.chat_text = r.json["chat"]["continuation_text"].get<std::string>();
    return r;
}

// One f32 tensor of a crafted checkpoint.
struct RawTensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
};

// safetensors: 8-byte little-endian header length, JSON header (space-padded to 8 bytes), packed data.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<RawTensor>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    for (const RawTensor& t : tensors) {
        const uint64_t bytes = t.values.size() * sizeof(float);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    while (text.size() % 8) text += ' ';
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const RawTensor& t : tensors)
        out.write(reinterpret_cast<const char*>(t.values.data()), std::streamsize(t.values.size() * sizeof(float)));
}

// A tiny f32 Llama whose vocabulary fits the tokenizer of the llama_st_single fixture (1015 ids).
struct TinyLlama {
    int hidden = 8;
    int intermediate = 16;
    int layers = 2;
    int heads = 2;
    int kv_heads = 1;
    int vocab = 1024;
    bool tie = false;
};

inline std::vector<RawTensor> tiny_llama_tensors(const TinyLlama& c, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    auto make = [&](const std::string& name, std::vector<int64_t> shape, float base = 0.0f) {
        RawTensor t{name, shape, {}};
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        t.values.resize(size_t(n));
        for (float& v : t.values) v = base + normal(rng);
        return t;
    };
    const int64_t H = c.hidden, I = c.intermediate, hd = c.hidden / c.heads, q = c.heads * hd, kv = c.kv_heads * hd;
    std::vector<RawTensor> ts;
    ts.push_back(make("model.embed_tokens.weight", {c.vocab, H}));
    for (int l = 0; l < c.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        ts.push_back(make(p + "input_layernorm.weight", {H}, 1.0f));
        ts.push_back(make(p + "self_attn.q_proj.weight", {q, H}));
        ts.push_back(make(p + "self_attn.k_proj.weight", {kv, H}));
        ts.push_back(make(p + "self_attn.v_proj.weight", {kv, H}));
        ts.push_back(make(p + "self_attn.o_proj.weight", {H, q}));
        ts.push_back(make(p + "post_attention_layernorm.weight", {H}, 1.0f));
        ts.push_back(make(p + "mlp.gate_proj.weight", {I, H}));
        ts.push_back(make(p + "mlp.up_proj.weight", {I, H}));
        ts.push_back(make(p + "mlp.down_proj.weight", {H, I}));
    }
    ts.push_back(make("model.norm.weight", {H}, 1.0f));
    if (!c.tie) ts.push_back(make("lm_head.weight", {c.vocab, H}));
    return ts;
}

// The tensor called `name` (a test bug if absent).
inline RawTensor& tensor(std::vector<RawTensor>& ts, const std::string& name) {
    for (RawTensor& t : ts)
        if (t.name == name) return t;
    throw std::invalid_argument("no tensor " + name);
}

// config.json (transformers 4.x spelling), model.safetensors and the llama_st_single tokenizer.
inline void write_tiny_llama(const std::filesystem::path& dir, const TinyLlama& c, const std::vector<RawTensor>& ts) {
    std::filesystem::create_directories(dir);
    nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                          {"model_type", "llama"},
                          {"hidden_size", c.hidden},
                          {"intermediate_size", c.intermediate},
                          {"num_hidden_layers", c.layers},
                          {"num_attention_heads", c.heads},
                          {"num_key_value_heads", c.kv_heads},
                          {"vocab_size", c.vocab},
                          {"max_position_embeddings", 256},
                          {"rms_norm_eps", 1e-6},
                          {"rope_theta", 10000.0},
                          {"rope_scaling", nullptr},
                          {"tie_word_embeddings", c.tie},
                          {"torch_dtype", "float32"},
                          {"bos_token_id", 1000},
                          {"eos_token_id", 1001}};
    write_file(dir / "config.json", cfg.dump(1));
    write_safetensors(dir / "model.safetensors", ts);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(fixture("llm/llama_st_single") / f, dir / f,
                                   std::filesystem::copy_options::overwrite_existing);
}

}  // namespace tessera::test
