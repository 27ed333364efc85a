// CPU backend benchmark: matmul decode (M = 1) at the R1-Distill-Qwen-1.5B shapes in bf16 and f32,
// reported as weight GB/s next to the read and memcpy bandwidth measured in the same run; prefill
// GFLOP/s at M = 64 and 512; attention decode; the thread pool's per-call overhead.
//
// Decode cycles through enough copies of each weight matrix (>= 1.2 GB together) that every call reads
// from DRAM, as a real decode step does with a 3 GB model; a "hot" column repeats one copy so it can stay
// in the last-level cache, which shows the compute ceiling of the kernel.
//
// Usage: bench_cpu_ops [--threads N] [--quick] [--only decode|prefill|attention|pool]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

using namespace tessera;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs fn repeatedly for at least min_time seconds (and at least min_reps times); returns seconds per call.
template <class Fn>
double time_per_call(Fn&& fn, double min_time, int min_reps = 3) {
    fn();  // warm-up: page faults, first-touch, pool spin-up
    int reps = 0;
    auto t0 = Clock::now();
    double t = 0.0;
    do {
        fn();
        ++reps;
        t = seconds_since(t0);
    } while (t < min_time || reps < min_reps);
    return t / reps;
}

// Cheap deterministic filler: small normal numbers in every dtype (no NaN, no denormals).
uint32_t g_seed = 12345;
float next_float() {
    g_seed = g_seed * 1664525u + 1013904223u;
    return float(int32_t(g_seed >> 8) - (1 << 23)) / float(1 << 26);  // [-0.125, 0.125)
}

struct Matrix {
    std::unique_ptr<std::byte[]> bytes;
    Tensor t;
};

Matrix make_matrix(DType dt, int64_t N, int64_t K) {
    Matrix m;
    const size_t n = size_t(N * K);
    m.bytes.reset(new std::byte[n * dtype_size(dt)]);
    m.t.dtype = dt;
    m.t.shape = Shape{N, K};
    m.t.data = m.bytes.get();
    // Sparse random values: filling a GB with a proper generator would dominate the run time.
    if (dt == DType::F32) {
        float* p = m.t.as<float>();
        for (size_t i = 0; i < n; ++i) p[i] = (i & 255) == 0 ? next_float() : float(i % 7) * 0.01f;
    } else {
        uint16_t* p = m.t.as<uint16_t>();
        for (size_t i = 0; i < n; ++i) {
            const float f = (i & 255) == 0 ? next_float() : float(i % 7) * 0.01f;
            p[i] = dt == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f);
        }
    }
    return m;
}

struct Bandwidth {
    double read_gbs = 0.0;
    double copy_gbs = 0.0;  // bytes copied per second (each byte is read once and written once)
};

// Read: every thread sums its slice as four interleaved streams (a decode kernel reads four weight rows at
// once, and one stream per core leaves the memory system idle), eight independent 64-bit chains, no FP
// and no vector ISA needed. Copy: every thread memcpy's its slice.
Bandwidth measure_bandwidth(ThreadPool& pool, size_t bytes, double min_time) {
    const size_t words = bytes / 8;
    std::unique_ptr<uint64_t[]> a(new uint64_t[words]), b(new uint64_t[words]);
    pool.parallel_for(int64_t(words), 1 << 16, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) a[size_t(i)] = uint64_t(i) * 0x9e3779b97f4a7c15ull, b[size_t(i)] = 0;
    });
    volatile uint64_t sink = 0;
    const int64_t slices = pool.size() * 8;
    const int64_t per = int64_t(words) / slices / 32 * 32;  // four streams of whole 64-byte lines
    const double t_read = time_per_call(
        [&] {
            pool.parallel_for(slices, 1, [&](int64_t s, int64_t e) {
                uint64_t acc[8] = {};
                for (int64_t sl = s; sl < e; ++sl) {
                    const int64_t q = per / 4;
                    const uint64_t* p0 = a.get() + sl * per;
                    const uint64_t *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
                    for (int64_t i = 0; i < q; i += 8)
                        for (int j = 0; j < 8; ++j) acc[j] += (p0[i + j] + p1[i + j]) + (p2[i + j] + p3[i + j]);
                }
                uint64_t t = 0;
                for (uint64_t v : acc) t ^= v;
                sink = sink + t;
            });
        },
        min_time);
    const double t_copy = time_per_call(
        [&] {
            pool.parallel_for(slices, 1, [&](int64_t s, int64_t e) {
                std::memcpy(b.get() + s * per, a.get() + s * per, size_t((e - s) * per) * 8);
            });
        },
        min_time);
    const double moved = double(slices * per) * 8.0;
    return {moved / t_read / 1e9, moved / t_copy / 1e9};
}

struct Shape2 {
    int64_t K, N;
    const char* what;
};

// R1-Distill-Qwen-1.5B: hidden 1536, intermediate 8960, vocabulary 151936.
const Shape2 kShapes[] = {{1536, 8960, "mlp gate/up"}, {8960, 1536, "mlp down"}, {1536, 151936, "lm_head"}};

struct Options {
    double min_time = 1.0;
    double target_bytes = 1.2e9;
};

