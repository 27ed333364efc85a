// Decode matvec speed of the quantized CPU kernels (backend/cpu/quant.h) at DeepSeek-R1-Distill-Qwen-7B
// shapes, against the read bandwidth measured in the same run on the same thread pool: the decode step is
// memory bound, so the figure that matters is weight GB/s as a share of what the machine can read.
// Weights rotate over enough copies to exceed the last-level cache, as a real model's 4 GB do.
//
// Usage: bench_quant [--seconds S] [--threads N] [--gguf FILE]
//   --gguf FILE: also print the metadata summary and tensor-type counts of a GGUF file (header only; a
//   truncated file is fine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "backend/cpu/quant.h"
#include "core/buffer.h"
#include "core/thread_pool.h"
#include "io/gguf.h"

#if defined(__x86_64__) || defined(__i386__)
#include <emmintrin.h>
#endif

using namespace tessera;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kRotateBytes = size_t(1) << 30;  // weights cycled per type: well past a 300 MB L3

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint64_t next_random(uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

void put_f16(std::byte* p, float v) {
    uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// Random well-formed blocks (finite f16 scales).
void fill_weights(std::byte* w, size_t bytes, QuantType type, uint64_t seed) {
    uint64_t s = seed | 1;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        uint64_t r = next_random(s);
        std::memcpy(w + i, &r, 8);
    }
    const size_t bb = size_t(quant_traits(type).block_bytes);
    for (size_t b = 0; b + bb <= bytes; b += bb) {
        switch (type) {
            case QuantType::Q8_0: case QuantType::Q4_0: put_f16(w + b, 0.01f); break;
            case QuantType::Q4_K: case QuantType::Q5_K: put_f16(w + b, 0.01f); put_f16(w + b + 2, 0.01f); break;
            case QuantType::Q6_K: put_f16(w + b + 208, 0.001f); break;
            default: break;
        }
    }
}

// Read bandwidth of the pool: every thread sums its share of a buffer larger than the caches.
double read_bandwidth(ThreadPool& pool, const HostBuffer& buf, double min_seconds) {
    const size_t words = buf.size() / 8;
    const auto* p = buf.as<const uint64_t>();
    std::vector<uint64_t> sinks(size_t(pool.size()) * 8, 0);
    auto pass = [&] {
        pool.parallel_for(int64_t(words / 4096), 16, [&](int64_t c0, int64_t c1) {
            uint64_t s = 0;
#if defined(__x86_64__) || defined(__i386__)
            // 16-byte loads into four independent sums: far more issue rate than memory can feed.
            __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
            for (size_t i = size_t(c0) * 4096; i < size_t(c1) * 4096; i += 8) {
                const auto* v = reinterpret_cast<const __m128i*>(p + i);
                a0 = _mm_add_epi64(a0, _mm_load_si128(v));
                a1 = _mm_add_epi64(a1, _mm_load_si128(v + 1));
                a2 = _mm_add_epi64(a2, _mm_load_si128(v + 2));
                a3 = _mm_add_epi64(a3, _mm_load_si128(v + 3));
            }
            alignas(16) uint64_t out[2];
            _mm_store_si128(reinterpret_cast<__m128i*>(out),
                            _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3)));
            s = out[0] + out[1];
#else
            for (size_t i = size_t(c0) * 4096; i < size_t(c1) * 4096; ++i) s += p[i];
#endif
            sinks[size_t(pool.thread_index()) * 8] += s;  // one cache line per thread
        });
    };
    pass();
    int passes = 0;
    auto t0 = Clock::now();
    do {
        pass();
        ++passes;
    } while (seconds_since(t0) < min_seconds);
    double t = seconds_since(t0);
    uint64_t total = 0;
    for (uint64_t v : sinks) total += v;
    if (total == 42) std::printf(" ");  // keeps the sums alive
    return double(buf.size()) * passes / t / 1e9;
}

struct Shape2 {
    const char* what;
    int64_t K, N;
};

