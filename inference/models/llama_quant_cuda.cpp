// The GPU Llama model's GGUF block-quantized layers: which checkpoints qualify, the memory they take, the
// upload of the blocks as the file stores them, and the unfused layer that runs them — the block GEMV
// (gemv_quant.h) for decode batches up to 8, cuBLAS over a dequantized copy of each matrix otherwise.
#include <cmath>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "models/llama_cuda_impl.h"

namespace tessera {

namespace llama_gpu {

std::vector<std::string> layer_matrix_names(const std::string& prefix, int l) {
    const std::string p = prefix + "model.layers." + std::to_string(l) + ".";
    return {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
            p + "self_attn.o_proj.weight", p + "mlp.gate_proj.weight",    p + "mlp.up_proj.weight",
            p + "mlp.down_proj.weight"};
}

// Whether the layers are GGUF blocks; errors for what the GPU cannot run: a type without a GPU kernel, or a
// mix of float and block matrices, or gate and up in different types. The embedding and lm_head may be
// blocks either way: they are dequantized to bf16 at load.
Result<bool> quantized_layers(const LlmConfig& c, const std::string& prefix, const Checkpoint& ck) {
    int quant = 0, total = 0;
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        const auto names = layer_matrix_names(prefix, l);
        for (const std::string& n : names) {
            const TensorEntry* e = ck.find(n);
            if (!e) continue;  // reported by the shape checks at upload
            ++total;
            if (!e->quant) continue;
            ++quant;
            if (!cuda::gpu_quant_supported(*e->quant))
                return make_error(ErrorCode::Unsupported,
                                  n + ": type " + std::string(quant_name(*e->quant)) +
                                      " has no GPU kernel (the GPU runs Q4_0, Q8_0, Q4_K, Q5_K and "
                                      "Q6_K blocks; use --device cpu) (" +
                                      e->file + ")");
        }
        const TensorEntry *g = ck.find(names[4]), *u = ck.find(names[5]);
        if (g && u && g->quant && u->quant && *g->quant != *u->quant)
            return make_error(ErrorCode::Unsupported,
                              names[4] + " is " + std::string(quant_name(*g->quant)) + " but " + names[5] +
                                  " is " + std::string(quant_name(*u->quant)) +
                                  ": the GPU needs gate and up in one type (use --device cpu)");
    }
    if (quant != 0 && quant != total)
        return make_error(ErrorCode::Unsupported,
                          "the layers mix float and block-quantized matrices, which the GPU path "
                          "does not run (use --device cpu)");
    return quant != 0;
}

// Embedding / lm_head entries that are blocks (dequantized to bf16 on the device at load).
Result<const TensorEntry*> quantized_entry(const Checkpoint& ck, const std::string& name) {
    const TensorEntry* e = ck.find(name);
    if (!e || !e->quant) return static_cast<const TensorEntry*>(nullptr);
    if (!cuda::gpu_quant_supported(*e->quant))
        return make_error(ErrorCode::Unsupported, name + ": type " + std::string(quant_name(*e->quant)) +
                                                      " has no GPU kernel (use --device cpu) (" + e->file +
                                                      ")");
    return e;
}

size_t largest_layer_matrix(const LlmConfig& c) {
    const size_t H = size_t(c.hidden_size), I = size_t(c.intermediate_size), hd = size_t(c.head_dim);
    const size_t QKV = (size_t(c.num_attention_heads) + 2 * size_t(c.num_key_value_heads)) * hd;
    return std::max({QKV * H, H * size_t(c.num_attention_heads) * hd, 2 * I * H, H * I});
}

}  // namespace llama_gpu

using namespace llama_gpu;

