// The persistent batch-1 decode kernel (backend/cuda/decode_persistent.cu) against a double-precision host
// reference of the same layers (with the bf16 roundings where the engine stores bf16) and against the
// separate kernels it replaces, on random weights at several shapes including odd ones and a long context.
// Cache positions after the current one are poisoned (NaN), so a read past the sequence fails; the kernel
// is also replayed from a captured CUDA graph and must reproduce itself bit for bit.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/decode_persistent.h"
#include "check_support.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

struct Shape {
    const char* name;
    int H, I, nh, nkv, L, max_seq, pos, slots, slot;
    bool bias;
};

constexpr int kHd = 128;

float bf(float v) {
    return bf16_to_f32(f32_to_bf16(v));
}

struct HostLayer {
    std::vector<uint16_t> ln1, qkv, bias, o, ln2, gu, down;
};

// The layer stack on the host: models.md §1 with the engine's rounding points (normalised input, q/k/v after
// RoPE, attention output and SwiGLU activation in bf16; residual in f32).
void reference(const Shape& s, const std::vector<HostLayer>& layers, std::vector<std::vector<uint16_t>>& kc,
               std::vector<std::vector<uint16_t>>& vc, const std::vector<float>& inv_freq,
               std::vector<float>& h) {
    const int hd = kHd, half = hd / 2, A = s.nh * hd, QKV = (s.nh + 2 * s.nkv) * hd;
    const size_t head_stride = size_t(s.max_seq) * hd;
    auto norm = [&](const std::vector<uint16_t>& w) {
        double ss = 0;
        for (float v : h) ss += double(v) * double(v);
        const float r = float(1.0 / std::sqrt(ss / s.H + 1e-6));
        std::vector<float> xn(static_cast<size_t>(s.H));
        for (int k = 0; k < s.H; ++k) xn[size_t(k)] = bf(bf(h[size_t(k)] * r) * bf16_to_f32(w[size_t(k)]));
        return xn;
    };
    auto matvec = [](const std::vector<uint16_t>& W, const std::vector<float>& x, int row) {
        const size_t K = x.size();
        double acc = 0;
        for (size_t k = 0; k < K; ++k) acc += double(bf16_to_f32(W[size_t(row) * K + k])) * double(x[k]);
        return acc;
    };
    for (int l = 0; l < s.L; ++l) {
        const HostLayer& w = layers[size_t(l)];
        std::vector<float> xn = norm(w.ln1);
        std::vector<double> y(static_cast<size_t>(QKV));
        for (int r = 0; r < QKV; ++r)
            y[size_t(r)] = matvec(w.qkv, xn, r) + (s.bias ? double(bf16_to_f32(w.bias[size_t(r)])) : 0.0);
        std::vector<float> q(static_cast<size_t>(A));
        const size_t row = size_t(s.slot) * s.nkv * head_stride + size_t(s.pos) * hd;
        for (int head = 0; head < s.nh + 2 * s.nkv; ++head)
            for (int i = 0; i < half; ++i) {
                const double v0 = y[size_t(head) * hd + i], v1 = y[size_t(head) * hd + i + half];
                if (head >= s.nh + s.nkv) {
                    const size_t d = row + size_t(head - s.nh - s.nkv) * head_stride;
                    vc[size_t(l)][d + i] = f32_to_bf16(float(v0));
                    vc[size_t(l)][d + i + half] = f32_to_bf16(float(v1));
                    continue;
                }
                const double ang = double(s.pos) * double(inv_freq[size_t(i)]);
                const double c = bf(float(std::cos(ang))), sn = bf(float(std::sin(ang)));
                const float o1 = float(v0 * c - v1 * sn), o2 = float(v1 * c + v0 * sn);
                if (head < s.nh) {
                    q[size_t(head) * hd + i] = bf(o1);
                    q[size_t(head) * hd + i + half] = bf(o2);
                } else {
                    const size_t d = row + size_t(head - s.nh) * head_stride;
                    kc[size_t(l)][d + i] = f32_to_bf16(o1);
                    kc[size_t(l)][d + i + half] = f32_to_bf16(o2);
                }
            }
        std::vector<float> attn(static_cast<size_t>(A));
        const double scale = 1.0 / std::sqrt(double(hd));
        for (int head = 0; head < s.nh; ++head) {
            const int g = head / (s.nh / s.nkv);
            const size_t base = (size_t(s.slot) * s.nkv + g) * head_stride;
            std::vector<double> p(size_t(s.pos) + 1);
            double m = -1e300;
            for (int j = 0; j <= s.pos; ++j) {
                double d = 0;
                for (int e = 0; e < hd; ++e)
                    d += double(q[size_t(head) * hd + e]) *
                         double(bf16_to_f32(kc[size_t(l)][base + size_t(j) * hd + e]));
                p[size_t(j)] = d * scale;
                m = std::max(m, p[size_t(j)]);
            }
            double sum = 0;
            for (double& v : p) sum += v = std::exp(v - m);
            for (int e = 0; e < hd; ++e) {
                double o = 0;
                for (int j = 0; j <= s.pos; ++j)
                    o += p[size_t(j)] * double(bf16_to_f32(vc[size_t(l)][base + size_t(j) * hd + e]));
                attn[size_t(head) * hd + e] = bf(float(o / sum));
            }
        }
        for (int r = 0; r < s.H; ++r) h[size_t(r)] = float(double(h[size_t(r)]) + matvec(w.o, attn, r));
        xn = norm(w.ln2);
        std::vector<float> act(static_cast<size_t>(s.I));
        for (int i = 0; i < s.I; ++i) {
            const double g = matvec(w.gu, xn, 2 * i), u = matvec(w.gu, xn, 2 * i + 1);
            act[size_t(i)] = bf(float(g / (1.0 + std::exp(-g)) * u));
        }
        for (int r = 0; r < s.H; ++r) h[size_t(r)] = float(double(h[size_t(r)]) + matvec(w.down, act, r));
    }
}

