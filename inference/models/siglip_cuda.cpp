// Janus-Pro's SigLIP tower and understanding aligner on the GPU (see siglip_gpu.h). The walk is the CPU
// tower's (siglip.cpp): unfold → patch matmul + bias + positions → per block x += proj(Attn(LN₁(x))),
// x += fc2(GELU(fc1(LN₂(x)))) → final LayerNorm → Linear → exact GELU → Linear. The residual stream x is
// f32; whatever feeds a cuBLAS bf16 product (patches, LayerNorm outputs, q/k/v, attention probabilities
// and output, GELU outputs) is rounded to bf16, with f32 accumulation. The CPU tower keeps all of it f32.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/device.h"
#include "backend/cuda/vision_ops.h"
#include "core/dtype.h"
#include "models/siglip_gpu.h"

namespace tessera {

using cuda::bf16_t;
using cuda::check;
using cuda::DeviceBuffer;

namespace {

size_t align256(size_t v) {
    return (v + 255) / 256 * 256;
}

constexpr uint64_t kContextBytes = 32ull << 20;  // the cuBLAS workspace CudaContext allocates

struct GpuBlock {
    const bf16_t *norm1_w = nullptr, *norm1_b = nullptr, *qkv_w = nullptr, *qkv_b = nullptr;
    const bf16_t *proj_w = nullptr, *proj_b = nullptr, *norm2_w = nullptr, *norm2_b = nullptr;
    const bf16_t *fc1_w = nullptr, *fc1_b = nullptr, *fc2_w = nullptr, *fc2_b = nullptr;
};

// The shapes every size and launch is derived from.
struct Dims {
    int S = 0, P = 0, G = 0, T = 0, K = 0, W = 0, M = 0, H = 0, hd = 0, D = 0;
};

Dims dims_of(const JanusModel& model) {
    const SiglipTower& v = model.vision();
    const SiglipConfig& c = v.config();
    Dims d;
    d.S = c.image_size;
    d.P = c.patch_size;
    d.G = v.grid();
    d.T = v.tokens();
    d.K = 3 * c.patch_size * c.patch_size;
    d.W = c.width;
    d.M = c.mlp_width;
    d.H = c.heads;
    d.hd = c.width / c.heads;
    d.D = model.aligner().out;
    return d;
}

// Every bf16 weight, in upload order (the order load() hands the pointers out in).
std::vector<const Tensor*> weight_tensors(const JanusModel& model) {
    const SiglipTower& v = model.vision();
    std::vector<const Tensor*> ts{&v.patch_weight(), &v.patch_bias()};
    for (const SiglipBlockWeights& b : v.blocks())
        for (const Tensor* t : {&b.norm1_w, &b.norm1_b, &b.qkv_w, &b.qkv_b, &b.proj_w, &b.proj_b, &b.norm2_w,
                                &b.norm2_b, &b.fc1_w, &b.fc1_b, &b.fc2_w, &b.fc2_b})
            ts.push_back(t);
    const MlpProjectorWeights& a = model.aligner();
    for (const Tensor* t : {&v.norm_weight(), &v.norm_bias(), &a.w0, &a.b0, &a.w2, &a.b2}) ts.push_back(t);
    return ts;
}

uint64_t weight_bytes(const JanusModel& model) {
    uint64_t n = 0;
    for (const Tensor* t : weight_tensors(model)) n += align256(size_t(t->numel()) * 2);
    return n + align256(model.vision().pos_embed().size() * 4);  // positions stay f32
}

// Scratch element counts, in the order load() carves them.
struct Work {
    size_t pixels, patches, x, h, acc, qkv, mlp, scores, feat, out;
};

Work work_of(const Dims& d) {
    const size_t T = size_t(d.T);
    Work w{};
    w.pixels = size_t(3) * d.S * d.S;
    w.patches = T * d.K;
    w.x = T * d.W;
    w.h = T * d.W;
    w.acc = T * size_t(std::max({3 * d.W, d.M, d.D}));
    w.qkv = T * 3 * d.W;
    w.mlp = T * size_t(std::max(d.M, d.D));
    w.scores = size_t(d.H) * T * T;
    w.feat = T * d.W;
    w.out = T * d.D;
    return w;
}

uint64_t work_bytes(const Work& w) {
    return align256(w.pixels * 4) + align256(w.patches * 2) + align256(w.x * 4) + align256(w.h * 2) +
           align256(w.acc * 4) + align256(w.qkv * 2) + align256(w.mlp * 2) + align256(w.scores * 4) +
           align256(w.scores * 2) + align256(w.feat * 4) + align256(w.out * 4);
}

}  // namespace

struct JanusVisionGpu {
    std::unique_ptr<cuda::CudaContext> ctx;
    Dims d;
    float eps = 1e-6f;
    cuda::VisionAct act = cuda::VisionAct::GeluErf;

