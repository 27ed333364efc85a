// A small command-line parser for tessera-cli: positional arguments plus --flag and --option VALUE (or
// --option=VALUE), checked against what each command accepts. Errors are usage errors (exit code 2).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tessera::cli {

enum ExitCode { kOk = 0, kModelError = 1, kUsageError = 2 };

struct ArgSpec {
    std::set<std::string> flags;    // e.g. "--json"
    std::set<std::string> options;  // take a value, e.g. "--max-tokens"
    std::map<std::string, std::string> aliases;  // "-p" -> "--prompt"
};

class Args {
public:
    // Parses argv[first, argc); on failure returns nullopt and sets `error`.
    static std::optional<Args> parse(int argc, char** argv, int first, const ArgSpec& spec, std::string& error);

    const std::vector<std::string>& positional() const { return m_positional; }
    bool flag(const std::string& name) const { return m_flags.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;

    // Typed values; a malformed value sets `error` (and returns nullopt).
    std::optional<int64_t> int_value(const std::string& name, int64_t min, int64_t max, std::string& error) const;
    std::optional<uint64_t> u64_value(const std::string& name, std::string& error) const;
    std::optional<double> float_value(const std::string& name, double min, double max, std::string& error) const;

private:
    std::vector<std::string> m_positional;
    std::set<std::string> m_flags;
    std::map<std::string, std::string> m_values;
};

// "1,2,3" -> ids; false on anything that is not a comma-separated list of non-negative integers.
bool parse_id_list(const std::string& text, std::vector<int32_t>& ids);

}  // namespace tessera::cli
