// GGUF block-quantized weights on the GPU (backend/cuda/gemv_quant.h) against the CPU dequantize_row:
// gemv_quant with every epilogue for Q4_0, Q8_0, Q4_K, Q5_K and Q6_K at several batch sizes and shapes
// (odd row counts, rows that are not 16-byte multiples, padded row strides), dequantize_bf16 bit for bit,
// the prefill path (dequantize_bf16 + cuBLAS), argument errors. (Its speed: bench/cuda/bench_gemv_quant.cpp.)
// Blocks are random bytes with the f16 scales replaced by finite, small ones, so every bit pattern of the
// packed quants and 6-bit scales occurs. Device outputs are poisoned (0xFF bytes: NaN) before each call.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "backend/cuda/device.h"
#include "backend/cuda/gemv_quant.h"
#include "check_support.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

const QuantType kTypes[] = {QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K, QuantType::Q5_K,
                            QuantType::Q6_K};

std::string name(QuantType t) {
    return std::string(quant_name(t));
}

void put_f16(uint8_t* p, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// N rows of row_bytes, each holding K/block_size random blocks (padding bytes random too). The f16 scales
// get magnitudes that keep every weight within a few units.
std::vector<uint8_t> random_blocks(QuantType type, int N, int K, size_t row_bytes, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> w(size_t(N) * row_bytes);
    for (auto& b : w) b = uint8_t(rng());
    std::uniform_real_distribution<float> mag(0.5f, 1.5f);
    auto sign = [&] { return (rng() & 1) ? -1.f : 1.f; };
    const QuantTraits tr = quant_traits(type);
    for (int n = 0; n < N; ++n)
        for (int64_t b = 0; b < K / tr.block_size; ++b) {
            uint8_t* blk = w.data() + size_t(n) * row_bytes + size_t(b * tr.block_bytes);
            switch (type) {
                case QuantType::Q4_0:
                    put_f16(blk, sign() * mag(rng) * 0.125f);
                    break;
                case QuantType::Q8_0:
                    put_f16(blk, sign() * mag(rng) / 128.f);
                    break;
                case QuantType::Q4_K:
                case QuantType::Q5_K:  // d·sc·q − dmin·m with sc, m < 64 and q < 32
                    put_f16(blk, mag(rng) / 1024.f);
                    put_f16(blk + 2, mag(rng) / 1024.f);
                    break;
                default:
                    put_f16(blk + 208, sign() * mag(rng) / 4096.f);
                    break;  // Q6_K: int8 scale · (q − 32)
            }
        }
    return w;
}

struct Shape {
    int N, K;
    size_t pad;  // extra bytes per row beyond the blocks (row_bytes > quant_row_bytes)
};

struct Ref {
    std::vector<double> y;    // [B, N] exact Σ x·w
    std::vector<double> abs;  // [B, N] Σ |x·w|: the scale the f32 accumulation error is measured against
};

Ref reference(const std::vector<float>& wf, const std::vector<float>& xf, int B, int N, int K) {
    Ref r{std::vector<double>(size_t(B) * N), std::vector<double>(size_t(B) * N)};
    for (int b = 0; b < B; ++b)
        for (int n = 0; n < N; ++n) {
            const float* w = wf.data() + size_t(n) * K;
            const float* x = xf.data() + size_t(b) * K;
            double s = 0, a = 0;
            for (int k = 0; k < K; ++k) {
                const double p = double(w[k]) * double(x[k]);
                s += p;
                a += std::fabs(p);
            }
            r.y[size_t(b) * N + n] = s;
            r.abs[size_t(b) * N + n] = a;
        }
    return r;
}

// f32 accumulation of a few hundred products per lane and a warp tree: well under 1e-5 of Σ|x·w|; a wrong
// block, nibble or scale gives errors of order 1.
constexpr double kTolF32 = 2e-5;
constexpr double kBf16Ulp = 1.0 / 256;  // bf16 output: one rounding, at most 2⁻⁹ of |y|, allowed 2⁻⁸

// One (type, B, N, K) case with the four epilogues: plain f32, + bias, + bias + residual in place (y aliases
// residual), + bias to bf16. Prints one line with the worst error of each and returns pass/fail.
bool check_case(Counter& c, QuantType type, const Dev<uint8_t>& dW, size_t row_bytes,
                const std::vector<float>& wf, int B, int N, int K, uint64_t seed) {
    auto x = to_bf16(random_floats(size_t(B) * K, seed));
    auto bias = to_bf16(random_floats(size_t(N), seed + 1));
    auto res = random_floats(size_t(B) * N, seed + 2, 4.f);
    const Ref ref = reference(wf, from_bf16(x), B, N, K);
    Dev<uint16_t> dx(x), db(bias), dyb(size_t(B) * N);
    Dev<float> dy(size_t(B) * N), dres(res);

    const char* names[4] = {"plain", "bias", "bias+res", "bias->bf16"};
    double worst_ratio[4] = {0, 0, 0, 0}, worst_abs[4] = {0, 0, 0, 0};
    bool ok = true;
    std::string errors;
    for (int v = 0; v < 4; ++v) {
        const bool use_bias = v >= 1, use_res = v == 2, to_bf16_out = v == 3;
        dy.poison();
        dyb.poison();
        dres.upload(res);
        float* yf = to_bf16_out ? nullptr : (use_res ? dres.p : dy.p);
        Status st =
            cuda::gemv_quant(type, dW.p, row_bytes, dx.p, use_bias ? db.p : nullptr,
                             use_res ? dres.p : nullptr, yf, to_bf16_out ? dyb.p : nullptr, B, N, K, nullptr);
        const cudaError_t sync = cudaDeviceSynchronize();
        if (!st.ok() || sync != cudaSuccess) {
            ok = false;
            errors += std::string(" ") + names[v] + ": " +
                      (st.ok() ? cudaGetErrorString(sync) : st.error().to_string());
            continue;
        }
        std::vector<float> got =
            to_bf16_out ? from_bf16(dyb.download()) : (use_res ? dres.download() : dy.download());
        for (size_t i = 0; i < got.size(); ++i) {
            const int n = int(i % size_t(N));
            double want = ref.y[i], scale = ref.abs[i];
            if (use_bias) {
                const double bn = bf16_to_f32(bias[size_t(n)]);
                want += bn;
                scale += std::fabs(bn);
            }
            if (use_res) {
                want += double(res[i]);
                scale += std::fabs(double(res[i]));
            }
            const double allowed = kTolF32 * scale + (to_bf16_out ? kBf16Ulp * std::fabs(want) : 0.0) + 1e-30;
            const double err = std::isfinite(got[i]) ? std::fabs(double(got[i]) - want) : double(INFINITY);
            worst_abs[v] = std::max(worst_abs[v], err);
            worst_ratio[v] = std::max(worst_ratio[v], err / allowed);
        }
        if (!(worst_ratio[v] <= 1.0)) ok = false;
    }
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s gemv_quant %-4s B=%d N=%-4d K=%-4d row_bytes=%zu: max abs err plain %.2e, bias %.2e, "
                  "bias+res %.2e, "
                  "bf16 %.2e; worst err/allowed %.3f",
                  ok ? "PASS" : "FAIL", name(type).c_str(), B, N, K, row_bytes, worst_abs[0], worst_abs[1],
                  worst_abs[2], worst_abs[3],
                  std::max({worst_ratio[0], worst_ratio[1], worst_ratio[2], worst_ratio[3]}));
    std::printf("%s%s\n", line, errors.c_str());
    c.expect(ok, name(type) + " gemv_quant B=" + std::to_string(B) + " N=" + std::to_string(N) +
                     " K=" + std::to_string(K));
    return ok;
}

