// Rotary position embedding frequencies (models.md §1.6): inv_freq[i] = 1 / θ^(2i/d), i < d/2, in fp32 the
// way the reference computes them. The rotation itself is the backend's rope_rotate_half (layout A).
#pragma once

#include <vector>

namespace tessera {

std::vector<float> rope_inv_freq(int rotary_dim, float theta);

}  // namespace tessera
