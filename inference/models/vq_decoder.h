// The VQ-16 image decoder of Janus-Pro (LlamaGen tokenizer, `gen_vision_model`, models.md §7.6): image
// tokens -> L2-normalised codebook vectors -> post_quant_conv -> conv decoder -> RGB in about [-1, 1].
// The structure (channel widths, levels, res blocks per level, where attention sits) is read from the
// stored tensor shapes, so the real VQ-16 and the tiny test fixtures load through the same code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "layers/weights.h"
#include "tessera/error.h"
#include "tessera/image.h"

namespace tessera {

struct VqDecoderConfig {
    int codebook_size = 0;     // quantize.embedding.weight rows (16384)
    int embed_dim = 0;         // its columns (8)
    int z_channels = 0;        // post_quant_conv outputs (256)
    int ch = 0;                // channels of the last (full-resolution) stage (128)
    int num_res_blocks = 0;    // the model argument (2); every decoder stage holds num_res_blocks + 1
    std::vector<int> ch_mult;  // per level, finest first (1, 1, 2, 2, 4); levels = stages
};

class VqDecoder {
public:
    // prefix: "gen_vision_model.". Takes quantize.embedding, post_quant_conv and decoder.*; marks
    // encoder.*, quant_conv.* and quantize.codebook_used as ignored. Errors name the missing or
    // mis-shaped tensor.
    static Result<std::unique_ptr<VqDecoder>> load(WeightLoader& loader, const std::string& prefix);

    const VqDecoderConfig& config() const { return m_config; }
    int upsample_factor() const { return 1 << (int(m_stages.size()) - 1); }  // 16 for VQ-16

    // codes [count, grid_h·grid_w] in raster order -> out [count, 3, grid_h·f, grid_w·f], f =
    // upsample_factor(), in model range (about [-1, 1]). Codes outside [0, codebook_size) and grids
    // that are empty or too large are errors (InvalidArgument) before anything is computed.
    Status decode(const int32_t* codes, int count, int grid_h, int grid_w, float* out,
                  ThreadPool& pool) const;

    // Working memory decode() allocates for one grid (activations, conv tiles for as many threads as
    // ThreadPool::global() has, attention); independent of count (images are decoded one after another).
    uint64_t scratch_bytes(int grid_h, int grid_w) const;

    // Internal pieces, public so the .cpp's helpers can name them.
    struct Conv {
        Tensor weight, bias;  // [cout, cin, k, k], [cout]
        int pad = 0;
    };
    struct Norm {
        Tensor weight, bias;  // [C]
    };
    struct ResBlock {
        int cin = 0, cout = 0;
        Norm norm1, norm2;
        Conv conv1, conv2, nin_shortcut;  // nin_shortcut only when cin != cout
    };
    struct AttnBlock {
        int channels = 0;
        Norm norm;
        Conv q, k, v, proj_out;
    };
    struct Stage {  // decoder.conv_blocks.N (N = 0 is the coarsest level)
        std::vector<ResBlock> res;
        std::vector<AttnBlock> attn;  // empty, or one after each res block
        bool upsample = false;
        Conv upsample_conv;
    };

    // The loaded pieces, read by the GPU decoder (models/vq_decoder_cuda.cpp) to upload them.
    const Tensor& codebook() const { return m_codebook; }
    const Conv& post_quant_conv() const { return m_post_quant_conv; }
    const Conv& conv_in() const { return m_conv_in; }
    const ResBlock& mid0() const { return m_mid0; }
    const AttnBlock& mid1() const { return m_mid1; }
    const ResBlock& mid2() const { return m_mid2; }
    const std::vector<Stage>& stages() const { return m_stages; }
    const Norm& norm_out() const { return m_norm_out; }
    const Conv& conv_out() const { return m_conv_out; }

private:
    struct Plan;  // buffer sizes for one grid
    Plan plan(int grid_h, int grid_w, int threads) const;

    VqDecoderConfig m_config;
    Tensor m_codebook;  // [codebook_size, embed_dim]
    Conv m_post_quant_conv, m_conv_in, m_conv_out;
    ResBlock m_mid0, m_mid2;
    AttnBlock m_mid1;
    std::vector<Stage> m_stages;
    Norm m_norm_out;
};

// §7.5 step 6: pixel = clip((x + 1) / 2 · 255, 0, 255) truncated to uint8, from chw [3, height, width].
Image vq_to_image(const float* chw, int height, int width);

}  // namespace tessera
