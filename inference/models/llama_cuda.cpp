// Llama / Qwen2 decoder on the GPU (models.md §2.3, §3.3): RMSNorm → attention with rotate-half RoPE →
// residual → RMSNorm → SwiGLU → residual; final norm and lm_head. Prefill runs cuBLAS products over the
// whole chunk; decode runs our GEMV kernels (B ≤ 8) or cuBLAS (larger batches), captured in a CUDA graph.
// GGUF block-quantized layers (quant_layer) take the unfused path: see llama_quant_cuda.cpp.
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

uint64_t weight_elems(const LlmConfig& c) {
    const uint64_t H = uint64_t(c.hidden_size), I = uint64_t(c.intermediate_size), hd = uint64_t(c.head_dim);
    const uint64_t qkv = (uint64_t(c.num_attention_heads) + 2 * uint64_t(c.num_key_value_heads)) * hd;
    uint64_t per_layer = qkv * H + H * uint64_t(c.num_attention_heads) * hd + 3 * I * H + 2 * H;
    if (c.attention_bias) per_layer += qkv;
    uint64_t total = per_layer * uint64_t(c.num_hidden_layers) + uint64_t(c.vocab_size) * H + H;
    if (!c.tie_word_embeddings) total += uint64_t(c.vocab_size) * H;
    return total;
}

// Prefill attention through the fused kernel, which needs no [nh, chunk, max_seq] score and probability
// scratch; TESSERA_NO_FLASH_PREFILL=1 keeps the cuBLAS path (and its scratch) for comparison. Read once, so
// the scratch sized at allocation always matches the path taken later.
bool flash_prefill(int hd) {
    static const bool off = std::getenv("TESSERA_NO_FLASH_PREFILL") != nullptr;
    return !off && cuda::attention_prefill_supported(hd);
}

}  // namespace

CudaMemoryEstimate CudaLlm::estimate(const LlmConfig& c, const CudaLlmOptions& o) {
    CudaMemoryEstimate e;
    // Each weight region is padded to 256 bytes; 8 regions a layer.
    e.weights = weight_elems(c) * 2 + uint64_t(c.num_hidden_layers + 1) * 8 * 256;
    e.kv_cache = 2ull * c.num_hidden_layers * o.max_batch * uint64_t(o.max_seq) * c.num_key_value_heads *
                 c.head_dim * 2;
    const uint64_t Tm = uint64_t(std::max(o.prefill_chunk, o.max_batch));
    const uint64_t H = uint64_t(c.hidden_size), I = uint64_t(c.intermediate_size);
    const uint64_t QKV = (uint64_t(c.num_attention_heads) + 2 * uint64_t(c.num_key_value_heads)) * c.head_dim;
    const uint64_t nhd = uint64_t(c.num_attention_heads) * c.head_dim;
    e.scratch =
        Tm * (H * 4 + H * 2 + QKV * 4 + nhd * 4 + 2 * I * 4 + I * 2 + 16) +
        (flash_prefill(c.head_dim) ? 0 : uint64_t(c.num_attention_heads) * o.prefill_chunk * o.max_seq * 6) +
        uint64_t(std::max(o.max_batch, 1)) * c.vocab_size * 4 +
        cuda::attention_decode_workspace(o.max_batch, c.num_attention_heads, c.head_dim, o.max_seq) +
        (64ull << 20);  // cuBLAS workspace and alignment
    return e;
}

Status CudaLlm::Impl::init_shapes(const LlmConfig& c, const CudaLlmOptions& o, const Checkpoint* ck) {
    cfg = c;
    opt = o;
    H = c.hidden_size;
    I = c.intermediate_size;
    L = c.num_hidden_layers;
    nh = c.num_attention_heads;
    nkv = c.num_key_value_heads;
    hd = c.head_dim;
    V = c.vocab_size;
    QKV = (nh + 2 * nkv) * hd;
    if (o.max_batch < 1 || o.max_seq < 1 || o.prefill_chunk < 1)
        return make_error(ErrorCode::InvalidArgument,
                          "CUDA model options: batch, context and chunk must be positive");
    if (H < 1 || I < 1 || L < 1 || nh < 1 || nkv < 1 || hd < 2 || V < 1 || nh % nkv != 0 || hd % 2 != 0)
        return make_error(ErrorCode::Config, "config.json: inconsistent model shape for the CUDA backend");
    if (ck) {
        TESSERA_ASSIGN(quant, quantized_layers(c, o.name_prefix, *ck));
    }
    TESSERA_ASSIGN(ctx, cuda::CudaContext::create(o.device));
    TESSERA_ASSIGN(info, cuda::device_info(o.device));
    const CudaMemoryEstimate e = ck ? CudaLlm::estimate(c, o, *ck) : CudaLlm::estimate(c, o);
    if (e.total() > info.free_bytes)
        return make_error(ErrorCode::OutOfMemory,
                          "model needs about " + std::to_string(e.total() >> 20) +
                              " MiB of GPU memory (weights " + std::to_string(e.weights >> 20) +
                              " MiB, KV cache " + std::to_string(e.kv_cache >> 20) + " MiB) but " +
                              info.name + " has " + std::to_string(info.free_bytes >> 20) +
                              " MiB free; reduce the context length or batch, or use the CPU");
    TESSERA_TRY(cuda::gemv_norm_prepare());
    if (std::getenv("TESSERA_GEMM_SMALL"))
        TESSERA_TRY(cuda::gemm_small_prepare());  // before any graph capture
    TESSERA_TRY(check(cudaEventCreate(&ev_start), "cudaEventCreate"));
    TESSERA_TRY(check(cudaEventCreate(&ev_stop), "cudaEventCreate"));
    return {};
}

