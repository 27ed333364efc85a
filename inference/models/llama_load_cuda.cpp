// The GPU Llama model's memory: the estimate checked before loading, the device layout of weights, KV cache
// and activations, the checkpoint upload (bf16 through pinned staging) and random weights for benchmarks.
// The forward passes are in llama_cuda.cpp, the GGUF block layers in llama_quant_cuda.cpp.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/attention_prefill.h"
#include "backend/cuda/gemm_small.h"
#include "core/dtype.h"
#include "models/llama_cuda_impl.h"

namespace tessera {

namespace llama_gpu {

// Prefill attention through the fused kernel, which needs no [nh, chunk, max_seq] score and probability
// scratch; TESSERA_NO_FLASH_PREFILL=1 keeps the cuBLAS path (and its scratch) for comparison. Read once, so
// the scratch sized at allocation always matches the path taken later.
bool flash_prefill(int hd) {
    static const bool off = std::getenv("TESSERA_NO_FLASH_PREFILL") != nullptr;
    return !off && cuda::attention_prefill_supported(hd);
}

}  // namespace llama_gpu

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
        uint64_t(c.num_hidden_layers) * sizeof(cuda::PersistentLayer) + (1ull << 20) +  // persistent decode
        (64ull << 20);  // cuBLAS workspace and alignment
    return e;
}

Status CudaLlm::Impl::init_shapes(const LlmConfig& c, const CudaLlmOptions& o, const Checkpoint* ck,
                                  bool shared) {
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
    CudaMemoryEstimate e = ck ? CudaLlm::estimate(c, o, *ck) : CudaLlm::estimate(c, o);
    if (shared) e.weights = 0;
    if (e.total() > info.free_bytes)
        return make_error(ErrorCode::OutOfMemory,
                          "model needs about " + std::to_string(e.total() >> 20) +
                              " MiB of GPU memory (weights " + std::to_string(e.weights >> 20) +
                              " MiB, KV cache " + std::to_string(e.kv_cache >> 20) + " MiB) but " +
                              info.name + " has " + std::to_string(info.free_bytes >> 20) +
                              " MiB free; reduce the context length or batch, or use the CPU");
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
    TESSERA_ASSIGN(DeviceBuffer buffer, DeviceBuffer::allocate(offset, "model weights"));
    weights = std::make_shared<DeviceBuffer>(std::move(buffer));
    for (size_t i = 0; i < regions.size(); ++i)
        *regions[i].first = static_cast<std::byte*>(weights->data()) + offsets[i];
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
    part(reinterpret_cast<void**>(&sq_partials), size_t(cuda::kGemvMaxBatch) * H * 4);
    // Batch-1 decode as one persistent kernel (opt-in): its arguments and launch plan are made once, here.
    persist = false;
    if ((opt.persistent_decode || std::getenv("TESSERA_PERSIST")) && !quant) {
        cuda::PersistentDecode& a = persist_args;
        a.L = L;
        a.H = H;
        a.I = I;
        a.nh = nh;
        a.nkv = nkv;
        a.hd = hd;
        a.max_seq = opt.max_seq;
        a.eps = cfg.rms_norm_eps;
        a.scale = 1.f / std::sqrt(float(hd));
        persist = cuda::persistent_decode_prepare(a).ok();
    }
    if (persist) {
        part(&persist_ws, cuda::persistent_decode_workspace(ctx->device(), nh, hd));
        part(reinterpret_cast<void**>(&persist_layers), size_t(L) * sizeof(cuda::PersistentLayer));
    }
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
    if (persist) {
        std::vector<cuda::PersistentLayer> table(static_cast<size_t>(L));
        for (int l = 0; l < L; ++l) {
            const LayerWeights& w = layers[size_t(l)];
            table[size_t(l)] = {w.ln1,     w.qkv,  w.qkv_bias, w.o,       w.ln2,
                                w.gate_up, w.down, k_cache(l), v_cache(l)};
        }
        TESSERA_TRY(check(
            cudaMemcpy(persist_layers, table.data(), table.size() * sizeof(table[0]), cudaMemcpyHostToDevice),
            "upload the layer table"));
        cuda::PersistentDecode& a = persist_args;
        a.layers = persist_layers;
        a.h = h;
        a.q = q;
        a.attn = attn;
        a.act = act;
        a.workspace = persist_ws;
        a.pos = d_pos;
        a.slot = d_slot;
    }
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
    persist_args.inv_freq = inv_freq.as<float>();
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

Result<std::unique_ptr<CudaLlm>> CudaLlm::load(const LlmConfig& config, const Checkpoint& checkpoint,
                                               const CudaLlmOptions& options) {
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init_shapes(config, options, &checkpoint));
    TESSERA_TRY(impl->allocate_weights(&checkpoint));
    TESSERA_TRY(impl->allocate_runtime());
    TESSERA_TRY(impl->upload(checkpoint));
    return std::unique_ptr<CudaLlm>(new CudaLlm(std::move(impl)));
}

Result<std::unique_ptr<CudaLlm>> CudaLlm::share_weights(const CudaLlm& base, const CudaLlmOptions& options) {
    const Impl& b = *base.m_impl;
    if (b.quant)
        return make_error(ErrorCode::Unsupported,
                          "a second model over GGUF block-quantized weights is not supported on the GPU");
    if (options.device != b.opt.device)
        return make_error(ErrorCode::InvalidArgument, "share_weights: the weights are on device " +
                                                          std::to_string(b.opt.device) + ", not " +
                                                          std::to_string(options.device));
    // The checkpoint names and RoPE rounding belong to the weights, not to this model's sizes.
    CudaLlmOptions o = options;
    o.name_prefix = b.opt.name_prefix;
    o.bf16_rope_frequencies = b.opt.bf16_rope_frequencies;
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init_shapes(b.cfg, o, nullptr, /*shared=*/true));
    impl->weights = b.weights;
    impl->embed = b.embed;
    impl->norm = b.norm;
    impl->lm_head = b.lm_head;
    impl->lm_head_q = b.lm_head_q;
    impl->layers = b.layers;
    TESSERA_TRY(impl->allocate_runtime());
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

}  // namespace tessera
