// SigLIP tower (see siglip.h). Per block: x += proj(Attn(LN₁(x))); x += fc2(GELU(fc1(LN₂(x)))); then the
// final LayerNorm (models.md §5.1). The patch convolution has stride = kernel, so it is one matmul over the
// unfolded patches (channel, row, column order, matching the weight's [W, 3, P, P] layout).
#include "models/siglip.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/transformer_ops.h"

namespace tessera {

namespace {

Error config_error(const std::string& file, const std::string& what) {
    return make_error(ErrorCode::Config, file + ": vision_config: " + what);
}

// An integer parameter override; absent keys leave `value` alone.
Status read_int(const nlohmann::json& params, const char* key, int& value, const std::string& file) {
    if (!params.is_object() || !params.contains(key)) return {};
    const nlohmann::json& v = params[key];
    if (!v.is_number_integer())
        return config_error(file, std::string("params.") + key + " is not an integer");
    const int64_t n = v.get<int64_t>();
    if (n < -100000 || n > 100000) return config_error(file, std::string("params.") + key + " out of range");
    value = int(n);
    return {};
}

}  // namespace

Result<SiglipConfig> siglip_config(std::string_view model_name, const nlohmann::json& params,
                                   const std::string& file_for_errors) {
    const std::string& file = file_for_errors;
    SiglipConfig c;
    double mlp_ratio = 4.0;
    if (model_name == "siglip_large_patch16_384") {
        c = {384, 16, 1024, 24, 16, 0, false};
        mlp_ratio = 4.0;
    } else if (model_name == "siglip_so400m_patch14_384") {
        c = {384, 14, 1152, 27, 16, 0, true};
        mlp_ratio = 3.7362;
    } else {
        return make_error(ErrorCode::Unsupported, file + ": vision model_name \"" + std::string(model_name) +
                                                      "\" is not a known SigLIP tower");
    }
    if (!params.is_null() && !params.is_object()) return config_error(file, "params is not an object");
    TESSERA_TRY(read_int(params, "width", c.width, file));
    TESSERA_TRY(read_int(params, "layers", c.layers, file));
    TESSERA_TRY(read_int(params, "heads", c.heads, file));
    TESSERA_TRY(read_int(params, "patch_size", c.patch_size, file));
    TESSERA_TRY(read_int(params, "image_size", c.image_size, file));
    if (params.is_object() && params.contains("mlp_ratio")) {
        if (!params["mlp_ratio"].is_number()) return config_error(file, "params.mlp_ratio is not a number");
        mlp_ratio = params["mlp_ratio"].get<double>();
        if (!(mlp_ratio > 0.0 && mlp_ratio < 64.0))
            return config_error(file, "params.mlp_ratio out of range");
    }
    // timm's Mlp: hidden = int(embed_dim * mlp_ratio).
    c.mlp_width = int(double(c.width) * mlp_ratio);
    // create_siglip_vit: select_layer <= 0 keeps layers + select_layer + 1 blocks, > 0 keeps that many.
    int select_layer = -1;
    TESSERA_TRY(read_int(params, "select_layer", select_layer, file));
    c.layers = select_layer <= 0 ? std::min(c.layers, c.layers + select_layer + 1)
                                 : std::min(c.layers, select_layer);

    if (c.width < 1 || c.heads < 1 || c.width % c.heads != 0)
        return config_error(file, "width " + std::to_string(c.width) +
                                      " is not a positive multiple of heads " + std::to_string(c.heads));
    if (c.layers < 1) return config_error(file, "no transformer blocks left (layers/select_layer)");
    if (c.patch_size < 1 || c.image_size < c.patch_size)
        return config_error(file, "image_size " + std::to_string(c.image_size) + " and patch_size " +
                                      std::to_string(c.patch_size) + " give no patch");
    if (c.image_size > 4096)
        return config_error(file, "image_size " + std::to_string(c.image_size) + " too large");
    if (c.mlp_width < 1) return config_error(file, "MLP width is zero");
    return c;
}

Result<std::unique_ptr<SiglipTower>> SiglipTower::load(const SiglipConfig& config, WeightLoader& w,
                                                       const std::string& prefix) {
    if (config.width < 1 || config.heads < 1 || config.width % config.heads != 0 || config.patch_size < 1 ||
        config.image_size < config.patch_size || config.layers < 1 || config.mlp_width < 1)
        return make_error(ErrorCode::InvalidArgument, prefix + ": invalid SigLIP configuration");
    std::unique_ptr<SiglipTower> t(new SiglipTower());
    t->m_config = config;
    const int64_t W = config.width, P = config.patch_size, M = config.mlp_width;
    t->m_grid = config.image_size / config.patch_size;
    const int64_t T = int64_t(t->m_grid) * t->m_grid;

    TESSERA_ASSIGN(t->m_patch_w, w.get(prefix + "patch_embed.proj.weight", {W, 3, P, P}));
    TESSERA_ASSIGN(t->m_patch_b, w.get(prefix + "patch_embed.proj.bias", {W}));
    TESSERA_ASSIGN(Tensor pos, w.get(prefix + "pos_embed", {1, T, W}));
    t->m_pos.resize(size_t(T * W));
    cpu::detail::convert_to_f32(pos.data, pos.dtype, 0, T * W, t->m_pos.data());
    t->m_patch_w.shape = {W, 3 * P * P};  // the conv as a matmul over unfolded patches

    t->m_blocks.resize(size_t(config.layers));
    for (int i = 0; i < config.layers; ++i) {
        const std::string b = prefix + "blocks." + std::to_string(i) + ".";
        SiglipBlockWeights& bw = t->m_blocks[size_t(i)];
        TESSERA_ASSIGN(bw.norm1_w, w.get(b + "norm1.weight", {W}));
        TESSERA_ASSIGN(bw.norm1_b, w.get(b + "norm1.bias", {W}));
        TESSERA_ASSIGN(bw.qkv_w, w.get(b + "attn.qkv.weight", {3 * W, W}));
        TESSERA_ASSIGN(bw.qkv_b, w.get(b + "attn.qkv.bias", {3 * W}));
        TESSERA_ASSIGN(bw.proj_w, w.get(b + "attn.proj.weight", {W, W}));
        TESSERA_ASSIGN(bw.proj_b, w.get(b + "attn.proj.bias", {W}));
        TESSERA_ASSIGN(bw.norm2_w, w.get(b + "norm2.weight", {W}));
        TESSERA_ASSIGN(bw.norm2_b, w.get(b + "norm2.bias", {W}));
        TESSERA_ASSIGN(bw.fc1_w, w.get(b + "mlp.fc1.weight", {M, W}));
        TESSERA_ASSIGN(bw.fc1_b, w.get(b + "mlp.fc1.bias", {M}));
        TESSERA_ASSIGN(bw.fc2_w, w.get(b + "mlp.fc2.weight", {W, M}));
        TESSERA_ASSIGN(bw.fc2_b, w.get(b + "mlp.fc2.bias", {W}));
    }
    TESSERA_ASSIGN(t->m_norm_w, w.get(prefix + "norm.weight", {W}));
    TESSERA_ASSIGN(t->m_norm_b, w.get(prefix + "norm.bias", {W}));
    // Constructed by the reference but never run (ignore_head, §5): stored, deliberately unused.
    w.ignore_prefix(prefix + "attn_pool.");
    return t;
}

Status SiglipTower::forward(const float* pixels, float* features, ThreadPool& pool) const {
    if (pixels == nullptr || features == nullptr)
        return make_error(ErrorCode::InvalidArgument, "SigLIP forward: null pixel or feature buffer");
    const int64_t S = m_config.image_size, P = m_config.patch_size, G = m_grid, T = G * G;
    const int64_t W = m_config.width, M = m_config.mlp_width, H = m_config.heads, hd = W / H;
    const int64_t K = 3 * P * P;
    std::vector<float> patches, x, h, qkv, mlp;
    try {
        patches.resize(size_t(T * K));
        x.resize(size_t(T * W));
        h.resize(size_t(T * W));
        qkv.resize(size_t(T * 3 * W));
        mlp.resize(size_t(T * M));
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "SigLIP forward: activation buffers do not fit in memory");
    }

