// ConversationListModel: the sidebar's rows: pinned conversations first, then by last activity, each
// tagged with its date group (Pinned, Today, Yesterday, Previous 7 days, Older). In search mode the rows
// are the full-text search hits with their snippets. Renaming in place goes out as renameRequested.
#pragma once

#include <QAbstractListModel>
#include <QDate>
#include <QList>

#include <optional>

#include "ui/common/ChatTypes.h"

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { IdRole = Qt::UserRole + 1, PinnedRole, UpdatedRole, SectionRole, SnippetRole, ModelRole };

    explicit ConversationListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

    void setConversations(const QList<ConversationSummary>& list);
    // Inserts or updates one conversation, keeping the order.
    void upsert(const ConversationSummary& summary);
    // Removes it and returns what was removed (for undo).
    std::optional<ConversationSummary> remove(qint64 id);
    std::optional<ConversationSummary> summary(qint64 id) const;
    // Storage gave a conversation created under a temporary id its real id.
    void replaceId(qint64 oldId, qint64 newId);
    int rowOf(qint64 id) const;
    qint64 idAt(int row) const;

    void setSearchResults(const QList<ConversationSummary>& hits);
    void clearSearch();
    bool isSearching() const { return m_searching; }

    // For tests: the day "today" is counted from.
    void setToday(const QDate& today) { m_today = today; }
    QString sectionFor(const ConversationSummary& s) const;

signals:
    void renameRequested(qint64 id, const QString& title);

private:
    static bool before(const ConversationSummary& a, const ConversationSummary& b);
    void placeRow(int row);

    QList<ConversationSummary> m_all;   // the full list, kept while searching
    QList<ConversationSummary> m_rows;  // what is shown
    bool m_searching = false;
    QDate m_today;
};
