// Where Tessera keeps its files. XDG through QStandardPaths; tests and the screenshot script pass their
// own root so nothing touches the user's real data.
#pragma once

#include <QString>

class AppPaths {
public:
    // root empty: the XDG locations (~/.local/share/tessera, ~/.config/tessera, ~/.cache/tessera).
    // root set: data/, config/ and cache/ below it.
    explicit AppPaths(const QString& root = QString());

    QString dataDir() const { return m_data; }
    QString configDir() const { return m_config; }
    QString cacheDir() const { return m_cache; }
    QString databasePath() const;
    QString attachmentsDir() const;
    QString settingsFile() const;

    // Creates the folders; false when one cannot be made (read-only home, full disk).
    bool ensureExists(QString* error) const;

    // Used when the user picks another data folder in Settings.
    void setDataDir(const QString& dir) { m_data = dir; }

private:
    QString m_data;
    QString m_config;
    QString m_cache;
};
