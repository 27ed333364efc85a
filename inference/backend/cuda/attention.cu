// Attention kernels. Decode uses split-KV "flash decoding": the keys of each sequence are cut into chunks,
// each block computes a partial softmax (max, sum, weighted values) for one chunk and one KV head — all
// query heads of a GQA group share the loaded keys — and a second kernel (or the last block) merges the
// chunks. With enough (row, head) pairs to fill the GPU (Janus-Pro's 32 guidance rows) a block walks its
// pair's whole context instead, online softmax across chunks, and writes the output itself. The grid covers
// max_seq and reads the lengths from device memory, so one captured CUDA graph serves every step.
// Prefill attention runs as cuBLAS batched products around causal_softmax (see models/llama_cuda.cpp).
#include <algorithm>
#include <cfloat>
#include <cstddef>
#include <cstdlib>

#include "backend/cuda/attention_stream.h"
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kChunk = 64;
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxGroup = 8;
constexpr int kMaxHeadDim = 256;
constexpr int kKeysPerWarp = kChunk / kWarps;

int splits_for(int max_seq) {
    return (max_seq + kChunk - 1) / kChunk;
}

// Merges the active splits of one (row, head): out = Σ_s e^{m_s − M} acc_s / Σ_s e^{m_s − M} l_s. Called by
// every thread of a block; w holds at least `active` floats of shared memory, red 32. Partials written by
// other blocks are read with __ldcg (L2, never a stale L1 line).
__device__ void merge_splits(int bh, int active, int nsplit, int hd, const float* part_ml,
                             const float* part_acc, uint16_t* out, float* w, float* red) {
    const float* ml = part_ml + size_t(bh) * nsplit * 2;
    float m = -FLT_MAX;
    for (int s = threadIdx.x; s < active; s += blockDim.x) m = fmaxf(m, __ldcg(ml + 2 * s));
    m = warp_max(m);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    float M = -FLT_MAX;
    for (int i = 0; i < int(blockDim.x / 32); ++i) M = fmaxf(M, red[i]);
    __syncthreads();
    float l = 0.f;
    for (int s = threadIdx.x; s < active; s += blockDim.x) {
        const float e = __expf(__ldcg(ml + 2 * s) - M);
        w[s] = e;
        l += e * __ldcg(ml + 2 * s + 1);
    }
    l = warp_sum(l);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = l;
    __syncthreads();
    float L = 0.f;
    for (int i = 0; i < int(blockDim.x / 32); ++i) L += red[i];
    const float inv = 1.f / L;
    const float* acc = part_acc + size_t(bh) * nsplit * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o0 = 0.f, o1 = 0.f, o2 = 0.f, o3 = 0.f;
        int s = 0;
        for (; s + 3 < active; s += 4) {
            o0 = fmaf(w[s], __ldcg(acc + size_t(s) * hd + d), o0);
            o1 = fmaf(w[s + 1], __ldcg(acc + size_t(s + 1) * hd + d), o1);
            o2 = fmaf(w[s + 2], __ldcg(acc + size_t(s + 2) * hd + d), o2);
            o3 = fmaf(w[s + 3], __ldcg(acc + size_t(s + 3) * hd + d), o3);
        }
        for (; s < active; ++s) o0 = fmaf(w[s], __ldcg(acc + size_t(s) * hd + d), o0);
        out[size_t(bh) * hd + d] = f32_to_bf16_bits(((o0 + o1) + (o2 + o3)) * inv);
    }
    __syncthreads();  // w and red are reused by the next head
}

// The merge done by the last block of a (row, head group), one head at a time: each thread owns dimensions
// d and loads every split's {m, l} and acc[d] in one round (kMergeBatch splits at a time, rescaling online
// past that), so the merge is one trip to L2 instead of merge_splits' three with barriers between them.
constexpr int kMergeBatch = 24;  // splits of one round: contexts up to 1536 positions

