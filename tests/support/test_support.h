// Helpers shared by the test executables: fixture paths, temporary directories, file helpers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::test {

// tests/fixtures/<rel> (TESSERA_FIXTURES overrides the compiled-in location).
std::filesystem::path fixture(const std::string& rel);

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& rel) const { return m_path / rel; }

private:
    std::filesystem::path m_path;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);
std::vector<float> read_f32_file(const std::filesystem::path& path);

// max |a-b| / max(max|b|, tiny): the relative error used by parity tests.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace tessera::test
