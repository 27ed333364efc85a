// Settings: typed accessors over QSettings keys.
#include "app/Settings.h"

Settings::Settings(const QString& iniFile, QObject* parent)
    : QObject(parent), m_settings(iniFile, QSettings::IniFormat) {}

ThemeMode Settings::theme() const {
    const QString v = m_settings.value(QStringLiteral("appearance/theme"), QStringLiteral("system")).toString();
    if (v == QLatin1String("light")) return ThemeMode::Light;
    if (v == QLatin1String("dark")) return ThemeMode::Dark;
    return ThemeMode::System;
}

void Settings::setTheme(ThemeMode mode) {
    const char* names[] = {"system", "light", "dark"};
    m_settings.setValue(QStringLiteral("appearance/theme"), QString::fromLatin1(names[int(mode)]));
    emit themeChanged(mode);
}

int Settings::fontPointSize() const { return m_settings.value(QStringLiteral("appearance/fontSize"), 0).toInt(); }

void Settings::setFontPointSize(int points) {
    m_settings.setValue(QStringLiteral("appearance/fontSize"), points);
    emit fontChanged(points);
}

QString Settings::dataDir() const { return m_settings.value(QStringLiteral("paths/data")).toString(); }
void Settings::setDataDir(const QString& dir) { m_settings.setValue(QStringLiteral("paths/data"), dir); }

QStringList Settings::modelFolders() const {
    return m_settings.value(QStringLiteral("models/folders")).toStringList();
}

void Settings::setModelFolders(const QStringList& folders) {
    m_settings.setValue(QStringLiteral("models/folders"), folders);
    emit modelFoldersChanged(folders);
}

QString Settings::defaultModel() const { return m_settings.value(QStringLiteral("models/default")).toString(); }
void Settings::setDefaultModel(const QString& path) { m_settings.setValue(QStringLiteral("models/default"), path); }

QStringList Settings::keptLoaded() const { return m_settings.value(QStringLiteral("models/loaded")).toStringList(); }
void Settings::setKeptLoaded(const QStringList& paths) { m_settings.setValue(QStringLiteral("models/loaded"), paths); }

SamplingSettings Settings::defaultSampling() const {
    SamplingSettings s;
    s.temperature = m_settings.value(QStringLiteral("sampling/temperature"), s.temperature).toDouble();
    s.topP = m_settings.value(QStringLiteral("sampling/topP"), s.topP).toDouble();
    s.maxNewTokens = m_settings.value(QStringLiteral("sampling/maxNewTokens"), s.maxNewTokens).toInt();
    return s;
}

void Settings::setDefaultSampling(const SamplingSettings& s) {
    m_settings.setValue(QStringLiteral("sampling/temperature"), s.temperature);
    m_settings.setValue(QStringLiteral("sampling/topP"), s.topP);
    m_settings.setValue(QStringLiteral("sampling/maxNewTokens"), s.maxNewTokens);
}

QByteArray Settings::windowGeometry() const { return m_settings.value(QStringLiteral("window/geometry")).toByteArray(); }
void Settings::setWindowGeometry(const QByteArray& g) { m_settings.setValue(QStringLiteral("window/geometry"), g); }
QByteArray Settings::splitterState() const { return m_settings.value(QStringLiteral("window/splitter")).toByteArray(); }
void Settings::setSplitterState(const QByteArray& s) { m_settings.setValue(QStringLiteral("window/splitter"), s); }
