// Batch-1 decode of the whole layer stack in one persistent kernel (see decode_persistent.h). One block of
// 16 warps per multiprocessor stays resident for every layer; a layer is five phases separated by grid-wide
// barriers:
//   A  xn = RMSNorm(h; ln1) in every block's shared memory, [q;k;v] = xn·Wqkvᵀ (+ bias), RoPE, KV write
//   B  split-KV attention: block (head, split) writes a partial softmax; the split that arrives last for a
//      head merges them into attn[head]
//   C  h += attn·Woᵀ
//   D  xn = RMSNorm(h; ln2), act = silu(xn·Wgateᵀ) · (xn·Wupᵀ)
//   E  h += act·Wdownᵀ
// The arithmetic is that of the separate kernels (rms_norm, gemv_qkv_rope_bf16, attention_decode,
// gemv_bf16, gemv_swiglu_bf16) up to the order of f32 additions. Before each barrier a block issues the
// first weight loads of the next product (they do not depend on the barrier), so the memory system works
// while the grid waits.
#include "backend/cuda/decode_persistent.h"

#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

// Block shape: kW warps, one block per multiprocessor (16 warps: the register file is full at 128 each).
template <int kW>
struct Shape {
    static constexpr int kWarps = kW, kThreads = kW * 32;
};
constexpr int kHd = 128;                // head dim the attention phase is written for (4 dims per lane)
constexpr int kKeyUnroll = 8;           // key/value rows in flight per warp
constexpr size_t kCounterBytes = 1024;  // barrier arrivals, then one arrival counter per head
constexpr int kMaxHeads = int(kCounterBytes / 4) - 1;

struct Params {
    PersistentDecode a;
    unsigned long long* trace;  // null, or [5·L + 1] times (ns) at which block 0 left each barrier
};

__device__ __forceinline__ unsigned ld_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

// Every block arrives once per barrier on one counter (zeroed before the launch); barrier k of the launch
// completes when the counter reaches k·gridDim.x. All blocks are resident (cooperative launch), so spinning
// cannot starve a block that has not started.
__device__ __forceinline__ void grid_barrier(unsigned* count, unsigned& target) {
    __syncthreads();
    target += gridDim.x;
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(count, 1u);
        while (ld_acquire(count) < target) {
        }
        __threadfence();
    }
    __syncthreads();
}

// xs = bf16(bf16(h · rsqrt(mean(h²) + eps)) · w), with rms_norm's summation order (512 threads, float4
// loads), so the normalised vector is the separate kernel's bit for bit. h comes from other blocks: L2 loads.
template <class C>
__device__ void norm_into(const float* h, const uint16_t* w, int K, float eps, uint16_t* xs, float* red) {
    const int tid = threadIdx.x;
    float ss = 0.f;
    const float4* h4 = reinterpret_cast<const float4*>(h);
    for (int i = tid; i < K / 4; i += C::kThreads) {
        const float4 v = __ldcg(h4 + i);
        ss = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss))));
    }
    ss = warp_sum(ss);
    if ((tid & 31) == 0) red[tid >> 5] = ss;
    __syncthreads();
    if (tid < 32) {
        float v = tid < C::kWarps ? red[tid] : 0.f;
        v = warp_sum(v);
        if (tid == 0) red[C::kWarps] = v;
    }
    __syncthreads();
    const float r = rsqrtf(red[C::kWarps] / float(K) + eps);
    for (int i = tid; i < K; i += C::kThreads) {
        const float n = bf16_bits_to_f32(f32_to_bf16_bits(__ldcg(h + i) * r));
        xs[i] = f32_to_bf16_bits(n * bf16_bits_to_f32(w[i]));
    }
    __syncthreads();
}

// A bf16 vector another block wrote (K a multiple of 8) into shared memory.
template <class C>
__device__ void stage(const uint16_t* src, int K, uint16_t* xs) {
    const uint4* s4 = reinterpret_cast<const uint4*>(src);
    uint4* d4 = reinterpret_cast<uint4*>(xs);
    for (int i = threadIdx.x; i < K / 8; i += C::kThreads) d4[i] = __ldcg(s4 + i);
    __syncthreads();
}

