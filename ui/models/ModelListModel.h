// ModelListModel: the model manager's table: every checkpoint folder and .gguf file found, with kind,
// parameters, precision, file size, memory needed against what this machine has, and loaded state.
#pragma once

#include <QAbstractTableModel>
#include <QList>

#include "ui/common/ChatTypes.h"

class ModelListModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { NameColumn, KindColumn, ParametersColumn, PrecisionColumn, SizeColumn, MemoryColumn,
                  StateColumn, ColumnCount };
    enum Roles { PathRole = Qt::UserRole + 1, KindRole, StateRole, ErrorRole, ProgressRole };

    explicit ModelListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    int columnCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    void setEntries(const QList<ModelEntry>& entries);
    void upsert(const ModelEntry& entry);
    void removeUnder(const QString& folder);  // entries inside a folder the user removed
    void setState(const QString& path, ModelEntry::State state, double progress = 0.0);
    int rowOf(const QString& path) const;
    const ModelEntry* entry(const QString& path) const;
    const ModelEntry& entryAt(int row) const { return m_entries.at(row); }
    QList<ModelEntry> entries() const { return m_entries; }
    // Chat-capable entries (chat and vision kinds) for a pane's model picker.
    QList<ModelEntry> chatModels() const;

private:
    QList<ModelEntry> m_entries;
};
