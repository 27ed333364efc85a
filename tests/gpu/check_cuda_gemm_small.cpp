// gemm_small_bf16 / gemm_small_swiglu_bf16 against a double-precision CPU reference on fresh random inputs:
// every epilogue (f32 / bf16 output, bias, residual in place or apart, SwiGLU), M from 1 to 64 including
// rows that do not fill an 8-row tile, odd N, K down to 8 and up to 11008, every block height and K split
// over clusters of 1–8 blocks (forced launch shapes; on GPUs without clusters the split is 1), and the real
// decode shapes at M = 32. Outputs are poisoned (NaN bytes) before each launch and a
// poisoned guard region after the output must stay untouched. Bad arguments must come back as errors.
//
// Tolerances, per element (S = Σ_k |x_k·w_k|, the scale of the f32 accumulation error):
//   f32 output:  |got − ref| ≤ 1e-4·S + 1e-6·(|bias| + |residual|)
//   bf16 output: the same plus 2⁻⁸·|ref| (one rounding to bf16, with room for a tie that flips)
//   SwiGLU:      2⁻⁸·|ref| + 1e-4·(S_gate·1.1·|u| + S_up·|silu(g)|) + 1e-6
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/device.h"
#include "backend/cuda/gemm_small.h"
#include "check_support.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

constexpr size_t kGuard = 256;  // poisoned elements after every output that must stay poisoned

// Runs f(begin, end) over [0, n) on all host cores.
template <class F>
void parallel_for(int n, F f) {
    const int threads = std::max(1, std::min<int>(int(std::thread::hardware_concurrency()), 32));
    std::vector<std::thread> pool;
    const int per = (n + threads - 1) / threads;
    for (int i = 0; i < threads; ++i) {
        const int b = i * per, e = std::min(n, b + per);
        if (b < e) pool.emplace_back([=] { f(b, e); });
    }
    for (auto& t : pool) t.join();
}

// dot[m·N + n] = Σ x[m, k]·W[n, k] in double and abs[m·N + n] = Σ |x[m, k]·W[n, k]|.
void reference(const std::vector<float>& W, const std::vector<float>& x, int M, int N, int K,
               std::vector<double>& dot, std::vector<double>& abs) {
    dot.assign(size_t(M) * N, 0.0);
    abs.assign(size_t(M) * N, 0.0);
    parallel_for(N, [&](int n0, int n1) {
        for (int n = n0; n < n1; ++n) {
            const float* w = &W[size_t(n) * K];
            for (int m = 0; m < M; ++m) {
                const float* xr = &x[size_t(m) * K];
                double s = 0, a = 0;
                for (int k = 0; k < K; ++k) {
                    const double p = double(xr[k]) * double(w[k]);
                    s += p;
                    a += std::fabs(p);
                }
                dot[size_t(m) * N + n] = s;
                abs[size_t(m) * N + n] = a;
            }
        }
    });
}

struct Errors {
    double max_abs = 0, max_rel = 0, worst = 0;  // worst: max |err| / tol
    bool finite = true;
    void add(double got, double ref, double tol) {
        if (!std::isfinite(got)) {
            finite = false;
            return;
        }
        const double e = std::fabs(got - ref);
        max_abs = std::max(max_abs, e);
        max_rel = std::max(max_rel, e / std::max(std::fabs(ref), 1e-30));
        worst = std::max(worst, e / tol);
    }
    bool ok() const { return finite && worst <= 1.0; }
};

bool guard_intact_f32(const std::vector<float>& v, size_t from) {
    for (size_t i = from; i < v.size(); ++i) {
        uint32_t b;
        std::memcpy(&b, &v[i], 4);
        if (b != 0xffffffffu) return false;
    }
    return true;
}

bool guard_intact_bf16(const std::vector<uint16_t>& v, size_t from) {
    for (size_t i = from; i < v.size(); ++i)
        if (v[i] != 0xffff) return false;
    return true;
}

