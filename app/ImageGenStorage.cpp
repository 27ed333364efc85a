// StorageWorker's image generation gallery: each finished batch in one transaction (the PNGs, which carry
// their settings in text chunks too, as attachments; one generated_images row per image), and the gallery
// read back newest first. Declared in StorageWorker.h with the worker's other slots.
#include <QBuffer>
#include <QFileInfo>
#include <QImageReader>

#include "app/AppInfo.h"
#include "app/StorageWorker.h"
#include "storage/attachment_store.h"
#include "storage/database.h"
#include "storage/generated_image_repository.h"

namespace st = tessera::storage;

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }
std::string ss(const QString& s) { return s.toStdString(); }

QByteArray pngBytes(const GeneratedImageItem& item) {
    QImage image = item.image;
    const auto text = ImageGenMeta::textFor(item.params, AppInfo::version());
    for (auto it = text.cbegin(); it != text.cend(); ++it) image.setText(it.key(), it.value());
    QByteArray png;
    QBuffer buffer(&png);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "PNG");
    return png;
}

}  // namespace

void StorageWorker::saveGeneratedImages(quint64 batchId, const QList<GeneratedImageItem>& items) {
    const QString what = tr("Cannot save the generated images");
    if (!m_db) return fail(what, "the database is not open", int(tessera::ErrorCode::Io));
    auto tx = st::Transaction::begin(*m_db);
    if (!tx) return fail(what, tx.error().to_string(), int(tx.error().code));
    st::AttachmentStore store(*m_db, ss(m_dataDir));
    st::GeneratedImageRepository repo(*m_db);
    QList<GeneratedImageItem> saved;
    for (const GeneratedImageItem& item : items) {
        const QByteArray png = pngBytes(item);
        if (png.isEmpty()) return fail(what, "the image could not be encoded as PNG", int(tessera::ErrorCode::Internal));
        auto a = store.add(std::string_view(png.constData(), size_t(png.size())), "image/png");
        if (!a) return fail(what, a.error().to_string(), int(a.error().code));
        st::GeneratedImage g;
        g.prompt = ss(item.params.prompt);
        g.seed = item.params.seed;
        g.cfg_weight = item.params.cfgWeight;
        g.temperature = item.params.temperature;
        g.model = ss(item.params.model);
        g.attachment_id = a->id;
        g.batch_index = item.batchIndex;
        g.created_at = item.createdAt.isValid() ? item.createdAt.toMSecsSinceEpoch() : 0;
        auto row = repo.add(g);
        if (!row) return fail(what, row.error().to_string(), int(row.error().code));
        GeneratedImageItem out = item;
        out.id = row->id;
        out.filePath = qs(store.file_path(*a).string());
        out.createdAt = QDateTime::fromMSecsSinceEpoch(row->created_at);
        saved << out;
    }
    if (auto s = tx->commit(); !s) return fail(what, s.error().to_string(), int(s.error().code));
    emit generatedImagesSaved(batchId, saved);
}

void StorageWorker::loadGallery(int limit) {
    const QString what = tr("Cannot read the image gallery");
    if (!m_db) return;  // open() already said why
    auto rows = st::GeneratedImageRepository(*m_db).list(limit);
    if (!rows) return fail(what, rows.error().to_string(), int(rows.error().code));
    st::AttachmentStore store(*m_db, ss(m_dataDir));
    QList<GeneratedImageItem> out;
    for (const st::GeneratedImage& g : *rows) {
        auto a = store.get(g.attachment_id);
        if (!a) continue;  // a row whose picture is gone shows nothing rather than an empty tile
        auto bytes = store.read(*a);
        if (!bytes) continue;
        GeneratedImageItem item;
        item.id = g.id;
        // The gallery keeps thumbnails; the full picture is read from the file when it is opened or saved.
        QByteArray data = QByteArray::fromRawData(bytes->data(), qsizetype(bytes->size()));
        QBuffer buffer(&data);
        QImageReader reader(&buffer, "PNG");
        const QSize size = reader.size();
        const int side = GeneratedImageItem::kThumbnailSide;
        if (size.isValid() && (size.width() > side || size.height() > side))
            reader.setScaledSize(size.scaled(side, side, Qt::KeepAspectRatio));
        item.image = reader.read();
        if (item.image.isNull()) continue;
        item.filePath = qs(store.file_path(*a).string());
        item.params.prompt = qs(g.prompt);
        item.params.seed = g.seed;
        item.params.cfgWeight = g.cfg_weight;
        item.params.temperature = g.temperature;
        item.params.model = qs(g.model);
        item.batchIndex = g.batch_index;
        item.createdAt = QDateTime::fromMSecsSinceEpoch(g.created_at);
        out << item;
    }
    emit galleryLoaded(out);
}
