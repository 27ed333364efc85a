// MessageModel: tree bookkeeping plus minimal row changes when the shown branch moves.
#include "ui/chat/MessageModel.h"

#include <algorithm>

MessageModel::MessageModel(QObject* parent) : QAbstractListModel(parent) {}

int MessageModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_path.size()); }

QVariant MessageModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ChatMessage& m = m_messages[m_path[index.row()]];
    switch (role) {
    case Qt::DisplayRole:
    case ContentRole: return m.content;
    case Qt::AccessibleTextRole:
        return (m.role == ChatMessage::Role::User ? tr("You: ") : tr("Assistant: ")) + m.content;
    case IdRole: return m.id;
    case ParentIdRole: return m.parentId;
    case RoleRole: return int(m.role);
    case StateRole: return int(m.state);
    case ThinkingRole: return m.thinking;
    case ThinkingSecondsRole: return m.thinkingSeconds;
    case ImagesRole: return m.imagePaths;
    case BranchIndexRole: return int(m_children.value(m.parentId).indexOf(m.id)) + 1;
    case BranchCountRole: return int(m_children.value(m.parentId).size());
    case TokensPerSecondRole: return m.tokensPerSecond;
    case GeneratedTokensRole: return m.generatedTokens;
    case ModelNameRole: return m.modelName;
    default: return {};
    }
}

QHash<int, QByteArray> MessageModel::roleNames() const {
    auto names = QAbstractListModel::roleNames();
    names.insert(IdRole, "messageId");
    names.insert(RoleRole, "role");
    names.insert(StateRole, "state");
    names.insert(ContentRole, "content");
    names.insert(ThinkingRole, "thinking");
    names.insert(BranchIndexRole, "branchIndex");
    names.insert(BranchCountRole, "branchCount");
    return names;
}

void MessageModel::setMessages(const QList<ChatMessage>& messages, qint64 shownLeaf) {
    beginResetModel();
    m_messages.clear();
    m_children.clear();
    m_activeChild.clear();
    QList<ChatMessage> sorted = messages;
    // Creation order decides the branch numbering; ids grow with creation in storage.
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const ChatMessage& a, const ChatMessage& b) { return a.createdAt < b.createdAt; });
    for (const auto& m : sorted) {
        m_messages.insert(m.id, m);
        m_children[m.parentId].append(m.id);
    }
    // Point each ancestor of the requested leaf at it, so that branch is the one shown.
    qint64 cur = shownLeaf;
    while (cur != 0 && m_messages.contains(cur)) {
        const qint64 parent = m_messages[cur].parentId;
        m_activeChild.insert(parent, cur);
        cur = parent;
    }
    m_path = computePath();
    endResetModel();
    emit leafChanged(leafId());
}

void MessageModel::clear() { setMessages({}); }

QVector<qint64> MessageModel::computePath() const {
    QVector<qint64> path;
    qint64 parent = 0;
    while (true) {
        const auto kids = m_children.value(parent);
        if (kids.isEmpty()) break;
        const qint64 next = m_activeChild.value(parent, kids.last());
        path.append(next);
        parent = next;
    }
    return path;
}

void MessageModel::applyPath(const QVector<qint64>& path) {
    int common = 0;
    while (common < m_path.size() && common < path.size() && m_path[common] == path[common]) ++common;
    if (common < m_path.size()) {
        beginRemoveRows({}, common, int(m_path.size()) - 1);
        m_path.resize(common);
        endRemoveRows();
    }
    if (common < path.size()) {
        beginInsertRows({}, common, int(path.size()) - 1);
        m_path = path;
        endInsertRows();
    }
    // The switcher of the row above the change shows a new count.
    if (common > 0) {
        const QModelIndex idx = index(common - 1);
        emit dataChanged(idx, idx, {BranchIndexRole, BranchCountRole});
    }
    emit leafChanged(leafId());
}

