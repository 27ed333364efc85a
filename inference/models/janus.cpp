// Janus-Pro: multi_modality config parsing, weight wiring over one loader, and the small parts that are
// Janus's own (aligners, generation input and head). See janus.h.
#include "models/janus.h"

#include <climits>
#include <cmath>

#include "backend/cpu/ops.h"
#include "backend/cpu/transformer_ops.h"
#include "io/json_util.h"
#include "layers/weights.h"
#include "models/llama.h"

namespace tessera {

namespace {

const std::string kConfig = "config.json";

Error field_error(const std::string& where, const std::string& what) {
    return make_error(ErrorCode::Config, kConfig + ": field '" + where + "' " + what);
}

// The object config[block], or an error naming it.
Result<const nlohmann::json*> block(const nlohmann::json& cfg, const std::string& name) {
    if (!cfg.contains(name)) return field_error(name, "is missing");
    const nlohmann::json& b = cfg.at(name);
    if (!b.is_object()) return field_error(name, std::string("must be an object, got ") + json_type_name(b));
    return &b;
}

// block.params, an object.
Result<const nlohmann::json*> params_of(const nlohmann::json& cfg, const std::string& name) {
    TESSERA_ASSIGN(const nlohmann::json* b, block(cfg, name));
    if (!b->contains("params")) return field_error(name + ".params", "is missing");
    const nlohmann::json& p = b->at("params");
    if (!p.is_object()) return field_error(name + ".params", "must be an object");
    return &p;
}

Result<std::string> cls_of(const nlohmann::json& cfg, const std::string& name) {
    TESSERA_ASSIGN(const nlohmann::json* b, block(cfg, name));
    return json_get_string(*b, "cls", kConfig, name + ".");
}

Result<int> positive(const nlohmann::json& obj, const std::string& field, const std::string& where) {
    TESSERA_ASSIGN(int64_t v, json_get_int(obj, field, kConfig, where));
    if (v <= 0 || v > INT_MAX) return field_error(where + field, "must be a positive integer");
    return int(v);
}

Result<int> positive_or(const nlohmann::json& obj, const std::string& field, const std::string& where, int fallback) {
    if (!json_has(obj, field)) return fallback;
    return positive(obj, field, where);
}

// An MlpProjector block: cls MlpProjector, projector_type mlp_gelu, depth 2; returns (input_dim, n_embed).
Result<std::pair<int, int>> projector(const nlohmann::json& cfg, const std::string& name) {
    TESSERA_ASSIGN(std::string cls, cls_of(cfg, name));
    if (cls != "MlpProjector") return make_error(ErrorCode::Unsupported, kConfig + ": " + name + ".cls '" + cls +
                                                                             "' is not supported (MlpProjector)");
    TESSERA_ASSIGN(const nlohmann::json* p, params_of(cfg, name));
    const std::string where = name + ".params.";
    TESSERA_ASSIGN(std::string type, json_get_string(*p, "projector_type", kConfig, where));
    TESSERA_ASSIGN(int depth, positive_or(*p, "depth", where, 1));
    if (type != "mlp_gelu" || depth != 2)
        return make_error(ErrorCode::Unsupported, kConfig + ": " + where + "projector_type '" + type + "' with depth " +
                                                      std::to_string(depth) + " is not supported (mlp_gelu, depth 2)");
    TESSERA_ASSIGN(int in, positive(*p, "input_dim", where));
    TESSERA_ASSIGN(int out, positive(*p, "n_embed", where));
    return std::pair<int, int>{in, out};
}

// language_config: a LlamaConfig dict; absent fields take LlamaConfig's class defaults (Janus-Pro-7B gives
// only a few, §7.1).
Result<LlmConfig> language_config(const nlohmann::json& cfg) {
    TESSERA_ASSIGN(const nlohmann::json* l, block(cfg, "language_config"));
    const std::string w = "language_config.";
    LlmConfig c;
    c.family = ModelFamily::Llama;
    c.architecture = "LlamaForCausalLM";
    TESSERA_ASSIGN(c.hidden_size, positive_or(*l, "hidden_size", w, 4096));
    TESSERA_ASSIGN(c.intermediate_size, positive_or(*l, "intermediate_size", w, 11008));
    TESSERA_ASSIGN(c.num_hidden_layers, positive_or(*l, "num_hidden_layers", w, 32));
    TESSERA_ASSIGN(c.num_attention_heads, positive_or(*l, "num_attention_heads", w, 32));
    TESSERA_ASSIGN(c.num_key_value_heads, positive_or(*l, "num_key_value_heads", w, c.num_attention_heads));
    TESSERA_ASSIGN(c.vocab_size, positive_or(*l, "vocab_size", w, 32000));
    TESSERA_ASSIGN(c.max_position_embeddings, positive_or(*l, "max_position_embeddings", w, 2048));
    if (c.hidden_size % c.num_attention_heads != 0)
        return field_error(w + "hidden_size", "is not a multiple of num_attention_heads");
    TESSERA_ASSIGN(c.head_dim, positive_or(*l, "head_dim", w, c.hidden_size / c.num_attention_heads));
    if (json_has(*l, "rms_norm_eps")) {
        TESSERA_ASSIGN(double eps, json_get_number(*l, "rms_norm_eps", kConfig, w));
        c.rms_norm_eps = float(eps);
    }
    if (json_has(*l, "rope_theta")) {
        TESSERA_ASSIGN(double theta, json_get_number(*l, "rope_theta", kConfig, w));
        c.rope_theta = float(theta);
    }
    if (json_has(*l, "rope_scaling")) return make_error(ErrorCode::Unsupported, kConfig + ": " + w + "rope_scaling is not supported");
    if (json_has(*l, "tie_word_embeddings")) {
        TESSERA_ASSIGN(c.tie_word_embeddings, json_get_bool(*l, "tie_word_embeddings", kConfig, w));
    }
    if (json_has(*l, "attention_bias")) {
        TESSERA_ASSIGN(c.attention_bias, json_get_bool(*l, "attention_bias", kConfig, w));
    }
    if (json_has(*l, "hidden_act")) {
        TESSERA_ASSIGN(std::string act, json_get_string(*l, "hidden_act", kConfig, w));
        if (act != "silu") return make_error(ErrorCode::Unsupported, kConfig + ": " + w + "hidden_act '" + act + "' is not supported");
    }
    TESSERA_TRY(validate_decoder_config(c));
    return c;
}

Status load_projector(WeightLoader& loader, const std::string& prefix, int in, int out, MlpProjectorWeights& w) {
    w.in = in;
    w.out = out;
    TESSERA_ASSIGN(w.w0, loader.get(prefix + "layers.0.weight", {out, in}));
    TESSERA_ASSIGN(w.b0, loader.get(prefix + "layers.0.bias", {out}));
    TESSERA_ASSIGN(w.w2, loader.get(prefix + "layers.2.weight", {out, out}));
    TESSERA_ASSIGN(w.b2, loader.get(prefix + "layers.2.bias", {out}));
    return {};
}

// out[n, D] = L2(GELU(L0(x))); mid: n·D floats.
void projector_forward(const MlpProjectorWeights& w, const float* x, int64_t n, float* mid, float* out,
                       ThreadPool& pool) {
    cpu::matmul(x, n, w.in, w.w0, w.b0, mid, pool);
    cpu::gelu_inplace(mid, n * w.out, /*tanh_approx=*/false, pool);  // exact GELU (§11.12)
    cpu::matmul(mid, n, w.out, w.w2, w.b2, out, pool);
}

}  // namespace

bool is_janus_folder(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(dir / kConfig, ec)) return false;
    auto cfg = read_json_file(dir / kConfig);
    if (!cfg.ok() || !cfg.value().is_object()) return false;
    const nlohmann::json& j = cfg.value();
    return j.contains("model_type") && j["model_type"].is_string() && j["model_type"] == "multi_modality";
}

