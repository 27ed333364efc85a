// Internal to the CPU backend: scalar loads of one weight element as f32, whatever its stored dtype.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace tessera::cpu::detail {

inline float load_as_f32(const void* base, DType t, int64_t i) {
    switch (t) {
        case DType::F32: return static_cast<const float*>(base)[i];
        case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
        case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    }
    return 0.0f;
}

// dst[0, n) = src[offset, offset + n) converted to f32.
inline void convert_to_f32(const void* src, DType t, int64_t offset, int64_t n, float* dst) {
    switch (t) {
        case DType::F32: {
            const float* s = static_cast<const float*>(src) + offset;
            for (int64_t i = 0; i < n; ++i) dst[i] = s[i];
            return;
        }
        case DType::BF16: {
            const uint16_t* s = static_cast<const uint16_t*>(src) + offset;
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case DType::F16: {
            const uint16_t* s = static_cast<const uint16_t*>(src) + offset;
            for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
    }
}

}  // namespace tessera::cpu::detail
