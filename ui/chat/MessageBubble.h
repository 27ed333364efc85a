// MessageBubble: one message on screen. The user's text sits right-aligned in a tinted bubble; the
// assistant's reply is full width Markdown with its thinking collapsed above it. Actions per message:
// regenerate, edit (inline), copy, and the ‹ n/m › branch switcher.
#pragma once

#include <QFrame>
#include <QPersistentModelIndex>

class MarkdownView;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QToolButton;
class QHBoxLayout;
class QVBoxLayout;

class MessageBubble : public QFrame {
    Q_OBJECT
public:
    explicit MessageBubble(bool fromUser, QWidget* parent = nullptr);

    // Reads the row's roles and updates only what changed (cheap enough for 30 Hz streaming).
    void updateFrom(const QModelIndex& index);
    qint64 messageId() const { return m_id; }
    bool fromUser() const { return m_fromUser; }
    bool thinkingExpanded() const;
    void setThinkingExpanded(bool expanded);
    MarkdownView* answerView() const { return m_answer; }
    MarkdownView* thinkingView() const { return m_thinkingText; }
    QString plainText() const { return m_text; }
    void startEditing();

signals:
    void regenerateRequested(qint64 id);
    void editSubmitted(qint64 id, const QString& text);
    void copyRequested(qint64 id);
    void branchRequested(qint64 id, int delta);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void fitUserText();
    void buildThinking(QVBoxLayout* into);
    void buildActions(QVBoxLayout* into);
    void finishEditing(bool submit);
    void updateThinkingHeader();

    bool m_fromUser;
    qint64 m_id = 0;
    int m_state = 0;
    QString m_text;
    QString m_thinking;
    double m_thinkingSeconds = 0.0;

    QFrame* m_bubble = nullptr;
    QLabel* m_userText = nullptr;
    QPlainTextEdit* m_editor = nullptr;
    QWidget* m_editButtons = nullptr;
    QHBoxLayout* m_thumbs = nullptr;
    QStringList m_thumbPaths;
    MarkdownView* m_answer = nullptr;
    QToolButton* m_thinkingToggle = nullptr;
    MarkdownView* m_thinkingText = nullptr;
    QFrame* m_thinkingBox = nullptr;
    QLabel* m_status = nullptr;
    QToolButton* m_regenerate = nullptr;
    QToolButton* m_edit = nullptr;
    QToolButton* m_copy = nullptr;
    QToolButton* m_prev = nullptr;
    QToolButton* m_next = nullptr;
    QLabel* m_branch = nullptr;
    QLabel* m_speed = nullptr;
};
