// Rotate-half rotary embedding (models.md §1.6 layout A): element i pairs with i + d/2. Angles are the
// fp32 product position · inv_freq[i] and cos/sin are taken in fp32, as in the reference tables; each
// token's cos/sin are computed once and reused for all its heads.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops.h"

namespace tessera::cpu {

void rope_rotate_half(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const int32_t* positions,
                      const float* inv_freq) {
    const int64_t half = head_dim / 2;
    constexpr int64_t kBlock = 64;  // cos/sin for this many frequencies at a time, on the stack
    float c[kBlock], s[kBlock];
    for (int64_t t = 0; t < T; ++t) {
        const float p = float(positions[t]);
        float* xt = x + t * n_heads * head_dim;
        for (int64_t i0 = 0; i0 < half; i0 += kBlock) {
            const int64_t nb = std::min(kBlock, half - i0);
            for (int64_t i = 0; i < nb; ++i) {
                float phi = p * inv_freq[i0 + i];
                c[i] = std::cos(phi);
                s[i] = std::sin(phi);
            }
            for (int64_t h = 0; h < n_heads; ++h) {
                float* a = xt + h * head_dim + i0;
                float* b = a + half;
                for (int64_t i = 0; i < nb; ++i) {
                    float x0 = a[i], x1 = b[i];
                    a[i] = x0 * c[i] - x1 * s[i];
                    b[i] = x1 * c[i] + x0 * s[i];
                }
            }
        }
    }
}

}  // namespace tessera::cpu
