// The SigLIP towers against the official deepseek-ai/Janus VisionTransformer (fixtures from
// tools/fixtures/make_siglip_fixtures.py): a Janus-shaped tiny tower (patch 16, exact GELU) and a VL2-shaped
// one (patch 14 with 6 unseen pixel rows/columns, tanh GELU), bf16 weights in official names, fed the
// processor's pixel values; features must match the float32 reference tightly, on the AVX2 and the scalar
// paths, with one thread and several. Also the config names/overrides and load errors that name the tensor.
#include <QtTest/QtTest>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/cpu/ops.h"
#include "backend/cpu/transformer_ops.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "layers/weights.h"
#include "models/siglip.h"
#include "runtime/image_preprocess.h"
#include "support/test_support.h"
#include "tessera/image.h"

using namespace tessera;

namespace {

const std::string kPrefix = "vision_model.vision_tower.";

std::filesystem::path dir() {
    return test::fixture("janus/siglip");
}

struct Fixture {
    nlohmann::json ref;
    std::unique_ptr<Checkpoint> checkpoint;
    SiglipConfig config;
    std::vector<float> pixels;    // [3, S, S]
    std::vector<float> expected;  // [tokens, width]
};

std::unique_ptr<Fixture> load_fixture(const std::string& name) {
    auto f = std::make_unique<Fixture>();
    const auto d = dir() / name;
    f->ref = nlohmann::json::parse(test::read_file(d / "reference.json"));
    auto ck = Checkpoint::open(d);
    if (!ck.ok()) qFatal("%s", ck.error().to_string().c_str());
    f->checkpoint = std::move(ck).value();
    auto cfg = siglip_config(f->ref["model_name"].get<std::string>(), f->ref["params"], "config.json");
    if (!cfg.ok()) qFatal("%s", cfg.error().to_string().c_str());
    f->config = *cfg;
    // The input: the processor's pixel values of the named image (exactness checked in
    // test_image_preprocess).
    const auto cases = nlohmann::json::parse(test::read_file(dir() / "cases.json"));
    std::string file;
    for (const auto& c : cases["cases"])
        if (c["name"] == f->ref["input_case"]) file = c["file"];
    auto img = read_image(dir() / file);
    if (!img.ok()) qFatal("%s", img.error().to_string().c_str());
    const int S = f->config.image_size;
    f->pixels.resize(size_t(3) * S * S);
    janus_preprocess(*img, S, f->pixels.data());
    f->expected = test::read_f32_file(d / "features.f32");
    return f;
}

std::vector<float> run_tower(const Fixture& f, ThreadPool& pool) {
    WeightLoader loader(*f.checkpoint);
    auto tower = SiglipTower::load(f.config, loader, kPrefix);
    if (!tower.ok()) qFatal("%s", tower.error().to_string().c_str());
    const Status all = loader.check_all_used();
    if (!all.ok()) qFatal("%s", all.error().to_string().c_str());
    std::vector<float> out(size_t((*tower)->tokens()) * size_t((*tower)->width()), -12345.0f);
    const Status st = (*tower)->forward(f.pixels.data(), out.data(), pool);
    if (!st.ok()) qFatal("%s", st.error().to_string().c_str());
    return out;
}

// A checkpoint holding the fixture's tensors except `drop` (pointing into the fixture's mapped file).
std::unique_ptr<Checkpoint> without(const Checkpoint& src, const std::string& drop) {
    auto ck = std::make_unique<Checkpoint>();
    ck->set_format(src.format());
    for (const TensorEntry& e : src.tensors())
        if (e.name != drop) (void)ck->add(e);
    return ck;
}

}  // namespace

class TestSiglip : public QObject {
    Q_OBJECT

private slots:
    void configKnownNamesAndOverrides();
    void configErrorsNameTheFile();
    void janusTinyMatchesReference();
    void vl2TinyMatchesReference();
    void threadsAndScalarPathAgree();
    void gelu();
    void layerNormAndAttentionAgainstDouble();
    void loadErrorsNameTheTensor();
};

