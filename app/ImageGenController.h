// ImageGenController: the Images pane's logic on the GUI thread. Generate sends the pane's settings to the
// inference worker and shows its progress; a finished batch goes to the results grid and to storage; the
// gallery is read from storage at start. Cancel (the button or Esc) stops the batch at the next step and
// leaves no images. "Send to chat" opens a new chat with a vision model and the image in the composer.
#pragma once

#include <QObject>

#include "ui/common/ChatTypes.h"
#include "ui/imagegen/ImageGenTypes.h"

class ChatController;
class ImageGenPane;
class InferenceWorker;
class MainWindow;
class ModelController;
class StorageWorker;

class ImageGenController : public QObject {
    Q_OBJECT
public:
    ImageGenController(MainWindow* window, InferenceWorker* inference, StorageWorker* storage, ChatController* chat,
                       ModelController* models, QObject* parent = nullptr);

    bool isGenerating() const { return m_active != 0; }
    quint64 activeRequest() const { return m_active; }
    void generate(const ImageGenParams& params);
    void cancel();
    // Opens a new chat with a model that sees images and `item` attached; false (and a banner) without one.
    bool sendToChat(const GeneratedImageItem& item);
    static constexpr int kGalleryLimit = 500;
    // Where a picture not stored yet is written for "Send to chat" (the chat sends images by file).
    void setScratchDir(const QString& dir) { m_scratchDir = dir; }

signals:
    // images: how many arrived (0 when cancelled or failed).
    void generationFinished(quint64 requestId, int images);
    void galleryLoaded(int images);
    void batchStored(quint64 requestId);

private:
    void refreshModels();
    void onProgress(quint64 requestId, ImageGenPhase phase, int step, int total, double eta);
    void onReady(quint64 requestId, const QList<QImage>& images, const ImageGenParams& params);
    void onError(quint64 requestId, const AppError& error);
    void finish(quint64 requestId, int images);

    MainWindow* m_window;
    ImageGenPane* m_pane;
    InferenceWorker* m_inference;
    StorageWorker* m_storage;
    ChatController* m_chat;
    ModelController* m_models;
    quint64 m_active = 0;
    QString m_scratchDir;
};
