// StorageWorker: turns queued requests into repository calls and results back into Qt values.
#include "app/StorageWorker.h"

#include <QBuffer>
#include <QDateTime>
#include <QFileInfo>

#include <nlohmann/json.hpp>

#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/database.h"
#include "storage/message_repository.h"
#include "storage/search_index.h"
#include "storage/settings_repository.h"
#include "storage/streaming_reply.h"

namespace st = tessera::storage;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }
std::string ss(const QString& s) { return s.toStdString(); }

QDateTime fromMs(std::int64_t ms) { return QDateTime::fromMSecsSinceEpoch(ms); }

ConversationSummary toSummary(const st::Conversation& c) {
    ConversationSummary s;
    s.id = c.id;
    s.title = qs(c.title);
    s.pinned = c.pinned;
    s.updatedAt = fromMs(c.updated_at);
    s.modelPath = qs(c.model);
    return s;
}

ChatMessage::Role toRole(st::Role r) {
    switch (r) {
    case st::Role::System: return ChatMessage::Role::System;
    case st::Role::User: return ChatMessage::Role::User;
    case st::Role::Assistant: return ChatMessage::Role::Assistant;
    }
    return ChatMessage::Role::User;
}

st::Role fromRole(ChatMessage::Role r) {
    switch (r) {
    case ChatMessage::Role::System: return st::Role::System;
    case ChatMessage::Role::User: return st::Role::User;
    case ChatMessage::Role::Assistant: return st::Role::Assistant;
    }
    return st::Role::User;
}

ChatMessage toMessage(const st::Message& m) {
    ChatMessage c;
    c.id = m.id;
    c.parentId = m.parent_id.value_or(0);
    c.role = toRole(m.role);
    c.content = qs(m.content);
    c.thinking = qs(m.thinking);
    c.modelName = qs(m.model);
    c.createdAt = fromMs(m.created_at);
    switch (m.status) {
    case st::MessageStatus::Complete: c.state = ChatMessage::State::Complete; break;
    case st::MessageStatus::Streaming:  // a reply of another running instance, or of this one's last checkpoint
    case st::MessageStatus::Interrupted: c.state = ChatMessage::State::Stopped; break;
    case st::MessageStatus::Error: c.state = ChatMessage::State::Failed; break;
    }
    c.promptTokens = int(m.stats.prompt_tokens.value_or(0));
    c.generatedTokens = int(m.stats.completion_tokens.value_or(0));
    c.tokensPerSecond = m.stats.decode_tokens_per_s.value_or(0.0);
    c.thinkingSeconds = double(m.stats.thinking_ms.value_or(0)) / 1000.0;
    return c;
}

st::SamplingParams toParams(const SamplingSettings& sampling) {
    st::SamplingParams params;
    params.temperature = sampling.temperature;
    params.top_p = sampling.topP;
    params.max_tokens = sampling.maxNewTokens;
    return params;
}

st::GenerationStats toStats(const GenerationStats& g) {
    st::GenerationStats s;
    s.prompt_tokens = g.promptTokens;
    s.completion_tokens = g.generatedTokens;
    if (g.tokensPerSecond > 0) s.decode_tokens_per_s = g.tokensPerSecond;
    if (g.thinkingSeconds > 0) s.thinking_ms = std::int64_t(g.thinkingSeconds * 1000.0);
    return s;
}

// The search snippet marks matches with STX/ETX; escape the text, then turn those into bold.
QString snippetHtml(const std::string& snippet) {
    QString text = qs(snippet).toHtmlEscaped();
    text.replace(QChar(0x02), QStringLiteral("<b>"));
    text.replace(QChar(0x03), QStringLiteral("</b>"));
    return text;
}

std::string settingsKey(qint64 id) { return "conversation." + std::to_string(id) + ".chat"; }

}  // namespace

StorageWorker::StorageWorker(QObject* parent) : QObject(parent) {}

StorageWorker::~StorageWorker() { close(); }

