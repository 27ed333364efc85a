// Elementwise operations: SwiGLU's silu·mul, embedding lookups, bias + GELU after a product, dtype
// conversions, and a read pass that evicts L2 for timing.
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void silu_mul_kernel(const float* gu, int I, int64_t total, uint16_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    for_each_index(total, [&](int64_t i) {
        const int64_t r = i / I, c = i % I;
        const float g = __ldcg(gu + r * 2 * I + 2 * c), u = __ldcg(gu + r * 2 * I + 2 * c + 1);
        out[i] = f32_to_bf16_bits(g / (1.f + __expf(-g)) * u);
    });
}

// Two outputs per thread from one 16-byte load of (g, u, g', u') when I is even (every real model).
__global__ void silu_mul2_kernel(const float* gu, int I2, int64_t total2, uint32_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    for_each_index(total2, [&](int64_t i) {
        const int64_t r = i / I2, c = i % I2;
        const float4 v = __ldcg(reinterpret_cast<const float4*>(gu + r * 4 * I2) + c);
        out[i] = uint32_t(f32_to_bf16_bits(v.x / (1.f + __expf(-v.x)) * v.y)) |
                 uint32_t(f32_to_bf16_bits(v.z / (1.f + __expf(-v.z)) * v.w)) << 16;
    });
}

__global__ void embedding_kernel(const uint16_t* __restrict__ table, const int32_t* ids, int D, int vocab,
                                 float* __restrict__ h) {
    pdl_trigger();
    pdl_wait();
    int id = ids[blockIdx.x];
    // Out-of-range ids are rejected on the host before upload; clamp so a bad id can never read outside.
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    const uint16_t* src = table + size_t(id) * D;
    float* dst = h + size_t(blockIdx.x) * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) dst[i] = bf16_bits_to_f32(src[i]);
}

__global__ void embedding_bf16_kernel(const uint16_t* __restrict__ table, const int32_t* ids, int D,
                                      int vocab, uint16_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    int id = ids[blockIdx.x];
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    for (int i = threadIdx.x; i < D; i += blockDim.x)
        out[size_t(blockIdx.x) * D + i] = table[size_t(id) * D + i];
}

// A bf16 nn.Linear's output is rounded to bf16 before the next op; GELU is the exact erf form.
__global__ void bias_act_kernel(const float* y, const uint16_t* __restrict__ bias, int N, int64_t total,
                                bool gelu, float* out_f32, uint16_t* out_bf16) {
    pdl_trigger();
    pdl_wait();
    for_each_index(total, [&](int64_t i) {
        float v = __ldcg(y + i) + (bias ? bf16_bits_to_f32(bias[i % N]) : 0.f);
        v = bf16_bits_to_f32(f32_to_bf16_bits(v));
        if (gelu) v = bf16_bits_to_f32(f32_to_bf16_bits(0.5f * v * (1.f + erff(v * 0.70710678118654752f))));
        if (out_f32) out_f32[i] = v;
        if (out_bf16) out_bf16[i] = f32_to_bf16_bits(v);
    });
}

__global__ void f32_to_bf16_kernel(const float* x, int64_t n, uint16_t* __restrict__ y) {
    for_each_index(n, [&](int64_t i) { y[i] = f32_to_bf16_bits(__ldcg(x + i)); });
}

__global__ void bf16_to_f32_kernel(const uint16_t* x, int64_t n, float* __restrict__ y) {
    for_each_index(n, [&](int64_t i) { y[i] = bf16_bits_to_f32(__ldcg(x + i)); });
}

// Reads every 16 bytes through L2 and writes nothing (the sink only if the XOR of the data hits a value the
// caller never stores): a clean eviction, where a memset would leave dirty lines to be written back during
// the next kernel it is meant to time.
__global__ void l2_evict_kernel(const uint4* buf, int64_t n, uint32_t* sink) {
    uint32_t acc = 0;
    for_each_index(n, [&](int64_t i) {
        const uint4 v = __ldcg(buf + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    });
    if (acc == 0x9e3779b9u) *sink = acc;
}

int blocks_for(int64_t n) {
    return grid_blocks(n, kThreads, 65535);
}

}  // namespace

