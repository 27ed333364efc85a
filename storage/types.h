// The records storage/ reads and writes: plain structs mirroring the tables of migrations/*.sql.
// Timestamps are milliseconds since the Unix epoch; optional fields are NULL in the database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::storage {

using Id = std::int64_t;

struct Conversation {
    Id id = 0;
    std::string uuid;  // stable across export/import
    std::string title;
    std::string model;
    bool pinned = false;
    bool archived = false;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
    std::optional<Id> current_leaf_id;  // the shown branch ends here

    bool operator==(const Conversation&) const = default;
};

enum class Role { System, User, Assistant };
enum class MessageStatus { Streaming, Complete, Interrupted, Error };

const char* role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);
const char* status_name(MessageStatus status);
std::optional<MessageStatus> status_from_name(std::string_view name);

// How the reply was sampled; unset fields were the model's defaults.
struct SamplingParams {
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::int64_t> top_k;
    std::optional<std::int64_t> max_tokens;
    std::optional<std::int64_t> seed;
    std::optional<double> repetition_penalty;

    bool operator==(const SamplingParams&) const = default;
};

struct GenerationStats {
    std::optional<std::int64_t> prompt_tokens;
    std::optional<std::int64_t> completion_tokens;
    std::optional<std::int64_t> thinking_tokens;
    std::optional<double> prefill_tokens_per_s;
    std::optional<double> decode_tokens_per_s;
    std::optional<std::int64_t> thinking_ms;  // "Thought for N s"

    bool operator==(const GenerationStats&) const = default;
};

struct Message {
    Id id = 0;
    Id conversation_id = 0;
    std::optional<Id> parent_id;  // NULL for a first message; siblings are edits / regenerations
    Role role = Role::User;
    std::string content;   // the answer (or the user's text)
    std::string thinking;  // reasoning text, kept apart from the answer
    std::string model;
    MessageStatus status = MessageStatus::Complete;
    std::string error;
    SamplingParams sampling;
    GenerationStats stats;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
    std::optional<std::int64_t> finished_at;

    bool operator==(const Message&) const = default;
};

// Where a message sits among its siblings, for the ‹ n/m › switcher.
struct BranchInfo {
    int index = 0;  // 0-based position among the siblings, oldest first
    int count = 1;
    std::optional<Id> previous;
    std::optional<Id> next;
};

struct Attachment {
    Id id = 0;
    std::string sha256;  // 64 lowercase hex digits
    std::string path;    // relative to the data folder: attachments/<2 hex>/<sha256>.<ext>
    std::string mime;
    std::int64_t size = 0;
    int width = 0;  // pixels; 0 when not an image or not recognised
    int height = 0;
    std::int64_t created_at = 0;

    bool operator==(const Attachment&) const = default;
};

// An attachment as it appears on one message.
struct MessageAttachment {
    Id message_id = 0;
    int position = 0;
    std::string name;  // the file name the user attached
    Attachment attachment;

    bool operator==(const MessageAttachment&) const = default;
};

// One referring phrase and its box: as the model wrote it (0..999 on both axes) and in image pixels.
struct GroundingBox {
    Id id = 0;
    Id message_id = 0;
    std::optional<Id> attachment_id;
    int position = 0;
    std::string phrase;
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    double px0 = 0, py0 = 0, px1 = 0, py1 = 0;

    bool operator==(const GroundingBox&) const = default;
};

struct GeneratedImage {
    Id id = 0;
    std::string uuid;
    std::string prompt;
    std::int64_t seed = 0;
    double cfg_weight = 0;
    double temperature = 0;
    std::string model;
    Id attachment_id = 0;  // the PNG, stored like any attachment
    int batch_index = 0;
    std::int64_t created_at = 0;

    bool operator==(const GeneratedImage&) const = default;
};

// A version 4 random UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string new_uuid();

}  // namespace tessera::storage
