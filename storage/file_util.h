// Small POSIX file helpers with the durability the storage needs: files are written to a temporary name,
// flushed to disk, then renamed into place, so a crash or a full disk never leaves a half-written file
// under its final name. Failures (ENOSPC, EFBIG, EROFS, EACCES) come back as Io errors naming the path.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "tessera/error.h"

namespace tessera::storage {

Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
Result<std::string> read_whole_file(const std::filesystem::path& path);

}  // namespace tessera::storage