// Products stream their weights through a ring of kStages chunk slots per warp in shared memory (cp.async,
// sm_80+): chunk t of a warp is 32 16-byte columns of its unit's row(s), one per lane, and the loop keeps
// kStages - 1 chunks in flight while it uses one, with no registers held by the loads. The weights do not
// depend on the barrier before a phase, so the first kStages - 1 chunks of the next product are issued
// before the grid meets (the prologue) and arrive while it waits.
constexpr int kStages = 6;

__device__ __forceinline__ void cp_async16(uint4* smem, const uint4* gmem, bool pred) {
    const unsigned s = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(pred ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}

// A product's units (rows, or row pairs when kTwo): warp w of block b takes units (k·W + w)·G + b for
// k = 0, 1, …, so every block and warp gets an equal share. rows(unit, w0, w1) names a unit's weight rows.
template <class C, bool kTwo, class Rows>
struct Product {
    int units, K8, nc;  // nc: chunks per unit
    Rows rows;
    uint4* ring;  // this warp's [kStages][2][32] slots

    __device__ Product(int units_, int K, Rows rows_, uint4* ring_all)
        : units(units_),
          K8(K >> 3),
          nc(((K >> 3) + 31) / 32),
          rows(rows_),
          ring(ring_all + size_t(threadIdx.x >> 5) * kStages * 64) {}

    __device__ int unit_of(int k) const {
        return (k * C::kWarps + int(threadIdx.x >> 5)) * int(gridDim.x) + int(blockIdx.x);
    }
    __device__ int chunks() const {
        const int first = unit_of(0), stride = C::kWarps * int(gridDim.x);
        return first < units ? ((units - first + stride - 1) / stride) * nc : 0;
    }
    // One commit per chunk index, empty past the end, so wait_group's count is exact.
    __device__ void issue(int t, int T) {
        if (t < T) {
            const int lane = threadIdx.x & 31, k = t / nc, i = (t - k * nc) * 32 + lane;
            const uint4 *w0, *w1;
            rows(unit_of(k), w0, w1);
            uint4* slot = ring + (t % kStages) * 64;
            const bool ok = i < K8;
            cp_async16(slot + lane, ok ? w0 + i : w0, ok);
            if constexpr (kTwo) cp_async16(slot + 32 + lane, ok ? w1 + i : w1, ok);
        }
        cp_async_commit();
    }
    __device__ void prologue() {
        const int T = chunks();
        for (int t = 0; t < kStages - 1; ++t) issue(t, T);
    }
    // finish(unit, v0, v1) gets the full dot products on lane 0.
    template <class Finish>
    __device__ void run(const uint16_t* xs, bool prologue_done, Finish finish) {
        if (!prologue_done) prologue();
        const int lane = threadIdx.x & 31, T = chunks();
        const uint4* x4 = reinterpret_cast<const uint4*>(xs);
        float a0 = 0.f, a1 = 0.f;
        for (int t = 0; t < T; ++t) {
            issue(t + kStages - 1, T);
            asm volatile("cp.async.wait_group %0;" ::"n"(kStages - 1) : "memory");
            const int k = t / nc, cb = t - k * nc, i = cb * 32 + lane;
            const uint4* slot = ring + (t % kStages) * 64;
            if (i < K8) {
                const uint4 xv = x4[i];
                a0 += dot8(slot[lane], xv);
                if constexpr (kTwo) a1 += dot8(slot[32 + lane], xv);
            }
            if (cb == nc - 1) {
                a0 = warp_sum(a0);
                if constexpr (kTwo) a1 = warp_sum(a1);
                if (lane == 0) finish(unit_of(k), a0, a1);
                a0 = a1 = 0.f;
            }
        }
    }
};

template <class C, bool kTwo, class Rows>
__device__ Product<C, kTwo, Rows> make_product(int units, int K, Rows rows, uint4* ring) {
    return Product<C, kTwo, Rows>(units, K, rows, ring);
}

__device__ __forceinline__ void load4(const uint16_t* p, float (&v)[4]) {
    const uint2 r = __ldcg(reinterpret_cast<const uint2*>(p));
    v[0] = __uint_as_float(r.x << 16);
    v[1] = __uint_as_float(r.x & 0xffff0000u);
    v[2] = __uint_as_float(r.y << 16);
    v[3] = __uint_as_float(r.y & 0xffff0000u);
}

// Phase B for the block's (head, split) items: scores, softmax and weighted values of positions
// [start, start + n) as attention_decode computes them, then the merge by the split that arrives last.
template <class C>
__device__ void attention(const Params& p, const PersistentLayer& lw, int len, int slot, float* part,
                          int* head_count, float* sc, float* vred, float* red) {
    const PersistentDecode& a = p.a;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, tid = threadIdx.x;
    const int S = p.a.plan.splits;
    const int chunk = (len + S - 1) / S, active = (len + chunk - 1) / chunk;
    const int stride = kHd + 2;
    __shared__ int last;
    for (int item = blockIdx.x; item < a.nh * S; item += gridDim.x) {
        const int head = item / S, split = item % S;
        const int start = split * chunk;
        if (start >= len) continue;
        const int n = min(chunk, len - start);
        const int g = head / (a.nh / a.nkv);
        const size_t head_off = (size_t(slot) * a.nkv + g) * size_t(a.max_seq) * kHd;
        const uint16_t* kh = lw.k_cache + head_off + size_t(start) * kHd + lane * 4;
        const uint16_t* vh = lw.v_cache + head_off + size_t(start) * kHd + lane * 4;
        float q[4];
        load4(a.q + size_t(head) * kHd + lane * 4, q);
#pragma unroll
        for (int e = 0; e < 4; ++e) q[e] *= a.scale;

        for (int j0 = warp; j0 < n; j0 += C::kWarps * kKeyUnroll) {
            float kv[kKeyUnroll][4];
#pragma unroll
            for (int i = 0; i < kKeyUnroll; ++i) {
                const int j = j0 + i * C::kWarps;
                if (j < n)
                    load4(kh + size_t(j) * kHd, kv[i]);
                else
                    kv[i][0] = kv[i][1] = kv[i][2] = kv[i][3] = 0.f;
            }
#pragma unroll
            for (int i = 0; i < kKeyUnroll; ++i) {
                const int j = j0 + i * C::kWarps;
                const float s = warp_sum(
                    fmaf(q[0], kv[i][0], fmaf(q[1], kv[i][1], fmaf(q[2], kv[i][2], q[3] * kv[i][3]))));
                if (lane == 0 && j < n) sc[j] = s;
            }
        }
        __syncthreads();
        float m = -FLT_MAX;
        for (int j = tid; j < n; j += C::kThreads) m = fmaxf(m, sc[j]);
        m = warp_max(m);
        if (lane == 0) red[warp] = m;
        __syncthreads();
        m = -FLT_MAX;
        for (int w = 0; w < C::kWarps; ++w) m = fmaxf(m, red[w]);
        __syncthreads();
        float l = 0.f;
        for (int j = tid; j < n; j += C::kThreads) {
            const float e = __expf(sc[j] - m);
            sc[j] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) red[warp] = l;
        __syncthreads();
        l = 0.f;
        for (int w = 0; w < C::kWarps; ++w) l += red[w];

        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int j0 = warp; j0 < n; j0 += C::kWarps * kKeyUnroll) {
            float vv[kKeyUnroll][4];
#pragma unroll
            for (int i = 0; i < kKeyUnroll; ++i) {
                const int j = j0 + i * C::kWarps;
                if (j < n)
                    load4(vh + size_t(j) * kHd, vv[i]);
                else
                    vv[i][0] = vv[i][1] = vv[i][2] = vv[i][3] = 0.f;
            }
#pragma unroll
            for (int i = 0; i < kKeyUnroll; ++i) {
                const int j = j0 + i * C::kWarps;
                if (j < n) {
                    const float pj = sc[j];
#pragma unroll
                    for (int e = 0; e < 4; ++e) acc[e] = fmaf(pj, vv[i][e], acc[e]);
                }
            }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) vred[warp * kHd + lane * 4 + e] = acc[e];
        __syncthreads();
        float* out = part + size_t(item) * stride;
        if (tid < kHd) {
            float o = 0.f;
            for (int w = 0; w < C::kWarps; ++w) o += vred[w * kHd + tid];
            out[2 + tid] = o;
        }
        if (tid == 0) {
            out[0] = m;
            out[1] = l;
        }
        __threadfence();
        __syncthreads();
        if (tid == 0) last = atomicAdd(head_count + head, 1) + 1 == active;
        __syncthreads();
        if (last) {
            __threadfence();
            const float* hp = part + size_t(head) * S * stride;
            float M = -FLT_MAX;
            for (int s = 0; s < active; ++s) M = fmaxf(M, __ldcg(hp + size_t(s) * stride));
            float L = 0.f;
            for (int s = 0; s < active; ++s)
                L += __expf(__ldcg(hp + size_t(s) * stride) - M) * __ldcg(hp + size_t(s) * stride + 1);
            if (tid < kHd) {
                float o = 0.f;
                for (int s = 0; s < active; ++s)
                    o = fmaf(__expf(__ldcg(hp + size_t(s) * stride) - M),
                             __ldcg(hp + size_t(s) * stride + 2 + tid), o);
                a.attn[size_t(head) * kHd + tid] = f32_to_bf16_bits(o * (1.f / L));
            }
            if (tid == 0) head_count[head] = 0;  // re-armed for the next layer (every split has arrived)
        }
        __syncthreads();  // sc, vred and red are reused by the next item
    }
}