void print_gguf_summary(const char* path) {
    GgufOpenOptions opts;
    opts.allow_truncated = true;
    auto r = GgufFile::open(path, opts);
    if (!r.ok()) {
        std::printf("%s\n", r.error().to_string().c_str());
        return;
    }
    const GgufFile& f = **r;
    std::printf("## %s\n\nGGUF v%u, %zu metadata keys, %zu tensors, alignment %llu, data at %llu, file %zu bytes%s\n\n",
                f.file_name().c_str(), f.version(), f.metadata().size(), f.tensors().size(),
                (unsigned long long)f.alignment(), (unsigned long long)f.data_offset(), f.file_size(),
                f.truncated() ? " (TRUNCATED: some tensor data lies past the end)" : "");
    for (const auto& [key, value] : f.metadata())
        std::printf("  %-44.*s %s\n", int(key.size()), key.data(), value.to_string().c_str());
    std::map<std::string, int> types;
    size_t present = 0;
    for (const GgufTensor& t : f.tensors()) {
        ++types[std::string(quant_name(t.type))];
        present += t.data != nullptr;
    }
    std::printf("\ntensor types:");
    for (const auto& [name, n] : types) std::printf(" %s x%d", name.c_str(), n);
    std::printf("; %zu of %zu tensors have their data in the file\n", present, f.tensors().size());
    auto c = gguf_llm_config(f);
    if (c.ok())
        std::printf("config: %s H=%d I=%d L=%d heads=%d kv=%d hd=%d V=%d ctx=%d eps=%g theta=%g bias=%d tie=%d\n\n",
                    c->architecture.c_str(), c->hidden_size, c->intermediate_size, c->num_hidden_layers,
                    c->num_attention_heads, c->num_key_value_heads, c->head_dim, c->vocab_size,
                    c->max_position_embeddings, double(c->rms_norm_eps), double(c->rope_theta), c->attention_bias,
                    c->tie_word_embeddings);
    else
        std::printf("config: %s\n\n", c.error().to_string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int threads = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (a == "--gguf" && i + 1 < argc) print_gguf_summary(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_quant [--seconds S] [--threads N] [--gguf FILE]\n");
            return 2;
        }
    }
    ThreadPool pool(threads);
    const bool avx2 = cpu::quant_cpu_has_avx2();

    auto bw_buf = HostBuffer::allocate(kRotateBytes);
    if (!bw_buf.ok()) return 1;
    std::memset(bw_buf->data(), 1, bw_buf->size());
    const double bw = read_bandwidth(pool, *bw_buf, seconds);
    *bw_buf = HostBuffer();

    std::printf("# bench_quant: decode matvec (M = 1), %d threads, %s kernels\n\n", pool.size(), avx2 ? "AVX2" : "scalar");
    std::printf("measured read bandwidth: %.1f GB/s (%d threads, 1 GiB buffer)\n\n", bw, pool.size());
    std::printf("| type | matrix | K | N | weight MB | us/matvec | GB/s | share of read bw | hot GB/s (one copy, cached) |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");

    const Shape2 shapes[] = {
        {"ffn gate/up", 3584, 18944},
        {"ffn down", 18944, 3584},
        {"attn q/o", 3584, 3584},
        {"attn k/v", 3584, 512},
    };
    for (QuantType type : {QuantType::Q4_K, QuantType::Q6_K, QuantType::Q8_0}) {
        for (const Shape2& s : shapes) {
            const size_t bytes = size_t(*quant_row_bytes(type, s.K)) * size_t(s.N);
            const size_t copies = std::max<size_t>(2, (kRotateBytes + bytes - 1) / bytes);
            auto w = HostBuffer::allocate(bytes * copies);
            if (!w.ok()) {
                std::fprintf(stderr, "%s\n", w.error().to_string().c_str());
                return 1;
            }
            fill_weights(w->data(), w->size(), type, 0x9e3779b97f4a7c15ull + uint64_t(s.N));
            std::vector<float> x(size_t(s.K)), y(size_t(s.N));
            uint64_t rs = 12345;
            for (float& v : x) v = float(int64_t(next_random(rs) % 2001) - 1000) / 500.f;
            size_t copy = 0;
            auto run = [&] {
                Status st = cpu::quant_matmul(x.data(), 1, s.K, w->data() + copy * bytes, type, s.N, y.data(), pool);
                if (!st.ok()) {
                    std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
                    std::exit(1);
                }
            };
            auto time_it = [&](size_t rotate) {
                int iters = 0;
                auto t0 = Clock::now();
                do {
                    copy = rotate > 1 ? (copy + 1) % rotate : 0;
                    run();
                    ++iters;
                } while (seconds_since(t0) < seconds * 0.5 || iters < 8);
                return seconds_since(t0) / iters;
            };
            for (copy = 0; copy < copies; ++copy) run();  // touch every copy once (page faults, warm-up)
            copy = 0;
            const double t = time_it(copies);
            copy = 0;
            for (int i = 0; i < 4; ++i) run();
            const double t_hot = time_it(1);
            const double gbs = double(bytes) / t / 1e9;
            std::printf("| %s | %s | %lld | %lld | %.1f | %.0f | %.1f | %.0f%% | %.1f |\n", quant_name(type).data(), s.what,
                        (long long)s.K, (long long)s.N, double(bytes) / 1e6, t * 1e6, gbs, 100.0 * gbs / bw,
                        double(bytes) / t_hot / 1e9);
            std::fflush(stdout);
        }
    }
    return 0;
}
