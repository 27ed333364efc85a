// CUDA errors as engine errors.
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

Status check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return {};
    const ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Device;
    return make_error(code, std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

bool pdl_enabled() {
    static const bool enabled = [] {
        if (std::getenv("TESSERA_NO_PDL")) return false;
        int device = 0, major = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
            cudaGetLastError();
            return false;
        }
        return major >= 9;
    }();
    return enabled;
}

}  // namespace tessera::cuda
