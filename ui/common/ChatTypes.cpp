// Formatting helpers for the shared value types (sizes in the model manager and the status bar).
#include "ui/common/ChatTypes.h"

#include <QCoreApplication>

QString formatBytes(qint64 bytes) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    const double mib = 1024.0 * 1024.0;
    if (bytes >= qint64(gib)) return QStringLiteral("%1 GB").arg(double(bytes) / gib, 0, 'f', 1);
    if (bytes >= qint64(mib)) return QStringLiteral("%1 MB").arg(double(bytes) / mib, 0, 'f', 1);
    if (bytes >= 1024) return QStringLiteral("%1 KB").arg(double(bytes) / 1024.0, 0, 'f', 0);
    return QStringLiteral("%1 B").arg(bytes);
}

QString formatParameters(qint64 count) {
    if (count >= 1'000'000'000) return QStringLiteral("%1B").arg(double(count) / 1e9, 0, 'f', 1);
    if (count >= 1'000'000) return QStringLiteral("%1M").arg(double(count) / 1e6, 0, 'f', 1);
    if (count >= 1'000) return QStringLiteral("%1K").arg(double(count) / 1e3, 0, 'f', 1);
    return QString::number(count);
}

QString modelKindName(ModelEntry::Kind kind) {
    switch (kind) {
    case ModelEntry::Kind::Chat: return QCoreApplication::translate("ModelEntry", "chat");
    case ModelEntry::Kind::Vision: return QCoreApplication::translate("ModelEntry", "vision");
    case ModelEntry::Kind::ImageGeneration: return QCoreApplication::translate("ModelEntry", "image generation");
    case ModelEntry::Kind::Gguf: return QCoreApplication::translate("ModelEntry", "GGUF file");
    case ModelEntry::Kind::Broken: return QCoreApplication::translate("ModelEntry", "cannot be used");
    }
    return {};
}
