// Streamed decode attention: one query head per block and head dim 128, for contexts walked in one split
// (many (row, head) pairs: Janus-Pro's 32 guidance rows, batched 7B decode). Each half-warp is an independent
// online-softmax stream: its 16 lanes hold one key row, 8 dims each (a 16-byte load per lane, so a warp
// instruction reads two adjacent rows), scores take 4 shuffles, and the block meets only once, to merge its
// 8 streams. kU keys per stream are in flight at a time; latency is hidden by 8 resident blocks a
// multiprocessor instead of by shared-memory staging and barriers (attention.cu's long-split kernel: 128
// registers, 4 blocks, three barriers a chunk). bench/results/2026-11-28-h200-session7.md.
#include "backend/cuda/attention_stream.h"

#include <cfloat>
#include <cstdlib>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kStreams = kWarps * 2;

__device__ __forceinline__ uint4 load_stream(const uint16_t* p) {
    // L2 only (rows written by the kernel before are read too; see pdl_wait), prefetching the 256-byte row.
    uint4 v;
    asm volatile("ld.global.cg.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

template <int kU>
__global__ void __launch_bounds__(kThreads, kU <= 4 ? 8 : 5)
    decode_stream_kernel(uint16_t* q, uint16_t* k_cache, uint16_t* v_cache, const int32_t* __restrict__ pos,
                         const int32_t* __restrict__ slot, int nh, int nkv, int max_seq, float scale,
                         StreamRope rope, uint16_t* out) {
    pdl_trigger();
    const int h = blockIdx.x, b = blockIdx.y, g = h / (nh / nkv);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, half = lane >> 4, d0 = (lane & 15) * 8;
    const int len = pos[b] + 1;
    const size_t head = (size_t(slot[b]) * nkv + g) * size_t(max_seq) * kStreamHeadDim + d0;
    const uint16_t* k_head = k_cache + head;
    const uint16_t* v_head = v_cache + head;
    pdl_wait();
    if (rope.qkv) {
        // This step's q, k and v of head h: 3 × 64 rotate-half pairs, as rope_kv_write stores them. The
        // block's own later loads of the fresh row see the writes after the barrier (they go through L2).
        constexpr int kHalf = kStreamHeadDim / 2;
        const QkvDest d = qkv_dest(q + size_t(b) * nh * kStreamHeadDim, k_cache, v_cache, slot[b], len - 1,
                                   nh, nkv, kStreamHeadDim, max_seq);
        const float* row = rope.qkv + size_t(b) * 3 * nh * kStreamHeadDim;
        for (int idx = threadIdx.x; idx < 3 * kHalf; idx += kThreads) {
            const int part = idx / kHalf, i = idx % kHalf, hh = part * nh + h;  // q, k, v heads of h
            float x0 = __ldcg(row + size_t(hh) * kStreamHeadDim + i),
                  x1 = __ldcg(row + size_t(hh) * kStreamHeadDim + i + kHalf);
            if (rope.bias) {
                x0 += bf16_bits_to_f32(rope.bias[size_t(hh) * kStreamHeadDim + i]);
                x1 += bf16_bits_to_f32(rope.bias[size_t(hh) * kStreamHeadDim + i + kHalf]);
            }
            store_qkv_pair(d, hh, i, x0, x1, rope.inv_freq);
        }
        __syncthreads();
    }
    float qf[8];
    bf16x8_to_f32(__ldcg(reinterpret_cast<const uint4*>(q + (size_t(b) * nh + h) * kStreamHeadDim + d0)), qf);
#pragma unroll
    for (int e = 0; e < 8; ++e) qf[e] *= scale;
    float m = -FLT_MAX, l = 0.f, acc[8] = {};
    constexpr int kStep = 2 * kU;  // keys a warp takes per iteration: stream `half` has base + 2u + half
    for (int base = warp * kStep; base < len; base += kWarps * kStep) {
        uint4 kv[kU], vv[kU];
#pragma unroll
        for (int u = 0; u < kU; ++u) {
            const int j = base + 2 * u + half;
            kv[u] = j < len ? load_stream(k_head + size_t(j) * kStreamHeadDim) : make_uint4(0u, 0u, 0u, 0u);
            vv[u] = j < len ? load_stream(v_head + size_t(j) * kStreamHeadDim) : make_uint4(0u, 0u, 0u, 0u);
        }
        float s[kU], mn = m;
#pragma unroll
        for (int u = 0; u < kU; ++u) {
            float kf[8];
            bf16x8_to_f32(kv[u], kf);
            float t = 0.f;
#pragma unroll
            for (int e = 0; e < 8; ++e) t = fmaf(qf[e], kf[e], t);
#pragma unroll
            for (int o = 8; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
            s[u] = base + 2 * u + half < len ? t : -FLT_MAX;
            mn = fmaxf(mn, s[u]);
        }
        const float a = __expf(m - mn);  // rescales what the stream summed so far (0 before its first key)
        l *= a;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] *= a;
#pragma unroll
        for (int u = 0; u < kU; ++u) {
            const float p = base + 2 * u + half < len ? __expf(s[u] - mn) : 0.f;
            l += p;
            float vf[8];
            bf16x8_to_f32(vv[u], vf);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] = fmaf(p, vf[e], acc[e]);
        }
        m = mn;
    }
    // out = Σ_s e^{m_s − M} acc_s / Σ_s e^{m_s − M} l_s over the block's streams (a stream without keys has
    // l = 0 and acc = 0; len ≥ 1 gives one with keys, so M is finite).
    __shared__ float2 s_ml[kStreams];
    __shared__ float s_acc[kStreams][kStreamHeadDim];
    const int stream = warp * 2 + half;
    if ((lane & 15) == 0) s_ml[stream] = make_float2(m, l);
#pragma unroll
    for (int e = 0; e < 8; ++e) s_acc[stream][d0 + e] = acc[e];
    __syncthreads();
    float M = -FLT_MAX;
#pragma unroll
    for (int i = 0; i < kStreams; ++i) M = fmaxf(M, s_ml[i].x);
    const int d = threadIdx.x;  // kThreads == kStreamHeadDim: one output dimension a thread
    float L = 0.f, o = 0.f;
#pragma unroll
    for (int i = 0; i < kStreams; ++i) {
        const float w = __expf(s_ml[i].x - M);
        L = fmaf(w, s_ml[i].y, L);
        o = fmaf(w, s_acc[i][d], o);
    }
    out[(size_t(b) * nh + h) * kStreamHeadDim + d] = f32_to_bf16_bits(o / L);
}
static_assert(kThreads == kStreamHeadDim, "the stream merge gives each thread one output dimension");

}  // namespace