Status CudaLlm::Impl::allocate_weights(const Checkpoint* ck) {
    // Lay every weight out in one allocation, each region 256-byte aligned for vector loads.
    size_t offset = 0;
    std::vector<std::pair<void**, size_t>> regions;  // bytes
    auto region = [&](bf16_t** p, size_t elems) {
        regions.emplace_back(reinterpret_cast<void**>(p), elems * 2);
    };
    layers.assign(size_t(L), LayerWeights{});
    region(&embed, size_t(V) * H);
    region(&norm, size_t(H));
    if (!cfg.tie_word_embeddings) region(&lm_head, size_t(V) * H);
    if (const TensorEntry* e = ck ? ck->find(opt.name_prefix + "lm_head.weight") : nullptr;
        e && e->quant && !cfg.tie_word_embeddings && cuda::gpu_quant_supported(*e->quant)) {
        lm_head_q.type = *e->quant;
        lm_head_q.rows = V;
        lm_head_q.cols = H;
        lm_head_q.row_bytes = size_t(quant_row_bytes(lm_head_q.type, H).value_or(0));
        regions.emplace_back(reinterpret_cast<void**>(&lm_head_q.blocks), lm_head_q.bytes());
    }
    if (quant) qlayers.assign(size_t(L), QuantLayer{});
    for (int l = 0; l < L; ++l) {
        LayerWeights& lw = layers[size_t(l)];
        if (quant) {
            // Shapes and types were validated by quantized_layers and are checked again at upload.
            QuantLayer& ql = qlayers[size_t(l)];
            const auto names = layer_matrix_names(opt.name_prefix, l);
            QuantMatrix* mats[] = {&ql.q, &ql.k, &ql.v, &ql.o, &ql.gate_up, &ql.down};
            const int rows[] = {nh * hd, nkv * hd, nkv * hd, H, 2 * I, H}, cols[] = {H, H, H, nh * hd, H, I};
            const size_t name_of[] = {0, 1, 2, 3, 4, 6};
            for (int m = 0; m < 6; ++m) {
                const TensorEntry* e = ck->find(names[name_of[m]]);
                if (!e || !e->quant)
                    return make_error(
                        ErrorCode::Format,
                        names[name_of[m]] + ": missing, or not blocks like the other layer matrices");
                QuantMatrix& qm = *mats[m];
                qm.type = *e->quant;
                qm.rows = rows[m];
                qm.cols = cols[m];
                qm.row_bytes = size_t(quant_row_bytes(qm.type, qm.cols).value_or(0));
                regions.emplace_back(reinterpret_cast<void**>(&qm.blocks), qm.bytes());
            }
        } else {
            region(&lw.qkv, size_t(QKV) * H);
            region(&lw.o, size_t(H) * nh * hd);
            region(&lw.gate_up, size_t(2) * I * H);
            region(&lw.down, size_t(H) * I);
        }
        if (cfg.attention_bias) region(&lw.qkv_bias, size_t(QKV));
        region(&lw.ln1, size_t(H));
        region(&lw.ln2, size_t(H));
    }
    std::vector<size_t> offsets;
    for (auto& [p, n] : regions) {
        offsets.push_back(offset);
        offset = align_up(offset + n, 256);
    }
    TESSERA_ASSIGN(weights, DeviceBuffer::allocate(offset, "model weights"));
    for (size_t i = 0; i < regions.size(); ++i)
        *regions[i].first = static_cast<std::byte*>(weights.data()) + offsets[i];
    if (cfg.tie_word_embeddings) lm_head = embed;
    return {};
}