__device__ void merge_splits_direct(int bh, int active, int nsplit, int hd, const float* part_ml,
                                    const float* part_acc, uint16_t* out) {
    const float2* ml = reinterpret_cast<const float2*>(part_ml + size_t(bh) * nsplit * 2);
    const float* acc = part_acc + size_t(bh) * nsplit * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float M = -FLT_MAX, L = 0.f, o = 0.f;
        for (int s0 = 0; s0 < active; s0 += kMergeBatch) {
            float2 mv[kMergeBatch];
            float av[kMergeBatch];
#pragma unroll
            for (int u = 0; u < kMergeBatch; ++u) {
                const int s = min(s0 + u, active - 1);  // clamped: no branches between the loads
                mv[u] = __ldcg(ml + s);
                av[u] = __ldcg(acc + size_t(s) * hd + d);
            }
            float Mn = M;
#pragma unroll
            for (int u = 0; u < kMergeBatch; ++u)
                if (s0 + u < active) Mn = fmaxf(Mn, mv[u].x);
            const float c = __expf(M - Mn);  // 0 on the first round (M = -FLT_MAX), when L and o are 0
            L *= c;
            o *= c;
#pragma unroll
            for (int u = 0; u < kMergeBatch; ++u)
                if (s0 + u < active) {
                    const float e = __expf(mv[u].x - Mn);
                    L = fmaf(e, mv[u].y, L);
                    o = fmaf(e, av[u], o);
                }
            M = Mn;
        }
        out[size_t(bh) * hd + d] = f32_to_bf16_bits(o / L);
    }
}

// The vector path's per-chunk steps (head dims ≤ 128, multiples of 4; lane holds dims [4·lane, 4·lane + 4)),
// shared by the split kernel and the long-split kernel. Warp w owns keys j ≡ w (mod kWarps) of a chunk.

// Rows j < n of the chunk other than this step's row `fresh` (which the q/k/v kernel before writes), loaded
// before any is used so their round trips overlap; the rest zero. Older rows take the non-coherent path: a
// position's rows are never read before the step that writes them, so no stale L1 line of them can exist.
__device__ __forceinline__ void load_older_rows(const uint16_t* base, int hd, int n, int fresh, bool active,
                                                int warp, uint2 (&r)[kKeysPerWarp]) {
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i) {
        const int j = warp + i * kWarps;
        r[i] = active && j < n && j != fresh ? *reinterpret_cast<const uint2*>(base + size_t(j) * hd)
                                             : make_uint2(0u, 0u);
    }
}

// This step's row, from L2 (written by the kernel before; see pdl_wait).
__device__ __forceinline__ void load_fresh_row(const uint16_t* base, int hd, int n, int fresh, bool active,
                                               int warp, uint2 (&r)[kKeysPerWarp]) {
    if (!active || fresh >= n || fresh < 0 || fresh % kWarps != warp) return;
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i)
        if (warp + i * kWarps == fresh)
            r[i] = __ldcg(reinterpret_cast<const uint2*>(base + size_t(fresh) * hd));
}

__device__ __forceinline__ float4 bf16x4(uint2 v) {
    return make_float4(__uint_as_float(v.x << 16), __uint_as_float(v.x & 0xffff0000u),
                       __uint_as_float(v.y << 16), __uint_as_float(v.y & 0xffff0000u));
}

// The scaled query of heads h0 … h0 + G − 1, this lane's 4 dims, straight into registers.
template <int kG>
__device__ __forceinline__ void load_query(const uint16_t* q, size_t head0, int hd, int G, bool active,
                                           int d0, float scale, float (&qr)[kG][4]) {
#pragma unroll
    for (int gg = 0; gg < kG; ++gg) {
        const uint2 qv = gg < G && active
                             ? __ldcg(reinterpret_cast<const uint2*>(q + (head0 + size_t(gg)) * hd + d0))
                             : make_uint2(0u, 0u);
        const float4 f = bf16x4(qv);
        qr[gg][0] = f.x * scale;
        qr[gg][1] = f.y * scale;
        qr[gg][2] = f.z * scale;
        qr[gg][3] = f.w * scale;
    }
}

// sc[gg·kChunk + j] = q_gg · k_j for the chunk's n keys.
template <int kG>
__device__ __forceinline__ void chunk_scores(const float (&qr)[kG][4], const uint2 (&kr)[kKeysPerWarp], int G,
                                             int n, int warp, int lane, float* sc) {
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i) {
        const int j = warp + i * kWarps;
        const float4 k = bf16x4(kr[i]);
#pragma unroll
        for (int gg = 0; gg < kG; ++gg) {
            if (gg < G) {
                const float s = warp_sum(
                    fmaf(qr[gg][0], k.x, fmaf(qr[gg][1], k.y, fmaf(qr[gg][2], k.z, qr[gg][3] * k.w))));
                if (lane == 0 && j < n) sc[gg * kChunk + j] = s;
            }
        }
    }
}

