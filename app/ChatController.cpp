// ChatController: send / stop / regenerate / edit / branches, the sidebar's list and search, delete with
// undo. Worker calls go through post(): a queued call that runs on the worker's thread.
#include "app/ChatController.h"

#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QMetaObject>
#include <QTabWidget>
#include <QTemporaryFile>

#include "app/InferenceWorker.h"
#include "app/Settings.h"
#include "app/StorageWorker.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/ConversationSettingsDialog.h"
#include "ui/chat/MessageModel.h"
#include "ui/main/ConversationListModel.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/main/MainWindow.h"
#include "ui/main/Sidebar.h"

namespace {
template <class Worker, class F>
void post(Worker* worker, F&& call) {
    QMetaObject::invokeMethod(worker, std::forward<F>(call), Qt::QueuedConnection);
}

QString titleFrom(const QString& text) {
    QString t = text.simplified();
    if (t.size() > 48) t = t.left(47) + QChar(0x2026);
    return t;
}
}  // namespace

ChatController::ChatController(MainWindow* window, Settings* settings, InferenceWorker* inference,
                               StorageWorker* storage, QObject* parent)
    : QObject(parent), m_window(window), m_pane(window->chatPane()), m_settings(settings), m_inference(inference),
      m_storage(storage), m_conversations(new ConversationListModel(this)), m_messages(new MessageModel(this)) {
    m_pane->setMessageModel(m_messages);
    m_window->sidebar()->setModel(m_conversations);
    m_current.sampling = settings->defaultSampling();

    connect(m_pane, &ChatPane::sendRequested, this, &ChatController::send);
    connect(m_pane, &ChatPane::stopRequested, this, &ChatController::stop);
    connect(m_pane, &ChatPane::regenerateRequested, this, &ChatController::regenerate);
    connect(m_pane, &ChatPane::editSubmitted, this, &ChatController::editAndResend);
    connect(m_pane, &ChatPane::branchRequested, this, &ChatController::switchBranch);
    connect(m_pane, &ChatPane::modelChosen, this, &ChatController::setConversationModel);
    connect(m_pane, &ChatPane::conversationSettingsRequested, this, &ChatController::editConversationSettings);
    connect(m_window, &MainWindow::newChatRequested, this, &ChatController::newChat);
    // Esc is the window's "stop": it stops a reply when the chat is the pane in front (the Images pane
    // handles it for its own batches).
    connect(m_window, &MainWindow::stopRequested, this, [this] {
        if (m_window->panes()->currentWidget() != m_window->imagePane()) stop();
    });
    Sidebar* sidebar = m_window->sidebar();
    connect(sidebar, &Sidebar::conversationActivated, this, &ChatController::openConversation);
    connect(sidebar, &Sidebar::searchRequested, this, &ChatController::search);
    connect(sidebar, &Sidebar::deleteRequested, this, &ChatController::deleteConversation);
    connect(sidebar, &Sidebar::undoRequested, this, &ChatController::undoDelete);
    connect(sidebar, &Sidebar::undoExpired, this, &ChatController::commitDelete);
    connect(sidebar, &Sidebar::pinRequested, this, [this](qint64 id, bool pinned) {
        if (auto s = m_conversations->summary(id)) {
            s->pinned = pinned;
            m_conversations->upsert(*s);
        }
        post(m_storage, [w = m_storage, id, pinned] { w->setPinned(id, pinned); });
    });
    connect(m_conversations, &ConversationListModel::renameRequested, this, [this](qint64 id, const QString& title) {
        if (id == m_current.id) {
            m_current.title = title;
            m_pane->setTitle(title);
        }
        post(m_storage, [w = m_storage, id, title] { w->renameConversation(id, title); });
    });
    connect(m_messages, &MessageModel::leafChanged, this, [this](qint64 leaf) {
        if (m_loading || m_current.id == 0 || leaf == 0) return;
        post(m_storage, [w = m_storage, c = m_current.id, leaf] { w->setCurrentLeaf(c, leaf); });
    });

    connect(storage, &StorageWorker::conversationsListed, this, &ChatController::onConversationsListed);
    connect(storage, &StorageWorker::conversationLoaded, this, &ChatController::onConversationLoaded);
    connect(storage, &StorageWorker::conversationIdAssigned, this, &ChatController::onIdAssigned);
    connect(storage, &StorageWorker::searchResults, this, &ChatController::onSearchResults);
    connect(storage, &StorageWorker::failed, this, &ChatController::onStorageFailed);
    connect(storage, &StorageWorker::attachmentsStored, this, [](qint64, const QStringList&) {});
    connect(inference, &InferenceWorker::textDelta, this, &ChatController::onTextDelta);
    connect(inference, &InferenceWorker::thinkingDelta, this, &ChatController::onThinkingDelta);
    connect(inference, &InferenceWorker::stats, this, &ChatController::onStats);
    connect(inference, &InferenceWorker::contextTrimmed, this, &ChatController::onContextTrimmed);
    connect(inference, &InferenceWorker::failed, this, &ChatController::onFailed);
    connect(inference, &InferenceWorker::finished, this, &ChatController::onFinished);
    m_pane->setTitle(QString());
}

