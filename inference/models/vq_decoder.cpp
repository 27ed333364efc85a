// VQ-16 decoder (see vq_decoder.h; models.md §7.6). Loading discovers the structure from the stored
// shapes and validates every tensor; decoding walks conv_in -> mid -> stages -> out on one image at a
// time with three activation buffers that swap roles, so memory does not grow with the batch.
#include "models/vq_decoder.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "backend/cpu/conv_ops.h"
#include "backend/cpu/ops.h"

namespace tessera {

namespace {

constexpr int kGroups = 32;  // GroupNorm(32, eps 1e-6), §1.3
constexpr float kNormEps = 1e-6f;
constexpr int kMaxOutputSide = 8192;  // pixels; larger grids are refused before any allocation

std::string idx(const std::string& prefix, const char* part, int i) {
    return prefix + part + std::to_string(i);
}

Result<Shape> stored_shape(const WeightLoader& loader, const std::string& name) {
    const TensorEntry* e = loader.checkpoint().find(name);
    if (!e) return make_error(ErrorCode::Format, name + ": tensor not found in the checkpoint (VQ decoder)");
    return e->tensor.shape;
}

Result<VqDecoder::Conv> load_conv(WeightLoader& loader, const std::string& name, int64_t cout, int64_t cin,
                                  int64_t k) {
    VqDecoder::Conv c;
    TESSERA_ASSIGN(c.weight, loader.get(name + ".weight", Shape{cout, cin, k, k}));
    TESSERA_ASSIGN(c.bias, loader.get(name + ".bias", Shape{cout}));
    c.pad = int(k / 2);
    return c;
}

Result<VqDecoder::Norm> load_norm(WeightLoader& loader, const std::string& name, int64_t channels) {
    if (channels % kGroups != 0)
        return make_error(ErrorCode::Shape, name + ": GroupNorm over " + std::to_string(channels) +
                                                " channels, not divisible into 32 groups");
    VqDecoder::Norm n;
    TESSERA_ASSIGN(n.weight, loader.get(name + ".weight", Shape{channels}));
    TESSERA_ASSIGN(n.bias, loader.get(name + ".bias", Shape{channels}));
    return n;
}

// ResBlock(cin -> cout): cout is read from conv1's stored shape.
Result<VqDecoder::ResBlock> load_res(WeightLoader& loader, const std::string& p, int cin) {
    VqDecoder::ResBlock r;
    TESSERA_ASSIGN(Shape s, stored_shape(loader, p + "conv1.weight"));
    if (s.ndim != 4 || s[0] <= 0)
        return make_error(ErrorCode::Shape, p + "conv1.weight: expected [cout, " + std::to_string(cin) +
                                                ", 3, 3], file has " + s.to_string());
    r.cin = cin;
    r.cout = int(s[0]);
    TESSERA_ASSIGN(r.norm1, load_norm(loader, p + "norm1", cin));
    TESSERA_ASSIGN(r.conv1, load_conv(loader, p + "conv1", r.cout, cin, 3));
    TESSERA_ASSIGN(r.norm2, load_norm(loader, p + "norm2", r.cout));
    TESSERA_ASSIGN(r.conv2, load_conv(loader, p + "conv2", r.cout, r.cout, 3));
    if (r.cin != r.cout) {
        TESSERA_ASSIGN(r.nin_shortcut, load_conv(loader, p + "nin_shortcut", r.cout, cin, 1));
    }
    return r;
}

Result<VqDecoder::AttnBlock> load_attn(WeightLoader& loader, const std::string& p, int channels) {
    VqDecoder::AttnBlock a;
    a.channels = channels;
    TESSERA_ASSIGN(a.norm, load_norm(loader, p + "norm", channels));
    TESSERA_ASSIGN(a.q, load_conv(loader, p + "q", channels, channels, 1));
    TESSERA_ASSIGN(a.k, load_conv(loader, p + "k", channels, channels, 1));
    TESSERA_ASSIGN(a.v, load_conv(loader, p + "v", channels, channels, 1));
    TESSERA_ASSIGN(a.proj_out, load_conv(loader, p + "proj_out", channels, channels, 1));
    return a;
}

int count_prefixed(const WeightLoader& loader, const std::string& before, const std::string& after) {
    int n = 0;
    while (loader.has(before + std::to_string(n) + after)) ++n;
    return n;
}

Tensor f32_view(float* data, int64_t rows, int64_t cols) {
    return Tensor{DType::F32, Shape{rows, cols}, DeviceKind::Cpu, data};
}

}  // namespace

// Sizes (floats) of decode()'s buffers for one grid.
struct VqDecoder::Plan {
    int64_t activation = 0;  // each of the three activation buffers
    int64_t conv = 0;        // conv2d tiles for every thread
    int64_t attention = 0;   // q, k, v, transposes and the score matrix of the largest AttnBlock
};

VqDecoder::Plan VqDecoder::plan(int grid_h, int grid_w, int threads) const {
    Plan p;
    int64_t hw = int64_t(grid_h) * grid_w;
    auto act = [&](int64_t channels, int64_t positions) {
        p.activation = std::max(p.activation, channels * positions);
    };
    int64_t width = grid_w;
    auto conv = [&](const Conv& c) {
        p.conv =
            std::max(p.conv, cpu::conv2d_scratch_floats(c.weight.dim(1), c.weight.dim(0), c.weight.dim(2),
                                                        c.weight.dim(3), hw / width, width, c.pad, threads));
    };
    auto res = [&](const ResBlock& r) {
        act(std::max(r.cin, r.cout), hw);
        conv(r.conv1);
        conv(r.conv2);
        if (r.cin != r.cout) conv(r.nin_shortcut);
    };
    auto attn = [&](const AttnBlock& a) {
        act(a.channels, hw);
        p.attention = std::max(p.attention, 4 * hw * a.channels + hw * hw);
    };
    act(m_config.embed_dim, hw);
    act(m_config.z_channels, hw);
    conv(m_post_quant_conv);
    conv(m_conv_in);
    res(m_mid0);
    attn(m_mid1);
    res(m_mid2);
    for (const Stage& s : m_stages) {
        for (size_t i = 0; i < s.res.size(); ++i) {
            res(s.res[i]);
            if (!s.attn.empty()) attn(s.attn[i]);
        }
        if (s.upsample) {
            hw *= 4;
            width *= 2;
            act(s.upsample_conv.weight.dim(0), hw);
            conv(s.upsample_conv);
        }
    }
    conv(m_conv_out);
    act(3, hw);
    return p;
}

uint64_t VqDecoder::scratch_bytes(int grid_h, int grid_w) const {
    if (grid_h <= 0 || grid_w <= 0) return 0;
    const Plan p = plan(grid_h, grid_w, ThreadPool::global().size());
    return uint64_t(3 * p.activation + p.conv + p.attention) * sizeof(float);
}

Result<std::unique_ptr<VqDecoder>> VqDecoder::load(WeightLoader& loader, const std::string& prefix) {
    auto d = std::make_unique<VqDecoder>();
    VqDecoderConfig& c = d->m_config;
    const std::string dec = prefix + "decoder.";

    // Code -> latent: codebook [n, d], post_quant_conv d -> z.
    TESSERA_ASSIGN(Shape cb, stored_shape(loader, prefix + "quantize.embedding.weight"));
    if (cb.ndim != 2 || cb[0] <= 0 || cb[1] <= 0)
        return make_error(ErrorCode::Shape, prefix +
                                                "quantize.embedding.weight: expected [codebook_size, "
                                                "embed_dim], file has " +
                                                cb.to_string());
    c.codebook_size = int(cb[0]);
    c.embed_dim = int(cb[1]);
    TESSERA_ASSIGN(d->m_codebook, loader.get(prefix + "quantize.embedding.weight", cb));
    TESSERA_ASSIGN(Shape pq, stored_shape(loader, prefix + "post_quant_conv.weight"));
    if (pq.ndim != 4 || pq[0] <= 0)
        return make_error(ErrorCode::Shape, prefix + "post_quant_conv.weight: expected [z_channels, " +
                                                std::to_string(c.embed_dim) + ", 1, 1], file has " +
                                                pq.to_string());
    c.z_channels = int(pq[0]);
    TESSERA_ASSIGN(d->m_post_quant_conv,
                   load_conv(loader, prefix + "post_quant_conv", c.z_channels, c.embed_dim, 1));

    // conv_in z -> block_in (the coarsest level's width), then mid = Res, Attn, Res at that width.
    TESSERA_ASSIGN(Shape ci, stored_shape(loader, dec + "conv_in.weight"));
    if (ci.ndim != 4 || ci[0] <= 0)
        return make_error(ErrorCode::Shape, dec + "conv_in.weight: expected [block_in, " +
                                                std::to_string(c.z_channels) + ", 3, 3], file has " +
                                                ci.to_string());
    int block_in = int(ci[0]);
    TESSERA_ASSIGN(d->m_conv_in, load_conv(loader, dec + "conv_in", block_in, c.z_channels, 3));
    TESSERA_ASSIGN(d->m_mid0, load_res(loader, dec + "mid.0.", block_in));
    TESSERA_ASSIGN(d->m_mid1, load_attn(loader, dec + "mid.1.", block_in));
    TESSERA_ASSIGN(d->m_mid2, load_res(loader, dec + "mid.2.", block_in));
    if (d->m_mid0.cout != block_in || d->m_mid2.cout != block_in)
        return make_error(ErrorCode::Shape,
                          dec + "mid: res blocks must keep " + std::to_string(block_in) + " channels");

    // Stages: decoder.conv_blocks.N, coarsest first; each holds the same number of res blocks.
    const int stages = count_prefixed(loader, dec + "conv_blocks.", ".res.0.conv1.weight");
    if (stages == 0)
        return make_error(ErrorCode::Format, dec +
                                                 "conv_blocks.0.res.0.conv1.weight: tensor not found in the "
                                                 "checkpoint (VQ decoder without up-sampling stages)");
    if (stages > 8)
        return make_error(ErrorCode::Unsupported, dec + "conv_blocks: " + std::to_string(stages) +
                                                      " stages (an up-sampling factor above 128)");
    for (int s = 0; s < stages; ++s) {
        const std::string sp = idx(dec, "conv_blocks.", s) + ".";
        Stage st;
        const int nres = count_prefixed(loader, sp + "res.", ".conv1.weight");
        if (s > 0 && nres != int(d->m_stages[0].res.size()))
            return make_error(ErrorCode::Shape, sp + "res: " + std::to_string(nres) +
                                                    " res blocks, stage 0 has " +
                                                    std::to_string(d->m_stages[0].res.size()));
        for (int r = 0; r < nres; ++r) {
            TESSERA_ASSIGN(ResBlock rb, load_res(loader, idx(sp, "res.", r) + ".", block_in));
            block_in = rb.cout;
            st.res.push_back(std::move(rb));
        }
        const int nattn = count_prefixed(loader, sp + "attn.", ".norm.weight");
        if (nattn != 0 && nattn != nres)
            return make_error(ErrorCode::Shape, sp + "attn: " + std::to_string(nattn) +
                                                    " attention blocks, expected 0 or one per res block (" +
                                                    std::to_string(nres) + ")");
        for (int a = 0; a < nattn; ++a) {
            TESSERA_ASSIGN(AttnBlock ab,
                           load_attn(loader, idx(sp, "attn.", a) + ".", st.res[size_t(a)].cout));
            st.attn.push_back(std::move(ab));
        }
        // Every stage but the last (full resolution) ends with nearest x2 + 3x3 conv.
        st.upsample = s + 1 < stages;
        if (st.upsample) {
            TESSERA_ASSIGN(st.upsample_conv, load_conv(loader, sp + "upsample.conv", block_in, block_in, 3));
        }
        d->m_stages.push_back(std::move(st));
    }
    TESSERA_ASSIGN(d->m_norm_out, load_norm(loader, dec + "norm_out", block_in));
    TESSERA_ASSIGN(d->m_conv_out, load_conv(loader, dec + "conv_out", 3, block_in, 3));

    // ch_mult relative to the full-resolution width (ch), finest level first as in the model arguments.
    c.ch = block_in;
    c.num_res_blocks = int(d->m_stages[0].res.size()) - 1;
    for (int s = stages - 1; s >= 0; --s) {
        const int out = d->m_stages[size_t(s)].res.back().cout;
        if (out % c.ch != 0)
            return make_error(ErrorCode::Shape, idx(dec, "conv_blocks.", s) + ": " + std::to_string(out) +
                                                    " channels, not a multiple of the last stage's " +
                                                    std::to_string(c.ch));
        c.ch_mult.push_back(out / c.ch);
    }

    // Image -> tokens parts of the same model: present in the checkpoint, never run here.
    loader.ignore_prefix(prefix + "encoder.");
    loader.ignore_prefix(prefix + "quant_conv.");
    loader.ignore(prefix + "quantize.codebook_used");
    return d;
}

namespace {

// The working state of one decode: three activation buffers whose roles rotate, conv tiles, attention.
struct Work {
    float* x;  // the current activation
    float* h;
    float* t;
    float* conv;
    float* attn;
    ThreadPool& pool;
};

void run_conv(Work& w, const VqDecoder::Conv& c, const float* in, int64_t cin, int64_t hh, int64_t ww,
              float* out) {
    cpu::conv2d(in, cin, hh, ww, c.weight, c.bias, c.pad, out, w.conv, w.pool);
}

void run_res(Work& w, const VqDecoder::ResBlock& r, int64_t hh, int64_t ww) {
    const int64_t hw = hh * ww;
    cpu::group_norm(w.x, r.cin, hw, kGroups, kNormEps, r.norm1.weight, r.norm1.bias, true, w.t, w.pool);
    run_conv(w, r.conv1, w.t, r.cin, hh, ww, w.h);
    cpu::group_norm(w.h, r.cout, hw, kGroups, kNormEps, r.norm2.weight, r.norm2.bias, true, w.t, w.pool);
    run_conv(w, r.conv2, w.t, r.cout, hh, ww, w.h);
    if (r.cin != r.cout) {
        run_conv(w, r.nin_shortcut, w.x, r.cin, hh, ww, w.t);
        cpu::add_inplace(w.t, w.h, r.cout * hw);
        std::swap(w.x, w.t);
    } else {
        cpu::add_inplace(w.x, w.h, r.cout * hw);
    }
}

// Single-head attention over the hw positions with scale C^-1/2 (§7.6), residual added to x.
void run_attn(Work& w, const VqDecoder::AttnBlock& a, int64_t hw) {
    const int64_t C = a.channels;
    float* tt = w.attn;  // normed input, positions x channels; later v channels x positions
    float* q = tt + hw * C;
    float* k = q + hw * C;
    float* v = k + hw * C;
    float* s = v + hw * C;  // [hw, hw]
    cpu::group_norm(w.x, C, hw, kGroups, kNormEps, a.norm.weight, a.norm.bias, false, w.t, w.pool);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < hw; ++p) tt[p * C + c] = w.t[c * hw + p];
    cpu::matmul(tt, hw, C, a.q.weight, a.q.bias, q, w.pool);
    cpu::matmul(tt, hw, C, a.k.weight, a.k.bias, k, w.pool);
    cpu::matmul(tt, hw, C, a.v.weight, a.v.bias, v, w.pool);
    for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = 0; c < C; ++c) tt[c * hw + p] = v[p * C + c];
    cpu::matmul(q, hw, C, f32_view(k, hw, C), Tensor{}, s, w.pool);
    const float scale = float(std::pow(double(C), -0.5));
    w.pool.parallel_for(hw, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0 * hw; i < r1 * hw; ++i) s[i] *= scale;
        cpu::softmax(s + r0 * hw, r1 - r0, hw);
    });
    float* o = q;  // [hw, C]
    cpu::matmul(s, hw, hw, f32_view(tt, C, hw), Tensor{}, o, w.pool);
    float* proj = k;
    cpu::matmul(o, hw, C, a.proj_out.weight, a.proj_out.bias, proj, w.pool);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < hw; ++p) w.x[c * hw + p] += proj[p * C + c];
}

}  // namespace