void TestSiglip::configKnownNamesAndOverrides() {
    auto large = siglip_config("siglip_large_patch16_384", nlohmann::json(), "config.json");
    QVERIFY(large.ok());
    QCOMPARE(large->image_size, 384);
    QCOMPARE(large->patch_size, 16);
    QCOMPARE(large->width, 1024);
    QCOMPARE(large->layers, 24);
    QCOMPARE(large->heads, 16);
    QCOMPARE(large->mlp_width, 4096);
    QCOMPARE(large->gelu_tanh, false);
    QCOMPARE(large->eps, 1e-6f);
    // Janus-Pro's own vision_config params: select_layer -1 keeps all 24 blocks.
    const auto janus_params = nlohmann::json::parse(
        R"({"image_size": 384, "model_name": "siglip_large_patch16_384", "select_feature": "same", "select_layer": -1})");
    auto janus = siglip_config("siglip_large_patch16_384", janus_params, "config.json");
    QVERIFY(janus.ok());
    QCOMPARE(janus->layers, 24);
    auto so400m = siglip_config("siglip_so400m_patch14_384", nlohmann::json::object(), "config.json");
    QVERIFY(so400m.ok());
    QCOMPARE(so400m->patch_size, 14);
    QCOMPARE(so400m->width, 1152);
    QCOMPARE(so400m->layers, 27);
    QCOMPARE(so400m->mlp_width, 4304);  // int(1152 * 3.7362)
    QCOMPARE(so400m->gelu_tanh, true);
    // select_layer as create_siglip_vit reads it.
    auto minus2 = siglip_config("siglip_large_patch16_384", nlohmann::json{{"select_layer", -2}}, "c.json");
    QVERIFY(minus2.ok());
    QCOMPARE(minus2->layers, 23);
    auto first6 = siglip_config("siglip_large_patch16_384", nlohmann::json{{"select_layer", 6}}, "c.json");
    QVERIFY(first6.ok());
    QCOMPARE(first6->layers, 6);
    // Tiny overrides.
    auto tiny = siglip_config(
        "siglip_so400m_patch14_384",
        nlohmann::json{{"width", 48}, {"layers", 2}, {"heads", 4}, {"mlp_ratio", 3.7362}}, "c.json");
    QVERIFY(tiny.ok());
    QCOMPARE(tiny->mlp_width, 179);
    QCOMPARE(tiny->patch_size, 14);
}

void TestSiglip::configErrorsNameTheFile() {
    auto expect = [](std::string_view name, const nlohmann::json& params, const char* needle) {
        auto r = siglip_config(name, params, "some/config.json");
        QVERIFY2(!r.ok(), needle);
        const std::string msg = r.error().to_string();
        QVERIFY2(msg.find("some/config.json") != std::string::npos, msg.c_str());
        QVERIFY2(msg.find(needle) != std::string::npos, msg.c_str());
    };
    expect("siglip_huge_patch8_999", nlohmann::json(), "siglip_huge_patch8_999");
    expect("siglip_large_patch16_384", nlohmann::json{{"width", "wide"}}, "width");
    expect("siglip_large_patch16_384", nlohmann::json{{"width", 100}, {"heads", 16}}, "heads");
    expect("siglip_large_patch16_384", nlohmann::json{{"patch_size", 500}}, "patch_size");
    expect("siglip_large_patch16_384", nlohmann::json{{"mlp_ratio", "x"}}, "mlp_ratio");
    expect("siglip_large_patch16_384", nlohmann::json{{"select_layer", -30}}, "select_layer");
    expect("siglip_large_patch16_384", nlohmann::json::array(), "params");
}

void TestSiglip::janusTinyMatchesReference() {
    auto f = load_fixture("janus_tiny");
    QCOMPARE(f->config.gelu_tanh, false);
    QCOMPARE(f->config.patch_size, 16);
    ThreadPool pool(3);
    const auto out = run_tower(*f, pool);
    QCOMPARE(out.size(), f->expected.size());
    QCOMPARE(int64_t(out.size()), int64_t(576) * 64);
    const double err = test::max_rel_error(out, f->expected);
    qInfo("janus_tiny: max relative error %.3g", err);
    QVERIFY2(err < 5e-6, std::to_string(err).c_str());
}

void TestSiglip::vl2TinyMatchesReference() {
    auto f = load_fixture("vl2_tiny");
    QCOMPARE(f->config.gelu_tanh, true);
    QCOMPARE(f->config.patch_size, 14);
    ThreadPool pool(2);
    const auto out = run_tower(*f, pool);
    QCOMPARE(int64_t(out.size()), int64_t(729) * 48);  // 27x27 grid; the last 6 pixels never seen
    const double err = test::max_rel_error(out, f->expected);
    qInfo("vl2_tiny: max relative error %.3g", err);
    QVERIFY2(err < 5e-6, std::to_string(err).c_str());
    // The unseen border really is unseen: changing it changes nothing.
    auto f2 = load_fixture("vl2_tiny");
    const int S = f2->config.image_size;
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < S; ++y)
            for (int x = 27 * 14; x < S; ++x) f2->pixels[(size_t(c) * S + size_t(y)) * S + size_t(x)] = 0.75f;
    QCOMPARE(run_tower(*f2, pool), out);
}