QString ChatController::modelName(const QString& path) const { return QFileInfo(path).fileName(); }

void ChatController::setDefaultModel(const QString& path, const QString& name) {
    m_defaultModel = path;
    m_defaultModelName = name;
    if (m_current.id == 0 && m_current.modelPath.isEmpty()) {
        m_pane->setCurrentModel(path);
        m_window->setStatusModel(name);
    }
}

void ChatController::newChat() {
    if (m_window->sidebar()->searchField()->text().size() > 0) m_window->sidebar()->searchField()->clear();
    m_current = ConversationSummary{};
    m_current.sampling = m_settings->defaultSampling();
    m_loading = true;
    m_messages->clear();
    m_loading = false;
    m_pane->setTitle(QString());
    m_pane->clearError();
    m_pane->setContextNotice(QString());
    m_pane->setCurrentModel(m_defaultModel);
    m_window->setStatusModel(m_defaultModelName);
    m_window->sidebar()->selectConversation(0);
    m_window->panes()->setCurrentWidget(m_pane);
    m_pane->focusComposer();
}

void ChatController::openConversation(qint64 id) {
    if (id == 0 || id == m_current.id) return;
    if (auto s = m_conversations->summary(id)) m_current = *s;
    m_current.id = id;
    m_pane->clearError();
    m_pane->setContextNotice(QString());
    m_pane->setTitle(m_current.title);
    m_window->sidebar()->selectConversation(id);
    post(m_storage, [w = m_storage, id] { w->loadConversation(id); });
}

void ChatController::onConversationLoaded(const ConversationSummary& summary, const QList<ChatMessage>& messages,
                                          qint64 leaf) {
    if (summary.id != m_current.id) return;  // the user moved on meanwhile
    m_current = summary;
    m_loading = true;
    m_messages->setMessages(messages, leaf);
    m_loading = false;
    const QString model = summary.modelPath.isEmpty() ? m_defaultModel : summary.modelPath;
    m_pane->setCurrentModel(model);
    m_pane->setTitle(summary.title);
    m_window->setStatusModel(modelName(model));
    emit conversationOpened(summary.id);
}

void ChatController::onConversationsListed(const QList<ConversationSummary>& list) {
    m_conversations->setConversations(list);
    if (m_current.id != 0) m_window->sidebar()->selectConversation(m_current.id);
}

void ChatController::onIdAssigned(qint64 tempId, qint64 realId) {
    m_conversations->replaceId(tempId, realId);
    if (m_current.id == tempId) m_current.id = realId;
    if (m_active && m_active->conversationId == tempId) m_active->conversationId = realId;
    if (m_pendingDelete && m_pendingDelete->id == tempId) m_pendingDelete->id = realId;
}

