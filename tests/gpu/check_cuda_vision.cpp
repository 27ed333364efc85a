// The GPU vision path: each kernel of backend/cuda/vision.cu against a CPU reference on fresh random inputs
// (several shapes, odd ones included, outputs poisoned before every run), then the whole SigLIP tower and
// aligner on the tiny Janus fixture against the official code's features and aligned embeddings
// (tests/fixtures/janus/tiny/reference.safetensors) and against the CPU JanusModel::image_embeddings.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "backend/cuda/device.h"
#include "backend/cuda/vision_ops.h"
#include "check_support.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "models/janus.h"
#include "models/siglip_gpu.h"
#include "reference_file.h"

using namespace tessera;
using namespace tessera::gpucheck;
using cuda::VisionAct;

namespace {

const std::string kTiny = std::string(TESSERA_FIXTURES_DIR) + "/janus/tiny";

// Per-element comparison: |got − want| ≤ rel·bound + abs_tol, where bound is |want| unless the case supplies
// its own magnitude (attention's Σ p·|v|). Prints one line per case.
struct Compare {
    double max_abs = 0, max_rel = 0;
    bool ok = true;
    void add(double got, double want, double bound, double rel, double abs_tol) {
        const double d = std::fabs(got - want);
        if (!std::isfinite(got) || !(d <= rel * bound + abs_tol)) ok = false;
        max_abs = std::fmax(max_abs, std::isfinite(d) ? d : double(INFINITY));
        max_rel = std::fmax(max_rel, d / std::fmax(std::fabs(want), 1e-6));
    }
};

void report(Counter& c, const std::string& name, const Compare& cmp, double rel, double abs_tol) {
    std::printf("  %-58s max abs %-9s max rel %-9s tol %s·|ref| + %s  %s\n", name.c_str(),
                fmt(cmp.max_abs).c_str(), fmt(cmp.max_rel).c_str(), fmt(rel).c_str(), fmt(abs_tol).c_str(),
                cmp.ok ? "PASS" : "FAIL");
    c.expect(cmp.ok, name);
}

std::string shape(std::initializer_list<int> dims) {
    std::string s = "[";
    for (int d : dims) s += (s.size() > 1 ? ", " : "") + std::to_string(d);
    return s + "]";
}

float bf(float v) {
    return bf16_to_f32(f32_to_bf16(v));
}

// cudaMemset/cudaMemcpy in Dev use the legacy stream while the launchers run on the context's non-blocking
// stream: synchronise the device between them.
void sync() {
    cudaDeviceSynchronize();
}

// The launch's status and the stream's, together.
bool finished(const Status& launched, cuda::CudaContext& ctx) {
    const bool synced = ctx.synchronize().ok();
    return launched.ok() && synced;
}

void check_layer_norm(Counter& c, cuda::CudaContext& ctx) {
    const float eps = 1e-6f;
    uint64_t seed = 100;
    for (int rows : {1, 7, 577})
        for (int D : {16, 64, 72, 1023, 1152})
            for (bool bf16_in : {false, true}) {
                // An offset mean so the two-pass variance matters.
                std::vector<float> x = random_floats(size_t(rows) * D, seed++, 3.f);
                for (float& v : x) v = bf16_in ? bf(v + 1.5f) : v + 1.5f;
                const auto w = to_bf16(random_floats(size_t(D), seed++, 1.f));
                const auto b = to_bf16(random_floats(size_t(D), seed++, 0.5f));
                Dev<float> dx(x);
                Dev<uint16_t> dxb(to_bf16(x)), dw(w), db(b), dyb(size_t(rows) * D);
                Dev<float> dyf(size_t(rows) * D);
                sync();
                const bool ran =
                    finished(cuda::vision_layer_norm(bf16_in ? nullptr : dx.p, bf16_in ? dxb.p : nullptr,
                                                     dw.p, db.p, rows, D, eps, dyb.p, dyf.p, ctx.stream()),
                             ctx);
                const auto yb = from_bf16(dyb.download());
                const auto yf = dyf.download();
                Compare cb, cf;
                for (int r = 0; r < rows; ++r) {
                    const float* xr = x.data() + size_t(r) * D;
                    double mean = 0, var = 0;
                    for (int i = 0; i < D; ++i) mean += double(xr[i]);
                    mean /= D;
                    for (int i = 0; i < D; ++i) var += (double(xr[i]) - mean) * (double(xr[i]) - mean);
                    const double rstd = 1.0 / std::sqrt(var / D + double(eps));
                    for (int i = 0; i < D; ++i) {
                        const double want =
                            (double(xr[i]) - mean) * rstd * double(bf16_to_f32(w[size_t(i)])) +
                            double(bf16_to_f32(b[size_t(i)]));
                        const size_t k = size_t(r) * D + size_t(i);
                        cf.add(yf[k], want, std::fabs(want), 1e-5, 1e-5);
                        cb.add(yb[k], want, std::fabs(want), 1.0 / 256, 1e-5);  // one bf16 rounding
                    }
                }
                cf.ok = cf.ok && ran;
                cb.ok = cb.ok && ran;
                const std::string name =
                    std::string("layer_norm ") + (bf16_in ? "bf16" : "f32") + " in " + shape({rows, D});
                report(c, name + " → f32", cf, 1e-5, 1e-5);
                report(c, name + " → bf16", cb, 1.0 / 256, 1e-5);
            }
}

double act_ref(double v, VisionAct act) {
    if (act == VisionAct::GeluErf) return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    if (act == VisionAct::GeluTanh)
        return 0.5 * v * (1.0 + std::tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)));
    return v;
}

