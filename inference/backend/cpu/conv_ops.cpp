// Convolution-network operations for the VQ decoder (see conv_ops.h). conv2d is im2col + the shared GEMM:
// the output positions are cut into tiles of kConvTile, each thread gathers the receptive fields of its
// tile into rows of cin·kh·kw values (the order of the stored weight [cout, cin, kh, kw], so the weight
// is used in place, whatever its dtype) and multiplies them with cpu::matmul running inline on that
// thread. A full im2col of the 384×384 level would take 680 MB; a tile takes at most 2.4 MB.
#include "backend/cpu/conv_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace {

// Rows [p0, p1) of the im2col matrix: row t holds x[ci, oy+ky−pad, ox+kx−pad] (0 outside) for every
// (ci, ky, kx) in weight order.
void gather_tile(const float* x, int64_t cin, int64_t h, int64_t w, int64_t kh, int64_t kw, int pad,
                 int64_t wo, int64_t p0, int64_t p1, float* col) {
    const int64_t K = cin * kh * kw;
    for (int64_t p = p0; p < p1; ++p) {
        float* row = col + (p - p0) * K;
        const int64_t oy = p / wo, ox = p % wo;
        const int64_t x0 = ox - pad;
        const bool inner_x = x0 >= 0 && x0 + kw <= w;
        for (int64_t ci = 0; ci < cin; ++ci) {
            const float* plane = x + ci * h * w;
            for (int64_t ky = 0; ky < kh; ++ky) {
                const int64_t iy = oy + ky - pad;
                float* dst = row + (ci * kh + ky) * kw;
                if (iy < 0 || iy >= h) {
                    for (int64_t kx = 0; kx < kw; ++kx) dst[kx] = 0.0f;
                    continue;
                }
                const float* src = plane + iy * w;
                if (inner_x) {
                    for (int64_t kx = 0; kx < kw; ++kx) dst[kx] = src[x0 + kx];
                } else {
                    for (int64_t kx = 0; kx < kw; ++kx) {
                        const int64_t ix = x0 + kx;
                        dst[kx] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

}  // namespace

int64_t conv2d_scratch_floats(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int threads) {
    return int64_t(std::max(threads, 1)) * kConvTile * (cin * kh * kw + cout);
}

void conv2d(const float* x, int64_t cin, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
            int pad, float* out, float* scratch, ThreadPool& pool) {
    const int64_t cout = weight.dim(0), kh = weight.dim(2), kw = weight.dim(3);
    const int64_t ho = h + 2 * pad - kh + 1, wo = w + 2 * pad - kw + 1;
    if (ho <= 0 || wo <= 0 || cout <= 0) return;
    const int64_t P = ho * wo, K = cin * kh * kw;
    const int64_t tiles = (P + kConvTile - 1) / kConvTile;
    const int64_t per_thread = kConvTile * (K + cout);
    pool.parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
        float* col = scratch + int64_t(pool.thread_index()) * per_thread;
        float* y = col + kConvTile * K;
        for (int64_t tile = b; tile < e; ++tile) {
            const int64_t p0 = tile * kConvTile, p1 = std::min(P, p0 + kConvTile), n = p1 - p0;
            const float* rows = col;
            if (kh == 1 && kw == 1 && pad == 0) {
                // 1×1: the im2col row of a position is its channel vector (a transpose).
                for (int64_t p = p0; p < p1; ++p)
                    for (int64_t ci = 0; ci < cin; ++ci) col[(p - p0) * K + ci] = x[ci * h * w + p];
            } else {
                gather_tile(x, cin, h, w, kh, kw, pad, wo, p0, p1, col);
            }
            // Nested parallel_for calls run inline: this thread computes its whole tile.
            matmul(rows, n, K, weight, bias, y, pool);
            for (int64_t co = 0; co < cout; ++co) {
                float* dst = out + co * P + p0;
                for (int64_t t = 0; t < n; ++t) dst[t] = y[t * cout + co];
            }
        }
    });
}

void group_norm(const float* x, int64_t channels, int64_t hw, int groups, float eps, const Tensor& weight,
                const Tensor& bias, bool swish, float* y, ThreadPool& pool) {
    const int64_t cpg = channels / groups;
    pool.parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; ++g) {
            const float* xs = x + g * cpg * hw;
            const int64_t n = cpg * hw;
            // Two passes in double: a 384×384 group holds 590k values, and a one-pass f32 variance of
            // activations with a large mean would lose digits the reference keeps.
            double sum = 0.0;
            for (int64_t i = 0; i < n; ++i) sum += double(xs[i]);
            const double mean = sum / double(n);
            double sq = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                const double d = double(xs[i]) - mean;
                sq += d * d;
            }
            const float rstd = float(1.0 / std::sqrt(sq / double(n) + static_cast<double>(eps)));
            const float fmean = float(mean);
            for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c) {
                const float wc = detail::load_as_f32(weight.data, weight.dtype, c);
                const float bc = detail::load_as_f32(bias.data, bias.dtype, c);
                const float a = rstd * wc, b = bc - fmean * rstd * wc;
                const float* src = x + c * hw;
                float* dst = y + c * hw;
                if (swish) {
                    for (int64_t i = 0; i < hw; ++i) {
                        const float v = src[i] * a + b;
                        dst[i] = v / (1.0f + std::exp(-v));
                    }
                } else {
                    for (int64_t i = 0; i < hw; ++i) dst[i] = src[i] * a + b;
                }
            }
        }
    });
}

void swish_inplace(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void upsample_nearest2x(const float* x, int64_t channels, int64_t h, int64_t w, float* out,
                        ThreadPool& pool) {
    pool.parallel_for(channels * h, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t c = r / h, iy = r % h;
            const float* src = x + r * w;
            float* d0 = out + (c * 2 * h + 2 * iy) * 2 * w;
            for (int64_t ix = 0; ix < w; ++ix) d0[2 * ix] = d0[2 * ix + 1] = src[ix];
            std::memcpy(d0 + 2 * w, d0, size_t(2 * w) * sizeof(float));
        }
    });
}

}  // namespace tessera::cpu
