// GPU benchmark of the small-M tensor-core GEMM (gemm_small_bf16 / gemm_small_swiglu_bf16) against cuBLAS
// (cuda::gemm_bf16, plus silu_mul where the product feeds SwiGLU) at the decode shapes of Janus-Pro-7B /
// deepseek-llm-7b and Janus-Pro-1B for M = 16, 32, 64 rows. Random bf16 weights are made on the GPU; enough
// copies of each matrix are cycled through that the weights come from DRAM, not L2, as they do in a decode
// step. Each figure is the mean of 50 back-to-back launches after warm-up (CUDA events), and GB/s counts
// weight bytes only, to set against the device copy bandwidth measured the same way bench_llm does. The
// sweep over launch shapes (weight rows per block × blocks per cluster splitting K) is there to tune the
// launcher's automatic choice, and smem_weights_* time variant B (weights staged through shared memory by
// cp.async in whole 128-byte lines; gemm_small_force_variant(2)); x_bytes_per_weight_byte is the x traffic
// from L2 that the automatic shape adds (every block stages all of its x). Prints JSON lines.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>
#include <vector>

#include "backend/cuda/device.h"
#include "backend/cuda/gemm_small.h"
#include "bench_common.h"

using namespace tessera;
using tessera::benchutil::measure_bandwidth;

