// The SigLIP ViT towers of the multimodal models (models.md §5.1, §5.2): SigLIP-L/16 at 384 in Janus-Pro
// ("siglip_large_patch16_384", exact GELU) and SigLIP-so400m/14 at 384 in DeepSeek-VL2
// ("siglip_so400m_patch14_384", tanh GELU). Patch embedding, learned positions, pre-norm blocks and the
// final LayerNorm; the attention-pool head stored with the weights is never run. CPU, f32 compute over
// f32/bf16/f16 weights read in place from the checkpoint (which must outlive the tower).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "layers/weights.h"
#include "tessera/error.h"

namespace tessera {

struct SiglipConfig {
    int image_size = 384;
    int patch_size = 16;
    int width = 1024;
    int layers = 24;
    int heads = 16;
    int mlp_width = 4096;
    bool gelu_tanh = false;
    float eps = 1e-6f;
};

// Known names: "siglip_large_patch16_384" (Janus), "siglip_so400m_patch14_384" (VL2). `params` (an object,
// or null) may override width/layers/heads/mlp_ratio/patch_size/image_size (tiny fixtures), and
// select_layer as the reference's create_siglip_vit reads it (-1: all layers). Errors name the file.
Result<SiglipConfig> siglip_config(std::string_view model_name, const nlohmann::json& params,
                                   const std::string& file_for_errors);

// Names relative to the tower prefix plus "blocks.N.".
struct SiglipBlockWeights {
    Tensor norm1_w, norm1_b;  // [W]       norm1.{weight,bias}
    Tensor qkv_w, qkv_b;      // [3W, W]   attn.qkv.weight, [3W] attn.qkv.bias  (rows: q | k | v, head-major)
    Tensor proj_w, proj_b;    // [W, W]    attn.proj.weight, [W] attn.proj.bias
    Tensor norm2_w, norm2_b;  // [W]       norm2.{weight,bias}
    Tensor fc1_w, fc1_b;      // [M, W]    mlp.fc1.weight, [M] mlp.fc1.bias
    Tensor fc2_w, fc2_b;      // [W, M]    mlp.fc2.weight, [W] mlp.fc2.bias
};

class SiglipTower {
public:
    // prefix e.g. "vision_model.vision_tower."; the tower's attn_pool.* tensors are marked ignored.
    static Result<std::unique_ptr<SiglipTower>> load(const SiglipConfig& config, WeightLoader& weights,
                                                     const std::string& prefix);

    int tokens() const { return m_grid * m_grid; }
    int width() const { return m_config.width; }
    const SiglipConfig& config() const { return m_config; }

    // pixels [3, S, S] (normalised, S = image_size) -> features [tokens, width] after the final LayerNorm.
    Status forward(const float* pixels, float* features, ThreadPool& pool) const;

    // The weights as loaded, for the GPU tower (siglip_cuda.cpp).
    int grid() const { return m_grid; }
    const Tensor& patch_weight() const { return m_patch_w; }  // [W, 3·P·P]
    const Tensor& patch_bias() const { return m_patch_b; }
    const std::vector<float>& pos_embed() const { return m_pos; }
    const std::vector<SiglipBlockWeights>& blocks() const { return m_blocks; }
    const Tensor& norm_weight() const { return m_norm_w; }
    const Tensor& norm_bias() const { return m_norm_b; }

private:
    SiglipTower() = default;
    SiglipConfig m_config;
    int m_grid = 0;            // G = image_size / patch_size (a remainder is never seen)
    Tensor m_patch_w;          // [W, 3, P, P]  patch_embed.proj.weight, used as [W, 3·P·P]
    Tensor m_patch_b;          // [W]           patch_embed.proj.bias
    std::vector<float> m_pos;  // [G², W]       pos_embed [1, G², W], as f32
    std::vector<SiglipBlockWeights> m_blocks;
    Tensor m_norm_w, m_norm_b;  // [W]           norm.{weight,bias}
};

}  // namespace tessera