    DeviceBuffer weights;
    const bf16_t *patch_w = nullptr, *patch_b = nullptr, *norm_w = nullptr, *norm_b = nullptr;
    const bf16_t *al_w0 = nullptr, *al_b0 = nullptr, *al_w2 = nullptr, *al_b2 = nullptr;
    const float* pos = nullptr;
    std::vector<GpuBlock> blocks;

    DeviceBuffer work;
    float* pixels = nullptr;    // [3, S, S]
    bf16_t* patches = nullptr;  // [T, K]
    float* x = nullptr;         // [T, W] residual stream
    bf16_t* h = nullptr;        // [T, W] LayerNorm output / attention output / final features (bf16)
    float* acc = nullptr;       // [T, max(3W, M, D)] GEMM results
    bf16_t* qkv = nullptr;      // [T, 3W]
    bf16_t* mlp = nullptr;      // [T, max(M, D)]
    float* S = nullptr;         // [H, T, T]
    bf16_t* P = nullptr;        // [H, T, T]
    float* feat = nullptr;      // [T, W] final features (f32)
    float* out = nullptr;       // [T, D]

    Status tower(const float* host_pixels);
    Status aligner();
};

Status JanusVisionGpu::tower(const float* host_pixels) {
    if (host_pixels == nullptr)
        return make_error(ErrorCode::InvalidArgument, "GPU vision: null pixel buffer");
    TESSERA_TRY(check(cudaSetDevice(ctx->device()), "cudaSetDevice"));
    cudaStream_t s = ctx->stream();
    const int T = d.T, W = d.W, M = d.M;
    TESSERA_TRY(
        check(cudaMemcpyAsync(pixels, host_pixels, size_t(3) * d.S * d.S * 4, cudaMemcpyHostToDevice, s),
              "upload pixels"));
    TESSERA_TRY(cuda::vision_patch_im2col(pixels, d.S, d.P, patches, s));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, patch_w, patches, acc, true, T, W, d.K));
    TESSERA_TRY(check(cudaMemcpyAsync(x, pos, size_t(T) * W * 4, cudaMemcpyDeviceToDevice, s), "positions"));
    TESSERA_TRY(cuda::vision_bias_residual(acc, patch_b, T, W, x, s));

    const float scale = 1.f / std::sqrt(float(d.hd));
    for (const GpuBlock& b : blocks) {
        TESSERA_TRY(cuda::vision_layer_norm(x, nullptr, b.norm1_w, b.norm1_b, T, W, eps, h, nullptr, s));
        TESSERA_TRY(cuda::gemm_bf16(*ctx, b.qkv_w, h, acc, true, T, 3 * W, W));
        TESSERA_TRY(cuda::vision_bias_act(acc, b.qkv_b, T, 3 * W, cuda::VisionAct::None, qkv, nullptr, s));
        TESSERA_TRY(cuda::vision_attention(*ctx, qkv, T, d.H, d.hd, scale, S, P, h));
        TESSERA_TRY(cuda::gemm_bf16(*ctx, b.proj_w, h, acc, true, T, W, W));
        TESSERA_TRY(cuda::vision_bias_residual(acc, b.proj_b, T, W, x, s));

        TESSERA_TRY(cuda::vision_layer_norm(x, nullptr, b.norm2_w, b.norm2_b, T, W, eps, h, nullptr, s));
        TESSERA_TRY(cuda::gemm_bf16(*ctx, b.fc1_w, h, acc, true, T, M, W));
        TESSERA_TRY(cuda::vision_bias_act(acc, b.fc1_b, T, M, act, mlp, nullptr, s));
        TESSERA_TRY(cuda::gemm_bf16(*ctx, b.fc2_w, mlp, acc, true, T, W, M));
        TESSERA_TRY(cuda::vision_bias_residual(acc, b.fc2_b, T, W, x, s));
    }
    // bf16 for the aligner's product, f32 for janus_vision_gpu_features.
    return cuda::vision_layer_norm(x, nullptr, norm_w, norm_b, T, W, eps, h, feat, s);
}

