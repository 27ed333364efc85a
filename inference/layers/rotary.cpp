// RoPE frequencies (see rotary.h).
#include "layers/rotary.h"

#include <cmath>

namespace tessera {

std::vector<float> rope_inv_freq(int rotary_dim, float theta) {
    std::vector<float> inv_freq(size_t(rotary_dim / 2));
    for (int i = 0; i < rotary_dim / 2; ++i) {
        // Same operation order as the reference: exponent (2i)/d in fp32, θ^e in fp32, then 1/x in fp32.
        const float exponent = float(2 * i) / float(rotary_dim);
        inv_freq[size_t(i)] = 1.0f / std::pow(theta, exponent);
    }
    return inv_freq;
}

}  // namespace tessera
