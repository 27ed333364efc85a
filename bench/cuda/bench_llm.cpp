// GPU benchmark of the Llama/Qwen2 decoder at real model shapes with random bf16 weights made on the device:
// prefill of 512 and 2048 tokens, and decode at batch 1/16/32 with 1k tokens of context. Each figure is
// set against the hardware floor measured in the same run: weight + KV bytes per step over the measured
// device copy bandwidth, and prefill FLOPs over the measured cuBLAS bf16 rate. Prints JSON lines.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/decode_persistent.h"
#include "backend/cuda/device.h"
#include "bench_common.h"
#include "models/llama_cuda.h"

using namespace tessera;
using tessera::benchutil::measure_bandwidth;
using tessera::benchutil::median;

namespace {

struct ModelShape {
    const char* name;
    LlmConfig cfg;
};

LlmConfig make(ModelFamily f, int H, int I, int L, int nh, int nkv, int V, bool bias) {
    LlmConfig c;
    c.family = f;
    c.hidden_size = H;
    c.intermediate_size = I;
    c.num_hidden_layers = L;
    c.num_attention_heads = nh;
    c.num_key_value_heads = nkv;
    c.head_dim = H / nh;
    c.vocab_size = V;
    c.max_position_embeddings = 4096;
    c.attention_bias = bias;
    c.rms_norm_eps = 1e-6f;
    c.rope_theta = 10000.f;
    return c;
}

// cuBLAS bf16 GEMM rate on random data (TFLOP/s).
double measure_gemm_rate(cuda::CudaContext& ctx) {
    const int n = 8192;
    auto A = cuda::DeviceBuffer::allocate(size_t(n) * n * 2, "bench");
    auto B = cuda::DeviceBuffer::allocate(size_t(n) * n * 2, "bench");
    auto C = cuda::DeviceBuffer::allocate(size_t(n) * n * 2, "bench");
    if (!A.ok() || !B.ok() || !C.ok()) return 0;
    (void)cuda::fill_random_bf16(A->as<uint16_t>(), int64_t(n) * n, 1, 1.f, 0.f, ctx.stream());
    (void)cuda::fill_random_bf16(B->as<uint16_t>(), int64_t(n) * n, 2, 1.f, 0.f, ctx.stream());
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<double> t;
    for (int i = 0; i < 8; ++i) {
        cudaEventRecord(e0, ctx.stream());
        (void)cuda::gemm_bf16(ctx, A->as<uint16_t>(), B->as<uint16_t>(), C->data(), false, n, n, n);
        cudaEventRecord(e1, ctx.stream());
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 2) t.push_back(double(ms));
    }
    return 2.0 * double(n) * n * n / (median(t) * 1e-3) / 1e12;
}

uint64_t params_matmul(const LlmConfig& c) {  // weights read by the matrix products (not the embedding)
    const uint64_t H = uint64_t(c.hidden_size), I = uint64_t(c.intermediate_size), hd = uint64_t(c.head_dim);
    const uint64_t per = (uint64_t(c.num_attention_heads) + 2 * uint64_t(c.num_key_value_heads)) * hd * H +
                         H * uint64_t(c.num_attention_heads) * hd + 3 * I * H;
    return per * uint64_t(c.num_hidden_layers) + uint64_t(c.vocab_size) * H;
}

// A few plain (graph-less) decode steps at batch 1, for a kernel profiler such as ncu.
void profile(const ModelShape& s, int context) {
    CudaLlmOptions opt;
    opt.max_batch = 1;
    opt.max_seq = context + 64;
    opt.prefill_chunk = 64;
    opt.use_graphs = false;
    auto model = CudaLlm::create_random(s.cfg, opt, 42);
    if (!model.ok()) return;
    int32_t id = 1, pos = context, slot = 0, next = 0;
    for (int i = 0; i < 3; ++i) (void)(*model)->decode(1, &id, &pos, &slot, &next);
}