qint64 StorageWorker::conv(qint64 id) const { return id < 0 ? m_convIds.value(id, 0) : id; }
qint64 StorageWorker::msg(qint64 id) const { return id < 0 ? m_msgIds.value(id, 0) : id; }

void StorageWorker::fail(const QString& what, const std::string& message, int code) {
    AppError e;
    const QString detail = qs(message);
    const bool full = detail.contains(QLatin1String("full"), Qt::CaseInsensitive);
    e.kind = full ? AppError::Kind::DiskFull : (code == int(tessera::ErrorCode::Io) ? AppError::Kind::Io
                                                                                    : AppError::Kind::Internal);
    e.message = full ? tr("%1: the disk is full. What you typed is still here; free some space and it will be "
                          "saved with the next change.").arg(what)
                     : tr("%1: %2").arg(what, detail.section(QLatin1Char('\n'), 0, 0));
    e.detail = detail;
    emit failed(e);
}

#define TESSERA_STORAGE_FAIL(what, result) fail(what, (result).error().to_string(), int((result).error().code))

void StorageWorker::open(const QString& databasePath, const QString& dataDir, qint64 maxPageCount) {
    m_dataDir = dataDir;
    st::OpenOptions options;
    options.max_page_count = maxPageCount;
    auto db = st::Database::open(ss(databasePath), options);
    if (!db) {
        TESSERA_STORAGE_FAIL(tr("Cannot open the conversation database"), db);
        return;
    }
    m_db = std::move(db).value();
    emit opened(qs(m_db->notice()));
    listConversations();
}

void StorageWorker::close() {
    // A last try for what the disk had no room for; a reply still streaming ends as interrupted.
    if (m_db && !m_unsaved.isEmpty()) {
        for (Unsaved& u : m_unsaved) {
            if (u.kind == Unsaved::Kind::Reply && !u.finished) u.finished = u.stopped = true;
        }
        writeUnsaved();
    }
    m_unsaved.clear();
    // Replies still streaming are closed as interrupted, keeping their text.
    for (auto& [id, reply] : m_replies) {
        if (reply && !reply->finished()) (void)reply->stop();
    }
    m_replies.clear();
    m_db.reset();
}

void StorageWorker::listConversations() {
    if (!m_db) return;
    st::ConversationRepository repo(*m_db);
    auto list = repo.list(st::ConversationFilter::Active, 1000);
    if (!list) return TESSERA_STORAGE_FAIL(tr("Cannot read the conversations"), list);
    QList<ConversationSummary> out;
    for (const auto& c : *list) out << toSummary(c);
    emit conversationsListed(out);
}

ConversationSummary StorageWorker::readSettings(ConversationSummary s) {
    st::SettingsRepository settings(*m_db);
    auto value = settings.get(settingsKey(s.id));
    if (value && value->has_value()) {
        const nlohmann::json& j = **value;
        s.systemPrompt = qs(j.value("system_prompt", std::string()));
        s.sampling.temperature = j.value("temperature", s.sampling.temperature);
        s.sampling.topP = j.value("top_p", s.sampling.topP);
        s.sampling.maxNewTokens = j.value("max_tokens", s.sampling.maxNewTokens);
    }
    return s;
}

void StorageWorker::createConversation(qint64 tempId, const ConversationSummary& summary) {
    if (!m_db) return;
    Unsaved u;
    u.kind = Unsaved::Kind::Conversation;
    u.conversationId = tempId;
    u.summary = summary;
    if (!writeUnsaved() || !write(u)) m_unsaved.append(u);
}

ConversationSummary* StorageWorker::unsavedConversation(qint64 tempId) {
    for (Unsaved& u : m_unsaved) {
        if (u.kind == Unsaved::Kind::Conversation && u.conversationId == tempId) return &u.summary;
    }
    return nullptr;
}

// A conversation still waiting for room on the disk takes the change into its queued summary.
void StorageWorker::renameConversation(qint64 id, const QString& title) {
    if (!m_db) return;
    if (ConversationSummary* queued = unsavedConversation(id)) {
        queued->title = title;
        return;
    }
    auto s = st::ConversationRepository(*m_db).rename(conv(id), ss(title));
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot rename the conversation"), s);
}