// A launch shape to force: weight rows per block and blocks per cluster splitting K ({0, 0} = automatic),
// and the kernel variant (1: weights through registers, 2: through shared memory; where variant 2 does not
// fit in shared memory the launcher uses 1).
struct LaunchShape {
    int rows, splits, variant = 1;
};

std::string shape_name(const char* what, int M, int N, int K, LaunchShape ls) {
    int rows = 0, splits = 0;
    cuda::gemm_small_launch_shape(M, N, K, &rows, &splits);
    std::string launch =
        ls.rows ? "forced rows/block=" + std::to_string(ls.rows) + " k-split=" + std::to_string(ls.splits)
                : "auto rows/block=" + std::to_string(rows) + " k-split=" + std::to_string(splits);
    if (ls.variant == 2) launch = "smem-weights " + launch;
    return std::string(what) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
           " K=" + std::to_string(K) + " " + launch;
}

void report(Counter& c, const std::string& name, const Errors& e, bool status_ok, bool guard_ok,
            const char* tol) {
    const bool pass = status_ok && guard_ok && e.ok();
    std::printf("%s %-92s max_abs=%-9.3g max_rel=%-9.3g err/tol=%-7.3g tol: %s%s%s\n", pass ? "PASS" : "FAIL",
                name.c_str(), e.max_abs, e.max_rel, e.worst, tol,
                status_ok ? "" : " [launch returned an error]", guard_ok ? "" : " [wrote past the output]");
    if (!e.finite) std::printf("     non-finite output (an element not written, or NaN)\n");
    c.expect(pass, name);
}

enum class Epilogue { F32, F32Bias, F32ResidualInPlace, F32BiasResidual, Bf16, Bf16Bias, Bf16Residual };

const char* epilogue_name(Epilogue e) {
    switch (e) {
        case Epilogue::F32:
            return "f32";
        case Epilogue::F32Bias:
            return "f32+bias";
        case Epilogue::F32ResidualInPlace:
            return "f32+=residual(in place)";
        case Epilogue::F32BiasResidual:
            return "f32+bias+residual";
        case Epilogue::Bf16:
            return "bf16";
        case Epilogue::Bf16Bias:
            return "bf16+bias";
        default:
            return "bf16+residual";
    }
}

uint64_t g_seed = 1;

