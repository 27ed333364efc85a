// StreamingReply: an assistant reply being generated, saved while it grows. begin() commits an empty
// 'streaming' message at once; append() collects text and writes it when the last checkpoint is older than
// the interval (a few hundred ms), so a crash loses at most that much; finish() commits the final text and
// statistics as 'complete'. A reply still 'streaming' at the next start (the process died) is marked
// 'interrupted' by Database::open and keeps the text of its last checkpoint.
// Thread use: as its Database (one thread at a time; the app's storage worker feeds it tokens).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

struct StreamingOptions {
    std::chrono::milliseconds checkpoint_interval{250};
};

class StreamingReply {
public:
    // parent_id: the message being answered (for a regeneration, the same parent as the old reply, so
    // the new reply becomes its sibling).
    static Result<StreamingReply> begin(Database& db, Id conversation_id, std::optional<Id> parent_id,
                                        const std::string& model, const SamplingParams& sampling = {},
                                        StreamingOptions options = {});

    StreamingReply(StreamingReply&& other) noexcept;
    StreamingReply& operator=(StreamingReply&&) = delete;
    StreamingReply(const StreamingReply&) = delete;
    StreamingReply& operator=(const StreamingReply&) = delete;
    // Not finished: a last checkpoint is attempted and the reply is left 'interrupted'.
    ~StreamingReply();

    Id message_id() const { return m_id; }
    const std::string& content() const { return m_content; }
    const std::string& thinking() const { return m_thinking; }
    bool finished() const { return m_finished; }

    // Adds generated text. Writes a checkpoint when one is due. A failed write (disk full) is returned but
    // nothing is lost from memory: the next checkpoint or finish() writes everything again.
    Status append(std::string_view content_delta, std::string_view thinking_delta = {});
    // Writes the text so far now.
    Status checkpoint();
    // The reply is complete: final text, statistics and status in one commit.
    Status finish(const GenerationStats& stats = {});
    // Generation stopped early (user pressed Stop, or the engine failed): keeps the text, status
    // 'interrupted' or, with an error message, 'error'.
    Status stop(const std::string& error = {}, const GenerationStats& stats = {});

private:
    StreamingReply(Database& db, Id id, StreamingOptions options);
    Status write_final(MessageStatus status, const std::string& error, const GenerationStats& stats);

    Database* m_db = nullptr;
    Id m_id = 0;
    StreamingOptions m_options;
    std::string m_content;
    std::string m_thinking;
    bool m_dirty = false;
    bool m_finished = false;
    std::chrono::steady_clock::time_point m_last_write;
};

}  // namespace tessera::storage
