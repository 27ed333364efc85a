// Sidebar: new chat, full-text search over all conversations, the conversation list (rename in place,
// pin, delete with undo) and the Models / Settings buttons at its foot.
#pragma once

#include <QWidget>

class ConversationListModel;
class QLineEdit;
class QListView;
class QLabel;
class QPushButton;
class QTimer;
class QToolButton;

class Sidebar : public QWidget {
    Q_OBJECT
public:
    explicit Sidebar(QWidget* parent = nullptr);

    void setModel(ConversationListModel* model);
    void selectConversation(qint64 id);
    qint64 selectedConversation() const;
    void focusSearch();
    // "Chat deleted · Undo": the deletion becomes final when the bar times out.
    void showUndo(const QString& text, int timeoutMs = 8000);
    void hideUndo();

    QListView* listView() const { return m_list; }
    QLineEdit* searchField() const { return m_search; }

signals:
    void newChatRequested();
    void conversationActivated(qint64 id);
    void searchRequested(const QString& text);  // empty: leave search mode
    void pinRequested(qint64 id, bool pinned);
    void deleteRequested(qint64 id);
    void undoRequested();
    void undoExpired();
    void modelsRequested();
    void settingsRequested();

private:
    void showMenu(const QPoint& pos);

    ConversationListModel* m_model = nullptr;
    QLineEdit* m_search = nullptr;
    QListView* m_list = nullptr;
    QWidget* m_undoBar = nullptr;
    QLabel* m_undoText = nullptr;
    QTimer* m_searchDelay = nullptr;
    QTimer* m_undoTimer = nullptr;
};
