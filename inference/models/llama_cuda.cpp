// Llama / Qwen2 decoder on the GPU (models.md §2.3, §3.3): RMSNorm → attention with rotate-half RoPE →
// residual → RMSNorm → SwiGLU → residual; final norm and lm_head. Prefill runs cuBLAS products over the
// whole chunk; decode runs our GEMV kernels (B ≤ 8) or cuBLAS (larger batches), captured in a CUDA graph.
// GGUF block-quantized layers (quant_layer) take the unfused path: see llama_quant_cuda.cpp; loading and
// memory layout: llama_load_cuda.cpp.
#include "models/llama_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>

#include "backend/cuda/attention_prefill.h"
#include "backend/cuda/gemm_small.h"
#include "core/dtype.h"
#include "models/llama_cuda_impl.h"

namespace tessera {

using namespace llama_gpu;

namespace {

// TESSERA_GEMM_SMALL=1 hands every product of 9–64 rows to gemm_small, or a list names some of them
// (qkv,oproj,gateup,down,head); for measurements.
bool gemm_small_wanted(const char* what) {
    const char* e = std::getenv("TESSERA_GEMM_SMALL");
    return e && (std::strcmp(e, "1") == 0 || std::strstr(e, what));
}

}  // namespace

// Prefill attention: the fused flash kernel where the head dim allows; otherwise three launches per GQA
// offset j: S = scale·Q_h·K_gᵀ, causal softmax, O_h = P_h·V_g, with h = g·G + j batched over the KV heads g.
Status CudaLlm::Impl::attention_prefill(int layer, int slot, int T, int pos0) {
    const float scale = 1.f / std::sqrt(float(hd));
    if (flash_prefill(hd))
        return cuda::attention_prefill_flash(q, k_cache(layer), v_cache(layer), slot, T, pos0, nh, nkv, hd,
                                             opt.max_seq, scale, attn, ctx->stream());
    const int G = nh / nkv, Lk = pos0 + T;
    const float one = 1.f, zero = 0.f;
    // Cache [slots, nkv, max_seq, hd]: K_g is a [Lk, hd] matrix with row stride hd, heads max_seq·hd apart.
    const int64_t head_stride = int64_t(opt.max_seq) * hd;
    const bf16_t* K = k_cache(layer) + size_t(slot) * nkv * head_stride;
    const bf16_t* Vc = v_cache(layer) + size_t(slot) * nkv * head_stride;
    for (int j = 0; j < G; ++j) {
        TESSERA_TRY(cuda::check_cublas(
            cublasGemmStridedBatchedEx(ctx->cublas(), CUBLAS_OP_T, CUBLAS_OP_N, Lk, T, hd, &scale, K,
                                       CUDA_R_16BF, hd, head_stride, q + size_t(j) * hd, CUDA_R_16BF, nh * hd,
                                       int64_t(G) * hd, &zero, S + size_t(j) * T * Lk, CUDA_R_32F, Lk,
                                       int64_t(G) * T * Lk, nkv, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "attention scores"));
    }
    TESSERA_TRY(cuda::causal_softmax(S, nh, T, Lk, pos0, P, ctx->stream()));
    for (int j = 0; j < G; ++j) {
        TESSERA_TRY(cuda::check_cublas(
            cublasGemmStridedBatchedEx(
                ctx->cublas(), CUBLAS_OP_N, CUBLAS_OP_N, hd, T, Lk, &one, Vc, CUDA_R_16BF, hd, head_stride,
                P + size_t(j) * T * Lk, CUDA_R_16BF, Lk, int64_t(G) * T * Lk, &zero, attn + size_t(j) * hd,
                CUDA_R_16BF, nh * hd, int64_t(G) * hd, nkv, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "attention values"));
    }
    return {};
}

Status CudaLlm::Impl::layer_forward_prefill(int l, int slot, int T, int pos0) {
    if (quant) return quant_layer(l, T, /*decode=*/false, slot, pos0);
    const LayerWeights& w = layers[size_t(l)];
    const cudaStream_t s = ctx->stream();
    TESSERA_TRY(cuda::rms_norm(h, w.ln1, T, H, cfg.rms_norm_eps, xn, s));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, w.qkv, xn, qkv, true, T, QKV, H));
    TESSERA_TRY(cuda::rope_kv_write(qkv, w.qkv_bias, d_pos, d_slot, inv_freq.as<float>(), T, nh, nkv, hd,
                                    opt.max_seq, q, k_cache(l), v_cache(l), s));
    TESSERA_TRY(attention_prefill(l, slot, T, pos0));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, w.o, attn, h, true, T, H, nh * hd, 1.f, 1.f));  // h += attn·Woᵀ
    TESSERA_TRY(cuda::rms_norm(h, w.ln2, T, H, cfg.rms_norm_eps, xn, s));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, w.gate_up, xn, gu, true, T, 2 * I, H));
    TESSERA_TRY(cuda::silu_mul(gu, T, I, act, s));
    return cuda::gemm_bf16(*ctx, w.down, act, h, true, T, H, I, 1.f, 1.f);  // h += act·Wdᵀ
}

