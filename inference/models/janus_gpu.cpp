// Janus-Pro generation on the GPU for the runtime (see janus_gpu.h).
#include "models/janus_gpu.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#ifdef TESSERA_HAVE_CUDA
#include "backend/cuda/device.h"
#include "models/janus_cuda.h"
#include "models/vq_decoder_cuda.h"
#endif

namespace tessera {

#ifdef TESSERA_HAVE_CUDA

struct JanusGpu {
    std::unique_ptr<CudaJanusGen> gen;
    std::unique_ptr<CudaVqDecoder> vq;
    int max_images = 0;
    int grid = 24;   // largest token grid the decoder buffers hold
    int factor = 16; // pixels per token along each side
};

namespace {

constexpr int kMaxPrompt = 448;  // prompt tokens the KV cache leaves room for beside 576 image tokens

CudaJanusOptions options_for(int device, int max_images, int max_prompt, int image_tokens) {
    CudaJanusOptions o;
    o.device = device;
    o.max_images = max_images;
    o.max_seq = max_prompt + image_tokens;
    return o;
}

}  // namespace

int janus_gpu_max_images(const JanusConfig& cfg, const VqDecoder& vq, int device, uint64_t reserve) {
    auto info = cuda::device_info(device);
    if (!info.ok()) return 0;
    const int grid = int(std::lround(std::sqrt(double(cfg.gen_image_tokens))));
    const uint64_t vq_bytes = CudaVqDecoder::memory_bytes(vq, grid, grid);
    for (int p : {16, 8, 4, 2, 1}) {
        const CudaMemoryEstimate e = CudaJanusGen::estimate(
            cfg.llm, JanusGenShapes{cfg.image_vocab, cfg.code_dim}, options_for(device, p, kMaxPrompt, cfg.gen_image_tokens));
        if (e.total() + vq_bytes + reserve + (256ull << 20) < info->free_bytes) return p;
    }
    return 0;
}

Result<std::shared_ptr<JanusGpu>> janus_gpu_load(const JanusConfig& cfg, const Checkpoint& ck, const VqDecoder& vq,
                                                 int device, int max_images, int max_prompt) {
    auto g = std::make_shared<JanusGpu>();
    g->grid = int(std::lround(std::sqrt(double(cfg.gen_image_tokens))));
    g->max_images = max_images;
    g->factor = vq.upsample_factor();
    TESSERA_ASSIGN(g->gen, CudaJanusGen::load(cfg.llm, JanusGenShapes{cfg.image_vocab, cfg.code_dim}, ck,
                                              options_for(device, max_images, max_prompt, cfg.gen_image_tokens)));
    TESSERA_ASSIGN(g->vq, CudaVqDecoder::create(vq, device, g->grid, g->grid));
    return g;
}

int janus_gpu_capacity(const JanusGpu& gpu) { return gpu.max_images; }

Result<std::unique_ptr<CausalLm>> janus_gpu_chat_lm(JanusGpu& gpu, const CudaLmOptions& options) {
    return cuda_lm_sharing(gpu.gen->llm(), options);
}

Status janus_gpu_generate(JanusGpu& g, const JanusGenRequest& run, std::vector<std::vector<int32_t>>& codes,
                          std::vector<std::vector<float>>& pixels, double& token_seconds, double& pixel_seconds,
                          const std::function<bool(int, int, int)>& progress) {
    if (run.count > g.max_images)
        return make_error(ErrorCode::InvalidArgument, "this GPU holds at most " + std::to_string(g.max_images) +
                                                          " images per batch; generate fewer");
    const int grid = int(std::lround(std::sqrt(double(run.image_tokens))));
    if (grid > g.grid)
        return make_error(ErrorCode::InvalidArgument, "at most " + std::to_string(g.grid * g.grid) + " image tokens on the GPU");
    std::vector<int32_t> flat;
    TESSERA_TRY(g.gen->generate(run, flat, [&](int done) { return !progress || progress(0, done, run.image_tokens); }));
    token_seconds = g.gen->last_timing().prompt_seconds + g.gen->last_timing().token_seconds;
    codes.assign(size_t(run.count), {});
    for (int p = 0; p < run.count; ++p)
        codes[size_t(p)].assign(flat.begin() + long(p) * run.image_tokens, flat.begin() + long(p + 1) * run.image_tokens);
    const auto t0 = std::chrono::steady_clock::now();
    pixels.assign(size_t(run.count), {});
    const int side = grid * g.factor;
    for (int p = 0; p < run.count; ++p) {
        pixels[size_t(p)].resize(size_t(3) * side * side);
        TESSERA_TRY(g.vq->decode(codes[size_t(p)].data(), 1, grid, grid, pixels[size_t(p)].data()));
        if (progress && !progress(1, p + 1, run.count)) return make_error(ErrorCode::Cancelled, "image generation cancelled");
    }
    pixel_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

#else

struct JanusGpu {};

int janus_gpu_max_images(const JanusConfig&, const VqDecoder&, int, uint64_t) {
    return 0;
}

Result<std::shared_ptr<JanusGpu>> janus_gpu_load(const JanusConfig&, const Checkpoint&, const VqDecoder&, int, int, int) {
    return make_error(ErrorCode::Unsupported, "this build has no CUDA backend");
}

int janus_gpu_capacity(const JanusGpu&) { return 0; }

Result<std::unique_ptr<CausalLm>> janus_gpu_chat_lm(JanusGpu&, const CudaLmOptions&) {
    return make_error(ErrorCode::Unsupported, "this build has no CUDA backend");
}

Status janus_gpu_generate(JanusGpu&, const JanusGenRequest&, std::vector<std::vector<int32_t>>&, std::vector<std::vector<float>>&,
                          double&, double&, const std::function<bool(int, int, int)>&) {
    return make_error(ErrorCode::Unsupported, "this build has no CUDA backend");
}

#endif

}  // namespace tessera
