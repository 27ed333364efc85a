// CUDA backend: launchers of the operations the GPU models are written against. Each launcher checks its
// preconditions, picks the grid, launches on the given stream and checks the launch; failures come back as
// Status (never abort). Pointers are device pointers. bf16 is stored as uint16_t bit patterns on the host
// side of this header so that plain C++ translation units can include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "tessera/error.h"

namespace tessera::cuda {

using bf16_t = uint16_t;

// Converts the last CUDA error (or `err`) into an engine error naming `what`.
Status check(cudaError_t err, const char* what);

// ---- matrix-vector (decode) -------------------------------------------------------------------------
// y[b, n] = Σ_k x[b, k] · W[n, k] (+ bias[n]) (+ residual[b, n]) for b < B ≤ 8.
//   W: bf16 [N, K]; x: bf16 [B, K]; bias: bf16 [N] or null.
//   Output: y_f32 [B, N] (may alias residual for an in-place residual add) or y_bf16 [B, N]; exactly one.
//   sq_partials (or null): [B, gemv_sq_partials_count(N)] partial sums of the squared outputs, for the
//   RMSNorm a following product does itself (GemvNormIn); needs K % 8 == 0 and 16-byte aligned W and x.
Status gemv_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const float* residual, float* y_f32,
                 bf16_t* y_bf16, int B, int N, int K, cudaStream_t stream, float* sq_partials = nullptr);
constexpr int kGemvMaxBatch = 8;
int gemv_sq_partials_count(int N);

// The RMSNorm in front of a decode product done by that product (gemv_qkv_rope_bf16, gemv_swiglu_bf16): its
// input becomes bf16(bf16(h · rsqrt(mean(h²) + eps)) · w) with mean(h²) from the partial sums the residual
// product that wrote h left (gemv_bf16's sq_partials); x is then ignored (may be null). Saves the norm's own
// launch. Supported when gemv_norm_in_supported(B, K) (the B normalised rows fit 48 KB of shared memory).
struct GemvNormIn {
    const float* h = nullptr;         // f32 [B, K], 16-byte aligned
    const float* partials = nullptr;  // [B, nparts]
    int nparts = 0;
    const bf16_t* w = nullptr;  // [K], 16-byte aligned
    float eps = 0.f;
};
bool gemv_norm_in_supported(int B, int K);
// SwiGLU fused into the gate/up product: W_gu bf16 [2I, K] holds gate_proj row i at 2i and up_proj row i at
// 2i + 1 (interleaved, so one warp streams one contiguous 2-row block); one warp computes both rows and
// writes act[b, i] = bf16(silu(gate)·up), so the intermediate never goes to memory in f32. B ≤ kGemvMaxBatch.
Status gemv_swiglu_bf16(const bf16_t* W_gu, const bf16_t* x, bf16_t* act, int B, int I, int K,
                        cudaStream_t stream, const GemvNormIn* norm = nullptr);

// The q/k/v product fused with rope_kv_write: y = x·Wᵀ (+ bias) for W bf16 [(nh + 2·nkv)·hd, K], then
// rotate-half RoPE at pos[b] on the q and k heads; q to q_out bf16 [B, nh, hd], k and v to the caches at
// [slot[b], head, pos[b]] (layout as rope_kv_write). Same arithmetic as gemv_bf16 + rope_kv_write.
bool gemv_qkv_rope_supported(int B, int K, int hd);
Status gemv_qkv_rope_bf16(const bf16_t* W, const bf16_t* x, const bf16_t* bias, const int32_t* pos,
                          const int32_t* slot, const float* inv_freq, int B, int nh, int nkv, int hd, int K,
                          int max_seq, bf16_t* q_out, bf16_t* k_cache, bf16_t* v_cache, cudaStream_t stream,
                          const GemvNormIn* norm = nullptr);

// ---- normalisation and elementwise --------------------------------------------------------------------
// Reads buf[0, bytes) through L2 without writing it (filled with zeros by the caller): run before each timed
// kernel when choosing among algorithms, so weights are timed as a decode step meets them, from DRAM.
Status l2_evict(const void* buf, size_t bytes, cudaStream_t stream);