CudaLlm::CudaLlm(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
CudaLlm::~CudaLlm() = default;

const LlmConfig& CudaLlm::config() const {
    return m_impl->cfg;
}
std::string CudaLlm::device_name() const {
    return m_impl->info.name;
}
float CudaLlm::last_gpu_ms() const {
    return m_impl->last_ms;
}

Status CudaLlm::prefill(int slot, const int32_t* ids, int n, int pos0, float* logits_out,
                        bool all_positions) {
    return m_impl->prefill_impl(slot, ids, nullptr, n, pos0, logits_out, all_positions, false, -1);
}

Status CudaLlm::prefill_embeddings(int slot, const float* x, int n, int pos0, float* out, bool all_positions,
                                   bool hidden_only) {
    if (!x) return make_error(ErrorCode::InvalidArgument, "prefill_embeddings: no input embeddings");
    return m_impl->prefill_impl(slot, nullptr, x, n, pos0, out, all_positions, hidden_only, -1);
}

Status CudaLlm::prefill_hidden(int slot, const int32_t* ids, int n, int pos0, int out_row) {
    if (out_row < 0 || out_row >= m_impl->opt.max_batch)
        return make_error(ErrorCode::InvalidArgument,
                          "prefill_hidden: row " + std::to_string(out_row) + " does not exist");
    return m_impl->prefill_impl(slot, ids, nullptr, n, pos0, nullptr, false, false, out_row);
}

Status CudaLlm::embed_rows(const int32_t* ids, int n, float* out) {
    Impl& m = *m_impl;
    for (int i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= m.V)
            return make_error(ErrorCode::InvalidArgument,
                              "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    const cudaStream_t s = m.ctx->stream();
    int32_t* hio = m.host_io.as<int32_t>();
    // The lookup kernel into the residual-stream scratch (free between calls), tmax() rows at a time.
    for (int done = 0; done < n; done += m.tmax()) {
        const int T = std::min(m.tmax(), n - done);
        TESSERA_TRY(m.ctx->synchronize());  // the staging's previous contents have been uploaded
        std::memcpy(hio, ids + done, size_t(T) * 4);
        TESSERA_TRY(
            check(cudaMemcpyAsync(m.d_ids, hio, size_t(T) * 4, cudaMemcpyHostToDevice, s), "upload ids"));
        TESSERA_TRY(cuda::embedding(m.embed, m.d_ids, T, m.H, m.V, m.h, s));
        TESSERA_TRY(check(
            cudaMemcpyAsync(out + size_t(done) * m.H, m.h, size_t(T) * m.H * 4, cudaMemcpyDeviceToHost, s),
            "download embeddings"));
    }
    return m.ctx->synchronize();
}

Status CudaLlm::Impl::prefill_impl(int slot, const int32_t* ids, const float* x, int n, int pos0, float* out,
                                   bool all_positions, bool hidden_only, int hidden_row) {
    Impl& m = *this;
    if (slot < 0 || slot >= m.opt.max_batch || n < 1 || pos0 < 0 || pos0 + n > m.opt.max_seq)
        return make_error(ErrorCode::InvalidArgument,
                          "prefill: " + std::to_string(n) + " tokens at position " + std::to_string(pos0) +
                              " do not fit the context of " + std::to_string(m.opt.max_seq));
    if (ids)
        for (int i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] >= m.V)
                return make_error(ErrorCode::InvalidArgument,
                                  "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    const cudaStream_t s = m.ctx->stream();
    if (all_positions && out && !hidden_only && m.all_logits.size() == 0) {
        TESSERA_ASSIGN(m.all_logits, DeviceBuffer::allocate(size_t(m.opt.prefill_chunk) * m.V * 4, "logits"));
    }
    TESSERA_TRY(check(cudaEventRecord(m.ev_start, s), "cudaEventRecord"));
    int32_t* hio = m.host_io.as<int32_t>();
    for (int done = 0; done < n; done += m.opt.prefill_chunk) {
        const int T = std::min(m.opt.prefill_chunk, n - done), p0 = pos0 + done;
        // The host staging is reused per chunk: wait until the previous chunk's copy has been consumed.
        TESSERA_TRY(m.ctx->synchronize());
        for (int i = 0; i < T; ++i) {
            if (ids) hio[i] = ids[done + i];
            hio[T + i] = p0 + i;
            hio[2 * T + i] = slot;
        }
        if (ids)
            TESSERA_TRY(
                check(cudaMemcpyAsync(m.d_ids, hio, size_t(T) * 4, cudaMemcpyHostToDevice, s), "upload ids"));
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_pos, hio + T, size_t(T) * 4, cudaMemcpyHostToDevice, s),
                          "upload positions"));
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_slot, hio + 2 * T, size_t(T) * 4, cudaMemcpyHostToDevice, s),
                          "upload slots"));
        if (ids)
            TESSERA_TRY(cuda::embedding(m.embed, m.d_ids, T, m.H, m.V, m.h, s));
        else
            TESSERA_TRY(check(
                cudaMemcpyAsync(m.h, x + size_t(done) * m.H, size_t(T) * m.H * 4, cudaMemcpyHostToDevice, s),
                "upload embeddings"));
        for (int l = 0; l < m.L; ++l) TESSERA_TRY(m.layer_forward_prefill(l, slot, T, p0));
        if (hidden_row >= 0 && done + T == n)
            TESSERA_TRY(cuda::rms_norm(m.h + size_t(T - 1) * m.H, m.norm, 1, m.H, m.cfg.rms_norm_eps,
                                       m.hidden_out + size_t(hidden_row) * m.H, s));
        if (!out || (!all_positions && done + T < n)) continue;
        // Every row of the chunk, or the last position's only.
        const int rows = all_positions ? T : 1;
        const size_t first = all_positions ? size_t(done) : 0;
        TESSERA_TRY(
            cuda::rms_norm(m.h + size_t(T - rows) * m.H, m.norm, rows, m.H, m.cfg.rms_norm_eps, m.xn, s));
        if (hidden_only) {
            // The residual stream is spent once normed (the next chunk writes it anew): it takes the f32
            // copy.
            TESSERA_TRY(cuda::bf16_to_f32(m.xn, int64_t(rows) * m.H, m.h, s));
            TESSERA_TRY(check(
                cudaMemcpyAsync(out + first * m.H, m.h, size_t(rows) * m.H * 4, cudaMemcpyDeviceToHost, s),
                "download hidden states"));
        } else if (all_positions) {
            TESSERA_TRY(cuda::gemm_bf16(*m.ctx, m.lm_head, m.xn, m.all_logits.data(), true, T, m.V, m.H));
            TESSERA_TRY(check(cudaMemcpyAsync(out + first * m.V, m.all_logits.data(), size_t(T) * m.V * 4,
                                              cudaMemcpyDeviceToHost, s),
                              "download logits"));
        } else {
            TESSERA_TRY(
                cuda::gemv_bf16(m.lm_head, m.xn, nullptr, nullptr, m.logits, nullptr, 1, m.V, m.H, s));
            TESSERA_TRY(check(cudaMemcpyAsync(out, m.logits, size_t(m.V) * 4, cudaMemcpyDeviceToHost, s),
                              "download logits"));
        }
    }
    TESSERA_TRY(check(cudaEventRecord(m.ev_stop, s), "cudaEventRecord"));
    TESSERA_TRY(m.ctx->synchronize());
    TESSERA_TRY(check(cudaEventElapsedTime(&m.last_ms, m.ev_start, m.ev_stop), "cudaEventElapsedTime"));
    return {};
}

