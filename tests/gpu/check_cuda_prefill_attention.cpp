// The fused causal prefill attention (attention_prefill_flash) against a CPU reference in double precision
// on fresh random inputs: head dims 64 and 128, MHA and GQA groups up to 8, T that is and is not a multiple
// of the 64-row tile, pos0 > 0 (chunked prefill). The KV cache has several slots, a nonzero slot is read and
// max_seq is larger than the sequence, so stride mistakes show; cache positions past the sequence hold NaN,
// so reading them shows too. The output is poisoned (NaN) before each launch and has one guard row after it
// that must stay untouched. Then the wiring in CudaLlm: a random 2-layer model with head dim 64 / 128
// prefilled in chunks that start off the tile grid, its logits at every position against teacher-forced
// decode steps (the decode attention kernel, an independent path). Run with TESSERA_NO_FLASH_PREFILL=1 the
// same model check covers the cuBLAS path. (Its speed: bench/cuda/bench_prefill_attention.cpp.)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/attention_prefill.h"
#include "check_support.h"
#include "io/model_config.h"
#include "models/llama_cuda.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

constexpr uint16_t kPoison = 0xffff;  // a bf16 NaN

struct Case {
    int hd, nh, nkv, T, pos0;
};

struct Inputs {
    int slots = 3, slot = 1, max_seq = 0;
    std::vector<uint16_t> q, k, v;  // q [T, nh, hd]; k, v [slots, nkv, max_seq, hd]
};

Inputs make_inputs(const Case& c, uint64_t seed) {
    Inputs in;
    const int L = c.pos0 + c.T;
    in.slot = 1 + int(seed % 2);
    in.max_seq = L + 45;
    // Every other case has sharp attention (scores of standard deviation ~2 after scaling), so the running
    // max changes between key tiles; the others are close to uniform.
    const float q_scale = seed % 2 ? 6.f : 1.f;
    in.q = to_bf16(random_floats(size_t(c.T) * c.nh * c.hd, seed * 3 + 1, q_scale));
    const size_t cache = size_t(in.slots) * c.nkv * in.max_seq * c.hd;
    in.k = to_bf16(random_floats(cache, seed * 3 + 2));
    in.v = to_bf16(random_floats(cache, seed * 3 + 3));
    for (int s = 0; s < in.slots; ++s)
        for (int g = 0; g < c.nkv; ++g) {
            const size_t base = (size_t(s) * c.nkv + g) * in.max_seq * c.hd;
            std::fill(in.k.begin() + long(base + size_t(L) * c.hd),
                      in.k.begin() + long(base + size_t(in.max_seq) * c.hd), kPoison);
            std::fill(in.v.begin() + long(base + size_t(L) * c.hd),
                      in.v.begin() + long(base + size_t(in.max_seq) * c.hd), kPoison);
        }
    return in;
}

// softmax(scale · q·kᵀ) · v over keys [0, pos0 + t], in double, threads over query rows.
std::vector<float> reference(const Case& c, const Inputs& in, float scale) {
    const std::vector<float> q = from_bf16(in.q), k = from_bf16(in.k), v = from_bf16(in.v);
    std::vector<float> out(size_t(c.T) * c.nh * c.hd);
    const int G = c.nh / c.nkv;
    auto rows = [&](int t0, int t1) {
        std::vector<double> w, o(size_t(c.hd));
        for (int t = t0; t < t1; ++t) {
            const int n = c.pos0 + t + 1;
            w.resize(size_t(n));
            for (int h = 0; h < c.nh; ++h) {
                const float* qr = q.data() + (size_t(t) * c.nh + h) * c.hd;
                const size_t head = (size_t(in.slot) * c.nkv + h / G) * in.max_seq * c.hd;
                double m = -INFINITY;
                for (int j = 0; j < n; ++j) {
                    const float* kr = k.data() + head + size_t(j) * c.hd;
                    double s = 0;
                    for (int d = 0; d < c.hd; ++d) s += double(qr[d]) * double(kr[d]);
                    w[size_t(j)] = s * double(scale);
                    m = std::max(m, w[size_t(j)]);
                }
                double l = 0;
                std::fill(o.begin(), o.end(), 0.0);
                for (int j = 0; j < n; ++j) {
                    const double e = std::exp(w[size_t(j)] - m);
                    l += e;
                    const float* vr = v.data() + head + size_t(j) * c.hd;
                    for (int d = 0; d < c.hd; ++d) o[size_t(d)] += e * double(vr[d]);
                }
                float* orow = out.data() + (size_t(t) * c.nh + h) * c.hd;
                for (int d = 0; d < c.hd; ++d) orow[d] = float(o[size_t(d)] / l);
            }
        }
    };
    const int nt = std::clamp(int(std::thread::hardware_concurrency()), 1, 32);
    std::vector<std::thread> pool;
    for (int i = 0; i < nt; ++i) pool.emplace_back(rows, c.T * i / nt, c.T * (i + 1) / nt);
    for (auto& th : pool) th.join();
    return out;
}

