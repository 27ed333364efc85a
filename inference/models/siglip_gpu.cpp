// The CUDA-free side of the GPU vision path (see siglip_gpu.h). With the CUDA backend the functions live in
// siglip_cuda.cpp (compiled only then); without it they are defined here and say so.
#include "models/siglip_gpu.h"

namespace tessera {

#ifndef TESSERA_HAVE_CUDA

struct JanusVisionGpu {};

namespace {

Error no_cuda() {
    return make_error(ErrorCode::Unsupported, "built without the CUDA backend");
}

}  // namespace

Result<std::shared_ptr<JanusVisionGpu>> janus_vision_gpu_load(const JanusModel&, int) {
    return no_cuda();
}

Status janus_vision_gpu_embeddings(JanusVisionGpu&, const float*, float*) {
    return no_cuda();
}

Status janus_vision_gpu_features(JanusVisionGpu&, const float*, float*) {
    return no_cuda();
}

uint64_t janus_vision_gpu_bytes(const JanusModel&) {
    return 0;
}

#endif

}  // namespace tessera
