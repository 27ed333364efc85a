// Every CUDA operation against the CPU backend on fresh random inputs, at several sizes including odd
// ones; device outputs are poisoned (NaN bytes) before each launch so a kernel that skips an element fails.
#include <cuda_runtime_api.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "backend/cpu/conv_ops.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/device.h"
#include "backend/cuda/gemm_lt.h"
#include "check_support.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

Tensor host_bf16(std::vector<uint16_t>& data, Shape shape) {
    Tensor t;
    t.dtype = DType::BF16;
    t.shape = shape;
    t.data = data.data();
    return t;
}

void check_gemv(Counter& c, ThreadPool& pool) {
    struct Case {
        int B, N, K;
        bool bias, residual, out_f32;
    };
    const Case cases[] = {{1, 1, 8, false, false, true},
                          {1, 7, 24, true, false, true},
                          {2, 33, 72, false, true, true},
                          {3, 129, 100, true, false, false},
                          {5, 1000, 1536, false, false, true},
                          {8, 257, 4096, true, true, true},
                          {4, 4096, 4096, false, false, false},
                          {1, 11008, 4096, false, true, true},
                          {6, 96, 8960, false, false, true},
                          // Batch 1–2 rows whose lane share is a whole number of equal rounds of 3, 5, 6
                          // or 7 loads at some warps per row (exact_unroll in gemv.cu).
                          {1, 1536, 1536, true, true, true},
                          {2, 300, 768, false, false, false},
                          {1, 200, 8960, false, true, true},
                          {2, 64, 1280, true, false, true}};
    uint64_t seed = 1;
    // Every case with one, two and four warps per row (the launcher picks by N; forced here).
    for (const char* wpr : {"1", "2", "4"})
        for (const Case& k : cases) {
            setenv("TESSERA_GEMV_WPR", wpr, 1);
            auto W = to_bf16(random_floats(size_t(k.N) * k.K, seed++));
            auto x = to_bf16(random_floats(size_t(k.B) * k.K, seed++));
            auto bias = to_bf16(random_floats(size_t(k.N), seed++));
            auto res = random_floats(size_t(k.B) * k.N, seed++);
            Dev<uint16_t> dW(W), dx(x), db(bias);
            Dev<float> dres(res), dyf(size_t(k.B) * k.N);
            Dev<uint16_t> dyb(size_t(k.B) * k.N);
            float* yf = k.out_f32 ? (k.residual ? dres.p : dyf.p) : nullptr;
            Status st = cuda::gemv_bf16(dW.p, dx.p, k.bias ? db.p : nullptr, k.residual ? dres.p : nullptr,
                                        yf, k.out_f32 ? nullptr : dyb.p, k.B, k.N, k.K, nullptr);
            cudaDeviceSynchronize();
            std::vector<float> got =
                k.out_f32 ? (k.residual ? dres.download() : dyf.download()) : from_bf16(dyb.download());
            std::vector<float> xf = from_bf16(x), ref(size_t(k.B) * k.N);
            Tensor tb = k.bias ? host_bf16(bias, {k.N}) : Tensor{};
            cpu::matmul(xf.data(), k.B, k.K, host_bf16(W, {k.N, k.K}), tb, ref.data(), pool);
            if (k.residual)
                for (size_t i = 0; i < ref.size(); ++i) ref[i] += res[i];
            const double err = rel_error(got, ref), tol = k.out_f32 ? 1e-4 : 8e-3;
            c.expect(st.ok() && err <= tol,
                     "gemv_bf16 B=" + std::to_string(k.B) + " N=" + std::to_string(k.N) +
                         " K=" + std::to_string(k.K) + " warps/row " + wpr,
                     "rel err " + fmt(err));
        }
    unsetenv("TESSERA_GEMV_WPR");
}

// The q/k/v product with RoPE and the cache write in its epilogue, against the CPU product, bias and
// rotation.
void check_qkv_rope(Counter& c, ThreadPool& pool) {
    struct Case {
        int B, nh, nkv, hd, K;
    };
    const Case cases[] = {{1, 12, 2, 128, 1536},
                          {3, 4, 4, 8, 24},
                          {8, 28, 4, 128, 256},
                          {2, 6, 1, 24, 40},
                          {5, 32, 32, 128, 4096}};
    uint64_t seed = 900;
    for (const char* wpr : {"1", "2", "4"})
        for (const Case& k : cases) {
            setenv("TESSERA_GEMV_WPR", wpr, 1);
            const int max_seq = 300, slots = k.B + 1, QKV = (k.nh + 2 * k.nkv) * k.hd;
            auto W = to_bf16(random_floats(size_t(QKV) * k.K, seed++));
            auto x = to_bf16(random_floats(size_t(k.B) * k.K, seed++));
            auto bias = to_bf16(random_floats(size_t(QKV), seed++, 0.5f));
            std::vector<int32_t> pos(size_t(k.B)), slot(size_t(k.B));
            for (int b = 0; b < k.B; ++b) {
                pos[size_t(b)] = (b * 97 + 3) % max_seq;
                slot[size_t(b)] = k.B - b;  // slots need not follow batch order; slot 0 stays untouched
            }
            std::vector<float> inv(size_t(k.hd / 2));
            for (int i = 0; i < k.hd / 2; ++i)
                inv[size_t(i)] = 1.0f / std::pow(10000.f, float(2 * i) / float(k.hd));
            Dev<uint16_t> dW(W), dx(x), db(bias), dq(size_t(k.B) * k.nh * k.hd);
            Dev<float> dinv(inv);
            Dev<int32_t> dpos(pos), dslot(slot);
            const size_t cache = size_t(slots) * max_seq * k.nkv * k.hd;
            Dev<uint16_t> dk(cache), dv(cache);
            Status st = cuda::gemv_qkv_rope_bf16(dW.p, dx.p, db.p, dpos.p, dslot.p, dinv.p, k.B, k.nh, k.nkv,
                                                 k.hd, k.K, max_seq, dq.p, dk.p, dv.p, nullptr);
            cudaDeviceSynchronize();
            std::vector<float> xf = from_bf16(x), y(size_t(k.B) * QKV);
            Tensor tb = host_bf16(bias, {QKV});
            cpu::matmul(xf.data(), k.B, k.K, host_bf16(W, {QKV, k.K}), tb, y.data(), pool);
            std::vector<float> q(size_t(k.B) * k.nh * k.hd), kk(size_t(k.B) * k.nkv * k.hd), vv(kk.size());
            for (int b = 0; b < k.B; ++b) {
                const float* row = y.data() + size_t(b) * QKV;
                std::copy_n(row, k.nh * k.hd, q.begin() + long(size_t(b) * k.nh * k.hd));
                std::copy_n(row + k.nh * k.hd, k.nkv * k.hd, kk.begin() + long(size_t(b) * k.nkv * k.hd));
                std::copy_n(row + (k.nh + k.nkv) * k.hd, k.nkv * k.hd,
                            vv.begin() + long(size_t(b) * k.nkv * k.hd));
            }
            cpu::rope_rotate_half(q.data(), k.B, k.nh, k.hd, pos.data(), inv.data());
            cpu::rope_rotate_half(kk.data(), k.B, k.nkv, k.hd, pos.data(), inv.data());
            auto kc = from_bf16(dk.download()), vc = from_bf16(dv.download());
            std::vector<float> gk(kk.size()), gv(vv.size());
            for (int b = 0; b < k.B; ++b)
                for (int h = 0; h < k.nkv; ++h) {
                    const size_t off =
                        ((size_t(slot[size_t(b)]) * k.nkv + h) * max_seq + size_t(pos[size_t(b)])) * k.hd;
                    const long dst = long((size_t(b) * k.nkv + h) * k.hd);
                    std::copy_n(kc.begin() + long(off), k.hd, gk.begin() + dst);
                    std::copy_n(vc.begin() + long(off), k.hd, gv.begin() + dst);
                }
            const double eq = rel_error(from_bf16(dq.download()), q), ek = rel_error(gk, kk),
                         ev = rel_error(gv, vv);
            c.expect(st.ok() && eq <= 2e-2 && ek <= 2e-2 && ev <= 8e-3,
                     "gemv_qkv_rope B=" + std::to_string(k.B) + " nh=" + std::to_string(k.nh) +
                         " nkv=" + std::to_string(k.nkv) + " hd=" + std::to_string(k.hd) +
                         " K=" + std::to_string(k.K) + " warps/row " + wpr,
                     "q " + fmt(eq) + " k " + fmt(ek) + " v " + fmt(ev));
        }
    unsetenv("TESSERA_GEMV_WPR");
}

