// ModelController: folders in Settings, entries in ModelListModel, requests to InferenceWorker.
#include "app/ModelController.h"

#include <QFileDialog>
#include <QMetaObject>

#include "app/ChatController.h"
#include "app/InferenceWorker.h"
#include "app/Settings.h"
#include "ui/chat/ChatPane.h"
#include "ui/main/MainWindow.h"
#include "ui/models/ModelListModel.h"
#include "ui/models/ModelManagerDialog.h"

namespace {
template <class Worker, class F>
void post(Worker* worker, F&& call) {
    QMetaObject::invokeMethod(worker, std::forward<F>(call), Qt::QueuedConnection);
}
}  // namespace

ModelController::ModelController(MainWindow* window, Settings* settings, InferenceWorker* inference,
                                 ChatController* chat, QObject* parent)
    : QObject(parent), m_window(window), m_settings(settings), m_inference(inference), m_chat(chat),
      m_models(new ModelListModel(this)) {
    connect(inference, &InferenceWorker::probed, this, &ModelController::onProbed);
    connect(inference, &InferenceWorker::loadProgress, this, &ModelController::onLoadProgress);
    connect(inference, &InferenceWorker::modelLoaded, this, &ModelController::onLoaded);
    connect(inference, &InferenceWorker::modelUnloaded, this, &ModelController::onUnloaded);
    connect(inference, &InferenceWorker::failed, this, &ModelController::onFailed);
    connect(inference, &InferenceWorker::finished, this, &ModelController::onFinished);
    connect(inference, &InferenceWorker::deviceInfo, this, [this](const QString& device, qint64 capacity) {
        m_capacity = capacity;
        m_device = device;
        m_window->setStatusDevice(device);
        m_window->setStatusMemory(tr("%1 / %2").arg(formatBytes(m_inUse), formatBytes(capacity)));
        if (m_dialog) m_dialog->setDevice(device);
    });
    connect(inference, &InferenceWorker::memoryInUse, this, [this](qint64 bytes) {
        m_inUse = bytes;
        m_window->setStatusMemory(tr("%1 / %2").arg(formatBytes(bytes), formatBytes(m_capacity)));
    });
    connect(m_window, &MainWindow::modelsRequested, this, &ModelController::showManager);
    connect(m_window->chatPane(), &ChatPane::addModelFolderRequested, this, &ModelController::chooseFolder);
    updateFirstRun();
}

QStringList ModelController::folders() const { return m_settings->modelFolders(); }

ModelManagerDialog* ModelController::dialog() {
    if (!m_dialog) {
        m_dialog = new ModelManagerDialog(m_models, m_window);
        m_dialog->setFolders(folders());
        if (!m_device.isEmpty()) m_dialog->setDevice(m_device);
        connect(m_dialog, &ModelManagerDialog::folderAdded, this, &ModelController::addFolder);
        connect(m_dialog, &ModelManagerDialog::folderRemoved, this, &ModelController::removeFolder);
        connect(m_dialog, &ModelManagerDialog::loadRequested, this, &ModelController::load);
        connect(m_dialog, &ModelManagerDialog::unloadRequested, this, &ModelController::unload);
        connect(m_dialog, &ModelManagerDialog::defaultModelChosen, this, &ModelController::setDefaultModel);
    }
    return m_dialog;
}

void ModelController::showManager() {
    dialog()->show();
    dialog()->raise();
    dialog()->activateWindow();
}

void ModelController::chooseFolder() {
    auto* d = new QFileDialog(m_window, tr("Add model folder"));
    d->setFileMode(QFileDialog::Directory);
    d->setOption(QFileDialog::ShowDirsOnly);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &QFileDialog::fileSelected, this, &ModelController::addFolder);
    d->open();
}

void ModelController::addFolder(const QString& folder) {
    QStringList list = folders();
    if (folder.isEmpty() || list.contains(folder)) return;
    list << folder;
    m_settings->setModelFolders(list);
    if (m_dialog) m_dialog->setFolders(list);
    updateFirstRun();
    rescan();
}

void ModelController::removeFolder(const QString& folder) {
    QStringList list = folders();
    list.removeAll(folder);
    m_settings->setModelFolders(list);
    m_models->removeUnder(folder);
    if (m_dialog) m_dialog->setFolders(list);
    refreshPickers();
    updateFirstRun();
}