bool stream_enabled() {
    const char* e = std::getenv("TESSERA_ATTN_STREAM");
    return !e || std::atoi(e) != 0;
}

Status decode_stream(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const int32_t* pos,
                     const int32_t* slot, int B, int nh, int nkv, int max_seq, float scale,
                     const StreamRope& rope, bf16_t* out, cudaStream_t stream) {
    if (B < 1 || nkv < 1 || nh % nkv != 0 || (rope.qkv && nh != nkv))
        return make_error(ErrorCode::InvalidArgument, "attention_decode streamed: bad shape");
    const char* e = std::getenv("TESSERA_ATTN_STREAM_U");
    const int keys = e ? std::atoi(e) : 4;
    const dim3 grid(nh, B), block(kThreads);
    // q and the caches are written by the kernel when rope.qkv is set; the signature is shared.
    auto run = [&](auto kernel) {
        launch_kernel(kernel, grid, block, 0, stream, const_cast<uint16_t*>(q),
                      const_cast<uint16_t*>(k_cache), const_cast<uint16_t*>(v_cache), pos, slot, nh, nkv,
                      max_seq, scale, rope, out);
    };
    with_value<2, 8, 4>(keys, [&](auto k) { run(decode_stream_kernel<decltype(k)::value>); });
    return TESSERA_LAUNCH_CHECK("attention_decode streamed");
}

}  // namespace tessera::cuda