Result<JanusConfig> parse_janus_config(const nlohmann::json& cfg) {
    if (!cfg.is_object()) return make_error(ErrorCode::Config, kConfig + ": must be a JSON object");
    JanusConfig c;
    TESSERA_ASSIGN(c.llm, language_config(cfg));
    c.llm.architecture = "MultiModalityCausalLM";
    if (json_has(cfg, "torch_dtype")) {
        TESSERA_ASSIGN(std::string dt, json_get_string(cfg, "torch_dtype", kConfig));
        c.llm.dtype = dt == "float32" ? DType::F32 : dt == "float16" ? DType::F16 : DType::BF16;
    }

    TESSERA_ASSIGN(std::string vcls, cls_of(cfg, "vision_config"));
    if (vcls != "CLIPVisionTower")
        return make_error(ErrorCode::Unsupported, kConfig + ": vision_config.cls '" + vcls + "' is not supported (CLIPVisionTower)");
    TESSERA_ASSIGN(const nlohmann::json* vp, params_of(cfg, "vision_config"));
    TESSERA_ASSIGN(std::string vname, json_get_string(*vp, "model_name", kConfig, "vision_config.params."));
    TESSERA_ASSIGN(c.vision, siglip_config(vname, *vp, kConfig));
    if (c.vision.gelu_tanh)
        return make_error(ErrorCode::Unsupported, kConfig + ": vision_config.params.model_name '" + vname +
                                                      "' is not the Janus tower");

    TESSERA_ASSIGN(auto aligner, projector(cfg, "aligner_config"));
    c.aligner_input = aligner.first;
    if (aligner.first != c.vision.width)
        return field_error("aligner_config.params.input_dim", "(" + std::to_string(aligner.first) +
                                                                  ") differs from the vision width " + std::to_string(c.vision.width));
    if (aligner.second != c.llm.hidden_size)
        return field_error("aligner_config.params.n_embed", "differs from language_config hidden_size");

    TESSERA_ASSIGN(std::string gcls, cls_of(cfg, "gen_vision_config"));
    if (gcls != "VQ-16")
        return make_error(ErrorCode::Unsupported, kConfig + ": gen_vision_config.cls '" + gcls + "' is not supported (VQ-16)");
    TESSERA_ASSIGN(const nlohmann::json* gp, params_of(cfg, "gen_vision_config"));
    TESSERA_ASSIGN(c.image_vocab, positive(*gp, "image_token_size", "gen_vision_config.params."));
    TESSERA_ASSIGN(c.code_dim, positive(*gp, "n_embed", "gen_vision_config.params."));

    TESSERA_ASSIGN(auto gen_aligner, projector(cfg, "gen_aligner_config"));
    if (gen_aligner.first != c.code_dim)
        return field_error("gen_aligner_config.params.input_dim", "differs from gen_vision_config.params.n_embed");
    if (gen_aligner.second != c.llm.hidden_size)
        return field_error("gen_aligner_config.params.n_embed", "differs from language_config hidden_size");

    TESSERA_ASSIGN(std::string hcls, cls_of(cfg, "gen_head_config"));
    if (hcls != "vision_head")
        return make_error(ErrorCode::Unsupported, kConfig + ": gen_head_config.cls '" + hcls + "' is not supported (vision_head)");
    TESSERA_ASSIGN(const nlohmann::json* hp, params_of(cfg, "gen_head_config"));
    const std::string hw = "gen_head_config.params.";
    TESSERA_ASSIGN(int head_in, positive(*hp, "n_embed", hw));
    TESSERA_ASSIGN(c.gen_head_embed, positive(*hp, "image_token_embed", hw));
    TESSERA_ASSIGN(int head_out, positive(*hp, "image_token_size", hw));
    if (head_in != c.llm.hidden_size) return field_error(hw + "n_embed", "differs from language_config hidden_size");
    if (head_out != c.image_vocab) return field_error(hw + "image_token_size", "differs from gen_vision_config.params.image_token_size");

    c.processor.image_size = c.vision.image_size;
    const int grid = c.vision.image_size / c.vision.patch_size;
    c.processor.num_image_tokens = grid * grid;
    return c;
}