    // Unfold: patch (gy, gx) -> row gy·G + gx holding [c][py][px].
    pool.parallel_for(T, 16, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t gy = t / G, gx = t % G;
            float* row = patches.data() + t * K;
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t py = 0; py < P; ++py) {
                    const float* src = pixels + (c * S + gy * P + py) * S + gx * P;
                    std::copy(src, src + P, row + (c * P + py) * P);
                }
        }
    });
    cpu::matmul(patches.data(), T, K, m_patch_w, m_patch_b, x.data(), pool);
    cpu::add_inplace(x.data(), m_pos.data(), T * W);

    const float scale = 1.0f / std::sqrt(float(hd));
    for (const SiglipBlockWeights& b : m_blocks) {
        cpu::layer_norm(x.data(), b.norm1_w, b.norm1_b, T, W, m_config.eps, h.data(), pool);
        cpu::matmul(h.data(), T, W, b.qkv_w, b.qkv_b, qkv.data(), pool);
        cpu::attention_full(qkv.data(), qkv.data() + W, qkv.data() + 2 * W, 3 * W, T, H, hd, scale, h.data(),
                            W, pool);
        // proj into the qkv buffer (free once attention has read it), then the residual add.
        cpu::matmul(h.data(), T, W, b.proj_w, b.proj_b, qkv.data(), pool);
        cpu::add_inplace(x.data(), qkv.data(), T * W);

        cpu::layer_norm(x.data(), b.norm2_w, b.norm2_b, T, W, m_config.eps, h.data(), pool);
        cpu::matmul(h.data(), T, W, b.fc1_w, b.fc1_b, mlp.data(), pool);
        cpu::gelu_inplace(mlp.data(), T * M, m_config.gelu_tanh, pool);
        cpu::matmul(mlp.data(), T, M, b.fc2_w, b.fc2_b, h.data(), pool);
        cpu::add_inplace(x.data(), h.data(), T * W);
    }
    cpu::layer_norm(x.data(), m_norm_w, m_norm_b, T, W, m_config.eps, features, pool);
    return {};
}

}  // namespace tessera