void check_bias_act(Counter& c, cuda::CudaContext& ctx) {
    uint64_t seed = 200;
    const char* names[] = {"none", "gelu_erf", "gelu_tanh"};
    for (int rows : {1, 3, 577})
        for (int N : {1, 17, 256, 4304})
            for (VisionAct act : {VisionAct::None, VisionAct::GeluErf, VisionAct::GeluTanh})
                for (bool f32_out : {false, true})
                    for (bool with_bias : {true, false}) {
                        if (!with_bias && (act != VisionAct::None || N != 17))
                            continue;  // null bias: a few cases
                        const auto acc = random_floats(size_t(rows) * N, seed++, 4.f);
                        const auto bias = to_bf16(random_floats(size_t(N), seed++, 1.f));
                        Dev<float> dacc(acc), dof(size_t(rows) * N);
                        Dev<uint16_t> dbias(bias), dob(size_t(rows) * N);
                        sync();
                        const bool ran =
                            finished(cuda::vision_bias_act(dacc.p, with_bias ? dbias.p : nullptr, rows, N,
                                                           act, f32_out ? nullptr : dob.p,
                                                           f32_out ? dof.p : nullptr, ctx.stream()),
                                     ctx);
                        const auto got = f32_out ? dof.download() : from_bf16(dob.download());
                        const double rel = f32_out ? 1e-5 : 1.0 / 256, abs_tol = 1e-6;
                        Compare cmp;
                        for (size_t i = 0; i < acc.size(); ++i) {
                            const double v =
                                double(acc[i]) + (with_bias ? double(bf16_to_f32(bias[i % size_t(N)])) : 0.0);
                            const double want = act_ref(double(float(v)), act);
                            cmp.add(got[i], want, std::fabs(want), rel, abs_tol);
                        }
                        cmp.ok = cmp.ok && ran;
                        report(c,
                               std::string("bias_act ") + names[int(act)] + (with_bias ? "" : " (no bias)") +
                                   " " + shape({rows, N}) + (f32_out ? " → f32" : " → bf16"),
                               cmp, rel, abs_tol);
                    }
}

void check_bias_residual(Counter& c, cuda::CudaContext& ctx) {
    uint64_t seed = 300;
    for (int rows : {1, 5, 576})
        for (int N : {1, 33, 1024})
            for (bool with_bias : {true, false}) {
                const auto acc = random_floats(size_t(rows) * N, seed++, 2.f);
                const auto x0 = random_floats(size_t(rows) * N, seed++, 8.f);
                const auto bias = to_bf16(random_floats(size_t(N), seed++, 1.f));
                Dev<float> dacc(acc), dx(x0);
                Dev<uint16_t> dbias(bias);
                sync();
                const bool ran = finished(cuda::vision_bias_residual(dacc.p, with_bias ? dbias.p : nullptr,
                                                                     rows, N, dx.p, ctx.stream()),
                                          ctx);
                const auto got = dx.download();
                Compare cmp;
                for (size_t i = 0; i < acc.size(); ++i) {
                    const float v = acc[i] + (with_bias ? bf16_to_f32(bias[i % size_t(N)]) : 0.f);
                    const double want = double(x0[i] + v);
                    cmp.add(got[i], want, std::fabs(want), 1e-6, 1e-6);
                }
                cmp.ok = cmp.ok && ran;
                report(
                    c,
                    std::string("bias_residual") + (with_bias ? "" : " (no bias)") + " " + shape({rows, N}),
                    cmp, 1e-6, 1e-6);
            }
}

