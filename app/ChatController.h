// ChatController: the chat's logic on the GUI thread. It owns the sidebar's ConversationListModel and the
// open conversation's MessageModel, turns the ChatPane's intents into requests for the InferenceWorker and
// the StorageWorker (queued calls, never waiting), and folds their queued results back into the models.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>

#include <optional>

#include "app/ChatEngine.h"
#include "ui/chat/Composer.h"
#include "ui/common/ChatTypes.h"

class ChatPane;
class ConversationListModel;
class InferenceWorker;
class MainWindow;
class MessageModel;
class Settings;
class StorageWorker;

class ChatController : public QObject {
    Q_OBJECT
public:
    ChatController(MainWindow* window, Settings* settings, InferenceWorker* inference, StorageWorker* storage,
                   QObject* parent = nullptr);

    ConversationListModel* conversations() const { return m_conversations; }
    MessageModel* messages() const { return m_messages; }
    qint64 currentConversation() const { return m_current.id; }
    bool isGenerating() const { return m_active.has_value(); }
    quint64 activeRequest() const { return m_active ? m_active->requestId : 0; }

    // Intents (also reachable from the widgets' signals).
    void newChat();
    void openConversation(qint64 id);
    void send(const QString& text, const QList<PendingImage>& images = {});
    void stop();
    void regenerate(qint64 assistantId);
    void editAndResend(qint64 userId, const QString& text);
    void switchBranch(qint64 id, int delta);
    void deleteConversation(qint64 id);
    void undoDelete();
    // Makes a pending delete final (the undo bar timed out, or the app closes).
    void commitDelete();
    void search(const QString& text);
    void setConversationModel(const QString& path);
    void setConversationSettings(const QString& systemPrompt, const SamplingSettings& sampling);
    void editConversationSettings();
    // The model chosen for new chats changed (model manager / first load).
    void setDefaultModel(const QString& path, const QString& name);
    // Where a pasted picture (no file of its own) is written before it is sent: the model reads images by
    // file. Such files older than a day are removed here (the conversation keeps its own copy).
    void setScratchDir(const QString& dir);

signals:
    void generationFinished(quint64 requestId, bool stopped);
    void conversationOpened(qint64 id);

private:
    // Results from the workers.
    void onConversationsListed(const QList<ConversationSummary>& list);
    void onConversationLoaded(const ConversationSummary& summary, const QList<ChatMessage>& messages, qint64 leaf);
    void onIdAssigned(qint64 tempId, qint64 realId);
    void onSearchResults(const QString& text, const QList<ConversationSummary>& hits);
    void onTextDelta(quint64 requestId, const QString& text);
    void onThinkingDelta(quint64 requestId, const QString& text);
    void onStats(quint64 requestId, const GenerationStats& stats);
    void onContextTrimmed(quint64 requestId, int dropped, int context);
    void onFailed(quint64 requestId, const AppError& error);
    void onFinished(quint64 requestId, bool stopped);
    void onStorageFailed(const AppError& error);

    void ensureConversation(const QString& firstText);
    void startReply(qint64 userMessageId);
    EngineRequest buildRequest(qint64 upToId) const;
    QString modelName(const QString& path) const;
    // Writes a pasted picture to a file of its own in the scratch folder; empty (and a banner) on failure.
    QString writePastedImage(const QImage& image);
    QString pastedDir() const;
    qint64 nextTempId() { return --m_tempIds; }

    MainWindow* m_window;
    ChatPane* m_pane;
    Settings* m_settings;
    InferenceWorker* m_inference;
    StorageWorker* m_storage;
    ConversationListModel* m_conversations;
    MessageModel* m_messages;

    ConversationSummary m_current;  // id 0: a new chat not saved yet
    QString m_defaultModel;
    QString m_defaultModelName;
    QString m_searchText;
    QString m_scratchDir;
    std::optional<ConversationSummary> m_pendingDelete;
    bool m_loading = false;  // setMessages in progress: leaf changes are not the user's

    struct Active {
        quint64 requestId = 0;
        qint64 conversationId = 0;
        qint64 messageId = 0;
        QElapsedTimer thinkingTimer;
        double thinkingSeconds = 0.0;
        GenerationStats stats;
        QString error;
        bool stopped = false;
    };
    std::optional<Active> m_active;
    qint64 m_tempIds = 0;
};
