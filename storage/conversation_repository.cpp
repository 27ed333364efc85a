// ConversationRepository: SQL for the conversations table (see conversation_repository.h).
#include "storage/conversation_repository.h"

namespace tessera::storage {

namespace {

constexpr const char* k_columns =
    "id, uuid, title, model, pinned, archived, created_at, updated_at, current_leaf_id";

Conversation read_row(const Statement& s) {
    Conversation c;
    c.id = s.column_int(0);
    c.uuid = s.column_text(1);
    c.title = s.column_text(2);
    c.model = s.column_text(3);
    c.pinned = s.column_int(4) != 0;
    c.archived = s.column_int(5) != 0;
    c.created_at = s.column_int(6);
    c.updated_at = s.column_int(7);
    c.current_leaf_id = s.column_opt_int(8);
    return c;
}

std::string select_sql(const char* tail) { return std::string("SELECT ") + k_columns + " FROM conversations " + tail; }

}  // namespace

Result<Conversation> ConversationRepository::create(const std::string& title, const std::string& model) {
    Conversation c;
    c.uuid = new_uuid();
    c.title = title;
    c.model = model;
    c.created_at = c.updated_at = now_ms();
    TESSERA_ASSIGN(c.id, insert(c));
    return c;
}

Result<Id> ConversationRepository::insert(const Conversation& c) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("INSERT INTO conversations (uuid, title, model, pinned, archived, created_at, "
                                          "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    TESSERA_TRY(stmt->bind_all(c.uuid, c.title, c.model, c.pinned, c.archived, c.created_at, c.updated_at));
    TESSERA_TRY(stmt->run());
    return m_db.last_insert_id();
}

Result<Conversation> ConversationRepository::get(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql("WHERE id = ?1")));
    TESSERA_TRY(stmt->bind(1, id));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return make_error(ErrorCode::InvalidArgument, "conversation " + std::to_string(id) + " does not exist");
    return read_row(*stmt);
}

Result<std::optional<Conversation>> ConversationRepository::find_by_uuid(const std::string& uuid) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql("WHERE uuid = ?1")));
    TESSERA_TRY(stmt->bind(1, uuid));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return std::optional<Conversation>();
    return std::optional<Conversation>(read_row(*stmt));
}

Result<std::vector<Conversation>> ConversationRepository::list(ConversationFilter filter, int limit, int offset) {
    // Active and Archived follow the index conversations_listing exactly, so the first page costs a few
    // index steps however many conversations there are.
    const char* tail = filter == ConversationFilter::All
                           ? "ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                           : "WHERE archived = ?1 ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT ?2 OFFSET ?3";
    TESSERA_ASSIGN(auto stmt, m_db.cached(select_sql(tail)));
    if (filter != ConversationFilter::All) TESSERA_TRY(stmt->bind(1, filter == ConversationFilter::Archived));
    TESSERA_TRY(stmt->bind(2, limit));
    TESSERA_TRY(stmt->bind(3, offset));
    std::vector<Conversation> out;
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        out.push_back(read_row(*stmt));
    }
    return out;
}

Result<std::int64_t> ConversationRepository::count(ConversationFilter filter) {
    const char* sql = filter == ConversationFilter::All ? "SELECT count(*) FROM conversations"
                                                        : "SELECT count(*) FROM conversations WHERE archived = ?1";
    TESSERA_ASSIGN(auto stmt, m_db.cached(sql));
    if (filter != ConversationFilter::All) TESSERA_TRY(stmt->bind(1, filter == ConversationFilter::Archived));
    TESSERA_ASSIGN(bool row, stmt->step());
    return row ? stmt->column_int(0) : 0;
}

Status ConversationRepository::expect_one_change(Id id) {
    if (m_db.changes() == 1) return {};
    return make_error(ErrorCode::InvalidArgument, "conversation " + std::to_string(id) + " does not exist");
}

Status ConversationRepository::rename(Id id, const std::string& title) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET title = ?2, updated_at = ?3 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, title, now_ms()));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::set_pinned(Id id, bool pinned) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET pinned = ?2 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, pinned));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::set_archived(Id id, bool archived) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET archived = ?2 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, archived));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::set_model(Id id, const std::string& model) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET model = ?2 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, model));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::touch(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET updated_at = ?2 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, now_ms()));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::set_current_leaf(Id id, std::optional<Id> leaf) {
    if (leaf) {
        TESSERA_ASSIGN(auto check, m_db.cached("SELECT conversation_id FROM messages WHERE id = ?1"));
        TESSERA_TRY(check->bind(1, *leaf));
        TESSERA_ASSIGN(bool row, check->step());
        if (!row || check->column_int(0) != id)
            return make_error(ErrorCode::InvalidArgument, "message " + std::to_string(*leaf) +
                                                              " is not part of conversation " + std::to_string(id));
    }
    TESSERA_ASSIGN(auto stmt, m_db.cached("UPDATE conversations SET current_leaf_id = ?2 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(id, leaf));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

Status ConversationRepository::remove(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("DELETE FROM conversations WHERE id = ?1"));
    TESSERA_TRY(stmt->bind(1, id));
    TESSERA_TRY(stmt->run());
    return expect_one_change(id);
}

}  // namespace tessera::storage