template <class C>
__global__ void __launch_bounds__(C::kThreads, 1) persistent_decode_kernel(Params p) {
    extern __shared__ uint4 smem4[];
    uint4* ring = smem4;  // [kWarps][kStages][2][32]
    uint16_t* xs = reinterpret_cast<uint16_t*>(ring + C::kWarps * kStages * 64);
    float* red = reinterpret_cast<float*>(xs + p.a.plan.xs_elems);  // [64]
    float* sc = red + 64;                                           // [chunk_cap]
    float* vred = sc + ((p.a.plan.chunk_cap + 3) & ~3);             // [kWarps, kHd]
    const PersistentDecode& a = p.a;
    unsigned* bar = static_cast<unsigned*>(a.workspace);
    int* head_count = reinterpret_cast<int*>(bar + 1);
    float* part = reinterpret_cast<float*>(static_cast<char*>(a.workspace) + kCounterBytes);
    unsigned target = 0;
    int mark = 0;
    const auto record = [&] {
        if (p.trace && blockIdx.x == 0 && threadIdx.x == 0) {
            unsigned long long t;
            asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
            p.trace[mark] = t;
        }
        ++mark;
    };
    record();

    const int pos = a.pos[0], slot = a.slot[0], len = pos + 1;
    const int H = a.H, I = a.I, hd = a.hd, half = hd / 2, A = a.nh * hd;
    const int qkv_units = (a.nh + 2 * a.nkv) * half;

    // Unit u of q/k/v is the row pair (i, i + hd/2) of one head; of gate/up, rows 2u and 2u + 1.
    const auto qkv_rows = [=](const uint16_t* W) {
        return [=](int u, const uint4*& w0, const uint4*& w1) {
            const int r0 = (u / half) * hd + u % half;
            w0 = reinterpret_cast<const uint4*>(W + size_t(r0) * H);
            w1 = reinterpret_cast<const uint4*>(W + size_t(r0 + half) * H);
        };
    };
    const auto gu_rows = [=](const uint16_t* W) {
        return [=](int u, const uint4*& w0, const uint4*& w1) {
            w0 = reinterpret_cast<const uint4*>(W + 2 * size_t(u) * H);
            w1 = reinterpret_cast<const uint4*>(W + (2 * size_t(u) + 1) * H);
        };
    };
    const auto single_rows = [=](const uint16_t* W, int K) {
        return [=](int u, const uint4*& w0, const uint4*& w1) {
            w0 = w1 = reinterpret_cast<const uint4*>(W + size_t(u) * K);
        };
    };
    const auto residual = [&](int u, float v, float) { a.h[u] = __ldcg(a.h + u) + v; };

    make_product<C, true>(qkv_units, H, qkv_rows(a.layers[0].qkv), ring).prologue();
    for (int l = 0; l < a.L; ++l) {
        const PersistentLayer lw = a.layers[l];
        const auto qkv = make_product<C, true>(qkv_units, H, qkv_rows(lw.qkv), ring);
        const auto o = make_product<C, false>(H, A, single_rows(lw.o, A), ring);
        const auto gate_up = make_product<C, true>(I, H, gu_rows(lw.gate_up), ring);
        const auto down = make_product<C, false>(H, I, single_rows(lw.down, I), ring);

        // A: norm, q/k/v, RoPE, KV write (gemv_qkv_rope_kernel's epilogue). The attention phase does not use
        // the ring, so o_proj's first chunks are issued already.
        norm_into<C>(a.h, lw.ln1, H, a.eps, xs, red);
        auto qkv_run = qkv;
        const QkvDest dest = qkv_dest(a.q, lw.k_cache, lw.v_cache, slot, pos, a.nh, a.nkv, hd, a.max_seq);
        qkv_run.run(xs, true, [&](int u, float v0, float v1) {
            const int head = u / half, hi = u % half, r0 = head * hd + hi;
            if (lw.qkv_bias) {
                v0 += bf16_bits_to_f32(lw.qkv_bias[r0]);
                v1 += bf16_bits_to_f32(lw.qkv_bias[r0 + half]);
            }
            store_qkv_pair(dest, head, hi, v0, v1, a.inv_freq);
        });
        auto o_run = o;
        o_run.prologue();
        grid_barrier(bar, target);
        record();

        // B: attention.
        attention<C>(p, lw, len, slot, part, head_count, sc, vred, red);
        grid_barrier(bar, target);
        record();

        // C: h += attn·Woᵀ; gate/up's first chunks go out before the barrier.
        stage<C>(a.attn, A, xs);
        o_run.run(xs, true, residual);
        auto gu_run = gate_up;
        gu_run.prologue();
        grid_barrier(bar, target);
        record();

        // D: norm, gate/up, SwiGLU (gemv_swiglu_kernel's epilogue).
        norm_into<C>(a.h, lw.ln2, H, a.eps, xs, red);
        gu_run.run(xs, true, [&](int u, float g, float up) {
            a.act[u] = f32_to_bf16_bits(g / (1.f + __expf(-g)) * up);
        });
        auto down_run = down;
        down_run.prologue();
        grid_barrier(bar, target);
        record();

        // E: h += act·Wdownᵀ; then the next layer's first q/k/v chunks.
        stage<C>(a.act, I, xs);
        down_run.run(xs, true, residual);
        if (l + 1 < a.L) make_product<C, true>(qkv_units, H, qkv_rows(a.layers[l + 1].qkv), ring).prologue();
        grid_barrier(bar, target);
        record();
    }
}