void TestSiglip::threadsAndScalarPathAgree() {
    auto f = load_fixture("janus_tiny");
    ThreadPool one(1), many(4);
    const auto a = run_tower(*f, one);
    const auto b = run_tower(*f, many);
    QVERIFY(test::max_rel_error(a, b) < 1e-6);
    cpu::set_force_scalar(true);
    const auto c = run_tower(*f, many);
    cpu::set_force_scalar(false);
    const double err = test::max_rel_error(c, f->expected);
    QVERIFY2(err < 5e-6, std::to_string(err).c_str());
}

void TestSiglip::gelu() {
    // Against double-precision formulas at a few points, both forms; they differ from each other.
    for (double x : {-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5}) {
        const double exact = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        const double tanh_form =
            0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        QVERIFY(std::abs(double(cpu::gelu_exact(float(x))) - exact) < 1e-6);
        QVERIFY(std::abs(double(cpu::gelu_tanh(float(x))) - tanh_form) < 1e-6);
    }
    QVERIFY(std::abs(cpu::gelu_exact(1.0f) - cpu::gelu_tanh(1.0f)) > 1e-5f);
    ThreadPool pool(2);
    std::vector<float> v(10000);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) / 1000.0f - 5.0f;
    std::vector<float> w = v;
    cpu::gelu_inplace(w.data(), int64_t(w.size()), true, pool);
    for (size_t i = 0; i < v.size(); ++i) QCOMPARE(w[i], cpu::gelu_tanh(v[i]));
}

void TestSiglip::layerNormAndAttentionAgainstDouble() {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (bool scalar : {false, true}) {
        cpu::set_force_scalar(scalar);
        ThreadPool pool(3);
        // LayerNorm with bf16 weight and bias, an offset mean (the variance must not lose it), in place.
        const int64_t rows = 37, dim = 75;
        std::vector<uint16_t> wb(static_cast<size_t>(dim)), bb(static_cast<size_t>(dim));
        for (auto& v : wb) v = f32_to_bf16(1.0f + 0.3f * dist(rng));
        for (auto& v : bb) v = f32_to_bf16(0.2f * dist(rng));
        Tensor w{DType::BF16, {dim}, DeviceKind::Cpu, wb.data()};
        Tensor b{DType::BF16, {dim}, DeviceKind::Cpu, bb.data()};
        std::vector<float> x(static_cast<size_t>(rows * dim));
        for (auto& v : x) v = 50.0f + dist(rng);
        std::vector<float> y = x;
        cpu::layer_norm(y.data(), w, b, rows, dim, 1e-6f, y.data(), pool);
        for (int64_t r = 0; r < rows; ++r) {
            double mean = 0.0, var = 0.0;
            for (int64_t i = 0; i < dim; ++i) mean += double(x[size_t(r * dim + i)]);
            mean /= double(dim);
            for (int64_t i = 0; i < dim; ++i) var += std::pow(double(x[size_t(r * dim + i)]) - mean, 2);
            var /= double(dim);
            for (int64_t i = 0; i < dim; ++i) {
                const double ref = (double(x[size_t(r * dim + i)]) - mean) / std::sqrt(var + 1e-6) *
                                       double(bf16_to_f32(wb[size_t(i)])) +
                                   double(bf16_to_f32(bb[size_t(i)]));
                QVERIFY2(std::abs(double(y[size_t(r * dim + i)]) - ref) < 2e-4, std::to_string(ref).c_str());
            }
        }
        // Unmasked attention over a fused qkv [T, 3·H·hd] buffer, odd sizes.
        const int64_t T = 41, H = 3, hd = 20, W = H * hd;
        std::vector<float> qkv(static_cast<size_t>(T * 3 * W));
        for (auto& v : qkv) v = dist(rng);
        std::vector<float> out(size_t(T * W), -1.0f);
        const float scale = 1.0f / std::sqrt(float(hd));
        cpu::attention_full(qkv.data(), qkv.data() + W, qkv.data() + 2 * W, 3 * W, T, H, hd, scale,
                            out.data(), W, pool);
        double worst = 0.0;
        for (int64_t h = 0; h < H; ++h)
            for (int64_t t = 0; t < T; ++t) {
                std::vector<double> p(static_cast<size_t>(T));
                double mx = -1e300, sum = 0.0;
                for (int64_t j = 0; j < T; ++j) {
                    double d = 0.0;
                    for (int64_t k = 0; k < hd; ++k)
                        d += double(qkv[size_t(t * 3 * W + h * hd + k)]) *
                             double(qkv[size_t(j * 3 * W + W + h * hd + k)]);
                    p[size_t(j)] = d * double(scale);
                    mx = std::max(mx, p[size_t(j)]);
                }
                for (auto& v : p) sum += (v = std::exp(v - mx));
                for (int64_t k = 0; k < hd; ++k) {
                    double o = 0.0;
                    for (int64_t j = 0; j < T; ++j)
                        o += p[size_t(j)] / sum * double(qkv[size_t(j * 3 * W + 2 * W + h * hd + k)]);
                    worst = std::max(worst, std::abs(o - double(out[size_t(t * W + h * hd + k)])));
                }
            }
        QVERIFY2(worst < 1e-5, std::to_string(worst).c_str());
    }
    cpu::set_force_scalar(false);
}