// acc[gg] += Σ_j p[gg, j] · v_j over this warp's keys of the chunk (p in sc).
template <int kG>
__device__ __forceinline__ void chunk_values(const float* sc, const uint2 (&vr)[kKeysPerWarp], int G, int n,
                                             int warp, float (&acc)[kG][4]) {
#pragma unroll
    for (int i = 0; i < kKeysPerWarp; ++i) {
        const int j = warp + i * kWarps;
        if (j >= n) break;
        const float4 v = bf16x4(vr[i]);
#pragma unroll
        for (int gg = 0; gg < kG; ++gg) {
            if (gg < G) {
                const float p = sc[gg * kChunk + j];
                acc[gg][0] = fmaf(p, v.x, acc[gg][0]);
                acc[gg][1] = fmaf(p, v.y, acc[gg][1]);
                acc[gg][2] = fmaf(p, v.z, acc[gg][2]);
                acc[gg][3] = fmaf(p, v.w, acc[gg][3]);
            }
        }
    }
}

// Softmax numerators of one head's chunk scores, in place: s ← e^{s − m} with m the largest of m0 and the
// scores; returns {m, Σ e^{s − m}} (the same in every lane). Called by a whole warp.
__device__ __forceinline__ float2 chunk_exp(float* s, int n, int lane, float m0) {
    float m = m0;
    for (int j = lane; j < n; j += 32) m = fmaxf(m, s[j]);
    m = warp_max(m);
    float l = 0.f;
    for (int j = lane; j < n; j += 32) {
        const float e = __expf(s[j] - m);
        s[j] = e;
        l += e;
    }
    return make_float2(m, warp_sum(l));
}

// The warps' partial sums of the values meet in shared memory; f(gg, d, o) receives head gg's dim d.
template <int kG, class F>
__device__ __forceinline__ void sum_warps(const float (&acc)[kG][4], int G, int hd, int warp, int lane,
                                          F&& f) {
    __shared__ float red[kWarps * kG * 128];
    const int d0 = lane * 4;
#pragma unroll
    for (int gg = 0; gg < kG; ++gg)
        if (gg < G && d0 < hd)
#pragma unroll
            for (int e = 0; e < 4; ++e) red[(warp * kG + gg) * 128 + d0 + e] = acc[gg][e];
    __syncthreads();
    for (int i = threadIdx.x; i < G * hd; i += kThreads) {
        const int gg = i / hd, d = i % hd;
        float o = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) o += red[(w * kG + gg) * 128 + d];
        f(gg, d, o);
    }
}

