// The reference outputs of a fixture folder for the GPU checks: reference.json and reference.safetensors,
// which holds F32, BF16 and U8 tensors (the engine's checkpoint reader takes float types only, so the checks
// read this trusted, committed file themselves: 8-byte header length, JSON header, raw little-endian data).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/model_config.h"
#include "tessera/error.h"

namespace tessera::gpucheck {

struct ReferenceFile {
    nlohmann::json json;    // reference.json (null when the folder has none)
    nlohmann::json header;  // the safetensors header
    std::string data;       // the bytes after the header

    std::vector<int64_t> shape(const std::string& name) const {
        return header.contains(name) ? header[name]["shape"].get<std::vector<int64_t>>()
                                     : std::vector<int64_t>{};
    }
    // F32 or BF16 as f32; empty when absent, of another dtype, or out of the file.
    std::vector<float> f32(const std::string& name) const {
        const auto [off, dtype] = where(name);
        std::vector<float> v;
        if (dtype == "F32") {
            v.resize((off[1] - off[0]) / 4);
            std::memcpy(v.data(), data.data() + off[0], v.size() * 4);
        } else if (dtype == "BF16") {
            v.resize((off[1] - off[0]) / 2);
            for (size_t i = 0; i < v.size(); ++i) {
                uint16_t h;
                std::memcpy(&h, data.data() + off[0] + 2 * i, 2);
                v[i] = bf16_to_f32(h);
            }
        }
        return v;
    }
    std::vector<uint8_t> u8(const std::string& name) const {
        const auto [off, dtype] = where(name);
        if (dtype != "U8") return {};
        return std::vector<uint8_t>(data.begin() + long(off[0]), data.begin() + long(off[1]));
    }

private:
    std::pair<std::vector<size_t>, std::string> where(const std::string& name) const {
        if (!header.contains(name)) return {{0, 0}, ""};
        auto off = header[name]["data_offsets"].get<std::vector<size_t>>();
        if (off.size() != 2 || off[0] > off[1] || off[1] > data.size()) return {{0, 0}, ""};
        return {off, header[name]["dtype"].get<std::string>()};
    }
};

inline Result<ReferenceFile> load_reference_file(const std::string& dir) {
    ReferenceFile r;
    if (std::ifstream in(dir + "/reference.json"); in) {
        r.json = nlohmann::json::parse(in, nullptr, false);
        if (r.json.is_discarded())
            return make_error(ErrorCode::Format, dir + "/reference.json does not parse");
    }
    std::ifstream st(dir + "/reference.safetensors", std::ios::binary);
    uint64_t n = 0;
    if (!st.read(reinterpret_cast<char*>(&n), 8) || n > (1u << 24))
        return make_error(ErrorCode::Format, dir + "/reference.safetensors: bad header length");
    std::string head(n, '\0');
    st.read(head.data(), long(n));
    r.header = nlohmann::json::parse(head, nullptr, false);
    if (r.header.is_discarded())
        return make_error(ErrorCode::Format, dir + "/reference.safetensors: header does not parse");
    r.data.assign(std::istreambuf_iterator<char>(st), std::istreambuf_iterator<char>());
    return r;
}

// The language model of a multi_modality config.json (LlamaConfig defaults where absent, models.md §7.1),
// read here so the checks depend on nothing but the GPU path. config: the whole file, for the caller's other
// fields.
inline bool read_janus_language_config(const std::string& dir, LlmConfig& llm, nlohmann::json& config) {
    std::ifstream in(dir + "/config.json");
    config = nlohmann::json::parse(in, nullptr, false);
    if (config.is_discarded() || !config.contains("language_config")) return false;
    const nlohmann::json& l = config["language_config"];
    llm.hidden_size = l.value("hidden_size", 4096);
    llm.intermediate_size = l.value("intermediate_size", 11008);
    llm.num_hidden_layers = l.value("num_hidden_layers", 32);
    llm.num_attention_heads = l.value("num_attention_heads", 32);
    llm.num_key_value_heads = l.value("num_key_value_heads", llm.num_attention_heads);
    llm.head_dim = llm.hidden_size / llm.num_attention_heads;
    llm.vocab_size = l.value("vocab_size", 32000);
    llm.max_position_embeddings = l.value("max_position_embeddings", 2048);
    llm.rms_norm_eps = l.value("rms_norm_eps", 1e-6f);
    llm.rope_theta = l.value("rope_theta", 10000.f);
    return true;
}

}  // namespace tessera::gpucheck