void check_type(Counter& c, QuantType type) {
    std::vector<int> Ks = {256, 512, 4864, 3584};
    if (quant_traits(type).block_size == 32) Ks.insert(Ks.end(), {32 * 7, 32 * 37});  // K = 32·odd
    const int Ns[] = {1, 37, 4096};
    uint64_t seed = 1000 * uint64_t(type);
    for (int K : Ks)
        for (int N : Ns) {
            // Padded strides on the middle size: the kernels must use row_bytes, not the blocks' size.
            const size_t pad = N == 37 ? 6 : 0;
            const size_t row_bytes = *quant_row_bytes(type, K) + pad;
            const auto w = random_blocks(type, N, K, row_bytes, seed++);
            std::vector<float> wf(size_t(N) * K);
            for (int n = 0; n < N; ++n)
                if (!cpu::dequantize_row(type, w.data() + size_t(n) * row_bytes, wf.data() + size_t(n) * K, K)
                         .ok()) {
                    c.expect(false, "cpu::dequantize_row " + name(type));
                    return;
                }
            Dev<uint8_t> dW(w);

            // dequantize_bf16: every value f32_to_bf16 of dequantize_row's, bit for bit.
            Dev<uint16_t> dout(size_t(N) * K);
            Status st = cuda::dequantize_bf16(type, dW.p, row_bytes, N, K, dout.p, nullptr);
            const cudaError_t sync = cudaDeviceSynchronize();
            size_t mismatches = 0, first = SIZE_MAX;
            if (st.ok() && sync == cudaSuccess) {
                const auto got = dout.download();
                for (size_t i = 0; i < got.size(); ++i)
                    if (got[i] != f32_to_bf16(wf[i])) {
                        ++mismatches;
                        first = std::min(first, i);
                    }
            }
            const bool dq_ok = st.ok() && sync == cudaSuccess && mismatches == 0;
            std::printf(
                "%s dequantize_bf16 %-4s N=%-4d K=%-4d row_bytes=%zu: %zu of %zu values differ from "
                "bf16(dequantize_row)",
                dq_ok ? "PASS" : "FAIL", name(type).c_str(), N, K, row_bytes, mismatches, size_t(N) * K);
            if (first != SIZE_MAX)
                std::printf(" (first at row %zu col %zu)", first / size_t(K), first % size_t(K));
            if (!st.ok()) std::printf(" %s", st.error().to_string().c_str());
            std::printf("\n");
            c.expect(dq_ok,
                     "dequantize_bf16 " + name(type) + " N=" + std::to_string(N) + " K=" + std::to_string(K));

            for (int B : {1, 3, 8}) check_case(c, type, dW, row_bytes, wf, B, N, K, seed++ * 7919);
            // The one-row-per-warp kernel that TESSERA_QUANT_RPW=1 selects at B = 1.
            setenv("TESSERA_QUANT_RPW", "1", 1);
            std::printf("  (TESSERA_QUANT_RPW=1) ");
            check_case(c, type, dW, row_bytes, wf, 1, N, K, seed++ * 7919);
            unsetenv("TESSERA_QUANT_RPW");
        }
}

