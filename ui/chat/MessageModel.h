// MessageModel: the messages of the open conversation. It keeps the whole tree (edits and regenerations
// are siblings under one parent) and exposes as rows only the branch being looked at, root to leaf.
// Changed on the GUI thread only; streaming text arrives through appendAnswer/appendThinking.
#pragma once

#include <QAbstractListModel>
#include <QHash>
#include <QList>
#include <QVector>

#include "ui/common/ChatTypes.h"

class MessageModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles {
        IdRole = Qt::UserRole + 1,
        ParentIdRole,
        RoleRole,       // ChatMessage::Role as int
        StateRole,      // ChatMessage::State as int
        ContentRole,
        ThinkingRole,
        ThinkingSecondsRole,
        ImagesRole,
        BranchIndexRole,  // 1-based position among its siblings
        BranchCountRole,
        TokensPerSecondRole,
        GeneratedTokensRole,
        ModelNameRole,
    };

    explicit MessageModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Replaces everything (a conversation was opened). leafId picks the branch shown; 0 = newest.
    void setMessages(const QList<ChatMessage>& messages, qint64 shownLeaf = 0);
    void clear();

    // Adds a message under message.parentId and makes it the shown branch.
    void addMessage(const ChatMessage& message);
    void appendAnswer(qint64 id, const QString& text);
    void appendThinking(qint64 id, const QString& text);
    void setContent(qint64 id, const QString& text);
    void setState(qint64 id, ChatMessage::State state);
    void setStats(qint64 id, const GenerationStats& stats);

    // Shows the sibling `delta` steps away from the message at `row` (the ‹ n/m › switcher).
    void switchBranch(int row, int delta);

    const ChatMessage* message(qint64 id) const;
    int rowOf(qint64 id) const;
    qint64 idAt(int row) const;
    qint64 leafId() const;
    // The shown branch from the root up to and including `id`.
    QList<ChatMessage> pathTo(qint64 id) const;
    QList<ChatMessage> visibleMessages() const;
    QList<ChatMessage> allMessages() const;

signals:
    // The shown branch changed (leaf id), e.g. to remember it in storage.
    void leafChanged(qint64 leafId);

private:
    QVector<qint64> computePath() const;
    void applyPath(const QVector<qint64>& path);
    void emitChanged(qint64 id, const QList<int>& roles);

    QHash<qint64, ChatMessage> m_messages;
    QHash<qint64, QVector<qint64>> m_children;  // parent id (0 = root) -> children in creation order
    QHash<qint64, qint64> m_activeChild;        // parent id -> the child shown
    QVector<qint64> m_path;                     // the rows
};
