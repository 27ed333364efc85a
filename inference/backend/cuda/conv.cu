// Convolution-network operations for the VQ image decoder on the GPU (models.md §7.6): 3×3 im2col for the
// cuBLAS products that do the convolutions, bias (+ residual) to bf16, GroupNorm (+ swish) in two passes,
// nearest-neighbour upsampling, row softmax for the spatial attention, and the L2-normalised codebook
// lookup. Activations are bf16 [C, H, W] per image, as the bf16 reference computes them.
#include <cfloat>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;

// The per-element kernels below give each thread a run of 8 consecutive elements of one plane (a channel, or
// a channel's 3×3 tap for im2col): blockIdx.y walks the planes and blockIdx.x the runs, so a thread's
// coordinates cost two 32-bit divisions instead of several 64-bit ones per element (the flat loops were
// bound by those divisions: 330 GB/s for the largest im2col). Where a plane's rows are whole multiples of 8
// the run is one 16-byte store; otherwise each element of the run is done on its own.
constexpr int kRun = 8;
constexpr int64_t kMaxPlane = int64_t(1) << 28;  // 32-bit run offsets, also for the 4× upsampled plane

dim3 run_grid(int planes, int64_t plane_size) {
    const int64_t runs = (plane_size + kRun - 1) / kRun;
    return dim3(unsigned((runs + kThreads - 1) / kThreads), unsigned(planes < 65535 ? planes : 65535));
}

// Calls f(plane, p0) for this thread's run [p0, p0 + 8) of every plane the grid assigns to its block.
template <class F>
__device__ __forceinline__ void for_each_run(int planes, int plane_size, F&& f) {
    const int p0 = (blockIdx.x * blockDim.x + threadIdx.x) * kRun;
    if (p0 >= plane_size) return;
    for (int plane = blockIdx.y; plane < planes; plane += gridDim.y) f(plane, p0);
}

// Loads the run [at, at + n) of x: one 16-byte load when it is a whole aligned run (see store_run).
__device__ __forceinline__ void load_run(const uint16_t* x, size_t at, int n, bool aligned,
                                         uint16_t (&v)[kRun]) {
    if (n == kRun && aligned) {
        const uint4 w = *reinterpret_cast<const uint4*>(x + at);
        const uint32_t u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int e = 0; e < kRun; ++e) v[e] = uint16_t(u[e / 2] >> (16 * (e & 1)));
    } else {
        for (int e = 0; e < n; ++e) v[e] = x[at + e];
    }
}

// aligned: the plane size is a multiple of 8, so a whole run starts on a 16-byte boundary.
__device__ __forceinline__ void store_run(uint16_t* dst, const uint16_t (&v)[kRun], int n, bool aligned) {
    if (n == kRun && aligned) {
        uint4 o;
        o.x = v[0] | uint32_t(v[1]) << 16;
        o.y = v[2] | uint32_t(v[3]) << 16;
        o.z = v[4] | uint32_t(v[5]) << 16;
        o.w = v[6] | uint32_t(v[7]) << 16;
        *reinterpret_cast<uint4*>(dst) = o;
    } else {
        for (int e = 0; e < n; ++e) dst[e] = v[e];
    }
}

// col[(c·9 + ky·3 + kx), y·W + x] = in[c, y + ky − 1, x + kx − 1] (zero outside). With W a multiple of 8 a
// run is 8 aligned source elements shifted by kx − 1: one 16-byte load, one neighbour, funnel shifts.
__global__ void im2col3x3_kernel(const uint16_t* in, int C, int H, int W, uint16_t* __restrict__ col) {
    pdl_trigger();
    pdl_wait();
    const int HW = H * W;
    for_each_run(C * 9, HW, [&](int plane, int p0) {
        const int c = plane / 9, k = plane - c * 9, ky = k / 3, kx = k - ky * 3;
        const uint16_t* src = in + size_t(c) * HW;
        uint16_t* dst = col + size_t(plane) * HW + p0;
        if ((W & 7) == 0) {
            const int y = p0 / W + ky - 1, x0 = p0 - (p0 / W) * W;
            uint4 o = make_uint4(0u, 0u, 0u, 0u);
            if (y >= 0 && y < H) {
                const uint16_t* row = src + size_t(y) * W;
                const uint4 a = *reinterpret_cast<const uint4*>(row + x0);
                if (kx == 1) {
                    o = a;
                } else if (kx == 0) {  // elements x0 − 1 … x0 + 6
                    const uint32_t prev = x0 > 0 ? uint32_t(row[x0 - 1]) << 16 : 0u;
                    o = make_uint4(__funnelshift_l(prev, a.x, 16), __funnelshift_l(a.x, a.y, 16),
                                   __funnelshift_l(a.y, a.z, 16), __funnelshift_l(a.z, a.w, 16));
                } else {  // elements x0 + 1 … x0 + 8
                    const uint32_t next = x0 + kRun < W ? uint32_t(row[x0 + kRun]) : 0u;
                    o = make_uint4(__funnelshift_r(a.x, a.y, 16), __funnelshift_r(a.y, a.z, 16),
                                   __funnelshift_r(a.z, a.w, 16), __funnelshift_r(a.w, next, 16));
                }
            }
            *reinterpret_cast<uint4*>(dst) = o;
            return;
        }
        uint16_t v[kRun];
        const int n = min(kRun, HW - p0);
        for (int e = 0; e < n; ++e) {
            const int p = p0 + e, yy = p / W, y = yy + ky - 1, x = p - yy * W + kx - 1;
            v[e] = (y >= 0 && y < H && x >= 0 && x < W) ? src[y * W + x] : uint16_t(0);
        }
        store_run(dst, v, n, (HW & 7) == 0);
    });
}

