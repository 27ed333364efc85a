// GalleryModel: ordering, thumbnails (scaled once, cached by the image's cache key) and the texts.
#include "ui/imagegen/GalleryModel.h"

#include <QLocale>

#include <algorithm>

GalleryModel::GalleryModel(int thumbnailSide, QObject* parent) : QAbstractListModel(parent), m_side(thumbnailSide) {}

int GalleryModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_items.size()); }

QString GalleryModel::describe(const ImageGenParams& p) {
    QString text = tr("%1\nSeed %2 · guidance %3 · temperature %4")
                       .arg(p.prompt)
                       .arg(p.seed)
                       .arg(QLocale().toString(p.cfgWeight, 'f', 1), QLocale().toString(p.temperature, 'f', 2));
    if (!p.model.isEmpty()) text += tr(" · %1").arg(p.model);
    return text;
}

QVariant GalleryModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= m_items.size()) return {};
    const GeneratedImageItem& it = m_items.at(index.row());
    switch (role) {
    case Qt::DecorationRole: {
        const qint64 key = it.image.cacheKey();
        auto found = m_thumbs.find(key);
        if (found == m_thumbs.end())
            found = m_thumbs.insert(key, QPixmap::fromImage(it.image.scaled(m_side, m_side, Qt::KeepAspectRatio,
                                                                              Qt::SmoothTransformation)));
        return found.value();
    }
    case Qt::DisplayRole:
        // The prompt under the first image of its group; the seed under the others.
        return m_groupStart.value(index.row()) ? it.params.prompt : tr("seed %1").arg(it.params.seed);
    case Qt::ToolTipRole: return describe(it.params);
    case Qt::AccessibleTextRole:
        return tr("Image %1 of \"%2\", seed %3").arg(it.batchIndex + 1).arg(it.params.prompt).arg(it.params.seed);
    case PromptRole: return it.params.prompt;
    case SeedRole: return it.params.seed;
    case GroupStartRole: return m_groupStart.value(index.row());
    case IdRole: return it.id;
    default: return {};
    }
}

void GalleryModel::regroup() {
    // Newest first, then pull each prompt's images up behind its newest one.
    std::stable_sort(m_items.begin(), m_items.end(), [](const GeneratedImageItem& a, const GeneratedImageItem& b) {
        if (a.createdAt != b.createdAt) return a.createdAt > b.createdAt;
        return a.batchIndex < b.batchIndex;
    });
    QList<GeneratedImageItem> grouped;
    grouped.reserve(m_items.size());
    QList<QString> order;
    QHash<QString, QList<GeneratedImageItem>> byPrompt;
    for (const auto& it : m_items) {
        if (!byPrompt.contains(it.params.prompt)) order << it.params.prompt;
        byPrompt[it.params.prompt] << it;
    }
    m_groupStart.clear();
    for (const QString& prompt : order) {
        const auto& group = byPrompt[prompt];
        for (int i = 0; i < group.size(); ++i) {
            grouped << group[i];
            m_groupStart << (i == 0);
        }
    }
    m_items = grouped;
}

void GalleryModel::setItems(const QList<GeneratedImageItem>& items) {
    beginResetModel();
    m_items = items;
    m_thumbs.clear();
    regroup();
    endResetModel();
}

void GalleryModel::add(const QList<GeneratedImageItem>& items) {
    if (items.isEmpty()) return;
    beginResetModel();
    m_items += items;
    regroup();
    endResetModel();
}

void GalleryModel::clear() {
    beginResetModel();
    m_items.clear();
    m_groupStart.clear();
    m_thumbs.clear();
    endResetModel();
}

void GalleryModel::updateStored(const QList<GeneratedImageItem>& stored) {
    for (int row = 0; row < m_items.size(); ++row) {
        GeneratedImageItem& it = m_items[row];
        for (const auto& s : stored) {
            if (it.id == 0 && it.image.cacheKey() == s.image.cacheKey() && it.batchIndex == s.batchIndex) {
                it.id = s.id;
                it.filePath = s.filePath;
                emit dataChanged(index(row), index(row));
            }
        }
    }
}
