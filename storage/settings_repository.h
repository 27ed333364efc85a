// SettingsRepository: application settings as JSON values under string keys ("ui.theme",
// "imagegen.seed_locked", ...). Values are parsed on read; a value that no longer parses reads as absent
// rather than failing the caller.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "storage/database.h"

namespace tessera::storage {

class SettingsRepository {
public:
    explicit SettingsRepository(Database& db) : m_db(db) {}

    Status set(const std::string& key, const nlohmann::json& value);
    Result<std::optional<nlohmann::json>> get(const std::string& key);
    // The stored value, or `fallback` when absent or of another JSON type than fallback.
    Result<nlohmann::json> get_or(const std::string& key, const nlohmann::json& fallback);
    Status remove(const std::string& key);
    Result<std::map<std::string, nlohmann::json>> all();

private:
    Database& m_db;
};

}  // namespace tessera::storage
