// Application: construction order matters: workers first (so controllers can connect to them), then the
// window, the controllers, and only then the first requests to the workers.
#include "app/Application.h"

#include <QApplication>
#include <QMetaObject>
#include <QSplitter>

#include "app/ChatController.h"
#include "app/ImageGenController.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "app/Settings.h"
#include "app/StorageWorker.h"
#include "app/TesseraEngine.h"
#include "ui/chat/ChatPane.h"
#include "ui/main/MainWindow.h"
#include "ui/main/SettingsDialog.h"

void Application::registerMetaTypes() {
    qRegisterMetaType<SamplingSettings>();
    qRegisterMetaType<ConversationSummary>();
    qRegisterMetaType<ChatMessage>();
    qRegisterMetaType<ModelEntry>();
    qRegisterMetaType<GenerationStats>();
    qRegisterMetaType<AppError>();
    qRegisterMetaType<QList<ConversationSummary>>();
    qRegisterMetaType<QList<ChatMessage>>();
    qRegisterMetaType<QList<ModelEntry>>();
    qRegisterMetaType<ImageGenParams>();
    qRegisterMetaType<ImageGenPhase>();
    qRegisterMetaType<GeneratedImageItem>();
    qRegisterMetaType<QList<GeneratedImageItem>>();
    qRegisterMetaType<QList<QImage>>();
}

Application::Application(ApplicationOptions options, QObject* parent)
    : QObject(parent), m_options(std::move(options)), m_paths(m_options.root) {
    registerMetaTypes();
    m_settings = new Settings(m_paths.settingsFile(), this);
    if (!m_settings->dataDir().isEmpty()) m_paths.setDataDir(m_settings->dataDir());
    QString pathError;
    const bool pathsOk = m_paths.ensureExists(&pathError);

    std::unique_ptr<ChatEngine> engine =
        m_options.engineFactory ? m_options.engineFactory() : std::unique_ptr<ChatEngine>(new TesseraEngine);
    m_inference = new InferenceWorker(std::move(engine));
    m_inference->moveToThread(&m_inferenceThread);
    connect(&m_inferenceThread, &QThread::finished, m_inference, &QObject::deleteLater);
    m_inferenceThread.setObjectName(QStringLiteral("inference"));
    m_inferenceThread.start();
    m_storage = new StorageWorker;
    m_storage->moveToThread(&m_storageThread);
    connect(&m_storageThread, &QThread::finished, m_storage, &QObject::deleteLater);
    m_storageThread.setObjectName(QStringLiteral("storage"));
    m_storageThread.start();

    m_window = std::make_unique<MainWindow>();
    m_chat = new ChatController(m_window.get(), m_settings, m_inference, m_storage, this);
    m_chat->setScratchDir(m_paths.cacheDir());
    m_models = new ModelController(m_window.get(), m_settings, m_inference, m_chat, this);
    m_images = new ImageGenController(m_window.get(), m_inference, m_storage, m_chat, m_models, this);
    m_images->setScratchDir(m_paths.cacheDir());
    connect(m_window.get(), &MainWindow::settingsRequested, this, &Application::openSettingsDialog);
    connect(m_window.get(), &MainWindow::closing, this, &Application::saveState);
    if (!m_settings->windowGeometry().isEmpty()) m_window->restoreGeometry(m_settings->windowGeometry());
    if (!m_settings->splitterState().isEmpty()) m_window->splitter()->restoreState(m_settings->splitterState());

    if (!pathsOk) m_window->chatPane()->showError(AppError{AppError::Kind::Io, pathError, {}});
    QMetaObject::invokeMethod(m_inference, [w = m_inference, budget = m_options.memoryBudget] {
        if (budget > 0) w->setMemoryBudget(budget);
        w->start();
    }, Qt::QueuedConnection);
    QMetaObject::invokeMethod(m_storage, [w = m_storage, db = m_paths.databasePath(), data = m_paths.dataDir(),
                                          pages = m_options.maxDatabasePages] { w->open(db, data, pages); },
                              Qt::QueuedConnection);
    connect(m_storage, &StorageWorker::opened, this, [this](const QString& notice) {
        if (!notice.isEmpty()) m_window->chatPane()->showError(AppError{AppError::Kind::Io, notice, {}});
    });
    if (!m_settings->modelFolders().isEmpty()) m_models->rescan();
}

void Application::saveState() {
    m_chat->commitDelete();
    m_settings->setWindowGeometry(m_window->saveGeometry());
    m_settings->setSplitterState(m_window->splitter()->saveState());
    m_settings->setKeptLoaded(m_models->loadedModels());
    m_settings->sync();
}

Application::~Application() {
    saveState();
    if (m_chat->isGenerating()) m_inference->cancel(m_chat->activeRequest());
    if (m_images->isGenerating()) m_inference->cancel(m_images->activeRequest());
    // The storage worker writes what is still queued for it, then closes the database (a reply still
    // streaming is kept as interrupted). Blocking here is the one wait on disk, at exit, so nothing the
    // user saw is lost.
    QMetaObject::invokeMethod(m_storage, [w = m_storage] { w->close(); }, Qt::BlockingQueuedConnection);
    m_inferenceThread.quit();
    m_storageThread.quit();
    m_inferenceThread.wait();
    m_storageThread.wait();
    // Controllers go before the window they point into.
    delete m_images;
    delete m_models;
    delete m_chat;
    m_window.reset();
}

void Application::openSettingsDialog() {
    auto* dialog = new SettingsDialog(m_window.get());
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    SettingsValues v;
    v.theme = m_settings->theme();
    v.fontPoints = m_settings->fontPointSize();
    v.dataDir = m_settings->dataDir();
    v.modelFolders = m_settings->modelFolders();
    v.sampling = m_settings->defaultSampling();
    dialog->setValues(v);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const SettingsValues n = dialog->values();
        m_settings->setTheme(n.theme);
        m_settings->setFontPointSize(n.fontPoints);
        m_settings->setDefaultSampling(n.sampling);
        if (n.dataDir != m_settings->dataDir()) {
            m_settings->setDataDir(n.dataDir);
            m_window->chatPane()->showError(
                AppError{AppError::Kind::Io, tr("The new data folder is used from the next start."), {}});
        }
        if (n.modelFolders != m_settings->modelFolders()) {
            for (const QString& f : m_settings->modelFolders()) {
                if (!n.modelFolders.contains(f)) m_models->removeFolder(f);
            }
            for (const QString& f : n.modelFolders) m_models->addFolder(f);
        }
        if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance()))
            Theme::apply(app, n.theme, n.fontPoints);
    });
    dialog->open();
}