// One product with every forced block shape in `rgs` (0 = the launcher's choice), against one reference.
void check_product(Counter& c, int M, int N, int K, Epilogue ep, const std::vector<LaunchShape>& shapes) {
    const std::vector<float> Wf = from_bf16(to_bf16(random_floats(size_t(N) * K, g_seed++)));
    const std::vector<float> xf = from_bf16(to_bf16(random_floats(size_t(M) * K, g_seed++)));
    const std::vector<uint16_t> W = to_bf16(Wf), x = to_bf16(xf),
                                bias = to_bf16(random_floats(size_t(N), g_seed++, 4.f));
    const std::vector<float> res = random_floats(size_t(M) * N, g_seed++, 8.f);
    std::vector<double> dot, abs;
    reference(Wf, xf, M, N, K, dot, abs);

    const bool has_bias =
        ep == Epilogue::F32Bias || ep == Epilogue::F32BiasResidual || ep == Epilogue::Bf16Bias;
    const bool has_res =
        ep == Epilogue::F32ResidualInPlace || ep == Epilogue::F32BiasResidual || ep == Epilogue::Bf16Residual;
    const bool out_f32 = ep == Epilogue::F32 || ep == Epilogue::F32Bias ||
                         ep == Epilogue::F32ResidualInPlace || ep == Epilogue::F32BiasResidual;
    const bool in_place = ep == Epilogue::F32ResidualInPlace;
    const size_t MN = size_t(M) * N;

    Dev<uint16_t> dW(W), dx(x), db(bias);
    Dev<float> dres(MN), dyf(MN + kGuard);
    Dev<uint16_t> dyb(MN + kGuard);
    for (const LaunchShape& ls : shapes) {
        cuda::gemm_small_force_variant(ls.variant);
        cuda::gemm_small_force_shape(ls.rows, ls.splits);
        dyf.poison();
        dyb.poison();
        if (in_place) cudaMemcpy(dyf.p, res.data(), MN * sizeof(float), cudaMemcpyHostToDevice);
        if (has_res && !in_place) dres.upload(res);
        const float* residual = has_res ? (in_place ? dyf.p : dres.p) : nullptr;
        Status st =
            cuda::gemm_small_bf16(dW.p, dx.p, has_bias ? db.p : nullptr, residual, out_f32 ? dyf.p : nullptr,
                                  out_f32 ? nullptr : dyb.p, M, N, K, nullptr);
        const bool launch_ok = st.ok() && cudaDeviceSynchronize() == cudaSuccess;
        if (!st.ok()) std::printf("     %s\n", st.error().to_string().c_str());
        Errors e;
        bool guard = true;
        std::vector<float> got(MN);
        if (out_f32) {
            const auto h = dyf.download();
            std::copy(h.begin(), h.begin() + MN, got.begin());
            guard = guard_intact_f32(h, MN);
        } else {
            const auto h = dyb.download();
            for (size_t i = 0; i < MN; ++i) got[i] = bf16_to_f32(h[i]);
            guard = guard_intact_bf16(h, MN);
        }
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) {
                const size_t i = size_t(m) * N + n;
                const double b = has_bias ? double(bf16_to_f32(bias[n])) : 0.0,
                             r = has_res ? double(res[i]) : 0.0;
                const double ref = dot[i] + b + r;
                double tol = 1e-4 * abs[i] + 1e-6 * (std::fabs(b) + std::fabs(r)) + 1e-30;
                if (!out_f32) tol += std::ldexp(std::fabs(ref), -8);
                e.add(got[i], ref, tol);
            }
        report(c, shape_name(epilogue_name(ep), M, N, K, ls), e, launch_ok, guard,
               out_f32 ? "1e-4*sum|xw|" : "2^-8*|ref| + 1e-4*sum|xw|");
    }
    cuda::gemm_small_force_shape(0, 0);
    cuda::gemm_small_force_variant(0);
}

void check_swiglu(Counter& c, int M, int I, int K, const std::vector<LaunchShape>& shapes) {
    const int N = 2 * I;
    const std::vector<float> Wf = from_bf16(to_bf16(random_floats(size_t(N) * K, g_seed++)));
    const std::vector<float> xf = from_bf16(to_bf16(random_floats(size_t(M) * K, g_seed++)));
    const std::vector<uint16_t> W = to_bf16(Wf), x = to_bf16(xf);
    std::vector<double> dot, abs;
    reference(Wf, xf, M, N, K, dot, abs);
    const size_t MI = size_t(M) * I;
    Dev<uint16_t> dW(W), dx(x), dact(MI + kGuard);
    for (const LaunchShape& ls : shapes) {
        cuda::gemm_small_force_variant(ls.variant);
        cuda::gemm_small_force_shape(ls.rows, ls.splits);
        dact.poison();
        Status st = cuda::gemm_small_swiglu_bf16(dW.p, dx.p, dact.p, M, I, K, nullptr);
        const bool launch_ok = st.ok() && cudaDeviceSynchronize() == cudaSuccess;
        if (!st.ok()) std::printf("     %s\n", st.error().to_string().c_str());
        const auto h = dact.download();
        Errors e;
        for (int m = 0; m < M; ++m)
            for (int i = 0; i < I; ++i) {
                const size_t gi = size_t(m) * N + 2 * size_t(i), ui = gi + 1;
                const double g = dot[gi], u = dot[ui], silu = g / (1.0 + std::exp(-g));
                const double ref = silu * u;
                const double tol = std::ldexp(std::fabs(ref), -8) +
                                   1e-4 * (abs[gi] * 1.1 * std::fabs(u) + abs[ui] * std::fabs(silu)) + 1e-6;
                e.add(bf16_to_f32(h[size_t(m) * I + i]), ref, tol);
            }
        report(c, shape_name("swiglu", M, N, K, ls), e, launch_ok, guard_intact_bf16(h, MI),
               "2^-8*|ref| + 1e-4*(S_g*1.1|u| + S_u*|silu(g)|)");
    }
    cuda::gemm_small_force_shape(0, 0);
    cuda::gemm_small_force_variant(0);
}