// The decode step body; inputs already in d_ids/d_pos/d_slot. Captured into a graph per batch size.
Status CudaLlm::Impl::decode_body(int B, bool sampled) {
    TESSERA_TRY(cuda::embedding(embed, d_ids, B, H, V, h, ctx->stream()));
    TESSERA_TRY(decode_layers(B));
    const cudaStream_t s = ctx->stream();
    TESSERA_TRY(cuda::rms_norm(h, norm, B, H, cfg.rms_norm_eps, xn, s));
    if (B <= cuda::kGemvMaxBatch && lm_head_q.blocks)  // a GGUF's blocks: fewer bytes than its bf16 copy
        TESSERA_TRY(cuda::gemv_quant(lm_head_q.type, lm_head_q.blocks, lm_head_q.row_bytes, xn, nullptr,
                                     nullptr, logits, nullptr, B, V, H, s));
    else if (B <= cuda::kGemvMaxBatch)
        TESSERA_TRY(cuda::gemv_bf16(lm_head, xn, nullptr, nullptr, logits, nullptr, B, V, H, s));
    else if (gemm_small_wanted("head") && cuda::gemm_small_supported(B, V, H))
        TESSERA_TRY(cuda::gemm_small_bf16(lm_head, xn, nullptr, nullptr, logits, nullptr, B, V, H, s));
    else
        TESSERA_TRY(cuda::gemm_bf16(*ctx, lm_head, xn, logits, true, B, V, H));
    return sampled ? cuda::sample_text(logits, B, V, d_sampling, d_next, s)
                   : cuda::argmax(logits, B, V, d_next, s);
}

