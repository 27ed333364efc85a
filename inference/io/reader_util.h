// Small helpers shared by the checkpoint format readers: overflow-checked element counts and placing
// tensor bytes (in the mapped file when they are aligned, else in an owned copy).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>

#include "io/checkpoint.h"

namespace tessera {

// Product of the dims, or nullopt when a dim is negative or the product (or its byte count with
// elem_size) would not fit in int64.
inline std::optional<int64_t> checked_numel(const int64_t* dims, int ndim, size_t elem_size) {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) {
        int64_t d = dims[i];
        if (d < 0) return std::nullopt;
        if (d != 0 && n > INT64_MAX / d) return std::nullopt;
        n *= d;
    }
    if (elem_size != 0 && n > INT64_MAX / int64_t(elem_size)) return std::nullopt;
    return n;
}

// A Tensor's data pointer must be aligned to its element size (the kernels read it as float/uint16_t).
// Well-formed files always are (safetensors pads its header, torch aligns zip entries to 64 bytes);
// a file that is not gets a private aligned copy rather than undefined behaviour later.
inline Result<void*> place_tensor_bytes(const std::byte* src, size_t nbytes, DType dtype, Checkpoint& out) {
    if (nbytes == 0 || reinterpret_cast<uintptr_t>(src) % dtype_size(dtype) == 0)
        return const_cast<void*>(static_cast<const void*>(src));
    TESSERA_ASSIGN(HostBuffer copy, HostBuffer::allocate(nbytes));
    std::memcpy(copy.data(), src, nbytes);
    void* p = copy.data();
    out.keep_alive(std::move(copy));
    return p;
}

// Runs a reader body and turns an exception that escaped it (std::bad_alloc on a huge allocation, a
// filesystem_error) into an Error: the engine's API never throws. The bodies themselves check every
// access, so this is a backstop, not the error path.
template <class F>
auto exception_guard(const std::string& label, F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, label + ": out of memory while reading");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, label + ": " + e.what());
    }
}

}  // namespace tessera