// Two launches on the same inputs give the same bits (the partials of k groups and of the blocks of a
// cluster meet in a fixed order). N = 4096 takes a K split on Hopper.
void check_deterministic(Counter& c) {
    const int M = 33, N = 4096, K = 4096;
    const auto W = to_bf16(random_floats(size_t(N) * K, g_seed++)),
               x = to_bf16(random_floats(size_t(M) * K, g_seed++));
    Dev<uint16_t> dW(W), dx(x);
    Dev<float> y1(size_t(M) * N), y2(size_t(M) * N);
    const bool ok =
        cuda::gemm_small_bf16(dW.p, dx.p, nullptr, nullptr, y1.p, nullptr, M, N, K, nullptr).ok() &&
        cuda::gemm_small_bf16(dW.p, dx.p, nullptr, nullptr, y2.p, nullptr, M, N, K, nullptr).ok() &&
        cudaDeviceSynchronize() == cudaSuccess;
    const auto a = y1.download(), b = y2.download();
    const bool same = ok && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    std::printf("%s deterministic: two launches M=%d N=%d K=%d give identical bits\n", same ? "PASS" : "FAIL",
                M, N, K);
    c.expect(same, "deterministic");
}

void check_bad_arguments(Counter& c) {
    Dev<uint16_t> W(size_t(64) * 64 + 8), x(size_t(64) * 64 + 8), yb(size_t(65) * 64);
    Dev<float> yf(size_t(65) * 64);
    struct Bad {
        const char* what;
        Status st;
    };
    const Bad bad[] = {
        {"M=0", cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, nullptr, 0, 64, 64, nullptr)},
        {"M=65", cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, nullptr, 65, 64, 64, nullptr)},
        {"N=0", cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, nullptr, 4, 0, 64, nullptr)},
        {"K=0", cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, nullptr, 4, 64, 0, nullptr)},
        {"K=12 (not a multiple of 8)",
         cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, nullptr, 4, 64, 12, nullptr)},
        {"no output",
         cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, nullptr, nullptr, 4, 64, 64, nullptr)},
        {"two outputs", cuda::gemm_small_bf16(W.p, x.p, nullptr, nullptr, yf.p, yb.p, 4, 64, 64, nullptr)},
        {"null W", cuda::gemm_small_bf16(nullptr, x.p, nullptr, nullptr, yf.p, nullptr, 4, 64, 64, nullptr)},
        {"x not 16-byte aligned",
         cuda::gemm_small_bf16(W.p, x.p + 1, nullptr, nullptr, yf.p, nullptr, 4, 64, 64, nullptr)},
        {"W not 16-byte aligned",
         cuda::gemm_small_bf16(W.p + 4, x.p, nullptr, nullptr, yf.p, nullptr, 4, 64, 64, nullptr)},
        {"swiglu I=0", cuda::gemm_small_swiglu_bf16(W.p, x.p, yb.p, 4, 0, 64, nullptr)},
        {"swiglu M=65", cuda::gemm_small_swiglu_bf16(W.p, x.p, yb.p, 65, 32, 64, nullptr)},
        {"swiglu K=20", cuda::gemm_small_swiglu_bf16(W.p, x.p, yb.p, 4, 32, 20, nullptr)},
        {"swiglu null act", cuda::gemm_small_swiglu_bf16(W.p, x.p, nullptr, 4, 32, 64, nullptr)},
    };
    for (const Bad& b : bad) {
        const bool rejected = !b.st.ok() && b.st.error().code == ErrorCode::InvalidArgument;
        std::printf("%s bad arguments rejected with InvalidArgument: %s\n", rejected ? "PASS" : "FAIL",
                    b.what);
        c.expect(rejected, std::string("bad arguments: ") + b.what);
    }
    const bool clean = cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess;
    std::printf("%s no CUDA error left behind by the rejected calls\n", clean ? "PASS" : "FAIL");
    c.expect(clean, "bad arguments leave no CUDA error");
    const bool support = cuda::gemm_small_supported(1, 1, 8) &&
                         cuda::gemm_small_supported(64, 22016, 11008) &&
                         !cuda::gemm_small_supported(65, 64, 64) && !cuda::gemm_small_supported(8, 64, 100) &&
                         !cuda::gemm_small_supported(8, 0, 64);
    std::printf("%s gemm_small_supported: M 1..64, N >= 1, K a positive multiple of 8\n",
                support ? "PASS" : "FAIL");
    c.expect(support, "gemm_small_supported");
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    auto info = cuda::device_info(0);
    if (info.ok())
        std::printf("device: %s, sm_%d%d, %d SMs\n", info->name.c_str(), info->sm_major, info->sm_minor,
                    info->multiprocessors);
    Counter c;
    const Status prepared = cuda::gemm_small_prepare();
    std::printf("%s gemm_small_prepare%s\n", prepared.ok() ? "PASS" : "FAIL",
                prepared.ok() ? "" : (": " + prepared.error().to_string()).c_str());
    c.expect(prepared.ok(), "gemm_small_prepare");
    const std::vector<LaunchShape> all_rg = {{0, 0},      {16, 1},     {32, 1},    {64, 1}, {128, 1},
                                             {16, 2},     {64, 3},     {128, 4},   {32, 8}, {0, 0, 2},
                                             {128, 1, 2}, {128, 3, 2}, {128, 8, 2}},
                                   auto_rg = {{0, 0}, {0, 0, 2}};

    // Small and odd shapes, every block shape, each M with a rotating epilogue so all of them meet all M.
    const int Ms[] = {1, 7, 16, 17, 32, 33, 64};
    struct NK {
        int N, K;
    };
    const NK sweep[] = {{1, 8}, {77, 136}, {1000, 8}, {2056, 136}, {1000, 4096}, {2056, 11008}};
    const Epilogue eps[] = {
        Epilogue::F32,  Epilogue::F32Bias,  Epilogue::F32ResidualInPlace, Epilogue::F32BiasResidual,
        Epilogue::Bf16, Epilogue::Bf16Bias, Epilogue::Bf16Residual};
    int rot = 0;
    for (int M : Ms)
        for (const NK& s : sweep) check_product(c, M, s.N, s.K, eps[rot++ % 7], all_rg);
    // Every epilogue at one mid-size shape with every block shape.
    for (Epilogue ep : eps) check_product(c, 17, 520, 264, ep, all_rg);
    for (int M : Ms) {
        check_swiglu(c, M, 500, 136, all_rg);
        check_swiglu(c, M, 1028, 4096, auto_rg);
    }
    check_swiglu(c, 33, 4, 8, all_rg);

    // The decode shapes at M = 32 (Janus CFG pairs): Janus-Pro-7B / deepseek-llm-7b, then Janus-Pro-1B.
    struct Real {
        const char* name;
        int N, K;
        bool swiglu;
    };
    const Real real[] = {{"7B qkv", 12288, 4096, false},    {"7B o", 4096, 4096, false},
                         {"7B gate_up", 22016, 4096, true}, {"7B down", 4096, 11008, false},
                         {"1B qkv", 6144, 2048, false},     {"1B o", 2048, 2048, false},
                         {"1B gate_up", 11264, 2048, true}, {"1B down", 2048, 5632, false}};
    for (const Real& r : real) {
        std::printf("-- %s\n", r.name);
        if (r.swiglu)
            check_swiglu(c, 32, r.N / 2, r.K, auto_rg);
        else
            check_product(c, 32, r.N, r.K,
                          r.N == 4096 || r.N == 2048 ? Epilogue::F32ResidualInPlace : Epilogue::F32, auto_rg);
    }
    check_product(c, 64, 22016, 4096, Epilogue::Bf16, auto_rg);
    check_deterministic(c);
    check_bad_arguments(c);
    return c.finish();
}