// out[c, p] = bf16(acc[c, p] + bias[c]) (+ residual[c, p], rounded again as the reference adds in bf16).
__global__ void bias_residual_kernel(const float* acc, const uint16_t* __restrict__ bias, int C, int HW,
                                     const uint16_t* residual, uint16_t* out) {
    pdl_trigger();
    pdl_wait();
    for_each_run(C, HW, [&](int c, int p0) {
        const size_t at = size_t(c) * HW + p0;
        const float b = bias ? bf16_bits_to_f32(bias[c]) : 0.f;
        const int n = min(kRun, HW - p0);
        const bool vec = n == kRun && (HW & 7) == 0;
        float a[kRun] = {};
        uint16_t r[kRun] = {}, v[kRun];
        if (vec) {
            const float4 a0 = *reinterpret_cast<const float4*>(acc + at),
                         a1 = *reinterpret_cast<const float4*>(acc + at + 4);
            a[0] = a0.x, a[1] = a0.y, a[2] = a0.z, a[3] = a0.w, a[4] = a1.x, a[5] = a1.y, a[6] = a1.z,
            a[7] = a1.w;
        } else {
            for (int e = 0; e < n; ++e) a[e] = acc[at + e];
        }
        if (residual) load_run(residual, at, n, vec, r);
#pragma unroll
        for (int e = 0; e < kRun; ++e) {
            float x = a[e] + b;
            if (residual) x = bf16_bits_to_f32(f32_to_bf16_bits(x)) + bf16_bits_to_f32(r[e]);
            v[e] = f32_to_bf16_bits(x);
        }
        store_run(out + at, v, n, (HW & 7) == 0);
    });
}

// Pass 1: per (group, split) sums of (x − shift) and its square, shift = the group's first value (keeps
// the variance well conditioned).
__global__ void group_stats_kernel(const uint16_t* x, int64_t group_elems, int splits,
                                   float* __restrict__ part) {
    pdl_trigger();
    pdl_wait();
    const int g = blockIdx.y, s = blockIdx.x;
    const uint16_t* xg = x + int64_t(g) * group_elems;
    const float shift = bf16_bits_to_f32(xg[0]);
    const int64_t per = (group_elems + splits - 1) / splits;
    const int64_t begin = int64_t(s) * per, end = begin + per < group_elems ? begin + per : group_elems;
    float s1 = 0.f, s2 = 0.f;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        const float v = bf16_bits_to_f32(xg[i]) - shift;
        s1 += v;
        s2 += v * v;
    }
    __shared__ float r1[32], r2[32];
    s1 = warp_sum(s1);
    s2 = warp_sum(s2);
    if ((threadIdx.x & 31) == 0) {
        r1[threadIdx.x >> 5] = s1;
        r2[threadIdx.x >> 5] = s2;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        s1 = threadIdx.x < blockDim.x / 32 ? r1[threadIdx.x] : 0.f;
        s2 = threadIdx.x < blockDim.x / 32 ? r2[threadIdx.x] : 0.f;
        s1 = warp_sum(s1);
        s2 = warp_sum(s2);
        if (threadIdx.x == 0) {
            part[(int64_t(g) * splits + s) * 2] = s1;
            part[(int64_t(g) * splits + s) * 2 + 1] = s2;
        }
    }
}

