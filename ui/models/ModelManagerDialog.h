// ModelManagerDialog: add and remove model folders, see every checkpoint found with its size and memory
// need against this machine, load or unload with a progress bar, and read what is wrong with a folder
// that cannot be used (in place, with what to do). Non-modal: loading goes on while the user chats.
#pragma once

#include <QDialog>

class Banner;
class ModelListModel;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QTableView;

class ModelManagerDialog : public QDialog {
    Q_OBJECT
public:
    explicit ModelManagerDialog(ModelListModel* model, QWidget* parent = nullptr);

    void setFolders(const QStringList& folders);
    void setDevice(const QString& device);
    // Progress of a load in flight (path empty hides the bar).
    void setLoadProgress(const QString& path, double fraction);
    void showError(const QString& message, const QString& detail);
    QTableView* table() const { return m_table; }
    QString selectedPath() const;
    void selectPath(const QString& path);

signals:
    void folderAdded(const QString& folder);
    void folderRemoved(const QString& folder);
    void loadRequested(const QString& path);
    void unloadRequested(const QString& path);
    void defaultModelChosen(const QString& path);

private:
    void updateButtons();
    void chooseFolder();

    ModelListModel* m_model;
    QListWidget* m_folders = nullptr;
    QTableView* m_table = nullptr;
    QLabel* m_device = nullptr;
    QProgressBar* m_progress = nullptr;
    Banner* m_banner = nullptr;
    QLabel* m_errorPanel = nullptr;
    QPushButton* m_load = nullptr;
    QPushButton* m_unload = nullptr;
    QPushButton* m_default = nullptr;
    QPushButton* m_removeFolder = nullptr;
};