int multiprocessors(int device) {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return 0;
    return n;
}
}  // namespace

bool persistent_decode_supported(int H, int I, int nh, int nkv, int hd) {
    return hd == kHd && H % 8 == 0 && I % 8 == 0 && (nh * hd) % 8 == 0 && nkv > 0 && nh % nkv == 0 &&
           nh <= kMaxHeads;
}

size_t persistent_decode_workspace(int device, int nh, int hd) {
    const int sms = std::max(1, multiprocessors(device));
    // splits·nh ≤ blocks + nh: one partial of hd + 2 floats per (head, split).
    return kCounterBytes + size_t(sms + nh) * size_t(hd + 2) * sizeof(float);
}

namespace {

using Narrow = Shape<16>;

unsigned long long* g_trace = nullptr;  // persistent_decode_trace_begin's buffer
int g_trace_marks = 0;

}  // namespace

Status persistent_decode_prepare(PersistentDecode& a) {
    if (!persistent_decode_supported(a.H, a.I, a.nh, a.nkv, a.hd))
        return make_error(ErrorCode::Unsupported, "persistent_decode: unsupported shape");
    int device = 0;
    TESSERA_TRY(check(cudaGetDevice(&device), "persistent_decode: cudaGetDevice"));
    int coop = 0;
    cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device);
    const int sms = multiprocessors(device);
    if (!coop || sms < 1)
        return make_error(ErrorCode::Unsupported, "persistent_decode: the device has no cooperative launch");

    PersistentPlan& p = a.plan;
    p.blocks = sms;
    p.splits = std::max(1, p.blocks / a.nh);
    p.chunk_cap = (a.max_seq + p.splits - 1) / p.splits;
    p.xs_elems = (std::max({a.H, a.I, a.nh * a.hd}) + 7) / 8 * 8;
    p.smem = size_t(Narrow::kWarps) * kStages * 64 * 16 + size_t(p.xs_elems) * 2 +
             (64 + size_t((p.chunk_cap + 3) & ~3) + size_t(Narrow::kWarps) * kHd) * 4;
    int smem_max = 0;
    cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    if (p.smem > size_t(smem_max))
        return make_error(ErrorCode::Unsupported,
                          "persistent_decode: the context needs too much shared memory");
    TESSERA_TRY(check(cudaFuncSetAttribute(persistent_decode_kernel<Narrow>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, int(p.smem)),
                      "persistent_decode: shared memory limit"));
    int per_sm = 0;
    TESSERA_TRY(check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, persistent_decode_kernel<Narrow>,
                                                                    Narrow::kThreads, p.smem),
                      "persistent_decode: occupancy"));
    if (per_sm < 1)
        return make_error(ErrorCode::Unsupported,
                          "persistent_decode: a block does not fit on a multiprocessor");
    return {};
}

