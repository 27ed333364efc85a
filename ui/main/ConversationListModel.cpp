// ConversationListModel: ordered insert/move/remove with proper model notifications.
#include "ui/main/ConversationListModel.h"

#include <algorithm>

ConversationListModel::ConversationListModel(QObject* parent) : QAbstractListModel(parent) {}

int ConversationListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

QString ConversationListModel::sectionFor(const ConversationSummary& s) const {
    if (m_searching) return tr("Search results");
    if (s.pinned) return tr("Pinned");
    const QDate today = m_today.isValid() ? m_today : QDate::currentDate();
    const QDate day = s.updatedAt.toLocalTime().date();
    if (day >= today) return tr("Today");
    if (day == today.addDays(-1)) return tr("Yesterday");
    if (day > today.addDays(-7)) return tr("Previous 7 days");
    return tr("Older");
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ConversationSummary& s = m_rows[index.row()];
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole: return s.title.isEmpty() ? tr("New chat") : s.title;
    case Qt::ToolTipRole: return s.title;
    case Qt::AccessibleTextRole: return (s.pinned ? tr("Pinned: ") : QString()) + s.title;
    case IdRole: return s.id;
    case PinnedRole: return s.pinned;
    case UpdatedRole: return s.updatedAt;
    case SectionRole: return sectionFor(s);
    case SnippetRole: return s.snippet;
    case ModelRole: return s.modelPath;
    default: return {};
    }
}

bool ConversationListModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !checkIndex(index, CheckIndexOption::IndexIsValid)) return false;
    const QString title = value.toString().trimmed();
    if (title.isEmpty() || title == m_rows[index.row()].title) return false;
    const qint64 id = m_rows[index.row()].id;
    m_rows[index.row()].title = title;
    for (auto& s : m_all) {
        if (s.id == id) s.title = title;
    }
    emit dataChanged(index, index, {Qt::DisplayRole, Qt::EditRole, Qt::ToolTipRole, Qt::AccessibleTextRole});
    emit renameRequested(id, title);
    return true;
}

Qt::ItemFlags ConversationListModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren |
           (m_searching ? Qt::NoItemFlags : Qt::ItemIsEditable);
}

bool ConversationListModel::before(const ConversationSummary& a, const ConversationSummary& b) {
    if (a.pinned != b.pinned) return a.pinned;
    if (a.updatedAt != b.updatedAt) return a.updatedAt > b.updatedAt;
    return a.id > b.id;
}

void ConversationListModel::setConversations(const QList<ConversationSummary>& list) {
    beginResetModel();
    m_all = list;
    std::stable_sort(m_all.begin(), m_all.end(), before);
    if (!m_searching) m_rows = m_all;
    endResetModel();
}

int ConversationListModel::rowOf(qint64 id) const {
    for (int i = 0; i < m_rows.size(); ++i) {
        if (m_rows[i].id == id) return i;
    }
    return -1;
}

qint64 ConversationListModel::idAt(int row) const { return row >= 0 && row < m_rows.size() ? m_rows[row].id : 0; }

std::optional<ConversationSummary> ConversationListModel::summary(qint64 id) const {
    for (const auto& s : m_all) {
        if (s.id == id) return s;
    }
    return std::nullopt;
}

void ConversationListModel::placeRow(int row) {
    // Moves the changed row to where the order says it belongs.
    const ConversationSummary s = m_rows[row];
    QList<ConversationSummary> others = m_rows;
    others.removeAt(row);
    const int target = int(std::lower_bound(others.begin(), others.end(), s, before) - others.begin());
    if (target != row) {
        const int dest = target > row ? target + 1 : target;
        beginMoveRows({}, row, row, {}, dest);
        m_rows.move(row, target);
        endMoveRows();
    }
    const QModelIndex idx = index(target);
    emit dataChanged(idx, idx);
}

void ConversationListModel::upsert(const ConversationSummary& summary) {
    bool found = false;
    for (auto& s : m_all) {
        if (s.id == summary.id) {
            s = summary;
            found = true;
        }
    }
    if (!found) m_all.append(summary);
    std::stable_sort(m_all.begin(), m_all.end(), before);
    if (m_searching) return;
    const int row = rowOf(summary.id);
    if (row >= 0) {
        m_rows[row] = summary;
        placeRow(row);
        return;
    }
    const int at = int(std::lower_bound(m_rows.begin(), m_rows.end(), summary, before) - m_rows.begin());
    beginInsertRows({}, at, at);
    m_rows.insert(at, summary);
    endInsertRows();
}

std::optional<ConversationSummary> ConversationListModel::remove(qint64 id) {
    auto removed = summary(id);
    m_all.erase(std::remove_if(m_all.begin(), m_all.end(), [id](const auto& s) { return s.id == id; }), m_all.end());
    const int row = rowOf(id);
    if (row >= 0) {
        beginRemoveRows({}, row, row);
        m_rows.removeAt(row);
        endRemoveRows();
    }
    return removed;
}

void ConversationListModel::setSearchResults(const QList<ConversationSummary>& hits) {
    beginResetModel();
    m_searching = true;
    m_rows = hits;
    endResetModel();
}

void ConversationListModel::clearSearch() {
    if (!m_searching) return;
    beginResetModel();
    m_searching = false;
    m_rows = m_all;
    endResetModel();
}

void ConversationListModel::replaceId(qint64 oldId, qint64 newId) {
    for (auto& s : m_all) {
        if (s.id == oldId) s.id = newId;
    }
    const int row = rowOf(oldId);
    if (row < 0) return;
    m_rows[row].id = newId;
    const QModelIndex idx = index(row);
    emit dataChanged(idx, idx, {IdRole});
}
