// cuBLASLt products for decode batches, the algorithm of each shape chosen by timing its candidates.
#include "backend/cuda/gemm_lt.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backend/cuda/device.h"

namespace tessera::cuda {
namespace {

bool env_flag(const char* name, bool fallback) {
    const char* e = std::getenv(name);
    return e && *e ? std::atoi(e) != 0 : fallback;
}

bool same_algo(const cublasLtMatmulAlgo_t& a, const cublasLtMatmulAlgo_t& b) {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
}

// A candidate must beat the heuristic's choice by this share to replace it: timing noise then rarely flips
// the choice between runs, which would change the rounding of every product (and so sampled images).
constexpr float kMinGain = 0.03f;

}  // namespace

bool lt_gemm_wanted(int M) {
    static const bool on = env_flag("TESSERA_GEMM_TUNE", true);
    return on && M >= 1 && M <= kLtMaxRows;
}

LtGemms::~LtGemms() {
    for (auto& [key, p] : m_plans) destroy(p);
    if (m_handle) cublasLtDestroy(m_handle);
}

std::string default_gemm_tuning_cache() {
    if (const char* e = std::getenv("TESSERA_GEMM_TUNE_CACHE")) return e;
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    if (xdg && *xdg) return std::string(xdg) + "/tessera/gemm-tuning.tsv";
    if (home && *home) return std::string(home) + "/.cache/tessera/gemm-tuning.tsv";
    return {};
}

// Cache lines: device name, cuBLASLt version, "M N K f32 beta", candidate count, chosen candidate (tabs
// between). A line is used only when all but the choice match: a new cuBLASLt proposes other candidates.
Status LtGemms::init(const std::string& cache_file) {
    TESSERA_TRY(check_cublas(cublasLtCreate(&m_handle), "cublasLtCreate"));
    int device = 0;
    cudaDeviceProp prop{};
    TESSERA_TRY(check(cudaGetDevice(&device), "cudaGetDevice"));
    TESSERA_TRY(check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties"));
    m_cache_prefix = std::string(prop.name) + "\t" + std::to_string(cublasLtGetVersion()) + "\t";
    m_cache_file = cache_file;
    if (m_cache_file.empty()) return {};
    std::ifstream in(m_cache_file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, m_cache_prefix.size(), m_cache_prefix) != 0) continue;
        std::istringstream fields(line.substr(m_cache_prefix.size()));
        int M = 0, N = 0, K = 0, f32 = 0, beta = 0, count = 0, chosen = -1;
        if (fields >> M >> N >> K >> f32 >> beta >> count >> chosen && chosen >= 0 && chosen < count)
            m_cached[Key{M, N, K, f32 != 0, beta != 0}] = {count, chosen};  // the last line for a shape wins
    }
    return {};
}

void LtGemms::remember(const Key& key, const Plan& plan) {
    if (m_cache_file.empty()) return;
    const auto [M, N, K, f32, beta] = key;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(m_cache_file).parent_path(), ec);
    std::ofstream out(m_cache_file, std::ios::app);
    out << m_cache_prefix << M << ' ' << N << ' ' << K << ' ' << int(f32) << ' ' << int(beta) << '\t'
        << plan.candidates.size() << '\t' << plan.chosen << '\n';
}

int LtGemms::chosen(int M, int N, int K, bool y_is_f32, bool beta) const {
    const auto it = m_plans.find(Key{M, N, K, y_is_f32, beta});
    return it != m_plans.end() && it->second.tuned ? it->second.chosen : -1;
}

void LtGemms::destroy(Plan& p) {
    if (p.a) cublasLtMatrixLayoutDestroy(p.a);
    if (p.b) cublasLtMatrixLayoutDestroy(p.b);
    if (p.c) cublasLtMatrixLayoutDestroy(p.c);
    if (p.op) cublasLtMatmulDescDestroy(p.op);
    p = Plan{};
}

Result<LtGemms::Plan*> LtGemms::plan_for(CudaContext& ctx, const Key& key) {
    auto it = m_plans.find(key);
    if (it != m_plans.end()) return &it->second;
    Plan& p = m_plans[key];
    const Status st = build(ctx, key, p);
    if (!st.ok()) {  // no half-built plan stays behind
        destroy(p);
        m_plans.erase(key);
        m_unplannable.insert(key);
        return Error(st.error());
    }
    return &p;
}