// Pass 2: y = (x − mean)·rsqrt(var + eps)·w + b, then swish when asked; bf16 out. A block's runs share one
// channel, so its statistics are summed once per thread, not once per element.
__global__ void group_apply_kernel(const uint16_t* x, int C, int HW, int groups, int splits,
                                   const float* part, const uint16_t* __restrict__ w,
                                   const uint16_t* __restrict__ b, float eps, bool swish,
                                   uint16_t* __restrict__ y) {
    pdl_trigger();
    pdl_wait();
    const int cpg = C / groups;
    for_each_run(C, HW, [&](int c, int p0) {
        const int g = c / cpg;
        float s1 = 0.f, s2 = 0.f;
        for (int s = 0; s < splits; ++s) {
            s1 += part[(size_t(g) * splits + s) * 2];
            s2 += part[(size_t(g) * splits + s) * 2 + 1];
        }
        const size_t group_elems = size_t(cpg) * HW;
        const float n_inv = 1.f / float(group_elems);
        const float mean_shifted = s1 * n_inv;
        const float var = fmaxf(s2 * n_inv - mean_shifted * mean_shifted, 0.f);
        const float mean = mean_shifted + bf16_bits_to_f32(x[size_t(g) * group_elems]);
        const float scale = rsqrtf(var + eps) * bf16_bits_to_f32(w[c]), shift = bf16_bits_to_f32(b[c]);
        const size_t at = size_t(c) * HW + p0;
        const int n = min(kRun, HW - p0);
        uint16_t v[kRun] = {};
        load_run(x, at, n, (HW & 7) == 0, v);
#pragma unroll
        for (int e = 0; e < kRun; ++e) {
            float t = (bf16_bits_to_f32(v[e]) - mean) * scale + shift;
            if (swish) {
                t = bf16_bits_to_f32(
                    f32_to_bf16_bits(t));  // the reference rounds the norm's output before swish
                t = t / (1.f + __expf(-t));
            }
            v[e] = f32_to_bf16_bits(t);
        }
        store_run(y + at, v, n, (HW & 7) == 0);
    });
}

// out[c, y, x] = in[c, y / 2, x / 2]: a run of 8 outputs repeats 4 inputs (one 8-byte load when W is a
// multiple of 4, so that runs neither cross rows nor lose alignment).
__global__ void upsample2x_kernel(const uint16_t* in, int C, int H, int W, uint16_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    const int W2 = 2 * W, plane = 4 * H * W;
    for_each_run(C, plane, [&](int c, int p0) {
        const uint16_t* src = in + size_t(c) * H * W;
        uint16_t* dst = out + size_t(c) * plane + p0;
        if ((W & 3) == 0) {
            const int y2 = p0 / W2, x2 = p0 - y2 * W2;
            const uint2 a = *reinterpret_cast<const uint2*>(src + size_t(y2 / 2) * W + x2 / 2);
            const uint32_t lo0 = a.x & 0xffffu, hi0 = a.x >> 16, lo1 = a.y & 0xffffu, hi1 = a.y >> 16;
            *reinterpret_cast<uint4*>(dst) =
                make_uint4(lo0 | lo0 << 16, hi0 | hi0 << 16, lo1 | lo1 << 16, hi1 | hi1 << 16);
            return;
        }
        uint16_t v[kRun];
        const int n = min(kRun, plane - p0);
        for (int e = 0; e < n; ++e) {
            const int p = p0 + e, y2 = p / W2, x2 = p - y2 * W2;
            v[e] = src[(y2 / 2) * W + x2 / 2];
        }
        store_run(dst, v, n, (plane & 7) == 0);
    });
}

// One block per row of S (f32 [rows, n], already scaled): bf16 softmax over the row.
__global__ void softmax_rows_kernel(const float* S, int n, float scale, uint16_t* __restrict__ P) {
    pdl_trigger();
    pdl_wait();
    const float* row = S + int64_t(blockIdx.x) * n;
    __shared__ float red[32];
    float m = -FLT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        m = fmaxf(m, bf16_bits_to_f32(f32_to_bf16_bits(row[i] * scale)));
    m = warp_max(m);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    m = -FLT_MAX;
    for (int i = 0; i < int(blockDim.x / 32); ++i) m = fmaxf(m, red[i]);
    __syncthreads();
    float l = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        l += __expf(bf16_bits_to_f32(f32_to_bf16_bits(row[i] * scale)) - m);
    l = warp_sum(l);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = l;
    __syncthreads();
    l = 0.f;
    for (int i = 0; i < int(blockDim.x / 32); ++i) l += red[i];
    const float inv = 1.f / l;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        P[int64_t(blockIdx.x) * n + i] =
            f32_to_bf16_bits(__expf(bf16_bits_to_f32(f32_to_bf16_bits(row[i] * scale)) - m) * inv);
}

// z[d, p] = E[codes[p], d] / max(‖E[codes[p]]‖, 1e-12): one thread per position.
__global__ void codebook_lookup_kernel(const uint16_t* __restrict__ E, int dim, int vocab,
                                       const int32_t* codes, int n, uint16_t* __restrict__ z) {
    pdl_trigger();
    pdl_wait();
    const int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= n) return;
    int id = codes[p];
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    float ss = 0.f;
    for (int d = 0; d < dim; ++d) {
        const float v = bf16_bits_to_f32(E[int64_t(id) * dim + d]);
        ss += v * v;
    }
    const float inv = 1.f / fmaxf(sqrtf(ss), 1e-12f);
    for (int d = 0; d < dim; ++d)
        z[int64_t(d) * n + p] = f32_to_bf16_bits(bf16_bits_to_f32(E[int64_t(id) * dim + d]) * inv);
}

}  // namespace

