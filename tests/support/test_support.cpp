// Shared test helpers.
#include "support/test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace tessera::test {

std::filesystem::path fixture(const std::string& rel) {
    const char* env = std::getenv("TESSERA_FIXTURES");
    std::filesystem::path base = env && *env ? env : TESSERA_FIXTURES_DIR;
    return base / rel;
}

TempDir::TempDir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
        auto p = base / ("tessera-test-" + std::to_string(rd()));
        if (std::filesystem::create_directory(p)) {
            m_path = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(m_path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(m_path, ec);
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::vector<float> read_f32_file(const std::filesystem::path& path) {
    std::string bytes = read_file(path);
    std::vector<float> v(bytes.size() / 4);
    std::copy_n(bytes.data(), v.size() * 4, reinterpret_cast<char*>(v.data()));
    return v;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        scale = std::max(scale, double(std::fabs(b[i])));
        diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    }
    return diff / scale;
}

}  // namespace tessera::test
