// The VQ-16 image decoder of Janus-Pro (models.md §7.6) and its CPU conv ops: the tiny official-code
// fixture of tests/fixtures/janus/vq/ (tools/fixtures/make_vq_fixtures.py) decoded to the reference image
// and to the same uint8 pictures (§7.5 step 6); the same weights stored as f32 and f16; conv2d, GroupNorm
// and upsampling against plain loops; and bad checkpoints and bad codes refused with errors naming them.
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "backend/cpu/conv_ops.h"
#include "io/checkpoint.h"
#include "layers/weights.h"
#include "models/vq_decoder.h"
#include "support/test_support.h"

using namespace tessera;
using namespace tessera::test;

namespace {

const std::string kPrefix = "gen_vision_model.";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A tensor as stored: name, safetensors dtype, shape and raw little-endian bytes.
struct Stored {
    std::string name;
    std::string dtype;  // "F32" | "F16" | "BF16"
    std::vector<int64_t> shape;
    std::string bytes;
};

void write_checkpoint(const std::filesystem::path& dir, const std::vector<Stored>& tensors) {
    std::filesystem::create_directories(dir);
    nlohmann::json header = nlohmann::json::object();
    uint64_t offset = 0;
    for (const Stored& t : tensors) {
        header[t.name] = {
            {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string text = header.dump();
    while (text.size() % 8) text += ' ';
    std::ofstream out(dir / "model.safetensors", std::ios::binary | std::ios::trunc);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const Stored& t : tensors) out.write(t.bytes.data(), std::streamsize(t.bytes.size()));
}

// The fixture's tensors, converted to `dtype` ("F32", "F16" or "BF16" = as stored).
std::vector<Stored> fixture_tensors(const std::string& dtype) {
    auto ck = Checkpoint::open(fixture("janus/vq"));
    if (!ck.ok()) qFatal("%s", ck.error().message.c_str());
    std::vector<Stored> out;
    for (const TensorEntry& e : (*ck)->tensors()) {
        Stored s{e.name, dtype, {}, {}};
        for (int i = 0; i < e.tensor.shape.ndim; ++i) s.shape.push_back(e.tensor.shape[i]);
        const int64_t n = e.tensor.numel();
        if (e.tensor.dtype != DType::BF16) qFatal("fixture tensor %s is not bf16", e.name.c_str());
        const uint16_t* src = e.tensor.as<uint16_t>();
        if (dtype == "BF16") {
            s.bytes.assign(reinterpret_cast<const char*>(src), size_t(n) * 2);
        } else if (dtype == "F32") {
            s.bytes.resize(size_t(n) * 4);
            for (int64_t i = 0; i < n; ++i) {
                const float f = bf16_to_f32(src[i]);
                std::memcpy(&s.bytes[size_t(i) * 4], &f, 4);
            }
        } else {
            s.bytes.resize(size_t(n) * 2);
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = f32_to_f16(bf16_to_f32(src[i]));
                std::memcpy(&s.bytes[size_t(i) * 2], &h, 2);
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

struct Loaded {
    std::unique_ptr<Checkpoint> checkpoint;
    std::unique_ptr<VqDecoder> decoder;
    Error error;
};

Loaded load_dir(const std::filesystem::path& dir) {
    Loaded l;
    auto ck = Checkpoint::open(dir);
    if (!ck.ok()) {
        l.error = ck.error();
        return l;
    }
    l.checkpoint = std::move(*ck);
    WeightLoader loader(*l.checkpoint);
    auto d = VqDecoder::load(loader, kPrefix);
    if (!d.ok()) {
        l.error = d.error();
        return l;
    }
    if (auto used = loader.check_all_used(); !used.ok()) {
        l.error = used.error();
        return l;
    }
    l.decoder = std::move(*d);
    return l;
}

struct Case {
    std::string name;
    int count = 0, grid_h = 0, grid_w = 0;
    std::vector<int32_t> codes;
};

std::vector<Case> fixture_cases() {
    std::vector<Case> cases;
    for (const auto& j : nlohmann::json::parse(read_file(fixture("janus/vq/cases.json")))) {
        Case c{j["name"].get<std::string>(),
               j["count"].get<int>(),
               j["grid_h"].get<int>(),
               j["grid_w"].get<int>(),
               {}};
        for (const auto& img : j["codes"])
            for (const auto& v : img) c.codes.push_back(v.get<int32_t>());
        cases.push_back(std::move(c));
    }
    return cases;
}

std::vector<float> decode_case(const VqDecoder& d, const Case& c, ThreadPool& pool) {
    const int f = d.upsample_factor();
    std::vector<float> out(size_t(c.count) * 3 * size_t(c.grid_h * f) * size_t(c.grid_w * f), NAN);
    auto st = d.decode(c.codes.data(), c.count, c.grid_h, c.grid_w, out.data(), pool);
    if (!st.ok()) qWarning("%s", st.error().message.c_str());
    return st.ok() ? out : std::vector<float>{};
}

// Reference conv2d, stride 1, zero padding.
std::vector<float> naive_conv(const std::vector<float>& x, int cin, int h, int w,
                              const std::vector<float>& wt, int cout, int k, const std::vector<float>& bias,
                              int pad) {
    const int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    std::vector<float> out(size_t(cout * ho * wo));
    for (int co = 0; co < cout; ++co)
        for (int oy = 0; oy < ho; ++oy)
            for (int ox = 0; ox < wo; ++ox) {
                double s = bias.empty() ? 0.0 : double(bias[size_t(co)]);
                for (int ci = 0; ci < cin; ++ci)
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int iy = oy + ky - pad, ix = ox + kx - pad;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            s += double(x[size_t((ci * h + iy) * w + ix)]) *
                                 double(wt[size_t(((co * cin + ci) * k + ky) * k + kx)]);
                        }
                out[size_t((co * ho + oy) * wo + ox)] = float(s);
            }
    return out;
}

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

Tensor f32_tensor(std::vector<float>& v, Shape shape) {
    return Tensor{DType::F32, shape, DeviceKind::Cpu, v.data()};
}

}  // namespace

class TestVqDecoder : public QObject {
    Q_OBJECT

private slots:
    void conv2dMatchesPlainLoops() {
        ThreadPool pool(3);
        struct Shape4 {
            int cin, cout, h, w, k, pad;
        };
        // 1x1, 3x3 with and without padding, a 5x5 with padding 2, odd sizes and more positions than a tile.
        for (const Shape4 s :
             {Shape4{5, 7, 9, 13, 1, 0}, Shape4{4, 6, 11, 17, 3, 1}, Shape4{3, 2, 8, 5, 3, 0},
              Shape4{2, 3, 7, 6, 5, 2}, Shape4{3, 33, 1, 1, 3, 1}}) {
            std::vector<float> x = random_values(size_t(s.cin * s.h * s.w), 1);
            std::vector<float> w = random_values(size_t(s.cout * s.cin * s.k * s.k), 2);
            std::vector<float> b = random_values(size_t(s.cout), 3);
            // bf16 weights: round first so the reference sees the same values.
            std::vector<uint16_t> wb(w.size());
            for (size_t i = 0; i < w.size(); ++i) {
                wb[i] = f32_to_bf16(w[i]);
                w[i] = bf16_to_f32(wb[i]);
            }
            Tensor wt{DType::BF16, Shape{s.cout, s.cin, s.k, s.k}, DeviceKind::Cpu, wb.data()};
            const int ho = s.h + 2 * s.pad - s.k + 1, wo = s.w + 2 * s.pad - s.k + 1;
            std::vector<float> scratch(
                size_t(cpu::conv2d_scratch_floats(s.cin, s.cout, s.k, s.k, s.h, s.w, s.pad, pool.size())));
            std::vector<float> out(size_t(s.cout * ho * wo), NAN);
            cpu::conv2d(x.data(), s.cin, s.h, s.w, wt, f32_tensor(b, Shape{s.cout}), s.pad, out.data(),
                        scratch.data(), pool);
            const std::vector<float> ref = naive_conv(x, s.cin, s.h, s.w, w, s.cout, s.k, b, s.pad);
            QVERIFY2(max_rel_error(out, ref) < 1e-5, qPrintable(QString("k %1 pad %2").arg(s.k).arg(s.pad)));
            // No bias.
            cpu::conv2d(x.data(), s.cin, s.h, s.w, wt, Tensor{}, s.pad, out.data(), scratch.data(), pool);
            QVERIFY(max_rel_error(out, naive_conv(x, s.cin, s.h, s.w, w, s.cout, s.k, {}, s.pad)) < 1e-5);
        }
    }

    void groupNormSwishAndUpsample() {
        ThreadPool pool(2);
        const int C = 64, HW = 35, G = 32;
        std::vector<float> x = random_values(size_t(C * HW), 4, 3.0f);
        for (size_t i = 0; i < x.size(); ++i) x[i] += 5.0f;  // a large mean: the variance must not lose it
        std::vector<float> w = random_values(size_t(C), 5), b = random_values(size_t(C), 6);
        std::vector<float> y(x.size()), ys(x.size());
        cpu::group_norm(x.data(), C, HW, G, 1e-6f, f32_tensor(w, Shape{C}), f32_tensor(b, Shape{C}), false,
                        y.data(), pool);
        cpu::group_norm(x.data(), C, HW, G, 1e-6f, f32_tensor(w, Shape{C}), f32_tensor(b, Shape{C}), true,
                        ys.data(), pool);
        std::vector<float> ref(x.size()), refs(x.size());
        const int cpg = C / G;
        for (int g = 0; g < G; ++g) {
            double mean = 0, var = 0;
            for (int i = g * cpg * HW; i < (g + 1) * cpg * HW; ++i) mean += double(x[size_t(i)]);
            mean /= cpg * HW;
            for (int i = g * cpg * HW; i < (g + 1) * cpg * HW; ++i)
                var += (double(x[size_t(i)]) - mean) * (double(x[size_t(i)]) - mean);
            var /= cpg * HW;
            for (int i = g * cpg * HW; i < (g + 1) * cpg * HW; ++i) {
                const int c = i / HW;
                const double v =
                    (double(x[size_t(i)]) - mean) / std::sqrt(var + 1e-6) * double(w[size_t(c)]) +
                    double(b[size_t(c)]);
                ref[size_t(i)] = float(v);
                refs[size_t(i)] = float(v / (1.0 + std::exp(-v)));
            }
        }
        QVERIFY(max_rel_error(y, ref) < 1e-5);
        QVERIFY(max_rel_error(ys, refs) < 1e-5);

        std::vector<float> small = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // [2, 2, 3]
        std::vector<float> up(48, NAN);
        cpu::upsample_nearest2x(small.data(), 2, 2, 3, up.data(), pool);
        for (int c = 0; c < 2; ++c)
            for (int y2 = 0; y2 < 4; ++y2)
                for (int x2 = 0; x2 < 6; ++x2)
                    QCOMPARE(up[size_t((c * 4 + y2) * 6 + x2)], small[size_t((c * 2 + y2 / 2) * 3 + x2 / 2)]);
        std::vector<float> sw = {-2.0f, 0.0f, 3.0f};
        cpu::swish_inplace(sw.data(), 3);
        QVERIFY(std::fabs(sw[0] - float(-2.0 / (1.0 + std::exp(2.0)))) < 1e-6f);
        QCOMPARE(sw[1], 0.0f);
        QVERIFY(std::fabs(sw[2] - float(3.0 / (1.0 + std::exp(-3.0)))) < 1e-6f);
    }

    void structureFromShapes() {
        Loaded l = load_dir(fixture("janus/vq"));
        QVERIFY2(l.decoder, l.error.message.c_str());
        const VqDecoderConfig& c = l.decoder->config();
        QCOMPARE(c.codebook_size, 64);
        QCOMPARE(c.embed_dim, 8);
        QCOMPARE(c.z_channels, 16);
        QCOMPARE(c.ch, 32);
        QCOMPARE(c.num_res_blocks, 2);
        QCOMPARE(c.ch_mult, (std::vector<int>{1, 1, 2, 2, 4}));
        QCOMPARE(l.decoder->upsample_factor(), 16);
        QVERIFY(l.decoder->scratch_bytes(4, 4) > uint64_t(3) * 32 * 64 * 64 * 4);
        QVERIFY(l.decoder->scratch_bytes(8, 8) > l.decoder->scratch_bytes(4, 4));
    }

    void decodesLikeTheOfficialCode() {
        Loaded l = load_dir(fixture("janus/vq"));
        QVERIFY2(l.decoder, l.error.message.c_str());
        ThreadPool pool(2);
        for (const Case& c : fixture_cases()) {
            const std::vector<float> ref = read_f32_file(fixture("janus/vq/" + c.name + ".f32"));
            const std::vector<float> out = decode_case(*l.decoder, c, pool);
            QCOMPARE(out.size(), ref.size());
            const double err = max_rel_error(out, ref);
            qInfo("%s: max relative error %.3g", c.name.c_str(), err);
            QVERIFY2(err < 1e-4, c.name.c_str());

            // §7.5 step 6: equal pictures, off by one only where the reference is within 1e-3 of an integer.
            const std::string pictures = read_file(fixture("janus/vq/" + c.name + ".u8"));
            const std::string near = read_file(fixture("janus/vq/" + c.name + ".near.u8"));
            const int H = c.grid_h * 16, W = c.grid_w * 16;
            QCOMPARE(pictures.size(), size_t(c.count) * size_t(H * W * 3));
            int exact = 0, off_by_one = 0;
            for (int i = 0; i < c.count; ++i) {
                const Image img = vq_to_image(out.data() + size_t(i) * 3 * size_t(H * W), H, W);
                QCOMPARE(img.width, W);
                QCOMPARE(img.height, H);
                for (size_t p = 0; p < img.rgb.size(); ++p) {
                    const size_t at = size_t(i) * img.rgb.size() + p;
                    const int want = uint8_t(pictures[at]), got = img.rgb[p];
                    if (got == want) {
                        ++exact;
                    } else {
                        QVERIFY2(std::abs(got - want) == 1 && near[at] == 1,
                                 qPrintable(QString("%1: byte %2 is %3, reference %4")
                                                .arg(c.name.c_str())
                                                .arg(at)
                                                .arg(got)
                                                .arg(want)));
                        ++off_by_one;
                    }
                }
            }
            qInfo("%s: %d bytes equal, %d off by one at integer boundaries", c.name.c_str(), exact,
                  off_by_one);
        }
    }

    void f32AndF16WeightsDecodeTheSame() {
        TempDir tmp;
        const Case c = fixture_cases().front();
        ThreadPool pool(2);
        const std::vector<float> ref = read_f32_file(fixture("janus/vq/" + c.name + ".f32"));
        for (const std::string& dtype : {std::string("F32"), std::string("F16")}) {
            write_checkpoint(tmp / dtype, fixture_tensors(dtype));
            Loaded l = load_dir(tmp / dtype);
            QVERIFY2(l.decoder, l.error.message.c_str());
            const std::vector<float> out = decode_case(*l.decoder, c, pool);
            // f32 holds the bf16 values exactly; f16 rounds some of them (and flushes tiny ones).
            QVERIFY2(max_rel_error(out, ref) < (dtype == "F32" ? 1e-4 : 2e-2), dtype.c_str());
        }
    }

    void vqToImageTruncatesAndClips() {
        // [3, 1, 4]: one row of four pixels.
        const std::vector<float> chw = {-1.0f,
                                        -2.0f,
                                        1.0f,
                                        5.0f,  // R
                                        (1.7f / 255.0f) * 2.0f - 1.0f,
                                        0.0f,
                                        (254.99f / 255.0f) * 2 - 1,
                                        NAN,  // G
                                        (127.5f / 255.0f) * 2.0f - 1.0f,
                                        0.999f,
                                        -0.999f,
                                        0.5f};  // B
        const Image img = vq_to_image(chw.data(), 1, 4);
        QCOMPARE(img.rgb.size(), size_t(12));
        const std::vector<uint8_t> want = {0, 1, 127, 0, 127, 254, 255, 254, 0, 255, 0, 191};
        for (size_t i = 0; i < 12; ++i) QCOMPARE(int(img.rgb[i]), int(want[i]));
    }

    void badCodesAndGrids() {
        Loaded l = load_dir(fixture("janus/vq"));
        QVERIFY2(l.decoder, l.error.message.c_str());
        ThreadPool pool(2);
        std::vector<int32_t> codes(16, 3);
        std::vector<float> out(3 * 64 * 64, 0.0f);
        codes[5] = 64;  // codebook_size
        auto st = l.decoder->decode(codes.data(), 1, 4, 4, out.data(), pool);
        QVERIFY(!st.ok());
        QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
        QVERIFY2(contains(st.error().message, "code 64") && contains(st.error().message, "position 5"),
                 st.error().message.c_str());
        codes[5] = -1;
        st = l.decoder->decode(codes.data(), 1, 4, 4, out.data(), pool);
        QVERIFY(!st.ok());
        QVERIFY2(contains(st.error().message, "code -1"), st.error().message.c_str());
        codes[5] = 3;
        for (auto [gh, gw] : {std::pair{0, 4}, std::pair{4, -1}, std::pair{1000, 4}}) {
            st = l.decoder->decode(codes.data(), 1, gh, gw, out.data(), pool);
            QVERIFY(!st.ok());
            QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
            QVERIFY2(contains(st.error().message, "grid"), st.error().message.c_str());
        }
        QVERIFY(!l.decoder->decode(codes.data(), -1, 4, 4, out.data(), pool).ok());
        QVERIFY(l.decoder->decode(codes.data(), 0, 4, 4, out.data(), pool).ok());
    }

    void badCheckpointsNameTheTensor() {
        TempDir tmp;
        const std::vector<Stored> good = fixture_tensors("BF16");
        auto without = [&](const std::string& name) {
            std::vector<Stored> ts;
            for (const Stored& s : good)
                if (s.name != name) ts.push_back(s);
            return ts;
        };
        struct Bad {
            std::string what;
            std::vector<Stored> tensors;
            std::string expect;
        };
        std::vector<Bad> cases;
        const std::string d = kPrefix + "decoder.";
        for (const std::string& name :
             {d + "conv_blocks.1.res.2.conv2.bias", d + "mid.1.proj_out.weight",
              kPrefix + "quantize.embedding.weight", d + "conv_blocks.3.upsample.conv.weight",
              d + "conv_blocks.1.res.0.nin_shortcut.weight", d + "norm_out.bias",
              kPrefix + "post_quant_conv.weight"})
            cases.push_back({"missing " + name, without(name), name});
        {  // A q projection of the wrong shape.
            std::vector<Stored> ts = good;
            for (Stored& s : ts)
                if (s.name == d + "conv_blocks.0.attn.1.q.weight") {
                    s.shape = {128, 64, 1, 1};
                    s.bytes.resize(s.bytes.size() / 2);
                }
            cases.push_back({"q shape", ts, d + "conv_blocks.0.attn.1.q.weight"});
        }
        {  // One attention block missing entirely: counts must match the res blocks.
            std::vector<Stored> ts;
            for (const Stored& s : good)
                if (!contains(s.name, "decoder.conv_blocks.0.attn.2.")) ts.push_back(s);
            cases.push_back({"attn count", ts, d + "conv_blocks.0.attn"});
        }
        {  // A tensor the decoder does not know is reported, not skipped.
            std::vector<Stored> ts = good;
            ts.push_back(Stored{d + "conv_blocks.4.upsample.conv.bias", "BF16", {32}, std::string(64, '\0')});
            cases.push_back({"unused", ts, d + "conv_blocks.4.upsample.conv.bias"});
        }
        for (size_t i = 0; i < cases.size(); ++i) {
            const std::filesystem::path dir = tmp / ("bad" + std::to_string(i));
            write_checkpoint(dir, cases[i].tensors);
            Loaded l = load_dir(dir);
            QVERIFY2(!l.decoder, cases[i].what.c_str());
            QVERIFY2(contains(l.error.message, cases[i].expect),
                     qPrintable(QString::fromStdString(cases[i].what + ": " + l.error.message)));
        }
    }
};

QTEST_GUILESS_MAIN(TestVqDecoder)
#include "test_vq_decoder.moc"
