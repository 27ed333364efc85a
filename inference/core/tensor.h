// Tensor: a non-owning view (dtype, shape, row-major contiguous, device, pointer). Owning storage lives in
// buffers (core/buffer.h) or in a checkpoint's mapped files; a Tensor never frees anything.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/dtype.h"

namespace tessera {

enum class DeviceKind : uint8_t { Cpu, Cuda };

constexpr int kMaxDims = 4;

struct Shape {
    std::array<int64_t, kMaxDims> dims{};
    int ndim = 0;

    Shape() = default;
    Shape(std::initializer_list<int64_t> d) {
        for (int64_t v : d) dims[size_t(ndim++)] = v;
    }
    int64_t operator[](int i) const { return dims[size_t(i)]; }
    int64_t numel() const {
        int64_t n = 1;
        for (int i = 0; i < ndim; ++i) n *= dims[size_t(i)];
        return n;
    }
    bool operator==(const Shape& o) const {
        if (ndim != o.ndim) return false;
        for (int i = 0; i < ndim; ++i)
            if (dims[size_t(i)] != o.dims[size_t(i)]) return false;
        return true;
    }
    std::string to_string() const;  // "[4096, 11008]"
};

struct Tensor {
    DType dtype = DType::F32;
    Shape shape;
    DeviceKind device = DeviceKind::Cpu;
    void* data = nullptr;

    int64_t numel() const { return shape.numel(); }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
    int64_t dim(int i) const { return shape[i]; }
    template <class T>
    T* as() const { return static_cast<T*>(data); }
    // Row r of the outermost dimension (contiguous layout).
    void* row(int64_t r) const {
        return static_cast<std::byte*>(data) + size_t(r) * (nbytes() / size_t(shape[0] ? shape[0] : 1));
    }
    bool empty() const { return data == nullptr; }
};

}  // namespace tessera
