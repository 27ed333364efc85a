// StreamingReply: checkpointed writes of a growing reply (see streaming_reply.h).
#include "storage/streaming_reply.h"

#include <utility>

#include "storage/message_repository.h"

namespace tessera::storage {

Result<StreamingReply> StreamingReply::begin(Database& db, Id conversation_id, std::optional<Id> parent_id,
                                             const std::string& model, const SamplingParams& sampling,
                                             StreamingOptions options) {
    Message m;
    m.conversation_id = conversation_id;
    m.parent_id = parent_id;
    m.role = Role::Assistant;
    m.model = model;
    m.sampling = sampling;
    m.status = MessageStatus::Streaming;
    MessageRepository messages(db);
    TESSERA_ASSIGN(Message inserted, messages.append(m));
    return StreamingReply(db, inserted.id, options);
}

StreamingReply::StreamingReply(Database& db, Id id, StreamingOptions options)
    : m_db(&db), m_id(id), m_options(options), m_last_write(std::chrono::steady_clock::now()) {}

StreamingReply::StreamingReply(StreamingReply&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)),
      m_id(other.m_id),
      m_options(other.m_options),
      m_content(std::move(other.m_content)),
      m_thinking(std::move(other.m_thinking)),
      m_dirty(other.m_dirty),
      m_finished(other.m_finished),
      m_last_write(other.m_last_write) {}

StreamingReply::~StreamingReply() {
    if (m_db && !m_finished) (void)stop();
}

Status StreamingReply::append(std::string_view content_delta, std::string_view thinking_delta) {
    if (!m_db || m_finished) return make_error(ErrorCode::InvalidArgument, "reply " + std::to_string(m_id) + " is finished");
    if (content_delta.empty() && thinking_delta.empty()) return {};
    m_content += content_delta;
    m_thinking += thinking_delta;
    m_dirty = true;
    if (std::chrono::steady_clock::now() - m_last_write >= m_options.checkpoint_interval) return checkpoint();
    return {};
}

Status StreamingReply::checkpoint() {
    if (!m_db || m_finished) return make_error(ErrorCode::InvalidArgument, "reply " + std::to_string(m_id) + " is finished");
    if (!m_dirty) return {};
    // The whole text each time (not a delta): a checkpoint is self-contained, so a failed one is simply
    // redone by the next. Status is re-asserted in case another instance repaired it meanwhile.
    TESSERA_ASSIGN(auto stmt, m_db->cached("UPDATE messages SET content = ?2, thinking = ?3, status = 'streaming', "
                                           "updated_at = ?4 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(m_id, m_content, m_thinking, now_ms()));
    // Retry the interval from now even on failure, so a full disk is not hammered on every token.
    m_last_write = std::chrono::steady_clock::now();
    TESSERA_TRY(stmt->run());
    if (m_db->changes() != 1)
        return make_error(ErrorCode::InvalidArgument, "reply " + std::to_string(m_id) + " was deleted while streaming");
    m_dirty = false;
    return {};
}

Status StreamingReply::write_final(MessageStatus status, const std::string& error, const GenerationStats& stats) {
    if (!m_db || m_finished) return make_error(ErrorCode::InvalidArgument, "reply " + std::to_string(m_id) + " is finished");
    const std::int64_t now = now_ms();
    TESSERA_ASSIGN(auto stmt,
                   m_db->cached("UPDATE messages SET content = ?2, thinking = ?3, status = ?4, error = ?5, "
                                "prompt_tokens = ?6, completion_tokens = ?7, thinking_tokens = ?8, "
                                "prefill_tokens_per_s = ?9, decode_tokens_per_s = ?10, thinking_ms = ?11, "
                                "updated_at = ?12, finished_at = ?12 WHERE id = ?1"));
    TESSERA_TRY(stmt->bind_all(m_id, m_content, m_thinking, status_name(status), error, stats.prompt_tokens,
                               stats.completion_tokens, stats.thinking_tokens, stats.prefill_tokens_per_s,
                               stats.decode_tokens_per_s, stats.thinking_ms, now));
    TESSERA_TRY(stmt->run());
    if (m_db->changes() != 1)
        return make_error(ErrorCode::InvalidArgument, "reply " + std::to_string(m_id) + " was deleted while streaming");
    m_finished = true;
    m_dirty = false;
    return {};
}

Status StreamingReply::finish(const GenerationStats& stats) { return write_final(MessageStatus::Complete, {}, stats); }

Status StreamingReply::stop(const std::string& error, const GenerationStats& stats) {
    return write_final(error.empty() ? MessageStatus::Interrupted : MessageStatus::Error, error, stats);
}

}  // namespace tessera::storage