// The transformer blocks of one decode step over the residual stream h[0, B).
Status CudaLlm::Impl::decode_layers(int B) {
    if (quant) {
        for (int l = 0; l < L; ++l) TESSERA_TRY(quant_layer(l, B, /*decode=*/true, 0, 0));
        return {};
    }
    // Batch 1 may run every layer in one persistent kernel: same input and output (h), q/attn/act as scratch.
    if (B == 1 && persist) return cuda::persistent_decode(persist_args, ctx->stream());
    const cudaStream_t s = ctx->stream();
    const bool gemv = B <= cuda::kGemvMaxBatch;
    // RoPE and the KV-cache write in the q/k/v product's epilogue: one launch and one f32 round trip fewer
    // per layer (TESSERA_NO_QKV_ROPE=1 restores the separate kernel, for comparisons).
    const bool qkv_rope =
        gemv && cuda::gemv_qkv_rope_supported(B, H, hd) && !std::getenv("TESSERA_NO_QKV_ROPE");
    // 9–64 rows: the tensor-core small-M products (residual and SwiGLU in their epilogues) are opt-in
    // (TESSERA_GEMM_SMALL=1): on the H200 they measured 0.4–0.7× cuBLAS's speed at 16–64 rows
    // (bench/results/2026-11-28-h200-evening.md), Janus-Pro-7B's step 9.1 ms against 5.7 ms with cuBLAS.
    auto small_for = [&](const char* what, int N, int K) {
        return !gemv && gemm_small_wanted(what) && cuda::gemm_small_supported(B, N, K);
    };
    const bool small_qkv = small_for("qkv", QKV, H), small_o = small_for("oproj", H, nh * hd),
               small_gateup = small_for("gateup", 2 * I, H), small_down = small_for("down", H, I);
    // The two RMSNorms of a layer done by the products after them (q/k/v + RoPE, gate/up + SwiGLU) from the
    // sums of squares the residual products before them leave: two launches fewer per layer
    // (TESSERA_NO_NORM_IN=1 restores the separate kernels, for comparisons). Layer 0's ln1 follows the
    // embedding, which leaves no sums, so it keeps its kernel. (Two earlier placements of these norms lost to
    // the separate kernel on the H200 and are gone: every block normalising x itself, and the residual
    // product's last block normalising for the next; bench/results/2026-11-28-h200-evening.md.)
    const bool norm_in = qkv_rope && cuda::gemv_norm_in_supported(B, H) && H % 8 == 0 && (nh * hd) % 8 == 0 &&
                         I % 8 == 0 && !std::getenv("TESSERA_NO_NORM_IN");
    // Partials per batch row left by the o_proj and down_proj products (N = H for both).
    const int nparts = cuda::gemv_sq_partials_count(H);
    float* sq = norm_in ? sq_partials : nullptr;
    // Measurement only (bench/): TESSERA_DECODE_SKIP=qkv,attn,oproj,gateup,down leaves those products out of
    // the batch ≤ 8 step, so the step time drops by what each costs inside the captured graph (the results
    // are then meaningless).
    const char* skip_env = gemv ? std::getenv("TESSERA_DECODE_SKIP") : nullptr;
    auto skip = [&](const char* what) { return skip_env && std::strstr(skip_env, what); };
    const float scale = 1.f / std::sqrt(float(hd));
    for (int l = 0; l < L; ++l) {
        const LayerWeights& w = layers[size_t(l)];
        const bool own_norm = !norm_in || l == 0;
        if (own_norm) TESSERA_TRY(cuda::rms_norm(h, w.ln1, B, H, cfg.rms_norm_eps, xn, s));
        const cuda::GemvNormIn ln1{h, sq, nparts, w.ln1, cfg.rms_norm_eps};
        if (skip("qkv")) {
        } else if (qkv_rope)
            TESSERA_TRY(cuda::gemv_qkv_rope_bf16(w.qkv, xn, w.qkv_bias, d_pos, d_slot, inv_freq.as<float>(),
                                                 B, nh, nkv, hd, H, opt.max_seq, q, k_cache(l), v_cache(l), s,
                                                 own_norm ? nullptr : &ln1));
        else if (gemv)
            TESSERA_TRY(cuda::gemv_bf16(w.qkv, xn, w.qkv_bias, nullptr, qkv, nullptr, B, QKV, H, s));
        else if (small_qkv)
            TESSERA_TRY(cuda::gemm_small_bf16(w.qkv, xn, w.qkv_bias, nullptr, qkv, nullptr, B, QKV, H, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.qkv, xn, qkv, true, B, QKV, H));
        // The bias is already in qkv when a kernel of ours made it (cuBLAS leaves it to the RoPE step).
        const bf16_t* rope_bias = gemv || small_qkv ? nullptr : w.qkv_bias;
        if (qkv_rope) {
            if (!skip("attn"))
                TESSERA_TRY(cuda::attention_decode(q, k_cache(l), v_cache(l), d_pos, d_slot, B, nh, nkv, hd,
                                                   opt.max_seq, scale, attn, attn_ws, s));
        } else if (skip("attn")) {
            TESSERA_TRY(cuda::rope_kv_write(qkv, rope_bias, d_pos, d_slot, inv_freq.as<float>(), B, nh, nkv,
                                            hd, opt.max_seq, q, k_cache(l), v_cache(l), s));
        } else {
            TESSERA_TRY(cuda::rope_attention_decode(qkv, rope_bias, inv_freq.as<float>(), d_pos, d_slot, B,
                                                    nh, nkv, hd, opt.max_seq, scale, q, k_cache(l),
                                                    v_cache(l), attn, attn_ws, s));
        }
        if (skip("oproj")) {
        } else if (gemv)
            TESSERA_TRY(cuda::gemv_bf16(w.o, attn, nullptr, h, h, nullptr, B, H, nh * hd, s, sq));
        else if (small_o)
            TESSERA_TRY(cuda::gemm_small_bf16(w.o, attn, nullptr, h, h, nullptr, B, H, nh * hd, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.o, attn, h, true, B, H, nh * hd, 1.f, 1.f));
        if (gemv) {
            const cuda::GemvNormIn ln2{h, sq, nparts, w.ln2, cfg.rms_norm_eps};
            if (!norm_in) TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            if (!skip("gateup"))
                TESSERA_TRY(cuda::gemv_swiglu_bf16(w.gate_up, xn, act, B, I, H, s, norm_in ? &ln2 : nullptr));
        } else if (small_gateup) {
            TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            TESSERA_TRY(cuda::gemm_small_swiglu_bf16(w.gate_up, xn, act, B, I, H, s));
        } else {
            TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.gate_up, xn, gu, true, B, 2 * I, H));
            TESSERA_TRY(cuda::silu_mul(gu, B, I, act, s));
        }
        if (skip("down")) {
        } else if (gemv)
            TESSERA_TRY(cuda::gemv_bf16(w.down, act, nullptr, h, h, nullptr, B, H, I, s, sq));
        else if (small_down)
            TESSERA_TRY(cuda::gemm_small_bf16(w.down, act, nullptr, h, h, nullptr, B, H, I, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.down, act, h, true, B, H, I, 1.f, 1.f));
    }
    return {};
}

