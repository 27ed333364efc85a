// Janus-Pro image understanding on the GPU behind a header with no CUDA types: the SigLIP tower and the MLP
// aligner (models.md §5.1, §7.4) with bf16 weights, f32 residual stream and f32 accumulation, giving the same
// aligned image embeddings as JanusModel::image_embeddings. Any SigLIP shape the CPU tower loads runs,
// including DeepSeek-VL2's so400m/14 (tanh GELU, head dim 72). Without the CUDA backend (TESSERA_HAVE_CUDA
// unset) loading and running report ErrorCode::Unsupported.
#pragma once

#include <cstdint>
#include <memory>

#include "models/janus.h"
#include "tessera/error.h"

namespace tessera {

// Opaque: device weights, one image's scratch and a CUDA context with its own stream. One call at a time per
// object (the scratch is shared between calls); the calls synchronise before they return.
struct JanusVisionGpu;

// Uploads model.vision() (the SigLIP tower) and the aligner weights as bf16 to `device`.
Result<std::shared_ptr<JanusVisionGpu>> janus_vision_gpu_load(const JanusModel& model, int device);
// pixels host f32 [3, S, S] (normalised, as JanusModel::image_embeddings takes them) → out host f32
// [tokens, hidden]: the aligned image embeddings (same contract as JanusModel::image_embeddings).
Status janus_vision_gpu_embeddings(JanusVisionGpu& gpu, const float* pixels, float* out);
// For checks: the tower's output after its final LayerNorm, host f32 [tokens, width].
Status janus_vision_gpu_features(JanusVisionGpu& gpu, const float* pixels, float* out);
// Device memory janus_vision_gpu_load would take (weights + scratch + the context's cuBLAS workspace); 0
// without the CUDA backend.
uint64_t janus_vision_gpu_bytes(const JanusModel& model);

}  // namespace tessera