Status CudaLlm::Impl::allocate_runtime() {
    TESSERA_ASSIGN(kv, DeviceBuffer::allocate(size_t(L) * 2 * kv_elems_per_layer() * 2, "KV cache"));
    const size_t Tm = size_t(tmax());
    size_t off = 0;
    std::vector<std::pair<void**, size_t>> parts;
    auto part = [&](void** p, size_t bytes) { parts.emplace_back(p, bytes); };
    part(reinterpret_cast<void**>(&h), Tm * H * 4);
    part(reinterpret_cast<void**>(&xn), Tm * H * 2);
    part(reinterpret_cast<void**>(&qkv), Tm * QKV * 4);
    part(reinterpret_cast<void**>(&q), Tm * nh * hd * 2);
    part(reinterpret_cast<void**>(&attn), Tm * nh * hd * 2);
    part(reinterpret_cast<void**>(&gu), Tm * 2 * I * 4);
    part(reinterpret_cast<void**>(&act), Tm * I * 2);
    const size_t score_elems = flash_prefill(hd) ? 0 : size_t(nh) * opt.prefill_chunk * opt.max_seq;
    part(reinterpret_cast<void**>(&S), score_elems * 4);
    part(reinterpret_cast<void**>(&P), score_elems * 2);
    part(reinterpret_cast<void**>(&logits), size_t(std::max(opt.max_batch, 1)) * V * 4);
    part(reinterpret_cast<void**>(&d_ids), Tm * 4);
    part(reinterpret_cast<void**>(&d_pos), Tm * 4);
    part(reinterpret_cast<void**>(&d_slot), Tm * 4);
    part(reinterpret_cast<void**>(&d_next), size_t(opt.max_batch) * 4);
    part(reinterpret_cast<void**>(&d_sampling), size_t(opt.max_batch) * sizeof(cuda::TextSampleParams));
    part(reinterpret_cast<void**>(&hidden_out), size_t(opt.max_batch) * H * 2);
    part(&attn_ws, cuda::attention_decode_workspace(opt.max_batch, nh, hd, opt.max_seq));
    part(reinterpret_cast<void**>(&norm_counter), sizeof(int));
    if (quant) part(reinterpret_cast<void**>(&deq), largest_layer_matrix(cfg) * 2);
    std::vector<size_t> offsets;
    for (auto& [p, n] : parts) {
        offsets.push_back(off);
        off = align_up(off + n, 256);
    }
    TESSERA_ASSIGN(scratch, DeviceBuffer::allocate(off, "activations"));
    for (size_t i = 0; i < parts.size(); ++i)
        *parts[i].first = static_cast<std::byte*>(scratch.data()) + offsets[i];
    TESSERA_TRY(
        check(cudaMemset(attn_ws, 0, cuda::attention_decode_workspace(opt.max_batch, nh, hd, opt.max_seq)),
              "clear attention workspace"));
    TESSERA_TRY(check(cudaMemset(norm_counter, 0, sizeof(int)), "clear norm counter"));
    TESSERA_ASSIGN(host_io, cuda::PinnedBuffer::allocate(Tm * 3 * 4 + size_t(opt.max_batch) * 4));
    TESSERA_ASSIGN(host_sampling,
                   cuda::PinnedBuffer::allocate(size_t(opt.max_batch) * sizeof(cuda::TextSampleParams)));

    // §1.6: inv_freq[i] = 1 / θ^(2i/d) in f32.
    std::vector<float> f(size_t(hd / 2));
    for (int i = 0; i < hd / 2; ++i) f[size_t(i)] = 1.0f / std::pow(cfg.rope_theta, float(2 * i) / float(hd));
    if (opt.bf16_rope_frequencies)
        for (float& v : f) v = round_bf16(v);
    TESSERA_ASSIGN(inv_freq, DeviceBuffer::allocate(f.size() * 4, "rope table"));
    TESSERA_TRY(check(cudaMemcpy(inv_freq.data(), f.data(), f.size() * 4, cudaMemcpyHostToDevice),
                      "upload rope table"));
    return {};
}

namespace {

// Streams host tensors to the device as bf16 through two pinned staging buffers, so conversion of one
// chunk overlaps the copy of the previous one.
class Uploader {
public:
    static constexpr size_t kChunk = size_t(32) << 20;  // bf16 elements per staging buffer: 64 MiB

    Status init(cudaStream_t stream) {
        m_stream = stream;
        for (int i = 0; i < 2; ++i) {
            TESSERA_ASSIGN(m_stage[i], cuda::PinnedBuffer::allocate(kChunk * 2));
            TESSERA_TRY(
                check(cudaEventCreateWithFlags(&m_done[i], cudaEventDisableTiming), "cudaEventCreate"));
        }
        return {};
    }
    ~Uploader() {
        for (auto& e : m_done)
            if (e) cudaEventDestroy(e);
    }

