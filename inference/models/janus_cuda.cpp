// Janus-Pro image-token generation on the GPU (see janus_cuda.h). Per step, for the 2·P rows:
//   input:  e = gen_aligner(gen_embed[k])      Linear(8→D) → GELU → Linear(D→D), bf16 like the reference
//   layers: the Llama decoder (CudaLlm) at position T + i, final RMSNorm
//   output: g = vision_head(GELU(output_mlp_projector(h)))  → guidance sampler → k for both rows of a pair
#include "models/janus_cuda.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/device.h"
#include "core/dtype.h"

namespace tessera {

using cuda::bf16_t;
using cuda::check;
using cuda::DeviceBuffer;

struct CudaJanusGen::Impl {
    LlmConfig cfg;
    JanusGenShapes shapes;
    CudaJanusOptions opt;
    std::unique_ptr<CudaLlm> llm;
    cuda::CudaContext* ctx = nullptr;
    int D = 0, Vi = 0, E = 0, R = 0;  // hidden, image vocabulary, code dim, max rows (2·max_images)

    DeviceBuffer weights;
    bf16_t* gen_embed = nullptr;  // [Vi, E]  gen_embed.weight
    bf16_t* al0_w = nullptr;      // [D, E]   gen_aligner.layers.0.weight
    bf16_t* al0_b = nullptr;      // [D]      gen_aligner.layers.0.bias
    bf16_t* al2_w = nullptr;      // [D, D]   gen_aligner.layers.2.weight
    bf16_t* al2_b = nullptr;      // [D]      gen_aligner.layers.2.bias
    bf16_t* proj_w = nullptr;     // [D, D]   gen_head.output_mlp_projector.weight
    bf16_t* proj_b = nullptr;     // [D]      gen_head.output_mlp_projector.bias
    bf16_t* head_w = nullptr;     // [Vi, D]  gen_head.vision_head.weight
    bf16_t* head_b = nullptr;     // [Vi]     gen_head.vision_head.bias

    DeviceBuffer scratch;
    bf16_t* e8 = nullptr;           // [R, E]
    float* tmp_f32 = nullptr;       // [R, D]
    bf16_t* tmp_bf16 = nullptr;     // [R, D]
    float* logits = nullptr;        // [R, Vi]
    float* work = nullptr;          // [R/2, Vi]
    int32_t* row_tokens = nullptr;  // [R]
    int32_t* codes = nullptr;       // [R/2, max_seq]
    cuda::CfgSampleParams* params = nullptr;

    JanusGenTiming timing;
    // Completion of the last two token steps, for progress reports that do not drain the stream.
    cudaEvent_t step_done[2] = {nullptr, nullptr};

    ~Impl() {
        for (cudaEvent_t e : step_done)
            if (e) cudaEventDestroy(e);
    }

