// AttachmentStore: images and other files attached to messages or produced by image generation. Bytes are
// stored once, in content-addressed files <data>/attachments/<2 hex>/<sha256>.<ext>, written atomically
// before the row that names them is committed; the attachments table holds the relative path, hash,
// size, type and pixel size. Adding the same bytes twice returns the existing attachment.
// Files or rows no longer referenced (conversation deleted, crash between file and row) are removed by
// collect_garbage, which the app should run at start-up when Database::sole_instance_at_open() is true.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

struct GarbageReport {
    int rows_removed = 0;
    int files_removed = 0;
    std::int64_t bytes_freed = 0;
};

class AttachmentStore {
public:
    AttachmentStore(Database& db, std::filesystem::path data_dir) : m_db(db), m_data_dir(std::move(data_dir)) {}

    // mime overrides the sniffed type (images are recognised from their bytes either way).
    Result<Attachment> add(std::string_view bytes, const std::string& mime = {});
    Result<Attachment> add_file(const std::filesystem::path& source);

    Result<Attachment> get(Id id);
    Result<std::optional<Attachment>> find_by_hash(const std::string& sha256);
    // The absolute path of the stored file.
    std::filesystem::path file_path(const Attachment& attachment) const { return m_data_dir / attachment.path; }
    // The stored bytes, checked against the hash (a damaged or missing file is an error, never wrong data).
    Result<std::string> read(const Attachment& attachment);

    // Attaches to a message after any attachments it already has.
    Status link(Id message_id, Id attachment_id, const std::string& name = {});
    Result<std::vector<MessageAttachment>> for_message(Id message_id);

    // Removes attachment rows nothing refers to and files no row names, if older than min_age (so an
    // attachment being added right now by this or another instance is never taken).
    Result<GarbageReport> collect_garbage(std::chrono::seconds min_age = std::chrono::hours(1));

    const std::filesystem::path& data_dir() const { return m_data_dir; }

private:
    Database& m_db;
    std::filesystem::path m_data_dir;
};

}  // namespace tessera::storage