// y = bf16( bf16(x · rsqrt(mean(x²) + eps)) · w )  (models.md §1.1), x f32 [rows, D]; w a weight (constant
// for the run: it may be loaded before the kernel that writes x has finished).
Status rms_norm(const float* x, const bf16_t* w, int rows, int D, float eps, bf16_t* y, cudaStream_t stream);
// out[r, i] = bf16( silu(gu[r, 2i]) · gu[r, 2i + 1] ), gu f32 [rows, 2I] with gate and up interleaved
// (the layout of the packed gate/up weight, see gemv_swiglu_bf16).
Status silu_mul(const float* gu, int rows, int I, bf16_t* out, cudaStream_t stream);
// h[r, :] = f32(table[ids[r], :]); ids on the device.
Status embedding(const bf16_t* table, const int32_t* ids, int rows, int D, int vocab, float* h,
                 cudaStream_t stream);
// out[r, :] = table[ids[r], :] in bf16 (Janus's gen_embed lookup).
Status embedding_bf16(const bf16_t* table, const int32_t* ids, int rows, int D, int vocab, bf16_t* out,
                      cudaStream_t stream);
// v = bf16(y[r, n] + bias[n]) (bias bf16 [N] or null), then GELU (exact, erf) when gelu, rounded to bf16
// again: the output of a bf16 nn.Linear (+ GELU) as PyTorch computes it. Written to out_f32 and/or out_bf16
// (out_f32 may alias y).
Status bias_act(const float* y, const bf16_t* bias, int rows, int N, bool gelu, float* out_f32,
                bf16_t* out_bf16, cudaStream_t stream);
// bf16 <-> f32 conversion of n elements.
Status f32_to_bf16(const float* x, int64_t n, bf16_t* y, cudaStream_t stream);
Status bf16_to_f32(const bf16_t* x, int64_t n, float* y, cudaStream_t stream);

// ---- rotary embedding + KV cache ------------------------------------------------------------------------
// qkv: f32 [R, (nh + 2·nkv)·hd] (q heads, then k heads, then v heads). For each row r: rotate-half RoPE
// (§1.6 layout A) at position pos[r] on q and k; q written to q_out bf16 [R, nh, hd]; k and v written
// to the caches at [slot[r], head, pos[r]]. Cache layout: [slots, nkv, max_seq, hd] bf16. bias (bf16
// [(nh + 2·nkv)·hd], Qwen2's q/k/v biases) is added first when not null.
Status rope_kv_write(const float* qkv, const bf16_t* bias, const int32_t* pos, const int32_t* slot,
                     const float* inv_freq, int R, int nh, int nkv, int hd, int max_seq, bf16_t* q_out,
                     bf16_t* k_cache, bf16_t* v_cache, cudaStream_t stream);

// ---- attention ----------------------------------------------------------------------------------------
// Decode: one new query per batch row b, attending to keys [0, pos[b]] of cache slot slot[b]
// (split-KV flash decoding; the grid covers max_seq so it can be captured in a graph while lengths grow).
// The last block to finish a (row, KV head) merges its splits (no second launch) when the splits fit
// (max_seq ≤ 32768); TESSERA_NO_FUSED_MERGE=1 forces the separate merge kernel.
//   q: bf16 [B, nh, hd]; out: bf16 [B, nh, hd]; workspace: attention_decode_workspace() bytes for the
//   largest batch, zeroed once before first use (it holds arrival counters that every call leaves at zero);
//   one workspace serves every batch size up to that.
size_t attention_decode_workspace(int B, int nh, int hd, int max_seq);
Status attention_decode(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const int32_t* pos,
                        const int32_t* slot, int B, int nh, int nkv, int hd, int max_seq, float scale,
                        bf16_t* out, void* workspace, cudaStream_t stream);
// rope_kv_write then attention_decode, for q/k/v that a product left in f32 (cuBLAS, above the GEMV batch
// sizes): where the streamed kernel takes the shape (one split, head dim 128) and every query head has its
// own KV head, its blocks rotate q and k and write the cache rows themselves, one launch fewer per layer.
// TESSERA_NO_ATTN_ROPE=1 always runs the two apart.
Status rope_attention_decode(const float* qkv, const bf16_t* bias, const float* inv_freq, const int32_t* pos,
                             const int32_t* slot, int B, int nh, int nkv, int hd, int max_seq, float scale,
                             bf16_t* q, bf16_t* k_cache, bf16_t* v_cache, bf16_t* out, void* workspace,
                             cudaStream_t stream);

// Causal softmax for prefill: S f32 [nh, T, L] scores (already scaled) of T queries at positions
// [pos0, pos0+T) over L = pos0 + T keys; writes P bf16 [nh, T, L] with masked entries 0.
Status causal_softmax(const float* S, int nh, int T, int L, int pos0, bf16_t* P, cudaStream_t stream);

