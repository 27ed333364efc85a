// Token selection on the GPU, so a decode step ends with one small device-to-host copy of the chosen ids:
// greedy argmax, text sampling (temperature, top-k, top-p) and Janus's classifier-free-guidance sampler.
// Random draws come from a counter-based hash of (seed, step, row), so a captured graph replays them
// deterministically and the same seed gives the same tokens.
#include <cfloat>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 1024;

// splitmix64's finaliser: a bijective mix with good avalanche, enough for one uniform draw per (seed, step,
// row).
__device__ __forceinline__ uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits.
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t step, uint64_t row) {
    const uint64_t x = mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ mix64(step * 0x100000001b3ull + row + 1));
    return float(x >> 40) * (1.0f / 16777216.0f);
}

__device__ __forceinline__ float round_bf16(float v) {
    return bf16_bits_to_f32(f32_to_bf16_bits(v));
}

// Floats as unsigned keys in the same order (for bisection over values).
__device__ __forceinline__ uint32_t order_key(float f) {
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <class Op>
__device__ float block_reduce(float v, Op op, float* red) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();  // red may still be read by a previous reduction
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    v = red[threadIdx.x & 31];
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Sum {
    __device__ float operator()(float a, float b) const { return a + b; }
};

// Exclusive prefix sum of one value per thread (1024 threads).
__device__ float block_exclusive_scan(float v, float* warp_sums) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        const float n = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += n;
    }
    __syncthreads();
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        float w = warp_sums[lane];
        for (int o = 1; o < 32; o <<= 1) {
            const float n = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += n;
        }
        warp_sums[lane] = w;  // inclusive over warps
    }
    __syncthreads();
    return incl - v + (warp > 0 ? warp_sums[warp - 1] : 0.f);
}

// Draws an index of row[0, V) with probability weight(v) / Σ weight, walking the row in index order: each
// thread owns a contiguous chunk, a block scan places the target in one chunk, which that thread walks.
template <class Weight>
__device__ int draw_index(int V, Weight weight, float u, float* red, int* found) {
    const int chunk = (V + kThreads - 1) / kThreads;
    const int begin = min(V, int(threadIdx.x) * chunk), end = min(V, begin + chunk);
    float local = 0.f;
    for (int i = begin; i < end; ++i) local += weight(i);
    const float before = block_exclusive_scan(local, red);
    __shared__ float total_s;
    if (threadIdx.x == kThreads - 1) total_s = before + local;
    if (threadIdx.x == 0) *found = V;
    __syncthreads();
    const float target = u * total_s;
    if (local > 0.f && target >= before && target < before + local) {
        float acc = before;
        int pick = end - 1;
        for (int i = begin; i < end; ++i) {
            const float w = weight(i);
            acc += w;
            if (w > 0.f && target < acc) {
                pick = i;
                break;
            }
        }
        atomicMin(found, pick);
    }
    __syncthreads();
    const bool missed = *found == V;  // rounding put the target at the very end
    __syncthreads();
    if (missed) {
        if (threadIdx.x == 0) *found = -1;
        __syncthreads();
        int last = -1;
        for (int i = begin; i < end; ++i)
            if (weight(i) > 0.f) last = i;
        if (last >= 0) atomicMax(found, last);
        __syncthreads();
        if (threadIdx.x == 0 && *found < 0) *found = 0;  // no weight at all: cannot happen for finite logits
    }
    __syncthreads();
    return *found;
}

__device__ int block_argmax(const float* row, int V, float* sb, int* si) {
    float best = -FLT_MAX;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        const float v = __ldcg(row + i);
        if (v > best) {
            best = v;
            idx = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ob > best || (ob == best && oi < idx)) {
            best = ob;
            idx = oi;
        }
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
        sb[threadIdx.x >> 5] = best;
        si[threadIdx.x >> 5] = idx;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        best = sb[threadIdx.x];
        idx = si[threadIdx.x];
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
            if (ob > best || (ob == best && oi < idx)) {
                best = ob;
                idx = oi;
            }
        }
        if (threadIdx.x == 0) si[0] = idx == 0x7fffffff ? 0 : idx;
    }
    __syncthreads();
    return si[0];
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int V, int32_t* out) {
    pdl_trigger();
    pdl_wait();
    __shared__ float sb[32];
    __shared__ int si[32];
    const int k = block_argmax(logits + size_t(blockIdx.x) * V, V, sb, si);
    if (threadIdx.x == 0) out[blockIdx.x] = k;
}

// One block per pair. The guidance arithmetic is rounded to bf16 step by step as the bf16 reference does.
__global__ void __launch_bounds__(kThreads)
    sample_cfg_kernel(const float* logits, int V, float* __restrict__ work, const CfgSampleParams* params,
                      int32_t* row_tokens, int32_t* codes) {
    pdl_trigger();
    pdl_wait();
    __shared__ float red[32];
    __shared__ int si[32];
    __shared__ int found;
    const int p = blockIdx.x;
    const float* c = logits + size_t(2 * p) * V;
    const float* u = logits + size_t(2 * p + 1) * V;
    float* l = work + size_t(p) * V;
    const float w = params->cfg_weight, T = params->temperature;
    const int step = params->step;
    float m = -FLT_MAX;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        const float uc = round_bf16(__ldcg(u + i));
        float v = round_bf16(uc + round_bf16(w * round_bf16(round_bf16(__ldcg(c + i)) - uc)));
        if (T > 0.f) v = round_bf16(v / T);
        l[i] = v;
        m = fmaxf(m, v);
    }
    __syncthreads();
    int k;
    if (T <= 0.f) {
        k = block_argmax(l, V, red, si);
    } else {
        m = block_reduce(m, Max{}, red);
        const float r = uniform01(params->seed, uint64_t(step), uint64_t(p));
        k = draw_index(
            V, [&](int i) { return __expf(l[i] - m); }, r, red, &found);
    }
    if (threadIdx.x == 0) {
        row_tokens[2 * p] = k;
        row_tokens[2 * p + 1] = k;
        if (step < params->n_steps) codes[size_t(p) * params->n_steps + step] = k;
    }
}