void check_swiglu(Counter& c, ThreadPool& pool) {
    struct Case {
        int B, I, K;
    };
    // Batch 1–2 at the 1.5B's K = 1536 (six 16-byte words a lane, a round of four and two single loads).
    const Case cases[] = {{1, 5, 8},  {2, 96, 72},     {1, 11008, 4096}, {8, 300, 1536},
                          {3, 7, 20}, {1, 8960, 1536}, {2, 50, 768}};
    uint64_t seed = 50;
    for (const Case& k : cases) {
        auto W = to_bf16(random_floats(size_t(2) * k.I * k.K, seed++));
        auto x = to_bf16(random_floats(size_t(k.B) * k.K, seed++));
        Dev<uint16_t> dW(W), dx(x), dact(size_t(k.B) * k.I);
        Status st = cuda::gemv_swiglu_bf16(dW.p, dx.p, dact.p, k.B, k.I, k.K, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> xf = from_bf16(x), gu(size_t(k.B) * 2 * k.I), ref(size_t(k.B) * k.I);
        cpu::matmul(xf.data(), k.B, k.K, host_bf16(W, {2 * k.I, k.K}), Tensor{}, gu.data(), pool);
        // Interleaved layout: gate row i at 2i, up row i at 2i + 1.
        for (int b = 0; b < k.B; ++b)
            for (int i = 0; i < k.I; ++i) {
                const float g = gu[size_t(b) * 2 * k.I + 2 * size_t(i)],
                            u = gu[size_t(b) * 2 * k.I + 2 * size_t(i) + 1];
                cpu::silu_mul(&g, &u, 1, &ref[size_t(b) * k.I + size_t(i)]);
            }
        const double err = rel_error(from_bf16(dact.download()), ref);
        c.expect(st.ok() && err <= 1e-2,
                 "gemv_swiglu_bf16 B=" + std::to_string(k.B) + " I=" + std::to_string(k.I) +
                     " K=" + std::to_string(k.K),
                 "rel err " + fmt(err));
    }
}

void check_gemm(Counter& c, ThreadPool& pool, cuda::CudaContext& ctx) {
    struct Case {
        int M, N, K;
    };
    // The last two: decode-step shapes (Janus-Pro's 32 guidance rows).
    const Case cases[] = {{17, 65, 72},   {1, 3, 8},        {64, 256, 1536},
                          {33, 1000, 96}, {32, 4096, 4096}, {32, 1536, 8960}};
    uint64_t seed = 100;
    for (const Case& k : cases) {
        auto W = to_bf16(random_floats(size_t(k.N) * k.K, seed++));
        auto x = to_bf16(random_floats(size_t(k.M) * k.K, seed++));
        auto y0 = random_floats(size_t(k.M) * k.N, seed++);
        Dev<uint16_t> dW(W), dx(x);
        Dev<float> dy(y0);
        // beta = 1 is the fused residual add of o_proj/down_proj.
        Status st = cuda::gemm_bf16(ctx, dW.p, dx.p, dy.p, true, k.M, k.N, k.K, 1.f, 1.f);
        (void)ctx.synchronize();
        std::vector<float> xf = from_bf16(x), ref(size_t(k.M) * k.N);
        cpu::matmul(xf.data(), k.M, k.K, host_bf16(W, {k.N, k.K}), Tensor{}, ref.data(), pool);
        for (size_t i = 0; i < ref.size(); ++i) ref[i] += y0[i];
        const double err = rel_error(dy.download(), ref);
        c.expect(
            st.ok() && err <= 1e-4,
            "gemm_bf16 M=" + std::to_string(k.M) + " N=" + std::to_string(k.N) + " K=" + std::to_string(k.K),
            "rel err " + fmt(err));
    }
}

// The decode-batch products go through cuBLASLt with a timed choice among candidates (gemm_lt.h): each
// candidate must compute the product (with and without the residual, f32 and bf16 output), and a shape first
// met inside a graph capture must be tuned afterwards and give the same product from the recaptured graph.
void check_gemm_tuned(Counter& c, ThreadPool& pool, cuda::CudaContext& ctx) {
    struct Case {
        int M, N, K;
        bool f32, beta;
    };
    const Case cases[] = {{48, 4096, 4096, true, true},
                          {32, 2048, 4096, false, false},
                          {9, 1000, 264, true, false},
                          {64, 768, 2048, true, true}};
    uint64_t seed = 300;
    for (const Case& k : cases) {
        const std::string name = "gemm_lt M=" + std::to_string(k.M) + " N=" + std::to_string(k.N) +
                                 " K=" + std::to_string(k.K) + (k.f32 ? " f32" : " bf16") +
                                 (k.beta ? " +=" : "");
        auto W = to_bf16(random_floats(size_t(k.N) * k.K, seed++));
        auto x = to_bf16(random_floats(size_t(k.M) * k.K, seed++));
        auto y0 = random_floats(size_t(k.M) * k.N, seed++);
        std::vector<float> xf = from_bf16(x), ref(size_t(k.M) * k.N);
        cpu::matmul(xf.data(), k.M, k.K, host_bf16(W, {k.N, k.K}), Tensor{}, ref.data(), pool);
        if (k.beta)
            for (size_t i = 0; i < ref.size(); ++i) ref[i] += y0[i];
        Dev<uint16_t> dW(W), dx(x);
        Dev<float> dy32(y0);
        Dev<uint16_t> dy16(std::vector<uint16_t>(ref.size(), 0xffff));  // NaN: the product must overwrite it
        void* y = k.f32 ? static_cast<void*>(dy32.p) : static_cast<void*>(dy16.p);
        auto result = [&] { return k.f32 ? dy32.download() : from_bf16(dy16.download()); };
        auto reset = [&] {
            dy32.upload(y0);
            dy16.upload(std::vector<uint16_t>(ref.size(), 0xffff));
            cudaDeviceSynchronize();  // the uploads ran on the legacy stream, the products run on ctx's
        };
        const double tol = k.f32 ? 1e-4 : 1e-2;
        auto count = ctx.lt().candidate_count(ctx, k.M, k.N, k.K, k.f32, k.beta);
        c.expect(count.ok() && count.value() >= 1, name + " candidates",
                 count.ok() ? std::to_string(count.value()) : count.error().message);
        const int n = count.ok() ? count.value() : 0;
        for (int i = 0; i < n; ++i) {
            reset();
            Status st =
                ctx.lt().gemm_candidate(ctx, i, dW.p, dx.p, y, k.f32, k.M, k.N, k.K, 1.f, k.beta ? 1.f : 0.f);
            if (st.ok()) st = ctx.synchronize();
            const double err = st.ok() ? rel_error(result(), ref) : 1.0;
            c.expect(st.ok() && err <= tol, name + " candidate " + std::to_string(i),
                     st.ok() ? "rel err " + fmt(err) : st.error().message);
        }
        // Met first inside a capture: the heuristic's choice is captured, the shape tuned after, then the
        // recaptured graph runs the tuned choice.
        reset();
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        Status st =
            cuda::check(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeThreadLocal), "capture");
        if (st.ok()) {
            const Status run =
                cuda::gemm_bf16(ctx, dW.p, dx.p, y, k.f32, k.M, k.N, k.K, 1.f, k.beta ? 1.f : 0.f);
            st = cuda::check(cudaStreamEndCapture(ctx.stream(), &graph), "end capture");
            if (st.ok()) st = run;
        }
        auto retuned = ctx.tune_pending_gemms();
        c.expect(st.ok() && retuned.ok() && retuned.value(), name + " tuned after capture",
                 retuned.ok() ? "" : retuned.error().message);
        if (graph) {
            cudaGraphDestroy(graph);
            graph = nullptr;
        }
        if (st.ok())
            st = cuda::check(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeThreadLocal),
                             "capture");
        if (st.ok()) {
            const Status run =
                cuda::gemm_bf16(ctx, dW.p, dx.p, y, k.f32, k.M, k.N, k.K, 1.f, k.beta ? 1.f : 0.f);
            st = cuda::check(cudaStreamEndCapture(ctx.stream(), &graph), "end capture");
            if (st.ok()) st = run;
        }
        if (st.ok()) st = cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
        if (st.ok()) st = cuda::check(cudaGraphLaunch(exec, ctx.stream()), "launch");
        if (st.ok()) st = ctx.synchronize();
        const double err = st.ok() ? rel_error(result(), ref) : 1.0;
        c.expect(st.ok() && err <= tol, name + " from the recaptured graph",
                 st.ok() ? "rel err " + fmt(err) : st.error().message);
        auto again = ctx.tune_pending_gemms();
        c.expect(again.ok() && !again.value(), name + " tuned once", "");
        if (exec) cudaGraphExecDestroy(exec);
        if (graph) cudaGraphDestroy(graph);
    }

    // The choice persists: a second tuner on the same cache file takes it without timing, and ignores lines
    // it cannot use (another device, a malformed line, a choice out of range).
    const std::string cache = (std::filesystem::temp_directory_path() /
                               ("tessera-gemm-tuning-" + std::to_string(::getpid()) + ".tsv"))
                                  .string();
    {
        std::ofstream junk(cache);
        junk << "Some Other GPU\t1\t32 512 1024 1 0\t3\t2\nnot a cache line\n";
    }
    const int M = 32, N = 512, K = 1024;
    Dev<uint16_t> dW(to_bf16(random_floats(size_t(N) * K, seed++))),
        dx(to_bf16(random_floats(size_t(M) * K, seed++)));
    Dev<float> dy(size_t(M) * N);
    cuda::LtGemms first, second;
    Status st = first.init(cache);
    if (st.ok()) st = first.gemm(ctx, dW.p, dx.p, dy.p, true, M, N, K, 1.f, 0.f);
    if (st.ok()) st = ctx.synchronize();
    const int chosen = first.chosen(M, N, K, true, false);
    if (st.ok()) st = second.init(cache);
    auto count = second.candidate_count(ctx, M, N, K, true, false);  // builds the plan, reads the cache
    c.expect(st.ok() && chosen >= 0 && count.ok() && second.chosen(M, N, K, true, false) == chosen,
             "gemm_lt tuning cache",
             "chosen " + std::to_string(chosen) + ", from the cache " +
                 std::to_string(second.chosen(M, N, K, true, false)));
    c.expect(second.chosen(M, N, K + 8, true, false) == -1, "gemm_lt tuning cache: other shapes untuned");
    std::filesystem::remove(cache);
}

