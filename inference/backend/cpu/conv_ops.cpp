// Convolution-network operations for the VQ decoder (see conv_ops.h). conv2d is im2col + the shared GEMM:
// the output positions are cut into tiles of kConvTile, each thread gathers the receptive fields of its
// tile into rows of cin·kh·kw values (in (ky, kx, ci) order; the weight is reordered to match, as f32,
// once per call) and multiplies them with cpu::matmul running inline on that
// thread. A full im2col of the 384×384 level would take 680 MB; a tile takes at most 4.7 MB. The input
// is first copied channels-last with the zero padding in place, so each im2col row is kh plain copies
// (the gather took a fifth of the decoder's time when it was done element by element from NCHW).
#include "backend/cpu/conv_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

int64_t conv2d_scratch_floats(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t h, int64_t w,
                              int64_t pad, int threads) {
    const int64_t K = cin * kh * kw;
    return cout * K + (h + 2 * pad) * (w + 2 * pad) * cin +
           int64_t(std::max(threads, 1)) * kConvTile * (K + cout);
}

void conv2d(const float* x, int64_t cin, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
            int pad, float* out, float* scratch, ThreadPool& pool) {
    const int64_t cout = weight.dim(0), kh = weight.dim(2), kw = weight.dim(3);
    const int64_t ho = h + 2 * pad - kh + 1, wo = w + 2 * pad - kw + 1;
    if (ho <= 0 || wo <= 0 || cout <= 0) return;
    const int64_t P = ho * wo, K = cin * kh * kw, hp = h + 2 * pad, wp = w + 2 * pad;
    const bool has_bias = !bias.empty();

    // The weight in (ky, kx, ci) order as f32, so that an im2col row is kh runs of kw·cin values that lie
    // together in the channels-last input. Reordering costs cout·K, the conv cout·K·P.
    float* wr = scratch;
    pool.parallel_for(cout, 4, [&](int64_t c0, int64_t c1) {
        for (int64_t co = c0; co < c1; ++co)
            for (int64_t ci = 0; ci < cin; ++ci)
                for (int64_t k = 0; k < kh * kw; ++k)
                    wr[co * K + k * cin + ci] =
                        detail::load_as_f32(weight.data, weight.dtype, (co * cin + ci) * kh * kw + k);
    });
    // The input channels-last with its zero border: xp[hp, wp, cin]. Written in blocks of 8 columns so the
    // strided side of the transpose stays within a few cache lines.
    float* xp = wr + cout * K;
    pool.parallel_for(hp, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t iy = r - pad;
            float* prow = xp + r * wp * cin;
            if (iy < 0 || iy >= h) {
                std::memset(prow, 0, size_t(wp * cin) * sizeof(float));
                continue;
            }
            std::memset(prow, 0, size_t(pad * cin) * sizeof(float));
            std::memset(prow + (pad + w) * cin, 0, size_t(pad * cin) * sizeof(float));
            for (int64_t x0 = 0; x0 < w; x0 += 8) {
                const int64_t x1 = std::min(w, x0 + 8);
                for (int64_t ci = 0; ci < cin; ++ci) {
                    const float* src = x + (ci * h + iy) * w;
                    float* dst = prow + pad * cin + ci;
                    for (int64_t ix = x0; ix < x1; ++ix) dst[ix * cin] = src[ix];
                }
            }
        }
    });

    const int64_t per_thread = kConvTile * (K + cout);
    const int64_t tiles = (P + kConvTile - 1) / kConvTile;
    const int64_t run = kw * cin;
    pool.parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
        float* col = xp + hp * wp * cin + int64_t(pool.thread_index()) * per_thread;
        float* y = col + kConvTile * K;
        for (int64_t tile = b; tile < e; ++tile) {
            const int64_t p0 = tile * kConvTile, p1 = std::min(P, p0 + kConvTile), n = p1 - p0;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t oy = p / wo, ox = p % wo;
                float* row = col + (p - p0) * K;
                for (int64_t ky = 0; ky < kh; ++ky)
                    std::memcpy(row + ky * run, xp + ((oy + ky) * wp + ox) * cin,
                                size_t(run) * sizeof(float));
            }
            // y[cout, n] = weight · colᵀ: each output channel's row is then one contiguous run of the output
            // (nested parallel_for calls run inline: this thread computes its whole tile).
            matmul(wr, cout, K, Tensor{DType::F32, Shape{n, K}, DeviceKind::Cpu, col}, Tensor{}, y, pool);
            for (int64_t co = 0; co < cout; ++co) {
                const float b0 = has_bias ? detail::load_as_f32(bias.data, bias.dtype, co) : 0.0f;
                const float* src = y + co * n;
                float* dst = out + co * P + p0;
                for (int64_t t = 0; t < n; ++t) dst[t] = src[t] + b0;
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
