// AttachmentStore: content-addressed files plus their rows, and garbage collection (see attachment_store.h).
#include "storage/attachment_store.h"

#include "storage/file_util.h"
#include "storage/image_info.h"
#include "storage/sha256.h"

namespace tessera::storage {

namespace fs = std::filesystem;

namespace {

constexpr const char* k_columns = "id, sha256, path, mime, size, width, height, created_at";

Attachment read_row(const Statement& s, int c = 0) {
    Attachment a;
    a.id = s.column_int(c + 0);
    a.sha256 = s.column_text(c + 1);
    a.path = s.column_text(c + 2);
    a.mime = s.column_text(c + 3);
    a.size = s.column_int(c + 4);
    a.width = static_cast<int>(s.column_int(c + 5));
    a.height = static_cast<int>(s.column_int(c + 6));
    a.created_at = s.column_int(c + 7);
    return a;
}

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

Result<Attachment> AttachmentStore::add(std::string_view bytes, const std::string& mime) {
    const std::string hash = sha256_hex(bytes);
    const ImageInfo info = sniff_image(bytes);
    TESSERA_ASSIGN(auto existing, find_by_hash(hash));
    const std::string rel = existing ? existing->path
                                     : "attachments/" + hash.substr(0, 2) + "/" + hash + "." + info.extension;
    const fs::path full = m_data_dir / rel;

    // The file goes first: a row must never name a file that is not there. If this crashes before the row
    // is committed, the file is an orphan that collect_garbage removes.
    bool file_ok = false;
    std::error_code ec;
    if (fs::exists(full, ec)) {
        // Already there (same bytes added before, or left by a crash): keep it if it is intact.
        auto current = read_whole_file(full);
        file_ok = current.ok() && current.value().size() == bytes.size() && sha256_hex(current.value()) == hash;
    }
    if (!file_ok) TESSERA_TRY(write_file_atomic(full, bytes));
    if (existing) return std::move(*existing);

    Attachment a;
    a.sha256 = hash;
    a.path = rel;
    a.mime = !mime.empty() ? mime : info.mime;
    a.size = static_cast<std::int64_t>(bytes.size());
    a.width = info.width;
    a.height = info.height;
    a.created_at = now_ms();
    // ON CONFLICT: another instance may have added the same bytes meanwhile; theirs is as good as ours.
    TESSERA_ASSIGN(auto stmt, m_db.cached("INSERT INTO attachments (sha256, path, mime, size, width, height, created_at) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (sha256) DO NOTHING"));
    TESSERA_TRY(stmt->bind_all(a.sha256, a.path, a.mime, a.size, a.width, a.height, a.created_at));
    TESSERA_TRY(stmt->run());
    TESSERA_ASSIGN(auto stored, find_by_hash(hash));
    if (!stored) return make_error(ErrorCode::Internal, "attachment " + hash + " vanished after insert");
    return std::move(*stored);
}

Result<Attachment> AttachmentStore::add_file(const fs::path& source) {
    TESSERA_ASSIGN(std::string bytes, read_whole_file(source));
    return add(bytes);
}

Result<Attachment> AttachmentStore::get(Id id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(std::string("SELECT ") + k_columns + " FROM attachments WHERE id = ?1"));
    TESSERA_TRY(stmt->bind(1, id));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return make_error(ErrorCode::InvalidArgument, "attachment " + std::to_string(id) + " does not exist");
    return read_row(*stmt);
}

Result<std::optional<Attachment>> AttachmentStore::find_by_hash(const std::string& sha256) {
    TESSERA_ASSIGN(auto stmt, m_db.cached(std::string("SELECT ") + k_columns + " FROM attachments WHERE sha256 = ?1"));
    TESSERA_TRY(stmt->bind(1, sha256));
    TESSERA_ASSIGN(bool row, stmt->step());
    if (!row) return std::optional<Attachment>();
    return std::optional<Attachment>(read_row(*stmt));
}

Result<std::string> AttachmentStore::read(const Attachment& a) {
    TESSERA_ASSIGN(std::string bytes, read_whole_file(file_path(a)));
    if (sha256_hex(bytes) != a.sha256)
        return make_error(ErrorCode::Format, file_path(a).string() + ": file content does not match its hash " + a.sha256);
    return bytes;
}

Status AttachmentStore::link(Id message_id, Id attachment_id, const std::string& name) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("INSERT INTO message_attachments (message_id, position, attachment_id, name) "
                                          "SELECT ?1, coalesce(max(position) + 1, 0), ?2, ?3 FROM message_attachments "
                                          "WHERE message_id = ?1"));
    TESSERA_TRY(stmt->bind_all(message_id, attachment_id, name));
    return stmt->run();
}

