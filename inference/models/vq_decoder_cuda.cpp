// VQ-16 decoder on the GPU (see vq_decoder_cuda.h). Same walk as the CPU decoder: codebook → post_quant_conv →
// conv_in → mid (Res, Attn, Res) → stages (res blocks, attention at the coarse level, upsample) → norm_out →
// swish → conv_out, in bf16 activations with f32 accumulation.
#include "models/vq_decoder_cuda.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/device.h"
#include "core/dtype.h"

namespace tessera {

using cuda::bf16_t;
using cuda::check;
using cuda::DeviceBuffer;

namespace {

constexpr int kGroups = 32;
constexpr float kEps = 1e-6f;

struct GConv {
    const bf16_t* w = nullptr;  // [cout, cin·k·k]
    const bf16_t* b = nullptr;  // [cout]
    int cout = 0, cin = 0, k = 1;
};
struct GNorm {
    const bf16_t* w = nullptr;
    const bf16_t* b = nullptr;
};
struct GRes {
    int cin = 0, cout = 0;
    GNorm norm1, norm2;
    GConv conv1, conv2, nin;
};
struct GAttn {
    int C = 0;
    GNorm norm;
    GConv q, k, v, proj;
};
struct GStage {
    std::vector<GRes> res;
    std::vector<GAttn> attn;
    bool upsample = false;
    GConv up;
};

}  // namespace

struct CudaVqDecoder::Impl {
    std::unique_ptr<cuda::CudaContext> ctx;
    VqDecoderConfig cfg;
    int factor = 1, max_h = 0, max_w = 0;
    DeviceBuffer weights;
    const bf16_t* codebook = nullptr;
    GConv post_quant, conv_in, conv_out;
    GRes mid0, mid2;
    GAttn mid1;
    std::vector<GStage> stages;
    GNorm norm_out;

    DeviceBuffer work;
    bf16_t* buf[4] = {};     // activations, each act_elems
    bf16_t* col = nullptr;   // col_elems
    float* acc = nullptr;    // acc_elems
    bf16_t* qkv = nullptr;   // 4 · attn C·HW (q, k, v, o)
    float* S = nullptr;      // attn HW²
    bf16_t* P = nullptr;     // attn HW²
    float* gn_ws = nullptr;
    int32_t* d_codes = nullptr;
    float* out_f32 = nullptr;  // [3, H, W]
    double seconds = 0;