Status JanusVisionGpu::aligner() {
    cudaStream_t s = ctx->stream();
    const int T = d.T, D = d.D;
    TESSERA_TRY(cuda::gemm_bf16(*ctx, al_w0, h, acc, true, T, D, d.W));
    TESSERA_TRY(
        cuda::vision_bias_act(acc, al_b0, T, D, cuda::VisionAct::GeluErf, mlp, nullptr, s));  // §11.12
    TESSERA_TRY(cuda::gemm_bf16(*ctx, al_w2, mlp, acc, true, T, D, D));
    return cuda::vision_bias_act(acc, al_b2, T, D, cuda::VisionAct::None, nullptr, out, s);
}

uint64_t janus_vision_gpu_bytes(const JanusModel& model) {
    return weight_bytes(model) + work_bytes(work_of(dims_of(model))) + kContextBytes;
}

Result<std::shared_ptr<JanusVisionGpu>> janus_vision_gpu_load(const JanusModel& model, int device) {
    const Dims d = dims_of(model);
    const MlpProjectorWeights& a = model.aligner();
    if (a.in != d.W || d.D < 1)
        return make_error(ErrorCode::InvalidArgument, "GPU vision: the aligner's input width " +
                                                          std::to_string(a.in) +
                                                          " differs from the tower's " + std::to_string(d.W));
    if (int64_t(model.vision().pos_embed().size()) != int64_t(d.T) * d.W)
        return make_error(ErrorCode::InvalidArgument, "GPU vision: position table does not match the grid");
    TESSERA_ASSIGN(cuda::DeviceInfo info, cuda::device_info(device));
    const uint64_t need = janus_vision_gpu_bytes(model);
    if (need > info.free_bytes)
        return make_error(ErrorCode::OutOfMemory, "the vision tower needs about " +
                                                      std::to_string(need >> 20) + " MiB of GPU memory but " +
                                                      info.name + " has " +
                                                      std::to_string(info.free_bytes >> 20) + " MiB free");
    auto g = std::make_shared<JanusVisionGpu>();
    TESSERA_ASSIGN(g->ctx, cuda::CudaContext::create(device));
    g->d = d;
    g->eps = model.vision().config().eps;
    g->act = model.vision().config().gelu_tanh ? cuda::VisionAct::GeluTanh : cuda::VisionAct::GeluErf;

    // Weights: one allocation, each tensor converted to bf16 on the host and copied.
    const std::vector<const Tensor*> ts = weight_tensors(model);
    TESSERA_ASSIGN(g->weights, DeviceBuffer::allocate(weight_bytes(model), "vision tower weights"));
    std::byte* base = static_cast<std::byte*>(g->weights.data());
    size_t off = 0;
    std::vector<const bf16_t*> dev;
    std::vector<uint16_t> host;
    for (const Tensor* t : ts) {
        if (t->empty()) return make_error(ErrorCode::InvalidArgument, "GPU vision: a weight is missing");
        host.resize(size_t(t->numel()));
        for (int64_t i = 0; i < t->numel(); ++i) {
            switch (t->dtype) {
                case DType::BF16:
                    host[size_t(i)] = t->as<const uint16_t>()[i];
                    break;
                case DType::F16:
                    host[size_t(i)] = f32_to_bf16(f16_to_f32(t->as<const uint16_t>()[i]));
                    break;
                case DType::F32:
                    host[size_t(i)] = f32_to_bf16(t->as<const float>()[i]);
                    break;
                default:
                    return make_error(ErrorCode::DType, "GPU vision: a weight is not a float tensor");
            }
        }
        bf16_t* p = reinterpret_cast<bf16_t*>(base + off);
        TESSERA_TRY(check(cudaMemcpy(p, host.data(), host.size() * 2, cudaMemcpyHostToDevice),
                          "upload vision weights"));
        dev.push_back(p);
        off += align256(host.size() * 2);
    }
    const std::vector<float>& pos = model.vision().pos_embed();
    float* dpos = reinterpret_cast<float*>(base + off);
    TESSERA_TRY(
        check(cudaMemcpy(dpos, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice), "upload positions"));
    g->pos = dpos;

    // Same order as weight_tensors().
    size_t i = 0;
    auto next = [&] { return dev[i++]; };
    g->patch_w = next();
    g->patch_b = next();
    g->blocks.resize(model.vision().blocks().size());
    for (GpuBlock& b : g->blocks)
        for (const bf16_t** p : {&b.norm1_w, &b.norm1_b, &b.qkv_w, &b.qkv_b, &b.proj_w, &b.proj_b, &b.norm2_w,
                                 &b.norm2_b, &b.fc1_w, &b.fc1_b, &b.fc2_w, &b.fc2_b})
            *p = next();
    g->norm_w = next();
    g->norm_b = next();
    g->al_w0 = next();
    g->al_b0 = next();
    g->al_w2 = next();
    g->al_b2 = next();

    const Work w = work_of(d);
    TESSERA_ASSIGN(g->work, DeviceBuffer::allocate(work_bytes(w), "vision tower buffers"));
    std::byte* wb = static_cast<std::byte*>(g->work.data());
    size_t o = 0;
    auto take = [&](size_t bytes) {
        std::byte* p = wb + o;
        o += align256(bytes);
        return p;
    };
    g->pixels = reinterpret_cast<float*>(take(w.pixels * 4));
    g->patches = reinterpret_cast<bf16_t*>(take(w.patches * 2));
    g->x = reinterpret_cast<float*>(take(w.x * 4));
    g->h = reinterpret_cast<bf16_t*>(take(w.h * 2));
    g->acc = reinterpret_cast<float*>(take(w.acc * 4));
    g->qkv = reinterpret_cast<bf16_t*>(take(w.qkv * 2));
    g->mlp = reinterpret_cast<bf16_t*>(take(w.mlp * 2));
    g->S = reinterpret_cast<float*>(take(w.scores * 4));
    g->P = reinterpret_cast<bf16_t*>(take(w.scores * 2));
    g->feat = reinterpret_cast<float*>(take(w.feat * 4));
    g->out = reinterpret_cast<float*>(take(w.out * 4));
    return g;
}

Status janus_vision_gpu_features(JanusVisionGpu& g, const float* pixels, float* out) {
    if (out == nullptr) return make_error(ErrorCode::InvalidArgument, "GPU vision: null feature buffer");
    TESSERA_TRY(g.tower(pixels));
    TESSERA_TRY(check(
        cudaMemcpyAsync(out, g.feat, size_t(g.d.T) * g.d.W * 4, cudaMemcpyDeviceToHost, g.ctx->stream()),
        "download features"));
    return g.ctx->synchronize();
}

Status janus_vision_gpu_embeddings(JanusVisionGpu& g, const float* pixels, float* out) {
    if (out == nullptr) return make_error(ErrorCode::InvalidArgument, "GPU vision: null embedding buffer");
    TESSERA_TRY(g.tower(pixels));
    TESSERA_TRY(g.aligner());
    TESSERA_TRY(
        check(cudaMemcpyAsync(out, g.out, size_t(g.d.T) * g.d.D * 4, cudaMemcpyDeviceToHost, g.ctx->stream()),
              "download image embeddings"));
    return g.ctx->synchronize();
}

}  // namespace tessera
