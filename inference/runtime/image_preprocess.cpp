// Pillow-exact BICUBIC resampling and the Janus image processor (models.md §5.3, §5.4). The resampler
// follows Pillow's resampler (13.0) step by step (coefficients in double, normalised, then fixed point with
// 22 fractional bits rounded half away from zero; integer accumulation with a half bias; clip to 0..255), so
// the output is identical to Image.resize, not merely close.
#include "runtime/image_preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace tessera {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic_filter(double x) {
    constexpr double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

// Fixed-point taps for every output index along one axis: taps of output i are k[i*ksize, i*ksize+count[i])
// over inputs [first[i], first[i] + count[i]).
struct Coeffs {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<int32_t> k;
};

Coeffs precompute(int in_size, int out_size) {
    constexpr double support_base = 2.0;  // bicubic
    const double scale = double(float(in_size)) / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = support_base * filterscale;
    Coeffs c;
    c.ksize = int(std::ceil(support)) * 2 + 1;
    c.first.resize(size_t(out_size));
    c.count.resize(size_t(out_size));
    c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
    std::vector<double> w(size_t(c.ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        // int() truncates towards zero like the C cast it mirrors.
        int xmin = int(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[size_t(x)] = bicubic_filter((x + xmin - center + 0.5) * ss);
            ww += w[size_t(x)];
        }
        for (int x = 0; x < xmax; ++x) {
            double v = w[size_t(x)];
            if (ww != 0.0) v /= ww;
            c.k[size_t(xx) * size_t(c.ksize) + size_t(x)] =
                v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
        }
        c.first[size_t(xx)] = xmin;
        c.count[size_t(xx)] = xmax;
    }
    return c;
}

inline uint8_t clip8(int32_t v) {
    v >>= kPrecisionBits;  // arithmetic shift: floor, as Pillow's lookup-table clip
    return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// The accumulations run in 32-bit like Pillow's INT32; |Σ k·255| stays well below 2^31 for normalised
// bicubic weights, so no overflow can make them differ. uint32 arithmetic keeps the wrap defined anyway.
Image resample_horizontal(const Image& src, int out_w) {
    const Coeffs c = precompute(src.width, out_w);
    Image out;
    out.width = out_w;
    out.height = src.height;
    out.rgb.resize(size_t(out_w) * size_t(src.height) * 3);
    for (int y = 0; y < src.height; ++y) {
        const uint8_t* in = src.rgb.data() + size_t(y) * size_t(src.width) * 3;
        uint8_t* o = out.rgb.data() + size_t(y) * size_t(out_w) * 3;
        for (int xx = 0; xx < out_w; ++xx) {
            const int32_t* k = c.k.data() + size_t(xx) * size_t(c.ksize);
            const int x0 = c.first[size_t(xx)], n = c.count[size_t(xx)];
            uint32_t s0 = 1u << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < n; ++x) {
                const uint8_t* p = in + size_t(x0 + x) * 3;
                s0 += uint32_t(p[0]) * uint32_t(k[x]);
                s1 += uint32_t(p[1]) * uint32_t(k[x]);
                s2 += uint32_t(p[2]) * uint32_t(k[x]);
            }
            o[size_t(xx) * 3 + 0] = clip8(int32_t(s0));
            o[size_t(xx) * 3 + 1] = clip8(int32_t(s1));
            o[size_t(xx) * 3 + 2] = clip8(int32_t(s2));
        }
    }
    return out;
}

Image resample_vertical(const Image& src, int out_h) {
    const Coeffs c = precompute(src.height, out_h);
    Image out;
    out.width = src.width;
    out.height = out_h;
    const size_t row = size_t(src.width) * 3;
    out.rgb.resize(row * size_t(out_h));
    for (int yy = 0; yy < out_h; ++yy) {
        const int32_t* k = c.k.data() + size_t(yy) * size_t(c.ksize);
        const int y0 = c.first[size_t(yy)], n = c.count[size_t(yy)];
        uint8_t* o = out.rgb.data() + size_t(yy) * row;
        for (size_t i = 0; i < row; ++i) {
            uint32_t s = 1u << (kPrecisionBits - 1);
            for (int y = 0; y < n; ++y) s += uint32_t(src.rgb[size_t(y0 + y) * row + i]) * uint32_t(k[y]);
            o[i] = clip8(int32_t(s));
        }
    }
    return out;
}

// v -> bf16((float(v · rescale in double) − mean) / std) for one channel: HF rescale in float64 stored as
// float32, then normalize in float32, then the model's cast to bf16 (§5.4); without do_normalize only the
// rescale.
std::array<float, 256> pixel_table(const JanusPixelConfig& px, int c) {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) {
        const float scaled = float(double(v) * px.rescale_factor);
        t[size_t(v)] = round_bf16(px.do_normalize ? (scaled - px.mean[c]) / px.std[c] : scaled);
    }
    return t;
}

}  // namespace