// RMSNorm as the GPU computes it (models.md §1.1 with the bf16 roundings), on the host.
std::vector<float> rms_norm_bf16(const std::vector<float>& x, const std::vector<uint16_t>& w, int B, int K,
                                 float eps) {
    std::vector<float> y(x.size());
    for (int b = 0; b < B; ++b) {
        double ss = 0;
        for (int k = 0; k < K; ++k) ss += double(x[size_t(b) * K + k]) * double(x[size_t(b) * K + k]);
        const float scale = 1.f / std::sqrt(float(ss / K) + eps);
        for (int k = 0; k < K; ++k)
            y[size_t(b) * K + k] =
                round_bf16(round_bf16(x[size_t(b) * K + k] * scale) * bf16_to_f32(w[size_t(k)]));
    }
    return y;
}

// The RMSNorm done by the product after it (GemvNormIn): a residual product leaves its sums of squares, then
// gate/up + SwiGLU and q/k/v + RoPE normalise the new h themselves. Against the host norm of the GPU's own h
// (so the check isolates the fused norm from the product's rounding), at one, two and four warps per row.
void check_norm_in(Counter& c, ThreadPool& pool) {
    struct Case {
        int B, H, Kp, I, nh, nkv, hd;
    };
    const Case cases[] = {{1, 4096, 4096, 11008, 32, 32, 128},
                          {1, 1536, 8960, 8960, 12, 2, 128},
                          {3, 136, 40, 96, 4, 2, 34},
                          {6, 3584, 512, 200, 28, 4, 128},
                          {8, 1000, 24, 64, 10, 5, 100}};
    uint64_t seed = 1300;
    const float eps = 1e-6f;
    for (const char* wpr : {"1", "2", "4"})
        for (const Case& k : cases) {
            setenv("TESSERA_GEMV_WPR", wpr, 1);
            const std::string name = "B=" + std::to_string(k.B) + " H=" + std::to_string(k.H) +
                                     " K=" + std::to_string(k.Kp) + " warps/row " + wpr;
            const int nparts = cuda::gemv_sq_partials_count(k.H);
            auto Wo = to_bf16(random_floats(size_t(k.H) * k.Kp, seed++));
            auto x = to_bf16(random_floats(size_t(k.B) * k.Kp, seed++));
            std::vector<float> nwf = random_floats(size_t(k.H), seed++, 0.5f);
            for (float& v : nwf) v += 1.f;
            auto nw = to_bf16(nwf);
            Dev<uint16_t> dWo(Wo), dx(x), dnw(nw);
            Dev<float> dh(random_floats(size_t(k.B) * k.H, seed++, 2.f)), dsq(size_t(k.B) * nparts);
            Status st =
                cuda::gemv_bf16(dWo.p, dx.p, nullptr, dh.p, dh.p, nullptr, k.B, k.H, k.Kp, nullptr, dsq.p);
            cudaDeviceSynchronize();
            const std::vector<float> gh = dh.download(), sq = dsq.download();
            double err_sq = 0;
            for (int b = 0; b < k.B; ++b) {
                double want = 0, got = 0;
                for (int i = 0; i < k.H; ++i)
                    want += double(gh[size_t(b) * k.H + size_t(i)]) * double(gh[size_t(b) * k.H + size_t(i)]);
                for (int i = 0; i < nparts; ++i) got += double(sq[size_t(b) * nparts + size_t(i)]);
                err_sq = std::max(err_sq, std::abs(got - want) / want);
            }
            c.expect(st.ok() && err_sq <= 1e-5, "gemv_bf16 sums of squares " + name,
                     "rel err " + fmt(err_sq));
            const std::vector<float> xn = rms_norm_bf16(gh, nw, k.B, k.H, eps);
            const cuda::GemvNormIn norm{dh.p, dsq.p, nparts, dnw.p, eps};
            if (!cuda::gemv_norm_in_supported(k.B, k.H)) {
                Dev<uint16_t> dact(size_t(k.B) * k.I);
                Status e = cuda::gemv_swiglu_bf16(dWo.p, nullptr, dact.p, k.B, k.I, k.H, nullptr, &norm);
                c.expect(!e.ok() && e.error().to_string().find("fused norm") != std::string::npos,
                         "gemv_swiglu_bf16 refuses a fused norm that does not fit " + name,
                         e.error().to_string());
                continue;
            }
            {  // gate/up + SwiGLU
                auto W = to_bf16(random_floats(size_t(2) * k.I * k.H, seed++));
                Dev<uint16_t> dW(W), dact(size_t(k.B) * k.I);
                Status s2 = cuda::gemv_swiglu_bf16(dW.p, nullptr, dact.p, k.B, k.I, k.H, nullptr, &norm);
                cudaDeviceSynchronize();
                std::vector<float> gu(size_t(k.B) * 2 * k.I), ref(size_t(k.B) * k.I);
                cpu::matmul(xn.data(), k.B, k.H, host_bf16(W, {2 * k.I, k.H}), Tensor{}, gu.data(), pool);
                for (int b = 0; b < k.B; ++b)
                    for (int i = 0; i < k.I; ++i)
                        cpu::silu_mul(&gu[size_t(b) * 2 * k.I + 2 * size_t(i)],
                                      &gu[size_t(b) * 2 * k.I + 2 * size_t(i) + 1], 1,
                                      &ref[size_t(b) * k.I + size_t(i)]);
                const double err = rel_error(from_bf16(dact.download()), ref);
                c.expect(s2.ok() && err <= 1.2e-2, "gemv_swiglu_bf16 with fused norm " + name,
                         "rel err " + fmt(err));
            }
            {  // q/k/v + RoPE: the fused norm against the same kernel fed the host's normalised rows
                const int QKV = (k.nh + 2 * k.nkv) * k.hd, max_seq = 64;
                auto W = to_bf16(random_floats(size_t(QKV) * k.H, seed++));
                std::vector<int32_t> pos(size_t(k.B)), slot(size_t(k.B));
                for (int b = 0; b < k.B; ++b) {
                    pos[size_t(b)] = (b * 13 + 5) % max_seq;
                    slot[size_t(b)] = b;
                }
                std::vector<float> inv(size_t(k.hd / 2));
                for (int i = 0; i < k.hd / 2; ++i)
                    inv[size_t(i)] = 1.0f / std::pow(10000.f, float(2 * i) / float(k.hd));
                Dev<uint16_t> dW(W), dxn(to_bf16(xn));
                Dev<float> dinv(inv);
                Dev<int32_t> dpos(pos), dslot(slot);
                const size_t cache = size_t(k.B) * max_seq * k.nkv * k.hd, nq = size_t(k.B) * k.nh * k.hd;
                Dev<uint16_t> q1(nq), q2(nq), k1(cache), k2(cache), v1(cache), v2(cache);
                for (auto* d : {&k1, &k2, &v1, &v2}) cudaMemset(d->p, 0, cache * 2);
                Status s3 =
                    cuda::gemv_qkv_rope_bf16(dW.p, nullptr, nullptr, dpos.p, dslot.p, dinv.p, k.B, k.nh,
                                             k.nkv, k.hd, k.H, max_seq, q1.p, k1.p, v1.p, nullptr, &norm);
                Status s4 = cuda::gemv_qkv_rope_bf16(dW.p, dxn.p, nullptr, dpos.p, dslot.p, dinv.p, k.B, k.nh,
                                                     k.nkv, k.hd, k.H, max_seq, q2.p, k2.p, v2.p, nullptr);
                cudaDeviceSynchronize();
                const double eq = rel_error(from_bf16(q1.download()), from_bf16(q2.download())),
                             ek = rel_error(from_bf16(k1.download()), from_bf16(k2.download())),
                             ev = rel_error(from_bf16(v1.download()), from_bf16(v2.download()));
                c.expect(s3.ok() && s4.ok() && eq <= 8e-3 && ek <= 8e-3 && ev <= 8e-3,
                         "gemv_qkv_rope_bf16 with fused norm " + name,
                         "q " + fmt(eq) + " k " + fmt(ek) + " v " + fmt(ev));
            }
        }
    unsetenv("TESSERA_GEMV_WPR");
}

