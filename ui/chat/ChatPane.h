// ChatPane: the Chat tab. A header with the conversation's model picker and settings, an error banner,
// the context notice, the messages, and the composer; the first-run guide takes its place while no model
// is configured. It only shows state and reports intents; ChatController does the work.
#pragma once

#include <QList>
#include <QWidget>

#include "ui/chat/Composer.h"
#include "ui/common/ChatTypes.h"

class Banner;
class FirstRunGuide;
class MessageModel;
class MessageView;
class QComboBox;
class QLabel;
class QStackedWidget;
class QToolButton;

class ChatPane : public QWidget {
    Q_OBJECT
public:
    explicit ChatPane(QWidget* parent = nullptr);

    void setMessageModel(MessageModel* model);
    // The models this pane can use (chat and vision kinds), and the one the conversation uses.
    void setModels(const QList<ModelEntry>& models);
    void setCurrentModel(const QString& path);
    QString currentModel() const;
    void setFirstRun(bool firstRun);
    bool isFirstRun() const;
    void setGenerating(bool generating);
    void showError(const AppError& error);
    void clearError();
    // An honest note that earlier messages no longer fit the model's context (empty hides it).
    void setContextNotice(const QString& text);
    void setTitle(const QString& title);

    Composer* composer() const { return m_composer; }
    MessageView* messageView() const { return m_view; }
    Banner* banner() const { return m_banner; }
    QLabel* contextNotice() const { return m_notice; }
    FirstRunGuide* guide() const { return m_guide; }
    void focusComposer();

signals:
    void sendRequested(const QString& text, const QList<PendingImage>& images);
    void stopRequested();
    void regenerateRequested(qint64 id);
    void editSubmitted(qint64 id, const QString& text);
    void branchRequested(qint64 id, int delta);
    void modelChosen(const QString& path);
    void conversationSettingsRequested();
    void addModelFolderRequested();
    void openModelManagerRequested();

private:
    void updateEmptyState();
    void copyMessage(qint64 id);

    QStackedWidget* m_stack = nullptr;
    FirstRunGuide* m_guide = nullptr;
    QLabel* m_title = nullptr;
    QComboBox* m_modelPicker = nullptr;
    QToolButton* m_settingsButton = nullptr;
    Banner* m_banner = nullptr;
    QFrame* m_noticeFrame = nullptr;
    QLabel* m_notice = nullptr;
    MessageView* m_view = nullptr;
    QWidget* m_empty = nullptr;
    Composer* m_composer = nullptr;
    MessageModel* m_model = nullptr;
    QList<ModelEntry> m_models;
};