// The prefill path as the model will run it: dequantize_bf16 into scratch, then the bf16 GEMM.
void check_prefill(Counter& c, cuda::CudaContext& ctx) {
    const int M = 37, N = 301, K = 3584;
    for (QuantType type : kTypes) {
        const size_t row_bytes = *quant_row_bytes(type, K);
        const auto w = random_blocks(type, N, K, row_bytes, 77 + uint64_t(type));
        std::vector<float> wf(size_t(N) * K);
        for (int n = 0; n < N; ++n)
            (void)cpu::dequantize_row(type, w.data() + size_t(n) * row_bytes, wf.data() + size_t(n) * K, K);
        // The GEMM sees bf16 weights, so the reference does too.
        for (auto& v : wf) v = round_bf16(v);
        auto x = to_bf16(random_floats(size_t(M) * K, 99));
        const Ref ref = reference(wf, from_bf16(x), M, N, K);
        Dev<uint8_t> dW(w);
        Dev<uint16_t> dx(x), scratch(size_t(N) * K);
        Dev<float> dy(size_t(M) * N);
        Status st = cuda::dequantize_bf16(type, dW.p, row_bytes, N, K, scratch.p, ctx.stream());
        if (st.ok()) st = cuda::gemm_bf16(ctx, scratch.p, dx.p, dy.p, true, M, N, K);
        if (st.ok()) st = ctx.synchronize();
        double worst = 0;
        if (st.ok()) {
            const auto got = dy.download();
            for (size_t i = 0; i < got.size(); ++i) {
                const double err =
                    std::isfinite(got[i]) ? std::fabs(double(got[i]) - ref.y[i]) : double(INFINITY);
                // cuBLAS's blocked f32 accumulation order is its own: a looser bound than the GEMV's, still
                // far below what a misplaced row or block gives.
                worst = std::max(worst, err / (1e-4 * ref.abs[i] + 1e-30));
            }
        }
        const bool ok = st.ok() && worst <= 1.0;
        std::printf("%s prefill dequantize_bf16+gemm_bf16 %-4s M=%d N=%d K=%d: worst err/allowed %.3f%s\n",
                    ok ? "PASS" : "FAIL", name(type).c_str(), M, N, K, worst,
                    st.ok() ? "" : (" " + st.error().to_string()).c_str());
        c.expect(ok, "prefill " + name(type));
    }
}

