// Speed of the fused causal prefill attention (attention_prefill_flash) alone at full prefill shapes:
// one layer's heads over T = 512 and 2048 tokens from position 0, random bf16 inputs made on the host. FLOPs
// count the causal half (4·hd per query-key pair). Prints JSON lines; correctness is
// tests/gpu/check_cuda_prefill_attention.cpp.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/attention_prefill.h"
#include "backend/cuda/device.h"
#include "bench_common.h"

using namespace tessera;

namespace {

std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<uint16_t> v(n);
    for (auto& x : v) {
        const float f = u(rng);
        uint32_t bits = 0;
        std::memcpy(&bits, &f, 4);
        x = uint16_t(bits >> 16);
    }
    return v;
}

void bench_shape(const char* label, int nh, int nkv, int hd, int T) {
    const size_t nq = size_t(T) * nh * hd, cache = size_t(nkv) * T * hd;
    void *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr;
    if (cudaMalloc(&q, nq * 2) != cudaSuccess || cudaMalloc(&k, cache * 2) != cudaSuccess ||
        cudaMalloc(&v, cache * 2) != cudaSuccess || cudaMalloc(&out, nq * 2) != cudaSuccess) {
        std::printf("{\"shape\":\"%s\",\"error\":\"out of device memory\"}\n", label);
        return;
    }
    const auto hq = random_bf16(nq, 1), hk = random_bf16(cache, 2), hv = random_bf16(cache, 3);
    cudaMemcpy(q, hq.data(), nq * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(k, hk.data(), cache * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(v, hv.data(), cache * 2, cudaMemcpyHostToDevice);
    const float scale = 1.f / std::sqrt(float(hd));
    auto run = [&] {
        return cuda::attention_prefill_flash(static_cast<const uint16_t*>(q), static_cast<const uint16_t*>(k),
                                             static_cast<const uint16_t*>(v), 0, T, 0, nh, nkv, hd, T, scale,
                                             static_cast<uint16_t*>(out), nullptr);
    };
    Status st;
    for (int i = 0; i < 3 && st.ok(); ++i) st = run();
    if (!st.ok()) {
        std::printf("{\"shape\":\"%s\",\"error\":\"%s\"}\n", label, st.error().to_string().c_str());
    } else {
        std::vector<double> ms;
        cudaEvent_t a, b;
        cudaEventCreate(&a);
        cudaEventCreate(&b);
        for (int i = 0; i < 20; ++i) {
            cudaEventRecord(a);
            (void)run();
            cudaEventRecord(b);
            cudaEventSynchronize(b);
            float t = 0;
            cudaEventElapsedTime(&t, a, b);
            ms.push_back(double(t));
        }
        cudaEventDestroy(a);
        cudaEventDestroy(b);
        const double m = benchutil::median(ms);
        const double flops = 4.0 * nh * hd * (double(T) * (T + 1) / 2);
        std::printf(
            "{\"shape\":\"%s\",\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"tokens\":%d,\"ms\":%.4f,"
            "\"tflops\":%.1f}\n",
            label, nh, nkv, hd, T, m, flops / (m * 1e-3) / 1e12);
    }
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(out);
}

}  // namespace

int main() {
    if (cuda::device_count() == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    for (int T : {512, 2048}) {
        bench_shape("deepseek-llm-7b", 32, 32, 128, T);
        bench_shape("r1-distill-qwen-1.5b", 12, 2, 128, T);
        bench_shape("r1-distill-qwen-7b", 28, 4, 128, T);
        bench_shape("hd64-mha", 32, 32, 64, T);
    }
    return 0;
}