Result<bool> janus_uses_plain_roles(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / "preprocessor_config.json", ec)) {
        const std::string label = "preprocessor_config.json";
        TESSERA_ASSIGN(nlohmann::json p, read_json_file(dir / label));
        if (!p.is_object()) return make_error(ErrorCode::Config, label + ": must be a JSON object");
        if (json_has(p, "do_normalize")) {
            TESSERA_ASSIGN(bool normalize, json_get_bool(p, "do_normalize", label));
            if (!normalize) return true;
        }
    }
    if (std::filesystem::is_regular_file(dir / "special_tokens_map.json", ec)) {
        const std::string label = "special_tokens_map.json";
        TESSERA_ASSIGN(nlohmann::json m, read_json_file(dir / label));
        if (!m.is_object()) return make_error(ErrorCode::Config, label + ": must be a JSON object");
        if (!m.contains("additional_special_tokens")) return true;
        const nlohmann::json& list = m.at("additional_special_tokens");
        if (!list.is_array())
            return make_error(ErrorCode::Config,
                              label + ": field 'additional_special_tokens' must be an array");
        bool user = false, assistant = false;
        for (const nlohmann::json& t : list) {
            // Entries are strings or AddedToken objects {"content": ...}.
            const nlohmann::json* content = &t;
            if (t.is_object() && t.contains("content")) content = &t.at("content");
            if (!content->is_string()) continue;
            user = user || *content == "<|User|>";
            assistant = assistant || *content == "<|Assistant|>";
        }
        return !(user && assistant);
    }
    return false;
}

