// Weight-storage dispatch of projections and embedding lookups (see linear.h).
#include "layers/linear.h"

#include "backend/cpu/ops.h"
#include "backend/cpu/quant.h"

namespace tessera {

namespace {

float bias_at(const Tensor& b, int64_t i) {
    switch (b.dtype) {
        case DType::F32: return b.as<const float>()[i];
        case DType::BF16: return bf16_to_f32(b.as<const uint16_t>()[i]);
        case DType::F16: return f16_to_f32(b.as<const uint16_t>()[i]);
    }
    return 0.0f;
}

}  // namespace

void linear(const float* x, int64_t M, int64_t K, const Weight& W, const Tensor& bias, float* y, ThreadPool& pool) {
    if (!W.quantized()) {
        cpu::matmul(x, M, K, W.dense, bias, y, pool);
        return;
    }
    // Type and shape were checked by get_weight, the only way a quantized Weight is made.
    (void)cpu::quant_matmul(x, M, K, W.blocks, W.quant, W.rows, y, pool);
    if (bias.empty()) return;
    for (int64_t m = 0; m < M; ++m) {
        float* row = y + m * W.rows;
        for (int64_t n = 0; n < W.rows; ++n) row[n] += bias_at(bias, n);
    }
}

void embedding_lookup(const Weight& table, const int32_t* ids, int64_t T, float* out) {
    if (!table.quantized()) {
        cpu::embedding(table.dense, ids, T, out);
        return;
    }
    const uint64_t row_bytes = quant_row_bytes(table.quant, table.cols).value_or(0);
    for (int64_t t = 0; t < T; ++t)
        (void)cpu::dequantize_row(table.quant, table.blocks + uint64_t(ids[t]) * row_bytes, out + t * table.cols,
                                  table.cols);
}

}  // namespace tessera