__global__ void advance_step_kernel(CfgSampleParams* params) {
    pdl_trigger();
    pdl_wait();
    params->step += 1;
}

// One block per row: temperature, then top-k and top-p thresholds found by bisection over the value keys
// (32 passes each), then one draw among the kept tokens in index order.
__global__ void __launch_bounds__(kThreads)
    sample_text_kernel(const float* logits, int V, TextSampleParams* params, int32_t* out) {
    pdl_trigger();
    pdl_wait();
    __shared__ float red[32];
    __shared__ int si[32];
    __shared__ int found;
    const int b = blockIdx.x;
    const float* row = logits + size_t(b) * V;
    TextSampleParams& prm = params[b];
    const float T = prm.temperature;
    int k;
    if (T <= 0.f) {
        k = block_argmax(row, V, red, si);
    } else {
        const float inv_t = 1.f / T;
        float m = -FLT_MAX;
        for (int i = threadIdx.x; i < V; i += kThreads) m = fmaxf(m, __ldcg(row + i) * inv_t);
        m = block_reduce(m, Max{}, red);
        // Smallest kept key: top-k keeps values >= the k-th largest; found by bisection on the keys.
        uint32_t keep = 0;
        if (prm.top_k > 0 && prm.top_k < V) {
            uint32_t lo = 0, hi = 0xffffffffu;  // invariant: count(key >= lo) >= k
            while (lo < hi) {
                const uint32_t mid =
                    uint32_t(lo + (uint64_t(hi) - lo + 1) / 2);  // 64-bit: hi - lo + 1 can be 2^32
                float cnt = 0.f;
                for (int i = threadIdx.x; i < V; i += kThreads)
                    cnt += order_key(__ldcg(row + i) * inv_t) >= mid ? 1.f : 0.f;
                cnt = block_reduce(cnt, Sum{}, red);
                if (cnt >= float(prm.top_k))
                    lo = mid;
                else
                    hi = mid - 1;
            }
            keep = lo;
        }
        float total = 0.f;
        for (int i = threadIdx.x; i < V; i += kThreads) {
            const float z = __ldcg(row + i) * inv_t;
            if (order_key(z) >= keep) total += __expf(z - m);
        }
        total = block_reduce(total, Sum{}, red);
        if (prm.top_p < 1.f) {
            // Largest key whose kept mass (values >= key) is still >= top_p: the smallest nucleus.
            uint32_t lo = keep, hi = order_key(m);
            while (lo < hi) {
                const uint32_t mid = uint32_t(lo + (uint64_t(hi) - lo + 1) / 2);
                float mass = 0.f;
                for (int i = threadIdx.x; i < V; i += kThreads) {
                    const float z = __ldcg(row + i) * inv_t;
                    if (order_key(z) >= mid) mass += __expf(z - m);
                }
                mass = block_reduce(mass, Sum{}, red);
                if (mass >= prm.top_p * total)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            keep = lo;
        }
        const float r = uniform01(prm.seed, uint64_t(prm.step), uint64_t(b));
        k = draw_index(
            V,
            [&](int i) {
                const float z = __ldcg(row + i) * inv_t;
                return order_key(z) >= keep ? __expf(z - m) : 0.f;
            },
            r, red, &found);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        out[b] = k;
        prm.step += 1;
    }
}

}  // namespace

Status sample_cfg(const float* logits, int P, int V, CfgSampleParams* params, int32_t* row_tokens,
                  int32_t* codes, float* work, cudaStream_t stream) {
    if (P < 1 || V < 1) return make_error(ErrorCode::InvalidArgument, "sample_cfg: empty input");
    launch_kernel(sample_cfg_kernel, dim3(P), dim3(kThreads), 0, stream, logits, V, work, params, row_tokens,
                  codes);
    TESSERA_TRY(TESSERA_LAUNCH_CHECK("sample_cfg"));
    launch_kernel(advance_step_kernel, dim3(1), dim3(1), 0, stream, params);
    return TESSERA_LAUNCH_CHECK("sample_cfg step");
}

Status sample_text(const float* logits, int B, int V, TextSampleParams* params, int32_t* out,
                   cudaStream_t stream) {
    if (B < 1 || V < 1) return make_error(ErrorCode::InvalidArgument, "sample_text: empty input");
    launch_kernel(sample_text_kernel, dim3(B), dim3(kThreads), 0, stream, logits, V, params, out);
    return TESSERA_LAUNCH_CHECK("sample_text");
}

Status argmax(const float* logits, int B, int V, int32_t* out, cudaStream_t stream) {
    if (B < 1 || V < 1) return make_error(ErrorCode::InvalidArgument, "argmax: empty input");
    launch_kernel(argmax_kernel, dim3(B), dim3(kThreads), 0, stream, logits, V, out);
    return TESSERA_LAUNCH_CHECK("argmax");
}

}  // namespace tessera::cuda
