// CUDA errors as engine errors.
#include <cuda_runtime_api.h>

#include <string>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

Status check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return {};
    const ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Device;
    return make_error(code, std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace tessera::cuda
