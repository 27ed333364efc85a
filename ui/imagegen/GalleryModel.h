// GalleryModel: generated images for a grid view: a thumbnail, a caption and a tooltip with the settings
// each; kept grouped by prompt (groups ordered by their newest image, newest first inside a group), so
// what was made from one prompt sits together.
#pragma once

#include <QAbstractListModel>
#include <QHash>
#include <QList>
#include <QPixmap>

#include "ui/imagegen/ImageGenTypes.h"

class GalleryModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { PromptRole = Qt::UserRole + 1, SeedRole, GroupStartRole, IdRole };

    explicit GalleryModel(int thumbnailSide, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;

    void setItems(const QList<GeneratedImageItem>& items);
    // Adds images (a finished batch, or the last one moving down from the results).
    void add(const QList<GeneratedImageItem>& items);
    void clear();
    // Storage answered: fill in the ids and file paths of the images of a batch (matched by time and place).
    void updateStored(const QList<GeneratedImageItem>& stored);
    const GeneratedImageItem& item(int row) const { return m_items.at(row); }
    QList<GeneratedImageItem> items() const { return m_items; }
    int thumbnailSide() const { return m_side; }

    static QString describe(const ImageGenParams& params);

private:
    void regroup();

    QList<GeneratedImageItem> m_items;
    QList<bool> m_groupStart;
    mutable QHash<qint64, QPixmap> m_thumbs;  // by cacheKey of the image
    int m_side;
};