Result<std::vector<MessageAttachment>> AttachmentStore::for_message(Id message_id) {
    static const std::string sql = std::string("SELECT ma.message_id, ma.position, ma.name, a.") +
                                   "id, a.sha256, a.path, a.mime, a.size, a.width, a.height, a.created_at "
                                   "FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id "
                                   "WHERE ma.message_id = ?1 ORDER BY ma.position";
    TESSERA_ASSIGN(auto stmt, m_db.cached(sql));
    TESSERA_TRY(stmt->bind(1, message_id));
    std::vector<MessageAttachment> out;
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        MessageAttachment ma;
        ma.message_id = stmt->column_int(0);
        ma.position = static_cast<int>(stmt->column_int(1));
        ma.name = stmt->column_text(2);
        ma.attachment = read_row(*stmt, 3);
        out.push_back(std::move(ma));
    }
    return out;
}

Result<GarbageReport> AttachmentStore::collect_garbage(std::chrono::seconds min_age) {
    GarbageReport report;
    const std::int64_t cutoff_ms = now_ms() - std::int64_t(min_age.count()) * 1000;

    // 1. Rows nothing refers to. Their files go in step 2 (no row names them any more), so a failure
    // between the two leaves only an orphan file, never a row without its file.
    {
        TESSERA_ASSIGN(Transaction tx, Transaction::begin(m_db));
        TESSERA_ASSIGN(auto stmt, m_db.cached(
                                      "DELETE FROM attachments WHERE created_at <= ?1 "
                                      "AND NOT EXISTS (SELECT 1 FROM message_attachments m WHERE m.attachment_id = attachments.id) "
                                      "AND NOT EXISTS (SELECT 1 FROM grounding g WHERE g.attachment_id = attachments.id) "
                                      "AND NOT EXISTS (SELECT 1 FROM generated_images i WHERE i.attachment_id = attachments.id)"));
        TESSERA_TRY(stmt->bind(1, cutoff_ms));
        TESSERA_TRY(stmt->run());
        report.rows_removed = m_db.changes();
        TESSERA_TRY(tx.commit());
    }

    // 2. Files no row names: orphans of crashes, of step 1, and temporary files of interrupted writes.
    const fs::path root = m_data_dir / "attachments";
    std::error_code ec;
    if (!fs::exists(root, ec)) return report;
    const auto file_cutoff = fs::file_time_type::clock::now() - min_age;
    TESSERA_ASSIGN(auto known, m_db.cached("SELECT path FROM attachments WHERE sha256 = ?1"));
    std::vector<fs::path> doomed;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const fs::path& p = it->path();
        if (fs::last_write_time(p, ec) > file_cutoff || ec) continue;
        const std::string stem = p.stem().string();
        bool referenced = false;
        if (is_hex64(stem)) {
            TESSERA_TRY(known->bind(1, stem));
            TESSERA_ASSIGN(bool row, known->step());
            referenced = row && (m_data_dir / known->column_text(0)) == p;
            known->reset();
        }
        if (!referenced) doomed.push_back(p);
    }
    if (ec) return make_error(ErrorCode::Io, root.string() + ": cannot list attachments: " + ec.message());
    for (const auto& p : doomed) {
        const auto size = fs::file_size(p, ec);
        if (fs::remove(p, ec) && !ec) {
            ++report.files_removed;
            report.bytes_freed += static_cast<std::int64_t>(size);
        }
    }
    return report;
}

}  // namespace tessera::storage
