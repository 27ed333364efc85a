// Decode-batch products (at most kLtMaxRows rows) through cuBLASLt with the algorithm of each shape chosen by
// timing: at 16–64 rows cuBLAS's heuristic leaves multiprocessors idle or adds split-K reductions, and which
// of its candidates is fastest depends on the shape. Tuning happens for the products of captured decode
// graphs: a shape first met in a capture runs the heuristic's choice and is timed after the capture
// (tune_pending_gemms), so the caller can capture again with the tuned algorithm. Choices persist in a cache
// file (per device name and cuBLASLt version): timing noise could otherwise pick another algorithm in the
// next run, changing the rounding of every product, and the same seed would no longer give the same Janus
// images after a restart.
#pragma once

#include <cublasLt.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_ops.h"

namespace tessera::cuda {

class CudaContext;

constexpr int kLtMaxRows = 64;

// Whether gemm_bf16 routes a product of M rows here (TESSERA_GEMM_TUNE=0 keeps cublasGemmEx for all).
bool lt_gemm_wanted(int M);

// The tuning cache a context uses: TESSERA_GEMM_TUNE_CACHE when set (empty: none), else
// $XDG_CACHE_HOME/tessera/gemm-tuning.tsv or ~/.cache/tessera/gemm-tuning.tsv.
std::string default_gemm_tuning_cache();

// The cuBLASLt side of a CudaContext: handle, descriptors and chosen algorithm per product shape.
class LtGemms {
public:
    LtGemms() = default;
    ~LtGemms();
    LtGemms(const LtGemms&) = delete;
    LtGemms& operator=(const LtGemms&) = delete;

    // cache_file: where choices are read from and appended to (empty: nowhere). An unreadable or unwritable
    // cache only means tuning again.
    Status init(const std::string& cache_file);
    // Whether gemm_bf16 should come here: for a shape already tuned (or in the cache), or met while a graph
    // is captured (the decode batches, which then get tuned). A product outside a capture never waits for
    // tuning (tens of ms a shape): prefill chunks of up to 64 tokens, each length its own shape, keep
    // cublasGemmEx.
    bool takes(CudaContext& ctx, int M, int N, int K, bool y_is_f32, bool beta);
    // y[M, N] = alpha · x[M, K] · W[N, K]ᵀ + beta · y (row-major), W and x bf16, y f32 or bf16; an untuned
    // shape is tuned first (outside a capture) or marked for tune_pending (inside one).
    Status gemm(CudaContext& ctx, const bf16_t* W, const bf16_t* x, void* y, bool y_is_f32, int M, int N,
                int K, float alpha, float beta);
    // Times the candidates of every shape first met during a capture; true when any shape was tuned.
    Result<bool> tune_pending(CudaContext& ctx);

    // For the GPU checks: every algorithm the tuner may choose for a shape must compute the product.
    Result<int> candidate_count(CudaContext& ctx, int M, int N, int K, bool y_is_f32, bool beta);
    Status gemm_candidate(CudaContext& ctx, int candidate, const bf16_t* W, const bf16_t* x, void* y,
                          bool y_is_f32, int M, int N, int K, float alpha, float beta);
    // The candidate chosen for a shape, -1 while it is not tuned.
    int chosen(int M, int N, int K, bool y_is_f32, bool beta) const;

private:
    using Key = std::tuple<int, int, int, bool, bool>;  // M, N, K, f32 output, beta ≠ 0
    struct Candidate {
        cublasLtMatmulAlgo_t algo{};
        size_t workspace = 0;
    };
    struct Plan {
        cublasLtMatmulDesc_t op = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        std::vector<Candidate> candidates;  // [0] is the heuristic's first choice
        int chosen = 0;
        bool tuned = false;
        const bf16_t* W = nullptr;  // operands of the call met during capture, for tuning afterwards
        const bf16_t* x = nullptr;
    };
    Result<Plan*> plan_for(CudaContext& ctx, const Key& key);
    Status build(CudaContext& ctx, const Key& key, Plan& plan);
    static void destroy(Plan& plan);
    Status tune(CudaContext& ctx, const Key& key, Plan& plan, const bf16_t* W, const bf16_t* x);
    Status run(CudaContext& ctx, const Plan& plan, const Candidate& c, const bf16_t* W, const bf16_t* x,
               void* y, float alpha, float beta);

    void remember(const Key& key, const Plan& plan);

    cublasLtHandle_t m_handle = nullptr;
    std::map<Key, Plan> m_plans;
    std::set<Key> m_unplannable;               // shapes cuBLASLt could not plan: they stay with cublasGemmEx
    std::string m_cache_file, m_cache_prefix;  // prefix: device name and cuBLASLt version
    std::map<Key, std::pair<int, int>> m_cached;  // candidate count and choice, from the cache file
};

}  // namespace tessera::cuda
