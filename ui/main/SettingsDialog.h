// SettingsDialog: theme (light, dark, follow the system), font size, the data folder, the model folders
// and the default sampling for new chats.
#pragma once

#include <QDialog>
#include <QStringList>

#include "ui/common/ChatTypes.h"
#include "ui/common/Theme.h"

class QComboBox;
class QLineEdit;
class QListWidget;
class QSpinBox;
class SamplingEditor;

struct SettingsValues {
    ThemeMode theme = ThemeMode::System;
    int fontPoints = 0;
    QString dataDir;
    QStringList modelFolders;
    SamplingSettings sampling;
};

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(QWidget* parent = nullptr);
    void setValues(const SettingsValues& values);
    SettingsValues values() const;

private:
    QComboBox* m_theme = nullptr;
    QSpinBox* m_font = nullptr;
    QLineEdit* m_dataDir = nullptr;
    QListWidget* m_folders = nullptr;
    SamplingEditor* m_sampling = nullptr;
};