void MessageModel::addMessage(const ChatMessage& message) {
    m_messages.insert(message.id, message);
    auto& siblings = m_children[message.parentId];
    siblings.append(message.id);
    m_activeChild.insert(message.parentId, message.id);
    applyPath(computePath());
    // The siblings shown elsewhere do not exist (only one branch is visible), but the new row's own
    // switcher counts are part of its insertion; the row before it may show an updated count.
    const int row = rowOf(message.id);
    if (row >= 0 && siblings.size() > 1) {
        const QModelIndex idx = index(row);
        emit dataChanged(idx, idx, {BranchIndexRole, BranchCountRole});
    }
}

void MessageModel::emitChanged(qint64 id, const QList<int>& roles) {
    const int row = rowOf(id);
    if (row < 0) return;
    const QModelIndex idx = index(row);
    emit dataChanged(idx, idx, roles);
}

void MessageModel::appendAnswer(qint64 id, const QString& text) {
    auto it = m_messages.find(id);
    if (it == m_messages.end() || text.isEmpty()) return;
    it->content += text;
    emitChanged(id, {ContentRole, Qt::DisplayRole});
}

void MessageModel::appendThinking(qint64 id, const QString& text) {
    auto it = m_messages.find(id);
    if (it == m_messages.end() || text.isEmpty()) return;
    it->thinking += text;
    emitChanged(id, {ThinkingRole});
}

void MessageModel::setContent(qint64 id, const QString& text) {
    auto it = m_messages.find(id);
    if (it == m_messages.end()) return;
    it->content = text;
    emitChanged(id, {ContentRole, Qt::DisplayRole});
}

void MessageModel::setState(qint64 id, ChatMessage::State state) {
    auto it = m_messages.find(id);
    if (it == m_messages.end() || it->state == state) return;
    it->state = state;
    emitChanged(id, {StateRole});
}

void MessageModel::setStats(qint64 id, const GenerationStats& stats) {
    auto it = m_messages.find(id);
    if (it == m_messages.end()) return;
    it->generatedTokens = stats.generatedTokens;
    it->promptTokens = stats.promptTokens;
    it->tokensPerSecond = stats.tokensPerSecond;
    if (stats.thinkingSeconds > 0) it->thinkingSeconds = stats.thinkingSeconds;
    emitChanged(id, {TokensPerSecondRole, GeneratedTokensRole, ThinkingSecondsRole});
}

void MessageModel::switchBranch(int row, int delta) {
    if (row < 0 || row >= m_path.size()) return;
    const ChatMessage& m = m_messages[m_path[row]];
    const auto& siblings = m_children.value(m.parentId);
    const int at = int(siblings.indexOf(m.id));
    const int to = at + delta;
    if (to < 0 || to >= siblings.size()) return;
    m_activeChild.insert(m.parentId, siblings[to]);
    applyPath(computePath());
}

const ChatMessage* MessageModel::message(qint64 id) const {
    auto it = m_messages.constFind(id);
    return it == m_messages.constEnd() ? nullptr : &it.value();
}

int MessageModel::rowOf(qint64 id) const { return int(m_path.indexOf(id)); }

qint64 MessageModel::idAt(int row) const { return row >= 0 && row < m_path.size() ? m_path[row] : 0; }

qint64 MessageModel::leafId() const { return m_path.isEmpty() ? 0 : m_path.last(); }

QList<ChatMessage> MessageModel::pathTo(qint64 id) const {
    QList<ChatMessage> out;
    qint64 cur = id;
    while (cur != 0 && m_messages.contains(cur)) {
        out.prepend(m_messages[cur]);
        cur = m_messages[cur].parentId;
    }
    return out;
}

QList<ChatMessage> MessageModel::visibleMessages() const {
    QList<ChatMessage> out;
    for (qint64 id : m_path) out << m_messages[id];
    return out;
}

QList<ChatMessage> MessageModel::allMessages() const { return m_messages.values(); }