// decode_only: batch-1 decode alone (quick comparisons of kernel variants).
void bench(const ModelShape& s, double bw_gbs, double tflops, int context, bool decode_only) {
    const LlmConfig& c = s.cfg;
    CudaLlmOptions opt;
    opt.max_batch = 32;
    opt.max_seq = std::max(2048, context + 64) + 64;
    opt.prefill_chunk = 2048;
    auto model = CudaLlm::create_random(c, opt, 42);
    if (!model.ok()) {
        std::printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", s.name, model.error().to_string().c_str());
        return;
    }
    CudaLlm& m = **model;
    // TESSERA_PERSIST_TRACE=1: the persistent decode kernel's time per phase (batch 1), printed after its
    // run.
    const bool trace = std::getenv("TESSERA_PERSIST_TRACE") != nullptr;
    if (trace) (void)cuda::persistent_decode_trace_begin(c.num_hidden_layers);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int32_t> tok(0, c.vocab_size - 1);
    const double weight_bytes = double(params_matmul(c)) * 2;
    const double kv_per_token = 2.0 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * 2;

    for (int T : {512, 2048}) {
        if (decode_only) break;
        std::vector<int32_t> ids(static_cast<size_t>(T));
        for (auto& x : ids) x = tok(rng);
        std::vector<float> logits(size_t(c.vocab_size));
        std::vector<double> ms;
        for (int i = 0; i < 6; ++i) {
            Status st = m.prefill(0, ids.data(), T, 0, logits.data());
            if (!st.ok()) {
                std::printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", s.name, st.error().to_string().c_str());
                return;
            }
            if (i >= 1) ms.push_back(double(m.last_gpu_ms()));
        }
        // lm_head runs for the last position only.
        const double head = double(c.vocab_size) * c.hidden_size;
        const double flops = 2.0 * (double(params_matmul(c)) - head) * T + 2.0 * head +
                             2.0 * double(T) * T * c.head_dim * c.num_attention_heads *
                                 c.num_hidden_layers;  // causal QKᵀ + PV
        const double floor_ms = flops / (tflops * 1e12) * 1e3;
        std::printf(
            "{\"model\":\"%s\",\"test\":\"prefill\",\"tokens\":%d,\"ms\":%.3f,\"floor_ms\":%.3f,\"share\":%."
            "3f}\n",
            s.name, T, median(ms), floor_ms, floor_ms / median(ms));
    }

    for (int B : {1, 16, 32}) {
        if (decode_only && B > 1) break;
        const size_t nb = static_cast<size_t>(B);
        std::vector<int32_t> ids(nb), pos(nb), slot(nb), next(nb);
        for (int b = 0; b < B; ++b) {
            ids[size_t(b)] = tok(rng);
            pos[size_t(b)] = context;
            slot[size_t(b)] = b;
        }
        Status st;
        for (int i = 0; i < 3 && st.ok(); ++i)
            st = m.decode(B, ids.data(), pos.data(), slot.data(), next.data());
        if (!st.ok()) {
            std::printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", s.name, st.error().to_string().c_str());
            return;
        }
        const int steps = 64;
        std::vector<double> gpu_ms;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < steps; ++i) {
            for (int b = 0; b < B; ++b) {
                ids[size_t(b)] = next[size_t(b)];
                pos[size_t(b)] = context + i;
            }
            (void)m.decode(B, ids.data(), pos.data(), slot.data(), next.data());
            gpu_ms.push_back(double(m.last_gpu_ms()));
        }
        const double wall_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
        const double bytes = weight_bytes + double(B) * (context + 32) * kv_per_token;
        const double floor_ms = bytes / (bw_gbs * 1e9) * 1e3;
        std::printf(
            "{\"model\":\"%s\",\"test\":\"decode\",\"batch\":%d,\"context\":%d,\"step_ms\":%.3f,\"gpu_ms\":%."
            "3f,"
            "\"tok_s\":%.1f,\"floor_ms\":%.3f,\"share\":%.3f}\n",
            s.name, B, context, wall_ms, median(gpu_ms), B * 1e3 / wall_ms, floor_ms, floor_ms / wall_ms);
        std::vector<double> us;
        if (trace && B == 1 && cuda::persistent_decode_trace_read(us).ok())
            std::printf(
                "{\"model\":\"%s\",\"persistent_phase_us\":{\"norm_qkv_rope\":%.2f,\"attention\":%.2f,"
                "\"o_proj\":%.2f,\"norm_gate_up\":%.2f,\"down_proj\":%.2f}}\n",
                s.name, us[0], us[1], us[2], us[3], us[4]);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (cuda::device_count() == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    std::string only = argc > 1 ? argv[1] : "";
    const bool profiling = argc > 2 && std::string(argv[2]) == "profile";
    const bool decode_only = argc > 2 && std::string(argv[2]) == "b1";
    auto ctx = cuda::CudaContext::create(0);
    auto info = cuda::device_info(0);
    if (!ctx.ok() || !info.ok()) return 1;
    if (profiling) {
        for (const auto& name : {"deepseek-llm-7b-chat", "r1-distill-qwen-1.5b"}) {
            if (only == name) {
                LlmConfig c = only == std::string("deepseek-llm-7b-chat")
                                  ? make(ModelFamily::Llama, 4096, 11008, 30, 32, 32, 102400, false)
                                  : make(ModelFamily::Qwen2, 1536, 8960, 28, 12, 2, 151936, true);
                profile({name, c}, 1024);
            }
        }
        return 0;
    }
    const double bw = measure_bandwidth(), tf = measure_gemm_rate(**ctx);
    std::printf("{\"device\":\"%s\",\"copy_bandwidth_gbs\":%.0f,\"cublas_bf16_tflops\":%.0f}\n",
                info->name.c_str(), bw, tf);
    const ModelShape shapes[] = {
        {"deepseek-llm-7b-chat", make(ModelFamily::Llama, 4096, 11008, 30, 32, 32, 102400, false)},
        {"r1-distill-qwen-1.5b", make(ModelFamily::Qwen2, 1536, 8960, 28, 12, 2, 151936, true)},
        {"r1-distill-qwen-7b", make(ModelFamily::Qwen2, 3584, 18944, 28, 28, 4, 152064, true)},
    };
    for (const ModelShape& s : shapes)
        if (only.empty() || only == s.name) bench(s, bw, tf, 1024, decode_only);
    return 0;
}