Status im2col3x3(const bf16_t* in, int C, int H, int W, bf16_t* col, cudaStream_t stream) {
    if (C < 1 || H < 1 || W < 1) return make_error(ErrorCode::InvalidArgument, "im2col3x3: empty input");
    if (int64_t(H) * W > kMaxPlane)
        return make_error(ErrorCode::InvalidArgument, "im2col3x3: image plane too large");
    launch_kernel(im2col3x3_kernel, run_grid(C * 9, int64_t(H) * W), dim3(kThreads), 0, stream, in, C, H, W,
                  col);
    return TESSERA_LAUNCH_CHECK("im2col3x3");
}

Status bias_residual(const float* acc, const bf16_t* bias, int C, int64_t HW, const bf16_t* residual,
                     bf16_t* out, cudaStream_t stream) {
    if (C < 1 || HW < 1) return make_error(ErrorCode::InvalidArgument, "bias_residual: empty input");
    if (HW > kMaxPlane) return make_error(ErrorCode::InvalidArgument, "bias_residual: plane too large");
    launch_kernel(bias_residual_kernel, run_grid(C, HW), dim3(kThreads), 0, stream, acc, bias, C, int(HW),
                  residual, out);
    return TESSERA_LAUNCH_CHECK("bias_residual");
}

size_t group_norm_workspace(int groups) {
    return size_t(groups) * 64 * 2 * sizeof(float);
}

Status group_norm(const bf16_t* x, int C, int64_t HW, int groups, const bf16_t* w, const bf16_t* b, float eps,
                  bool swish, bf16_t* y, float* workspace, cudaStream_t stream) {
    if (C < 1 || HW < 1 || groups < 1 || C % groups != 0)
        return make_error(ErrorCode::InvalidArgument,
                          "group_norm: channels must be a positive multiple of the groups");
    if (HW > kMaxPlane) return make_error(ErrorCode::InvalidArgument, "group_norm: plane too large");
    const int64_t group_elems = int64_t(C / groups) * HW;
    int splits = int((group_elems + 65535) / 65536);
    splits = splits < 1 ? 1 : (splits > 64 ? 64 : splits);
    launch_kernel(group_stats_kernel, dim3(splits, groups), dim3(kThreads), 0, stream, x, group_elems, splits,
                  workspace);
    TESSERA_TRY(TESSERA_LAUNCH_CHECK("group_norm stats"));
    launch_kernel(group_apply_kernel, run_grid(C, HW), dim3(kThreads), 0, stream, x, C, int(HW), groups,
                  splits, workspace, w, b, eps, swish, y);
    return TESSERA_LAUNCH_CHECK("group_norm");
}

Status upsample_nearest2x(const bf16_t* in, int C, int H, int W, bf16_t* out, cudaStream_t stream) {
    if (C < 1 || H < 1 || W < 1)
        return make_error(ErrorCode::InvalidArgument, "upsample_nearest2x: empty input");
    if (int64_t(H) * W > kMaxPlane)
        return make_error(ErrorCode::InvalidArgument, "upsample_nearest2x: plane too large");
    launch_kernel(upsample2x_kernel, run_grid(C, int64_t(4) * H * W), dim3(kThreads), 0, stream, in, C, H, W,
                  out);
    return TESSERA_LAUNCH_CHECK("upsample_nearest2x");
}

Status softmax_rows(const float* S, int rows, int n, float scale, bf16_t* P, cudaStream_t stream) {
    if (rows < 1 || n < 1) return make_error(ErrorCode::InvalidArgument, "softmax_rows: empty input");
    launch_kernel(softmax_rows_kernel, dim3(rows), dim3(kThreads), 0, stream, S, n, scale, P);
    return TESSERA_LAUNCH_CHECK("softmax_rows");
}

Status codebook_lookup(const bf16_t* codebook, int dim, int vocab, const int32_t* codes, int n, bf16_t* z,
                       cudaStream_t stream) {
    if (dim < 1 || vocab < 1 || n < 1)
        return make_error(ErrorCode::InvalidArgument, "codebook_lookup: empty input");
    launch_kernel(codebook_lookup_kernel, dim3((n + kThreads - 1) / kThreads), dim3(kThreads), 0, stream,
                  codebook, dim, vocab, codes, n, z);
    return TESSERA_LAUNCH_CHECK("codebook_lookup");
}

}  // namespace tessera::cuda