namespace {

// The pixel arithmetic of a present preprocessor_config.json, as VLMImageProcessor reads it: fields it
// lacks take the class defaults (CLIP mean/std, do_normalize true, 1/255, min_size 14), not Janus-Pro's 0.5.
Status parse_pixel_config(const nlohmann::json& p, const std::string& label, JanusPixelConfig& px, int image_size) {
    px = JanusPixelConfig{};
    const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (int i = 0; i < 3; ++i) {
        px.mean[i] = clip_mean[i];
        px.std[i] = clip_std[i];
    }
    auto triple = [&](const char* field, float* dst, bool positive) -> Status {
        if (!json_has(p, field)) return {};
        const nlohmann::json& v = p.at(field);
        if (!v.is_array() || v.size() != 3)
            return make_error(ErrorCode::Config, label + ": field '" + field + "' must be an array of 3 numbers");
        for (size_t i = 0; i < 3; ++i) {
            if (!v[i].is_number())
                return make_error(ErrorCode::Config, label + ": field '" + field + "' must be an array of 3 numbers");
            const double d = v[i].get<double>();
            if (!std::isfinite(d) || (positive ? d <= 0.0 : (d < 0.0 || d > 1.0)))
                return make_error(ErrorCode::Config, label + ": field '" + field + "' has an out-of-range value " +
                                                         std::to_string(d));
            dst[i] = float(d);
        }
        return {};
    };
    TESSERA_TRY(triple("image_mean", px.mean, false));
    TESSERA_TRY(triple("image_std", px.std, true));
    if (json_has(p, "do_normalize")) {
        TESSERA_ASSIGN(px.do_normalize, json_get_bool(p, "do_normalize", label));
    }
    if (json_has(p, "rescale_factor")) {
        TESSERA_ASSIGN(px.rescale_factor, json_get_number(p, "rescale_factor", label));
        if (!std::isfinite(px.rescale_factor) || px.rescale_factor <= 0.0)
            return make_error(ErrorCode::Config, label + ": field 'rescale_factor' must be positive");
    }
    if (json_has(p, "min_size")) {
        TESSERA_ASSIGN(int64_t m, json_get_int(p, "min_size", label));
        if (m < 1 || m > image_size)
            return make_error(ErrorCode::Config, label + ": field 'min_size' (" + std::to_string(m) +
                                                     ") must be between 1 and the image size " + std::to_string(image_size));
        px.min_size = int(m);
    }
    return {};
}

}  // namespace

