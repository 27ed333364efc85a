// The VQ-16 image decoder (models.md §7.6) on the GPU: the weights of a loaded VqDecoder uploaded as bf16,
// convolutions as cuBLAS products over 3×3 im2col tiles, GroupNorm/swish, nearest upsampling and the
// spatial attention as our own kernels. Images are decoded one after another through buffers sized once
// for the largest grid, so memory does not grow with the batch.
#pragma once

#include <cstdint>
#include <memory>

#include "models/vq_decoder.h"
#include "tessera/error.h"

namespace tessera {

class CudaVqDecoder {
public:
    // Device memory for the weights plus the working buffers of one max_grid_h × max_grid_w grid.
    static uint64_t memory_bytes(const VqDecoder& cpu, int max_grid_h, int max_grid_w);
    static Result<std::unique_ptr<CudaVqDecoder>> create(const VqDecoder& cpu, int device, int max_grid_h, int max_grid_w);
    ~CudaVqDecoder();

    // codes [count, grid_h·grid_w] (host, raster order) -> out (host) f32 [count, 3, grid_h·f, grid_w·f],
    // f = the decoder's upsampling factor, in model range (about [-1, 1]).
    Status decode(const int32_t* codes, int count, int grid_h, int grid_w, float* out);
    double last_seconds() const;

    struct Impl;

private:
    explicit CudaVqDecoder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace tessera