    // Rows of t ([rows, cols]) to dst with a row pitch of dst_pitch elements.
    Status put_rows(const Tensor& t, bf16_t* dst, size_t dst_pitch) {
        const int64_t rows = t.dim(0), cols = t.dim(1);
        const int64_t rows_per_chunk = std::max<int64_t>(1, int64_t(kChunk) / cols);
        for (int64_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
            const int64_t nr = std::min(rows_per_chunk, rows - r0);
            TESSERA_TRY(check(cudaEventSynchronize(m_done[m_next]), "upload staging"));
            uint16_t* stage = m_stage[m_next].as<uint16_t>();
            convert(t, r0 * cols, nr * cols, stage);
            TESSERA_TRY(
                check(cudaMemcpy2DAsync(dst + size_t(r0) * dst_pitch, dst_pitch * 2, stage, size_t(cols) * 2,
                                        size_t(cols) * 2, size_t(nr), cudaMemcpyHostToDevice, m_stream),
                      "upload weights"));
            TESSERA_TRY(check(cudaEventRecord(m_done[m_next], m_stream), "cudaEventRecord"));
            m_next ^= 1;
        }
        return {};
    }

    static void convert(const Tensor& t, int64_t begin, int64_t count, uint16_t* stage) {
        switch (t.dtype) {
            case DType::BF16:
                std::memcpy(stage, t.as<const uint16_t>() + begin, size_t(count) * 2);
                break;
            case DType::F32:
                for (int64_t i = 0; i < count; ++i) stage[i] = f32_to_bf16(t.as<const float>()[begin + i]);
                break;
            case DType::F16:
                for (int64_t i = 0; i < count; ++i)
                    stage[i] = f32_to_bf16(f16_to_f32(t.as<const uint16_t>()[begin + i]));
                break;
        }
    }

    Status put(const Tensor& t, bf16_t* dst) {
        const int64_t n = t.numel();
        for (int64_t begin = 0; begin < n; begin += int64_t(kChunk)) {
            const int64_t count = std::min<int64_t>(int64_t(kChunk), n - begin);
            TESSERA_TRY(check(cudaEventSynchronize(m_done[m_next]), "upload staging"));
            uint16_t* stage = m_stage[m_next].as<uint16_t>();
            convert(t, begin, count, stage);
            TESSERA_TRY(check(
                cudaMemcpyAsync(dst + begin, stage, size_t(count) * 2, cudaMemcpyHostToDevice, m_stream),
                "upload weights"));
            TESSERA_TRY(check(cudaEventRecord(m_done[m_next], m_stream), "cudaEventRecord"));
            m_next ^= 1;
        }
        return {};
    }

private:
    cudaStream_t m_stream = nullptr;
    cuda::PinnedBuffer m_stage[2];
    cudaEvent_t m_done[2] = {nullptr, nullptr};
    int m_next = 0;
};

}  // namespace

