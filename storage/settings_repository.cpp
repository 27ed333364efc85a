// SettingsRepository: SQL for the settings table (see settings_repository.h).
#include "storage/settings_repository.h"

namespace tessera::storage {

namespace {

std::optional<nlohmann::json> parse(const std::string& text) {
    auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) return std::nullopt;
    return value;
}

}  // namespace

Status SettingsRepository::set(const std::string& key, const nlohmann::json& value) {
    if (key.empty()) return make_error(ErrorCode::InvalidArgument, "setting key is empty");
    std::string text;
    try {
        text = value.dump();
    } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string value
        return make_error(ErrorCode::InvalidArgument, "setting '" + key + "': " + e.what());
    }
    TESSERA_ASSIGN(auto stmt, m_db.cached("INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
                                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                                          "updated_at = excluded.updated_at"));
    TESSERA_TRY(stmt->bind_all(key, text, now_ms()));
    return stmt->run();
}

Result<std::optional<nlohmann::json>> SettingsRepository::get(const std::string& key) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("SELECT value FROM settings WHERE key = ?1"));
    TESSERA_TRY(stmt->bind(1, key));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return std::optional<nlohmann::json>();
    return parse(stmt->column_text(0));
}

Result<nlohmann::json> SettingsRepository::get_or(const std::string& key, const nlohmann::json& fallback) {
    TESSERA_ASSIGN(auto value, get(key));
    if (!value) return fallback;
    if (!fallback.is_null() && value->type() != fallback.type() &&
        !(value->is_number() && fallback.is_number()))
        return fallback;
    return std::move(*value);
}

Status SettingsRepository::remove(const std::string& key) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("DELETE FROM settings WHERE key = ?1"));
    TESSERA_TRY(stmt->bind(1, key));
    return stmt->run();
}

Result<std::map<std::string, nlohmann::json>> SettingsRepository::all() {
    TESSERA_ASSIGN(auto stmt, m_db.cached("SELECT key, value FROM settings ORDER BY key"));
    std::map<std::string, nlohmann::json> out;
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        if (auto value = parse(stmt->column_text(1))) out.emplace(stmt->column_text(0), std::move(*value));
    }
    return out;
}

}  // namespace tessera::storage
