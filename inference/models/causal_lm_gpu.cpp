// CudaLlm adapted to CausalLm: each session's ForwardState owns one KV-cache slot of the GPU model. A
// single new token goes through the captured decode graph; longer runs through prefill.
#include "models/causal_lm_gpu.h"

#include <algorithm>
#include <mutex>
#include <vector>

#ifdef TESSERA_HAVE_CUDA
#include "backend/cuda/device.h"
#include "models/llama_cuda.h"
#endif

namespace tessera {

#ifdef TESSERA_HAVE_CUDA

namespace {

class CudaCausalLm;

struct CudaState final : ForwardState {
    const CudaCausalLm* owner = nullptr;
    int slot = 0;
    ~CudaState() override;
};

class CudaCausalLm final : public CausalLm {
public:
    CudaCausalLm(std::unique_ptr<CudaLlm> llm, const CudaLmOptions& options)
        : m_llm(std::move(llm)), m_options(options), m_slot_used(size_t(options.sessions), false) {}

    const LlmConfig& config() const override { return m_llm->config(); }

    // The GPU memory was reserved at load; a session takes only a slot.
    uint64_t state_bytes(int, int, int) const override { return sizeof(CudaState); }

    Result<std::unique_ptr<ForwardState>> new_state(int max_seq, int, int) const override {
        if (max_seq > m_options.max_seq)
            return make_error(ErrorCode::InvalidArgument, "a context of " + std::to_string(max_seq) +
                                                              " tokens exceeds the " +
                                                              std::to_string(m_options.max_seq) +
                                                              " this model was loaded on the GPU with");
        std::lock_guard<std::mutex> lock(m_mutex);
        for (size_t i = 0; i < m_slot_used.size(); ++i) {
            if (m_slot_used[i]) continue;
            m_slot_used[i] = true;
            auto state = std::make_unique<CudaState>();
            state->owner = this;
            state->slot = int(i);
            state->max_seq = max_seq;
            state->max_batch = m_options.prefill_chunk;  // the session prefills in chunks of this size
            return std::unique_ptr<ForwardState>(std::move(state));
        }
        return make_error(ErrorCode::OutOfMemory,
                          "all " + std::to_string(m_slot_used.size()) +
                              " GPU sessions of this model are in use; close one first");
    }

    Status forward(ForwardState& state, const int32_t* ids, int T, int pos, float* logits, bool all_positions,
                   ThreadPool&) const override {
        const int slot = static_cast<CudaState&>(state).slot;
        if (T == 1 && !all_positions) {
            int32_t next = 0;
            return m_llm->decode(1, ids, &pos, &slot, &next, logits);
        }
        return m_llm->prefill(slot, ids, T, pos, logits, all_positions);
    }

    Status forward_embeddings(ForwardState& state, const float* x, int T, int pos, float* out,
                              bool all_positions, bool hidden_only, ThreadPool&) const override {
        return m_llm->prefill_embeddings(static_cast<CudaState&>(state).slot, x, T, pos, out, all_positions,
                                         hidden_only);
    }

    Status embed(const int32_t* ids, int T, float* out) const override {
        return m_llm->embed_rows(ids, T, out);
    }

    // The device sampler has no repetition penalty (it would need the seen ids on the device).
    bool samples_on_device(const SamplingParams& params) const override {
        return params.repetition_penalty == 1.0f;
    }

    Status forward_sample(ForwardState& state, int32_t id, int pos, const SamplingParams& params, int step,
                          int32_t* next) const override {
        const int slot = static_cast<CudaState&>(state).slot;
        CudaSampling s;
        s.temperature = params.greedy ? 0.f : params.temperature;
        s.top_k = params.top_k;
        s.top_p = params.top_p;
        s.seed = params.seed;
        s.step = step;
        return m_llm->decode_sampled(1, &id, &pos, &slot, &s, next);
    }

    void release(int slot) const {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_slot_used[size_t(slot)] = false;
    }

private:
    std::unique_ptr<CudaLlm> m_llm;
    CudaLmOptions m_options;
    mutable std::mutex m_mutex;
    mutable std::vector<bool> m_slot_used;
};

CudaState::~CudaState() {
    if (owner) owner->release(slot);
}

CudaLlmOptions to_llm_options(const CudaLmOptions& o) {
    CudaLlmOptions l;
    l.device = o.device;
    l.max_batch = o.sessions;
    l.max_seq = o.max_seq;
    l.prefill_chunk = std::min(o.prefill_chunk, o.max_seq);
    return l;
}

}  // namespace

int cuda_device_count() {
    return cuda::device_count();
}

std::string cuda_device_description(int device) {
    auto info = cuda::device_info(device);
    if (!info.ok()) return {};
    return info->name + " · " + std::to_string(info->total_bytes >> 30) + " GiB";
}

uint64_t cuda_memory_estimate(const LlmConfig& config, const CudaLmOptions& options) {
    return CudaLlm::estimate(config, to_llm_options(options)).total();
}

uint64_t cuda_free_memory(int device) {
    auto info = cuda::device_info(device);
    return info.ok() ? info->free_bytes : 0;
}

Result<std::unique_ptr<CausalLm>> load_cuda_lm(const LlmConfig& config, const Checkpoint& checkpoint,
                                               const CudaLmOptions& options) {
    if (options.sessions < 1)
        return make_error(ErrorCode::InvalidArgument, "GPU model needs at least one session");
    TESSERA_ASSIGN(auto llm, CudaLlm::load(config, checkpoint, to_llm_options(options)));
    return std::unique_ptr<CausalLm>(new CudaCausalLm(std::move(llm), options));
}

uint64_t cuda_shared_memory_estimate(const LlmConfig& config, const CudaLmOptions& options) {
    CudaMemoryEstimate e = CudaLlm::estimate(config, to_llm_options(options));
    e.weights = 0;
    return e.total();
}

Result<std::unique_ptr<CausalLm>> cuda_lm_sharing(const CudaLlm& base, const CudaLmOptions& options) {
    if (options.sessions < 1)
        return make_error(ErrorCode::InvalidArgument, "GPU model needs at least one session");
    TESSERA_ASSIGN(auto llm, CudaLlm::share_weights(base, to_llm_options(options)));
    return std::unique_ptr<CausalLm>(new CudaCausalLm(std::move(llm), options));
}

#else  // no CUDA backend in this build

int cuda_device_count() {
    return 0;
}
std::string cuda_device_description(int) {
    return {};
}
uint64_t cuda_memory_estimate(const LlmConfig&, const CudaLmOptions&) {
    return 0;
}
uint64_t cuda_free_memory(int) {
    return 0;
}

Result<std::unique_ptr<CausalLm>> load_cuda_lm(const LlmConfig&, const Checkpoint&, const CudaLmOptions&) {
    return make_error(ErrorCode::Unsupported,
                      "this build of Tessera has no CUDA backend (built without the CUDA toolkit)");
}

uint64_t cuda_shared_memory_estimate(const LlmConfig&, const CudaLmOptions&) {
    return 0;
}

Result<std::unique_ptr<CausalLm>> cuda_lm_sharing(const CudaLlm&, const CudaLmOptions&) {
    return make_error(ErrorCode::Unsupported,
                      "this build of Tessera has no CUDA backend (built without the CUDA toolkit)");
}

#endif

}  // namespace tessera