Status CudaLlm::Impl::upload(const Checkpoint& ck) {
    Uploader up;
    TESSERA_TRY(up.init(ctx->stream()));
    auto put = [&](const std::string& name, const Shape& shape, bf16_t* dst) -> Status {
        TESSERA_ASSIGN(Tensor t, ck.get(name, shape));
        return up.put(t, dst);
    };
    // gate_proj row i goes to row 2i and up_proj row i to 2i + 1 (see gemv_swiglu_bf16): rows are
    // uploaded as strided 2D copies from the staged tensor.
    auto put_rows_interleaved = [&](const std::string& name, const Shape& shape, bf16_t* dst,
                                    int which) -> Status {
        TESSERA_ASSIGN(Tensor t, ck.get(name, shape));
        return up.put_rows(t, dst + size_t(which) * H, size_t(2) * H);
    };
    // GGUF blocks of the embedding / lm_head: dequantized to bf16 on the device (a lookup and the one
    // product at the end; the layers are where the bytes are).
    // `keep`: a region for the blocks that stays (lm_head_q); otherwise they live only until dequantized.
    auto put_matrix = [&](const std::string& name, const Shape& shape, bf16_t* dst,
                          const QuantMatrix* keep) -> Status {
        TESSERA_ASSIGN(const TensorEntry* qe, quantized_entry(ck, name));
        if (!qe) return put(name, shape, dst);
        TESSERA_ASSIGN(Tensor t, ck.get(name, shape));  // the shape check and its message
        (void)t;
        DeviceBuffer temp;
        void* blocks = keep && keep->blocks && keep->bytes() == qe->quant_bytes
                           ? static_cast<void*>(keep->blocks)
                           : nullptr;
        if (!blocks) {
            TESSERA_ASSIGN(temp, DeviceBuffer::allocate(qe->quant_bytes, "GGUF blocks"));
            blocks = temp.data();
        }
        TESSERA_TRY(check(cudaMemcpy(blocks, qe->quant_data, qe->quant_bytes, cudaMemcpyHostToDevice),
                          "upload weights"));
        const size_t rb = size_t(quant_row_bytes(*qe->quant, shape[1]).value_or(0));
        TESSERA_TRY(
            cuda::dequantize_bf16(*qe->quant, blocks, rb, int(shape[0]), int(shape[1]), dst, ctx->stream()));
        return ctx->synchronize();  // before temp is freed
    };
    const int64_t h64 = H, i64 = I, q_rows = int64_t(nh) * hd, kv_rows = int64_t(nkv) * hd;
    const std::string& pre = opt.name_prefix;
    TESSERA_TRY(put_matrix(pre + "model.embed_tokens.weight", {V, h64}, embed, nullptr));
    TESSERA_TRY(put(pre + "model.norm.weight", {h64}, norm));
    if (!cfg.tie_word_embeddings)
        TESSERA_TRY(put_matrix(pre + "lm_head.weight", {V, h64}, lm_head, &lm_head_q));
    if (quant) TESSERA_TRY(upload_quant(ck));
    for (int l = 0; l < L; ++l) {
        const std::string p = pre + "model.layers." + std::to_string(l) + ".";
        LayerWeights& w = layers[size_t(l)];
        if (cfg.attention_bias) {
            TESSERA_TRY(put(p + "self_attn.q_proj.bias", {q_rows}, w.qkv_bias));
            TESSERA_TRY(put(p + "self_attn.k_proj.bias", {kv_rows}, w.qkv_bias + q_rows));
            TESSERA_TRY(put(p + "self_attn.v_proj.bias", {kv_rows}, w.qkv_bias + q_rows + kv_rows));
        }
        TESSERA_TRY(put(p + "input_layernorm.weight", {h64}, w.ln1));
        TESSERA_TRY(put(p + "post_attention_layernorm.weight", {h64}, w.ln2));
        if (quant) continue;
        TESSERA_TRY(put(p + "self_attn.q_proj.weight", {q_rows, h64}, w.qkv));
        TESSERA_TRY(put(p + "self_attn.k_proj.weight", {kv_rows, h64}, w.qkv + size_t(q_rows) * H));
        TESSERA_TRY(put(p + "self_attn.v_proj.weight", {kv_rows, h64}, w.qkv + size_t(q_rows + kv_rows) * H));
        TESSERA_TRY(put(p + "self_attn.o_proj.weight", {h64, q_rows}, w.o));
        TESSERA_TRY(put_rows_interleaved(p + "mlp.gate_proj.weight", {i64, h64}, w.gate_up, 0));
        TESSERA_TRY(put_rows_interleaved(p + "mlp.up_proj.weight", {i64, h64}, w.gate_up, 1));
        TESSERA_TRY(put(p + "mlp.down_proj.weight", {h64, i64}, w.down));
    }
    return ctx->synchronize();
}

Status CudaLlm::Impl::randomize(uint64_t seed) {
    // Scales keep activations in a sane range through many layers (≈ 1/sqrt(fan_in)); norms near 1.
    const cudaStream_t s = ctx->stream();
    auto fill = [&](bf16_t* p, size_t n, float scale, float offset) {
        return cuda::fill_random_bf16(p, int64_t(n), seed++, scale, offset, s);
    };
    const float wh = 1.f / std::sqrt(float(H)), wi = 1.f / std::sqrt(float(I));
    TESSERA_TRY(fill(embed, size_t(V) * H, 1.f, 0.f));
    TESSERA_TRY(fill(norm, size_t(H), 0.1f, 1.f));
    if (!cfg.tie_word_embeddings) TESSERA_TRY(fill(lm_head, size_t(V) * H, wh, 0.f));
    for (auto& w : layers) {
        TESSERA_TRY(fill(w.qkv, size_t(QKV) * H, wh, 0.f));
        if (w.qkv_bias) TESSERA_TRY(fill(w.qkv_bias, size_t(QKV), 0.1f, 0.f));
        TESSERA_TRY(fill(w.o, size_t(H) * nh * hd, wh, 0.f));
        TESSERA_TRY(fill(w.gate_up, size_t(2) * I * H, wh, 0.f));
        TESSERA_TRY(fill(w.down, size_t(H) * I, wi, 0.f));
        TESSERA_TRY(fill(w.ln1, size_t(H), 0.1f, 1.f));
        TESSERA_TRY(fill(w.ln2, size_t(H), 0.1f, 1.f));
    }
    return ctx->synchronize();
}

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

