// Exception-free wrappers around nlohmann::json (see json_util.h for why).
#include "io/json_util.h"

#include <fstream>
#include <new>
#include <set>
#include <system_error>
#include <vector>

namespace tessera {

namespace {

// nlohmann prefixes its messages with "[json.exception.parse_error.101] "; the id means nothing to a user.
std::string strip_nlohmann_prefix(const std::string& what) {
    if (!what.empty() && what[0] == '[') {
        size_t close = what.find("] ");
        if (close != std::string::npos) return what.substr(close + 2);
    }
    return what;
}

std::string field_path(const std::string& where, const std::string& field) { return where + field; }

Error missing(const std::string& label, const std::string& where, const std::string& field) {
    return make_error(ErrorCode::Config, label + ": missing field '" + field_path(where, field) + "'");
}

Error wrong_type(const std::string& label, const std::string& where, const std::string& field, const char* want,
                 const nlohmann::json& got) {
    return make_error(ErrorCode::Config, label + ": field '" + field_path(where, field) + "' must be " + want +
                                             ", got " + json_type_name(got));
}

}  // namespace

Result<nlohmann::json> parse_json_text(std::string_view text, const std::string& label, JsonParseOptions options) {
    try {
        if (!options.reject_duplicate_keys) return nlohmann::json::parse(text.begin(), text.end());

        // One key set per open object; the callback sees keys before their values.
        std::vector<std::set<std::string>> open_objects;
        std::string duplicate;
        auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            using E = nlohmann::json::parse_event_t;
            if (event == E::object_start) {
                open_objects.emplace_back();
            } else if (event == E::object_end) {
                if (!open_objects.empty()) open_objects.pop_back();
            } else if (event == E::key && !open_objects.empty() && parsed.is_string()) {
                const auto& key = parsed.get_ref<const std::string&>();
                if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
            }
            return true;
        };
        nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), callback);
        if (!duplicate.empty())
            return make_error(ErrorCode::Format, label + ": key '" + duplicate + "' appears more than once");
        return j;
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::Format, label + ": not valid JSON: " + strip_nlohmann_prefix(e.what()));
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, label + ": out of memory while parsing JSON");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, label + ": " + e.what());
    }
}

Result<nlohmann::json> read_json_file(const std::filesystem::path& path, JsonParseOptions options,
                                      uint64_t max_bytes) {
    const std::string label = path.filename().string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return make_error(ErrorCode::Io, path.string() + ": file not found");
    uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) return make_error(ErrorCode::Io, path.string() + ": cannot stat: " + ec.message());
    if (size > max_bytes)
        return make_error(ErrorCode::Format, label + ": " + std::to_string(size) + " bytes is too large for a JSON file (limit " +
                                                 std::to_string(max_bytes) + ")");
    std::string text;
    try {
        text.resize(size_t(size));
    } catch (const std::exception&) {
        return make_error(ErrorCode::OutOfMemory, label + ": cannot allocate " + std::to_string(size) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::Io, path.string() + ": cannot open");
    in.read(text.data(), std::streamsize(text.size()));
    if (size_t(in.gcount()) != text.size()) return make_error(ErrorCode::Io, path.string() + ": short read");
    return parse_json_text(text, label, options);
}

const char* json_type_name(const nlohmann::json& j) {
    switch (j.type()) {
        case nlohmann::json::value_t::object: return "object";
        case nlohmann::json::value_t::array: return "array";
        case nlohmann::json::value_t::string: return "string";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned: return "integer";
        case nlohmann::json::value_t::number_float: return "number";
        case nlohmann::json::value_t::boolean: return "boolean";
        case nlohmann::json::value_t::null: return "null";
        case nlohmann::json::value_t::binary: return "binary";
        case nlohmann::json::value_t::discarded: return "discarded";
    }
    return "unknown";
}

bool json_has(const nlohmann::json& obj, const std::string& field) {
    if (!obj.is_object()) return false;
    auto it = obj.find(field);
    return it != obj.end() && !it->is_null();
}

Result<int64_t> json_get_int(const nlohmann::json& obj, const std::string& field, const std::string& label,
                             const std::string& where) {
    if (!json_has(obj, field)) return missing(label, where, field);
    const nlohmann::json& v = obj.at(field);
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(INT64_MAX)) return wrong_type(label, where, field, "an integer below 2^63", v);
        return int64_t(u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    return wrong_type(label, where, field, "an integer", v);
}

Result<double> json_get_number(const nlohmann::json& obj, const std::string& field, const std::string& label,
                               const std::string& where) {
    if (!json_has(obj, field)) return missing(label, where, field);
    const nlohmann::json& v = obj.at(field);
    if (!v.is_number()) return wrong_type(label, where, field, "a number", v);
    return v.get<double>();
}

Result<bool> json_get_bool(const nlohmann::json& obj, const std::string& field, const std::string& label,
                           const std::string& where) {
    if (!json_has(obj, field)) return missing(label, where, field);
    const nlohmann::json& v = obj.at(field);
    if (!v.is_boolean()) return wrong_type(label, where, field, "true or false", v);
    return v.get<bool>();
}

Result<std::string> json_get_string(const nlohmann::json& obj, const std::string& field, const std::string& label,
                                    const std::string& where) {
    if (!json_has(obj, field)) return missing(label, where, field);
    const nlohmann::json& v = obj.at(field);
    if (!v.is_string()) return wrong_type(label, where, field, "a string", v);
    return v.get<std::string>();
}

}  // namespace tessera
