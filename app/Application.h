// Application: the composition root. It builds settings, paths, the two worker threads (inference and
// storage), the controllers and the main window, and wires them together. Tests and the screenshot
// driver create it with their own data root and engine; destroying it stops generation, closes the
// database and joins the threads.
#pragma once

#include <QObject>
#include <QThread>

#include <functional>
#include <memory>

#include "app/AppPaths.h"

class ChatController;
class ChatEngine;
class ImageGenController;
class InferenceWorker;
class MainWindow;
class ModelController;
class Settings;
class StorageWorker;

struct ApplicationOptions {
    QString root;  // empty: the XDG folders
    // Makes the engine (on the GUI thread; it is then moved along with its worker). Default: TesseraEngine.
    std::function<std::unique_ptr<ChatEngine>()> engineFactory;
    qint64 maxDatabasePages = 0;  // > 0: cap the database (a full disk, for tests)
    qint64 memoryBudget = 0;      // > 0: what models may take together (tests of unloading)
};

class Application : public QObject {
    Q_OBJECT
public:
    explicit Application(ApplicationOptions options = {}, QObject* parent = nullptr);
    ~Application() override;

    MainWindow* window() const { return m_window.get(); }
    ChatController* chat() const { return m_chat; }
    ModelController* models() const { return m_models; }
    ImageGenController* images() const { return m_images; }
    Settings* settings() const { return m_settings; }
    InferenceWorker* inference() const { return m_inference; }
    StorageWorker* storage() const { return m_storage; }
    const AppPaths& paths() const { return m_paths; }

    static void registerMetaTypes();

private:
    void openSettingsDialog();
    void saveState();

    ApplicationOptions m_options;
    AppPaths m_paths;
    Settings* m_settings = nullptr;
    QThread m_inferenceThread;
    QThread m_storageThread;
    InferenceWorker* m_inference = nullptr;
    StorageWorker* m_storage = nullptr;
    std::unique_ptr<MainWindow> m_window;
    ChatController* m_chat = nullptr;
    ModelController* m_models = nullptr;
    ImageGenController* m_images = nullptr;
};
