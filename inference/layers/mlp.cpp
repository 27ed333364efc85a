// SwiGLU MLP (see mlp.h), models.md §1.5.
#include "layers/mlp.h"

#include "backend/cpu/ops.h"
#include "layers/linear.h"

namespace tessera {

Status load_mlp(WeightLoader& loader, const std::string& prefix, int hidden, int intermediate, MlpWeights& w) {
    const int64_t H = hidden, I = intermediate;
    TESSERA_ASSIGN(w.gate_proj, loader.get_weight(prefix + "gate_proj.weight", {I, H}));
    TESSERA_ASSIGN(w.up_proj, loader.get_weight(prefix + "up_proj.weight", {I, H}));
    TESSERA_ASSIGN(w.down_proj, loader.get_weight(prefix + "down_proj.weight", {H, I}));
    return {};
}

void mlp_forward(const MlpWeights& w, int hidden, int intermediate, const float* x, int64_t T, float* gate,
                 float* up, float* out, ThreadPool& pool) {
    const Tensor no_bias;
    linear(x, T, hidden, w.gate_proj, no_bias, gate, pool);
    linear(x, T, hidden, w.up_proj, no_bias, up, pool);
    cpu::silu_mul(gate, up, T * intermediate, gate);  // silu(gate) ⊙ up, in place
    linear(gate, T, intermediate, w.down_proj, no_bias, out, pool);
}

}  // namespace tessera