void check_im2col(Counter& c, cuda::CudaContext& ctx) {
    uint64_t seed = 400;
    // (S, P): Janus, VL2, and a side with a remainder the unfold must skip.
    for (auto [S, P] : {std::pair{384, 16}, std::pair{378, 14}, std::pair{37, 6}, std::pair{5, 5}}) {
        const int G = S / P, K = 3 * P * P;
        const auto px = random_floats(size_t(3) * S * S, seed++, 2.f);
        Dev<float> dpx(px);
        Dev<uint16_t> dout(size_t(G) * G * K);
        sync();
        const bool ran = finished(cuda::vision_patch_im2col(dpx.p, S, P, dout.p, ctx.stream()), ctx);
        const auto got = dout.download();
        Compare cmp;
        for (int t = 0; t < G * G; ++t)
            for (int k = 0; k < K; ++k) {
                const int gy = t / G, gx = t % G, ch = k / (P * P), py = (k / P) % P, pxx = k % P;
                const float want = bf(px[(size_t(ch) * S + size_t(gy) * P + py) * S + size_t(gx) * P + pxx]);
                cmp.add(bf16_to_f32(got[size_t(t) * K + size_t(k)]), want, 0, 0, 0);  // exact
            }
        cmp.ok = cmp.ok && ran;
        report(c,
               "patch_im2col S=" + std::to_string(S) + " P=" + std::to_string(P) + " → " + shape({G * G, K}),
               cmp, 0, 0);
    }
}

void check_softmax(Counter& c, cuda::CudaContext& ctx) {
    uint64_t seed = 500;
    for (int rows : {1, 5, 64})
        for (int n : {1, 31, 576, 729})
            for (float scale : {1.f, 0.125f}) {
                const auto S = random_floats(size_t(rows) * n, seed++, 12.f);
                Dev<float> dS(S);
                Dev<uint16_t> dP(size_t(rows) * n);
                sync();
                const bool ran =
                    finished(cuda::vision_softmax(dS.p, rows, n, scale, dP.p, ctx.stream()), ctx);
                const auto got = from_bf16(dP.download());
                Compare cmp;
                for (int r = 0; r < rows; ++r) {
                    const float* s = S.data() + size_t(r) * n;
                    double m = -INFINITY, sum = 0;
                    for (int i = 0; i < n; ++i) m = std::fmax(m, double(s[i] * scale));
                    for (int i = 0; i < n; ++i) sum += std::exp(double(s[i] * scale) - m);
                    for (int i = 0; i < n; ++i) {
                        const double want = std::exp(double(s[i] * scale) - m) / sum;
                        cmp.add(got[size_t(r) * n + size_t(i)], want, want, 1.0 / 256, 1e-7);
                    }
                }
                cmp.ok = cmp.ok && ran;
                report(c, "softmax " + shape({rows, n}) + " scale " + fmt(scale), cmp, 1.0 / 256, 1e-7);
            }
}