Status LtGemms::build(CudaContext& ctx, const Key& key, Plan& p) {
    const auto [M, N, K, f32, beta] = key;
    // Column-major view of the row-major product: yᵀ[N, M] = W[N, K] · xᵀ[K, M], W stored as [K, N]
    // col-major.
    const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
    TESSERA_TRY(
        check_cublas(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cuBLASLt desc"));
    TESSERA_TRY(
        check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof(tA)),
                     "cuBLASLt transa"));
    TESSERA_TRY(
        check_cublas(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof(tB)),
                     "cuBLASLt transb"));
    TESSERA_TRY(check_cublas(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, K, N, K), "cuBLASLt layout A"));
    TESSERA_TRY(check_cublas(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, K, M, K), "cuBLASLt layout B"));
    TESSERA_TRY(check_cublas(cublasLtMatrixLayoutCreate(&p.c, f32 ? CUDA_R_32F : CUDA_R_16BF, N, M, N),
                             "cuBLASLt layout C"));

    // Candidates: the heuristic's list with the context's workspace (split-K allowed) and without it, then
    // split-K variants of the first few. Duplicates dropped; [0] is what cublasGemmEx would run.
    cublasLtMatmulPreference_t pref = nullptr;
    TESSERA_TRY(check_cublas(cublasLtMatmulPreferenceCreate(&pref), "cuBLASLt preference"));
    auto add = [&](const cublasLtMatmulAlgo_t& algo, size_t ws) {
        for (const Candidate& c : p.candidates)
            if (same_algo(c.algo, algo)) return;
        p.candidates.push_back({algo, ws});
    };
    Status st;
    for (size_t ws : {ctx.workspace_bytes(), size_t(0)}) {
        st = check_cublas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                               &ws, sizeof(ws)),
                          "cuBLASLt preference");
        if (!st.ok()) break;
        cublasLtMatmulHeuristicResult_t found[24];
        int n = 0;
        if (cublasLtMatmulAlgoGetHeuristic(m_handle, p.op, p.a, p.b, p.c, p.c, pref, 24, found, &n) !=
            CUBLAS_STATUS_SUCCESS)
            continue;
        for (int i = 0; i < n; ++i)
            if (found[i].state == CUBLAS_STATUS_SUCCESS) add(found[i].algo, found[i].workspaceSize);
    }
    cublasLtMatmulPreferenceDestroy(pref);
    TESSERA_TRY(st);
    if (p.candidates.empty())
        return make_error(ErrorCode::Device, "cuBLASLt has no algorithm for a " + std::to_string(M) + "×" +
                                                 std::to_string(N) + "×" + std::to_string(K) +
                                                 " bf16 product");
    const size_t heuristic = std::min<size_t>(p.candidates.size(), 6);
    for (size_t i = 0; i < heuristic; ++i) {
        int32_t splitk_cap = 0;
        size_t got = 0;
        if (cublasLtMatmulAlgoCapGetAttribute(&p.candidates[i].algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT,
                                              &splitk_cap, sizeof(splitk_cap),
                                              &got) != CUBLAS_STATUS_SUCCESS ||
            !splitk_cap)
            continue;
        for (uint32_t splits : {1u, 2u, 3u, 4u, 6u}) {
            cublasLtMatmulAlgo_t algo = p.candidates[i].algo;
            if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                                     sizeof(splits)) != CUBLAS_STATUS_SUCCESS)
                continue;
            cublasLtMatmulHeuristicResult_t r{};
            if (cublasLtMatmulAlgoCheck(m_handle, p.op, p.a, p.b, p.c, p.c, &algo, &r) ==
                    CUBLAS_STATUS_SUCCESS &&
                r.workspaceSize <= ctx.workspace_bytes())
                add(algo, r.workspaceSize);
        }
    }
    const auto cached = m_cached.find(key);
    if (cached != m_cached.end() && size_t(cached->second.first) == p.candidates.size()) {
        p.chosen = cached->second.second;
        p.tuned = true;
    }
    return {};
}

Status LtGemms::run(CudaContext& ctx, const Plan& p, const Candidate& c, const bf16_t* W, const bf16_t* x,
                    void* y, float alpha, float beta) {
    return check_cublas(cublasLtMatmul(m_handle, p.op, &alpha, W, p.a, x, p.b, &beta, y, p.c, y, p.c, &c.algo,
                                       c.workspace ? ctx.workspace() : nullptr, c.workspace, ctx.stream()),
                        "cublasLtMatmul");
}

Status LtGemms::gemm(CudaContext& ctx, const bf16_t* W, const bf16_t* x, void* y, bool y_is_f32, int M, int N,
                     int K, float alpha, float beta) {
    const Key key{M, N, K, y_is_f32, beta != 0.f};
    TESSERA_ASSIGN(Plan * p, plan_for(ctx, key));
    if (!p->tuned) {
        cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
        TESSERA_TRY(check(cudaStreamIsCapturing(ctx.stream(), &capturing), "cudaStreamIsCapturing"));
        if (capturing == cudaStreamCaptureStatusNone) {
            TESSERA_TRY(tune(ctx, key, *p, W, x));
        } else {
            p->W = W;
            p->x = x;
        }
    }
    return run(ctx, *p, p->candidates[size_t(p->chosen)], W, x, y, alpha, beta);
}

bool LtGemms::takes(CudaContext& ctx, int M, int N, int K, bool y_is_f32, bool beta) {
    if (!lt_gemm_wanted(M)) return false;
    const Key key{M, N, K, y_is_f32, beta};
    if (m_unplannable.count(key)) return false;
    const auto it = m_plans.find(key);
    if (it != m_plans.end() && it->second.tuned) return true;
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    const bool in_capture = cudaStreamIsCapturing(ctx.stream(), &capturing) == cudaSuccess &&
                            capturing != cudaStreamCaptureStatusNone;
    if (!in_capture && !m_cached.count(key)) return false;
    return plan_for(ctx, key).ok();  // a shape cuBLASLt cannot plan keeps cublasGemmEx
}