namespace {

constexpr int kWarmup = 5;
constexpr int kReps = 50;
constexpr size_t kRotateBytes = size_t(512) << 20;  // several times the L2 cache

struct Shape {
    const char* name;
    int N, K;
    bool swiglu;    // gate_up: our fused SwiGLU vs cuBLAS + silu_mul
    bool residual;  // o / down: y += x·Wᵀ in place
};

// Mean time of one call in microseconds; call(i) runs repetition i.
template <class F>
double time_us(cudaStream_t stream, F call) {
    for (int i = 0; i < kWarmup; ++i)
        if (!call(i).ok()) return -1;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventRecord(e0, stream);
    bool ok = true;
    for (int i = 0; i < kReps; ++i) ok = call(kWarmup + i).ok() && ok;
    cudaEventRecord(e1, stream);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return ok && cudaGetLastError() == cudaSuccess ? double(ms) * 1e3 / kReps : -1;
}

void bench(cuda::CudaContext& ctx, const Shape& s, int M) {
    const cudaStream_t st = ctx.stream();
    const size_t w_elems = size_t(s.N) * s.K, w_bytes = w_elems * 2;
    const int copies = int((kRotateBytes + w_bytes - 1) / w_bytes);
    auto W = cuda::DeviceBuffer::allocate(w_bytes * size_t(copies), "bench weights");
    auto x = cuda::DeviceBuffer::allocate(size_t(M) * s.K * 2, "bench x");
    auto y = cuda::DeviceBuffer::allocate(size_t(M) * s.N * 4, "bench y");
    auto act = cuda::DeviceBuffer::allocate(size_t(M) * s.N * 2, "bench act");
    if (!W.ok() || !x.ok() || !y.ok() || !act.ok()) {
        std::printf("{\"shape\":\"%s\",\"M\":%d,\"error\":\"allocation\"}\n", s.name, M);
        return;
    }
    (void)cuda::fill_random_bf16(W->as<uint16_t>(), int64_t(w_elems) * copies, 11, 0.05f, 0.f, st);
    (void)cuda::fill_random_bf16(x->as<uint16_t>(), int64_t(M) * s.K, 12, 1.f, 0.f, st);
    cudaMemsetAsync(y->data(), 0, size_t(M) * s.N * 4, st);
    auto weights = [&](int i) { return W->as<uint16_t>() + size_t(i % copies) * w_elems; };
    const uint16_t* xs = x->as<uint16_t>();
    float* yf = y->as<float>();
    uint16_t* ab = act->as<uint16_t>();
    const int I = s.N / 2;

    auto ours = [&](int i) {
        if (s.swiglu) return cuda::gemm_small_swiglu_bf16(weights(i), xs, ab, M, I, s.K, st);
        return cuda::gemm_small_bf16(weights(i), xs, nullptr, s.residual ? yf : nullptr, yf, nullptr, M, s.N,
                                     s.K, st);
    };
    auto cublas = [&](int i) {
        return cuda::gemm_bf16(ctx, weights(i), xs, yf, true, M, s.N, s.K, 1.f, s.residual ? 1.f : 0.f);
    };
    auto cublas_silu = [&](int i) -> Status {
        TESSERA_TRY(cuda::gemm_bf16(ctx, weights(i), xs, yf, true, M, s.N, s.K));
        return cuda::silu_mul(yf, M, I, ab, st);
    };

    cuda::gemm_small_force_shape(0, 0);
    int auto_rows = 0, auto_splits = 0;
    cuda::gemm_small_launch_shape(M, s.N, s.K, &auto_rows, &auto_splits);
    const double ours_us = time_us(st, ours);
    std::string sweep;
    double best_us = ours_us;
    char best[32] = "auto";
    for (int rows : {16, 32, 64, 128})
        for (int splits : {1, 2, 4, 8}) {
            if (splits > (s.K + 255) / 256) continue;
            cuda::gemm_small_force_shape(rows, splits);
            const double us = time_us(st, ours);
            char item[64];
            std::snprintf(item, sizeof item, "%s\"%dx%d\":%.2f", sweep.empty() ? "" : ",", rows, splits, us);
            sweep += item;
            if (us > 0 && us < best_us) {
                best_us = us;
                std::snprintf(best, sizeof best, "%dx%d", rows, splits);
            }
        }
    cuda::gemm_small_force_shape(0, 0);
    // Variant B: weights through shared memory (128 rows per block), automatic split and each split.
    cuda::gemm_small_force_variant(2);
    int b_rows = 0, b_splits = 0;
    cuda::gemm_small_launch_shape(M, s.N, s.K, &b_rows, &b_splits);
    const double smem_us = time_us(st, ours);
    std::string smem_sweep;
    for (int splits : {1, 2, 4, 8}) {
        if (splits > (s.K + 255) / 256) continue;
        cuda::gemm_small_force_shape(128, splits);
        const double us = time_us(st, ours);
        char item[64];
        std::snprintf(item, sizeof item, "%s\"%d\":%.2f", smem_sweep.empty() ? "" : ",", splits, us);
        smem_sweep += item;
    }
    cuda::gemm_small_force_shape(0, 0);
    cuda::gemm_small_force_variant(0);
    const double cublas_us = time_us(st, cublas);
    const double gbs = double(w_bytes) / 1e3;  // GB/s = bytes / µs / 1e3
    std::printf(
        "{\"shape\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,\"epilogue\":\"%s\",\"ours_us\":%.2f,\"cublas_us\":%."
        "2f,"
        "\"ours_gbs\":%.0f,\"cublas_gbs\":%.0f,\"speedup\":%.2f,\"auto_shape\":\"%dx%d\","
        "\"x_bytes_per_weight_byte\":%.2f,\"ours_us_by_rows_x_splits\":{%s},\"best_shape\":\"%s\","
        "\"best_gbs\":%.0f",
        s.name, M, s.N, s.K, s.swiglu ? "swiglu" : (s.residual ? "f32+=residual" : "f32"), ours_us, cublas_us,
        gbs / ours_us, gbs / cublas_us, cublas_us / ours_us, auto_rows, auto_splits,
        double(8 * ((M + 7) / 8)) / auto_rows, sweep.c_str(), best, gbs / best_us);
    std::printf(
        ",\"smem_weights_us\":%.2f,\"smem_weights_gbs\":%.0f,\"smem_weights_shape\":\"%dx%d\","
        "\"smem_weights_us_by_splits\":{%s}",
        smem_us, gbs / smem_us, b_rows, b_splits, smem_sweep.c_str());
    if (s.swiglu) {
        const double silu_us = time_us(st, cublas_silu);
        std::printf(",\"cublas_silu_mul_us\":%.2f,\"speedup_vs_cublas_silu_mul\":%.2f", silu_us,
                    silu_us / ours_us);
    }
    std::printf("}\n");
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (cuda::device_count() == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    const std::string only = argc > 1 ? argv[1] : "";
    auto ctx = cuda::CudaContext::create(0);
    auto info = cuda::device_info(0);
    if (!ctx.ok() || !info.ok()) return 1;
    const double bw = measure_bandwidth();
    std::printf(
        "{\"device\":\"%s\",\"sms\":%d,\"copy_bandwidth_gbs\":%.0f,\"note\":\"GB/s = weight bytes / time; "
        "shapes are rows-per-block x blocks-per-cluster splitting K; best_shape auto = the launcher's own "
        "choice was fastest\"}\n",
        info->name.c_str(), info->multiprocessors, bw);
    const Shape shapes[] = {
        {"7b_qkv", 12288, 4096, false, false},    {"7b_o", 4096, 4096, false, true},
        {"7b_gate_up", 22016, 4096, true, false}, {"7b_down", 4096, 11008, false, true},
        {"1b_qkv", 6144, 2048, false, false},     {"1b_o", 2048, 2048, false, true},
        {"1b_gate_up", 11264, 2048, true, false}, {"1b_down", 2048, 5632, false, true},
    };
    for (int M : {16, 32, 64})
        for (const Shape& s : shapes)
            if (only.empty() || only == s.name) bench(**ctx, s, M);
    return 0;
}