// kG: the GQA group size rounded up to 1, 2, 4 or 8 — register arrays and shared memory are sized for it,
// so MHA models (G = 1) run more blocks per multiprocessor than a kernel sized for G = 8.
template <int kG>
__global__ void __launch_bounds__(kThreads, 4)  // four blocks a multiprocessor: 7B's 544 blocks in one wave
    decode_partial_kernel(const uint16_t* q, const uint16_t* __restrict__ k_cache,
                          const uint16_t* __restrict__ v_cache, const int32_t* __restrict__ pos,
                          const int32_t* __restrict__ slot, int nh, int nkv, int hd, int max_seq, float scale,
                          int nsplit, float* __restrict__ part_ml, float* __restrict__ part_acc,
                          int* counters, uint16_t* out, bool prefetch_v, int gq, bool early) {
    pdl_trigger();
    // Block (split, y, b) takes query heads [y·gq, y·gq + gq), which share KV head y·gq / (nh / nkv).
    // pos and slot come from the host's copy before the step's first kernel, so they may be read before the
    // wait; so may every cache row but the one the q/k/v kernel before this one writes (len − 1).
    const int split = blockIdx.x, b = blockIdx.z;
    const int G = gq, h0 = blockIdx.y * gq, g = h0 / (nh / nkv);
    const int len = pos[b] + 1;
    const int start = split * kChunk;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // part_ml[(b·nh + h)·nsplit + split] = {m, l}
    if (start >= len) return;  // the merge only reads the active splits
    const int n = min(kChunk, len - start);
    const int fresh = len - 1 - start;  // this step's row within the chunk (≥ n: not in it)

    __shared__ float qs[kG * kMaxHeadDim];
    __shared__ float sc[kG * kChunk];
    const bool vec = (hd & 3) == 0 && hd <= 128;  // every real model: 8-byte loads of 4 bf16 per lane
    // Early: the older rows' loads are issued before the wait, so they are in flight while the q/k/v
    // product finishes (batch 1–2, where the cache is small next to the weights; at larger batches they
    // measured slower, competing with that product's weight stream).
    if (!vec || !early) pdl_wait();
    if (!vec) {
        for (int i = threadIdx.x; i < G * hd; i += kThreads)
            qs[i] = bf16_bits_to_f32(__ldcg(q + (size_t(b) * nh + size_t(h0)) * hd + i)) * scale;
        __syncthreads();
    }

    // Cache layout [slots, nkv, max_seq, hd]: this block's keys are one contiguous run. They take the
    // non-coherent path: a position's rows (whole cache lines) are never read before the step that writes
    // them, so no line of them can sit stale in L1. q, rewritten every layer, is read from L2 (__ldcg).
    const uint16_t* k_head = k_cache + (size_t(slot[b]) * nkv + g) * size_t(max_seq) * hd;
    const uint16_t* v_head = v_cache + (size_t(slot[b]) * nkv + g) * size_t(max_seq) * hd;
    uint2 vr[kKeysPerWarp];  // this lane's values (vector path), loaded with the keys
    if (vec) {
        // Keys and values are both issued first: the values do not depend on the scores, so their loads
        // overlap the score and softmax work instead of starting a second round trip after it.
        const int d0 = lane * 4;
        const bool active = d0 < hd;
        const uint16_t* k_base = k_head + size_t(start) * hd + d0;
        const uint16_t* v_base = v_head + size_t(start) * hd + d0;
        uint2 kr[kKeysPerWarp];
        load_older_rows(k_base, hd, n, fresh, active, warp, kr);
        if (prefetch_v) load_older_rows(v_base, hd, n, fresh, active, warp, vr);
        if (early) pdl_wait();
        load_fresh_row(k_base, hd, n, fresh, active, warp, kr);
        if (prefetch_v) load_fresh_row(v_base, hd, n, fresh, active, warp, vr);
        // The query goes straight to registers: no shared-memory staging and no barrier before the key loads.
        float qr[kG][4];
        load_query<kG>(q, size_t(b) * nh + size_t(h0), hd, G, active, d0, scale, qr);
        chunk_scores<kG>(qr, kr, G, n, warp, lane, sc);
    } else {
        for (int j = warp; j < n; j += kWarps) {
            const uint16_t* krow = k_head + size_t(start + j) * hd;
            float acc[kG];
#pragma unroll
            for (int gg = 0; gg < kG; ++gg) acc[gg] = 0.f;
            for (int d = lane; d < hd; d += 32) {
                const float kd = bf16_bits_to_f32(krow[d]);
#pragma unroll
                for (int gg = 0; gg < kG; ++gg)
                    if (gg < G) acc[gg] = fmaf(qs[gg * hd + d], kd, acc[gg]);
            }
#pragma unroll
            for (int gg = 0; gg < kG; ++gg) {
                if (gg < G) {
                    const float sum = warp_sum(acc[gg]);
                    if (lane == 0) sc[gg * kChunk + j] = sum;
                }
            }
        }
    }
    __syncthreads();

    for (int gg = warp; gg < G; gg += kWarps) {
        const float2 ml = chunk_exp(sc + gg * kChunk, n, lane, -FLT_MAX);
        if (lane == 0)
            reinterpret_cast<float2*>(part_ml)[(size_t(b) * nh + size_t(h0) + gg) * nsplit + split] = ml;
    }
    __syncthreads();

    if (vec) {
        // Warp w takes keys j ≡ w (mod 4); lane holds 4 dims. Partial sums meet in shared memory (reusing
        // qs).
        float acc[kG][4];
#pragma unroll
        for (int gg = 0; gg < kG; ++gg)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[gg][e] = 0.f;
        const int d0 = lane * 4;
        if (d0 < hd) {
            if (!prefetch_v) {
                const uint16_t* v_base = v_head + size_t(start) * hd + d0;
                load_older_rows(v_base, hd, n, fresh, true, warp, vr);
                load_fresh_row(v_base, hd, n, fresh, true, warp, vr);
            }
            chunk_values<kG>(sc, vr, G, n, warp, acc);
        }
        sum_warps<kG>(acc, G, hd, warp, lane, [&](int gg, int d, float o) {
            part_acc[((size_t(b) * nh + size_t(h0) + gg) * nsplit + split) * hd + d] = o;
        });
    } else {
        for (int d = threadIdx.x; d < hd; d += kThreads) {
            float acc[kG];
#pragma unroll
            for (int gg = 0; gg < kG; ++gg) acc[gg] = 0.f;
            for (int j = 0; j < n; ++j) {
                const float vd = bf16_bits_to_f32(v_head[size_t(start + j) * hd + d]);
#pragma unroll
                for (int gg = 0; gg < kG; ++gg)
                    if (gg < G) acc[gg] = fmaf(sc[gg * kChunk + j], vd, acc[gg]);
            }
            for (int gg = 0; gg < G; ++gg)
                part_acc[((size_t(b) * nh + size_t(h0) + gg) * nsplit + split) * hd + d] = acc[gg];
        }
    }
    if (!counters) return;  // a separate merge kernel follows
    // The last block of (b, g) to finish merges the splits of its G heads, then rearms the counter for the
    // next step (so a captured graph can replay it).
    __shared__ int last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        const int active = (len + kChunk - 1) / kChunk;
        const int done = atomicAdd(counters + b * gridDim.y + blockIdx.y, 1) + 1;
        last = done == active;
        if (last) counters[b * gridDim.y + blockIdx.y] = 0;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    const int active = (len + kChunk - 1) / kChunk;
    for (int gg = 0; gg < G; ++gg)
        merge_splits_direct(b * nh + h0 + gg, active, nsplit, hd, part_ml, part_acc, out);
}

