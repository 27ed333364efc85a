// GPU benchmark of Janus-Pro text-to-image generation at the real shapes with random bf16 weights: 16 images
// (a batch of 32 guidance rows × 576 image-token steps) end to end — prompt, token loop, VQ-16 decode of the
// 16 images to 384×384 — for the Janus-Pro-7B and -1B language models. The token loop is set against its
// floor: per step, every weight the step reads plus the KV cache of all 32 rows, over the device copy
// bandwidth measured in the same run. The loop is timed with a progress report after every step, as the app
// runs it. Prints JSON lines (PyTorch runs the same shapes in
// tools/bench/pytorch_janus.py).
#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../random_vq16.h"
#include "bench_common.h"
#include "io/checkpoint.h"
#include "layers/weights.h"
#include "models/janus_cuda.h"
#include "models/vq_decoder.h"
#include "models/vq_decoder_cuda.h"

using namespace tessera;
using tessera::benchutil::measure_bandwidth;

namespace {

LlmConfig llama(int H, int I, int L, int nh) {
    LlmConfig c;
    c.hidden_size = H;
    c.intermediate_size = I;
    c.num_hidden_layers = L;
    c.num_attention_heads = nh;
    c.num_key_value_heads = nh;
    c.head_dim = H / nh;
    c.vocab_size = 102400;
    c.max_position_embeddings = 16384;
    return c;
}

void run(const char* name, const LlmConfig& cfg, CudaVqDecoder* vq, double bw_gbs) {
    const int P = 16, N = 576, T = 40;
    CudaJanusOptions opt;
    opt.max_images = P;
    opt.max_seq = T + N;
    auto gen = CudaJanusGen::create_random(cfg, JanusGenShapes{}, opt, 7);
    if (!gen.ok()) {
        std::printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", name, gen.error().to_string().c_str());
        return;
    }
    JanusGenRequest r;
    std::mt19937 rng(3);
    r.cond.push_back(100000);
    for (int i = 1; i < T - 1; ++i) r.cond.push_back(int32_t(rng() % 100000));
    r.cond.push_back(100016);
    r.uncond.assign(r.cond.size(), 100002);
    r.uncond.front() = r.cond.front();
    r.uncond.back() = r.cond.back();
    r.count = P;
    r.image_tokens = N;
    r.cfg_weight = 5.f;
    r.temperature = 1.f;
    r.seed = 1;
    std::vector<int32_t> codes;
    Status warm = (*gen)->generate(r, codes);  // captures the step graph
    if (!warm.ok()) {
        std::printf("{\"model\":\"%s\",\"error\":\"%s\"}\n", name, warm.error().to_string().c_str());
        return;
    }
    double best_tokens = 1e30, prompt = 0;
    // Timed as the app runs it: with a progress report after every token step (TESSERA_BENCH_NO_PROGRESS=1:
    // without, for comparison).
    int reports = 0;
    std::function<bool(int)> progress = [&reports](int) {
        ++reports;
        return true;
    };
    if (std::getenv("TESSERA_BENCH_NO_PROGRESS")) progress = nullptr;
    for (int rep = 0; rep < 2; ++rep) {
        r.seed = uint64_t(rep + 2);
        if (!(*gen)->generate(r, codes, progress).ok()) return;
        if ((*gen)->last_timing().token_seconds < best_tokens) {
            best_tokens = (*gen)->last_timing().token_seconds;
            prompt = (*gen)->last_timing().prompt_seconds;
        }
    }
    // Floor of the token loop: per step the decoder weights (no embedding table or lm_head), the generation
    // input/head weights and every row's KV cache at its length, summed over the 575 decode steps.
    const double H = cfg.hidden_size, I = cfg.intermediate_size, L = cfg.num_hidden_layers;
    const double layer_bytes = 2.0 * (4 * H * H + 3 * H * I + 2 * H);
    const double gen_bytes = 2.0 * (2 * H * H + 16384.0 * H + 8 * H);
    const double kv_per_pos = 2.0 * 2 * H * L;  // K and V, bf16, all layers
    double floor_s = 0;
    for (int i = 1; i < N; ++i)
        floor_s += (layer_bytes * L + gen_bytes + 2.0 * P * (T + i) * kv_per_pos) / (bw_gbs * 1e9);
    double vq_s = 0;
    if (vq) {
        std::vector<float> img(size_t(P) * 3 * 384 * 384);
        std::vector<int32_t> c1(codes.begin(), codes.begin() + N);
        if (vq->decode(c1.data(), 1, 24, 24, img.data()).ok() &&
            vq->decode(codes.data(), P, 24, 24, img.data()).ok())
            vq_s = vq->last_seconds();
    }
    std::printf(
        "{\"model\":\"%s\",\"test\":\"generate\",\"images\":%d,\"image_tokens\":%d,\"prompt_tokens\":%d,"
        "\"prompt_s\":%.4f,\"token_loop_s\":%.3f,\"step_ms\":%.3f,\"floor_token_loop_s\":%.3f,\"share_of_"
        "floor\":%.3f,"
        "\"vq_decode_s\":%.4f,\"total_s\":%.3f,\"bandwidth_gbs\":%.0f,\"progress_reports\":%d}\n",
        name, P, N, T, prompt, best_tokens, best_tokens * 1e3 / (N - 1), floor_s, floor_s / best_tokens, vq_s,
        prompt + best_tokens + vq_s, bw_gbs, reports / 2);
    std::fflush(stdout);
}

// Two plain (graph-less) decode steps of the 7B loop between cudaProfilerStart/Stop, for
// `ncu --profile-from-start off` (tools/bench/ncu_summary.py LOG 2 groups them per step).
int profile() {
    CudaJanusOptions opt;
    opt.max_images = 16;
    opt.max_seq = 40 + 576;
    opt.use_graphs = false;
    auto gen = CudaJanusGen::create_random(llama(4096, 11008, 30, 32), JanusGenShapes{}, opt, 7);
    if (!gen.ok()) return 1;
    JanusGenRequest r;
    r.cond.assign(40, 1000);
    r.uncond.assign(40, 100002);
    r.count = 16;
    r.image_tokens = 300;  // the profiled steps run at about the loop's mean context
    std::vector<int32_t> codes;
    Status st = (*gen)->generate(r, codes, [](int done) {
        if (done == 288) cudaProfilerStart();
        if (done == 290) cudaProfilerStop();
        return done < 290;
    });
    (void)st;  // stopped on purpose
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    if (argc > 1 && std::string(argv[1]) == "--profile") return profile();
    const bool profile_vq = argc > 1 && std::string(argv[1]) == "--profile-vq";
    const double bw = profile_vq ? 0.0 : measure_bandwidth();
    benchutil::Builder random_vq;
    benchutil::build_vq16(random_vq);
    WeightLoader vq_loader(random_vq.ck);
    auto vq = VqDecoder::load(vq_loader, "gen_vision_model.");
    std::unique_ptr<CudaVqDecoder> gpu_vq;
    if (!vq.ok()) {
        std::printf("{\"vq\":\"error\",\"message\":\"%s\"}\n", vq.error().to_string().c_str());
    } else {
        auto g = CudaVqDecoder::create(**vq, 0, 24, 24);
        if (g.ok())
            gpu_vq = std::move(*g);
        else
            std::printf("{\"vq\":\"error\",\"message\":\"%s\"}\n", g.error().to_string().c_str());
    }
    if (profile_vq) {
        // One image's decode between cudaProfilerStart/Stop, after a warm-up decode, for
        // `ncu --profile-from-start off` (tools/bench/ncu_summary.py LOG 1).
        if (!gpu_vq) return 1;
        std::vector<int32_t> codes(576);
        for (size_t i = 0; i < codes.size(); ++i) codes[i] = int32_t((i * 7919) % 16384);
        std::vector<float> img(size_t(3) * 384 * 384);
        if (!gpu_vq->decode(codes.data(), 1, 24, 24, img.data()).ok()) return 1;
        cudaProfilerStart();
        const bool ok = gpu_vq->decode(codes.data(), 1, 24, 24, img.data()).ok();
        cudaProfilerStop();
        return ok ? 0 : 1;
    }
    run("janus-pro-7b", llama(4096, 11008, 30, 32), gpu_vq.get(), bw);
    run("janus-pro-1b", llama(2048, 5632, 24, 16), gpu_vq.get(), bw);
    return 0;
}
