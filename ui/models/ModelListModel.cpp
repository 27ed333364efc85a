// ModelListModel: one row per entry; the memory column turns red when the need exceeds the machine.
#include "ui/models/ModelListModel.h"

#include <QBrush>

#include "ui/common/Theme.h"

ModelListModel::ModelListModel(QObject* parent) : QAbstractTableModel(parent) {}

int ModelListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_entries.size()); }

int ModelListModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant ModelListModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn: return tr("Model");
    case KindColumn: return tr("Kind");
    case ParametersColumn: return tr("Parameters");
    case PrecisionColumn: return tr("Precision");
    case SizeColumn: return tr("On disk");
    case MemoryColumn: return tr("Memory needed / available");
    case StateColumn: return tr("State");
    default: return {};
    }
}

QVariant ModelListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ModelEntry& e = m_entries[index.row()];
    const bool broken = e.kind == ModelEntry::Kind::Broken;
    switch (role) {
    case PathRole: return e.path;
    case KindRole: return int(e.kind);
    case StateRole: return int(e.state);
    case ErrorRole: return e.error;
    case ProgressRole: return e.loadProgress;
    case Qt::ToolTipRole: return broken ? e.error : e.path;
    case Qt::ForegroundRole:
        if (broken && index.column() == KindColumn) return QBrush(Theme::color(Theme::Color::BannerText));
        if (index.column() == MemoryColumn && e.memoryBytes > e.availableBytes && e.availableBytes > 0)
            return QBrush(Theme::color(Theme::Color::BannerText));
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn: return e.name;
        case KindColumn: return modelKindName(e.kind);
        case ParametersColumn: return broken || e.parameters == 0 ? QString() : formatParameters(e.parameters);
        case PrecisionColumn: return e.dtype;
        case SizeColumn: return e.fileBytes > 0 ? formatBytes(e.fileBytes) : QString();
        case MemoryColumn:
            if (broken || e.memoryBytes == 0) return QString();
            return QStringLiteral("%1 / %2").arg(formatBytes(e.memoryBytes), formatBytes(e.availableBytes));
        case StateColumn:
            if (broken) return tr("Error");
            switch (e.state) {
            case ModelEntry::State::Loaded: return tr("Loaded");
            case ModelEntry::State::Loading: return tr("Loading %1%").arg(int(e.loadProgress * 100));
            case ModelEntry::State::Unloaded: return tr("Not loaded");
            }
            return {};
        default: return {};
        }
    default: return {};
    }
}

void ModelListModel::setEntries(const QList<ModelEntry>& entries) {
    beginResetModel();
    m_entries = entries;
    endResetModel();
}

int ModelListModel::rowOf(const QString& path) const {
    for (int i = 0; i < m_entries.size(); ++i) {
        if (m_entries[i].path == path) return i;
    }
    return -1;
}

const ModelEntry* ModelListModel::entry(const QString& path) const {
    const int row = rowOf(path);
    return row < 0 ? nullptr : &m_entries[row];
}

void ModelListModel::upsert(const ModelEntry& entry) {
    const int row = rowOf(entry.path);
    if (row >= 0) {
        m_entries[row] = entry;
        emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    const int at = int(m_entries.size());
    beginInsertRows({}, at, at);
    m_entries.append(entry);
    endInsertRows();
}

void ModelListModel::removeUnder(const QString& folder) {
    for (int row = int(m_entries.size()) - 1; row >= 0; --row) {
        const QString& p = m_entries[row].path;
        if (p == folder || p.startsWith(folder + QLatin1Char('/'))) {
            beginRemoveRows({}, row, row);
            m_entries.removeAt(row);
            endRemoveRows();
        }
    }
}

void ModelListModel::setState(const QString& path, ModelEntry::State state, double progress) {
    const int row = rowOf(path);
    if (row < 0) return;
    m_entries[row].state = state;
    m_entries[row].loadProgress = progress;
    emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

QList<ModelEntry> ModelListModel::chatModels() const {
    QList<ModelEntry> out;
    for (const auto& e : m_entries) {
        if (e.kind == ModelEntry::Kind::Chat || e.kind == ModelEntry::Kind::Vision) out << e;
    }
    return out;
}