void ChatController::ensureConversation(const QString& firstText) {
    if (m_current.id != 0) return;
    m_current.id = nextTempId();
    m_current.title = titleFrom(firstText);
    m_current.updatedAt = QDateTime::currentDateTime();
    if (m_current.modelPath.isEmpty()) m_current.modelPath = m_pane->currentModel();
    m_conversations->upsert(m_current);
    m_window->sidebar()->selectConversation(m_current.id);
    m_pane->setTitle(m_current.title);
    post(m_storage, [w = m_storage, s = m_current] { w->createConversation(s.id, s); });
}

void ChatController::send(const QString& text, const QList<PendingImage>& images) {
    if (m_active) return;
    const QString model = m_current.modelPath.isEmpty() ? m_pane->currentModel() : m_current.modelPath;
    if (model.isEmpty()) {
        // Keep what was typed; say what to do.
        m_pane->showError(AppError{AppError::Kind::BadModel, tr("Choose a model for this chat first (Models)."), {}});
        return;
    }
    m_pane->clearError();
    // The model reads images by file: a pasted picture gets one first, so it is sent like a dropped file.
    // Nothing is created when that fails (the composer keeps the message and the picture).
    QList<QImage> imgs;
    QStringList names;
    QStringList paths;
    for (const auto& p : images) {
        QString file = p.sourcePath;
        if (file.isEmpty() && (file = writePastedImage(p.image)).isEmpty()) return;
        imgs << p.image;
        names << (p.sourcePath.isEmpty() ? QStringLiteral("pasted.png") : QFileInfo(p.sourcePath).fileName());
        paths << file;
    }
    ensureConversation(text);
    ChatMessage m;
    m.id = nextTempId();
    m.parentId = m_messages->leafId();
    m.role = ChatMessage::Role::User;
    m.content = text;
    m.createdAt = QDateTime::currentDateTime();
    m.imagePaths = paths;
    m_messages->addMessage(m);
    post(m_storage, [w = m_storage, c = m_current.id, m, imgs, names] { w->appendUserMessage(c, m, imgs, names); });
    m_pane->composer()->clear();
    m_current.updatedAt = QDateTime::currentDateTime();
    m_conversations->upsert(m_current);
    startReply(m.id);
}

QString ChatController::pastedDir() const {
    return (m_scratchDir.isEmpty() ? QDir::tempPath() : m_scratchDir) + QStringLiteral("/pasted");
}

void ChatController::setScratchDir(const QString& dir) {
    m_scratchDir = dir;
    const QDateTime dayAgo = QDateTime::currentDateTime().addDays(-1);
    const QFileInfoList files =
        QDir(pastedDir()).entryInfoList({QStringLiteral("pasted-*.png")}, QDir::Files | QDir::NoSymLinks);
    for (const QFileInfo& f : files) {
        if (f.lastModified() < dayAgo) QFile::remove(f.absoluteFilePath());
    }
}

QString ChatController::writePastedImage(const QImage& image) {
    const QString dir = pastedDir();
    QTemporaryFile file(dir + QStringLiteral("/pasted-XXXXXX.png"));
    file.setAutoRemove(false);
    // Quality 85 is zlib level 1 for Qt's PNG writer: lossless and quick, since this runs on the GUI thread.
    if (!QDir().mkpath(dir) || !file.open() || !image.save(&file, "PNG", 85)) {
        const QString reason = file.errorString();
        if (file.isOpen()) file.remove();
        m_pane->showError(AppError{AppError::Kind::Io, tr("Cannot keep the pasted image for the model."),
                                   tr("Writing it to %1 failed: %2")
                                       .arg(QDir::toNativeSeparators(dir), reason)});
        return QString();
    }
    return file.fileName();
}

EngineRequest ChatController::buildRequest(qint64 upToId) const {
    EngineRequest r;
    r.systemPrompt = m_current.systemPrompt;
    r.sampling = m_current.sampling;
    for (const ChatMessage& m : m_messages->pathTo(upToId)) {
        // A reply that failed before producing text is not part of the conversation the model sees.
        if (m.role == ChatMessage::Role::Assistant && m.content.isEmpty()) continue;
        r.turns.append(EngineTurn{m.role, m.content, m.imagePaths});
    }
    return r;
}