void check_attention(Counter& c, cuda::CudaContext& ctx) {
    uint64_t seed = 600;
    struct Case {
        int T, heads, hd;
    };
    for (Case k : {Case{1, 1, 16}, Case{7, 3, 16}, Case{65, 2, 72}, Case{100, 4, 64}, Case{576, 16, 64},
                   Case{729, 4, 72}}) {
        const int T = k.T, H = k.heads, hd = k.hd, W = H * hd;
        const float scale = 1.f / std::sqrt(float(hd));
        const auto qkv = to_bf16(random_floats(size_t(T) * 3 * W, seed++, 1.5f));
        const auto q = from_bf16(qkv);
        Dev<uint16_t> dqkv(qkv), dP(size_t(H) * T * T), dout(size_t(T) * W);
        Dev<float> dS(size_t(H) * T * T);
        sync();
        const bool ran =
            finished(cuda::vision_attention(ctx, dqkv.p, T, H, hd, scale, dS.p, dP.p, dout.p), ctx);
        const auto got = from_bf16(dout.download());
        Compare cmp;
        std::vector<double> p(static_cast<size_t>(T));
        for (int h = 0; h < H; ++h)
            for (int t = 0; t < T; ++t) {
                const float* qt = q.data() + size_t(t) * 3 * W + size_t(h) * hd;
                double m = -INFINITY, sum = 0;
                for (int j = 0; j < T; ++j) {
                    const float* kj = q.data() + size_t(j) * 3 * W + W + size_t(h) * hd;
                    double dot = 0;
                    for (int d = 0; d < hd; ++d) dot += double(qt[d]) * double(kj[d]);
                    p[size_t(j)] = dot * double(scale);
                    m = std::fmax(m, p[size_t(j)]);
                }
                for (double& v : p) sum += (v = std::exp(v - m));
                for (int d = 0; d < hd; ++d) {
                    double want = 0, mag = 0;
                    for (int j = 0; j < T; ++j) {
                        const double v = q[size_t(j) * 3 * W + 2 * size_t(W) + size_t(h) * hd + size_t(d)];
                        want += p[size_t(j)] / sum * v;
                        mag += p[size_t(j)] / sum * std::fabs(v);
                    }
                    // P and the output are bf16 (2⁻⁹ relative each): the error is at most 2⁻⁹·Σ p·|v| +
                    // 2⁻⁹·|out|; the tolerance allows twice that.
                    cmp.add(got[size_t(t) * W + size_t(h) * hd + size_t(d)], want, mag + std::fabs(want),
                            1.0 / 256, 1e-6);
                }
            }
        cmp.ok = cmp.ok && ran;
        report(
            c,
            "attention T=" + std::to_string(T) + " heads=" + std::to_string(H) + " hd=" + std::to_string(hd),
            cmp, 1.0 / 256, 1e-6);
    }
}

// ---- the tiny Janus fixture
// ----------------------------------------------------------------------------------

// F32 / BF16 tensors of reference.safetensors as f32.
Result<std::map<std::string, std::vector<float>>> read_reference() {
    auto file = load_reference_file(kTiny);
    if (!file.ok()) return file.take_error();
    std::map<std::string, std::vector<float>> out;
    for (const char* name : {"pixels", "vision_features0", "aligner0"}) {
        out[name] = file->f32(name);
        if (out[name].empty())
            return make_error(ErrorCode::Format, std::string("reference lacks a float tensor ") + name);
    }
    return out;
}

// max |got − want| / max |want| over the whole tensor (and the mean absolute error, for the record).
void compare_tensor(Counter& c, const std::string& name, const std::vector<float>& got,
                    const std::vector<float>& want, double tol) {
    double mean = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i)
        mean += std::fabs(double(got[i]) - double(want[i]));
    mean /= double(std::max<size_t>(got.size(), 1));
    double max_abs = 0, scale = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
        max_abs = std::fmax(
            max_abs, std::isfinite(got[i]) ? std::fabs(double(got[i]) - double(want[i])) : double(INFINITY));
        scale = std::fmax(scale, std::fabs(double(want[i])));
    }
    const double rel = got.size() == want.size() ? rel_error(got, want) : double(INFINITY);
    const bool ok = rel <= tol;
    std::printf("  %-58s max abs %-9s (max |ref| %s, mean abs %s) rel %-9s tol %s  %s\n", name.c_str(),
                fmt(max_abs).c_str(), fmt(scale).c_str(), fmt(mean).c_str(), fmt(rel).c_str(),
                fmt(tol).c_str(), ok ? "PASS" : "FAIL");
    c.expect(ok, name);
}

