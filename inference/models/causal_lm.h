// What the runtime needs from a decoder-only language model: its config, a per-session state (KV cache +
// activation scratch) and a forward step. Every model family implements it; the runtime (Session, the
// generation loop) is written once against it.
#pragma once

#include <cstdint>
#include <memory>

#include "io/model_config.h"
#include "tessera/engine.h"
#include "tessera/error.h"

namespace tessera {

class ThreadPool;

// The mutable side of a model run: KV cache for max_seq positions and scratch for up to max_batch tokens
// per forward. Allocated once per session, so a forward step never allocates.
struct ForwardState {
    virtual ~ForwardState() = default;
    int max_seq = 0;
    int max_batch = 0;
};

class CausalLm {
public:
    virtual ~CausalLm() = default;
    virtual const LlmConfig& config() const = 0;

    // Host bytes new_state() will allocate (the memory estimate uses it). threads: the size of the pool
    // forward() will be given (attention keeps one score row per thread).
    virtual uint64_t state_bytes(int max_seq, int max_batch, int threads) const = 0;
    virtual Result<std::unique_ptr<ForwardState>> new_state(int max_seq, int max_batch,
                                                            int threads) const = 0;

    // Runs ids[0, T) at positions [pos, pos + T), appending their keys/values to the state's cache, which
    // must hold positions [0, pos). logits: [T, V] when all_positions, else [1, V] for the last token.
    // Preconditions (checked by the caller, not here, since this is the hot path): 0 < T <= max_batch,
    // pos + T <= max_seq, every id in [0, V), pool.size() <= the threads the state was made for.
    // The CPU models cannot fail here; a GPU model reports device faults as an error.
    virtual Status forward(ForwardState& state, const int32_t* ids, int T, int pos, float* logits,
                           bool all_positions, ThreadPool& pool) const = 0;

    // Models that can draw the next token where their logits are (the GPU: no [V] logits to the host per
    // token) say so for the parameters they support; forward_sample then runs the single token `id` at `pos`
    // and draws the next one with `params` as draw number `step` (models.md §1.10 without the repetition
    // penalty). Same preconditions as forward().
    virtual bool samples_on_device(const SamplingParams& /*params*/) const { return false; }
    virtual Status forward_sample(ForwardState& /*state*/, int32_t /*id*/, int /*pos*/,
                                  const SamplingParams& /*params*/, int /*step*/, int32_t* /*next*/) const {
        return make_error(ErrorCode::Unsupported, "this model samples on the host");
    }

    // Multimodal models (Janus, models.md §7.3-7.5): the same step on input embeddings x [T, H] instead of
    // ids. out: logits as forward() writes them, or with hidden_only the final-normed hidden states
    // ([T, H] or [1, H]). Same preconditions as forward(). Models without it return Unsupported.
    virtual Status forward_embeddings(ForwardState& /*state*/, const float* /*x*/, int /*T*/, int /*pos*/,
                                      float* /*out*/, bool /*all_positions*/, bool /*hidden_only*/,
                                      ThreadPool& /*pool*/) const {
        return make_error(ErrorCode::Unsupported, "this model cannot run on input embeddings");
    }
    // The input embeddings [T, H] of ids (rows of the embedding table as f32); ids in range.
    virtual Status embed(const int32_t* /*ids*/, int /*T*/, float* /*out*/) const {
        return make_error(ErrorCode::Unsupported, "this model does not expose its token embeddings");
    }
};

}  // namespace tessera
