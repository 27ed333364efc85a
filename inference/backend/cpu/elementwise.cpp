// Element-wise operations: SiLU·mul of the SwiGLU MLP (models.md §1.5), residual add, embedding lookup,
// softmax and argmax. These are memory-bound; the AVX2 variants mostly save the scalar exp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/convert.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::silu_mul_avx2(gate, up, n, out);
#endif
    for (int64_t i = 0; i < n; ++i) {
        float g = gate[i];
        out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void add_inplace(float* x, const float* y, int64_t n) {
#if TESSERA_CPU_X86
    if (detail::use_avx2()) return detail::add_avx2(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void embedding(const Tensor& table, const int32_t* ids, int64_t T, float* out) {
    const int64_t D = table.dim(1);
    for (int64_t t = 0; t < T; ++t) {
        const int64_t row = ids[t];
        if (table.dtype == DType::F32)
            std::memcpy(out + t * D, table.as<const float>() + row * D, size_t(D) * sizeof(float));
        else
            detail::convert_to_f32(table.data, table.dtype, row * D, D, out + t * D);
    }
}

void softmax(float* x, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * n;
        if (n <= 0) continue;
        float mx = row[0];
        for (int64_t i = 1; i < n; ++i) mx = std::max(mx, row[i]);
        float sum = 0.0f;
#if TESSERA_CPU_X86
        if (detail::use_avx2()) {
            sum = detail::exp_sum_avx2(row, n, mx);
        } else
#endif
        {
            // A vocabulary-sized row has ~10⁵ terms: one f32 running sum would lose ~1e-4 relative.
            double acc = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                row[i] = std::exp(row[i] - mx);
                acc += double(row[i]);
            }
            sum = float(acc);
        }
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; ++i) row[i] *= inv;
    }
}

int64_t argmax(const float* x, int64_t n) {
    int64_t best = -1;
    float best_v = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        // `>` is false for NaN, so NaNs never win; `best < 0` accepts a first element of -inf.
        if (x[i] > best_v || (best < 0 && x[i] == best_v)) {
            best = i;
            best_v = x[i];
        }
    }
    return best;
}

}  // namespace tessera::cpu
