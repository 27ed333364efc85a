// ImageGenController: signals between the Images pane and the workers (queued across threads).
#include "app/ImageGenController.h"

#include <QDir>
#include <QFileInfo>
#include <QMetaObject>
#include <QTabWidget>

#include "app/AppInfo.h"
#include "app/ChatController.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "app/StorageWorker.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/main/MainWindow.h"
#include "ui/models/ModelListModel.h"

namespace {

template <class Worker, class F>
void post(Worker* worker, F&& call) {
    QMetaObject::invokeMethod(worker, std::forward<F>(call), Qt::QueuedConnection);
}

}  // namespace

ImageGenController::ImageGenController(MainWindow* window, InferenceWorker* inference, StorageWorker* storage,
                                       ChatController* chat, ModelController* models, QObject* parent)
    : QObject(parent), m_window(window), m_pane(window->imagePane()), m_inference(inference), m_storage(storage),
      m_chat(chat), m_models(models) {
    m_pane->setSoftwareVersion(AppInfo::version());
    connect(m_pane, &ImageGenPane::generateRequested, this, &ImageGenController::generate);
    connect(m_pane, &ImageGenPane::cancelRequested, this, &ImageGenController::cancel);
    connect(m_pane, &ImageGenPane::sendToChatRequested, this, &ImageGenController::sendToChat);
    connect(m_pane, &ImageGenPane::openModelManagerRequested, m_models, &ModelController::showManager);
    // Esc is the window's "stop": it cancels a batch when the Images pane is the one in front.
    connect(m_window, &MainWindow::stopRequested, this, [this] {
        if (m_window->panes()->currentWidget() == m_pane) cancel();
    });
    connect(m_models, &ModelController::scanned, this, &ImageGenController::refreshModels);
    connect(m_inference, &InferenceWorker::imageProgress, this, &ImageGenController::onProgress);
    connect(m_inference, &InferenceWorker::imagesReady, this, &ImageGenController::onReady);
    connect(m_inference, &InferenceWorker::imageError, this, &ImageGenController::onError);
    connect(m_storage, &StorageWorker::opened, this,
            [this] { post(m_storage, [w = m_storage] { w->loadGallery(kGalleryLimit); }); });
    connect(m_storage, &StorageWorker::galleryLoaded, this, [this](const QList<GeneratedImageItem>& items) {
        m_pane->setGallery(items);
        emit galleryLoaded(int(items.size()));
    });
    connect(m_storage, &StorageWorker::generatedImagesSaved, this,
            [this](quint64 batch, const QList<GeneratedImageItem>& items) {
                m_pane->updateStored(items);
                emit batchStored(batch);
            });
}

void ImageGenController::refreshModels() {
    QList<ModelEntry> capable;
    for (const ModelEntry& e : m_models->models()->entries()) {
        if (e.generatesImages && e.kind != ModelEntry::Kind::Broken) capable << e;
    }
    m_pane->setModels(capable);
}

void ImageGenController::generate(const ImageGenParams& params) {
    if (m_active != 0) return;
    if (params.modelPath.isEmpty()) {
        m_pane->showError(AppError{AppError::Kind::Unsupported, tr("Choose an image generation model first."), {}});
        return;
    }
    m_active = InferenceWorker::nextRequestId();
    m_pane->clearError();
    m_pane->setGenerating(true);
    m_window->setStatusState(tr("Generating images…"));
    post(m_inference, [w = m_inference, id = m_active, path = params.modelPath, params] {
        w->generateImages(id, path, params);
    });
}

void ImageGenController::cancel() {
    if (m_active == 0) return;
    m_inference->cancel(m_active);
    m_window->setStatusState(tr("Stopping…"));
}

void ImageGenController::onProgress(quint64 requestId, ImageGenPhase phase, int step, int total, double eta) {
    if (requestId != m_active) return;
    m_pane->setProgress(phase, step, total, eta);
}

void ImageGenController::onReady(quint64 requestId, const QList<QImage>& images, const ImageGenParams& params) {
    if (requestId != m_active) return;
    const QDateTime now = QDateTime::currentDateTime();
    QList<GeneratedImageItem> items;
    for (int i = 0; i < images.size(); ++i) {
        GeneratedImageItem item;
        item.image = images[i];
        item.params = params;
        item.batchIndex = i;
        item.createdAt = now;
        items << item;
    }
    m_pane->showResults(items);
    post(m_storage, [w = m_storage, requestId, items] { w->saveGeneratedImages(requestId, items); });
    finish(requestId, int(images.size()));
}

void ImageGenController::onError(quint64 requestId, const AppError& error) {
    if (requestId != m_active) return;
    if (error.kind != AppError::Kind::Cancelled) m_pane->showError(error);
    // A batch that failed while loading its model: put the model manager's row back, as chat requests do.
    ModelListModel* models = m_models->models();
    for (const ModelEntry& e : models->entries()) {
        if (e.state == ModelEntry::State::Loading) models->setState(e.path, ModelEntry::State::Unloaded);
    }
    finish(requestId, 0);
    m_window->setStatusState(error.kind == AppError::Kind::Cancelled ? tr("Stopped") : tr("Error"));
}

void ImageGenController::finish(quint64 requestId, int images) {
    m_active = 0;
    m_pane->setGenerating(false);
    m_window->setStatusState(tr("Ready"));
    emit generationFinished(requestId, images);
}

bool ImageGenController::sendToChat(const GeneratedImageItem& item) {
    // A model that sees images: the one that made the picture when it can, else the chat's, else the first.
    QString path;
    const QList<ModelEntry> entries = m_models->models()->chatModels();
    const QString chatModel = m_window->chatPane()->currentModel();
    for (const ModelEntry& e : entries) {
        if (!e.seesImages) continue;
        if (e.path == item.params.modelPath) path = e.path;
        if (path.isEmpty() && e.path == chatModel) path = e.path;
    }
    for (const ModelEntry& e : entries) {
        if (path.isEmpty() && e.seesImages) path = e.path;
    }
    if (path.isEmpty()) {
        m_pane->showError(AppError{AppError::Kind::Unsupported,
                                   tr("No model that sees images: add DeepSeek-VL2 or Janus-Pro in the model manager."),
                                   {}});
        return false;
    }
    m_chat->newChat();
    m_chat->setConversationModel(path);
    m_window->panes()->setCurrentWidget(m_window->chatPane());
    Composer* composer = m_window->chatPane()->composer();
    // The chat hands images to the model by file: one still on its way to storage gets a file of its own.
    QString file = item.filePath;
    if (file.isEmpty() || !QFileInfo::exists(file)) {
        const QString dir = (m_scratchDir.isEmpty() ? QDir::tempPath() : m_scratchDir) + QStringLiteral("/generated");
        QDir().mkpath(dir);
        file = QStringLiteral("%1/tessera-%2-%3-%4.png")
                   .arg(dir)
                   .arg(item.params.seed)
                   .arg(item.batchIndex + 1)
                   .arg(QDateTime::currentMSecsSinceEpoch());
        if (!ImageGenMeta::savePng(item.image, item.params, AppInfo::version(), file)) file.clear();
    }
    if (!composer->addImage(item.fullImage(), file)) return false;
    m_window->chatPane()->focusComposer();
    return true;
}