std::string describe(const Case& c, const Inputs& in) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "hd=%d heads=%d/%d T=%d pos0=%d (slot %d of %d, max_seq %d)", c.hd, c.nh,
                  c.nkv, c.T, c.pos0, in.slot, in.slots, in.max_seq);
    return buf;
}

void check_case(Counter& counter, const Case& c, uint64_t seed) {
    const Inputs in = make_inputs(c, seed);
    const float scale = 1.f / std::sqrt(float(c.hd));
    const size_t n_out = size_t(c.T) * c.nh * c.hd, guard = size_t(c.nh) * c.hd;
    Dev<uint16_t> dq(in.q), dk(in.k), dv(in.v), dout(n_out + guard);
    cudaMemset(dout.p, 0xff, (n_out + guard) * sizeof(uint16_t));
    const Status st = cuda::attention_prefill_flash(dq.p, dk.p, dv.p, in.slot, c.T, c.pos0, c.nh, c.nkv, c.hd,
                                                    in.max_seq, scale, dout.p, nullptr);
    const cudaError_t err = cudaDeviceSynchronize();
    const std::string name = "attention_prefill_flash " + describe(c, in);
    if (!st.ok() || err != cudaSuccess) {
        counter.expect(false, name, st.ok() ? cudaGetErrorString(err) : st.error().to_string());
        return;
    }
    const std::vector<uint16_t> raw = dout.download();
    const std::vector<float> ref = reference(c, in, scale);
    double max_abs = 0, max_ref = 0;
    size_t worst = 0;
    bool finite = true;
    for (size_t i = 0; i < n_out; ++i) {
        const float got = bf16_to_f32(raw[i]);
        if (!std::isfinite(got)) finite = false;
        const double e = std::fabs(double(got) - double(ref[i]));
        if (!(e <= max_abs)) {
            max_abs = e;
            worst = i;
        }
        max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    }
    bool guard_ok = true;
    for (size_t i = n_out; i < n_out + guard; ++i) guard_ok = guard_ok && raw[i] == kPoison;
    // Error budget: bf16 probabilities (relative 2^-9 each) and the bf16 output (2^-9 of |o| ≤ 1) give at
    // most ~4e-3 on values in [-1, 1]; a dropped or extra key in a short row is far larger.
    const double tol = 1e-2;
    const bool ok = finite && guard_ok && max_abs <= tol;
    const size_t wt = worst / (size_t(c.nh) * c.hd), wh = worst / c.hd % c.nh;
    std::printf("%s %s: max abs err %s (at t=%zu h=%zu, max |ref| %s), tol %s%s%s\n", ok ? "PASS" : "FAIL",
                name.c_str(), fmt(max_abs).c_str(), wt, wh, fmt(max_ref).c_str(), fmt(tol).c_str(),
                finite ? "" : ", NON-FINITE output", guard_ok ? "" : ", WROTE PAST the output");
    counter.expect(ok, name);
}

