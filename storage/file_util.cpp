// Durable file writes and whole-file reads (see file_util.h).
#include "storage/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace tessera::storage {

namespace fs = std::filesystem;

namespace {

Error io_error(const fs::path& path, const char* what, int err) {
    std::string msg = path.string() + ": " + what + ": " + std::strerror(err);
    if (err == ENOSPC || err == EFBIG || err == EDQUOT) msg += " (the disk is full)";
    return make_error(ErrorCode::Io, std::move(msg));
}

}  // namespace

Status write_file_atomic(const fs::path& path, std::string_view bytes) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return make_error(ErrorCode::Io, path.parent_path().string() + ": cannot create folder: " + ec.message());
    thread_local std::mt19937_64 rng{std::random_device{}()};
    fs::path tmp = path.parent_path() / (".tmp-" + path.filename().string() + "-" + std::to_string(rng() % 1000000000));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return io_error(tmp, "cannot create", errno);
    auto fail = [&](const char* what, int err) -> Status {
        ::close(fd);
        ::unlink(tmp.c_str());
        return io_error(path, what, err);
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("flush to disk", errno);
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return io_error(path, "close", err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return io_error(path, "rename into place", err);
    }
    // The rename itself is durable only once the folder is flushed too.
    int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return {};
}

Result<std::string> read_whole_file(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error(path, "cannot open", errno);
    std::string out;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            return io_error(path, "read", err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace tessera::storage