Result<JanusConfig> load_janus_config(const std::filesystem::path& dir) {
    TESSERA_ASSIGN(nlohmann::json cfg, read_json_file(dir / kConfig));
    TESSERA_ASSIGN(JanusConfig c, parse_janus_config(cfg));
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / "processor_config.json", ec)) {
        const std::string label = "processor_config.json";
        TESSERA_ASSIGN(nlohmann::json p, read_json_file(dir / label));
        if (!p.is_object()) return make_error(ErrorCode::Config, label + ": must be a JSON object");
        if (json_has(p, "image_tag")) {
            TESSERA_ASSIGN(c.processor.image_tag, json_get_string(p, "image_tag", label));
        }
        if (json_has(p, "num_image_tokens")) {
            TESSERA_ASSIGN(int64_t n, json_get_int(p, "num_image_tokens", label));
            if (n != c.processor.num_image_tokens)
                return make_error(ErrorCode::Config, label + ": field 'num_image_tokens' (" + std::to_string(n) +
                                                         ") differs from the vision tower's " +
                                                         std::to_string(c.processor.num_image_tokens) + " patches");
        }
        if (json_has(p, "sft_format")) {
            TESSERA_ASSIGN(std::string f, json_get_string(p, "sft_format", label));
            if (f != "deepseek")
                return make_error(ErrorCode::Unsupported, label + ": sft_format '" + f + "' is not supported (deepseek)");
        }
    }
    if (std::filesystem::is_regular_file(dir / "preprocessor_config.json", ec)) {
        const std::string label = "preprocessor_config.json";
        TESSERA_ASSIGN(nlohmann::json p, read_json_file(dir / label));
        if (!p.is_object()) return make_error(ErrorCode::Config, label + ": must be a JSON object");
        if (json_has(p, "image_size")) {
            TESSERA_ASSIGN(int64_t s, json_get_int(p, "image_size", label));
            if (s != c.vision.image_size)
                return make_error(ErrorCode::Config, label + ": field 'image_size' (" + std::to_string(s) +
                                                         ") differs from the vision tower's " +
                                                         std::to_string(c.vision.image_size));
        }
        TESSERA_TRY(parse_pixel_config(p, label, c.processor.pixels, c.vision.image_size));
    }
    TESSERA_ASSIGN(c.plain_roles, janus_uses_plain_roles(dir));
    return c;
}