    Status conv(const GConv& c, const bf16_t* in, int H, int W, bf16_t* out, const bf16_t* residual);
    Status res(const GRes& r, bf16_t*& x, int H, int W, bf16_t* t, bf16_t* h, bf16_t* sc);
    Status attn(const GAttn& a, bf16_t*& x, int H, int W, bf16_t* t, bf16_t* y);
    Status decode_one(const int32_t* d_codes_img, int gh, int gw);
};

namespace {

// Element counts of the working buffers for one grid, found by walking the decoder.
struct Sizes {
    size_t act = 0, col = 0, acc = 0, attn_chw = 0, attn_hw2 = 0;
};

Sizes plan(const VqDecoder& d, int gh, int gw) {
    Sizes s;
    auto see = [&](int C, int H, int W, int k, int cout) {
        const size_t hw = size_t(H) * W;
        s.act = std::max({s.act, size_t(C) * hw, size_t(cout) * hw});
        if (k == 3) s.col = std::max(s.col, size_t(C) * 9 * hw);
        s.acc = std::max(s.acc, size_t(cout) * hw);
    };
    const VqDecoderConfig& c = d.config();
    int H = gh, W = gw;
    see(c.embed_dim, H, W, 1, c.z_channels);
    see(c.z_channels, H, W, 3, d.conv_in().weight.dim(0));
    auto see_res = [&](const VqDecoder::ResBlock& r) {
        see(r.cin, H, W, 3, r.cout);
        see(r.cout, H, W, 3, r.cout);
    };
    auto see_attn = [&](const VqDecoder::AttnBlock& a) {
        see(a.channels, H, W, 1, a.channels);
        s.attn_chw = std::max(s.attn_chw, size_t(a.channels) * H * W);
        s.attn_hw2 = std::max(s.attn_hw2, size_t(H) * W * H * W);
    };
    see_res(d.mid0());
    see_attn(d.mid1());
    see_res(d.mid2());
    for (const VqDecoder::Stage& st : d.stages()) {
        for (size_t i = 0; i < st.res.size(); ++i) {
            see_res(st.res[i]);
            if (i < st.attn.size()) see_attn(st.attn[i]);
        }
        if (st.upsample) {
            const int C = int(st.upsample_conv.weight.dim(0));
            H *= 2;
            W *= 2;
            see(C, H, W, 3, C);
        }
    }
    see(int(d.conv_out().weight.dim(1)), H, W, 3, 3);
    return s;
}

size_t align256(size_t v) { return (v + 255) / 256 * 256; }

// Every weight tensor of the decoder, in upload order.
void collect(const VqDecoder& d, std::vector<const Tensor*>& out) {
    auto conv = [&](const VqDecoder::Conv& c) {
        out.push_back(&c.weight);
        out.push_back(&c.bias);
    };
    auto norm = [&](const VqDecoder::Norm& n) {
        out.push_back(&n.weight);
        out.push_back(&n.bias);
    };
    auto res = [&](const VqDecoder::ResBlock& r) {
        norm(r.norm1);
        conv(r.conv1);
        norm(r.norm2);
        conv(r.conv2);
        if (r.cin != r.cout) conv(r.nin_shortcut);
    };
    auto attn = [&](const VqDecoder::AttnBlock& a) {
        norm(a.norm);
        conv(a.q);
        conv(a.k);
        conv(a.v);
        conv(a.proj_out);
    };
    out.push_back(&d.codebook());
    conv(d.post_quant_conv());
    conv(d.conv_in());
    res(d.mid0());
    attn(d.mid1());
    res(d.mid2());
    for (const VqDecoder::Stage& st : d.stages()) {
        for (const auto& r : st.res) res(r);
        for (const auto& a : st.attn) attn(a);
        if (st.upsample) conv(st.upsample_conv);
    }
    norm(d.norm_out());
    conv(d.conv_out());
}

uint64_t weight_bytes(const VqDecoder& d) {
    std::vector<const Tensor*> ts;
    collect(d, ts);
    uint64_t n = 0;
    for (const Tensor* t : ts) n += align256(size_t(t->numel()) * 2);
    return n;
}

uint64_t work_bytes(const VqDecoder& d, int gh, int gw) {
    const Sizes s = plan(d, gh, gw);
    const int f = d.upsample_factor();
    return 4 * align256(s.act * 2) + align256(s.col * 2) + align256(s.acc * 4) + align256(4 * s.attn_chw * 2) +
           align256(s.attn_hw2 * 4) + align256(s.attn_hw2 * 2) + align256(cuda::group_norm_workspace(kGroups)) +
           align256(size_t(gh) * gw * 4) + align256(size_t(3) * gh * f * gw * f * 4);
}

}  // namespace

uint64_t CudaVqDecoder::memory_bytes(const VqDecoder& cpu, int max_grid_h, int max_grid_w) {
    return weight_bytes(cpu) + work_bytes(cpu, max_grid_h, max_grid_w) + (32ull << 20);
}

CudaVqDecoder::CudaVqDecoder(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
CudaVqDecoder::~CudaVqDecoder() = default;
double CudaVqDecoder::last_seconds() const { return m_impl->seconds; }

Result<std::unique_ptr<CudaVqDecoder>> CudaVqDecoder::create(const VqDecoder& d, int device, int max_grid_h, int max_grid_w) {
    if (max_grid_h < 1 || max_grid_w < 1)
        return make_error(ErrorCode::InvalidArgument, "VQ decoder: the grid must not be empty");
    auto m = std::make_unique<Impl>();
    TESSERA_ASSIGN(cuda::DeviceInfo info, cuda::device_info(device));
    const uint64_t need = memory_bytes(d, max_grid_h, max_grid_w);
    if (need > info.free_bytes)
        return make_error(ErrorCode::OutOfMemory, "the image decoder needs about " + std::to_string(need >> 20) +
                                                      " MiB of GPU memory but " + info.name + " has " +
                                                      std::to_string(info.free_bytes >> 20) + " MiB free");
    TESSERA_ASSIGN(m->ctx, cuda::CudaContext::create(device));
    m->cfg = d.config();
    m->factor = d.upsample_factor();
    m->max_h = max_grid_h;
    m->max_w = max_grid_w;

    // Weights: one allocation, each tensor converted to bf16 on the host and copied.
    std::vector<const Tensor*> ts;
    collect(d, ts);
    TESSERA_ASSIGN(m->weights, DeviceBuffer::allocate(weight_bytes(d), "image decoder weights"));
    std::vector<const bf16_t*> dev;
    size_t off = 0;
    std::vector<uint16_t> host;
    for (const Tensor* t : ts) {
        host.resize(size_t(t->numel()));
        for (int64_t i = 0; i < t->numel(); ++i) {
            switch (t->dtype) {
                case DType::BF16: host[size_t(i)] = t->as<const uint16_t>()[i]; break;
                case DType::F16: host[size_t(i)] = f32_to_bf16(f16_to_f32(t->as<const uint16_t>()[i])); break;
                case DType::F32: host[size_t(i)] = f32_to_bf16(t->as<const float>()[i]); break;
                default: return make_error(ErrorCode::DType, "image decoder: a weight is not a float tensor");
            }
        }
        bf16_t* p = reinterpret_cast<bf16_t*>(static_cast<std::byte*>(m->weights.data()) + off);
        TESSERA_TRY(check(cudaMemcpy(p, host.data(), host.size() * 2, cudaMemcpyHostToDevice), "upload image decoder"));
        dev.push_back(p);
        off += align256(host.size() * 2);
    }
    // Same order as collect().
    size_t i = 0;
    auto next = [&] { return dev[i++]; };
    auto conv = [&](const VqDecoder::Conv& c) {
        GConv g;
        g.w = next();
        g.b = next();
        g.cout = int(c.weight.dim(0));
        g.cin = int(c.weight.dim(1));
        g.k = int(c.weight.dim(2));
        return g;
    };
    auto norm = [&]() {
        GNorm n;
        n.w = next();
        n.b = next();
        return n;
    };
    auto res = [&](const VqDecoder::ResBlock& r) {
        GRes g;
        g.cin = r.cin;
        g.cout = r.cout;
        g.norm1 = norm();
        g.conv1 = conv(r.conv1);
        g.norm2 = norm();
        g.conv2 = conv(r.conv2);
        if (r.cin != r.cout) g.nin = conv(r.nin_shortcut);
        return g;
    };
    auto attn = [&](const VqDecoder::AttnBlock& a) {
        GAttn g;
        g.C = a.channels;
        g.norm = norm();
        g.q = conv(a.q);
        g.k = conv(a.k);
        g.v = conv(a.v);
        g.proj = conv(a.proj_out);
        return g;
    };
    m->codebook = next();
    m->post_quant = conv(d.post_quant_conv());
    m->conv_in = conv(d.conv_in());
    m->mid0 = res(d.mid0());
    m->mid1 = attn(d.mid1());
    m->mid2 = res(d.mid2());
    for (const VqDecoder::Stage& st : d.stages()) {
        GStage g;
        for (const auto& r : st.res) g.res.push_back(res(r));
        for (const auto& a : st.attn) g.attn.push_back(attn(a));
        g.upsample = st.upsample;
        if (st.upsample) g.up = conv(st.upsample_conv);
        m->stages.push_back(std::move(g));
    }
    m->norm_out = norm();
    m->conv_out = conv(d.conv_out());

    const Sizes s = plan(d, max_grid_h, max_grid_w);
    TESSERA_ASSIGN(m->work, DeviceBuffer::allocate(work_bytes(d, max_grid_h, max_grid_w), "image decoder buffers"));
    std::byte* base = static_cast<std::byte*>(m->work.data());
    size_t o = 0;
    auto take = [&](size_t bytes) {
        std::byte* p = base + o;
        o += align256(bytes);
        return p;
    };
    for (auto& b : m->buf) b = reinterpret_cast<bf16_t*>(take(s.act * 2));
    m->col = reinterpret_cast<bf16_t*>(take(s.col * 2));
    m->acc = reinterpret_cast<float*>(take(s.acc * 4));
    m->qkv = reinterpret_cast<bf16_t*>(take(4 * s.attn_chw * 2));
    m->S = reinterpret_cast<float*>(take(s.attn_hw2 * 4));
    m->P = reinterpret_cast<bf16_t*>(take(s.attn_hw2 * 2));
    m->gn_ws = reinterpret_cast<float*>(take(cuda::group_norm_workspace(kGroups)));
    m->d_codes = reinterpret_cast<int32_t*>(take(size_t(max_grid_h) * max_grid_w * 4));
    m->out_f32 = reinterpret_cast<float*>(take(size_t(3) * max_grid_h * m->factor * max_grid_w * m->factor * 4));
    return std::unique_ptr<CudaVqDecoder>(new CudaVqDecoder(std::move(m)));
}

// out = conv(in) + bias (+ residual); 1×1 convolutions multiply the activations directly.
Status CudaVqDecoder::Impl::conv(const GConv& c, const bf16_t* in, int H, int W, bf16_t* out, const bf16_t* residual) {
    const int HW = H * W, K = c.cin * c.k * c.k;
    const bf16_t* B = in;
    if (c.k == 3) {
        TESSERA_TRY(cuda::im2col3x3(in, c.cin, H, W, col, ctx->stream()));
        B = col;
    }
    TESSERA_TRY(cuda::gemm_rm(*ctx, false, false, c.cout, HW, K, c.w, K, B, HW, acc, true, HW));
    return cuda::bias_residual(acc, c.b, c.cout, HW, residual, out, ctx->stream());
}

// x ← ResBlock(x); t, h, sc are free buffers; the result lands in one of them and x points to it.
Status CudaVqDecoder::Impl::res(const GRes& r, bf16_t*& x, int H, int W, bf16_t* t, bf16_t* h, bf16_t* sc) {
    const cudaStream_t s = ctx->stream();
    const int64_t HW = int64_t(H) * W;
    TESSERA_TRY(cuda::group_norm(x, r.cin, HW, kGroups, r.norm1.w, r.norm1.b, kEps, true, t, gn_ws, s));
    TESSERA_TRY(conv(r.conv1, t, H, W, h, nullptr));
    TESSERA_TRY(cuda::group_norm(h, r.cout, HW, kGroups, r.norm2.w, r.norm2.b, kEps, true, t, gn_ws, s));
    const bf16_t* shortcut = x;
    if (r.cin != r.cout) {
        TESSERA_TRY(conv(r.nin, x, H, W, sc, nullptr));
        shortcut = sc;
    }
    TESSERA_TRY(conv(r.conv2, t, H, W, h, shortcut));
    x = h;
    return {};
}

Status CudaVqDecoder::Impl::attn(const GAttn& a, bf16_t*& x, int H, int W, bf16_t* t, bf16_t* y) {
    const cudaStream_t s = ctx->stream();
    const int HW = H * W, C = a.C;
    bf16_t* q = qkv;
    bf16_t* k = qkv + size_t(C) * HW;
    bf16_t* v = k + size_t(C) * HW;
    bf16_t* o = v + size_t(C) * HW;
    TESSERA_TRY(cuda::group_norm(x, C, HW, kGroups, a.norm.w, a.norm.b, kEps, false, t, gn_ws, s));
    TESSERA_TRY(conv(a.q, t, H, W, q, nullptr));
    TESSERA_TRY(conv(a.k, t, H, W, k, nullptr));
    TESSERA_TRY(conv(a.v, t, H, W, v, nullptr));
    // S[i, j] = Σ_c q[c, i]·k[c, j]; softmax over j with scale C^-1/2; o[c, i] = Σ_j v[c, j]·P[i, j].
    TESSERA_TRY(cuda::gemm_rm(*ctx, true, false, HW, HW, C, q, HW, k, HW, S, true, HW));
    TESSERA_TRY(cuda::softmax_rows(S, HW, HW, 1.f / std::sqrt(float(C)), P, s));
    TESSERA_TRY(cuda::gemm_rm(*ctx, false, true, C, HW, HW, v, HW, P, HW, acc, true, HW));
    TESSERA_TRY(cuda::bias_residual(acc, nullptr, C, HW, nullptr, o, s));
    TESSERA_TRY(conv(a.proj, o, H, W, y, x));
    x = y;
    return {};
}

Status CudaVqDecoder::Impl::decode_one(const int32_t* codes_img, int gh, int gw) {
    const cudaStream_t s = ctx->stream();
    int H = gh, W = gw;
    bf16_t* x = buf[0];
    // Buffers other than the one x points to, for the block being run.
    auto others = [&](bf16_t* cur, bf16_t** o3) {
        int n = 0;
        for (bf16_t* b : buf)
            if (b != cur && n < 3) o3[n++] = b;
    };
    bf16_t* o[3];
    TESSERA_TRY(cuda::codebook_lookup(codebook, cfg.embed_dim, cfg.codebook_size, codes_img, H * W, buf[1], s));
    TESSERA_TRY(conv(post_quant, buf[1], H, W, buf[2], nullptr));
    TESSERA_TRY(conv(conv_in, buf[2], H, W, x, nullptr));
    others(x, o);
    TESSERA_TRY(res(mid0, x, H, W, o[0], o[1], o[2]));
    others(x, o);
    TESSERA_TRY(attn(mid1, x, H, W, o[0], o[1]));
    others(x, o);
    TESSERA_TRY(res(mid2, x, H, W, o[0], o[1], o[2]));
    for (const GStage& st : stages) {
        for (size_t i = 0; i < st.res.size(); ++i) {
            others(x, o);
            TESSERA_TRY(res(st.res[i], x, H, W, o[0], o[1], o[2]));
            if (i < st.attn.size()) {
                others(x, o);
                TESSERA_TRY(attn(st.attn[i], x, H, W, o[0], o[1]));
            }
        }
        if (st.upsample) {
            others(x, o);
            TESSERA_TRY(cuda::upsample_nearest2x(x, st.up.cin, H, W, o[0], s));
            H *= 2;
            W *= 2;
            TESSERA_TRY(conv(st.up, o[0], H, W, o[1], nullptr));
            x = o[1];
        }
    }
    others(x, o);
    TESSERA_TRY(cuda::group_norm(x, conv_out.cin, int64_t(H) * W, kGroups, norm_out.w, norm_out.b, kEps, true, o[0], gn_ws, s));
    TESSERA_TRY(conv(conv_out, o[0], H, W, o[1], nullptr));
    return cuda::bf16_to_f32(o[1], int64_t(3) * H * W, out_f32, s);
}

Status CudaVqDecoder::decode(const int32_t* codes, int count, int grid_h, int grid_w, float* out) {
    Impl& m = *m_impl;
    if (count < 1 || grid_h < 1 || grid_w < 1 || grid_h > m.max_h || grid_w > m.max_w)
        return make_error(ErrorCode::InvalidArgument, "image decoder: grid " + std::to_string(grid_h) + "x" +
                                                          std::to_string(grid_w) + " is outside the " + std::to_string(m.max_h) +
                                                          "x" + std::to_string(m.max_w) + " it was set up for");
    const int n = grid_h * grid_w;
    for (int64_t i = 0; i < int64_t(count) * n; ++i)
        if (codes[i] < 0 || codes[i] >= m.cfg.codebook_size)
            return make_error(ErrorCode::InvalidArgument, "image token " + std::to_string(codes[i]) + " is outside the codebook of " +
                                                              std::to_string(m.cfg.codebook_size));
    const auto t0 = std::chrono::steady_clock::now();
    const size_t out_elems = size_t(3) * grid_h * m.factor * grid_w * m.factor;
    for (int img = 0; img < count; ++img) {
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_codes, codes + size_t(img) * n, size_t(n) * 4, cudaMemcpyHostToDevice,
                                          m.ctx->stream()),
                          "upload image tokens"));
        TESSERA_TRY(m.decode_one(m.d_codes, grid_h, grid_w));
        TESSERA_TRY(check(cudaMemcpyAsync(out + size_t(img) * out_elems, m.out_f32, out_elems * 4, cudaMemcpyDeviceToHost,
                                          m.ctx->stream()),
                          "download image"));
        TESSERA_TRY(m.ctx->synchronize());
    }
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

}  // namespace tessera