Result<std::unique_ptr<CudaLlm>> CudaLlm::load(const LlmConfig& config, const Checkpoint& checkpoint,
                                               const CudaLlmOptions& options) {
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init_shapes(config, options, &checkpoint));
    TESSERA_TRY(impl->allocate_weights(&checkpoint));
    TESSERA_TRY(impl->allocate_runtime());
    TESSERA_TRY(impl->upload(checkpoint));
    return std::unique_ptr<CudaLlm>(new CudaLlm(std::move(impl)));
}

Result<std::unique_ptr<CudaLlm>> CudaLlm::create_random(const LlmConfig& config,
                                                        const CudaLlmOptions& options, uint64_t seed) {
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init_shapes(config, options, nullptr));
    TESSERA_TRY(impl->allocate_weights(nullptr));
    TESSERA_TRY(impl->allocate_runtime());
    TESSERA_TRY(impl->randomize(seed));
    return std::unique_ptr<CudaLlm>(new CudaLlm(std::move(impl)));
}

Status CudaLlm::prefill(int slot, const int32_t* ids, int n, int pos0, float* logits_out,
                        bool all_positions) {
    return m_impl->prefill_impl(slot, ids, n, pos0, logits_out, all_positions, -1);
}

Status CudaLlm::prefill_hidden(int slot, const int32_t* ids, int n, int pos0, int out_row) {
    if (out_row < 0 || out_row >= m_impl->opt.max_batch)
        return make_error(ErrorCode::InvalidArgument,
                          "prefill_hidden: row " + std::to_string(out_row) + " does not exist");
    return m_impl->prefill_impl(slot, ids, n, pos0, nullptr, false, out_row);
}

