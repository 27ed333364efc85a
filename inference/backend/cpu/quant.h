// Block-quantized weights as GGML/GGUF store them (the GGML block layouts), and the CPU kernels that use
// them without expanding a model to f32: row dequantization, and y = x·Wᵀ straight from the blocks.
//
// The kernels quantize each activation row to int8 once per call and take integer dot products against
// the weight blocks (maddubs on AVX2), so the decode matvec streams only the quantized weight bytes. The
// activation blocks follow the weight type: 32 elements with an f32 scale for Q8_0/Q4_0, 256 with an f32
// scale and 16-element sums for the K-quants (whose sub-block scales then apply in integer arithmetic).
// Activation rounding adds a relative error of about 2⁻⁸ per block; float weight types (f32/f16/bf16) are
// dotted against the f32 activations instead and add none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/dtype.h"
#include "tessera/error.h"

namespace tessera {

class ThreadPool;

// GGML tensor types; the values are the type ids of the GGUF format. Only the ones with known block sizes
// are listed (a GGUF reader needs the size to validate a tensor), which is more than the kernels handle:
// see quant_supported().
enum class QuantType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

struct QuantTraits {
    QuantType type;
    std::string_view name;  // "Q4_K", as GGML spells it
    int64_t block_size;     // elements per block (1 for plain element types)
    int64_t block_bytes;    // bytes per block
};

// Traits of a raw GGUF type id; nullopt for ids we do not know the size of.
std::optional<QuantTraits> quant_traits(uint32_t type_id);
QuantTraits quant_traits(QuantType type);  // every enumerator is known
std::string_view quant_name(QuantType type);

// True for the types dequantize_row and quant_matmul handle: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K.
bool quant_supported(QuantType type);

// The engine dtype for the plain float types (F32/F16/BF16), nullopt for block types.
std::optional<DType> quant_float_dtype(QuantType type);

// Bytes of one row of n elements; nullopt when n is not a multiple of the block size or overflows.
std::optional<uint64_t> quant_row_bytes(QuantType type, int64_t n);

namespace cpu {

// Which kernels run. Auto picks AVX2 when the CPU has AVX2, FMA and F16C and the CPU backend's
// set_force_scalar (ops.h) is off; Avx2 on a CPU without them is an error. Scalar is the portable
// reference path (same activation rounding, same integer sums, different f32 summation order).
enum class QuantIsa { Auto, Scalar, Avx2 };
bool quant_cpu_has_avx2();

// dst[0..n) = the n values encoded at src. n must be a multiple of the type's block size.
Status dequantize_row(QuantType type, const void* src, float* dst, int64_t n);

// y[M, N] = x[M, K] · W[N, K]ᵀ with W's rows stored back to back in `type` (quant_row_bytes(type, K)
// bytes each, as in a GGUF tensor of dims {K, N}). K must be a multiple of 32 for the block types.
// Work is split over the rows of W. Scratch for the quantized activations is kept per calling thread
// and grows only when a call needs more than any earlier one; nothing else is allocated.
Status quant_matmul(const float* x, int64_t M, int64_t K, const void* W, QuantType type, int64_t N, float* y,
                    ThreadPool& pool, QuantIsa isa = QuantIsa::Auto);

// The activation rounding quant_matmul applies to a row of x for weights of `type` (for tests that want a
// reference free of it): out = dequantize(quantize_int8(x)). Float types leave x as it is. k must be a
// multiple of the type's block size.
void quant_round_activations(QuantType type, const float* x, int64_t k, float* out);

namespace detail {

// An activation row quantized to int8 in blocks of 32 (Q8_0/Q4_0 weights: d and ds = d·Σq per block) or
// of 256 (K-quant weights: d per block and bsums = Σq over each 16 elements, 16 per block; ds unused).
struct ActRow {
    const int8_t* q;
    const float* d;
    const float* ds;
    const int16_t* bsums;
};

// Activation blocks of 256 for the K-quants, of 32 for the rest.
constexpr int64_t act_block(QuantType type) {
    return type == QuantType::Q4_K || type == QuantType::Q5_K || type == QuantType::Q6_K ? 256 : 32;
}

// Dot product of one weight row (K elements of a block type) with a quantized activation row.
using QuantDotFn = float (*)(const uint8_t* w, const ActRow& x, int64_t k);
// Dot product of one float-typed weight row with an f32 activation row.
using FloatDotFn = float (*)(const uint8_t* w, const float* x, int64_t k);

// Blocks of 32: q[k], d[k/32], ds[k/32]. Blocks of 256: q[k], d[k/256], bsums[k/16].
void quantize_act32_scalar(const float* x, int64_t k, int8_t* q, float* d, float* ds);
void quantize_act256_scalar(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums);
QuantDotFn quant_dot_scalar(QuantType type);  // nullptr for types without a kernel
FloatDotFn float_dot_scalar(QuantType type);

#if defined(__x86_64__) || defined(__i386__)
// quant_avx2.cpp: compiled with -mavx2 -mfma -mf16c; call only when quant_cpu_has_avx2(). Same int8
// results as the scalar versions.
void quantize_act32_avx2(const float* x, int64_t k, int8_t* q, float* d, float* ds);
void quantize_act256_avx2(const float* x, int64_t k, int8_t* q, float* d, int16_t* bsums);
QuantDotFn quant_dot_avx2(QuantType type);
FloatDotFn float_dot_avx2(QuantType type);
#endif

}  // namespace detail
}  // namespace cpu
}  // namespace tessera
