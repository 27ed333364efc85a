// tessera-cli argument parsing (see options.h).
#include "cli/options.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

namespace tessera::cli {

std::optional<Args> Args::parse(int argc, char** argv, int first, const ArgSpec& spec, std::string& error) {
    Args a;
    bool only_positional = false;
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (only_positional || arg.size() < 2 || arg[0] != '-') {
            a.m_positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        std::optional<std::string> inline_value;
        if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        if (auto alias = spec.aliases.find(arg); alias != spec.aliases.end()) arg = alias->second;
        if (spec.flags.count(arg)) {
            if (inline_value) {
                error = arg + " takes no value";
                return std::nullopt;
            }
            a.m_flags.insert(arg);
        } else if (spec.options.count(arg)) {
            if (inline_value) {
                a.m_values[arg] = *inline_value;
            } else if (i + 1 < argc) {
                a.m_values[arg] = argv[++i];
            } else {
                error = arg + " needs a value";
                return std::nullopt;
            }
        } else {
            error = "unknown option " + arg;
            return std::nullopt;
        }
    }
    return a;
}

std::optional<std::string> Args::value(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
}

std::optional<int64_t> Args::int_value(const std::string& name, int64_t min, int64_t max, std::string& error) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE || x < min || x > max) {
        error = name + ": expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got '" +
                *v + "'";
        return std::nullopt;
    }
    return int64_t(x);
}

std::optional<uint64_t> Args::u64_value(const std::string& name, std::string& error) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const unsigned long long x = std::strtoull(v->c_str(), &end, 10);
    if (v->empty() || (*v)[0] == '-' || *end != '\0' || errno == ERANGE) {
        error = name + ": expected a non-negative integer, got '" + *v + "'";
        return std::nullopt;
    }
    return uint64_t(x);
}

std::optional<double> Args::float_value(const std::string& name, double min, double max, std::string& error) const {
    auto v = value(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(x) || x < min || x > max) {
        error = name + ": expected a number in [" + std::to_string(min) + ", " + std::to_string(max) + "], got '" +
                *v + "'";
        return std::nullopt;
    }
    return x;
}

bool parse_id_list(const std::string& text, std::vector<int32_t>& ids) {
    ids.clear();
    size_t i = 0;
    while (i <= text.size()) {
        const size_t comma = std::min(text.find(',', i), text.size());
        const std::string item = text.substr(i, comma - i);
        if (item.empty() || item.size() > 10 || item.find_first_not_of("0123456789") != std::string::npos) return false;
        const long long v = std::stoll(item);
        if (v > INT32_MAX) return false;
        ids.push_back(int32_t(v));
        i = comma + 1;
    }
    return !ids.empty();
}

}  // namespace tessera::cli