void bench_decode(ThreadPool& pool, const Options& opt, const Bandwidth& bw) {
    std::printf("## matmul decode (M = 1)\n\n");
    std::printf("| shape K×N | what | dtype | MB | cold µs | cold GB/s | of read bw | hot GB/s |\n");
    std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
    for (DType dt : {DType::BF16, DType::F32}) {
        for (const auto& s : kShapes) {
            const double bytes = double(s.N * s.K) * double(dtype_size(dt));
            const int copies = std::max(1, int(opt.target_bytes / bytes + 0.999));
            std::vector<Matrix> ws;
            for (int c = 0; c < copies; ++c) ws.push_back(make_matrix(dt, s.N, s.K));
            std::vector<float> x(static_cast<size_t>(s.K)), y(static_cast<size_t>(s.N));
            for (auto& v : x) v = next_float();
            int c = 0;
            const double t_cold = time_per_call(
                [&] {
                    cpu::matmul(x.data(), 1, s.K, ws[size_t(c)].t, Tensor{}, y.data(), pool);
                    c = (c + 1) % copies;
                },
                opt.min_time, copies);
            const double t_hot = time_per_call(
                [&] { cpu::matmul(x.data(), 1, s.K, ws[0].t, Tensor{}, y.data(), pool); }, opt.min_time / 2);
            const double cold = bytes / t_cold / 1e9;
            std::printf("| %lld×%lld | %s | %s | %.1f | %.0f | %.1f | %.0f%% | %.1f |\n", (long long)s.K,
                        (long long)s.N, s.what, dtype_name(dt).data(), bytes / 1e6, t_cold * 1e6, cold,
                        100.0 * cold / bw.read_gbs, bytes / t_hot / 1e9);
            std::fflush(stdout);
        }
    }
}

void bench_prefill(ThreadPool& pool, const Options& opt) {
    std::printf("\n## matmul prefill\n\n");
    std::printf("| M | shape K×N | dtype | ms | GFLOP/s | GFLOP/s per thread |\n");
    std::printf("|---:|---|---|---:|---:|---:|\n");
    for (int64_t M : {int64_t(64), int64_t(512)}) {
        for (DType dt : {DType::BF16, DType::F32}) {
            for (const auto& s : {kShapes[0], kShapes[1]}) {
                Matrix w = make_matrix(dt, s.N, s.K);
                std::vector<float> x(static_cast<size_t>(M * s.K)), y(static_cast<size_t>(M * s.N));
                for (auto& v : x) v = next_float();
                const double t = time_per_call(
                    [&] { cpu::matmul(x.data(), M, s.K, w.t, Tensor{}, y.data(), pool); }, opt.min_time);
                const double gflops = 2.0 * double(M) * double(s.K) * double(s.N) / t / 1e9;
                std::printf("| %lld | %lld×%lld | %s | %.2f | %.1f | %.1f |\n", (long long)M, (long long)s.K,
                            (long long)s.N, dtype_name(dt).data(), t * 1e3, gflops, gflops / pool.size());
                std::fflush(stdout);
            }
        }
    }
}

void bench_attention(ThreadPool& pool, const Options& opt) {
    std::printf("\n## attention decode (12 q heads / 2 kv heads, head_dim 128)\n\n");
    std::printf("| context | µs | K+V GB/s |\n|---:|---:|---:|\n");
    const int64_t nh = 12, nkv = 2, hd = 128;
    for (int64_t ctx : {int64_t(128), int64_t(1024), int64_t(4096), int64_t(16384)}) {
        auto vec = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };
        auto q = vec(nh * hd), out = vec(nh * hd), k = vec(ctx * nkv * hd), v = vec(ctx * nkv * hd),
             scratch = vec(pool.size() * ctx);
        for (auto* buf : {&q, &k, &v})
            for (auto& e : *buf) e = next_float();
        const double t = time_per_call(
            [&] {
                cpu::attention(q.data(), k.data(), v.data(), 1, ctx - 1, nh, nkv, hd, 0.0883883f, out.data(),
                               scratch.data(), pool);
            },
            opt.min_time / 2);
        std::printf("| %lld | %.1f | %.1f |\n", (long long)ctx, t * 1e6, double(2 * ctx * nkv * hd * 4) / t / 1e9);
    }
}

void bench_pool(ThreadPool& pool, const Options& opt) {
    std::printf("\n## thread pool\n\n");
    volatile int64_t sink = 0;
    const double t = time_per_call(
        [&] {
            for (int i = 0; i < 1000; ++i)
                pool.parallel_for(pool.size() * 4, 1, [&](int64_t b, int64_t) { sink = sink + b; });
        },
        opt.min_time / 2);
    std::printf("parallel_for round trip (tiny job, back to back): %.2f µs\n", t * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0;
    Options opt;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = std::atoi(argv[++i]);
        } else if (!std::strcmp(argv[i], "--quick")) {
            opt.min_time = 0.2;
            opt.target_bytes = 0.6e9;
        } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--threads N] [--quick] [--only decode|prefill|attention|pool]\n", argv[0]);
            return 2;
        }
    }
    ThreadPool pool(threads);
    auto want = [&](const char* section) { return only.empty() || only == section; };

    std::printf("# bench_cpu_ops: %d threads, AVX2 kernels %s\n\n", pool.size(),
                cpu::simd_enabled() ? "on" : "off (scalar)");
    const Bandwidth bw = measure_bandwidth(pool, size_t(opt.target_bytes), opt.min_time);
    std::printf("memory (%.1f GB buffers, %d threads): read %.1f GB/s, memcpy %.1f GB/s copied\n\n",
                opt.target_bytes / 1e9, pool.size(), bw.read_gbs, bw.copy_gbs);

    if (want("decode")) bench_decode(pool, opt, bw);
    if (want("prefill")) bench_prefill(pool, opt);
    if (want("attention")) bench_attention(pool, opt);
    if (want("pool")) bench_pool(pool, opt);
    return 0;
}
