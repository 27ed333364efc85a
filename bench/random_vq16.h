// Shared by the benchmarks: a VQ-16 decoder checkpoint (models.md §7.6, the real Janus-Pro shapes) with
// random bf16 weights, built in memory and read through the same loader as a real one.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/checkpoint.h"

namespace tessera::benchutil {

struct Builder {
    Checkpoint ck;
    std::deque<std::vector<uint16_t>> storage;
    std::mt19937 rng{42};

    void add(const std::string& name, Shape shape, float scale, float offset = 0.0f) {
        std::vector<uint16_t>& v = storage.emplace_back(size_t(shape.numel()));
        std::normal_distribution<float> dist(0.0f, 1.0f);
        for (uint16_t& x : v) x = f32_to_bf16(offset + scale * dist(rng));
        TensorEntry e;
        e.name = name;
        e.tensor = Tensor{DType::BF16, shape, DeviceKind::Cpu, v.data()};
        e.file = "random";
        (void)ck.add(std::move(e));
    }
    void conv(const std::string& p, int64_t cout, int64_t cin, int64_t k) {
        add(p + ".weight", Shape{cout, cin, k, k}, std::sqrt(1.0f / float(cin * k * k)));
        add(p + ".bias", Shape{cout}, 0.02f);
    }
    void norm(const std::string& p, int64_t c) {
        add(p + ".weight", Shape{c}, 0.05f, 1.0f);
        add(p + ".bias", Shape{c}, 0.05f);
    }
    void res(const std::string& p, int64_t cin, int64_t cout) {
        norm(p + "norm1", cin);
        conv(p + "conv1", cout, cin, 3);
        norm(p + "norm2", cout);
        conv(p + "conv2", cout, cout, 3);
        if (cin != cout) conv(p + "nin_shortcut", cout, cin, 1);
    }
    void attn(const std::string& p, int64_t c) {
        norm(p + "norm", c);
        for (const char* n : {"q", "k", "v", "proj_out"}) conv(p + n, c, c, 1);
    }
};

// VQ_16: codebook 16384 x 8, z 256, ch 128, ch_mult (1, 1, 2, 2, 4), num_res_blocks 2.
inline void build_vq16(Builder& b) {
    const std::string g = "gen_vision_model.", d = g + "decoder.";
    const int ch = 128, mult[5] = {1, 1, 2, 2, 4};
    b.add(g + "quantize.embedding.weight", Shape{16384, 8}, 1.0f);
    b.conv(g + "post_quant_conv", 256, 8, 1);
    int block_in = ch * mult[4];
    b.conv(d + "conv_in", block_in, 256, 3);
    b.res(d + "mid.0.", block_in, block_in);
    b.attn(d + "mid.1.", block_in);
    b.res(d + "mid.2.", block_in, block_in);
    for (int s = 0; s < 5; ++s) {
        const std::string p = d + "conv_blocks." + std::to_string(s) + ".";
        const int out = ch * mult[4 - s];
        for (int j = 0; j < 3; ++j) {
            b.res(p + "res." + std::to_string(j) + ".", block_in, out);
            block_in = out;
            if (s == 0) b.attn(p + "attn." + std::to_string(j) + ".", out);
        }
        if (s < 4) b.conv(p + "upsample.conv", out, out, 3);
    }
    b.norm(d + "norm_out", block_in);
    b.conv(d + "conv_out", 3, block_in, 3);
}

}  // namespace tessera::benchutil