void ChatController::startReply(qint64 userMessageId) {
    const QString model = m_current.modelPath.isEmpty() ? m_pane->currentModel() : m_current.modelPath;
    ChatMessage reply;
    reply.id = nextTempId();
    reply.parentId = userMessageId;
    reply.role = ChatMessage::Role::Assistant;
    reply.state = ChatMessage::State::Streaming;
    reply.modelName = modelName(model);
    reply.createdAt = QDateTime::currentDateTime();
    const EngineRequest request = buildRequest(userMessageId);
    m_messages->addMessage(reply);
    Active a;
    a.requestId = InferenceWorker::nextRequestId();
    a.conversationId = m_current.id;
    a.messageId = reply.id;
    a.thinkingTimer.start();
    m_active = a;
    m_pane->setContextNotice(QString());
    post(m_storage, [w = m_storage, c = m_current.id, id = reply.id, userMessageId, model, s = m_current.sampling] {
        w->beginReply(c, id, userMessageId, model, s);
    });
    post(m_inference, [w = m_inference, rid = a.requestId, model, request] { w->generate(rid, model, request); });
    m_pane->setGenerating(true);
    m_window->setStatusState(tr("Generating…"));
}

void ChatController::stop() {
    if (!m_active) return;
    m_inference->cancel(m_active->requestId);  // thread-safe: an atomic flag
    m_window->setStatusState(tr("Stopping…"));
}

void ChatController::regenerate(qint64 assistantId) {
    if (m_active) return;
    const ChatMessage* m = m_messages->message(assistantId);
    if (!m || m->role != ChatMessage::Role::Assistant) return;
    m_pane->clearError();
    startReply(m->parentId);
}

void ChatController::editAndResend(qint64 userId, const QString& text) {
    if (m_active) return;
    const ChatMessage* old = m_messages->message(userId);
    if (!old || old->role != ChatMessage::Role::User) return;
    ChatMessage m = *old;
    m.id = nextTempId();
    m.content = text;
    m.createdAt = QDateTime::currentDateTime();
    m_messages->addMessage(m);  // a sibling of the original: both stay, ‹ › switches
    m_pane->clearError();
    post(m_storage, [w = m_storage, c = m_current.id, m] { w->appendUserMessage(c, m, {}, {}); });
    startReply(m.id);
}

void ChatController::switchBranch(qint64 id, int delta) {
    if (m_active) return;
    m_messages->switchBranch(m_messages->rowOf(id), delta);
}

void ChatController::onTextDelta(quint64 requestId, const QString& text) {
    if (!m_active || m_active->requestId != requestId) return;
    if (m_active->thinkingSeconds == 0.0 && m_active->thinkingTimer.isValid()) {
        const ChatMessage* m = m_messages->message(m_active->messageId);
        if (m && !m->thinking.isEmpty()) m_active->thinkingSeconds = double(m_active->thinkingTimer.elapsed()) / 1000.0;
    }
    if (m_active->conversationId == m_current.id) m_messages->appendAnswer(m_active->messageId, text);
    post(m_storage, [w = m_storage, id = m_active->messageId, text] { w->appendReply(id, text, QString()); });
}

void ChatController::onThinkingDelta(quint64 requestId, const QString& text) {
    if (!m_active || m_active->requestId != requestId) return;
    if (m_active->conversationId == m_current.id) m_messages->appendThinking(m_active->messageId, text);
    post(m_storage, [w = m_storage, id = m_active->messageId, text] { w->appendReply(id, QString(), text); });
}

void ChatController::onStats(quint64 requestId, const GenerationStats& stats) {
    if (!m_active || m_active->requestId != requestId) return;
    m_active->stats = stats;
    if (m_active->thinkingSeconds > 0) m_active->stats.thinkingSeconds = m_active->thinkingSeconds;
    if (m_active->conversationId == m_current.id) m_messages->setStats(m_active->messageId, m_active->stats);
    m_window->setStatusSpeed(stats.tokensPerSecond);
}