Status CudaLlm::Impl::capture(const std::function<Status()>& body, cudaGraphExec_t* exec) {
    TESSERA_TRY(capture_once(body, exec));
    // Products first met inside the capture ran cuBLAS's heuristic choice; time them now and capture again.
    auto retuned = ctx->tune_pending_gemms();
    if (retuned.ok() && !retuned.value()) return {};
    cudaGraphExecDestroy(*exec);  // replaced, or not handed out on an error
    *exec = nullptr;
    if (!retuned.ok()) return retuned.take_error();
    return capture_once(body, exec);
}

Status CudaLlm::Impl::capture_once(const std::function<Status()>& body, cudaGraphExec_t* exec) {
    const cudaStream_t s = ctx->stream();
    cudaGraph_t graph = nullptr;
    TESSERA_TRY(check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture"));
    Status result = body();
    const cudaError_t end = cudaStreamEndCapture(s, &graph);
    if (!result.ok()) {
        if (graph) cudaGraphDestroy(graph);
        return result;
    }
    TESSERA_TRY(check(end, "cudaStreamEndCapture"));
    const cudaError_t inst = cudaGraphInstantiate(exec, graph, 0);
    cudaGraphDestroy(graph);
    return check(inst, "cudaGraphInstantiate");
}

Status CudaLlm::Impl::run_decode(int B, bool sampled) {
    const cudaStream_t s = ctx->stream();
    if (!opt.use_graphs) return decode_body(B, sampled);
    auto& cache = sampled ? sampled_graphs : graphs;
    auto it = cache.find(B);
    if (it == cache.end()) {
        cudaGraphExec_t exec = nullptr;
        TESSERA_TRY(capture([&] { return decode_body(B, sampled); }, &exec));
        it = cache.emplace(B, exec).first;
    }
    return check(cudaGraphLaunch(it->second, s), "cudaGraphLaunch");
}

// The batch, positions and slots of a decode step, checked before anything reaches the device.
Status CudaLlm::Impl::check_rows(int B, const int32_t* pos, const int32_t* slot) const {
    if (B < 1 || B > opt.max_batch)
        return make_error(ErrorCode::InvalidArgument, "decode: batch " + std::to_string(B) + " exceeds the " +
                                                          std::to_string(opt.max_batch) +
                                                          " sequences allocated");
    for (int b = 0; b < B; ++b) {
        if (pos[b] < 0 || pos[b] >= opt.max_seq)
            return make_error(ErrorCode::InvalidArgument, "position " + std::to_string(pos[b]) +
                                                              " exceeds the context of " +
                                                              std::to_string(opt.max_seq));
        if (slot[b] < 0 || slot[b] >= opt.max_batch)
            return make_error(ErrorCode::InvalidArgument,
                              "decode: slot " + std::to_string(slot[b]) + " does not exist");
    }
    return {};
}

Status CudaLlm::decode(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot, int32_t* next,
                       float* logits_out) {
    return m_impl->decode_step(B, ids, pos, slot, nullptr, next, logits_out);
}

Status CudaLlm::decode_sampled(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot,
                               const CudaSampling* sampling, int32_t* next) {
    for (int b = 0; b < B; ++b) {
        const CudaSampling& p = sampling[b];
        if (!(p.temperature <= 0.f || std::isfinite(p.temperature)) || p.top_k < 0 ||
            !(p.top_p > 0.f && p.top_p <= 1.f))
            return make_error(ErrorCode::InvalidArgument,
                              "decode_sampled: row " + std::to_string(b) +
                                  " has invalid sampling parameters (temperature, top_k or top_p)");
    }
    return m_impl->decode_step(B, ids, pos, slot, sampling, next, nullptr);
}

Status CudaLlm::Impl::decode_step(int B, const int32_t* ids, const int32_t* pos, const int32_t* slot,
                                  const CudaSampling* sampling, int32_t* next, float* logits_out) {
    Impl& m = *this;
    TESSERA_TRY(m.check_rows(B, pos, slot));
    for (int b = 0; b < B; ++b)
        if (ids[b] < 0 || ids[b] >= m.V)
            return make_error(ErrorCode::InvalidArgument,
                              "token id " + std::to_string(ids[b]) + " is outside the vocabulary");
    const cudaStream_t s = m.ctx->stream();
    int32_t* hio = m.host_io.as<int32_t>();
    std::memcpy(hio, ids, size_t(B) * 4);
    std::memcpy(hio + B, pos, size_t(B) * 4);
    std::memcpy(hio + 2 * B, slot, size_t(B) * 4);
    TESSERA_TRY(check(cudaEventRecord(m.ev_start, s), "cudaEventRecord"));
    TESSERA_TRY(check(cudaMemcpyAsync(m.d_ids, hio, size_t(B) * 4, cudaMemcpyHostToDevice, s), "upload ids"));
    TESSERA_TRY(check(cudaMemcpyAsync(m.d_pos, hio + B, size_t(B) * 4, cudaMemcpyHostToDevice, s),
                      "upload positions"));
    TESSERA_TRY(check(cudaMemcpyAsync(m.d_slot, hio + 2 * B, size_t(B) * 4, cudaMemcpyHostToDevice, s),
                      "upload slots"));
    if (sampling) {
        auto* hs = m.host_sampling.as<cuda::TextSampleParams>();
        for (int b = 0; b < B; ++b)
            hs[b] = {sampling[b].temperature, sampling[b].top_k, sampling[b].top_p, sampling[b].seed,
                     sampling[b].step};
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_sampling, hs, size_t(B) * sizeof(cuda::TextSampleParams),
                                          cudaMemcpyHostToDevice, s),
                          "upload sampling parameters"));
    }
    TESSERA_TRY(m.run_decode(B, sampling != nullptr));
    int32_t* hnext = hio + 3 * m.tmax();
    TESSERA_TRY(
        check(cudaMemcpyAsync(hnext, m.d_next, size_t(B) * 4, cudaMemcpyDeviceToHost, s), "download tokens"));
    if (logits_out)
        TESSERA_TRY(
            check(cudaMemcpyAsync(logits_out, m.logits, size_t(B) * m.V * 4, cudaMemcpyDeviceToHost, s),
                  "download logits"));
    TESSERA_TRY(check(cudaEventRecord(m.ev_stop, s), "cudaEventRecord"));
    TESSERA_TRY(m.ctx->synchronize());  // the one host synchronisation of the step
    TESSERA_TRY(check(cudaEventElapsedTime(&m.last_ms, m.ev_start, m.ev_stop), "cudaEventElapsedTime"));
    std::memcpy(next, hnext, size_t(B) * 4);
    return {};
}