void check_fixture(Counter& c) {
    auto ref = read_reference();
    c.expect(ref.ok(), "fixture: reference.safetensors", ref.ok() ? "" : ref.error().to_string());
    if (!ref.ok()) return;
    auto cfg = load_janus_config(kTiny);
    c.expect(cfg.ok(), "fixture: config", cfg.ok() ? "" : cfg.error().to_string());
    if (!cfg.ok()) return;
    auto ck = Checkpoint::open(kTiny);
    c.expect(ck.ok(), "fixture: checkpoint", ck.ok() ? "" : ck.error().to_string());
    if (!ck.ok()) return;
    std::shared_ptr<const Checkpoint> checkpoint(std::move(*ck));
    std::unique_ptr<CausalLm> lm;
    auto model = JanusModel::load(*cfg, checkpoint, lm);
    c.expect(model.ok(), "fixture: JanusModel loads", model.ok() ? "" : model.error().to_string());
    if (!model.ok()) return;
    const JanusModel& m = **model;
    const int T = m.vision().tokens(), W = m.vision().width(), D = m.hidden();
    std::printf("  tower: %d tokens, width %d, %d blocks, %d heads; aligner → %d (%.1f MiB on the GPU)\n", T,
                W, int(m.vision().blocks().size()), m.vision().config().heads, D,
                double(janus_vision_gpu_bytes(m)) / (1 << 20));

    auto gpu = janus_vision_gpu_load(m, 0);
    c.expect(gpu.ok(), "fixture: GPU vision loads", gpu.ok() ? "" : gpu.error().to_string());
    if (!gpu.ok()) return;
    const std::vector<float>& px = ref->at("pixels");  // [2, 3, S, S]: image 0 first
    const float* pixels0 = px.data();

    std::vector<float> feat(size_t(T) * W, NAN), emb(size_t(T) * D, NAN);
    Status st = janus_vision_gpu_features(**gpu, pixels0, feat.data());
    c.expect(st.ok(), "fixture: GPU features run", st.ok() ? "" : st.error().to_string());
    st = janus_vision_gpu_embeddings(**gpu, pixels0, emb.data());
    c.expect(st.ok(), "fixture: GPU embeddings run", st.ok() ? "" : st.error().to_string());

    std::vector<float> cpu(size_t(T) * D, NAN), scratch(size_t(T) * size_t(W + D));
    st = m.image_embeddings(pixels0, cpu.data(), scratch.data(), ThreadPool::global());
    c.expect(st.ok(), "fixture: CPU embeddings run", st.ok() ? "" : st.error().to_string());

    // Tolerance, relative to the tensor's largest value: the CPU tower matches these references to 1e-4
    // (tests/models/test_janus.cpp, f32 throughout). Here the pixels, each LayerNorm output, q/k/v, the
    // attention probabilities and output, and each GELU output are rounded to bf16 (2⁻⁹ ≈ 2e-3 relative
    // each) before a product; about ten such roundings along a path, partly averaged out by the products and
    // partly amplified by the final LayerNorm, leave errors of a few 1e-3 of the largest value. 2e-2 is an
    // order above that and still far below what a wrong layout, head split or GELU form produces (O(1)).
    const double tol = 2e-2;
    compare_tensor(c, "fixture features (after final LN) vs official " + shape({T, W}), feat,
                   ref->at("vision_features0"), tol);
    compare_tensor(c, "fixture aligned embeddings vs official " + shape({T, D}), emb, ref->at("aligner0"),
                   tol);
    compare_tensor(c, "fixture aligned embeddings vs CPU image_embeddings " + shape({T, D}), emb, cpu, tol);

    // Same input, same output (no state left from the previous run).
    std::vector<float> again(emb.size(), NAN);
    st = janus_vision_gpu_embeddings(**gpu, pixels0, again.data());
    c.expect(st.ok() && std::memcmp(again.data(), emb.data(), emb.size() * 4) == 0,
             "fixture: a second run is identical");
    // Null buffers are refused, not dereferenced.
    c.expect(!janus_vision_gpu_embeddings(**gpu, nullptr, emb.data()).ok(), "fixture: null pixels refused");
    c.expect(!janus_vision_gpu_features(**gpu, pixels0, nullptr).ok(), "fixture: null output refused");
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    Counter c;
    auto ctx = cuda::CudaContext::create(0);
    c.expect(ctx.ok(), "CUDA context", ctx.ok() ? "" : ctx.error().to_string());
    if (!ctx.ok()) return c.finish();
    std::printf("layer_norm (two-pass, eps 1e-6)\n");
    check_layer_norm(c, **ctx);
    std::printf("bias + activation\n");
    check_bias_act(c, **ctx);
    std::printf("bias + residual\n");
    check_bias_residual(c, **ctx);
    std::printf("patch unfold\n");
    check_im2col(c, **ctx);
    std::printf("softmax\n");
    check_softmax(c, **ctx);
    std::printf("attention (cuBLAS scores, softmax, values)\n");
    check_attention(c, **ctx);
    std::printf("tiny Janus fixture: SigLIP tower + aligner\n");
    check_fixture(c);
    return c.finish();
}
