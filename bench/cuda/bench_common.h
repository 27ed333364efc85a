// Shared by the GPU benchmarks: the device copy bandwidth they set their floors against.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

namespace tessera::benchutil {

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Device-to-device copy bandwidth, counting bytes read plus bytes written (GB/s): median of 6 copies of
// 4 GiB after 2 warm-up copies.
inline double measure_bandwidth() {
    const size_t bytes = size_t(4) << 30;
    void *a = nullptr, *b = nullptr;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<double> t;
    for (int i = 0; i < 8; ++i) {
        cudaEventRecord(e0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 2) t.push_back(double(ms));
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a);
    cudaFree(b);
    return 2.0 * double(bytes) / (median(t) * 1e-3) / 1e9;
}

}  // namespace tessera::benchutil