void ChatController::onContextTrimmed(quint64 requestId, int dropped, int context) {
    if (!m_active || m_active->requestId != requestId) return;
    m_pane->setContextNotice(tr("This conversation is longer than the model's context (%1 tokens): the %2 oldest "
                                "message(s) were left out of what the model saw for this reply. They are still "
                                "saved here.").arg(context).arg(dropped));
}

void ChatController::onFailed(quint64 requestId, const AppError& error) {
    if (!m_active || m_active->requestId != requestId) return;
    m_active->error = error.message;
    m_pane->showError(error);
}

void ChatController::onFinished(quint64 requestId, bool stopped) {
    if (!m_active || m_active->requestId != requestId) return;
    const Active a = *m_active;
    m_active.reset();
    const ChatMessage::State state = !a.error.isEmpty() ? ChatMessage::State::Failed
                                     : stopped          ? ChatMessage::State::Stopped
                                                        : ChatMessage::State::Complete;
    m_messages->setState(a.messageId, state);
    post(m_storage, [w = m_storage, a, stopped] { w->finishReply(a.messageId, a.stats, stopped, a.error); });
    m_pane->setGenerating(false);
    m_window->setStatusState(stopped ? tr("Stopped") : !a.error.isEmpty() ? tr("Error") : tr("Ready"));
    emit generationFinished(requestId, stopped);
}

void ChatController::onStorageFailed(const AppError& error) { m_pane->showError(error); }

void ChatController::deleteConversation(qint64 id) {
    commitDelete();  // only one delete waits for undo at a time
    auto removed = m_conversations->remove(id);
    if (!removed) return;
    m_pendingDelete = removed;
    if (id == m_current.id) newChat();
    m_window->sidebar()->showUndo(tr("Deleted “%1”").arg(removed->title));
}

void ChatController::undoDelete() {
    if (!m_pendingDelete) return;
    m_conversations->upsert(*m_pendingDelete);
    m_pendingDelete.reset();
}

void ChatController::commitDelete() {
    if (!m_pendingDelete) return;
    const qint64 id = m_pendingDelete->id;
    m_pendingDelete.reset();
    m_window->sidebar()->hideUndo();
    post(m_storage, [w = m_storage, id] { w->deleteConversation(id); });
}

void ChatController::search(const QString& text) {
    m_searchText = text;
    if (text.isEmpty()) {
        m_conversations->clearSearch();
        if (m_current.id != 0) m_window->sidebar()->selectConversation(m_current.id);
        return;
    }
    post(m_storage, [w = m_storage, text] { w->search(text); });
}

void ChatController::onSearchResults(const QString& text, const QList<ConversationSummary>& hits) {
    if (text != m_searchText) return;  // an older query
    m_conversations->setSearchResults(hits);
}

void ChatController::setConversationModel(const QString& path) {
    m_current.modelPath = path;
    m_pane->setCurrentModel(path);
    m_window->setStatusModel(modelName(path));
    if (m_current.id == 0) return;
    m_conversations->upsert(m_current);
    post(m_storage, [w = m_storage, id = m_current.id, path] { w->setConversationModel(id, path); });
}

void ChatController::setConversationSettings(const QString& systemPrompt, const SamplingSettings& sampling) {
    m_current.systemPrompt = systemPrompt;
    m_current.sampling = sampling;
    if (m_current.id == 0) return;  // saved with the conversation when it is created
    post(m_storage, [w = m_storage, id = m_current.id, systemPrompt, sampling] {
        w->setConversationSettings(id, systemPrompt, sampling);
    });
}

void ChatController::editConversationSettings() {
    auto* dialog = new ConversationSettingsDialog(m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setValues(m_current.systemPrompt, m_current.sampling);
    connect(dialog, &QDialog::accepted, this,
            [this, dialog] { setConversationSettings(dialog->systemPrompt(), dialog->sampling()); });
    dialog->open();
}
