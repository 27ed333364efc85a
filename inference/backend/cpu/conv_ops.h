// CPU convolution-network operations on NCHW activations (one image at a time, f32), used by the VQ-16
// image decoder of Janus (models.md §7.6): 2-D convolution with stride 1 and zero padding, GroupNorm
// (§1.3), swish (§1.4) and nearest-neighbour upsampling by two. Weights may be f32, bf16 or f16.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace tessera::cpu {

// Output positions handled per im2col tile (a tile's columns are built once and swept by the GEMM).
constexpr int64_t kConvTile = 256;

// Floats of scratch conv2d needs for this weight, input size, padding and pool: the reordered f32 weight,
// the padded channels-last input, and per thread one im2col tile and one output tile.
int64_t conv2d_scratch_floats(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t h, int64_t w,
                              int64_t pad, int threads);

// out[cout, ho, wo] = conv(x[cin, h, w], weight[cout, cin, kh, kw]) + bias[cout], stride 1, zero padding
// `pad` on every side: ho = h + 2·pad − kh + 1, wo likewise. bias may be empty. The output positions are
// split into tiles over the pool; each thread gathers its tile's im2col rows [tile, cin·kh·kw] and
// multiplies them with the weight (cpu::matmul). out must not alias x. scratch: at least
// conv2d_scratch_floats(...) floats.
void conv2d(const float* x, int64_t cin, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
            int pad, float* out, float* scratch, ThreadPool& pool);

// GroupNorm over x[channels, hw]: per group of channels/groups consecutive channels, mean and (biased)
// variance over all its values, y = (x − mean)/sqrt(var + eps)·weight[c] + bias[c]; then swish (x·σ(x))
// when `swish`. weight/bias: [channels], any float dtype. y may alias x. channels % groups must be 0.
void group_norm(const float* x, int64_t channels, int64_t hw, int groups, float eps, const Tensor& weight,
                const Tensor& bias, bool swish, float* y, ThreadPool& pool);

// x = x·σ(x) in place.
void swish_inplace(float* x, int64_t n);

// out[c, 2h, 2w]: every input pixel repeated into a 2×2 block (nearest, scale factor 2).
void upsample_nearest2x(const float* x, int64_t channels, int64_t h, int64_t w, float* out, ThreadPool& pool);

}  // namespace tessera::cpu
