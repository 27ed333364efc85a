// StorageWorker: the app's only door to the SQLite library. It lives on its own QThread and owns the
// Database and its repositories; the GUI sends requests as queued slot calls and gets results and errors
// back as queued signals, so the GUI thread never waits on disk.
//
// Ids: the GUI creates conversations and messages before storage has answered, under negative temporary
// ids. This worker maps each temporary id to the row id it got and resolves later requests through that
// map; conversationIdAssigned tells the GUI the real conversation id.
#pragma once

#include <QHash>
#include <QImage>
#include <QList>
#include <QObject>
#include <QStringList>

#include <map>
#include <memory>

#include "ui/common/ChatTypes.h"
#include "ui/imagegen/ImageGenTypes.h"

namespace tessera::storage {
class Database;
class StreamingReply;
}  // namespace tessera::storage

class StorageWorker : public QObject {
    Q_OBJECT
public:
    explicit StorageWorker(QObject* parent = nullptr);
    ~StorageWorker() override;

public slots:
    // maxPageCount > 0 caps the database size (tests simulate a full disk with it).
    void open(const QString& databasePath, const QString& dataDir, qint64 maxPageCount);
    void close();
    void listConversations();
    void createConversation(qint64 tempId, const ConversationSummary& summary);
    void renameConversation(qint64 id, const QString& title);
    void setPinned(qint64 id, bool pinned);
    void setConversationModel(qint64 id, const QString& modelPath);
    void setConversationSettings(qint64 id, const QString& systemPrompt, const SamplingSettings& sampling);
    void deleteConversation(qint64 id);
    void loadConversation(qint64 id);
    void search(const QString& text);
    // A finished message of the user's (parent 0 = first message). Images are stored as attachments; without
    // images, the files in message.imagePaths are (an edited copy keeps its original's pictures).
    void appendUserMessage(qint64 conversationId, const ChatMessage& message, const QList<QImage>& images,
                           const QStringList& names);
    void beginReply(qint64 conversationId, qint64 tempId, qint64 parentId, const QString& model,
                    const SamplingSettings& sampling);
    void appendReply(qint64 tempId, const QString& answer, const QString& thinking);
    // stopped: the user pressed Stop; error non-empty: the engine failed. Otherwise complete.
    void finishReply(qint64 tempId, const GenerationStats& stats, bool stopped, const QString& error);
    void setCurrentLeaf(qint64 conversationId, qint64 leafId);
    // The image generation gallery (app/ImageGenStorage.cpp): a finished batch is stored as PNG attachments
    // with its settings; the gallery comes back newest first.
    void saveGeneratedImages(quint64 batchId, const QList<GeneratedImageItem>& items);
    void loadGallery(int limit);

signals:
    void opened(const QString& notice);
    void conversationsListed(const QList<ConversationSummary>& list);
    void conversationIdAssigned(qint64 tempId, qint64 realId);
    void conversationLoaded(const ConversationSummary& summary, const QList<ChatMessage>& messages, qint64 leafId);
    void searchResults(const QString& text, const QList<ConversationSummary>& hits);
    void attachmentsStored(qint64 messageId, const QStringList& paths);
    // The batch as stored (ids, file paths, times); on failure failed() comes instead.
    void generatedImagesSaved(quint64 batchId, const QList<GeneratedImageItem>& items);
    void galleryLoaded(const QList<GeneratedImageItem>& items);
    void failed(const AppError& error);

private:
    // What the disk had no room for (or that depends on it), kept in order and written with the next
    // change that finds room again, so a full disk loses nothing that is still on screen.
    struct Unsaved {
        enum class Kind { Conversation, UserMessage, Reply } kind = Kind::UserMessage;
        qint64 conversationId = 0;
        ConversationSummary summary;  // Conversation
        ChatMessage message;          // UserMessage, Reply (temporary id and parent)
        QList<QImage> images;
        QStringList names;
        SamplingSettings sampling;    // Reply
        GenerationStats stats;
        QString error;
        bool stopped = false;
        bool finished = true;         // a reply still streaming waits for its end
    };

    qint64 conv(qint64 id) const;
    qint64 msg(qint64 id) const;
    void fail(const QString& what, const std::string& message, int code);
    ConversationSummary readSettings(ConversationSummary s);
    // Writes the queue in order; false when something is still unsaved.
    bool writeUnsaved();
    bool write(const Unsaved& u);
    Unsaved* unsavedReply(qint64 tempId);
    ConversationSummary* unsavedConversation(qint64 tempId);

    std::unique_ptr<tessera::storage::Database> m_db;
    QString m_dataDir;
    QHash<qint64, qint64> m_convIds;  // temporary -> real
    QHash<qint64, qint64> m_msgIds;
    std::map<qint64, std::unique_ptr<tessera::storage::StreamingReply>> m_replies;  // by temporary id
    QList<Unsaved> m_unsaved;
};
