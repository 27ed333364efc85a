// VQ-16 decoder on the CPU (models.md §7.6) at the real Janus-Pro shapes with random bf16 weights: one
// 24×24 code grid -> one 384×384 image, the time per image, plus the conv FLOPs the decoder performs and
// the rate that makes. The weights are built in memory (no checkpoint file needed).
//
// Usage: bench_vq_decoder [--threads N] [--images N] [--grid G]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "layers/weights.h"
#include "models/vq_decoder.h"
#include "random_vq16.h"

using namespace tessera;
using tessera::benchutil::Builder;
using tessera::benchutil::build_vq16;
using Clock = std::chrono::steady_clock;

namespace {

// Multiply-adds of every conv (weight elements x output positions) for one grid, x2 = FLOPs.
double conv_flops(const Checkpoint& ck, int grid) {
    double flops = 0;
    for (const TensorEntry& e : ck.tensors()) {
        if (e.tensor.shape.ndim != 4) continue;
        const std::string& n = e.name;
        int64_t side = grid;
        // Spatial size of the conv: stage s works at grid * 2^s; its upsample conv at twice that.
        const size_t at = n.find("conv_blocks.");
        if (at != std::string::npos) {
            const int s = n[at + 12] - '0';
            side = int64_t(grid) << s;
            if (n.find("upsample") != std::string::npos) side *= 2;
        } else if (n.find("conv_out") != std::string::npos) {
            side = int64_t(grid) << 4;
        }
        flops += 2.0 * double(e.tensor.numel()) * double(side * side);
    }
    return flops;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0, images = 1, grid = 24;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads"))
            threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--images"))
            images = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--grid"))
            grid = std::atoi(argv[i + 1]);
    }
    Builder b;
    build_vq16(b);
    WeightLoader loader(b.ck);
    auto dec = VqDecoder::load(loader, "gen_vision_model.");
    if (!dec.ok()) {
        std::fprintf(stderr, "load: %s\n", dec.error().message.c_str());
        return 1;
    }
    if (auto used = loader.check_all_used(); !used.ok()) {
        std::fprintf(stderr, "%s\n", used.error().message.c_str());
        return 1;
    }
    ThreadPool pool(threads);
    const int f = (*dec)->upsample_factor();
    std::vector<int32_t> codes(size_t(images) * size_t(grid * grid));
    std::mt19937 rng(7);
    for (int32_t& c : codes) c = int32_t(rng() % 16384);
    std::vector<float> out(size_t(images) * 3 * size_t(grid * f) * size_t(grid * f));
    std::printf(
        "VQ-16 decoder, bf16 random weights, %d image(s) %dx%d codes -> %dx%d, %d threads, scratch %.0f MB\n",
        images, grid, grid, grid * f, grid * f, pool.size(), double((*dec)->scratch_bytes(grid, grid)) / 1e6);
    const double flops = conv_flops(b.ck, grid) * images;
    for (int rep = 0; rep < 2; ++rep) {
        const auto t0 = Clock::now();
        const std::clock_t c0 = std::clock();
        auto st = (*dec)->decode(codes.data(), images, grid, grid, out.data(), pool);
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;  // shared machines: wall time lies
        if (!st.ok()) {
            std::fprintf(stderr, "decode: %s\n", st.error().message.c_str());
            return 1;
        }
        std::printf(
            "run %d: %.2f s (%.2f s per image), conv %.0f GFLOP -> %.1f GFLOP/s; CPU time %.2f s "
            "(%.1f GFLOP/s per busy core)\n",
            rep + 1, s, s / images, flops / 1e9, flops / 1e9 / s, cpu, flops / 1e9 / cpu);
    }
    return 0;
}