void StorageWorker::setPinned(qint64 id, bool pinned) {
    if (!m_db) return;
    if (ConversationSummary* queued = unsavedConversation(id)) {
        queued->pinned = pinned;
        return;
    }
    auto s = st::ConversationRepository(*m_db).set_pinned(conv(id), pinned);
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot pin the conversation"), s);
}

void StorageWorker::setConversationModel(qint64 id, const QString& modelPath) {
    if (!m_db) return;
    if (ConversationSummary* queued = unsavedConversation(id)) {
        queued->modelPath = modelPath;
        return;
    }
    auto s = st::ConversationRepository(*m_db).set_model(conv(id), ss(modelPath));
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot save the conversation's model"), s);
}

void StorageWorker::setConversationSettings(qint64 id, const QString& systemPrompt, const SamplingSettings& sampling) {
    if (!m_db) return;
    if (ConversationSummary* queued = unsavedConversation(id)) {
        queued->systemPrompt = systemPrompt;
        queued->sampling = sampling;
        return;
    }
    if (conv(id) == 0) return;
    nlohmann::json j = {{"system_prompt", ss(systemPrompt)},
                        {"temperature", sampling.temperature},
                        {"top_p", sampling.topP},
                        {"max_tokens", sampling.maxNewTokens}};
    auto s = st::SettingsRepository(*m_db).set(settingsKey(conv(id)), j);
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot save the conversation settings"), s);
}

void StorageWorker::deleteConversation(qint64 id) {
    if (!m_db) return;
    // What is still queued for it goes with it.
    m_unsaved.removeIf([id](const Unsaved& u) { return u.conversationId == id; });
    const qint64 real = conv(id);
    if (real == 0) return;
    auto s = st::ConversationRepository(*m_db).remove(real);
    if (!s) return TESSERA_STORAGE_FAIL(tr("Cannot delete the conversation"), s);
    (void)st::SettingsRepository(*m_db).remove(settingsKey(real));
}

void StorageWorker::loadConversation(qint64 id) {
    if (!m_db) return;
    const qint64 real = conv(id);
    st::ConversationRepository conversations(*m_db);
    auto c = conversations.get(real);
    if (!c) return TESSERA_STORAGE_FAIL(tr("Cannot open the conversation"), c);
    st::MessageRepository messages(*m_db);
    auto all = messages.list_all(real);
    if (!all) return TESSERA_STORAGE_FAIL(tr("Cannot read the messages"), all);
    st::AttachmentStore attachments(*m_db, ss(m_dataDir));
    QList<ChatMessage> out;
    for (const auto& m : *all) {
        ChatMessage cm = toMessage(m);
        if (auto files = attachments.for_message(m.id)) {
            for (const auto& a : *files) cm.imagePaths << qs(attachments.file_path(a.attachment).string());
        }
        out << cm;
    }
    ConversationSummary summary = readSettings(toSummary(*c));
    summary.id = id;  // the GUI may still know it by its temporary id
    emit conversationLoaded(summary, out, c->current_leaf_id.value_or(0));
}

void StorageWorker::search(const QString& text) {
    if (!m_db) return;
    st::SearchIndex index(*m_db);
    st::SearchOptions options;
    options.limit = 50;
    auto results = index.search(ss(text), options);
    if (!results) return TESSERA_STORAGE_FAIL(tr("Search failed"), results);
    QList<ConversationSummary> hits;
    QHash<qint64, int> seen;
    auto add = [&](const st::SearchHit& h, bool title) {
        if (h.archived) return;
        if (seen.contains(h.conversation_id)) return;
        ConversationSummary s;
        s.id = h.conversation_id;
        s.title = qs(h.conversation_title);
        s.snippet = title ? QString() : snippetHtml(h.snippet);
        if (title) s.snippet = snippetHtml(h.snippet);
        seen.insert(s.id, int(hits.size()));
        hits << s;
    };
    for (const auto& h : results->titles) add(h, true);
    for (const auto& h : results->messages) add(h, false);
    emit searchResults(text, hits);
}

