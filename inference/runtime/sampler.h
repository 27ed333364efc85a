// Next-token selection with the semantics of Hugging Face generate (models.md §1.10): repetition penalty
// over the distinct ids seen so far, then greedy argmax, or temperature -> top-k -> top-p -> a multinomial
// draw. The generator is a seeded mt19937_64 (fully specified by the C++ standard), so a seed gives the same
// tokens on every platform. Buffers are sized in configure(); sample() neither allocates nor throws.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tessera/engine.h"
#include "tessera/error.h"

namespace tessera {

// z -> z / penalty if z > 0 else z · penalty, once for each id in ids[0, n) (the ids must be distinct).
void apply_repetition_penalty(float* logits, const int32_t* ids, size_t n, float penalty);

class Sampler {
public:
    // Checks the parameters (temperature > 0 unless greedy, top_p in (0, 1], top_k >= 0, penalty > 0) and
    // sizes the work buffers for `vocab` logits; seeds the generator.
    Status configure(const SamplingParams& params, int vocab);

    // Picks a token from logits[vocab], which it modifies (penalty, temperature). seen_ids: the distinct
    // ids the repetition penalty applies to.
    int32_t sample(float* logits, const int32_t* seen_ids, size_t n_seen);

    const SamplingParams& params() const { return m_params; }

private:
    double uniform();  // [0, 1) from 53 random bits

    SamplingParams m_params;
    int m_vocab = 0;
    std::mt19937_64 m_rng;
    std::vector<int32_t> m_order;  // candidate ids
    std::vector<float> m_values;   // top-k threshold search, then candidate weights
};

}  // namespace tessera
