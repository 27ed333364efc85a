// ConversationRepository: create, list (the sidebar's order), rename, pin, archive, delete conversations.
// Deleting a conversation deletes its messages, their attachment links and grounding boxes (cascades);
// attachment files themselves are collected later by AttachmentStore::collect_garbage.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

enum class ConversationFilter { Active, Archived, All };

class ConversationRepository {
public:
    explicit ConversationRepository(Database& db) : m_db(db) {}

    Result<Conversation> create(const std::string& title, const std::string& model = {});
    // Inserts a complete record (uuid and times kept; id and current_leaf_id ignored). Used by import.
    Result<Id> insert(const Conversation& conversation);

    Result<Conversation> get(Id id);
    Result<std::optional<Conversation>> find_by_uuid(const std::string& uuid);
    // Pinned first, then by last activity, newest first.
    Result<std::vector<Conversation>> list(ConversationFilter filter = ConversationFilter::Active, int limit = 100,
                                           int offset = 0);
    Result<std::int64_t> count(ConversationFilter filter = ConversationFilter::Active);

    Status rename(Id id, const std::string& title);
    Status set_pinned(Id id, bool pinned);
    Status set_archived(Id id, bool archived);
    Status set_model(Id id, const std::string& model);
    // Marks activity now (moves the conversation to the top of its group).
    Status touch(Id id);
    // Shows the branch ending at `leaf` (must belong to the conversation), or none.
    Status set_current_leaf(Id id, std::optional<Id> leaf);
    Status remove(Id id);

private:
    Status expect_one_change(Id id);

    Database& m_db;
};

}  // namespace tessera::storage