Image resize_bicubic(const Image& src, int out_w, int out_h) {
    if (src.width < 1 || src.height < 1 || out_w < 1 || out_h < 1 ||
        src.rgb.size() != size_t(src.width) * size_t(src.height) * 3)
        return {};
    if (out_w == src.width && out_h == src.height) return src;
    const bool need_h = out_w != src.width, need_v = out_h != src.height;
    // Pillow 13 runs the vertical pass first when the height loses more than twice as many pixels as the
    // width (a speed change, python-pillow/Pillow#9549, that moves some results by one level through the
    // 8-bit intermediate); Pillow 12 and older always go horizontal first. We follow the current Pillow.
    const int64_t dy = int64_t(src.height) - out_h, dx = int64_t(src.width) - out_w;
    if (dy > 0 && dy > dx * 2) {
        Image tmp = need_v ? resample_vertical(src, out_h) : src;
        return need_h ? resample_horizontal(tmp, out_w) : tmp;
    }
    // Pillow filters only the rows the vertical pass reads; filtering all of them gives the same values.
    Image tmp = need_h ? resample_horizontal(src, out_w) : src;
    return need_v ? resample_vertical(tmp, out_h) : tmp;
}

void janus_preprocess(const Image& src, int image_size, float* out, const JanusPixelConfig& px) {
    const int kMinSize = px.min_size;
    const int S = image_size;
    const std::array<std::array<float, 256>, 3> tables = {pixel_table(px, 0), pixel_table(px, 1),
                                                          pixel_table(px, 2)};
    const size_t plane = size_t(S) * size_t(S);
    for (int c = 0; c < 3; ++c) {
        // VLMImageProcessor pads with int(mean · 255) per channel ((127,127,127) for mean 0.5).
        const int bg = std::clamp(int(double(px.mean[c]) * 255.0), 0, 255);
        std::fill(out + size_t(c) * plane, out + size_t(c + 1) * plane, tables[size_t(c)][size_t(bg)]);
    }
    if (src.width < 1 || src.height < 1 || S < 1) return;

    // (h', w') = max(int(h / m * S), min_size): double division, then multiply, then truncate.
    const int m = std::max(src.width, src.height);
    const int rh = std::max(int(double(src.height) / double(m) * double(S)), kMinSize);
    const int rw = std::max(int(double(src.width) / double(m) * double(S)), kMinSize);
    const Image r = resize_bicubic(src, rw, rh);
    if (r.width < 1) return;
    // expand2square: a square of side max(w', h') (= S) with the image pasted at a floored centre offset.
    const int ox = rw < rh ? (rh - rw) / 2 : 0;
    const int oy = rw > rh ? (rw - rh) / 2 : 0;
    for (int y = 0; y < rh; ++y) {
        const int Y = y + oy;
        if (Y >= S) break;  // only when S < min_size makes the minimum side exceed S
        const uint8_t* in = r.rgb.data() + size_t(y) * size_t(rw) * 3;
        for (int x = 0; x < rw; ++x) {
            const int X = x + ox;
            if (X >= S) break;
            for (int c = 0; c < 3; ++c)
                out[size_t(c) * plane + size_t(Y) * size_t(S) + size_t(X)] = tables[size_t(c)][in[x * 3 + c]];
        }
    }
}

}  // namespace tessera