    Status init(const LlmConfig& c, const JanusGenShapes& s, const CudaJanusOptions& o, const Checkpoint* ck,
                uint64_t seed);
    Status allocate();
    Status upload(const Checkpoint& ck);
    Status randomize(uint64_t seed);
    Status input_hook(int rows, cudaStream_t s);
    Status output_hook(int rows, cudaStream_t s);
    Status run_prompt(const JanusGenRequest& r);
};

namespace {

size_t align256(size_t v) {
    return (v + 255) / 256 * 256;
}

CudaLlmOptions llm_options(const CudaJanusOptions& o) {
    CudaLlmOptions l;
    l.device = o.device;
    l.max_batch = 2 * o.max_images;
    l.max_seq = o.max_seq;
    l.prefill_chunk = std::min(o.max_seq, 1024);
    l.use_graphs = o.use_graphs;
    l.name_prefix = "language_model.";
    l.bf16_rope_frequencies = true;
    return l;
}

uint64_t gen_weight_elems(int D, const JanusGenShapes& s) {
    return uint64_t(s.image_vocab) * s.code_dim + uint64_t(D) * s.code_dim + 3ull * D + 2ull * D * D +
           uint64_t(s.image_vocab) * D + uint64_t(s.image_vocab);
}

}  // namespace

CudaMemoryEstimate CudaJanusGen::estimate(const LlmConfig& llm, const JanusGenShapes& shapes,
                                          const CudaJanusOptions& o) {
    CudaMemoryEstimate e = CudaLlm::estimate(llm, llm_options(o));
    const uint64_t R = 2ull * o.max_images, D = uint64_t(llm.hidden_size), Vi = uint64_t(shapes.image_vocab);
    e.weights += gen_weight_elems(llm.hidden_size, shapes) * 2 + 16 * 256;
    e.scratch += R * (shapes.code_dim * 2 + D * 6 + Vi * 4 + Vi * 2 + 4 + uint64_t(o.max_seq) * 2) + 4096;
    return e;
}

Status CudaJanusGen::Impl::init(const LlmConfig& c, const JanusGenShapes& s, const CudaJanusOptions& o,
                                const Checkpoint* ck, uint64_t seed) {
    cfg = c;
    shapes = s;
    opt = o;
    D = c.hidden_size;
    Vi = s.image_vocab;
    E = s.code_dim;
    R = 2 * o.max_images;
    if (o.max_images < 1 || Vi < 1 || E < 1)
        return make_error(ErrorCode::InvalidArgument,
                          "Janus GPU generator: images, image vocabulary and code size must be positive");
    // The language model checks the whole estimate (its own part plus ours) against free memory first.
    const CudaMemoryEstimate need = CudaJanusGen::estimate(c, s, o);
    TESSERA_ASSIGN(cuda::DeviceInfo info, cuda::device_info(o.device));
    if (need.total() > info.free_bytes)
        return make_error(ErrorCode::OutOfMemory,
                          "Janus image generation needs about " + std::to_string(need.total() >> 20) +
                              " MiB of GPU memory (" + std::to_string(o.max_images) + " images) but " +
                              info.name + " has " + std::to_string(info.free_bytes >> 20) +
                              " MiB free; generate fewer images or use the CPU");
    if (ck) {
        TESSERA_ASSIGN(llm, CudaLlm::load(c, *ck, llm_options(o)));
    } else {
        TESSERA_ASSIGN(llm, CudaLlm::create_random(c, llm_options(o), seed));
    }
    ctx = static_cast<cuda::CudaContext*>(llm->context());
    TESSERA_TRY(allocate());
    if (ck) return upload(*ck);
    return randomize(seed ^ 0x5eed);
}

Status CudaJanusGen::Impl::allocate() {
    const size_t sizes[] = {size_t(Vi) * E, size_t(D) * E, size_t(D),      size_t(D) * D, size_t(D),
                            size_t(D) * D,  size_t(D),     size_t(Vi) * D, size_t(Vi)};
    bf16_t** ptrs[] = {&gen_embed, &al0_w, &al0_b, &al2_w, &al2_b, &proj_w, &proj_b, &head_w, &head_b};
    size_t total = 0;
    for (size_t n : sizes) total += align256(n * 2);
    TESSERA_ASSIGN(weights, DeviceBuffer::allocate(total, "Janus generation weights"));
    size_t off = 0;
    for (size_t i = 0; i < std::size(sizes); ++i) {
        *ptrs[i] = reinterpret_cast<bf16_t*>(static_cast<std::byte*>(weights.data()) + off);
        off += align256(sizes[i] * 2);
    }
    const size_t P = size_t(R / 2);
    const size_t parts[] = {
        size_t(R) * E * 2, size_t(R) * D * 4, size_t(R) * D * 2,   size_t(R) * Vi * 4,
        P * Vi * 4,        size_t(R) * 4,     P * opt.max_seq * 4, sizeof(cuda::CfgSampleParams)};
    void** pp[] = {reinterpret_cast<void**>(&e8),       reinterpret_cast<void**>(&tmp_f32),
                   reinterpret_cast<void**>(&tmp_bf16), reinterpret_cast<void**>(&logits),
                   reinterpret_cast<void**>(&work),     reinterpret_cast<void**>(&row_tokens),
                   reinterpret_cast<void**>(&codes),    reinterpret_cast<void**>(&params)};
    total = 0;
    for (size_t n : parts) total += align256(n);
    TESSERA_ASSIGN(scratch, DeviceBuffer::allocate(total, "Janus generation buffers"));
    off = 0;
    for (size_t i = 0; i < std::size(parts); ++i) {
        *pp[i] = static_cast<std::byte*>(scratch.data()) + off;
        off += align256(parts[i]);
    }
    return check(cudaMemset(scratch.data(), 0, total), "clear Janus buffers");
}

Status CudaJanusGen::Impl::upload(const Checkpoint& ck) {
    auto put = [&](const std::string& name, const Shape& shape, bf16_t* dst) -> Status {
        TESSERA_ASSIGN(Tensor t, ck.get(name, shape));
        std::vector<uint16_t> host(size_t(t.numel()));
        for (int64_t i = 0; i < t.numel(); ++i) {
            switch (t.dtype) {
                case DType::BF16:
                    host[size_t(i)] = t.as<const uint16_t>()[i];
                    break;
                case DType::F16:
                    host[size_t(i)] = f32_to_bf16(f16_to_f32(t.as<const uint16_t>()[i]));
                    break;
                case DType::F32:
                    host[size_t(i)] = f32_to_bf16(t.as<const float>()[i]);
                    break;
                default:
                    return make_error(ErrorCode::DType, name + ": not a float tensor");
            }
        }
        return check(cudaMemcpy(dst, host.data(), host.size() * 2, cudaMemcpyHostToDevice),
                     "upload Janus weights");
    };
    const int64_t d = D, vi = Vi, e = E;
    TESSERA_TRY(put("gen_embed.weight", {vi, e}, gen_embed));
    TESSERA_TRY(put("gen_aligner.layers.0.weight", {d, e}, al0_w));
    TESSERA_TRY(put("gen_aligner.layers.0.bias", {d}, al0_b));
    TESSERA_TRY(put("gen_aligner.layers.2.weight", {d, d}, al2_w));
    TESSERA_TRY(put("gen_aligner.layers.2.bias", {d}, al2_b));
    TESSERA_TRY(put("gen_head.output_mlp_projector.weight", {d, d}, proj_w));
    TESSERA_TRY(put("gen_head.output_mlp_projector.bias", {d}, proj_b));
    TESSERA_TRY(put("gen_head.vision_head.weight", {vi, d}, head_w));
    TESSERA_TRY(put("gen_head.vision_head.bias", {vi}, head_b));
    return {};
}

Status CudaJanusGen::Impl::randomize(uint64_t seed) {
    const cudaStream_t s = ctx->stream();
    const float wd = 1.f / std::sqrt(float(D)), we = 1.f / std::sqrt(float(E));
    TESSERA_TRY(cuda::fill_random_bf16(gen_embed, int64_t(Vi) * E, seed++, 1.f, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(al0_w, int64_t(D) * E, seed++, we, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(al0_b, D, seed++, 0.1f, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(al2_w, int64_t(D) * D, seed++, wd, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(al2_b, D, seed++, 0.1f, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(proj_w, int64_t(D) * D, seed++, wd, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(proj_b, D, seed++, 0.1f, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(head_w, int64_t(Vi) * D, seed++, wd, 0.f, s));
    TESSERA_TRY(cuda::fill_random_bf16(head_b, Vi, seed++, 0.1f, 0.f, s));
    return ctx->synchronize();
}

// gen_aligner(gen_embed[row_tokens]) → the residual stream of the language model.
Status CudaJanusGen::Impl::input_hook(int rows, cudaStream_t s) {
    TESSERA_TRY(cuda::embedding_bf16(gen_embed, row_tokens, rows, E, Vi, e8, s));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, al0_w, e8, tmp_f32, true, rows, D, E));
    TESSERA_TRY(cuda::bias_act(tmp_f32, al0_b, rows, D, true, nullptr, tmp_bf16, s));
    float* h = llm->hidden_input();
    TESSERA_TRY(cuda::gemm_bf16(*ctx, al2_w, tmp_bf16, h, true, rows, D, D));
    return cuda::bias_act(h, al2_b, rows, D, false, h, nullptr, s);
}

// gen_head on the final-normed hidden state, then one guided draw per pair.
Status CudaJanusGen::Impl::output_hook(int rows, cudaStream_t s) {
    TESSERA_TRY(cuda::gemm_bf16(*ctx, proj_w, llm->final_hidden(), tmp_f32, true, rows, D, D));
    TESSERA_TRY(cuda::bias_act(tmp_f32, proj_b, rows, D, true, nullptr, tmp_bf16, s));
    TESSERA_TRY(cuda::gemm_bf16(*ctx, head_w, tmp_bf16, logits, true, rows, Vi, D));
    TESSERA_TRY(cuda::bias_act(logits, head_b, rows, Vi, false, logits, nullptr, s));
    return cuda::sample_cfg(logits, rows / 2, Vi, params, row_tokens, codes, work, s);
}

Status CudaJanusGen::Impl::run_prompt(const JanusGenRequest& r) {
    const int T = int(r.cond.size());
    if (r.count < 1 || r.count > opt.max_images)
        return make_error(ErrorCode::InvalidArgument, "image count " + std::to_string(r.count) +
                                                          " is outside 1.." + std::to_string(opt.max_images));
    if (T < 1 || r.uncond.size() != r.cond.size())
        return make_error(ErrorCode::InvalidArgument,
                          "the conditional and unconditional prompts must be non-empty and equally long");
    if (r.image_tokens < 1 || T + r.image_tokens > opt.max_seq)
        return make_error(ErrorCode::InvalidArgument,
                          "prompt of " + std::to_string(T) + " tokens plus " +
                              std::to_string(r.image_tokens) + " image tokens exceeds the " +
                              std::to_string(opt.max_seq) + " positions allocated");
    // Only two distinct prompts: run each once and copy its cache to the other rows of its kind.
    TESSERA_TRY(llm->prefill_hidden(0, r.cond.data(), T, 0, 0));
    TESSERA_TRY(llm->prefill_hidden(1, r.uncond.data(), T, 0, 1));
    for (int p = 1; p < r.count; ++p) {
        TESSERA_TRY(llm->copy_kv(0, 2 * p, T));
        TESSERA_TRY(llm->copy_kv(1, 2 * p + 1, T));
        TESSERA_TRY(llm->copy_hidden_row(0, 2 * p));
        TESSERA_TRY(llm->copy_hidden_row(1, 2 * p + 1));
    }
    cuda::CfgSampleParams prm{r.cfg_weight, r.temperature, r.seed, 0, r.image_tokens};
    TESSERA_TRY(check(cudaMemcpyAsync(params, &prm, sizeof prm, cudaMemcpyHostToDevice, ctx->stream()),
                      "upload sampler"));
    // The first image token comes from the prompt's last position.
    TESSERA_TRY(output_hook(2 * r.count, ctx->stream()));
    return ctx->synchronize();
}

CudaJanusGen::CudaJanusGen(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
CudaJanusGen::~CudaJanusGen() = default;

Result<std::unique_ptr<CudaJanusGen>> CudaJanusGen::load(const LlmConfig& llm, const JanusGenShapes& shapes,
                                                         const Checkpoint& checkpoint,
                                                         const CudaJanusOptions& options) {
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init(llm, shapes, options, &checkpoint, 0));
    return std::unique_ptr<CudaJanusGen>(new CudaJanusGen(std::move(impl)));
}

Result<std::unique_ptr<CudaJanusGen>> CudaJanusGen::create_random(const LlmConfig& llm,
                                                                  const JanusGenShapes& shapes,
                                                                  const CudaJanusOptions& options,
                                                                  uint64_t seed) {
    auto impl = std::make_unique<Impl>();
    TESSERA_TRY(impl->init(llm, shapes, options, nullptr, seed));
    return std::unique_ptr<CudaJanusGen>(new CudaJanusGen(std::move(impl)));
}

Status CudaJanusGen::generate(const JanusGenRequest& r, std::vector<int32_t>& codes,
                              const std::function<bool(int)>& progress) {
    Impl& m = *m_impl;
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    TESSERA_TRY(m.run_prompt(r));
    const auto t1 = clock::now();
    if (progress && !progress(1)) return make_error(ErrorCode::Cancelled, "image generation cancelled");
    const int rows = 2 * r.count, T = int(r.cond.size());
    // CudaLlm keeps one captured graph per batch size, and these hooks depend only on the batch size.
    DecodeHooks hooks;
    hooks.input = [&m, rows](cudaStream_t s) { return m.input_hook(rows, s); };
    hooks.output = [&m, rows](cudaStream_t s) { return m.output_hook(rows, s); };
    std::vector<int32_t> pos(static_cast<size_t>(rows)), slot(static_cast<size_t>(rows));
    for (int b = 0; b < rows; ++b) slot[size_t(b)] = b;
    if (progress && !m.step_done[0])
        for (cudaEvent_t& e : m.step_done)
            TESSERA_TRY(check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate"));
    // Progress is reported one step behind: step i is queued before the host waits for step i − 1, so the GPU
    // never idles while the report (and a possible cancel) is handled. A cancel takes effect within a step.
    auto cancelled = [&m]() {
        (void)m.ctx->synchronize();  // the step in flight finishes before its buffers can be reused
        return make_error(ErrorCode::Cancelled, "image generation cancelled");
    };
    for (int i = 1; i < r.image_tokens; ++i) {
        std::fill(pos.begin(), pos.end(), T + i - 1);  // the token drawn at step i - 1 enters at T + i - 1
        TESSERA_TRY(m.llm->decode_hooked(rows, pos.data(), slot.data(), hooks));
        if (!progress) continue;
        TESSERA_TRY(check(cudaEventRecord(m.step_done[i & 1], m.ctx->stream()), "cudaEventRecord"));
        if (i == 1) continue;
        TESSERA_TRY(check(cudaEventSynchronize(m.step_done[(i - 1) & 1]), "image token step"));
        if (!progress(i)) return cancelled();
    }
    if (progress && r.image_tokens > 1) {
        TESSERA_TRY(m.ctx->synchronize());
        if (!progress(r.image_tokens)) return make_error(ErrorCode::Cancelled, "image generation cancelled");
    }
    codes.assign(size_t(r.count) * r.image_tokens, 0);
    TESSERA_TRY(check(cudaMemcpy2DAsync(codes.data(), size_t(r.image_tokens) * 4, m.codes,
                                        size_t(r.image_tokens) * 4, size_t(r.image_tokens) * 4,
                                        size_t(r.count), cudaMemcpyDeviceToHost, m.ctx->stream()),
                      "download image tokens"));
    TESSERA_TRY(m.ctx->synchronize());
    m.timing.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    m.timing.token_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return {};
}

Status CudaJanusGen::head_logits_after_prompt(const JanusGenRequest& r, std::vector<float>& out) {
    Impl& m = *m_impl;
    TESSERA_TRY(m.run_prompt(r));
    out.resize(size_t(2) * r.count * m.Vi);
    TESSERA_TRY(check(cudaMemcpy(out.data(), m.logits, out.size() * 4, cudaMemcpyDeviceToHost),
                      "download head logits"));
    return {};
}

const JanusGenTiming& CudaJanusGen::last_timing() const {
    return m_impl->timing;
}
std::string CudaJanusGen::device_name() const {
    return m_impl->llm->device_name();
}
CudaLlm& CudaJanusGen::llm() {
    return *m_impl->llm;
}

}  // namespace tessera