// Long splits, for many (row, head) pairs (Janus-Pro's 32 guidance rows, batched text decode): a block walks
// the kChunk-key chunks of its span with an online softmax, the next chunk's keys in flight during this
// chunk's softmax and values, and its values during the next scores. When one split covers the context
// (nsplit = 1) the block writes the output itself: no partials and no merge launch. Vector path only (head
// dims ≤ 128, multiples of 4).
template <int kG>
__global__ void __launch_bounds__(kThreads, 4)
    decode_long_kernel(const uint16_t* q, const uint16_t* __restrict__ k_cache,
                       const uint16_t* __restrict__ v_cache, const int32_t* __restrict__ pos,
                       const int32_t* __restrict__ slot, int nh, int nkv, int hd, int max_seq, float scale,
                       int nsplit, int span, float* __restrict__ part_ml, float* __restrict__ part_acc,
                       uint16_t* out, int gq) {
    pdl_trigger();
    const int split = blockIdx.x, b = blockIdx.z;
    const int G = gq, h0 = blockIdx.y * gq, g = h0 / (nh / nkv);
    const int len = pos[b] + 1, first = split * span;
    if (first >= len) return;  // the merge only reads the active splits
    const int end = min(len, first + span);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d0 = lane * 4;
    const bool active = d0 < hd;
    __shared__ float sc[kG * kChunk];
    __shared__ float2 run[kG];   // running {max, sum} of each head
    __shared__ float alpha[kG];  // this chunk's rescale of the running sums
    if (threadIdx.x < kG) run[threadIdx.x] = make_float2(-FLT_MAX, 0.f);
    const size_t head = (size_t(slot[b]) * nkv + g) * size_t(max_seq) * hd + d0;
    const uint16_t* k_head = k_cache + head;
    const uint16_t* v_head = v_cache + head;
    uint2 kr[kKeysPerWarp], vr[kKeysPerWarp];
    auto load = [&](const uint16_t* base, int start, int n, uint2(&r)[kKeysPerWarp]) {
        load_older_rows(base + size_t(start) * hd, hd, n, len - 1 - start, active, warp, r);
        load_fresh_row(base + size_t(start) * hd, hd, n, len - 1 - start, active, warp, r);
    };
    pdl_wait();
    float qr[kG][4];
    load_query<kG>(q, size_t(b) * nh + size_t(h0), hd, G, active, d0, scale, qr);
    float acc[kG][4];
#pragma unroll
    for (int gg = 0; gg < kG; ++gg)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[gg][e] = 0.f;
    int start = first, n = min(kChunk, end - first);
    load(k_head, start, n, kr);
    load(v_head, start, n, vr);
    while (true) {
        chunk_scores<kG>(qr, kr, G, n, warp, lane, sc);
        const int next = start + kChunk, nn = next < end ? min(kChunk, end - next) : 0;
        if (nn > 0) load(k_head, next, nn, kr);
        __syncthreads();
        for (int gg = warp; gg < G; gg += kWarps) {
            const float2 r = run[gg], ml = chunk_exp(sc + gg * kChunk, n, lane, r.x);
            if (lane == 0) {
                const float a = __expf(r.x - ml.x);  // 0 on the first chunk, when the sums are 0
                alpha[gg] = a;
                run[gg] = make_float2(ml.x, fmaf(r.y, a, ml.y));
            }
        }
        __syncthreads();
#pragma unroll
        for (int gg = 0; gg < kG; ++gg)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[gg][e] *= gg < G ? alpha[gg] : 0.f;
        chunk_values<kG>(sc, vr, G, n, warp, acc);
        if (nn == 0) break;
        load(v_head, next, nn, vr);
        __syncthreads();  // sc is rewritten by the next chunk's scores
        start = next;
        n = nn;
    }
    sum_warps<kG>(acc, G, hd, warp, lane, [&](int gg, int d, float o) {
        const size_t bh = size_t(b) * nh + size_t(h0) + gg;
        if (nsplit == 1)
            out[bh * hd + d] = f32_to_bf16_bits(o / run[gg].y);
        else
            part_acc[(bh * nsplit + split) * hd + d] = o;
    });
    if (nsplit > 1 && threadIdx.x < G) {
        float* ml = part_ml + ((size_t(b) * nh + size_t(h0) + threadIdx.x) * nsplit + split) * 2;
        ml[0] = run[threadIdx.x].x;
        ml[1] = run[threadIdx.x].y;
    }
}