Result<std::unique_ptr<JanusModel>> JanusModel::load(const JanusConfig& config,
                                                     std::shared_ptr<const Checkpoint> checkpoint,
                                                     std::unique_ptr<CausalLm>& lm_out) {
    std::unique_ptr<JanusModel> m(new JanusModel());
    m->m_config = config;
    WeightLoader loader(*checkpoint);
    // Every official Janus script rounds the RoPE frequencies to bf16 (§7.3, §1.11).
    DecoderVariant variant;
    variant.biases.qkv = config.llm.attention_bias;
    variant.biases.o = config.llm.attention_bias;
    variant.bf16_rope_frequencies = true;
    TESSERA_ASSIGN(std::unique_ptr<LlamaModel> lm,
                   LlamaModel::load_from(config.llm, loader, "language_model.", checkpoint, variant));

    TESSERA_ASSIGN(m->m_vision, SiglipTower::load(config.vision, loader, "vision_model.vision_tower."));
    const int H = config.llm.hidden_size;
    TESSERA_TRY(load_projector(loader, "aligner.", config.aligner_input, H, m->m_aligner));
    TESSERA_ASSIGN(m->m_gen_embed, loader.get("gen_embed.weight", {config.image_vocab, config.code_dim}));
    TESSERA_TRY(load_projector(loader, "gen_aligner.", config.code_dim, H, m->m_gen_aligner));
    const int E = config.gen_head_embed, K = config.image_vocab;
    TESSERA_ASSIGN(m->m_head_proj_w, loader.get("gen_head.output_mlp_projector.weight", {E, H}));
    TESSERA_ASSIGN(m->m_head_proj_b, loader.get("gen_head.output_mlp_projector.bias", {E}));
    TESSERA_ASSIGN(m->m_head_w, loader.get("gen_head.vision_head.weight", {K, E}));
    TESSERA_ASSIGN(m->m_head_b, loader.get("gen_head.vision_head.bias", {K}));
    TESSERA_ASSIGN(m->m_vq, VqDecoder::load(loader, "gen_vision_model."));
    if (m->m_vq->config().codebook_size != K || m->m_vq->config().embed_dim != config.code_dim)
        return make_error(ErrorCode::Shape, "gen_vision_model.quantize.embedding.weight: codebook [" +
                                                std::to_string(m->m_vq->config().codebook_size) + ", " +
                                                std::to_string(m->m_vq->config().embed_dim) + "] differs from config.json "
                                                "gen_vision_config.params [" + std::to_string(K) + ", " +
                                                std::to_string(config.code_dim) + "]");
    if (m->m_vision->tokens() != config.processor.num_image_tokens)
        return make_error(ErrorCode::Config, "config.json: the vision tower yields " +
                                                 std::to_string(m->m_vision->tokens()) + " tokens per image, not " +
                                                 std::to_string(config.processor.num_image_tokens));
    // Rotary buffers some exports carry are recomputed, never read.
    for (int l = 0; l < config.llm.num_hidden_layers; ++l)
        loader.ignore("language_model.model.layers." + std::to_string(l) + ".self_attn.rotary_emb.inv_freq");
    TESSERA_TRY(loader.check_all_used());
    m->m_checkpoint = std::move(checkpoint);
    lm_out = std::move(lm);
    return m;
}

Status JanusModel::image_embeddings(const float* pixels, float* out, float* scratch, ThreadPool& pool) const {
    const int n = m_vision->tokens();
    float* features = scratch;                                   // [n, width]
    float* mid = scratch + int64_t(n) * m_vision->width();       // [n, H]
    TESSERA_TRY(m_vision->forward(pixels, features, pool));
    projector_forward(m_aligner, features, n, mid, out, pool);
    return {};
}

Status JanusModel::gen_input(const int32_t* codes, int n, float* out, float* scratch, ThreadPool& pool) const {
    const int D = m_config.code_dim;
    for (int i = 0; i < n; ++i)
        if (codes[i] < 0 || codes[i] >= m_config.image_vocab)
            return make_error(ErrorCode::InvalidArgument, "image token " + std::to_string(codes[i]) +
                                                              " is outside [0, " + std::to_string(m_config.image_vocab) + ")");
    float* e = scratch;                        // [n, D]
    float* mid = scratch + int64_t(n) * D;     // [n, H]
    cpu::embedding(m_gen_embed, codes, n, e);
    projector_forward(m_gen_aligner, e, n, mid, out, pool);
    return {};
}

void JanusModel::gen_logits(const float* hidden, int n, float* out, float* scratch, ThreadPool& pool) const {
    const int H = m_config.llm.hidden_size, E = m_config.gen_head_embed;
    cpu::matmul(hidden, n, H, m_head_proj_w, m_head_proj_b, scratch, pool);
    cpu::gelu_inplace(scratch, int64_t(n) * E, /*tanh_approx=*/false, pool);
    cpu::matmul(scratch, n, E, m_head_w, m_head_b, out, pool);
}

}  // namespace tessera