Status CudaLlm::decode_hooked(int B, const int32_t* pos, const int32_t* slot, const DecodeHooks& hooks) {
    Impl& m = *m_impl;
    TESSERA_TRY(m.check_rows(B, pos, slot));
    const cudaStream_t s = m.ctx->stream();
    // The previous step's uploads read host_io: wait for them before overwriting it.
    TESSERA_TRY(m.ctx->synchronize());
    int32_t* hio = m.host_io.as<int32_t>();
    std::memcpy(hio, pos, size_t(B) * 4);
    std::memcpy(hio + B, slot, size_t(B) * 4);
    TESSERA_TRY(check(cudaEventRecord(m.ev_start, s), "cudaEventRecord"));
    TESSERA_TRY(
        check(cudaMemcpyAsync(m.d_pos, hio, size_t(B) * 4, cudaMemcpyHostToDevice, s), "upload positions"));
    TESSERA_TRY(
        check(cudaMemcpyAsync(m.d_slot, hio + B, size_t(B) * 4, cudaMemcpyHostToDevice, s), "upload slots"));
    auto body = [&]() -> Status {
        if (hooks.input) TESSERA_TRY(hooks.input(s));
        TESSERA_TRY(m.decode_layers(B));
        TESSERA_TRY(cuda::rms_norm(m.h, m.norm, B, m.H, m.cfg.rms_norm_eps, m.hidden_out, s));
        if (hooks.output) TESSERA_TRY(hooks.output(s));
        return {};
    };
    if (m.opt.use_graphs) {
        auto it = m.hooked_graphs.find(B);
        if (it == m.hooked_graphs.end()) {
            cudaGraphExec_t exec = nullptr;
            TESSERA_TRY(m.capture(body, &exec));
            it = m.hooked_graphs.emplace(B, exec).first;
        }
        TESSERA_TRY(check(cudaGraphLaunch(it->second, s), "cudaGraphLaunch"));
    } else {
        TESSERA_TRY(body());
    }
    return check(cudaEventRecord(m.ev_stop, s), "cudaEventRecord");
}