// The convolution-network operations of the GPU VQ decoder against the CPU backend's conv_ops.
void check_conv_ops(Counter& c, ThreadPool& pool, cuda::CudaContext& ctx) {
    struct Case {
        int cin, cout, h, w, k;
    };
    // The last is wider than one row block of the per-element kernels (128), and not a multiple of it.
    const Case cases[] = {{32, 64, 9, 7, 3},  {64, 32, 24, 24, 3}, {96, 64, 5, 11, 1},
                          {3, 32, 16, 16, 3}, {16, 8, 20, 300, 3}, {8, 16, 6, 264, 3}};
    uint64_t seed = 700;
    for (const Case& k : cases) {
        const int HW = k.h * k.w, Kd = k.cin * k.k * k.k;
        auto x = to_bf16(random_floats(size_t(k.cin) * HW, seed++));
        auto W = to_bf16(random_floats(size_t(k.cout) * Kd, seed++, 0.3f));
        auto b = to_bf16(random_floats(size_t(k.cout), seed++));
        Dev<uint16_t> dx(x), dW(W), db(b), dcol(size_t(Kd) * HW), dy(size_t(k.cout) * HW);
        Dev<float> dacc(size_t(k.cout) * HW);
        Status st = k.k == 3 ? cuda::im2col3x3(dx.p, k.cin, k.h, k.w, dcol.p, nullptr) : Status{};
        if (st.ok())
            st = cuda::gemm_rm(ctx, false, false, k.cout, HW, Kd, dW.p, Kd, k.k == 3 ? dcol.p : dx.p, HW,
                               dacc.p, true, HW);
        if (st.ok()) st = cuda::bias_residual(dacc.p, db.p, k.cout, HW, nullptr, dy.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> xf = from_bf16(x), ref(size_t(k.cout) * HW);
        std::vector<float> scratch(
            size_t(cpu::conv2d_scratch_floats(k.cin, k.cout, k.k, k.k, k.h, k.w, k.k / 2, pool.size())));
        cpu::conv2d(xf.data(), k.cin, k.h, k.w, host_bf16(W, {k.cout, k.cin, k.k, k.k}),
                    host_bf16(b, {k.cout}), k.k / 2, ref.data(), scratch.data(), pool);
        const double err = rel_error(from_bf16(dy.download()), ref);
        c.expect(st.ok() && err <= 8e-3,
                 "conv " + std::to_string(k.k) + "x" + std::to_string(k.k) + " " + std::to_string(k.cin) +
                     "->" + std::to_string(k.cout) + " " + std::to_string(k.h) + "x" + std::to_string(k.w),
                 "rel err " + fmt(err));
    }
    // Planes whose rows are multiples of 8 take the kernels' 16-byte runs; 13×17 takes the element path.
    for (auto [swish, H, W] :
         {std::tuple{false, 13, 17}, std::tuple{true, 13, 17}, std::tuple{true, 16, 24}}) {
        const int C = 128;
        auto x = to_bf16(random_floats(size_t(C) * H * W, seed++, 2.f));
        for (size_t i = 0; i < x.size(); ++i) x[i] = f32_to_bf16(bf16_to_f32(x[i]) + 5.f);  // an offset mean
        auto w = to_bf16(random_floats(size_t(C), seed++, 1.f));
        auto b = to_bf16(random_floats(size_t(C), seed++, 0.5f));
        Dev<uint16_t> dx(x), dw(w), db(b), dy(x.size());
        Dev<float> ws(cuda::group_norm_workspace(32) / 4);
        Status st = cuda::group_norm(dx.p, C, H * W, 32, dw.p, db.p, 1e-6f, swish, dy.p, ws.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> xf = from_bf16(x), ref(xf.size());
        cpu::group_norm(xf.data(), C, H * W, 32, 1e-6f, host_bf16(w, {C}), host_bf16(b, {C}), swish,
                        ref.data(), pool);
        const double err = rel_error(from_bf16(dy.download()), ref);
        c.expect(st.ok() && err <= 1.2e-2,
                 std::string("group_norm") + (swish ? " + swish " : " ") + std::to_string(H) + "x" +
                     std::to_string(W),
                 "rel err " + fmt(err));
    }
    // Output rows of 6 and 200 (element path), 16 and 128 (8-byte loads, 16-byte stores).
    for (auto [C, H, W] :
         {std::tuple{5, 7, 3}, std::tuple{3, 4, 100}, std::tuple{4, 6, 8}, std::tuple{2, 3, 64}}) {
        auto x = to_bf16(random_floats(size_t(C) * H * W, seed++));
        Dev<uint16_t> dx(x), dy(size_t(C) * H * W * 4);
        Status st = cuda::upsample_nearest2x(dx.p, C, H, W, dy.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> xf = from_bf16(x), ref(size_t(C) * H * W * 4);
        cpu::upsample_nearest2x(xf.data(), C, H, W, ref.data(), pool);
        c.expect(st.ok() && from_bf16(dy.download()) == ref,
                 "upsample_nearest2x is exact, " + std::to_string(H) + "x" + std::to_string(W));
    }
    // bias + residual, each sum rounded to bf16 as the reference adds: exact. 5×9 takes the element path.
    for (auto [C, HW] : {std::pair{6, 5 * 9}, std::pair{4, 24 * 16}}) {
        auto acc = random_floats(size_t(C) * HW, seed++, 3.f);
        auto b = to_bf16(random_floats(size_t(C), seed++));
        auto r = to_bf16(random_floats(size_t(C) * HW, seed++, 2.f));
        Dev<float> dacc(acc);
        Dev<uint16_t> db(b), dr(r), dy(acc.size());
        Status st = cuda::bias_residual(dacc.p, db.p, C, HW, dr.p, dy.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(acc.size());
        for (int ch = 0; ch < C; ++ch)
            for (int i = 0; i < HW; ++i) {
                const size_t at = size_t(ch) * HW + size_t(i);
                ref[at] = round_bf16(round_bf16(acc[at] + bf16_to_f32(b[size_t(ch)])) + bf16_to_f32(r[at]));
            }
        c.expect(st.ok() && from_bf16(dy.download()) == ref,
                 "bias_residual with a residual is exact, " + std::to_string(C) + "x" + std::to_string(HW));
    }
    {
        const int rows = 37, n = 576;
        auto S = random_floats(size_t(rows) * n, seed++, 6.f);
        Dev<float> dS(S);
        Dev<uint16_t> dP(S.size());
        Status st = cuda::softmax_rows(dS.p, rows, n, 0.125f, dP.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(S.size());
        for (int r = 0; r < rows; ++r) {
            std::vector<float> z(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i) z[size_t(i)] = round_bf16(S[size_t(r) * n + i] * 0.125f);
            const float m = *std::max_element(z.begin(), z.end());
            double sum = 0;
            for (float v : z) sum += std::exp(double(v - m));
            for (int i = 0; i < n; ++i)
                ref[size_t(r) * n + i] = float(std::exp(double(z[size_t(i)] - m)) / sum);
        }
        const double err = rel_error(from_bf16(dP.download()), ref);
        c.expect(st.ok() && err <= 8e-3, "softmax_rows", "rel err " + fmt(err));
    }
}

void check_norm_and_elementwise(Counter& c) {
    uint64_t seed = 200;
    for (int D : {8, 72, 1536, 4096, 4097, 8192, 8196}) {
        const int rows = 3;
        auto x = random_floats(size_t(rows) * D, seed++, 3.f);
        auto w = to_bf16(random_floats(size_t(D), seed++, 1.5f));
        Dev<float> dx(x);
        Dev<uint16_t> dw(w), dy(size_t(rows) * D);
        Status st = cuda::rms_norm(dx.p, dw.p, rows, D, 1e-6f, dy.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(x.size());
        cpu::rms_norm(x.data(), host_bf16(w, {D}), rows, D, 1e-6f, ref.data());
        const double err = rel_error(from_bf16(dy.download()), ref);
        c.expect(st.ok() && err <= 1e-2, "rms_norm D=" + std::to_string(D), "rel err " + fmt(err));
    }
    for (int I : {5, 96, 8960}) {
        const int rows = 4;
        auto gu = random_floats(size_t(rows) * 2 * I, seed++, 4.f);
        Dev<float> dgu(gu);
        Dev<uint16_t> dout(size_t(rows) * I);
        Status st = cuda::silu_mul(dgu.p, rows, I, dout.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(size_t(rows) * I);
        for (int r = 0; r < rows; ++r)
            for (int i = 0; i < I; ++i)
                cpu::silu_mul(&gu[size_t(r) * 2 * I + 2 * size_t(i)],
                              &gu[size_t(r) * 2 * I + 2 * size_t(i) + 1], 1, &ref[size_t(r) * I + size_t(i)]);
        const double err = rel_error(from_bf16(dout.download()), ref);
        c.expect(st.ok() && err <= 1e-2, "silu_mul I=" + std::to_string(I), "rel err " + fmt(err));
    }
    {
        const int V = 50, D = 24;
        auto table = to_bf16(random_floats(size_t(V) * D, seed++));
        std::vector<int32_t> ids = {0, 49, 7, 7, 23};
        Dev<uint16_t> dt(table);
        Dev<int32_t> di(ids);
        Dev<float> dh(ids.size() * D);
        Status st = cuda::embedding(dt.p, di.p, int(ids.size()), D, V, dh.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(ids.size() * D);
        cpu::embedding(host_bf16(table, {V, D}), ids.data(), int64_t(ids.size()), ref.data());
        c.expect(st.ok() && rel_error(dh.download(), ref) == 0.0, "embedding exact");
    }
    {
        std::vector<float> logits = random_floats(3 * 1001, seed++);
        logits[17] = 50.f;                             // row 0
        logits[1001 + 1000] = 60.f;                    // row 1: last index
        logits[2002 + 5] = logits[2002 + 900] = 70.f;  // row 2: tie -> lowest index
        Dev<float> dl(logits);
        Dev<int32_t> dout(3);
        Status st = cuda::argmax(dl.p, 3, 1001, dout.p, nullptr);
        cudaDeviceSynchronize();
        auto got = dout.download();
        c.expect(st.ok() && got[0] == 17 && got[1] == 1000 && got[2] == 5, "argmax incl. ties",
                 std::to_string(got[0]) + " " + std::to_string(got[1]) + " " + std::to_string(got[2]));
    }
}

void check_rope_kv(Counter& c) {
    struct Case {
        int nh, nkv, hd;
    };
    const Case cases[] = {{4, 4, 8}, {12, 2, 128}, {3, 1, 24}, {32, 32, 128}};
    uint64_t seed = 300;
    for (const Case& k : cases) {
        const int R = 5, max_seq = 4100, slots = 2, QKV = (k.nh + 2 * k.nkv) * k.hd;
        std::vector<int32_t> pos = {0, 1, 17, 1000, 4099}, slot = {0, 1, 1, 0, 1};
        auto qkv = random_floats(size_t(R) * QKV, seed++);
        auto bias = to_bf16(random_floats(size_t(QKV), seed++, 0.5f));
        std::vector<float> inv(size_t(k.hd / 2));
        for (int i = 0; i < k.hd / 2; ++i)
            inv[size_t(i)] = 1.0f / std::pow(10000.f, float(2 * i) / float(k.hd));
        Dev<float> dqkv(qkv), dinv(inv);
        Dev<uint16_t> db(bias), dq(size_t(R) * k.nh * k.hd);
        Dev<int32_t> dpos(pos), dslot(slot);
        const size_t cache = size_t(slots) * max_seq * k.nkv * k.hd;
        Dev<uint16_t> dk(cache), dv(cache);
        Status st = cuda::rope_kv_write(dqkv.p, db.p, dpos.p, dslot.p, dinv.p, R, k.nh, k.nkv, k.hd, max_seq,
                                        dq.p, dk.p, dv.p, nullptr);
        cudaDeviceSynchronize();
        // CPU: bias, then rotate q and k heads at their positions.
        std::vector<float> q(size_t(R) * k.nh * k.hd), kk(size_t(R) * k.nkv * k.hd), vv(kk.size());
        for (int r = 0; r < R; ++r) {
            const float* row = qkv.data() + size_t(r) * QKV;
            for (int i = 0; i < k.nh * k.hd; ++i)
                q[size_t(r) * k.nh * k.hd + i] = row[i] + bf16_to_f32(bias[size_t(i)]);
            for (int i = 0; i < k.nkv * k.hd; ++i) {
                kk[size_t(r) * k.nkv * k.hd + i] =
                    row[k.nh * k.hd + i] + bf16_to_f32(bias[size_t(k.nh * k.hd + i)]);
                vv[size_t(r) * k.nkv * k.hd + i] =
                    row[(k.nh + k.nkv) * k.hd + i] + bf16_to_f32(bias[size_t((k.nh + k.nkv) * k.hd + i)]);
            }
        }
        cpu::rope_rotate_half(q.data(), R, k.nh, k.hd, pos.data(), inv.data());
        cpu::rope_rotate_half(kk.data(), R, k.nkv, k.hd, pos.data(), inv.data());
        auto kc = from_bf16(dk.download()), vc = from_bf16(dv.download());
        std::vector<float> gk(kk.size()), gv(vv.size());
        for (int r = 0; r < R; ++r) {
            for (int h = 0; h < k.nkv; ++h) {  // cache layout [slots, nkv, max_seq, hd]
                const size_t off =
                    ((size_t(slot[size_t(r)]) * k.nkv + h) * max_seq + size_t(pos[size_t(r)])) * k.hd;
                const long dst = long((size_t(r) * k.nkv + h) * k.hd);
                std::copy_n(kc.begin() + long(off), k.hd, gk.begin() + dst);
                std::copy_n(vc.begin() + long(off), k.hd, gv.begin() + dst);
            }
        }
        const std::string name = "rope_kv_write nh=" + std::to_string(k.nh) +
                                 " nkv=" + std::to_string(k.nkv) + " hd=" + std::to_string(k.hd);
        // cos/sin are rounded to bf16 as the references do, and outputs are bf16: a few bf16 ulps.
        const double eq = rel_error(from_bf16(dq.download()), q), ek = rel_error(gk, kk),
                     ev = rel_error(gv, vv);
        c.expect(st.ok() && eq <= 2e-2 && ek <= 2e-2 && ev <= 8e-3, name,
                 "q " + fmt(eq) + " k " + fmt(ek) + " v " + fmt(ev));
    }
}

void check_attention_decode(Counter& c, ThreadPool& pool) {
    struct Case {
        int B, nh, nkv, hd;
        std::vector<int32_t> pos;
    };
    const Case cases[] = {
        {1, 4, 4, 8, {0}},
        {2, 12, 2, 128, {63, 64}},
        {3, 28, 4, 128, {1, 200, 1023}},
        {4, 32, 32, 128, {5, 129, 700, 1500}},
        {2, 6, 1, 24, {300, 77}},
        {2, 8, 4, 64, {511, 9}},  // G = 2
        {1, 16, 4, 128, {1999}},  // G = 4
        // Enough (row, head) pairs that the automatic choice takes long splits.
        {16, 16, 16, 64, {0, 63, 64, 65, 127, 128, 200, 511, 700, 1023, 1024, 1300, 1700, 2000, 2046, 2047}}};
    uint64_t seed = 400;
    for (const Case& k : cases) {
        const int max_seq = 2048, slots = k.B;
        const size_t cache = size_t(slots) * max_seq * k.nkv * k.hd;
        auto kc = to_bf16(random_floats(cache, seed++, 2.f)), vc = to_bf16(random_floats(cache, seed++));
        auto q = to_bf16(random_floats(size_t(k.B) * k.nh * k.hd, seed++, 2.f));
        std::vector<int32_t> slot(size_t(k.B));
        for (int b = 0; b < k.B; ++b) slot[size_t(b)] = k.B - 1 - b;  // slots need not follow batch order
        Dev<uint16_t> dk(kc), dv(vc), dq(q), dout(size_t(k.B) * k.nh * k.hd);
        Dev<int32_t> dpos(k.pos), dslot(slot);
        Dev<char> ws(cuda::attention_decode_workspace(k.B, k.nh, k.hd, max_seq));
        cudaMemset(ws.p, 0, ws.n);  // the contract: zeroed once; the fused merge leaves its counters at zero
        const float scale = 1.f / std::sqrt(float(k.hd));
        // Three runs: the last-block merge, the same again (counters re-armed), and the separate merge
        // kernel.
        std::vector<std::vector<float>> outs;
        Status st;
        // Then, for GQA, whole groups per block and (even groups) pairs of heads per block, fused merge
        // again. Last, long splits of 3 chunks (online softmax across chunks, then the merge kernel) and of
        // the whole context (one split writing the output itself).
        const int G = k.nh / k.nkv;
        // With one head per block and head dim 128 the whole-context split is the streamed kernel: it runs
        // with 4 keys in flight per stream, then 2 and 8, then the long-split kernel takes that case too.
        const int runs = (G > 1 ? (G % 2 == 0 && G > 2 ? 5 : 4) : 3) + 2 + 3;
        for (int run = 0; run < runs; ++run) {
            if (run == 2) setenv("TESSERA_NO_FUSED_MERGE", "1", 1);
            if (run == 3 && run < runs - 2) {
                unsetenv("TESSERA_NO_FUSED_MERGE");
                setenv("TESSERA_ATTN_GQ", std::to_string(G).c_str(), 1);
            }
            if (run == 4 && run < runs - 2) setenv("TESSERA_ATTN_GQ", "2", 1);
            if (run == runs - 5) {
                unsetenv("TESSERA_NO_FUSED_MERGE");
                unsetenv("TESSERA_ATTN_GQ");
                setenv("TESSERA_ATTN_CHUNKS", "3", 1);
            }
            if (run == runs - 4) setenv("TESSERA_ATTN_CHUNKS", "1000", 1);
            if (run == runs - 3) setenv("TESSERA_ATTN_STREAM_U", "2", 1);
            if (run == runs - 2) setenv("TESSERA_ATTN_STREAM_U", "8", 1);
            if (run == runs - 1) setenv("TESSERA_ATTN_STREAM", "0", 1);
            dout.poison();
            Status r = cuda::attention_decode(dq.p, dk.p, dv.p, dpos.p, dslot.p, k.B, k.nh, k.nkv, k.hd,
                                              max_seq, scale, dout.p, ws.p, nullptr);
            cudaDeviceSynchronize();
            if (!r.ok()) st = r;
            outs.push_back(from_bf16(dout.download()));
        }
        unsetenv("TESSERA_NO_FUSED_MERGE");
        unsetenv("TESSERA_ATTN_GQ");
        unsetenv("TESSERA_ATTN_CHUNKS");
        unsetenv("TESSERA_ATTN_STREAM_U");
        unsetenv("TESSERA_ATTN_STREAM");
        std::vector<float> ref(size_t(k.B) * k.nh * k.hd);
        auto kf = from_bf16(kc), vf = from_bf16(vc), qf = from_bf16(q);
        std::vector<float> scratch(size_t(pool.size()) * max_seq);
        // The device cache is [slots, nkv, max_seq, hd]; the CPU backend takes one sequence as [max_seq, nkv,
        // hd].
        std::vector<float> ks(size_t(max_seq) * k.nkv * k.hd), vs(ks.size());
        for (int b = 0; b < k.B; ++b) {
            for (int h = 0; h < k.nkv; ++h)
                for (int p = 0; p < max_seq; ++p) {
                    const size_t src = ((size_t(slot[size_t(b)]) * k.nkv + h) * max_seq + p) * k.hd;
                    const size_t dst = (size_t(p) * k.nkv + h) * k.hd;
                    std::copy_n(kf.begin() + long(src), k.hd, ks.begin() + long(dst));
                    std::copy_n(vf.begin() + long(src), k.hd, vs.begin() + long(dst));
                }
            cpu::attention(qf.data() + size_t(b) * k.nh * k.hd, ks.data(), vs.data(), 1, k.pos[size_t(b)],
                           k.nh, k.nkv, k.hd, scale, ref.data() + size_t(b) * k.nh * k.hd, scratch.data(),
                           pool);
        }
        double err = 0;
        for (const auto& o : outs) err = std::max(err, rel_error(o, ref));
        c.expect(
            st.ok() && err <= 1e-2,
            "attention_decode (fused merge twice, separate merge, heads per block, long splits, streamed) "
            "B=" +
                std::to_string(k.B) + " nh=" + std::to_string(k.nh) + " nkv=" + std::to_string(k.nkv) +
                " hd=" + std::to_string(k.hd),
            "rel err " + fmt(err));
    }
}

// rope_attention_decode's fused case (the streamed kernel rotating q/k and writing the cache rows itself)
// against the same call run apart (rope_kv_write, then attention_decode; each checked against the CPU above):
// the same bf16 q, cache rows and output, bit for bit. The whole-context split is forced by
// TESSERA_ATTN_CHUNKS; 8/2 heads (GQA) takes the separate path in both runs.
// One workspace serves every batch size up to the one it was sized for (the model sizes it for its largest
// batch): a 16-row call (partials everywhere, separate merge) must leave a 1-row call with the last-block
// merge the same output as on a workspace of its own. The fused merge's counters once sat after the
// partials of the batch at hand, where a larger batch's partials overwrote them.
void check_attention_shared_workspace(Counter& c) {
    const int big = 16, nh = 4, nkv = 4, hd = 64, max_seq = 2048;
    const size_t cache = size_t(big) * max_seq * nkv * hd;
    Dev<uint16_t> dk(to_bf16(random_floats(cache, 901, 2.f))), dv(to_bf16(random_floats(cache, 902)));
    Dev<uint16_t> dq(to_bf16(random_floats(size_t(big) * nh * hd, 903, 2.f)));
    std::vector<int32_t> pos(static_cast<size_t>(big)), slot(static_cast<size_t>(big));
    for (int b = 0; b < big; ++b) {
        pos[size_t(b)] = 100 + 120 * b;
        slot[size_t(b)] = b;
    }
    Dev<int32_t> dpos(pos), dslot(slot);
    Dev<char> shared(cuda::attention_decode_workspace(big, nh, hd, max_seq));
    Dev<char> own(cuda::attention_decode_workspace(1, nh, hd, max_seq));
    cudaMemset(shared.p, 0, shared.n);
    cudaMemset(own.p, 0, own.n);
    Dev<uint16_t> out_big(static_cast<size_t>(big * nh * hd)), out_own(static_cast<size_t>(nh * hd)),
        out_shared(static_cast<size_t>(nh * hd));
    const float scale = 1.f / std::sqrt(float(hd));
    auto run = [&](int B, void* ws, uint16_t* out) {
        return cuda::attention_decode(dq.p, dk.p, dv.p, dpos.p, dslot.p, B, nh, nkv, hd, max_seq, scale, out,
                                      ws, nullptr);
    };
    Status st = run(1, own.p, out_own.p);
    if (st.ok()) st = run(1, shared.p, out_shared.p);
    if (st.ok()) st = run(big, shared.p, out_big.p);
    std::vector<std::vector<uint16_t>> after;
    for (int i = 0; i < 2 && st.ok(); ++i) {
        out_shared.poison();
        st = run(1, shared.p, out_shared.p);
        cudaDeviceSynchronize();
        after.push_back(out_shared.download());
    }
    cudaDeviceSynchronize();
    const auto expect = out_own.download();
    const bool ok = st.ok() && after.size() == 2 && after[0] == expect && after[1] == expect;
    c.expect(ok, "attention_decode: batch 1 on a workspace a 16-row batch used equals batch 1 on its own",
             st.ok() ? "" : st.error().message);
}

void check_rope_attention(Counter& c) {
    struct Case {
        int B, nh, nkv;
        std::vector<int32_t> pos;
    };
    const Case cases[] = {{3, 8, 8, {0, 100, 700}}, {2, 4, 4, {1, 2047}}, {2, 8, 2, {5, 300}}};
    const int hd = 128, max_seq = 2048;
    uint64_t seed = 900;
    setenv("TESSERA_ATTN_CHUNKS", "1000", 1);
    for (const Case& k : cases) {
        const int QKV = (k.nh + 2 * k.nkv) * hd;
        const size_t cache = size_t(k.B) * max_seq * k.nkv * hd;
        auto qkv = random_floats(size_t(k.B) * QKV, seed++, 2.f);
        auto bias = to_bf16(random_floats(size_t(QKV), seed++, 0.5f));
        auto kc = to_bf16(random_floats(cache, seed++, 2.f)), vc = to_bf16(random_floats(cache, seed++));
        std::vector<float> inv(size_t(hd / 2));
        for (int i = 0; i < hd / 2; ++i) inv[size_t(i)] = 1.0f / std::pow(10000.f, float(2 * i) / float(hd));
        std::vector<int32_t> slot(size_t(k.B));
        for (int b = 0; b < k.B; ++b) slot[size_t(b)] = k.B - 1 - b;
        Dev<float> dqkv(qkv), dinv(inv);
        Dev<uint16_t> db(bias);
        Dev<int32_t> dpos(k.pos), dslot(slot);
        std::vector<std::vector<uint16_t>> got[2];
        Status st;
        for (int fused = 1; fused >= 0; --fused) {
            if (!fused) setenv("TESSERA_NO_ATTN_ROPE", "1", 1);
            Dev<uint16_t> dk(kc), dv(vc), dq(size_t(k.B) * k.nh * hd), dout(size_t(k.B) * k.nh * hd);
            Dev<char> ws(cuda::attention_decode_workspace(k.B, k.nh, hd, max_seq));
            cudaMemset(ws.p, 0, ws.n);
            dq.poison();
            dout.poison();
            Status r = cuda::rope_attention_decode(dqkv.p, db.p, dinv.p, dpos.p, dslot.p, k.B, k.nh, k.nkv,
                                                   hd, max_seq, 1.f / std::sqrt(float(hd)), dq.p, dk.p, dv.p,
                                                   dout.p, ws.p, nullptr);
            cudaDeviceSynchronize();
            if (!r.ok()) st = r;
            got[fused] = {dout.download(), dq.download(), dk.download(), dv.download()};
        }
        unsetenv("TESSERA_NO_ATTN_ROPE");
        const bool same = got[0] == got[1];
        bool written = true;  // the rows at pos changed from the random cache (the write happened at all)
        const auto& k1 = got[1][2];
        for (int b = 0; b < k.B; ++b) {
            const size_t off = (size_t(slot[size_t(b)]) * k.nkv * max_seq + size_t(k.pos[size_t(b)])) * hd;
            written = written && !std::equal(k1.begin() + long(off), k1.begin() + long(off + hd),
                                             kc.begin() + long(off));
        }
        c.expect(st.ok() && same && written,
                 "rope_attention_decode fused = apart, B=" + std::to_string(k.B) +
                     " nh=" + std::to_string(k.nh) + " nkv=" + std::to_string(k.nkv),
                 same ? "" : "outputs differ");
    }
    unsetenv("TESSERA_ATTN_CHUNKS");
}

void check_causal_softmax(Counter& c) {
    uint64_t seed = 500;
    for (auto [nh, T, pos0] : {std::tuple{2, 5, 0}, std::tuple{3, 17, 40}, std::tuple{1, 1, 999}}) {
        const int L = pos0 + T;
        auto S = random_floats(size_t(nh) * T * L, seed++, 8.f);
        Dev<float> dS(S);
        Dev<uint16_t> dP(S.size());
        Status st = cuda::causal_softmax(dS.p, nh, T, L, pos0, dP.p, nullptr);
        cudaDeviceSynchronize();
        std::vector<float> ref(S.size(), 0.f);
        for (int h = 0; h < nh; ++h)
            for (int t = 0; t < T; ++t) {
                const size_t row = (size_t(h) * T + t) * L;
                const int valid = pos0 + t + 1;
                std::copy_n(S.begin() + long(row), valid, ref.begin() + long(row));
                cpu::softmax(ref.data() + row, 1, valid);
            }
        const double err = rel_error(from_bf16(dP.download()), ref);
        c.expect(st.ok() && err <= 8e-3,
                 "causal_softmax nh=" + std::to_string(nh) + " T=" + std::to_string(T) +
                     " pos0=" + std::to_string(pos0),
                 "rel err " + fmt(err));
    }
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    auto ctx = cuda::CudaContext::create(0);
    if (!ctx.ok()) {
        std::printf("%s\n", ctx.error().to_string().c_str());
        return 1;
    }
    ThreadPool pool;
    Counter c;
    check_gemv(c, pool);
    check_swiglu(c, pool);
    check_norm_in(c, pool);
    check_gemm(c, pool, **ctx);
    check_gemm_tuned(c, pool, **ctx);
    check_conv_ops(c, pool, **ctx);
    check_norm_and_elementwise(c);
    check_rope_kv(c);
    check_qkv_rope(c, pool);
    check_attention_decode(c, pool);
    check_attention_shared_workspace(c);
    check_rope_attention(c);
    check_causal_softmax(c);
    return c.finish();
}