void check_arguments(Counter& counter) {
    counter.expect(!cuda::attention_prefill_supported(96) && cuda::attention_prefill_supported(64) &&
                       cuda::attention_prefill_supported(128),
                   "attention_prefill_supported: 64 and 128 only");
    const Status st = cuda::attention_prefill_flash(nullptr, nullptr, nullptr, 0, 4, 0, 8, 8, 96, 64, 0.1f,
                                                    nullptr, nullptr);
    counter.expect(!st.ok() && st.error().code == ErrorCode::Unsupported,
                   "attention_prefill_flash hd=96 is Unsupported");
    const Status past = cuda::attention_prefill_flash(nullptr, nullptr, nullptr, 0, 40, 30, 8, 8, 64, 64,
                                                      0.1f, nullptr, nullptr);
    counter.expect(!past.ok() && past.error().code == ErrorCode::InvalidArgument,
                   "attention_prefill_flash pos0 + T > max_seq is InvalidArgument");
    std::printf("%s argument checks\n", counter.failed ? "FAIL" : "PASS");
}

// Prefill logits of every position (in pieces of 37 and 113 tokens, chunk 64: chunks start at 0, 37, 101)
// against decode steps over the same tokens in another slot.
void check_model(Counter& counter, int hd, int nh, int nkv, bool bias) {
    LlmConfig cfg;
    cfg.architecture = bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    cfg.hidden_size = nh * hd;
    cfg.intermediate_size = 2 * nh * hd;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = nh;
    cfg.num_key_value_heads = nkv;
    cfg.head_dim = hd;
    cfg.vocab_size = 1000;
    cfg.max_position_embeddings = 4096;
    cfg.attention_bias = bias;
    CudaLlmOptions opt;
    opt.max_batch = 2;
    opt.max_seq = 300;
    opt.prefill_chunk = 64;
    char name[96];
    std::snprintf(name, sizeof name, "CudaLlm prefill vs decode hd=%d heads=%d/%d%s", hd, nh, nkv,
                  bias ? " (q/k/v bias)" : "");
    auto model = CudaLlm::create_random(cfg, opt, 11);
    if (!model.ok()) {
        counter.expect(false, name, model.error().to_string());
        return;
    }
    CudaLlm& m = **model;
    const int n = 150, first = 37, V = cfg.vocab_size;
    std::vector<int32_t> ids(n);
    std::mt19937 rng(5);
    for (auto& id : ids) id = int32_t(rng() % uint32_t(V));
    std::vector<float> got(size_t(n) * V), want(size_t(n) * V);
    Status st = m.prefill(1, ids.data(), first, 0, got.data(), true);
    if (st.ok())
        st = m.prefill(1, ids.data() + first, n - first, first, got.data() + size_t(first) * V, true);
    for (int p = 0; st.ok() && p < n; ++p) {
        int32_t next = 0, slot = 0;
        st = m.decode(1, &ids[size_t(p)], &p, &slot, &next, want.data() + size_t(p) * V);
    }
    if (!st.ok()) {
        counter.expect(false, name, st.error().to_string());
        return;
    }
    const double err = rel_error(got, want), tol = 2e-2;
    std::printf("%s %s: logits of %d positions, max abs diff / max |decode logit| %s, tol %s\n",
                err <= tol ? "PASS" : "FAIL", name, n, fmt(err).c_str(), fmt(tol).c_str());
    counter.expect(err <= tol, name);
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    Counter counter;
    check_arguments(counter);
    const int heads[][2] = {{32, 32}, {12, 2}, {28, 4}, {16, 16}};
    uint64_t seed = 1;
    for (int hd : {64, 128})
        for (const auto& hk : heads)
            for (int T : {1, 17, 64, 100, 512})
                for (int pos0 : {0, 37, 300}) check_case(counter, Case{hd, hk[0], hk[1], T, pos0}, seed++);
    // GQA group 8, and long rows (many key tiles, the diagonal off the tile grid).
    check_case(counter, Case{128, 32, 4, 129, 63}, seed++);
    check_case(counter, Case{64, 16, 2, 200, 1}, seed++);
    check_case(counter, Case{128, 8, 8, 1000, 1100}, seed++);
    check_case(counter, Case{64, 8, 1, 777, 1500}, seed++);

    check_model(counter, 128, 4, 2, false);
    check_model(counter, 64, 6, 1, true);
    check_model(counter, 128, 8, 8, false);

    return counter.finish();
}
