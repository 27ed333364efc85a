// GeneratedImageRepository: SQL for the generated_images table (see generated_image_repository.h).
#include "storage/generated_image_repository.h"

namespace tessera::storage {

namespace {

constexpr const char* k_columns =
    "id, uuid, prompt, seed, cfg_weight, temperature, model, attachment_id, batch_index, created_at";

GeneratedImage read_row(const Statement& s) {
    GeneratedImage g;
    g.id = s.column_int(0);
    g.uuid = s.column_text(1);
    g.prompt = s.column_text(2);
    g.seed = s.column_int(3);
    g.cfg_weight = s.column_double(4);
    g.temperature = s.column_double(5);
    g.model = s.column_text(6);
    g.attachment_id = s.column_int(7);
    g.batch_index = static_cast<int>(s.column_int(8));
    g.created_at = s.column_int(9);
    return g;
}

std::string select_sql(const char* tail) {
    return std::string("SELECT ") + k_columns + " FROM generated_images " + tail;
}

}  // namespace

Result<GeneratedImage> GeneratedImageRepository::add(GeneratedImage g) {
    if (g.uuid.empty()) g.uuid = new_uuid();
    if (g.created_at == 0) g.created_at = now_ms();
    TESSERA_ASSIGN(auto stmt, m_db.cached("INSERT INTO generated_images (uuid, prompt, seed, cfg_weight, temperature, "
                                          "model, attachment_id, batch_index, created_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                                          "?6, ?7, ?8, ?9)"));
    TESSERA_TRY(stmt->bind_all(g.uuid, g.prompt, g.seed, g.cfg_weight, g.temperature, g.model, g.attachment_id,
                               g.batch_index, g.created_at));
    TESSERA_TRY(stmt->run());
    g.id = m_db.last_insert_id();
    return g;
}

Result<GeneratedImage> GeneratedImageRepository::get(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql("WHERE id = ?1")));
    TESSERA_TRY(stmt->bind(1, id));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return make_error(ErrorCode::InvalidArgument, "generated image " + std::to_string(id) + " does not exist");
    return read_row(*stmt);
}

Result<std::optional<GeneratedImage>> GeneratedImageRepository::find_by_uuid(const std::string& uuid) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql("WHERE uuid = ?1")));
    TESSERA_TRY(stmt->bind(1, uuid));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return std::optional<GeneratedImage>();
    return std::optional<GeneratedImage>(read_row(*stmt));
}

Result<std::vector<GeneratedImage>> GeneratedImageRepository::list(int limit, int offset) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql("ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2")));
    TESSERA_TRY(stmt->bind_all(limit, offset));
    std::vector<GeneratedImage> out;
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        out.push_back(read_row(*stmt));
    }
    return out;
}

Result<std::int64_t> GeneratedImageRepository::count() {
    TESSERA_ASSIGN(auto stmt, m_db.cached("SELECT count(*) FROM generated_images"));
    TESSERA_ASSIGN(bool row, stmt->step());
    return row ? stmt->column_int(0) : 0;
}

Status GeneratedImageRepository::remove(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("DELETE FROM generated_images WHERE id = ?1"));
    TESSERA_TRY(stmt->bind(1, id));
    TESSERA_TRY(stmt->run());
    if (m_db.changes() != 1)
        return make_error(ErrorCode::InvalidArgument, "generated image " + std::to_string(id) + " does not exist");
    return {};
}

}  // namespace tessera::storage