// One block per (b, h): the split weights are computed once into shared memory, then each thread sums its
// dimensions over the splits with independent loads.
__global__ void decode_merge_kernel(const int32_t* __restrict__ pos, int nh, int hd, int nsplit, int span,
                                    const float* part_ml, const float* part_acc, uint16_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    extern __shared__ float w[];  // [nsplit]
    __shared__ float red[32];
    const int bh = blockIdx.x;
    const int active = (pos[bh / nh] + span) / span;  // ⌈(pos + 1) / span⌉
    merge_splits(bh, active, nsplit, hd, part_ml, part_acc, out, w, red);
}

__global__ void causal_softmax_kernel(const float* S, int T, int L, int pos0, uint16_t* __restrict__ P) {
    pdl_trigger();
    pdl_wait();
    const int row = blockIdx.x;  // h·T + t
    const int t = row % T;
    const int valid = min(L, pos0 + t + 1);
    const float* s = S + size_t(row) * L;
    uint16_t* p = P + size_t(row) * L;
    __shared__ float red[32];
    float m = -FLT_MAX;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) m = fmaxf(m, __ldcg(s + j));
    m = warp_max(m);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : -FLT_MAX;
        v = warp_max(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    m = red[0];
    __syncthreads();
    float l = 0.f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) l += __expf(__ldcg(s + j) - m);
    l = warp_sum(l);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = l;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.f;
        v = warp_sum(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    const float inv = 1.f / red[0];
    for (int j = threadIdx.x; j < L; j += blockDim.x)
        p[j] = f32_to_bf16_bits(j < valid ? __expf(__ldcg(s + j) - m) * inv : 0.f);
}

}  // namespace

// Splits whose merge weights fit the partial kernel's score buffer can be merged by the last block.
bool fused_merge(int max_seq, int kg) {
    return splits_for(max_seq) <= kg * kChunk;
}

int group_bucket(int G) {
    return G <= 1 ? 1 : G <= 2 ? 2 : G <= 4 ? 4 : 8;
}

// Calls f(std::integral_constant<int, g>{}) for the kernel instantiation g ∈ {1, 2, 4, 8} of a group bucket.
template <class F>
void with_group_bucket(int kg, F&& f) {
    with_value<1, 2, 4, 8>(kg, std::forward<F>(f));
}