Result<int> LtGemms::candidate_count(CudaContext& ctx, int M, int N, int K, bool y_is_f32, bool beta) {
    TESSERA_ASSIGN(Plan * p, plan_for(ctx, Key{M, N, K, y_is_f32, beta}));
    return int(p->candidates.size());
}

Status LtGemms::gemm_candidate(CudaContext& ctx, int candidate, const bf16_t* W, const bf16_t* x, void* y,
                               bool y_is_f32, int M, int N, int K, float alpha, float beta) {
    TESSERA_ASSIGN(Plan * p, plan_for(ctx, Key{M, N, K, y_is_f32, beta != 0.f}));
    if (candidate < 0 || size_t(candidate) >= p->candidates.size())
        return make_error(ErrorCode::InvalidArgument,
                          "gemm_candidate: no candidate " + std::to_string(candidate));
    return run(ctx, *p, p->candidates[size_t(candidate)], W, x, y, alpha, beta);
}

Result<bool> LtGemms::tune_pending(CudaContext& ctx) {
    bool any = false;
    for (auto& [key, p] : m_plans)
        if (!p.tuned && p.W) {
            TESSERA_TRY(tune(ctx, key, p, p.W, p.x));
            any = true;
        }
    return any;
}

// Each candidate runs on the real operands into a scratch output, every timed run after a read of 128 MiB
// that evicts the weights from L2 (as in a decode step, where the other layers' weights pass through it).
Status LtGemms::tune(CudaContext& ctx, const Key& key, Plan& p, const bf16_t* W, const bf16_t* x) {
    const auto [M, N, K, f32, beta] = key;
    p.tuned = true;
    p.W = p.x = nullptr;
    if (p.candidates.size() == 1) return {};
    const cudaStream_t s = ctx.stream();
    // With the GPU's memory full (a model loaded up to the limit) the shape keeps the heuristic's choice,
    // for this run only: tuning is an optimisation, never a reason for a decode step to fail.
    auto scratch = DeviceBuffer::allocate(size_t(M) * N * (f32 ? 4 : 2), "GEMM tuning");
    if (!scratch.ok()) return {};
    const DeviceBuffer out = std::move(scratch).value();
    TESSERA_TRY(check(cudaMemsetAsync(out.data(), 0, out.size(), s), "cudaMemsetAsync"));
    auto flush = DeviceBuffer::allocate(size_t(128) << 20, "L2 eviction");  // tuning goes on without it
    if (flush.ok())
        TESSERA_TRY(check(cudaMemsetAsync(flush.value().data(), 0, flush.value().size(), s), "memset"));
    cudaEvent_t ev[2] = {nullptr, nullptr};
    TESSERA_TRY(check(cudaEventCreate(&ev[0]), "cudaEventCreate"));
    Status st = check(cudaEventCreate(&ev[1]), "cudaEventCreate");
    constexpr int kRuns = 11;
    std::vector<float> median(p.candidates.size(), 1e30f);
    for (size_t ci = 0; ci < p.candidates.size() && st.ok(); ++ci) {
        float t[kRuns] = {};
        bool ok = true;
        for (int r = -1; r < kRuns && ok; ++r) {
            if (flush.ok()) (void)l2_evict(flush.value().data(), flush.value().size(), s);
            cudaEventRecord(ev[0], s);
            ok = run(ctx, p, p.candidates[ci], W, x, out.data(), 1.f, beta ? 1.f : 0.f).ok();
            cudaEventRecord(ev[1], s);
            st = check(cudaEventSynchronize(ev[1]), "GEMM tuning");
            if (!st.ok()) break;
            if (ok && r >= 0) cudaEventElapsedTime(&t[r], ev[0], ev[1]);
        }
        if (ok && st.ok()) {
            std::sort(t, t + kRuns);
            median[ci] = t[kRuns / 2];
        }
    }
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
    if (!flush.ok()) cudaGetLastError();
    TESSERA_TRY(st);
    const size_t best = size_t(std::min_element(median.begin(), median.end()) - median.begin());
    p.chosen = median[best] < (1.f - kMinGain) * median[0] ? int(best) : 0;
    remember(key, p);
    static const bool log = env_flag("TESSERA_GEMM_TUNE_LOG", false);
    if (log)
        std::fprintf(
            stderr,
            "gemm tune %dx%dx%d%s%s: %zu candidates, heuristic %.1f us, best #%zu %.1f us, chose #%d\n", M, N,
            K, f32 ? " f32" : " bf16", beta ? " +=" : "", p.candidates.size(), double(median[0]) * 1e3, best,
            double(median[best]) * 1e3, p.chosen);
    return {};
}

}  // namespace tessera::cuda