CudaMemoryEstimate CudaLlm::estimate(const LlmConfig& c, const CudaLlmOptions& o, const Checkpoint& ck) {
    CudaMemoryEstimate e = estimate(c, o);
    auto quant = quantized_layers(c, o.name_prefix, ck);
    // Embedding blocks are on the device only while they are dequantized; an untied lm_head keeps its blocks
    // for decode besides the bf16 copy prefill uses.
    if (const TensorEntry* t = ck.find(o.name_prefix + "model.embed_tokens.weight"); t && t->quant)
        e.scratch += t->quant_bytes;
    if (const TensorEntry* t = ck.find(o.name_prefix + "lm_head.weight");
        t && t->quant && !c.tie_word_embeddings)
        e.weights += align_up(t->quant_bytes, 256);
    if (!quant.ok() || !*quant) return e;
    // The layer matrices take their block bytes instead of bf16, plus one bf16 matrix of dequantization
    // scratch.
    const uint64_t H = uint64_t(c.hidden_size), I = uint64_t(c.intermediate_size), hd = uint64_t(c.head_dim);
    const uint64_t QKV = (uint64_t(c.num_attention_heads) + 2 * uint64_t(c.num_key_value_heads)) * hd;
    e.weights -=
        uint64_t(c.num_hidden_layers) * (QKV * H + H * uint64_t(c.num_attention_heads) * hd + 3 * I * H) * 2;
    for (int l = 0; l < c.num_hidden_layers; ++l)
        for (const std::string& n : layer_matrix_names(o.name_prefix, l))
            if (const TensorEntry* t = ck.find(n)) e.weights += align_up(t->quant_bytes, 256);
    e.scratch += largest_layer_matrix(c) * 2;
    return e;
}

// The layers' GGUF blocks, copied as stored (llama's q/k rows are already in Hugging Face order: the
// checkpoint un-permutes whole rows); gate row i goes to row 2i of gate_up and up row i to 2i + 1.
Status CudaLlm::Impl::upload_quant(const Checkpoint& ck) {
    auto put = [&](const std::string& name, const QuantMatrix& m, int rows, size_t pitch,
                   size_t offset) -> Status {
        TESSERA_ASSIGN(Tensor t, ck.get(name, {int64_t(rows), int64_t(m.cols)}));  // the shape check
        (void)t;
        const TensorEntry* e = ck.find(name);
        if (!e->quant || *e->quant != m.type || e->quant_bytes != uint64_t(rows) * m.row_bytes ||
            !e->quant_data)
            return make_error(ErrorCode::Format,
                              name + ": blocks do not match the layout planned for them (" + e->file + ")");
        return check(cudaMemcpy2D(m.blocks + offset, pitch, e->quant_data, m.row_bytes, m.row_bytes,
                                  size_t(rows), cudaMemcpyHostToDevice),
                     "upload weights");
    };
    for (int l = 0; l < L; ++l) {
        const QuantLayer& m = qlayers[size_t(l)];
        const auto n = layer_matrix_names(opt.name_prefix, l);
        TESSERA_TRY(put(n[0], m.q, m.q.rows, m.q.row_bytes, 0));
        TESSERA_TRY(put(n[1], m.k, m.k.rows, m.k.row_bytes, 0));
        TESSERA_TRY(put(n[2], m.v, m.v.rows, m.v.row_bytes, 0));
        TESSERA_TRY(put(n[3], m.o, m.o.rows, m.o.row_bytes, 0));
        TESSERA_TRY(put(n[4], m.gate_up, I, 2 * m.gate_up.row_bytes, 0));
        TESSERA_TRY(put(n[5], m.gate_up, I, 2 * m.gate_up.row_bytes, m.gate_up.row_bytes));
        TESSERA_TRY(put(n[6], m.down, m.down.rows, m.down.row_bytes, 0));
    }
    return {};
}

// y (+)= x·dequant(m)ᵀ for T rows: the block kernel for decode batches (T ≤ 8), else cuBLAS over the matrix
// dequantized into deq.
Status CudaLlm::Impl::quant_product(const QuantMatrix& m, const bf16_t* x, float* y, bool accumulate, int T,
                                    bool gemv) {
    if (gemv)
        return cuda::gemv_quant(m.type, m.blocks, m.row_bytes, x, nullptr, accumulate ? y : nullptr, y,
                                nullptr, T, m.rows, m.cols, ctx->stream());
    TESSERA_TRY(cuda::dequantize_bf16(m.type, m.blocks, m.row_bytes, m.rows, m.cols, deq, ctx->stream()));
    return cuda::gemm_bf16(*ctx, deq, x, y, true, T, m.rows, m.cols, 1.f, accumulate ? 1.f : 0.f);
}

