// ImageGenPane: the Images tab (Janus-Pro text-to-image). The prompt and settings (images, guidance,
// temperature, seed with dice and lock, model), Generate / Cancel with honest progress ("image tokens
// 401/576 · ETA 0.9 s"), the newest batch as a grid and the earlier images as a gallery grouped by prompt.
// Per image: open in a viewer, save as PNG with the settings in its text chunks, copy, reuse the settings,
// send to chat. Dropping a PNG made here restores its settings. ImageGenController (app/) drives it; the
// pane never calls the engine or storage.
#pragma once

#include <QList>
#include <QWidget>

#include <optional>

#include "ui/common/ChatTypes.h"
#include "ui/imagegen/ImageGenTypes.h"

class Banner;
class GalleryModel;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QListView;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QToolButton;

class ImageGenPane : public QWidget {
    Q_OBJECT
public:
    explicit ImageGenPane(QWidget* parent = nullptr);

    // The settings in the fields (model: the picker's path and name). The seed is the one shown.
    ImageGenParams params() const;
    // Fills the fields; the seed is locked so Generate makes the same images again.
    void setParams(const ImageGenParams& params);
    // Rolls a new seed unless the lock is on; returns the seed Generate will use.
    qint64 seedForNextRun();

    // Models that generate images (the picker lists only those).
    void setModels(const QList<ModelEntry>& models);
    QString currentModel() const;
    void setCurrentModel(const QString& path);

    void setGenerating(bool generating);
    bool isGenerating() const { return m_generating; }
    void setProgress(ImageGenPhase phase, int step, int total, double etaSeconds);
    void showError(const AppError& error);
    void clearError();

    // A finished batch goes to the results grid; the previous results move down to the gallery.
    void showResults(const QList<GeneratedImageItem>& items);
    // The stored gallery (at start); images already on screen are not shown twice.
    void setGallery(const QList<GeneratedImageItem>& items);
    void updateStored(const QList<GeneratedImageItem>& stored);

    // Per-image actions (also on the buttons, the context menu and the viewer).
    void openViewer(const GeneratedImageItem& item);
    bool saveImage(const GeneratedImageItem& item, const QString& file);
    void copyImage(const GeneratedImageItem& item);
    // Restores the settings a PNG carries; false (and a banner) when it carries none of ours.
    bool restoreFromFile(const QString& file);
    std::optional<GeneratedImageItem> selectedItem() const;
    void setSoftwareVersion(const QString& version) { m_version = version; }

    QPlainTextEdit* promptEdit() const { return m_prompt; }
    QSpinBox* countBox() const { return m_count; }
    QDoubleSpinBox* guidanceBox() const { return m_cfg; }
    QDoubleSpinBox* temperatureBox() const { return m_temperature; }
    QSpinBox* seedBox() const { return m_seed; }
    QToolButton* diceButton() const { return m_dice; }
    QToolButton* lockButton() const { return m_lock; }
    QComboBox* modelPicker() const { return m_model; }
    QPushButton* generateButton() const { return m_generate; }
    QPushButton* cancelButton() const { return m_cancel; }
    QProgressBar* progressBar() const { return m_progress; }
    QLabel* progressLabel() const { return m_progressText; }
    Banner* banner() const { return m_banner; }
    GalleryModel* results() const { return m_results; }
    GalleryModel* gallery() const { return m_gallery; }
    QListView* resultsView() const { return m_resultsView; }
    QListView* galleryView() const { return m_galleryView; }

signals:
    void generateRequested(const ImageGenParams& params);
    void cancelRequested();
    void sendToChatRequested(const GeneratedImageItem& item);
    void openModelManagerRequested();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void requestGenerate();
    void chooseSaveFile(const GeneratedImageItem& item);
    void showContextMenu(QListView* view, const QPoint& pos);
    void updateActions();
    void updateEmptyStates();
    QListView* makeGrid(GalleryModel* model, int side);

    Banner* m_banner = nullptr;
    QPlainTextEdit* m_prompt = nullptr;
    QSpinBox* m_count = nullptr;
    QDoubleSpinBox* m_cfg = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QSpinBox* m_seed = nullptr;
    QToolButton* m_dice = nullptr;
    QToolButton* m_lock = nullptr;
    QComboBox* m_model = nullptr;
    QPushButton* m_generate = nullptr;
    QPushButton* m_cancel = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progressText = nullptr;
    QWidget* m_progressRow = nullptr;
    QLabel* m_resultsTitle = nullptr;
    QLabel* m_galleryTitle = nullptr;
    QWidget* m_emptyRow = nullptr;
    QLabel* m_emptyText = nullptr;
    GalleryModel* m_results = nullptr;
    GalleryModel* m_gallery = nullptr;
    QListView* m_resultsView = nullptr;
    QListView* m_galleryView = nullptr;
    QList<QToolButton*> m_itemActions;
    QList<ModelEntry> m_models;
    QString m_version;
    bool m_generating = false;
};