void check_errors(Counter& c) {
    Dev<uint8_t> dW(size_t(64) * 210);
    Dev<uint16_t> dx(size_t(8) * 256);
    Dev<float> dy(64);
    c.expect(!cuda::gpu_quant_supported(QuantType::Q4_1) && !cuda::gpu_quant_supported(QuantType::F16),
             "gpu_quant_supported is false for Q4_1 and F16");
    for (QuantType t : kTypes) c.expect(cuda::gpu_quant_supported(t), "gpu_quant_supported " + name(t));
    const auto expect_error = [&](Status st, const char* what) {
        const bool ok = !st.ok() && st.error().code == ErrorCode::InvalidArgument;
        std::printf("%s argument check: %s -> %s\n", ok ? "PASS" : "FAIL", what,
                    st.ok() ? "accepted" : st.error().to_string().c_str());
        c.expect(ok, std::string("argument check: ") + what);
    };
    expect_error(cuda::gemv_quant(QuantType::Q4_1, dW.p, 20 * 8, dx.p, nullptr, nullptr, dy.p, nullptr, 1, 4,
                                  256, nullptr),
                 "unsupported type Q4_1");
    expect_error(cuda::gemv_quant(QuantType::Q6_K, dW.p + 2, 210, dx.p, nullptr, nullptr, dy.p, nullptr, 1, 4,
                                  256, nullptr),
                 "W not 16-byte aligned");
    expect_error(cuda::gemv_quant(QuantType::Q4_K, dW.p, 144, dx.p, nullptr, nullptr, dy.p, nullptr, 1, 4,
                                  300, nullptr),
                 "K not a multiple of 256");
    expect_error(cuda::gemv_quant(QuantType::Q4_K, dW.p, 100, dx.p, nullptr, nullptr, dy.p, nullptr, 1, 4,
                                  256, nullptr),
                 "row_bytes smaller than a row");
    expect_error(cuda::gemv_quant(QuantType::Q8_0, dW.p, 34 * 8, dx.p, nullptr, nullptr, dy.p, nullptr, 9, 4,
                                  256, nullptr),
                 "B = 9");
    expect_error(cuda::gemv_quant(QuantType::Q8_0, dW.p, 34 * 8, dx.p + 1, nullptr, nullptr, dy.p, nullptr, 1,
                                  4, 256, nullptr),
                 "x not 16-byte aligned");
    expect_error(cuda::dequantize_bf16(QuantType::Q4_0, dW.p, 18 * 8, 4, 256, dx.p + 1, nullptr),
                 "dequantize out not aligned");
}

// ldy > N: separate q/k/v matrices write their columns of one [B, q + k + v] buffer. Columns outside
// [col0, col0 + N) must keep their poison; the written ones must equal a plain (ldy = N) call's output.
void check_ldy(Counter& c) {
    const QuantType type = QuantType::Q6_K;
    const int B = 3, N = 37, K = 512, ldy = 101, col0 = 40;
    const size_t row_bytes = *quant_row_bytes(type, K);
    Dev<uint8_t> dW(random_blocks(type, N, K, row_bytes, 4242));
    Dev<uint16_t> dx(to_bf16(random_floats(size_t(B) * K, 4243)));
    Dev<float> wide(size_t(B) * ldy), plain(size_t(B) * N);
    Status st = cuda::gemv_quant(type, dW.p, row_bytes, dx.p, nullptr, nullptr, wide.p + col0, nullptr, B, N,
                                 K, nullptr, ldy);
    if (st.ok())
        st = cuda::gemv_quant(type, dW.p, row_bytes, dx.p, nullptr, nullptr, plain.p, nullptr, B, N, K,
                              nullptr);
    cudaDeviceSynchronize();
    const auto w = wide.download(), p = plain.download();
    size_t wrong = 0, touched = 0;
    for (int b = 0; b < B; ++b)
        for (int j = 0; j < ldy; ++j) {
            const float v = w[size_t(b) * ldy + size_t(j)];
            if (j >= col0 && j < col0 + N)
                wrong += !(v == p[size_t(b) * N + size_t(j - col0)]);
            else
                touched += !std::isnan(v);
        }
    const bool ok = st.ok() && wrong == 0 && touched == 0;
    std::printf(
        "%s gemv_quant ldy: Q6_K B=%d N=%d K=%d into columns [%d, %d) of rows of %d: %zu wrong, %zu written "
        "outside%s\n",
        ok ? "PASS" : "FAIL", B, N, K, col0, col0 + N, ldy, wrong, touched,
        st.ok() ? "" : (" " + st.error().to_string()).c_str());
    c.expect(ok, "gemv_quant ldy");
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    auto ctx = cuda::CudaContext::create(0);
    if (!ctx.ok()) {
        std::printf("%s\n", ctx.error().to_string().c_str());
        return 1;
    }
    std::printf(
        "gemv_quant vs double Σ x·dequantize_row(W) (no activation rounding). allowed error per output: "
        "%.0e·(Σ|x·w| + |bias| + |residual|), plus 2^-8·|y| for bf16 output\n",
        kTolF32);
    Counter c;
    check_errors(c);
    check_ldy(c);
    for (QuantType type : kTypes) check_type(c, type);
    check_prefill(c, **ctx);
    return c.finish();
}