struct DeviceModel {
    std::vector<std::unique_ptr<Dev<uint16_t>>> bufs;
    std::vector<cuda::PersistentLayer> layers;
    const uint16_t* put(const std::vector<uint16_t>& v) {
        bufs.push_back(std::make_unique<Dev<uint16_t>>(v));
        return bufs.back()->p;
    }
};

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i])) return INFINITY;
        d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    }
    return d;
}

void run_shape(Counter& c, const Shape& s, uint64_t seed) {
    const int hd = kHd, A = s.nh * hd, QKV = (s.nh + 2 * s.nkv) * hd;
    const size_t cache_elems = size_t(s.slots) * s.nkv * s.max_seq * hd;
    const float eps = 1e-6f, scale = 1.f / std::sqrt(float(hd));
    std::vector<HostLayer> host(size_t(s.L));
    std::vector<std::vector<uint16_t>> kc(size_t(s.L)), vc(size_t(s.L));
    auto ones_ish = [&](int n) {
        auto v = random_floats(size_t(n), seed++, 0.5f);
        for (float& x : v) x += 1.f;
        return to_bf16(v);
    };
    for (int l = 0; l < s.L; ++l) {
        HostLayer& w = host[size_t(l)];
        w.ln1 = ones_ish(s.H);
        w.ln2 = ones_ish(s.H);
        w.qkv = to_bf16(random_floats(size_t(QKV) * s.H, seed++, 2.f / std::sqrt(float(s.H))));
        w.bias = to_bf16(random_floats(size_t(QKV), seed++, 0.5f));
        w.o = to_bf16(random_floats(size_t(s.H) * A, seed++, 1.f / std::sqrt(float(A))));
        w.gu = to_bf16(random_floats(size_t(2) * s.I * s.H, seed++, 2.f / std::sqrt(float(s.H))));
        w.down = to_bf16(random_floats(size_t(s.H) * s.I, seed++, 1.f / std::sqrt(float(s.I))));
        // Earlier positions of every slot hold random keys/values; the current one and later are NaN.
        auto kr = to_bf16(random_floats(cache_elems, seed++, 1.f));
        auto vr = to_bf16(random_floats(cache_elems, seed++, 1.f));
        for (size_t i = 0; i < cache_elems; ++i)
            if (int((i / hd) % s.max_seq) >= s.pos) kr[i] = vr[i] = 0xffff;
        kc[size_t(l)] = kr;
        vc[size_t(l)] = vr;
    }
    std::vector<float> inv_freq(static_cast<size_t>(hd / 2));
    for (int i = 0; i < hd / 2; ++i) inv_freq[size_t(i)] = float(std::pow(10000.0, -2.0 * i / hd));
    const std::vector<float> h0 = random_floats(size_t(s.H), seed++, 1.f);

    // Host reference.
    std::vector<float> ref = h0;
    auto kc_ref = kc, vc_ref = vc;
    reference(s, host, kc_ref, vc_ref, inv_freq, ref);

    DeviceModel m;
    std::vector<std::unique_ptr<Dev<uint16_t>>> caches;
    for (int l = 0; l < s.L; ++l) {
        const HostLayer& w = host[size_t(l)];
        cuda::PersistentLayer pl;
        pl.ln1 = m.put(w.ln1);
        pl.ln2 = m.put(w.ln2);
        pl.qkv = m.put(w.qkv);
        pl.qkv_bias = s.bias ? m.put(w.bias) : nullptr;
        pl.o = m.put(w.o);
        pl.gate_up = m.put(w.gu);
        pl.down = m.put(w.down);
        caches.push_back(std::make_unique<Dev<uint16_t>>(kc[size_t(l)]));
        pl.k_cache = caches.back()->p;
        caches.push_back(std::make_unique<Dev<uint16_t>>(vc[size_t(l)]));
        pl.v_cache = caches.back()->p;
        m.layers.push_back(pl);
    }
    Dev<char> dlayers(sizeof(cuda::PersistentLayer) * size_t(s.L));
    cudaMemcpy(dlayers.p, m.layers.data(), dlayers.n, cudaMemcpyHostToDevice);
    Dev<float> dh(h0), dfreq(inv_freq);
    Dev<uint16_t> dq(static_cast<size_t>(A)), dattn(static_cast<size_t>(A)), dact(static_cast<size_t>(s.I));
    Dev<int32_t> dpos(std::vector<int32_t>{s.pos}), dslot(std::vector<int32_t>{s.slot});
    int device = 0;
    cudaGetDevice(&device);
    Dev<char> ws(cuda::persistent_decode_workspace(device, s.nh, hd));

    cuda::PersistentDecode a;
    a.layers = reinterpret_cast<const cuda::PersistentLayer*>(dlayers.p);
    a.L = s.L;
    a.H = s.H;
    a.I = s.I;
    a.nh = s.nh;
    a.nkv = s.nkv;
    a.hd = hd;
    a.max_seq = s.max_seq;
    a.eps = eps;
    a.scale = scale;
    a.h = dh.p;
    a.q = dq.p;
    a.attn = dattn.p;
    a.act = dact.p;
    a.workspace = ws.p;
    a.pos = dpos.p;
    a.slot = dslot.p;
    a.inv_freq = dfreq.p;
    cudaStream_t stream;
    cudaStreamCreate(&stream);
    Status st = cuda::persistent_decode_prepare(a);
    if (st.ok()) st = cuda::persistent_decode(a, stream);
    cudaError_t err = cudaStreamSynchronize(stream);
    c.expect(st.ok() && err == cudaSuccess, std::string(s.name) + " launch",
             st.ok() ? cudaGetErrorString(err) : st.error().message);
    const std::vector<float> got = dh.download();

    const double tol = 1e-2;
    double scale_ref = 1e-30;
    for (float v : ref) scale_ref = std::max(scale_ref, std::fabs(double(v)));
    const double err_h = max_abs_diff(got, ref) / scale_ref;
    // Cache rows written at pos: compare every layer's new keys and values.
    double err_kv = 0;
    for (int l = 0; l < s.L; ++l) {
        const auto kg = from_bf16(caches[size_t(2 * l)]->download()),
                   vg = from_bf16(caches[size_t(2 * l + 1)]->download());
        const auto kr = from_bf16(kc_ref[size_t(l)]), vr = from_bf16(vc_ref[size_t(l)]);
        for (size_t i = 0; i < kg.size(); ++i) {
            if (int((i / hd) % s.max_seq) > s.pos) continue;  // later positions stay NaN on both sides
            const double dk = std::fabs(double(kg[i]) - double(kr[i])),
                         dv = std::fabs(double(vg[i]) - double(vr[i]));
            if (!std::isfinite(kg[i]) || !std::isfinite(vg[i])) {
                // Only other slots' current position may be NaN (never written).
                const size_t slot = i / (size_t(s.nkv) * s.max_seq * hd);
                if (int(slot) == s.slot) err_kv = INFINITY;
                continue;
            }
            err_kv = std::max({err_kv, dk / 4.0, dv / 4.0});  // values are O(1–4): relative to 4
        }
    }
    std::printf(
        "%-28s H=%d I=%d nh=%d nkv=%d L=%d pos=%d: residual rel err %s, cache err %s (tol %s) vs host\n",
        s.name, s.H, s.I, s.nh, s.nkv, s.L, s.pos, fmt(err_h).c_str(), fmt(err_kv).c_str(), fmt(tol).c_str());
    c.expect(err_h <= tol, std::string(s.name) + " residual vs host", fmt(err_h));
    c.expect(err_kv <= tol, std::string(s.name) + " cache vs host", fmt(err_kv));

    // The separate kernels from the same start (caches restored, positions ≥ pos poisoned again), three
    // times: the decode path must replay bit for bit, and the first output that does not names the kernel.
    Dev<uint16_t> xn(static_cast<size_t>(s.H));
    Dev<char> aws(cuda::attention_decode_workspace(1, s.nh, hd, s.max_seq));
    cudaMemset(aws.p, 0, aws.n);
    Status sep;
    const char* op_names[] = {"rms_norm ln1",       "qkv+rope (q)",     "qkv+rope (k cache)",
                              "qkv+rope (v cache)", "attention_decode", "o_proj (h)",
                              "rms_norm ln2",       "gate/up swiglu",   "down_proj (h)"};
    // Runs 0-2 back to back as decode enqueues them (programmatic dependent launch overlapping the kernels),
    // then runs 3-5 synchronised after every kernel with each output kept, to name the one that differs.
    // TESSERA_PDL_BISECT=1 adds runs that synchronise after every kernel but one (k), so only the boundary
    // k → k + 1 overlaps: the boundaries whose runs differ from the synchronised ones are printed.
    const bool bisect = std::getenv("TESSERA_PDL_BISECT") != nullptr;
    const int runs = bisect ? 6 + 9 * 3 : 6;
    std::vector<std::vector<std::vector<float>>> snaps(static_cast<size_t>(runs));
    for (int run = 0; run < runs; ++run) {
        const bool keep = run >= 3 && run < 6;
        const int overlap_only = run >= 6 ? (run - 6) / 3 : -1;
        int op = 0;
        for (int l = 0; l < s.L; ++l) {
            caches[size_t(2 * l)]->upload(kc[size_t(l)]);
            caches[size_t(2 * l + 1)]->upload(vc[size_t(l)]);
        }
        dh.upload(h0);
        auto snap = [&](auto&& download) {
            const int this_op = op++;
            if (overlap_only >= 0 && this_op % 9 != overlap_only && this_op % 9 != 2 && this_op % 9 != 3)
                cudaStreamSynchronize(stream);
            if (!keep) return;
            cudaStreamSynchronize(stream);
            snaps[size_t(run)].push_back(download());
        };
        for (int l = 0; l < s.L && sep.ok(); ++l) {
            const cuda::PersistentLayer& pl = m.layers[size_t(l)];
            sep = cuda::rms_norm(dh.p, pl.ln1, 1, s.H, eps, xn.p, stream);
            snap([&] { return from_bf16(xn.download()); });
            if (sep.ok())
                sep =
                    cuda::gemv_qkv_rope_bf16(pl.qkv, xn.p, pl.qkv_bias, dpos.p, dslot.p, dfreq.p, 1, s.nh,
                                             s.nkv, hd, s.H, s.max_seq, dq.p, pl.k_cache, pl.v_cache, stream);
            snap([&] { return from_bf16(dq.download()); });
            snap([&] { return from_bf16(caches[size_t(2 * l)]->download()); });
            snap([&] { return from_bf16(caches[size_t(2 * l + 1)]->download()); });
            if (sep.ok())
                sep = cuda::attention_decode(dq.p, pl.k_cache, pl.v_cache, dpos.p, dslot.p, 1, s.nh, s.nkv,
                                             hd, s.max_seq, scale, dattn.p, aws.p, stream);
            snap([&] { return from_bf16(dattn.download()); });
            if (sep.ok())
                sep = cuda::gemv_bf16(pl.o, dattn.p, nullptr, dh.p, dh.p, nullptr, 1, s.H, A, stream);
            snap([&] { return dh.download(); });
            if (sep.ok()) sep = cuda::rms_norm(dh.p, pl.ln2, 1, s.H, eps, xn.p, stream);
            snap([&] { return from_bf16(xn.download()); });
            if (sep.ok()) sep = cuda::gemv_swiglu_bf16(pl.gate_up, xn.p, dact.p, 1, s.I, s.H, stream);
            snap([&] { return from_bf16(dact.download()); });
            if (sep.ok())
                sep = cuda::gemv_bf16(pl.down, dact.p, nullptr, dh.p, dh.p, nullptr, 1, s.H, s.I, stream);
            snap([&] { return dh.download(); });
        }
        {  // the end state (h and every cache), last in the run's list
            cudaStreamSynchronize(stream);
            std::vector<float> end = dh.download();
            for (auto& cbuf : caches) {
                auto v = from_bf16(cbuf->download());
                end.insert(end.end(), v.begin(), v.end());
            }
            snaps[size_t(run)].push_back(std::move(end));
        }
    }
    std::string first_diff;
    for (int run = 1; run < 3 && first_diff.empty(); ++run)
        if (snaps[0][0].size() != snaps[size_t(run)][0].size() ||
            std::memcmp(snaps[0][0].data(), snaps[size_t(run)][0].data(), snaps[0][0].size() * 4) != 0)
            first_diff = "back-to-back run " + std::to_string(run) + " differs (h and caches): max diff " +
                         fmt(max_abs_diff(snaps[size_t(run)][0], snaps[0][0]));
    std::string sync_diff;
    for (int run = 4; run < 6 && sync_diff.empty(); ++run)
        for (size_t i = 0; i < snaps[3].size() && i < snaps[size_t(run)].size() && sync_diff.empty(); ++i) {
            const auto& x = snaps[3][i];
            const auto& y = snaps[size_t(run)][i];
            if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0)
                sync_diff = "synchronised run " + std::to_string(run) + ", layer " + std::to_string(i / 9) +
                            ", " + op_names[i % 9] + ": max diff " + fmt(max_abs_diff(y, x));
        }
    if (!sync_diff.empty()) first_diff += (first_diff.empty() ? "" : "; ") + sync_diff;
    for (int k = 0; bisect && k < 9; ++k) {
        int differ = 0;
        for (int r = 0; r < 3; ++r) {
            const auto& end = snaps[size_t(6 + 3 * k + r)].back();
            if (std::memcmp(end.data(), snaps[3].back().data(), end.size() * 4) != 0) ++differ;
        }
        std::printf(
            "%-28s only the boundary after %-20s overlapping: %d of 3 runs differ from the synchronised "
            "run\n",
            s.name, op_names[k], differ);
    }
    std::printf("%-28s separate kernels replayed 3 times: %s\n", s.name,
                first_diff.empty() ? "bit-identical" : first_diff.c_str());
    c.expect(first_diff.empty(), std::string(s.name) + " separate kernels replay bit for bit", first_diff);
    err = cudaStreamSynchronize(stream);
    const std::vector<float> sep_h = dh.download();
    // The separate kernels sum in another order, so both sit at a bf16-rounding distance from the host; the
    // persistent kernel must be no further from the host than they are (plus a margin of one such rounding).
    const double err_sep_host = max_abs_diff(sep_h, ref) / scale_ref;
    const double err_sep = max_abs_diff(got, sep_h) / scale_ref;
    const double bound = 2 * err_sep_host + 2e-3;
    std::printf(
        "%-28s separate kernels vs host %s; persistent vs them %s (persistent vs host must be <= %s)\n",
        s.name, fmt(err_sep_host).c_str(), fmt(err_sep).c_str(), fmt(bound).c_str());
    c.expect(sep.ok() && err == cudaSuccess && err_h <= bound,
             std::string(s.name) + " no further from the host than the separate kernels", fmt(err_h));

    // Captured in a graph (memset node + cooperative kernel node) and replayed twice from the same start.
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    Status cap;
    err = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (err == cudaSuccess) {
        cap = cuda::persistent_decode(a, stream);
        err = cudaStreamEndCapture(stream, &graph);
    }
    if (err == cudaSuccess && cap.ok()) err = cudaGraphInstantiate(&exec, graph, 0);
    bool same = err == cudaSuccess && cap.ok();
    for (int rep = 0; rep < 2 && same; ++rep) {
        dh.upload(h0);
        for (int l = 0; l < s.L; ++l) {
            caches[size_t(2 * l)]->upload(kc[size_t(l)]);
            caches[size_t(2 * l + 1)]->upload(vc[size_t(l)]);
        }
        err = cudaGraphLaunch(exec, stream);
        if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
        const std::vector<float> g = dh.download();
        same = err == cudaSuccess && std::memcmp(g.data(), got.data(), g.size() * sizeof(float)) == 0;
    }
    std::printf("%-28s graph replay %s (%s)\n", s.name, same ? "bit-identical" : "DIFFERS or failed",
                cap.ok() ? cudaGetErrorString(err) : cap.error().message.c_str());
    c.expect(same, std::string(s.name) + " graph replay");
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    Counter c;
    const Shape shapes[] = {
        {"qwen2-1.5b layers", 1536, 8960, 12, 2, 2, 1100, 1023, 2, 1, true},
        {"deepseek-7b layer, pos 0", 4096, 11008, 32, 32, 1, 300, 0, 1, 0, false},
        {"deepseek-7b layer, pos 257", 4096, 11008, 32, 32, 1, 300, 257, 1, 0, false},
        {"odd: H 264, I 712, 3 heads", 264, 712, 3, 1, 3, 64, 37, 3, 2, true},
        {"long context 4000", 512, 1024, 4, 2, 1, 4096, 4000, 1, 0, false},
        {"MQA, 1 position", 256, 344, 8, 1, 2, 16, 1, 1, 0, true},
    };
    uint64_t seed = 7;
    for (const Shape& s : shapes) {
        if (!cuda::persistent_decode_supported(s.H, s.I, s.nh, s.nkv, kHd)) {
            c.expect(false, std::string(s.name) + " unsupported");
            continue;
        }
        run_shape(c, s, seed);
        seed += 1000;
    }
    // Shapes the kernel declines (the caller keeps the separate kernels).
    c.expect(!cuda::persistent_decode_supported(1536, 8960, 12, 2, 64), "head dim 64 declined");
    c.expect(!cuda::persistent_decode_supported(1540, 8960, 12, 2, 128), "H not a multiple of 8 declined");
    c.expect(!cuda::persistent_decode(cuda::PersistentDecode{}, nullptr).ok(),
             "unprepared arguments refused");
    return c.finish();
}
