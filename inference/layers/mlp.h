// The SwiGLU feed-forward block of the dense LLMs (models.md §1.5): down(silu(gate(x)) ⊙ up(x)).
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "layers/weights.h"

namespace tessera {

// Weight names relative to "model.layers.N.mlp.".
struct MlpWeights {
    Weight gate_proj;  // [I, H]
    Weight up_proj;    // [I, H]
    Weight down_proj;  // [H, I]
};

Status load_mlp(WeightLoader& loader, const std::string& prefix, int hidden, int intermediate, MlpWeights& out);

// out[T, H] = down_proj(silu(gate_proj x) ⊙ up_proj x). gate and up: caller scratch of T·I floats each.
void mlp_forward(const MlpWeights& w, int hidden, int intermediate, const float* x, int64_t T, float* gate,
                 float* up, float* out, ThreadPool& pool);

}  // namespace tessera