// Chunks per split: 1 (one chunk a block, many splits: the short-split kernel) unless there are enough
// (row, head) pairs to fill the blocks the GPU holds at four a multiprocessor with one split each; then one
// split per pair, the long-split kernel, no merge. In between, long splits with a merge measured slower than
// short ones on the H200 (7B batch 16 −4%, 1.5B batch 32 −7%; 7B batch 32 +4%, Janus-Pro-7B +3%:
// bench/results/2026-11-28-h200-session6.md). TESSERA_ATTN_CHUNKS=n forces n (checks, measurements).
static int chunks_per_split(int pairs, int max_seq) {
    const int s1 = splits_for(max_seq);
    if (const char* e = std::getenv("TESSERA_ATTN_CHUNKS")) {
        const int v = std::atoi(e);
        if (v >= 1) return std::min(v, s1);
    }
    return pairs >= 4 * current_multiprocessors() ? s1 : 1;
}

// The fused merge's arrival counters, one per (row, head) of a batch of up to kFusedMergeMaxBatch rows, sit
// at the start of the workspace, the partials after them. The place must not depend on the batch: the
// workspace is sized for the largest batch and shared by every batch size, and counters placed after the
// partials of the batch at hand were overwritten by the partials of a larger batch, after which a small
// batch's merge never found its last block (garbage rows in batch-1 decode after a 12-row step).
constexpr int kFusedMergeMaxBatch = 8;

static size_t counters_bytes(int nh) {
    return (size_t(kFusedMergeMaxBatch) * nh * sizeof(int) + 255) / 256 * 256;
}

size_t attention_decode_workspace(int B, int nh, int hd, int max_seq) {
    return counters_bytes(nh) + size_t(B) * nh * splits_for(max_seq) * (size_t(hd) + 2) * sizeof(float);
}

// Query heads per block: a whole GQA group shares each loaded key, but with few KV heads (1.5B: 2 KV heads,
// groups of 6) that leaves a handful of blocks doing long serial score loops. Above 4, one head per block:
// the group's other heads re-read the keys from L2, and the grid is nh·splits wide.
static int heads_per_block(int G) {
    int gq = G <= 4 ? G : 1;
    if (const char* e = std::getenv("TESSERA_ATTN_GQ")) {
        const int v = std::atoi(e);
        if (v >= 1 && v <= kMaxGroup && G % v == 0) gq = v;
    }
    return gq;
}

// Whether the streamed kernel takes the shape: one head per block, head dim 128, the context in one split.
static bool streamed(int B, int nh, int nkv, int hd, int max_seq) {
    const int gq = heads_per_block(nh / nkv);
    return gq == 1 && hd == kStreamHeadDim && stream_enabled() &&
           chunks_per_split(B * nh, max_seq) >= splits_for(max_seq);
}

static Status check_decode_shape(int B, int nh, int nkv, int hd) {
    if (B < 1 || nkv < 1 || nh % nkv != 0 || nh / nkv > kMaxGroup || hd > kMaxHeadDim || hd < 1)
        return make_error(ErrorCode::Unsupported, "attention_decode: unsupported shape (heads " +
                                                      std::to_string(nh) + "/" + std::to_string(nkv) +
                                                      ", head dim " + std::to_string(hd) + ")");
    return {};
}

