// MessageRepository: the messages of a conversation as a tree. A message's parent is the message it
// answers or follows; editing a message or regenerating a reply adds a sibling under the same parent, so
// every version stays and the shown thread is the path from a root to the conversation's current leaf.
// Each finished message is committed at once (one transaction with the conversation's bookkeeping);
// replies being generated go through StreamingReply instead.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

class MessageRepository {
public:
    explicit MessageRepository(Database& db) : m_db(db) {}

    // Adds a message (id ignored; zero times become now), makes it the conversation's current leaf and
    // marks the conversation active. The parent, if any, must be in the same conversation.
    Result<Message> append(Message message);
    // Inserts the record as it is (times and status kept) without touching the conversation. Used by import.
    Result<Id> insert(const Message& message);

    Result<Message> get(Id id);
    // Every message of the conversation, every branch, oldest first (parents always before children).
    Result<std::vector<Message>> list_all(Id conversation_id);
    // The thread root -> leaf.
    Result<std::vector<Message>> path_to(Id leaf_id);
    // The thread the user sees: the path to the current leaf (or, if unset, to the newest leaf).
    Result<std::vector<Message>> active_thread(Id conversation_id);
    // Direct children of `parent` (roots when nullopt), oldest first.
    Result<std::vector<Message>> children(Id conversation_id, std::optional<Id> parent_id);
    Result<BranchInfo> branch_info(Id message_id);
    // Follows the newest child from `message_id` down to a leaf.
    Result<Id> latest_leaf(Id message_id);
    // Shows the branch through `message_id` (e.g. a sibling picked with ‹ ›): its newest leaf becomes
    // current. Returns that leaf.
    Result<Id> select_branch(Id message_id);

    // Edit: a new sibling of `message_id` with the new text (same role, parent and attachments), made
    // current. The original stays reachable through the branch switcher.
    Result<Message> edit(Id message_id, const std::string& new_content);
    // Changes a message in place (content, thinking, status, error, stats, finished_at): for corrections
    // that are not a new version, e.g. marking a failed reply.
    Status update(const Message& message);
    // Deletes the message and everything below it. If the shown thread went with it, the newest remaining
    // leaf of the parent (or of the newest root) becomes current.
    Status remove(Id message_id);

private:
    Database& m_db;
};

// Column list and row reader shared with StreamingReply and export.
extern const char* const k_message_columns;
Message read_message_row(const Statement& stmt, int first_column = 0);

}  // namespace tessera::storage
