// ImageGenTypes: PNG metadata in and out with Qt's image plugins (QImage::setText writes tEXt chunks for
// Latin-1 text and iTXt for the rest; QImageReader::text reads them back before decoding any pixel).
#include "ui/imagegen/ImageGenTypes.h"

#include <QImageReader>
#include <QImageWriter>
#include <QSaveFile>

QImage GeneratedImageItem::fullImage() const {
    if (!filePath.isEmpty()) {
        QImage stored(filePath);
        if (!stored.isNull()) return stored;
    }
    return image;
}

namespace ImageGenMeta {

QMap<QString, QString> textFor(const ImageGenParams& p, const QString& softwareVersion) {
    QMap<QString, QString> t;
    t.insert(QLatin1String(kPrompt), p.prompt);
    t.insert(QLatin1String(kSeed), QString::number(p.seed));
    t.insert(QLatin1String(kCfg), QString::number(p.cfgWeight, 'g', 6));
    t.insert(QLatin1String(kTemperature), QString::number(p.temperature, 'g', 6));
    t.insert(QLatin1String(kModel), p.model);
    t.insert(QLatin1String(kSoftware), QStringLiteral("Tessera %1").arg(softwareVersion));
    return t;
}

std::optional<ImageGenParams> paramsFrom(const QMap<QString, QString>& text) {
    if (!text.contains(QLatin1String(kPrompt)) || !text.contains(QLatin1String(kSeed))) return std::nullopt;
    ImageGenParams p;
    p.prompt = text.value(QLatin1String(kPrompt));
    bool ok = false;
    p.seed = text.value(QLatin1String(kSeed)).toLongLong(&ok);
    if (!ok || p.seed < 0 || p.seed > ImageGenParams::kMaxSeed) return std::nullopt;
    // Missing or unreadable numbers keep the defaults rather than refusing the whole file.
    const double cfg = text.value(QLatin1String(kCfg)).toDouble(&ok);
    if (ok) p.cfgWeight = cfg;
    const double temperature = text.value(QLatin1String(kTemperature)).toDouble(&ok);
    if (ok) p.temperature = temperature;
    p.model = text.value(QLatin1String(kModel));
    return p;
}

std::optional<ImageGenParams> readParams(const QString& pngFile) {
    QImageReader reader(pngFile);
    if (!reader.canRead()) return std::nullopt;
    QMap<QString, QString> text;
    for (const QString& key : reader.textKeys()) text.insert(key, reader.text(key));
    return paramsFrom(text);
}

bool savePng(const QImage& image, const ImageGenParams& params, const QString& softwareVersion, const QString& file,
             QString* error) {
    QImage copy = image;
    const auto text = textFor(params, softwareVersion);
    for (auto it = text.cbegin(); it != text.cend(); ++it) copy.setText(it.key(), it.value());
    // Written to a temporary file renamed into place: a full disk leaves no half-written PNG.
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly)) {
        if (error) *error = out.errorString();
        return false;
    }
    QImageWriter writer(&out, "png");
    if (!writer.write(copy)) {
        if (error) *error = writer.errorString();
        out.cancelWriting();
        return false;
    }
    if (!out.commit()) {
        if (error) *error = out.errorString();
        return false;
    }
    return true;
}

}  // namespace ImageGenMeta
