// Owning storage: read-only memory maps of checkpoint files, and aligned host buffers for activations
// and converted weights.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "tessera/error.h"

namespace tessera {

// A whole file mapped read-only. Empty files map to a null pointer with size 0.
class MappedFile {
public:
    static Result<std::shared_ptr<MappedFile>> open(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return m_data; }
    size_t size() const { return m_size; }
    const std::filesystem::path& path() const { return m_path; }

private:
    MappedFile() = default;
    std::filesystem::path m_path;
    const std::byte* m_data = nullptr;
    size_t m_size = 0;
};

// 64-byte aligned heap memory (AVX-512 friendly), zero-initialised on request.
class HostBuffer {
public:
    HostBuffer() = default;
    static Result<HostBuffer> allocate(size_t bytes, bool zero = false);
    HostBuffer(HostBuffer&& o) noexcept : m_data(o.m_data), m_size(o.m_size) { o.m_data = nullptr; o.m_size = 0; }
    HostBuffer& operator=(HostBuffer&& o) noexcept;
    ~HostBuffer();

    std::byte* data() const { return m_data; }
    size_t size() const { return m_size; }
    template <class T>
    T* as() const { return reinterpret_cast<T*>(m_data); }

private:
    std::byte* m_data = nullptr;
    size_t m_size = 0;
};

}  // namespace tessera