// ---- sampling -------------------------------------------------------------------------------------------
// out[b] = argmax_v logits[b, v] (lowest index on ties), logits f32 [B, V].
Status argmax(const float* logits, int B, int V, int32_t* out, cudaStream_t stream);

// Parameters of the classifier-free-guidance sampler, in device memory so a captured graph reads the
// current values. step counts the tokens drawn so far; the kernel advances it.
struct CfgSampleParams {
    float cfg_weight;
    float temperature;  // <= 0: argmax (greedy)
    uint64_t seed;
    int32_t step;
    int32_t n_steps;  // tokens per image: codes rows are n_steps long
};

// Janus image-token sampling (models.md §7.5 step 4): for each pair p, cond = logits row 2p, uncond = row
// 2p + 1 (f32 [2P, V], the gen_head output); ℓ = u + w·(c − u) with PyTorch's bf16 rounding of each step,
// then softmax(ℓ / T) and one draw from a counter-based generator keyed by (seed, step, p) — the same
// seed gives the same tokens. Writes row_tokens[2p] = row_tokens[2p + 1] = k (the next step's input for both
// rows) and codes[p · n_steps + step] = k; then params->step += 1. work: f32 [P, V] scratch.
Status sample_cfg(const float* logits, int P, int V, CfgSampleParams* params, int32_t* row_tokens,
                  int32_t* codes, float* work, cudaStream_t stream);

// Text sampling on the device (models.md §1.10 without the repetition penalty): greedy, or temperature →
// top-k → top-p → one draw keyed by (seed, step). params: [B] in device memory.
struct TextSampleParams {
    float temperature;  // <= 0: greedy
    int32_t top_k;      // 0: off
    float top_p;        // 1: off
    uint64_t seed;
    int32_t step;  // advanced by the kernel
};
Status sample_text(const float* logits, int B, int V, TextSampleParams* params, int32_t* out,
                   cudaStream_t stream);

// ---- convolution networks (the VQ image decoder) ----------------------------------------------------------
// col[c·9 + ky·3 + kx, y·W + x] = in[c, y + ky − 1, x + kx − 1], zero outside: a 3×3, pad-1 convolution
// becomes W[Cout, Cin·9] · col[Cin·9, H·W]. in bf16 [C, H, W]; col bf16 [C·9, H·W].
Status im2col3x3(const bf16_t* in, int C, int H, int W, bf16_t* col, cudaStream_t stream);
// out[c, p] = bf16(acc[c, p] + bias[c]), then + residual[c, p] (rounded again) when residual is not null.
// acc f32 [C, HW]; out may alias residual.
Status bias_residual(const float* acc, const bf16_t* bias, int C, int64_t HW, const bf16_t* residual,
                     bf16_t* out, cudaStream_t stream);
// GroupNorm over x bf16 [C, HW] (C / groups channels per group), affine, then swish (x·σ(x)) when asked.
// workspace: group_norm_workspace(groups) bytes.
size_t group_norm_workspace(int groups);
Status group_norm(const bf16_t* x, int C, int64_t HW, int groups, const bf16_t* w, const bf16_t* b, float eps,
                  bool swish, bf16_t* y, float* workspace, cudaStream_t stream);
// out bf16 [C, 2H, 2W] = nearest-neighbour ×2 of in bf16 [C, H, W].
Status upsample_nearest2x(const bf16_t* in, int C, int H, int W, bf16_t* out, cudaStream_t stream);
// P[r, :] = bf16(softmax(bf16(S[r, :] · scale))), S f32 [rows, n].
Status softmax_rows(const float* S, int rows, int n, float scale, bf16_t* P, cudaStream_t stream);
// z bf16 [dim, n] = the L2-normalised codebook rows of codes[0, n) (channel-major, ready for a 1×1 conv).
Status codebook_lookup(const bf16_t* codebook, int dim, int vocab, const int32_t* codes, int n, bf16_t* z,
                       cudaStream_t stream);

}  // namespace tessera::cuda

namespace tessera::cuda {
// Fills n bf16 values with offset + scale·u, u uniform in [-1, 1) from a counter-based hash of (seed, i):
// random weights at real model shapes are made on the GPU instead of moving gigabytes over PCIe.
Status fill_random_bf16(bf16_t* p, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t stream);
}  // namespace tessera::cuda