void StorageWorker::appendUserMessage(qint64 conversationId, const ChatMessage& message, const QList<QImage>& images,
                                      const QStringList& names) {
    if (!m_db) return;
    Unsaved u;
    u.kind = Unsaved::Kind::UserMessage;
    u.conversationId = conversationId;
    u.message = message;
    u.images = images;
    u.names = names;
    if (!writeUnsaved() || !write(u)) m_unsaved.append(u);
}

void StorageWorker::beginReply(qint64 conversationId, qint64 tempId, qint64 parentId, const QString& model,
                               const SamplingSettings& sampling) {
    if (!m_db) return;
    Unsaved u;
    u.kind = Unsaved::Kind::Reply;
    u.conversationId = conversationId;
    u.message.id = tempId;
    u.message.parentId = parentId;
    u.message.role = ChatMessage::Role::Assistant;
    u.message.modelName = model;
    u.sampling = sampling;
    u.finished = false;
    // Behind something unsaved (the question it answers, most likely): kept in memory and written after it.
    if (!writeUnsaved() || (parentId != 0 && msg(parentId) == 0) || conv(conversationId) == 0) {
        m_unsaved.append(u);
        return;
    }
    std::optional<st::Id> parent;
    if (parentId != 0) parent = msg(parentId);
    auto reply = st::StreamingReply::begin(*m_db, conv(conversationId), parent, ss(model), toParams(sampling));
    if (!reply) {
        TESSERA_STORAGE_FAIL(tr("Cannot save the reply"), reply);
        m_unsaved.append(u);
        return;
    }
    m_msgIds.insert(tempId, reply->message_id());
    m_replies[tempId] = std::make_unique<st::StreamingReply>(std::move(reply).value());
}

StorageWorker::Unsaved* StorageWorker::unsavedReply(qint64 tempId) {
    for (Unsaved& u : m_unsaved) {
        if (u.kind == Unsaved::Kind::Reply && u.message.id == tempId) return &u;
    }
    return nullptr;
}

void StorageWorker::appendReply(qint64 tempId, const QString& answer, const QString& thinking) {
    if (Unsaved* u = unsavedReply(tempId)) {
        u->message.content += answer;
        u->message.thinking += thinking;
        return;
    }
    auto it = m_replies.find(tempId);
    if (it == m_replies.end()) return;
    auto s = it->second->append(ss(answer), ss(thinking));
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot save the reply"), s);
}

void StorageWorker::finishReply(qint64 tempId, const GenerationStats& stats, bool stopped, const QString& error) {
    if (Unsaved* u = unsavedReply(tempId)) {
        u->finished = true;
        u->stats = stats;
        u->stopped = stopped;
        u->error = error;
        writeUnsaved();
        return;
    }
    auto it = m_replies.find(tempId);
    if (it == m_replies.end()) return;
    tessera::Status s = (stopped || !error.isEmpty()) ? it->second->stop(ss(error), toStats(stats))
                                                      : it->second->finish(toStats(stats));
    if (!s) {
        // Keep the reply in memory: its text is written again with the next attempt (or as interrupted).
        TESSERA_STORAGE_FAIL(tr("Cannot save the reply"), s);
        return;
    }
    m_replies.erase(it);
}

bool StorageWorker::writeUnsaved() {
    while (!m_unsaved.isEmpty()) {
        const Unsaved& u = m_unsaved.first();
        if (u.kind == Unsaved::Kind::Reply && !u.finished) return false;
        if (!write(u)) return false;
        m_unsaved.removeFirst();
    }
    return true;
}

