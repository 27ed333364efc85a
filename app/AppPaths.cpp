// AppPaths: the application's folders, from XDG or from a test root.
#include "app/AppPaths.h"

#include <QDir>
#include <QStandardPaths>

namespace {
QString xdg(QStandardPaths::StandardLocation location) {
    // Generic locations plus our own folder name, so the paths do not depend on the organization name.
    return QStandardPaths::writableLocation(location) + QStringLiteral("/tessera");
}
}  // namespace

AppPaths::AppPaths(const QString& root) {
    if (root.isEmpty()) {
        m_data = xdg(QStandardPaths::GenericDataLocation);
        m_config = xdg(QStandardPaths::GenericConfigLocation);
        m_cache = xdg(QStandardPaths::GenericCacheLocation);
    } else {
        m_data = root + QStringLiteral("/data");
        m_config = root + QStringLiteral("/config");
        m_cache = root + QStringLiteral("/cache");
    }
}

QString AppPaths::databasePath() const { return m_data + QStringLiteral("/tessera.sqlite3"); }
QString AppPaths::attachmentsDir() const { return m_data + QStringLiteral("/attachments"); }
QString AppPaths::settingsFile() const { return m_config + QStringLiteral("/tessera.conf"); }

bool AppPaths::ensureExists(QString* error) const {
    for (const QString& dir : {m_data, m_config, m_cache, attachmentsDir()}) {
        if (!QDir().mkpath(dir)) {
            if (error) *error = QStringLiteral("Cannot create the folder %1").arg(dir);
            return false;
        }
    }
    return true;
}
