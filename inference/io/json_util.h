// Exception-free JSON helpers for the io readers: nlohmann throws on bad input and on wrong-typed
// access, and the engine promises that no exception crosses its boundary, so every parse and every
// typed field read goes through here and comes back as a Result naming the file and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tessera/error.h"

namespace tessera {

struct JsonParseOptions {
    // safetensors headers and index files: a repeated key would silently hide a tensor (nlohmann keeps
    // the last one), so those readers ask for an error instead.
    bool reject_duplicate_keys = false;
};

// Parses `text`; `label` (usually a file name) starts every error message. Never throws.
Result<nlohmann::json> parse_json_text(std::string_view text, const std::string& label,
                                       JsonParseOptions options = {});

// Reads and parses a whole file; files above max_bytes are refused before being read.
Result<nlohmann::json> read_json_file(const std::filesystem::path& path, JsonParseOptions options = {},
                                      uint64_t max_bytes = uint64_t(64) << 20);

// "object", "array", "string", "integer", "number", "boolean", "null" for error messages.
const char* json_type_name(const nlohmann::json& j);

// Typed reads of one field of an object. Errors name `label` and the field, e.g.
// "config.json: field 'hidden_size' must be an integer, got string".
// `where` is the object's own path for nested objects ("rope_parameters."), usually empty.
Result<int64_t> json_get_int(const nlohmann::json& obj, const std::string& field, const std::string& label,
                             const std::string& where = {});
Result<double> json_get_number(const nlohmann::json& obj, const std::string& field, const std::string& label,
                               const std::string& where = {});
Result<bool> json_get_bool(const nlohmann::json& obj, const std::string& field, const std::string& label,
                           const std::string& where = {});
Result<std::string> json_get_string(const nlohmann::json& obj, const std::string& field,
                                    const std::string& label, const std::string& where = {});

// True when obj has the field and it is not null (transformers writes null for "use the default").
bool json_has(const nlohmann::json& obj, const std::string& field);

}  // namespace tessera
