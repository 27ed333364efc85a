// Convolution-network operations for the VQ image decoder on the GPU (models.md §7.6): 3×3 im2col for the
// cuBLAS products that do the convolutions, bias (+ residual) to bf16, GroupNorm (+ swish) in two passes,
// nearest-neighbour upsampling, row softmax for the spatial attention, and the L2-normalised codebook
// lookup. Activations are bf16 [C, H, W] per image, as the bf16 reference computes them.
#include <cfloat>

#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return int(b > 65535 * 8 ? 65535 * 8 : (b < 1 ? 1 : b));
}

// col[(c·9 + ky·3 + kx), y·W + x] = in[c, y + ky − 1, x + kx − 1] (zero outside).
__global__ void im2col3x3_kernel(const uint16_t* in, int C, int H, int W, uint16_t* __restrict__ col) {
    pdl_trigger();
    pdl_wait();
    const int64_t HW = int64_t(H) * W, total = int64_t(C) * 9 * HW;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / HW, p = i % HW;
        const int c = int(r / 9), k = int(r % 9);
        const int y = int(p / W) + k / 3 - 1, x = int(p % W) + k % 3 - 1;
        col[i] = (y >= 0 && y < H && x >= 0 && x < W) ? in[(int64_t(c) * H + y) * W + x] : uint16_t(0);
    }
}

__global__ void bias_residual_kernel(const float* acc, const uint16_t* __restrict__ bias, int64_t HW,
                                     int64_t total, const uint16_t* residual, uint16_t* out) {
    pdl_trigger();
    pdl_wait();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        float v = acc[i] + (bias ? bf16_bits_to_f32(bias[i / HW]) : 0.f);
        if (residual) v = bf16_bits_to_f32(f32_to_bf16_bits(v)) + bf16_bits_to_f32(residual[i]);
        out[i] = f32_to_bf16_bits(v);
    }
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

// Pass 2: y = (x − mean)·rsqrt(var + eps)·w + b, then swish when asked; bf16 out.
__global__ void group_apply_kernel(const uint16_t* x, int C, int64_t HW, int groups, int splits,
                                   const float* part, const uint16_t* __restrict__ w,
                                   const uint16_t* __restrict__ b, float eps, bool swish,
                                   uint16_t* __restrict__ y) {
    pdl_trigger();
    pdl_wait();
    const int cpg = C / groups;
    const int64_t group_elems = int64_t(cpg) * HW, total = int64_t(C) * HW;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int c = int(i / HW), g = c / cpg;
        float s1 = 0.f, s2 = 0.f;
        for (int s = 0; s < splits; ++s) {
            s1 += part[(int64_t(g) * splits + s) * 2];
            s2 += part[(int64_t(g) * splits + s) * 2 + 1];
        }
        const float n = float(group_elems);
        const float mean_shifted = s1 / n;
        const float var = fmaxf(s2 / n - mean_shifted * mean_shifted, 0.f);
        const float mean = mean_shifted + bf16_bits_to_f32(x[int64_t(g) * group_elems]);
        float v = (bf16_bits_to_f32(x[i]) - mean) * rsqrtf(var + eps) * bf16_bits_to_f32(w[c]) +
                  bf16_bits_to_f32(b[c]);
        if (swish) {
            v = bf16_bits_to_f32(f32_to_bf16_bits(v));  // the reference rounds the norm's output before swish
            v = v / (1.f + __expf(-v));
        }
        y[i] = f32_to_bf16_bits(v);
    }
}

__global__ void upsample2x_kernel(const uint16_t* in, int C, int H, int W, uint16_t* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    const int64_t W2 = int64_t(W) * 2, H2 = int64_t(H) * 2, total = int64_t(C) * H2 * W2;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t c = i / (H2 * W2), p = i % (H2 * W2);
        out[i] = in[(c * H + (p / W2) / 2) * W + (p % W2) / 2];
    }
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
    launch_kernel(im2col3x3_kernel, dim3(blocks_for(int64_t(C) * 9 * H * W)), dim3(kThreads), 0, stream, in,
                  C, H, W, col);
    return TESSERA_LAUNCH_CHECK("im2col3x3");
}

Status bias_residual(const float* acc, const bf16_t* bias, int C, int64_t HW, const bf16_t* residual,
                     bf16_t* out, cudaStream_t stream) {
    const int64_t total = int64_t(C) * HW;
    if (total < 1) return make_error(ErrorCode::InvalidArgument, "bias_residual: empty input");
    launch_kernel(bias_residual_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, acc, bias, HW,
                  total, residual, out);
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
    const int64_t group_elems = int64_t(C / groups) * HW;
    int splits = int((group_elems + 65535) / 65536);
    splits = splits < 1 ? 1 : (splits > 64 ? 64 : splits);
    launch_kernel(group_stats_kernel, dim3(splits, groups), dim3(kThreads), 0, stream, x, group_elems, splits,
                  workspace);
    TESSERA_TRY(TESSERA_LAUNCH_CHECK("group_norm stats"));
    launch_kernel(group_apply_kernel, dim3(blocks_for(int64_t(C) * HW)), dim3(kThreads), 0, stream, x, C, HW,
                  groups, splits, workspace, w, b, eps, swish, y);
    return TESSERA_LAUNCH_CHECK("group_norm");
}

Status upsample_nearest2x(const bf16_t* in, int C, int H, int W, bf16_t* out, cudaStream_t stream) {
    if (C < 1 || H < 1 || W < 1)
        return make_error(ErrorCode::InvalidArgument, "upsample_nearest2x: empty input");
    launch_kernel(upsample2x_kernel, dim3(blocks_for(int64_t(C) * 4 * H * W)), dim3(kThreads), 0, stream, in,
                  C, H, W, out);
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
