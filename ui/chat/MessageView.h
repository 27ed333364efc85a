// MessageView: the scrolling column of MessageBubbles for a MessageModel. One widget per row, updated in
// place when its row changes, so streaming text never rebuilds the page. It follows new text down only
// while the user is at the bottom; scrolling up to read stops the following until they return.
#pragma once

#include <QList>
#include <QScrollArea>

class MessageBubble;
class MessageModel;
class QVBoxLayout;

class MessageView : public QScrollArea {
    Q_OBJECT
public:
    explicit MessageView(QWidget* parent = nullptr);

    void setModel(MessageModel* model);
    MessageModel* model() const { return m_model; }
    MessageBubble* bubbleAt(int row) const;
    int bubbleCount() const { return int(m_bubbles.size()); }
    bool followsBottom() const { return m_follow; }
    void scrollToBottom();

signals:
    void regenerateRequested(qint64 id);
    void editSubmitted(qint64 id, const QString& text);
    void copyRequested(qint64 id);
    void branchRequested(qint64 id, int delta);

private:
    void rebuild();
    void insertRows(int first, int last);
    void removeRows(int first, int last);
    void updateRows(int first, int last);
    MessageBubble* makeBubble(int row);

    MessageModel* m_model = nullptr;
    QWidget* m_column = nullptr;
    QVBoxLayout* m_layout = nullptr;
    QList<MessageBubble*> m_bubbles;
    bool m_follow = true;
};