bool StorageWorker::write(const Unsaved& u) {
    if (u.kind == Unsaved::Kind::Conversation) {
        auto c = st::ConversationRepository(*m_db).create(ss(u.summary.title), ss(u.summary.modelPath));
        if (!c) {
            TESSERA_STORAGE_FAIL(tr("Cannot save the new conversation"), c);
            return false;
        }
        m_convIds.insert(u.conversationId, c->id);
        emit conversationIdAssigned(u.conversationId, c->id);
        if (u.summary.pinned) setPinned(c->id, true);
        if (!u.summary.systemPrompt.isEmpty() || !(u.summary.sampling == SamplingSettings{}))
            setConversationSettings(c->id, u.summary.systemPrompt, u.summary.sampling);
        return true;
    }
    st::Message m;
    m.conversation_id = conv(u.conversationId);
    if (u.message.parentId != 0) m.parent_id = msg(u.message.parentId);
    // Written in order, so a conversation or parent still unknown here was deleted meanwhile: nothing to
    // hang the message on.
    if (m.conversation_id == 0 || (m.parent_id && *m.parent_id == 0)) return true;
    m.role = fromRole(u.message.role);
    m.content = ss(u.message.content);
    m.model = ss(u.message.modelName);
    const bool reply = u.kind == Unsaved::Kind::Reply;
    if (reply) {
        m.thinking = ss(u.message.thinking);
        m.status = !u.error.isEmpty() ? st::MessageStatus::Error
                   : u.stopped        ? st::MessageStatus::Interrupted
                                      : st::MessageStatus::Complete;
        m.error = ss(u.error);
        m.sampling = toParams(u.sampling);
        m.stats = toStats(u.stats);
    }
    auto saved = st::MessageRepository(*m_db).append(m);
    if (!saved) {
        TESSERA_STORAGE_FAIL(reply ? tr("Cannot save the reply") : tr("Cannot save your message"), saved);
        return false;
    }
    m_msgIds.insert(u.message.id, saved->id);
    if (u.images.isEmpty() && (reply || u.message.imagePaths.isEmpty())) return true;
    // The message is saved; an image that does not fit is reported but does not hold the queue up.
    st::AttachmentStore store(*m_db, ss(m_dataDir));
    QStringList paths;
    if (u.images.isEmpty()) {
        // An edited copy of a message comes with its original's files only: they are attached as they are.
        for (const QString& file : u.message.imagePaths) {
            auto a = store.add_file(std::filesystem::path(ss(file)));
            if (!a) {
                TESSERA_STORAGE_FAIL(tr("Cannot save the attached image"), a);
                return true;
            }
            auto linked = store.link(saved->id, a->id, ss(QFileInfo(file).fileName()));
            if (!linked) {
                TESSERA_STORAGE_FAIL(tr("Cannot save the attached image"), linked);
                return true;
            }
            paths << qs(store.file_path(*a).string());
        }
        emit attachmentsStored(u.message.id, paths);
        return true;
    }
    for (int i = 0; i < u.images.size(); ++i) {
        QByteArray png;
        QBuffer buffer(&png);
        buffer.open(QIODevice::WriteOnly);
        u.images[i].save(&buffer, "PNG");
        auto a = store.add(std::string_view(png.constData(), size_t(png.size())), "image/png");
        if (!a) {
            TESSERA_STORAGE_FAIL(tr("Cannot save the attached image"), a);
            return true;
        }
        auto linked = store.link(saved->id, a->id, ss(u.names.value(i)));
        if (!linked) {
            TESSERA_STORAGE_FAIL(tr("Cannot save the attached image"), linked);
            return true;
        }
        paths << qs(store.file_path(*a).string());
    }
    emit attachmentsStored(u.message.id, paths);
    return true;
}

void StorageWorker::setCurrentLeaf(qint64 conversationId, qint64 leafId) {
    if (!m_db) return;
    const qint64 leaf = msg(leafId);
    if (leaf == 0) return;
    auto s = st::ConversationRepository(*m_db).set_current_leaf(conv(conversationId), leaf);
    if (!s) TESSERA_STORAGE_FAIL(tr("Cannot remember the shown branch"), s);
}
