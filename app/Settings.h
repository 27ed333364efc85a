// Settings: the user's choices, kept with QSettings in an INI file under the config folder. QSettings
// caches in memory and writes in the background of the event loop, so reading here never waits on disk.
#pragma once

#include <QByteArray>
#include <QObject>
#include <QSettings>
#include <QStringList>

#include "ui/common/ChatTypes.h"
#include "ui/common/Theme.h"

class Settings : public QObject {
    Q_OBJECT
public:
    explicit Settings(const QString& iniFile, QObject* parent = nullptr);

    ThemeMode theme() const;
    void setTheme(ThemeMode mode);
    int fontPointSize() const;  // 0 = the system's
    void setFontPointSize(int points);

    QString dataDir() const;  // empty = the XDG default
    void setDataDir(const QString& dir);
    QStringList modelFolders() const;  // folders the user added (each a checkpoint or a folder of them)
    void setModelFolders(const QStringList& folders);
    QString defaultModel() const;  // path of the model new chats use
    void setDefaultModel(const QString& path);
    QStringList keptLoaded() const;  // models loaded at the last exit, loaded again on start
    void setKeptLoaded(const QStringList& paths);

    SamplingSettings defaultSampling() const;
    void setDefaultSampling(const SamplingSettings& sampling);

    QByteArray windowGeometry() const;
    void setWindowGeometry(const QByteArray& geometry);
    QByteArray splitterState() const;
    void setSplitterState(const QByteArray& state);

    void sync() { m_settings.sync(); }

signals:
    void themeChanged(ThemeMode mode);
    void fontChanged(int points);
    void modelFoldersChanged(const QStringList& folders);

private:
    QSettings m_settings;
};
