// The tiny fixture models on the GPU: logits of every position against the transformers reference (within
// bf16 tolerance: the GPU keeps weights and activations in bf16), and the 32-token greedy continuation
// against the reference (which the CPU path reproduces exactly); a differing token must be a near-tie.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "backend/cuda/device.h"
#include "check_support.h"
#include "io/checkpoint.h"
#include "io/model_config.h"
#include "models/llama_cuda.h"
#include "tessera/engine.h"

using namespace tessera;
using namespace tessera::gpucheck;

namespace {

std::vector<float> read_f32(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    std::vector<float> v(s.size() / 4);
    std::memcpy(v.data(), s.data(), v.size() * 4);
    return v;
}

// A fixture folder of tests/fixtures/llm: its reference.json, config and checkpoint.
struct Fixture {
    std::string dir;
    nlohmann::json ref;
    LlmConfig cfg;
    std::unique_ptr<Checkpoint> ck;
};

// False, after a failed expectation naming what is missing, when any part does not load.
bool open_fixture(Counter& c, const std::string& name, Fixture& f) {
    f.dir = std::string(TESSERA_FIXTURES_DIR) + "/llm/" + name;
    std::ifstream rf(f.dir + "/reference.json");
    f.ref = nlohmann::json::parse(rf, nullptr, false);
    auto cfg = load_llm_config(f.dir);
    auto ck = Checkpoint::open(f.dir);
    if (f.ref.is_discarded() || !cfg.ok() || !ck.ok()) {
        c.expect(false, name + " load",
                 cfg.ok() ? (ck.ok() ? "reference.json" : ck.error().to_string()) : cfg.error().to_string());
        return false;
    }
    f.cfg = std::move(cfg).value();
    f.ck = std::move(ck).value();
    return true;
}

// The fixture on the GPU with room for max_batch sequences of max_seq positions; null (after a failed
// expectation) when it does not load.
std::unique_ptr<CudaLlm> open_fixture_model(Counter& c, const std::string& name, int max_seq, int max_batch,
                                            Fixture& f) {
    if (!open_fixture(c, name, f)) return nullptr;
    CudaLlmOptions opt;
    opt.max_seq = max_seq;
    opt.prefill_chunk = 64;
    opt.max_batch = max_batch;
    auto model = CudaLlm::load(f.cfg, *f.ck, opt);
    c.expect(model.ok(), name + " CudaLlm::load (batch " + std::to_string(max_batch) + ")",
             model.ok() ? "" : model.error().to_string());
    return model.ok() ? std::move(model).value() : nullptr;
}

void check_fixture(Counter& c, const std::string& name) {
    Fixture f;
    const auto model = open_fixture_model(c, name, 256, 2, f);
    if (!model) return;
    CudaLlm& m = *model;
    const std::string& dir = f.dir;
    const nlohmann::json& ref = f.ref;
    const LlmConfig* cfg = &f.cfg;
    const int V = cfg->vocab_size;

    // Logits of every position, in two prefill chunks to exercise pos0 > 0.
    const std::vector<int32_t> ids = ref["ids"].get<std::vector<int32_t>>();
    const std::vector<float> expect = read_f32(dir + "/" + ref["logits_file"].get<std::string>());
    std::vector<float> got(ids.size() * size_t(V));
    const int first = int(ids.size()) / 2;
    Status st = m.prefill(0, ids.data(), first, 0, got.data(), true);
    if (st.ok())
        st = m.prefill(0, ids.data() + first, int(ids.size()) - first, first, got.data() + size_t(first) * V,
                       true);
    const double err = rel_error(got, expect);
    c.expect(st.ok() && err <= 3e-2, name + " logits vs reference",
             st.ok() ? "rel err " + fmt(err) : st.error().to_string());
    std::printf("%-20s logits rel err %.3g\n", name.c_str(), err);

    // Greedy continuation: prefill the prompt in slot 1, then decode step by step (graph replay).
    const auto prompt = ref["greedy"]["prompt_ids"].get<std::vector<int32_t>>();
    const auto cont = ref["greedy"]["continuation"].get<std::vector<int32_t>>();
    std::vector<float> last(static_cast<size_t>(V));
    st = m.prefill(1, prompt.data(), int(prompt.size()), 0, last.data());
    // gaps[i]: our logit of our choice minus our logit of the reference's choice at step i, relative.
    std::vector<double> gaps;
    auto pick = [&](const std::vector<float>& l, size_t step) {
        const int32_t t = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
        float scale = 1e-30f;
        for (float v : l) scale = std::max(scale, std::fabs(v));
        if (step < cont.size()) gaps.push_back(double(l[size_t(t)] - l[size_t(cont[step])]) / double(scale));
        return t;
    };
    int32_t tok = pick(last, 0);
    std::vector<int32_t> out;
    int pos = int(prompt.size());
    while (st.ok() && out.size() < cont.size()) {
        out.push_back(tok);
        int32_t next = 0, slot = 1;
        st = m.decode(1, &tok, &pos, &slot, &next, last.data());
        if (st.ok() && next != pick(last, out.size()))
            st = make_error(ErrorCode::Internal, "GPU argmax differs from host argmax");
        tok = next;
        ++pos;
    }
    size_t same = 0;
    while (same < out.size() && out[same] == cont[same]) ++same;
    std::printf("%-20s greedy: %zu/%zu tokens equal to the reference\n", name.c_str(), same, cont.size());
    // A divergence is acceptable only where the two candidates are a near-tie (bf16 vs f32 numerics).
    const bool ok = st.ok() && (same == cont.size() || gaps[same] < 5e-3);
    if (st.ok() && same < cont.size())
        std::printf("%-20s   first difference at %zu: relative logit gap %.3g\n", name.c_str(), same,
                    gaps[same]);
    c.expect(ok, name + " greedy continuation",
             st.ok() ? "first difference at " + std::to_string(same) : st.error().to_string());
}

// Decode batches above the GEMV limit (the cuBLAS/cuBLASLt path with tuned products): every row of a 12- and
// a 16-row graph-replayed decode against the CPU model's logits of the same sequence, and against the row
// decoded alone (batch 1, the GEMV path); rows start at different lengths.
void check_batched_decode(Counter& c, const std::string& name) {
    Fixture f;
    const auto model = open_fixture_model(c, name, 128, 17, f);  // slot 16 replays one row alone
    if (!model) return;
    CudaLlm& m = *model;
    LoadOptions cl;
    cl.device = Device::Cpu;
    auto cpu = Model::load(f.dir, cl);
    c.expect(cpu.ok(), name + " batched decode: CPU model", cpu.ok() ? "" : cpu.error().to_string());
    if (!cpu.ok()) return;
    const int V = f.cfg.vocab_size, steps = 6;
    const auto base = f.ref["greedy"]["prompt_ids"].get<std::vector<int32_t>>();
    for (int B : {12, 16}) {
        const size_t rows = static_cast<size_t>(B);
        std::vector<std::vector<int32_t>> prompt(rows);
        std::vector<int32_t> ids(rows), pos(rows), slot(rows), next(rows);
        std::vector<float> logits(rows * size_t(V)), last(static_cast<size_t>(V));
        Status st;
        for (int b = 0; b < B && st.ok(); ++b) {
            auto& p = prompt[size_t(b)];
            for (size_t i = 0; i < base.size() + size_t(b % 5); ++i)
                p.push_back(int32_t((base[i % base.size()] + 7 * b + int(i)) % V));
            st = m.prefill(b, p.data(), int(p.size()), 0, last.data());
            ids[size_t(b)] = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
            pos[size_t(b)] = int(p.size());
            slot[size_t(b)] = b;
        }
        // fed[b]: the tokens row b was given; got[b]: its logits at each step.
        std::vector<std::vector<int32_t>> fed(rows);
        std::vector<std::vector<float>> got(rows);
        for (int t = 0; t < steps && st.ok(); ++t) {
            st = m.decode(B, ids.data(), pos.data(), slot.data(), next.data(), logits.data());
            for (int b = 0; b < B && st.ok(); ++b) {
                fed[size_t(b)].push_back(ids[size_t(b)]);
                got[size_t(b)].insert(got[size_t(b)].end(), logits.begin() + ptrdiff_t(b) * V,
                                      logits.begin() + ptrdiff_t(b + 1) * V);
                ids[size_t(b)] = next[size_t(b)];
                ++pos[size_t(b)];
            }
        }
        c.expect(st.ok(), name + " batched decode B=" + std::to_string(B),
                 st.ok() ? "" : st.error().to_string());
        if (!st.ok()) continue;
        // References for row b: the CPU model's logits of the whole sequence (prompt + fed tokens), and the
        // GPU decoding the row alone (batch 1, the GEMV path) in slot 16.
        double worst = 0, worst_alone = 0;
        int argmax_mismatch = 0;
        for (int b = 0; b < B && st.ok(); ++b) {
            const auto& p = prompt[size_t(b)];
            std::vector<int32_t> seq = p;
            seq.insert(seq.end(), fed[size_t(b)].begin(), fed[size_t(b)].end());
            auto cs = (*cpu)->open_session();
            auto all = cs.ok() ? cs.value()->logits(seq)
                               : Result<std::vector<float>>(make_error(ErrorCode::Internal, "session"));
            if (!all.ok()) {
                st = all.take_error();
                break;
            }
            const std::vector<float> ref_rows(all->begin() + ptrdiff_t(p.size()) * V, all->end());
            st = m.prefill(16, p.data(), int(p.size()), 0, last.data());
            std::vector<float> alone;
            for (int t = 0; t < steps && st.ok(); ++t) {
                int32_t tok = fed[size_t(b)][size_t(t)], position = int(p.size()) + t, sl = 16, nx = 0;
                st = m.decode(1, &tok, &position, &sl, &nx, last.data());
                alone.insert(alone.end(), last.begin(), last.end());
            }
            if (!st.ok()) break;
            const double row_err = rel_error(got[size_t(b)], ref_rows),
                         alone_err = rel_error(alone, ref_rows);
            if (row_err > 3e-2 || alone_err > 3e-2)
                std::printf("     %-20s B=%d row %d (%zu prompt tokens): rel err %.3g, alone %.3g\n",
                            name.c_str(), B, b, p.size(), row_err, alone_err);
            worst = std::max(worst, row_err);
            worst_alone = std::max(worst_alone, alone_err);
            for (int t = 0; t < steps; ++t) {
                const float* g = got[size_t(b)].data() + size_t(t) * V;
                const float* a = ref_rows.data() + size_t(t) * V;
                const auto ga = std::max_element(g, g + V) - g, aa = std::max_element(a, a + V) - a;
                float scale = 1e-30f;
                for (int v = 0; v < V; ++v) scale = std::max(scale, std::fabs(a[v]));
                if (ga != aa && (a[aa] - a[ga]) / scale > 5e-3f) ++argmax_mismatch;  // not a near-tie
            }
        }
        std::printf(
            "%-20s batched decode B=%d: logits rel err vs the CPU %.3g (batch 1: %.3g), argmax "
            "mismatches %d\n",
            name.c_str(), B, worst, worst_alone, argmax_mismatch);
        c.expect(st.ok() && worst <= 3e-2 && worst_alone <= 3e-2 && argmax_mismatch == 0,
                 name + " batched decode B=" + std::to_string(B) + " rows vs the CPU",
                 st.ok() ? "rel err " + fmt(worst) : st.error().to_string());
    }
}

// The same fixtures through the public engine API (Model::load on the GPU, Session): the path tessera-cli
// and the app take.
void check_engine_api(Counter& c, const std::string& name) {
    const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/llm/" + name;
    std::ifstream rf(dir + "/reference.json");
    const nlohmann::json ref = nlohmann::json::parse(rf, nullptr, false);
    LoadOptions lo;
    lo.device = Device::Cuda;
    auto model = Model::load(dir, lo);
    c.expect(model.ok() && (*model)->device() == Device::Cuda, name + " Model::load on the GPU",
             model.ok() ? (*model)->device_name() : model.error().to_string());
    if (!model.ok() || ref.is_discarded()) return;
    auto session = (*model)->open_session();
    c.expect(session.ok(), name + " open_session");
    if (!session.ok()) return;
    const auto ids = ref["ids"].get<std::vector<int32_t>>();
    auto logits = (*session)->logits(ids);
    const double err =
        logits.ok() ? rel_error(*logits, read_f32(dir + "/" + ref["logits_file"].get<std::string>())) : 1.0;
    c.expect(logits.ok() && err <= 3e-2, name + " Session::logits on the GPU", "rel err " + fmt(err));
    GenerateOptions go;
    go.sampling.greedy = true;
    go.stop_at_eos = false;
    const auto cont = ref["greedy"]["continuation"].get<std::vector<int32_t>>();
    go.max_tokens = int(cont.size());
    auto stats = (*session)->generate(ref["greedy"]["prompt_ids"].get<std::vector<int32_t>>(), go);
    size_t same = 0;
    if (stats.ok())
        while (same < cont.size() && same < stats->tokens.size() && stats->tokens[same] == cont[same]) ++same;
    std::printf("%-20s engine API greedy: %zu/%zu equal, decode %.1f tok/s\n", name.c_str(), same,
                cont.size(), stats.ok() ? stats->decode_tokens_per_second : 0.0);
    // Near-ties were shown by check_fixture; here at least the first half must agree.
    c.expect(stats.ok() && same * 2 >= cont.size(), name + " Session::generate greedy on the GPU");
    if (!stats.ok()) return;

    // Tokens after the first are drawn on the device (sample_text in the decode graph). Parameters that
    // leave one candidate must give the greedy tokens; a seed must replay; another seed must not.
    const auto prompt = ref["greedy"]["prompt_ids"].get<std::vector<int32_t>>();
    auto sampled = [&](float temperature, int top_k, float top_p, uint64_t seed) {
        GenerateOptions so = go;
        so.sampling.greedy = false;
        so.sampling.temperature = temperature;
        so.sampling.top_k = top_k;
        so.sampling.top_p = top_p;
        so.sampling.seed = seed;
        auto r = (*session)->generate(prompt, so);
        return r.ok() ? r->tokens : std::vector<int32_t>{};
    };
    const std::vector<int32_t> greedy = stats->tokens;
    const auto k1 = sampled(0.7f, 1, 1.f, 3), p0 = sampled(1.3f, 0, 1e-6f, 4);
    // The tiny random fixtures are peaked (the qwen2 one has top-1/top-2 logit gaps of 15–50), so temperature
    // 1 or 3 always draws the argmax there: the seed checks flatten the distribution (temperature 30) and
    // accept any of four other seeds differing.
    const auto a = sampled(30.f, 0, 1.f, 7), b = sampled(30.f, 0, 1.f, 7);
    bool other = false;
    for (uint64_t seed : {8, 9, 10, 11}) other = other || (sampled(30.f, 0, 1.f, seed) != a);
    c.expect(k1 == greedy, name + " device sampling top_k=1 equals greedy");
    c.expect(p0 == greedy, name + " device sampling top_p=1e-6 equals greedy");
    c.expect(!a.empty() && a == b, name + " device sampling: the same seed replays the same tokens");
    c.expect(!a.empty() && other, name + " device sampling: other seeds give other tokens");
}

// GGUF block-quantized fixtures (tests/fixtures/gguf/quant_models.json: Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, and a
// llama Q4_K with permuted q/k rows) on the GPU (block kernels for decode, dequantized cuBLAS for prefill)
// against the CPU path and the exact-dequantization reference. The CPU rounds activations to int8 per block,
// the GPU to bf16; the fixture records the CPU-style rounding's gap to exact ("actq_gap"), and the GPU may be
// three times that far from exact and four times from the CPU. Greedy continuations must match the CPU's,
// or differ first where the CPU's two candidates are within one gap of each other (a near-tie).
void check_quantized_gguf(Counter& c) {
    const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/gguf/";
    std::ifstream jf(dir + "quant_models.json");
    const nlohmann::json cases = nlohmann::json::parse(jf, nullptr, false);
    if (cases.is_discarded()) {
        c.expect(false, "quant_models.json");
        return;
    }
    auto max_abs_diff = [](const std::vector<float>& a, const std::vector<float>& b) {
        if (a.size() != b.size()) return double(INFINITY);
        double m = 0;
        for (size_t i = 0; i < a.size(); ++i)
            m = std::max(m, std::isfinite(a[i]) ? std::fabs(double(a[i]) - double(b[i])) : double(INFINITY));
        return m;
    };
    for (const auto& q : cases["cases"]) {
        const std::string file = q["file"].get<std::string>(), path = dir + file;
        const std::vector<int32_t> ids = q["ids"].get<std::vector<int32_t>>();
        const std::vector<float> exact = read_f32(dir + q["logits_file"].get<std::string>());
        const double gap = q["actq_gap"].get<double>();
        LoadOptions gl, cl;
        gl.device = Device::Cuda;
        cl.device = Device::Cpu;
        auto gpu = Model::load(path, gl);
        auto cpu = Model::load(path, cl);
        c.expect(gpu.ok() && (*gpu)->device() == Device::Cuda, file + " Model::load on the GPU",
                 gpu.ok() ? (*gpu)->device_name() : gpu.error().to_string());
        c.expect(cpu.ok(), file + " Model::load on the CPU", cpu.ok() ? "" : cpu.error().to_string());
        if (!gpu.ok() || !cpu.ok()) continue;
        auto gs = (*gpu)->open_session();
        auto cs = (*cpu)->open_session();
        if (!gs.ok() || !cs.ok()) {
            c.expect(false, file + " open_session");
            continue;
        }
        auto gl_logits = (*gs)->logits(ids);
        auto cl_logits = (*cs)->logits(ids);
        const double vs_exact = gl_logits.ok() ? max_abs_diff(*gl_logits, exact) : double(INFINITY);
        const double vs_cpu =
            gl_logits.ok() && cl_logits.ok() ? max_abs_diff(*gl_logits, *cl_logits) : double(INFINITY);
        const double cpu_exact = cl_logits.ok() ? max_abs_diff(*cl_logits, exact) : double(INFINITY);
        const bool logits_ok = vs_exact <= 3 * gap && vs_cpu <= 4 * gap;
        std::printf(
            "%s %-24s logits max |gpu-exact| %.3g (allowed %.3g), |gpu-cpu| %.3g (allowed %.3g), |cpu-exact| "
            "%.3g\n",
            logits_ok ? "PASS" : "FAIL", file.c_str(), vs_exact, 3 * gap, vs_cpu, 4 * gap, cpu_exact);
        c.expect(logits_ok, file + " GPU logits", gl_logits.ok() ? "" : gl_logits.error().to_string());

        GenerateOptions go;
        go.sampling.greedy = true;
        go.stop_at_eos = false;
        go.max_tokens = 16;
        auto g_out = (*gs)->generate(ids, go);
        auto c_out = (*cs)->generate(ids, go);
        if (!g_out.ok() || !c_out.ok()) {
            c.expect(false, file + " greedy generate",
                     g_out.ok() ? c_out.error().to_string() : g_out.error().to_string());
            continue;
        }
        const auto& gt = g_out->tokens;
        const auto& ct = c_out->tokens;
        size_t same = 0;
        while (same < gt.size() && same < ct.size() && gt[same] == ct[same]) ++same;
        bool ok = same == ct.size() && gt.size() == ct.size();
        double tie = 0;
        if (!ok && same < gt.size() && same < ct.size()) {
            // The CPU's logits at the first difference: how far apart were the two choices?
            std::vector<int32_t> prefix = ids;
            prefix.insert(prefix.end(), ct.begin(), ct.begin() + std::ptrdiff_t(same));
            auto cs2 = (*cpu)->open_session();
            auto lg = cs2.ok() ? (*cs2)->logits(prefix)
                               : Result<std::vector<float>>(make_error(ErrorCode::Internal, "session"));
            // And the GPU's own logits on that prefix: the difference is a near-tie flipped by the allowed
            // logit difference when the GPU row is within the logits tolerance (4·gap) of the CPU row and
            // ranks the GPU's token first (then the CPU gap is at most twice the row difference).
            auto gs2 = (*gpu)->open_session();
            auto glg = gs2.ok() ? (*gs2)->logits(prefix)
                                : Result<std::vector<float>>(make_error(ErrorCode::Internal, "session"));
            if (lg.ok() && glg.ok() && glg->size() == lg->size()) {
                const size_t V = lg->size() / prefix.size();
                const float* last = lg->data() + (prefix.size() - 1) * V;
                const float* glast = glg->data() + (prefix.size() - 1) * V;
                tie = std::fabs(double(last[size_t(ct[same])]) - double(last[size_t(gt[same])]));
                double row = 0;
                for (size_t v = 0; v < V; ++v)
                    row = std::max(row, std::fabs(double(glast[v]) - double(last[v])));
                const bool gpu_consistent =
                    std::max_element(glast, glast + V) - glast == std::ptrdiff_t(gt[same]);
                ok = gpu_consistent && row <= 4 * gap && tie <= 2 * row;
                std::printf(
                    "     %-24s at token %zu: CPU gap %.3g between its token and the GPU's, GPU row within "
                    "%.3g "
                    "of the CPU row (allowed %.3g), GPU argmax %s its token\n",
                    file.c_str(), same, tie, row, 4 * gap, gpu_consistent ? "is" : "is NOT");
            }
        }
        std::printf("%s %-24s greedy: %zu/%zu tokens equal to the CPU's%s\n", ok ? "PASS" : "FAIL",
                    file.c_str(), same, ct.size(),
                    same < ct.size() ? ", first difference a near-tie (see above)" : "");
        c.expect(ok, file + " GPU greedy continuation");
    }
}

// The persistent batch-1 decode kernel inside CudaLlm (head dim 128 shapes take it) against the same model
// with it off: random weights made on the device from one seed, one prompt, then 24 greedy steps fed the
// reference path's tokens so both stay on one sequence; every step's logits must agree within bf16
// tolerance, and the next tokens must agree except at near-ties.
void check_persistent_decode(Counter& c) {
    LlmConfig cfg;
    cfg.family = ModelFamily::Qwen2;
    cfg.hidden_size = 512;
    cfg.intermediate_size = 1376;
    cfg.num_hidden_layers = 3;
    cfg.num_attention_heads = 4;
    cfg.num_key_value_heads = 2;
    cfg.head_dim = 128;
    cfg.vocab_size = 1000;
    cfg.max_position_embeddings = 256;
    cfg.attention_bias = true;
    cfg.rms_norm_eps = 1e-6f;
    cfg.rope_theta = 10000.f;
    CudaLlmOptions on;
    on.max_batch = 2;
    on.max_seq = 256;
    on.prefill_chunk = 64;
    on.persistent_decode = true;
    CudaLlmOptions off = on;
    off.persistent_decode = false;
    auto a = CudaLlm::create_random(cfg, on, 11), b = CudaLlm::create_random(cfg, off, 11);
    c.expect(a.ok() && b.ok(), "persistent decode: random models");
    if (!a.ok() || !b.ok()) return;
    std::vector<int32_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 37 + 11) % 1000);
    std::vector<float> la(1000), lb(1000);
    Status pa = (*a)->prefill(1, prompt.data(), int(prompt.size()), 0, la.data());
    Status pb = (*b)->prefill(1, prompt.data(), int(prompt.size()), 0, lb.data());
    c.expect(pa.ok() && pb.ok(), "persistent decode: prefill");
    if (!pa.ok() || !pb.ok()) return;
    double worst = 0;
    int same = 0, near = 0, steps = 24;
    int32_t id = int32_t(std::max_element(lb.begin(), lb.end()) - lb.begin());
    for (int t = 0; t < steps; ++t) {
        const int32_t pos = int32_t(prompt.size()) + t, slot = 1;
        int32_t na = -1, nb = -1;
        Status da = (*a)->decode(1, &id, &pos, &slot, &na, la.data());
        Status db = (*b)->decode(1, &id, &pos, &slot, &nb, lb.data());
        if (!da.ok() || !db.ok()) {
            c.expect(false, "persistent decode: step " + std::to_string(t),
                     da.ok() ? db.error().message : da.error().message);
            return;
        }
        worst = std::max(worst, rel_error(la, lb));
        if (na == nb) {
            ++same;
        } else {
            std::vector<float> sorted = lb;
            std::sort(sorted.begin(), sorted.end(), std::greater<float>());
            if (sorted[0] - sorted[1] < 0.05f * std::fabs(sorted[0])) ++near;
        }
        id = nb;
    }
    std::printf(
        "persistent decode vs separate kernels: logits rel err %s over %d steps (tol 1e-2), %d/%d tokens "
        "equal, %d near-ties\n",
        fmt(worst).c_str(), steps, same, steps, near);
    c.expect(worst <= 1e-2, "persistent decode: logits", fmt(worst));
    c.expect(same + near == steps, "persistent decode: greedy tokens");
}

}  // namespace

int main() {
    if (!gpu_check_start()) return kSkipped;
    Counter c;
    for (const char* f : {"llama_st_single", "llama_st_sharded", "llama_bin_single", "llama_bin_sharded",
                          "qwen2_st_single", "qwen2_bin_sharded"})
        check_fixture(c, f);
    for (const char* f : {"llama_st_single", "qwen2_bin_sharded"}) check_engine_api(c, f);
    for (const char* f : {"llama_st_single", "qwen2_st_single"}) check_batched_decode(c, f);
    check_quantized_gguf(c);
    check_persistent_decode(c);
    return c.finish();
}
