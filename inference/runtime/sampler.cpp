// Sampling (see sampler.h), models.md §1.10.
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cpu/ops.h"

namespace tessera {

void apply_repetition_penalty(float* logits, const int32_t* ids, size_t n, float penalty) {
    if (penalty == 1.0f) return;
    for (size_t i = 0; i < n; ++i) {
        float& z = logits[ids[i]];
        z = z > 0.0f ? z / penalty : z * penalty;
    }
}

Status Sampler::configure(const SamplingParams& p, int vocab) {
    auto bad = [](const std::string& what) { return make_error(ErrorCode::InvalidArgument, "sampling: " + what); };
    if (vocab <= 0) return bad("empty vocabulary");
    if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty))
        return bad("repetition penalty must be a positive number, got " + std::to_string(p.repetition_penalty));
    if (!p.greedy) {
        if (!(p.temperature > 0.0f) || !std::isfinite(p.temperature))
            return bad("temperature must be positive (use greedy decoding for 0), got " + std::to_string(p.temperature));
        if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p must be in (0, 1], got " + std::to_string(p.top_p));
        if (p.top_k < 0) return bad("top_k must be >= 0, got " + std::to_string(p.top_k));
    }
    m_params = p;
    m_vocab = vocab;
    m_rng.seed(p.seed);
    m_order.assign(size_t(vocab), 0);
    m_values.assign(size_t(vocab), 0.0f);
    return {};
}

double Sampler::uniform() { return double(m_rng() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(float* z, const int32_t* seen_ids, size_t n_seen) {
    const SamplingParams& p = m_params;
    const int64_t V = m_vocab;
    apply_repetition_penalty(z, seen_ids, n_seen, p.repetition_penalty);
    if (p.greedy) return int32_t(std::max<int64_t>(cpu::argmax(z, V), 0));  // first maximum, like torch.argmax

    const float inv_t = 1.0f / p.temperature;
    if (p.temperature != 1.0f)
        for (int64_t i = 0; i < V; ++i) z[i] *= inv_t;

    // Top-k keeps every logit >= the k-th largest (ties at the threshold survive, as in HF).
    int64_t n = 0;
    if (p.top_k > 0 && p.top_k < V) {
        std::copy(z, z + V, m_values.begin());
        auto kth = m_values.begin() + (p.top_k - 1);
        std::nth_element(m_values.begin(), kth, m_values.end(), [](float a, float b) { return a > b; });
        const float threshold = *kth;
        for (int64_t i = 0; i < V; ++i)
            if (z[i] >= threshold) m_order[size_t(n++)] = int32_t(i);
    } else {
        for (int64_t i = 0; i < V; ++i) m_order[size_t(i)] = int32_t(i);
        n = V;
    }

    if (n == 0) return int32_t(std::max<int64_t>(cpu::argmax(z, V), 0));  // NaN logits: nothing comparable

    // Softmax weights of the candidates (max subtracted); top-p needs them in descending order.
    int32_t* order = m_order.data();
    if (p.top_p < 1.0f)
        std::sort(order, order + n, [z](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, z[order[j]]);
    double total = 0.0;
    for (int64_t j = 0; j < n; ++j) {
        const float w = std::exp(z[order[j]] - mx);
        m_values[size_t(j)] = w;
        total += double(w);
    }
    if (p.top_p < 1.0f) {
        // Keep token j while the mass strictly above it is < top_p: the smallest prefix reaching top_p
        // (HF removes from the bottom while the ascending cumulative mass is <= 1 - top_p); at least one.
        double above = 0.0;
        int64_t keep = 0;
        while (keep < n && above / total < double(p.top_p)) above += double(m_values[size_t(keep++)]);
        n = std::max<int64_t>(keep, 1);
        total = above > 0.0 ? above : double(m_values[0]);
    }

    // Multinomial draw over the (renormalised) kept weights.
    const double u = uniform() * total;
    double acc = 0.0;
    for (int64_t j = 0; j < n; ++j) {
        acc += double(m_values[size_t(j)]);
        if (u < acc) return order[j];
    }
    return order[n - 1];  // u landed on the rounding slack at the very top
}

}  // namespace tessera