Status attention_decode(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const int32_t* pos,
                        const int32_t* slot, int B, int nh, int nkv, int hd, int max_seq, float scale,
                        bf16_t* out, void* workspace, cudaStream_t stream) {
    TESSERA_TRY(check_decode_shape(B, nh, nkv, hd));
    if (streamed(B, nh, nkv, hd, max_seq))
        return decode_stream(q, k_cache, v_cache, pos, slot, B, nh, nkv, max_seq, scale, StreamRope{}, out,
                             stream);
    const int nsplit = splits_for(max_seq);
    float* part_ml = reinterpret_cast<float*>(static_cast<std::byte*>(workspace) + counters_bytes(nh));
    float* part_acc = part_ml + size_t(B) * nh * nsplit * 2;
    // The last-block merge saves a launch, which pays at small batches; with many rows the separate merge
    // kernel measured faster (bench/results/2026-11-28-h200-janus.md).
    const int gq = heads_per_block(nh / nkv);
    const int kg = group_bucket(gq);
    int* counters =
        fused_merge(max_seq, kg) && B <= kFusedMergeMaxBatch && !std::getenv("TESSERA_NO_FUSED_MERGE")
            ? static_cast<int*>(workspace)
            : nullptr;
    const bool vec = hd % 4 == 0 && hd <= 128;
    const int cps = vec ? chunks_per_split(B * (nh / gq), max_seq) : 1;
    if (cps > 1) {
        const int span = cps * kChunk, nlong = (max_seq + span - 1) / span;
        const dim3 grid(nlong, nh / gq, B), block(kThreads);
        auto run = [&](auto kernel) {
            launch_kernel(kernel, grid, block, 0, stream, q, k_cache, v_cache, pos, slot, nh, nkv, hd,
                          max_seq, scale, nlong, span, part_ml, part_acc, out, gq);
        };
        with_group_bucket(kg, [&](auto g) { run(decode_long_kernel<decltype(g)::value>); });
        TESSERA_TRY(TESSERA_LAUNCH_CHECK("attention_decode long splits"));
        if (nlong == 1) return {};
        launch_kernel(decode_merge_kernel, dim3(B * nh), dim3(128), size_t(nlong) * sizeof(float), stream,
                      pos, nh, hd, nlong, span, part_ml, part_acc, out);
        return TESSERA_LAUNCH_CHECK("attention_decode merge");
    }
    const bool prefetch = !std::getenv("TESSERA_NO_KV_PREFETCH");
    const char* early_env = std::getenv("TESSERA_ATTN_EARLY");  // 0 / 1 overrides the choice by batch
    const bool early = early_env ? std::atoi(early_env) != 0 : B <= 2;
    const dim3 grid(nsplit, nh / gq, B), block(kThreads);
    auto run = [&](auto kernel) {
        launch_kernel(kernel, grid, block, 0, stream, q, k_cache, v_cache, pos, slot, nh, nkv, hd, max_seq,
                      scale, nsplit, part_ml, part_acc, counters, out, prefetch, gq, early);
    };
    with_group_bucket(kg, [&](auto g) { run(decode_partial_kernel<decltype(g)::value>); });
    TESSERA_TRY(TESSERA_LAUNCH_CHECK("attention_decode partial"));
    if (counters) return {};
    launch_kernel(decode_merge_kernel, dim3(B * nh), dim3(128), size_t(nsplit) * sizeof(float), stream, pos,
                  nh, hd, nsplit, kChunk, part_ml, part_acc, out);
    return TESSERA_LAUNCH_CHECK("attention_decode merge");
}

Status rope_attention_decode(const float* qkv, const bf16_t* bias, const float* inv_freq, const int32_t* pos,
                             const int32_t* slot, int B, int nh, int nkv, int hd, int max_seq, float scale,
                             bf16_t* q, bf16_t* k_cache, bf16_t* v_cache, bf16_t* out, void* workspace,
                             cudaStream_t stream) {
    TESSERA_TRY(check_decode_shape(B, nh, nkv, hd));
    const char* no_fuse = std::getenv("TESSERA_NO_ATTN_ROPE");
    if (nh == nkv && streamed(B, nh, nkv, hd, max_seq) && !(no_fuse && std::atoi(no_fuse) != 0))
        return decode_stream(q, k_cache, v_cache, pos, slot, B, nh, nkv, max_seq, scale,
                             StreamRope{qkv, bias, inv_freq}, out, stream);
    TESSERA_TRY(
        rope_kv_write(qkv, bias, pos, slot, inv_freq, B, nh, nkv, hd, max_seq, q, k_cache, v_cache, stream));
    return attention_decode(q, k_cache, v_cache, pos, slot, B, nh, nkv, hd, max_seq, scale, out, workspace,
                            stream);
}

Status causal_softmax(const float* S, int nh, int T, int L, int pos0, bf16_t* P, cudaStream_t stream) {
    if (nh < 1 || T < 1 || L < T) return make_error(ErrorCode::InvalidArgument, "causal_softmax: bad shape");
    launch_kernel(causal_softmax_kernel, dim3(nh * T), dim3(256), 0, stream, S, T, L, pos0, P);
    return TESSERA_LAUNCH_CHECK("causal_softmax");
}

}  // namespace tessera::cuda