Status CudaLlm::Impl::prefill_impl(int slot, const int32_t* ids, int n, int pos0, float* logits_out,
                                   bool all_positions, int hidden_row) {
    Impl& m = *this;
    if (slot < 0 || slot >= m.opt.max_batch || n < 1 || pos0 < 0 || pos0 + n > m.opt.max_seq)
        return make_error(ErrorCode::InvalidArgument,
                          "prefill: " + std::to_string(n) + " tokens at position " + std::to_string(pos0) +
                              " do not fit the context of " + std::to_string(m.opt.max_seq));
    for (int i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= m.V)
            return make_error(ErrorCode::InvalidArgument,
                              "token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    const cudaStream_t s = m.ctx->stream();
    if (all_positions && logits_out && m.all_logits.size() == 0) {
        TESSERA_ASSIGN(m.all_logits, DeviceBuffer::allocate(size_t(m.opt.prefill_chunk) * m.V * 4, "logits"));
    }
    TESSERA_TRY(check(cudaEventRecord(m.ev_start, s), "cudaEventRecord"));
    int32_t* hio = m.host_io.as<int32_t>();
    for (int done = 0; done < n; done += m.opt.prefill_chunk) {
        const int T = std::min(m.opt.prefill_chunk, n - done), p0 = pos0 + done;
        // The host staging is reused per chunk: wait until the previous chunk's copy has been consumed.
        TESSERA_TRY(m.ctx->synchronize());
        for (int i = 0; i < T; ++i) {
            hio[i] = ids[done + i];
            hio[T + i] = p0 + i;
            hio[2 * T + i] = slot;
        }
        TESSERA_TRY(
            check(cudaMemcpyAsync(m.d_ids, hio, size_t(T) * 4, cudaMemcpyHostToDevice, s), "upload ids"));
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_pos, hio + T, size_t(T) * 4, cudaMemcpyHostToDevice, s),
                          "upload positions"));
        TESSERA_TRY(check(cudaMemcpyAsync(m.d_slot, hio + 2 * T, size_t(T) * 4, cudaMemcpyHostToDevice, s),
                          "upload slots"));
        TESSERA_TRY(cuda::embedding(m.embed, m.d_ids, T, m.H, m.V, m.h, s));
        for (int l = 0; l < m.L; ++l) TESSERA_TRY(m.layer_forward_prefill(l, slot, T, p0));
        if (hidden_row >= 0 && done + T == n)
            TESSERA_TRY(cuda::rms_norm(m.h + size_t(T - 1) * m.H, m.norm, 1, m.H, m.cfg.rms_norm_eps,
                                       m.hidden_out + size_t(hidden_row) * m.H, s));
        if (!logits_out) continue;
        if (all_positions) {
            TESSERA_TRY(cuda::rms_norm(m.h, m.norm, T, m.H, m.cfg.rms_norm_eps, m.xn, s));
            TESSERA_TRY(cuda::gemm_bf16(*m.ctx, m.lm_head, m.xn, m.all_logits.data(), true, T, m.V, m.H));
            TESSERA_TRY(check(cudaMemcpyAsync(logits_out + size_t(done) * m.V, m.all_logits.data(),
                                              size_t(T) * m.V * 4, cudaMemcpyDeviceToHost, s),
                              "download logits"));
        } else if (done + T == n) {
            TESSERA_TRY(
                cuda::rms_norm(m.h + size_t(T - 1) * m.H, m.norm, 1, m.H, m.cfg.rms_norm_eps, m.xn, s));
            TESSERA_TRY(
                cuda::gemv_bf16(m.lm_head, m.xn, nullptr, nullptr, m.logits, nullptr, 1, m.V, m.H, s));
            TESSERA_TRY(
                check(cudaMemcpyAsync(logits_out, m.logits, size_t(m.V) * 4, cudaMemcpyDeviceToHost, s),
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
    if (cuda::gemv_norm_supported(B, H) && std::getenv("TESSERA_FUSED_NORM")) {
        TESSERA_TRY(cuda::gemv_norm_bf16(lm_head, h, norm, cfg.rms_norm_eps, nullptr, nullptr, logits,
                                         nullptr, V, H, B, s));
    } else {
        TESSERA_TRY(cuda::rms_norm(h, norm, B, H, cfg.rms_norm_eps, xn, s));
        if (B <= cuda::kGemvMaxBatch && lm_head_q.blocks)  // a GGUF's blocks: fewer bytes than its bf16 copy
            TESSERA_TRY(cuda::gemv_quant(lm_head_q.type, lm_head_q.blocks, lm_head_q.row_bytes, xn, nullptr,
                                         nullptr, logits, nullptr, B, V, H, s));
        else if (B <= cuda::kGemvMaxBatch)
            TESSERA_TRY(cuda::gemv_bf16(lm_head, xn, nullptr, nullptr, logits, nullptr, B, V, H, s));
        else if (cuda::gemm_small_supported(B, V, H) && std::getenv("TESSERA_GEMM_SMALL"))
            TESSERA_TRY(cuda::gemm_small_bf16(lm_head, xn, nullptr, nullptr, logits, nullptr, B, V, H, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, lm_head, xn, logits, true, B, V, H));
    }
    return sampled ? cuda::sample_text(logits, B, V, d_sampling, d_next, s)
                   : cuda::argmax(logits, B, V, d_next, s);
}

// The transformer blocks of one decode step over the residual stream h[0, B).
Status CudaLlm::Impl::decode_layers(int B) {
    if (quant) {
        for (int l = 0; l < L; ++l) TESSERA_TRY(quant_layer(l, B, /*decode=*/true, 0, 0));
        return {};
    }
    const cudaStream_t s = ctx->stream();
    const bool gemv = B <= cuda::kGemvMaxBatch;
    // RMSNorm fused into the product after it: measured slower on the H200 (every block re-reads and
    // normalises x before streaming weights; bench/results/2026-11-28-h200-janus.md), so opt-in only
    // (TESSERA_FUSED_NORM=1) until the norm moves into the producer's epilogue.
    const bool fused = gemv && cuda::gemv_norm_supported(B, H) && std::getenv("TESSERA_FUSED_NORM");
    // RoPE and the KV-cache write in the q/k/v product's epilogue: one launch and one f32 round trip fewer
    // per layer (TESSERA_NO_QKV_ROPE=1 restores the separate kernel, for comparisons).
    const bool qkv_rope =
        gemv && !fused && cuda::gemv_qkv_rope_supported(B, H, hd) && !std::getenv("TESSERA_NO_QKV_ROPE");
    // 9–64 rows: the tensor-core small-M products (residual and SwiGLU in their epilogues) are opt-in
    // (TESSERA_GEMM_SMALL=1): on the H200 they measured 0.4–0.7× cuBLAS's speed at 16–64 rows
    // (bench/results/2026-11-28-h200-evening.md), Janus-Pro-7B's step 9.1 ms against 5.7 ms with cuBLAS.
    const bool small = !gemv && std::getenv("TESSERA_GEMM_SMALL") && cuda::gemm_small_supported(B, QKV, H) &&
                       cuda::gemm_small_supported(B, H, nh * hd) && cuda::gemm_small_supported(B, 2 * I, H) &&
                       cuda::gemm_small_supported(B, H, I);
    // The RMSNorm after a residual-writing GEMV (o_proj → ln2, down_proj → the next layer's ln1) done by that
    // GEMV's last block instead of a launch of its own: opt-in (TESSERA_NORM_EPILOGUE=1), since every block's
    // fence and arrival plus the serial last-block norm measured slower than the separate kernel on the H200
    // (1.5B 682 vs 729 tok/s, 7B 252 vs 275; bench/results/2026-11-28-h200-evening.md).
    const bool norm_epi = gemv && !fused && H % 8 == 0 && (nh * hd) % 8 == 0 && I % 8 == 0 &&
                          std::getenv("TESSERA_NORM_EPILOGUE");
    const float scale = 1.f / std::sqrt(float(hd));
    for (int l = 0; l < L; ++l) {
        const LayerWeights& w = layers[size_t(l)];
        if (fused) {
            TESSERA_TRY(cuda::gemv_norm_bf16(w.qkv, h, w.ln1, cfg.rms_norm_eps, w.qkv_bias, nullptr, qkv,
                                             nullptr, QKV, H, B, s));
        } else {
            if (!norm_epi || l == 0) TESSERA_TRY(cuda::rms_norm(h, w.ln1, B, H, cfg.rms_norm_eps, xn, s));
            if (qkv_rope)
                TESSERA_TRY(cuda::gemv_qkv_rope_bf16(w.qkv, xn, w.qkv_bias, d_pos, d_slot,
                                                     inv_freq.as<float>(), B, nh, nkv, hd, H, opt.max_seq, q,
                                                     k_cache(l), v_cache(l), s));
            else if (gemv)
                TESSERA_TRY(cuda::gemv_bf16(w.qkv, xn, w.qkv_bias, nullptr, qkv, nullptr, B, QKV, H, s));
            else if (small)
                TESSERA_TRY(
                    cuda::gemm_small_bf16(w.qkv, xn, w.qkv_bias, nullptr, qkv, nullptr, B, QKV, H, s));
            else
                TESSERA_TRY(cuda::gemm_bf16(*ctx, w.qkv, xn, qkv, true, B, QKV, H));
        }
        // The bias is already in qkv when a kernel of ours made it (cuBLAS leaves it to rope_kv_write).
        if (!qkv_rope)
            TESSERA_TRY(cuda::rope_kv_write(qkv, gemv || small ? nullptr : w.qkv_bias, d_pos, d_slot,
                                            inv_freq.as<float>(), B, nh, nkv, hd, opt.max_seq, q, k_cache(l),
                                            v_cache(l), s));
        TESSERA_TRY(cuda::attention_decode(q, k_cache(l), v_cache(l), d_pos, d_slot, B, nh, nkv, hd,
                                           opt.max_seq, scale, attn, attn_ws, s));
        if (norm_epi)
            TESSERA_TRY(cuda::gemv_residual_norm_bf16(w.o, attn, h, B, H, nh * hd, w.ln2, cfg.rms_norm_eps,
                                                      xn, norm_counter, s));
        else if (gemv)
            TESSERA_TRY(cuda::gemv_bf16(w.o, attn, nullptr, h, h, nullptr, B, H, nh * hd, s));
        else if (small)
            TESSERA_TRY(cuda::gemm_small_bf16(w.o, attn, nullptr, h, h, nullptr, B, H, nh * hd, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.o, attn, h, true, B, H, nh * hd, 1.f, 1.f));
        if (fused) {
            TESSERA_TRY(cuda::gemv_norm_swiglu_bf16(w.gate_up, h, w.ln2, cfg.rms_norm_eps, act, B, I, H, s));
        } else if (gemv) {
            if (!norm_epi) TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            TESSERA_TRY(cuda::gemv_swiglu_bf16(w.gate_up, xn, act, B, I, H, s));
        } else if (small) {
            TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            TESSERA_TRY(cuda::gemm_small_swiglu_bf16(w.gate_up, xn, act, B, I, H, s));
        } else {
            TESSERA_TRY(cuda::rms_norm(h, w.ln2, B, H, cfg.rms_norm_eps, xn, s));
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.gate_up, xn, gu, true, B, 2 * I, H));
            TESSERA_TRY(cuda::silu_mul(gu, B, I, act, s));
        }
        if (norm_epi && l + 1 < L)  // the last layer's output goes to the final norm (or the caller's hooks)
            TESSERA_TRY(cuda::gemv_residual_norm_bf16(w.down, act, h, B, H, I, layers[size_t(l) + 1].ln1,
                                                      cfg.rms_norm_eps, xn, norm_counter, s));
        else if (gemv)
            TESSERA_TRY(cuda::gemv_bf16(w.down, act, nullptr, h, h, nullptr, B, H, I, s));
        else if (small)
            TESSERA_TRY(cuda::gemm_small_bf16(w.down, act, nullptr, h, h, nullptr, B, H, I, s));
        else
            TESSERA_TRY(cuda::gemm_bf16(*ctx, w.down, act, h, true, B, H, I, 1.f, 1.f));
    }
    return {};
}

Status CudaLlm::Impl::capture(const std::function<Status()>& body, cudaGraphExec_t* exec) {
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
