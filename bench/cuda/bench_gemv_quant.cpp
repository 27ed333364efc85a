// Speed of the block-quantized decode product (gemv_quant) at the R1-Distill-Qwen-7B decode shapes (gate/up
// rows of K = 3584, down rows of K = 18944, k/v's 512 rows), batch 1, with two weight rows per warp (the
// default) and one (TESSERA_QUANT_RPW=1), against the device copy bandwidth. Prints JSON lines; correctness
// is tests/gpu/check_cuda_quant.cpp.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/quant.h"
#include "backend/cuda/device.h"
#include "backend/cuda/gemv_quant.h"
#include "bench_common.h"

using namespace tessera;

namespace {

void bench_type(QuantType type, bool one_row, double copy_gbs) {
    const std::string tname(quant_name(type));
    if (one_row) setenv("TESSERA_QUANT_RPW", "1", 1);
    for (const auto& [N, K] : {std::pair{18944, 3584}, std::pair{3584, 18944}, std::pair{512, 3584}}) {
        const size_t row_bytes = size_t(quant_row_bytes(type, K).value_or(0));
        void *w = nullptr, *x = nullptr, *y = nullptr;
        if (row_bytes == 0 || cudaMalloc(&w, size_t(N) * row_bytes) != cudaSuccess ||
            cudaMalloc(&x, size_t(K) * 2) != cudaSuccess || cudaMalloc(&y, size_t(N) * 4) != cudaSuccess)
            break;
        cudaMemset(w, 0x11, size_t(N) * row_bytes);  // small finite f16 scales (0x1111)
        cudaMemset(x, 0x3f, size_t(K) * 2);          // bf16 0x3f3f ≈ 0.75
        auto run = [&] {
            return cuda::gemv_quant(type, w, row_bytes, static_cast<const uint16_t*>(x), nullptr, nullptr,
                                    static_cast<float*>(y), nullptr, 1, N, K, nullptr);
        };
        Status st;
        for (int i = 0; i < 3 && st.ok(); ++i) st = run();
        if (st.ok()) {
            cudaEvent_t a, b;
            cudaEventCreate(&a);
            cudaEventCreate(&b);
            const int reps = 50;
            cudaEventRecord(a);
            for (int i = 0; i < reps; ++i) (void)run();
            cudaEventRecord(b);
            cudaEventSynchronize(b);
            float ms = 0;
            cudaEventElapsedTime(&ms, a, b);
            cudaEventDestroy(a);
            cudaEventDestroy(b);
            const double us = 1000.0 * double(ms) / reps, gbs = double(N) * row_bytes / (us * 1e3);
            std::printf(
                "{\"type\":\"%s\",\"N\":%d,\"K\":%d,\"rows_per_warp\":%d,\"us\":%.2f,\"weight_gbs\":%.0f,"
                "\"share_of_copy\":%.3f}\n",
                tname.c_str(), N, K, one_row ? 1 : 2, us, gbs, copy_gbs > 0 ? gbs / copy_gbs : 0.0);
        } else {
            std::printf("{\"type\":\"%s\",\"error\":\"%s\"}\n", tname.c_str(),
                        st.error().to_string().c_str());
        }
        cudaFree(w);
        cudaFree(x);
        cudaFree(y);
    }
    unsetenv("TESSERA_QUANT_RPW");
}

}  // namespace

int main() {
    if (cuda::device_count() == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    const double copy_gbs = benchutil::measure_bandwidth();
    std::printf("{\"copy_bandwidth_gbs\":%.0f}\n", copy_gbs);
    for (QuantType type :
         {QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K})
        for (bool one_row : {false, true}) bench_type(type, one_row, copy_gbs);
    return 0;
}