Status VqDecoder::decode(const int32_t* codes, int count, int grid_h, int grid_w, float* out,
                         ThreadPool& pool) const {
    const int f = upsample_factor();
    if (count < 0) return make_error(ErrorCode::InvalidArgument, "VQ decode: negative image count");
    if (grid_h <= 0 || grid_w <= 0 || int64_t(grid_h) * f > kMaxOutputSide ||
        int64_t(grid_w) * f > kMaxOutputSide)
        return make_error(ErrorCode::InvalidArgument, "VQ decode: code grid " + std::to_string(grid_h) + "x" +
                                                          std::to_string(grid_w) +
                                                          " does not fit (each side 1.." +
                                                          std::to_string(kMaxOutputSide / f) + " codes)");
    const int64_t hw0 = int64_t(grid_h) * grid_w;
    for (int64_t i = 0; i < int64_t(count) * hw0; ++i)
        if (codes[i] < 0 || codes[i] >= m_config.codebook_size)
            return make_error(ErrorCode::InvalidArgument, "VQ decode: code " + std::to_string(codes[i]) +
                                                              " (image " + std::to_string(i / hw0) +
                                                              ", position " + std::to_string(i % hw0) +
                                                              ") outside the codebook [0, " +
                                                              std::to_string(m_config.codebook_size) + ")");
    if (count == 0) return {};

    const Plan p = plan(grid_h, grid_w, pool.size());
    std::vector<float> mem;
    try {
        mem.resize(size_t(3 * p.activation + p.conv + p.attention));
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory,
                          "VQ decode: " + std::to_string(scratch_bytes(grid_h, grid_w)) +
                              " bytes of working memory for a " + std::to_string(grid_h) + "x" +
                              std::to_string(grid_w) + " grid could not be allocated");
    }
    const int64_t D = m_config.embed_dim;
    const int64_t out_hw = hw0 * f * f;
    for (int img = 0; img < count; ++img) {
        Work w{mem.data(),
               mem.data() + p.activation,
               mem.data() + 2 * p.activation,
               mem.data() + 3 * p.activation,
               mem.data() + 3 * p.activation + p.conv,
               pool};
        // z[d, pos] = normalise(codebook[code]) (F.normalize: e / max(|e|, 1e-12)).
        const int32_t* ids = codes + img * hw0;
        std::vector<float> row(size_t(D), 0.0f);
        for (int64_t pos = 0; pos < hw0; ++pos) {
            cpu::embedding(m_codebook, ids + pos, 1, row.data());
            double sq = 0.0;
            for (int64_t d = 0; d < D; ++d) sq += double(row[size_t(d)]) * double(row[size_t(d)]);
            const float norm = std::max(float(std::sqrt(sq)), 1e-12f);
            for (int64_t d = 0; d < D; ++d) w.h[d * hw0 + pos] = row[size_t(d)] / norm;
        }
        int64_t hh = grid_h, ww = grid_w;
        run_conv(w, m_post_quant_conv, w.h, D, hh, ww, w.t);
        run_conv(w, m_conv_in, w.t, m_config.z_channels, hh, ww, w.x);
        run_res(w, m_mid0, hh, ww);
        run_attn(w, m_mid1, hh * ww);
        run_res(w, m_mid2, hh, ww);
        for (const Stage& s : m_stages) {
            for (size_t i = 0; i < s.res.size(); ++i) {
                run_res(w, s.res[i], hh, ww);
                if (!s.attn.empty()) run_attn(w, s.attn[i], hh * ww);
            }
            if (s.upsample) {
                const int64_t C = s.upsample_conv.weight.dim(0);
                cpu::upsample_nearest2x(w.x, C, hh, ww, w.h, pool);
                hh *= 2;
                ww *= 2;
                run_conv(w, s.upsample_conv, w.h, C, hh, ww, w.t);
                std::swap(w.x, w.t);
            }
        }
        const int64_t C = m_config.ch;
        cpu::group_norm(w.x, C, hh * ww, kGroups, kNormEps, m_norm_out.weight, m_norm_out.bias, true, w.t,
                        pool);
        run_conv(w, m_conv_out, w.t, C, hh, ww, out + int64_t(img) * 3 * out_hw);
    }
    return {};
}

Image vq_to_image(const float* chw, int height, int width) {
    Image img;
    img.width = width;
    img.height = height;
    const int64_t hw = int64_t(height) * width;
    img.rgb.resize(size_t(hw * 3));
    for (int64_t p = 0; p < hw; ++p)
        for (int c = 0; c < 3; ++c) {
            // NaN maps to 0 (the clip of NumPy keeps NaN and its uint8 cast is undefined; 0 is a choice).
            const float v = (chw[c * hw + p] + 1.0f) / 2.0f * 255.0f;
            const float clipped = v >= 255.0f ? 255.0f : (v > 0.0f ? v : 0.0f);
            img.rgb[size_t(p * 3 + c)] = uint8_t(clipped);
        }
    return img;
}

}  // namespace tessera
