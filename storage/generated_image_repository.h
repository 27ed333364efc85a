// GeneratedImageRepository: the image generation gallery. Each image keeps everything needed to make it
// again (prompt, seed, CFG weight, temperature, model); its PNG is an attachment (AttachmentStore).
// Thread use: as its Database (one thread at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

class GeneratedImageRepository {
public:
    explicit GeneratedImageRepository(Database& db) : m_db(db) {}

    // Adds the record (id ignored; empty uuid gets a new one, zero created_at becomes now).
    Result<GeneratedImage> add(GeneratedImage image);
    Result<GeneratedImage> get(Id id);
    Result<std::optional<GeneratedImage>> find_by_uuid(const std::string& uuid);
    // Newest first.
    Result<std::vector<GeneratedImage>> list(int limit = 100, int offset = 0);
    Result<std::int64_t> count();
    // The PNG stays until AttachmentStore::collect_garbage finds nothing else uses it.
    Status remove(Id id);

private:
    Database& m_db;
};

}  // namespace tessera::storage