Status silu_mul(const float* gu, int rows, int I, bf16_t* out, cudaStream_t stream) {
    const int64_t total = int64_t(rows) * I;
    if (total < 1) return make_error(ErrorCode::InvalidArgument, "silu_mul: empty input");
    if (I % 2 == 0 && reinterpret_cast<uintptr_t>(gu) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(out) % 4 == 0) {
        launch_kernel(silu_mul2_kernel, dim3(blocks_for(total / 2)), dim3(kThreads), 0, stream, gu, I / 2,
                      total / 2, reinterpret_cast<uint32_t*>(out));
        return TESSERA_LAUNCH_CHECK("silu_mul");
    }
    launch_kernel(silu_mul_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, gu, I, total, out);
    return TESSERA_LAUNCH_CHECK("silu_mul");
}

Status embedding_bf16(const bf16_t* table, const int32_t* ids, int rows, int D, int vocab, bf16_t* out,
                      cudaStream_t stream) {
    if (rows < 1 || D < 1 || vocab < 1)
        return make_error(ErrorCode::InvalidArgument, "embedding_bf16: empty input");
    launch_kernel(embedding_bf16_kernel, dim3(rows), dim3(D < kThreads ? ((D + 31) / 32) * 32 : kThreads), 0,
                  stream, table, ids, D, vocab, out);
    return TESSERA_LAUNCH_CHECK("embedding_bf16");
}

Status bias_act(const float* y, const bf16_t* bias, int rows, int N, bool gelu, float* out_f32,
                bf16_t* out_bf16, cudaStream_t stream) {
    const int64_t total = int64_t(rows) * N;
    if (total < 1 || (!out_f32 && !out_bf16))
        return make_error(ErrorCode::InvalidArgument, "bias_act: bad arguments");
    launch_kernel(bias_act_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, y, bias, N, total,
                  gelu, out_f32, out_bf16);
    return TESSERA_LAUNCH_CHECK("bias_act");
}

Status embedding(const bf16_t* table, const int32_t* ids, int rows, int D, int vocab, float* h,
                 cudaStream_t stream) {
    if (rows < 1 || D < 1 || vocab < 1)
        return make_error(ErrorCode::InvalidArgument, "embedding: empty input");
    launch_kernel(embedding_kernel, dim3(rows), dim3(kThreads), 0, stream, table, ids, D, vocab, h);
    return TESSERA_LAUNCH_CHECK("embedding");
}

Status f32_to_bf16(const float* x, int64_t n, bf16_t* y, cudaStream_t stream) {
    if (n < 1) return {};
    f32_to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, y);
    return TESSERA_LAUNCH_CHECK("f32_to_bf16");
}

Status bf16_to_f32(const bf16_t* x, int64_t n, float* y, cudaStream_t stream) {
    if (n < 1) return {};
    bf16_to_f32_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, y);
    return TESSERA_LAUNCH_CHECK("bf16_to_f32");
}

}  // namespace tessera::cuda

namespace tessera::cuda {
namespace {

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ void fill_random_kernel(uint16_t* p, int64_t n, uint64_t seed, float scale, float offset) {
    for_each_index(n, [&](int64_t i) {
        const uint64_t r = mix64(seed * 0x9e3779b97f4a7c15ull + uint64_t(i));
        const float u = float(r >> 40) * (1.f / 8388608.f) - 1.f;  // 24 random bits -> [-1, 1)
        p[i] = f32_to_bf16_bits(offset + scale * u);
    });
}

}  // namespace

Status fill_random_bf16(bf16_t* p, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t stream) {
    if (n < 1) return {};
    fill_random_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, n, seed, scale, offset);
    return TESSERA_LAUNCH_CHECK("fill_random_bf16");
}

Status l2_evict(const void* buf, size_t bytes, cudaStream_t stream) {
    const int64_t n = int64_t(bytes / 16);
    if (n == 0) return {};
    l2_evict_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint4*>(buf), n,
                                                            static_cast<uint32_t*>(const_cast<void*>(buf)));
    return TESSERA_LAUNCH_CHECK("l2_evict");
}

}  // namespace tessera::cuda