Status CudaLlm::copy_kv(int from_slot, int to_slot, int n) {
    Impl& m = *m_impl;
    if (from_slot < 0 || to_slot < 0 || from_slot >= m.opt.max_batch || to_slot >= m.opt.max_batch || n < 0 ||
        n > m.opt.max_seq)
        return make_error(ErrorCode::InvalidArgument, "copy_kv: slot or length out of range");
    if (n == 0 || from_slot == to_slot) return {};
    // [slots, nkv, max_seq, hd]: per slot, nkv rows of n·hd elements with a pitch of max_seq·hd.
    const size_t pitch = size_t(m.opt.max_seq) * m.hd * 2, width = size_t(n) * m.hd * 2;
    const size_t slot_elems = size_t(m.nkv) * m.opt.max_seq * m.hd;
    for (int l = 0; l < m.L; ++l) {
        for (bf16_t* base : {m.k_cache(l), m.v_cache(l)}) {
            TESSERA_TRY(check(cudaMemcpy2DAsync(base + size_t(to_slot) * slot_elems, pitch,
                                                base + size_t(from_slot) * slot_elems, pitch, width,
                                                size_t(m.nkv), cudaMemcpyDeviceToDevice, m.ctx->stream()),
                              "copy KV cache"));
        }
    }
    return {};
}

Status CudaLlm::copy_hidden_row(int from, int to) {
    Impl& m = *m_impl;
    if (from < 0 || to < 0 || from >= m.opt.max_batch || to >= m.opt.max_batch)
        return make_error(ErrorCode::InvalidArgument, "copy_hidden_row: row out of range");
    return check(cudaMemcpyAsync(m.hidden_out + size_t(to) * m.H, m.hidden_out + size_t(from) * m.H,
                                 size_t(m.H) * 2, cudaMemcpyDeviceToDevice, m.ctx->stream()),
                 "copy hidden state");
}

float* CudaLlm::hidden_input() const {
    return m_impl->h;
}
const uint16_t* CudaLlm::final_hidden() const {
    return m_impl->hidden_out;
}
cudaStream_t CudaLlm::stream() const {
    return m_impl->ctx->stream();
}
void* CudaLlm::context() const {
    return m_impl->ctx.get();
}

}  // namespace tessera