void TestSiglip::loadErrorsNameTheTensor() {
    auto f = load_fixture("janus_tiny");
    {
        // Wrong width: the first tensor read names itself and both shapes.
        SiglipConfig c = f->config;
        c.width = 32;
        c.mlp_width = 128;
        WeightLoader loader(*f->checkpoint);
        auto r = SiglipTower::load(c, loader, kPrefix);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::Shape);
        QVERIFY2(
            r.error().message.find("vision_model.vision_tower.patch_embed.proj.weight") != std::string::npos,
            r.error().message.c_str());
    }
    {
        // One block more than stored.
        SiglipConfig c = f->config;
        c.layers = 3;
        WeightLoader loader(*f->checkpoint);
        auto r = SiglipTower::load(c, loader, kPrefix);
        QVERIFY(!r.ok());
        QVERIFY2(
            r.error().message.find("vision_model.vision_tower.blocks.2.norm1.weight") != std::string::npos,
            r.error().message.c_str());
    }
    {
        // A wrong patch size changes the grid, so pos_embed no longer fits.
        SiglipConfig c = f->config;
        c.patch_size = 14;
        WeightLoader loader(*f->checkpoint);
        auto r = SiglipTower::load(c, loader, kPrefix);
        QVERIFY(!r.ok());
        QVERIFY2(r.error().message.find("patch_embed.proj.weight") != std::string::npos,
                 r.error().message.c_str());
    }
    {
        const std::string gone = kPrefix + "blocks.1.mlp.fc2.bias";
        auto ck = without(*f->checkpoint, gone);
        WeightLoader loader(*ck);
        auto r = SiglipTower::load(f->config, loader, kPrefix);
        QVERIFY(!r.ok());
        QVERIFY2(r.error().message.find(gone) != std::string::npos, r.error().message.c_str());
    }
    {
        // Without the prefix every name is missing; the error says which.
        WeightLoader loader(*f->checkpoint);
        auto r = SiglipTower::load(f->config, loader, "vision.");
        QVERIFY(!r.ok());
        QVERIFY2(r.error().message.find("vision.patch_embed.proj.weight") != std::string::npos,
                 r.error().message.c_str());
    }
    {
        // The attention-pool head is accounted for (ignored), so a full load leaves nothing unused...
        WeightLoader loader(*f->checkpoint);
        QVERIFY(SiglipTower::load(f->config, loader, kPrefix).ok());
        QVERIFY(loader.check_all_used().ok());
        // ...while a tower of fewer blocks leaves the last block's tensors unused, which is reported.
        SiglipConfig c = f->config;
        c.layers = 1;
        WeightLoader partial(*f->checkpoint);
        QVERIFY(SiglipTower::load(c, partial, kPrefix).ok());
        const Status st = partial.check_all_used();
        QVERIFY(!st.ok());
        QVERIFY2(st.error().message.find("blocks.1.") != std::string::npos, st.error().message.c_str());
    }
    {
        // Null buffers are an error, not a crash.
        WeightLoader loader(*f->checkpoint);
        auto t = SiglipTower::load(f->config, loader, kPrefix);
        QVERIFY(t.ok());
        ThreadPool pool(1);
        QVERIFY(!(*t)->forward(nullptr, nullptr, pool).ok());
    }
}

QTEST_GUILESS_MAIN(TestSiglip)
#include "test_siglip.moc"