// One layer over T rows with GGUF block weights, on the unfused path: RMSNorm → q/k/v (three matrices into
// the columns of qkv) → RoPE + KV write → attention (decode, or prefill of `slot` from pos0) → o (+
// residual) → RMSNorm → gate/up → SwiGLU → down (+ residual).
Status CudaLlm::Impl::quant_layer(int l, int T, bool decode, int slot, int pos0) {
    const LayerWeights& w = layers[size_t(l)];
    const QuantLayer& ql = qlayers[size_t(l)];
    const cudaStream_t s = ctx->stream();
    const bool gemv = T <= cuda::kGemvMaxBatch;
    const int q_rows = nh * hd, kv_rows = nkv * hd;
    TESSERA_TRY(cuda::rms_norm(h, w.ln1, T, H, cfg.rms_norm_eps, xn, s));
    if (gemv) {
        const bf16_t* b = w.qkv_bias;
        TESSERA_TRY(cuda::gemv_quant(ql.q.type, ql.q.blocks, ql.q.row_bytes, xn, b, nullptr, qkv, nullptr, T,
                                     q_rows, H, s, QKV));
        TESSERA_TRY(cuda::gemv_quant(ql.k.type, ql.k.blocks, ql.k.row_bytes, xn, b ? b + q_rows : nullptr,
                                     nullptr, qkv + q_rows, nullptr, T, kv_rows, H, s, QKV));
        TESSERA_TRY(cuda::gemv_quant(ql.v.type, ql.v.blocks, ql.v.row_bytes, xn,
                                     b ? b + q_rows + kv_rows : nullptr, nullptr, qkv + q_rows + kv_rows,
                                     nullptr, T, kv_rows, H, s, QKV));
    } else {  // the three dequantized one after another are the [QKV, H] matrix of the bf16 path
        TESSERA_TRY(cuda::dequantize_bf16(ql.q.type, ql.q.blocks, ql.q.row_bytes, q_rows, H, deq, s));
        TESSERA_TRY(cuda::dequantize_bf16(ql.k.type, ql.k.blocks, ql.k.row_bytes, kv_rows, H,
                                          deq + size_t(q_rows) * H, s));
        TESSERA_TRY(cuda::dequantize_bf16(ql.v.type, ql.v.blocks, ql.v.row_bytes, kv_rows, H,
                                          deq + size_t(q_rows + kv_rows) * H, s));
        TESSERA_TRY(cuda::gemm_bf16(*ctx, deq, xn, qkv, true, T, QKV, H));
    }
    const bf16_t* rope_bias = gemv ? nullptr : w.qkv_bias;
    if (decode) {
        TESSERA_TRY(cuda::rope_attention_decode(qkv, rope_bias, inv_freq.as<float>(), d_pos, d_slot, T, nh,
                                                nkv, hd, opt.max_seq, 1.f / std::sqrt(float(hd)), q,
                                                k_cache(l), v_cache(l), attn, attn_ws, s));
    } else {
        TESSERA_TRY(cuda::rope_kv_write(qkv, rope_bias, d_pos, d_slot, inv_freq.as<float>(), T, nh, nkv, hd,
                                        opt.max_seq, q, k_cache(l), v_cache(l), s));
        TESSERA_TRY(attention_prefill(l, slot, T, pos0));
    }
    TESSERA_TRY(quant_product(ql.o, attn, h, true, T, gemv));  // h += attn·Woᵀ
    TESSERA_TRY(cuda::rms_norm(h, w.ln2, T, H, cfg.rms_norm_eps, xn, s));
    TESSERA_TRY(quant_product(ql.gate_up, xn, gu, false, T, gemv));
    TESSERA_TRY(cuda::silu_mul(gu, T, I, act, s));
    return quant_product(ql.down, act, h, true, T, gemv);  // h += act·Wdᵀ
}

}  // namespace tessera