Status persistent_decode(const PersistentDecode& a, cudaStream_t stream) {
    if (a.plan.blocks < 1)
        return make_error(ErrorCode::InvalidArgument, "persistent_decode: arguments not prepared");
    const Params p{a, g_trace_marks >= 5 * a.L + 1 ? g_trace : nullptr};
    TESSERA_TRY(check(cudaMemsetAsync(a.workspace, 0, kCounterBytes, stream), "persistent_decode: counters"));
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(unsigned(a.plan.blocks));
    config.blockDim = dim3(unsigned(Narrow::kThreads));
    config.dynamicSmemBytes = a.plan.smem;
    config.stream = stream;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeCooperative;
    attribute[0].val.cooperative = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    (void)cudaLaunchKernelEx(&config, persistent_decode_kernel<Narrow>, p);
    return TESSERA_LAUNCH_CHECK("persistent_decode");
}

Status persistent_decode_trace_begin(int layers) {
    if (g_trace) cudaFree(g_trace);
    g_trace = nullptr;
    g_trace_marks = 5 * layers + 1;
    return check(cudaMalloc(reinterpret_cast<void**>(&g_trace), size_t(g_trace_marks) * 8),
                 "persistent_decode: trace buffer");
}

Status persistent_decode_trace_read(std::vector<double>& phase_us) {
    phase_us.assign(5, 0.0);
    if (!g_trace) return make_error(ErrorCode::InvalidArgument, "persistent_decode: no trace was started");
    std::vector<unsigned long long> t(static_cast<size_t>(g_trace_marks));
    TESSERA_TRY(check(cudaMemcpy(t.data(), g_trace, t.size() * 8, cudaMemcpyDeviceToHost),
                      "persistent_decode: read the trace"));
    const int layers = (g_trace_marks - 1) / 5;
    for (int m = 1; m < g_trace_marks; ++m)
        phase_us[size_t((m - 1) % 5)] += double(t[size_t(m)] - t[size_t(m) - 1]) / 1e3;
    for (double& v : phase_us) v /= layers;
    return {};
}

}  // namespace tessera::cuda