void ModelController::rescan() {
    m_scanRequest = InferenceWorker::nextRequestId();
    post(m_inference, [w = m_inference, id = m_scanRequest, f = folders()] { w->scanFolders(id, f); });
}

void ModelController::onProbed(quint64 requestId, const QList<ModelEntry>& entries) {
    if (requestId != m_scanRequest) return;
    QList<ModelEntry> list = entries;
    for (auto& e : list) {
        if (m_loaded.contains(e.path)) e.state = ModelEntry::State::Loaded;
    }
    m_models->setEntries(list);
    refreshPickers();
    updateFirstRun();
    // Start-up: load again what was loaded when the app closed (in the background, one after another).
    if (!m_restored) {
        m_restored = true;
        for (const QString& p : m_settings->keptLoaded()) {
            if (m_models->entry(p)) load(p);
        }
    }
    emit scanned();
}

void ModelController::refreshPickers() {
    const QList<ModelEntry> chat = m_models->chatModels();
    m_window->chatPane()->setModels(chat);
    QString def = m_settings->defaultModel();
    if (!m_models->entry(def) && !chat.isEmpty()) def = chat.first().path;
    const ModelEntry* e = m_models->entry(def);
    m_chat->setDefaultModel(e ? def : QString(), e ? e->name : tr("No model"));
}

void ModelController::updateFirstRun() { m_window->chatPane()->setFirstRun(folders().isEmpty()); }

void ModelController::setDefaultModel(const QString& path) {
    m_settings->setDefaultModel(path);
    refreshPickers();
}

void ModelController::load(const QString& path) {
    if (m_loaded.contains(path)) return;
    const quint64 id = InferenceWorker::nextRequestId();
    m_loadRequests.insert(id, path);
    m_models->setState(path, ModelEntry::State::Loading, 0.0);
    post(m_inference, [w = m_inference, id, path] { w->loadModel(id, path); });
}

void ModelController::unload(const QString& path) {
    post(m_inference, [w = m_inference, path] { w->unloadModel(path); });
}

QStringList ModelController::loadedModels() const { return QStringList(m_loaded.begin(), m_loaded.end()); }

void ModelController::onLoadProgress(quint64, const QString& path, double fraction) {
    // Loads started by a chat request report here too: the table and the bar follow every load.
    m_models->setState(path, ModelEntry::State::Loading, fraction);
    if (m_dialog) m_dialog->setLoadProgress(path, fraction);
    const ModelEntry* e = m_models->entry(path);
    m_window->setStatusState(tr("Loading %1… %2%").arg(e ? e->name : path).arg(int(fraction * 100)));
}

void ModelController::onLoaded(quint64, const QString& path) {
    m_loaded.insert(path);
    m_models->setState(path, ModelEntry::State::Loaded, 1.0);
    if (m_dialog) m_dialog->setLoadProgress(QString(), 0.0);
    m_settings->setKeptLoaded(loadedModels());
    m_window->setStatusState(tr("Ready"));
    refreshPickers();
    emit modelLoaded(path);
}

void ModelController::onUnloaded(const QString& path, const QString& reason) {
    m_loaded.remove(path);
    m_models->setState(path, ModelEntry::State::Unloaded);
    m_settings->setKeptLoaded(loadedModels());
    refreshPickers();
    // The worker made room on its own: say so rather than let a model vanish.
    if (!reason.isEmpty()) m_window->setStatusState(reason);
}

void ModelController::onFailed(quint64 requestId, const AppError& error) {
    const QString path = m_loadRequests.value(requestId);
    if (path.isEmpty()) {
        // A chat request failed while loading its model: put the row back and let the chat show the banner.
        for (const auto& e : m_models->entries()) {
            if (e.state == ModelEntry::State::Loading) m_models->setState(e.path, ModelEntry::State::Unloaded);
        }
        return;
    }
    m_models->setState(path, ModelEntry::State::Unloaded);
    if (m_dialog) {
        m_dialog->setLoadProgress(QString(), 0.0);
        m_dialog->showError(error.message, error.detail);
    }
    m_window->chatPane()->showError(error);
    m_window->setStatusState(tr("Error"));
    emit loadFailed(path, error);
}

void ModelController::onFinished(quint64 requestId, bool) { m_loadRequests.remove(requestId); }
