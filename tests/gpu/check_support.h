// Minimal harness for the GPU checks: plain executables (the GPU machine has no Qt) that count checks,
// print "N passed, N failed" and exit non-zero on failure, or 77 (skipped) without a CUDA device.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tessera::gpucheck {

// CTest's SKIP_RETURN_CODE for the GPU checks (tests/CMakeLists.txt).
constexpr int kSkipped = 77;

// The start of every GPU check: false, after saying so, on a machine without a CUDA device (the check then
// returns kSkipped); otherwise stdout becomes line-buffered, so a check stopped by its timeout still shows
// how far it got, and the GEMM tuner keeps no cache (every check tunes afresh and leaves no file behind).
inline bool gpu_check_start() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        std::printf("no CUDA device: skipped\n");
        return false;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    setenv("TESSERA_GEMM_TUNE_CACHE", "", 1);
    return true;
}

// A device array for a check, poisoned (0xFF bytes: NaN for f32 and bf16) when allocated, so a kernel that
// skips an element fails; uploads and downloads whole.
template <class T>
struct Dev {
    T* p = nullptr;
    size_t n = 0;
    explicit Dev(size_t count) : n(count) {
        if (cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(count, 1) * sizeof(T)) != cudaSuccess)
            p = nullptr;
        poison();
    }
    explicit Dev(const std::vector<T>& host) : Dev(host.size()) { upload(host); }
    ~Dev() { cudaFree(p); }
    Dev(const Dev&) = delete;
    Dev& operator=(const Dev&) = delete;
    void poison() { cudaMemset(p, 0xff, std::max<size_t>(n, 1) * sizeof(T)); }
    void upload(const std::vector<T>& host) {
        cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice);
    }
    std::vector<T> download() const {
        std::vector<T> h(n);
        cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
        return h;
    }
};

struct Counter {
    int passed = 0, failed = 0;
    void expect(bool ok, const std::string& what, const std::string& detail = {}) {
        if (ok) {
            ++passed;
        } else {
            ++failed;
            std::printf("FAIL %s %s\n", what.c_str(), detail.c_str());
        }
    }
    int finish() const {
        std::printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
    }
};

inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.f) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
    return out;
}

inline std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(v[i]);
    return out;
}

// max |a - b| / max |b|
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        scale = std::fmax(scale, std::fabs(double(b[i])));
        diff = std::fmax(diff, std::fabs(double(a[i]) - double(b[i])));
    }
    return diff / scale;
}

inline std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

}  // namespace tessera::gpucheck
