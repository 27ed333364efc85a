// ModelController: the model manager's logic on the GUI thread: the remembered model folders, scanning
// and probing them on the inference thread, load / unload with progress, the first-run guide, and the
// status bar's device and memory. Models loaded when the app last closed are loaded again on start.
#pragma once

#include <QHash>
#include <QObject>
#include <QPointer>
#include <QSet>

#include "ui/common/ChatTypes.h"

class ChatController;
class InferenceWorker;
class MainWindow;
class ModelListModel;
class ModelManagerDialog;
class Settings;

class ModelController : public QObject {
    Q_OBJECT
public:
    ModelController(MainWindow* window, Settings* settings, InferenceWorker* inference, ChatController* chat,
                    QObject* parent = nullptr);

    ModelListModel* models() const { return m_models; }
    ModelManagerDialog* dialog();
    QStringList folders() const;

    void addFolder(const QString& folder);
    void removeFolder(const QString& folder);
    void rescan();
    void load(const QString& path);
    void unload(const QString& path);
    void setDefaultModel(const QString& path);
    void showManager();
    void chooseFolder();
    // Which models to load again next time.
    QStringList loadedModels() const;

signals:
    void scanned();
    void modelLoaded(const QString& path);
    void loadFailed(const QString& path, const AppError& error);

private:
    void onProbed(quint64 requestId, const QList<ModelEntry>& entries);
    void onLoadProgress(quint64 requestId, const QString& path, double fraction);
    void onLoaded(quint64 requestId, const QString& path);
    void onUnloaded(const QString& path, const QString& reason);
    void onFailed(quint64 requestId, const AppError& error);
    void onFinished(quint64 requestId, bool stopped);
    void refreshPickers();
    void updateFirstRun();

    MainWindow* m_window;
    Settings* m_settings;
    InferenceWorker* m_inference;
    ChatController* m_chat;
    ModelListModel* m_models;
    QPointer<ModelManagerDialog> m_dialog;
    quint64 m_scanRequest = 0;
    QHash<quint64, QString> m_loadRequests;  // load request id -> path
    QSet<QString> m_loaded;
    QString m_device;
    qint64 m_capacity = 0;
    qint64 m_inUse = 0;
    bool m_restored = false;
};
