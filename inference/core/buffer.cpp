// mmap-backed files and aligned host buffers.
#include "core/buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace tessera {

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(ErrorCode::Io, path.string() + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return make_error(ErrorCode::Io, path.string() + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return make_error(ErrorCode::Io, path.string() + ": not a regular file");
    }
    std::shared_ptr<MappedFile> f(new MappedFile());
    f->m_path = path;
    f->m_size = size_t(st.st_size);
    if (f->m_size > 0) {
        void* p = ::mmap(nullptr, f->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            return make_error(ErrorCode::Io, path.string() + ": mmap failed: " + std::strerror(e));
        }
        f->m_data = static_cast<const std::byte*>(p);
    }
    ::close(fd);
    return f;
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<std::byte*>(m_data), m_size);
}

Result<HostBuffer> HostBuffer::allocate(size_t bytes, bool zero) {
    HostBuffer b;
    if (bytes == 0) return b;
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) return make_error(ErrorCode::OutOfMemory, "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    if (zero) std::memset(p, 0, rounded);
    b.m_data = static_cast<std::byte*>(p);
    b.m_size = bytes;
    return b;
}

HostBuffer& HostBuffer::operator=(HostBuffer&& o) noexcept {
    if (this != &o) {
        std::free(m_data);
        m_data = o.m_data;
        m_size = o.m_size;
        o.m_data = nullptr;
        o.m_size = 0;
    }
    return *this;
}

HostBuffer::~HostBuffer() { std::free(m_data); }

}  // namespace tessera
