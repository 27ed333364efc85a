// ImageGenPane: layout, the settings fields, the two image grids and their actions, progress text.
#include "ui/imagegen/ImageGenPane.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QLabel>
#include <QListView>
#include <QLocale>
#include <QMenu>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSet>
#include <QShortcut>
#include <QSpinBox>
#include <QStandardPaths>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/common/Banner.h"
#include "ui/common/Icons.h"
#include "ui/common/Theme.h"
#include "ui/imagegen/GalleryModel.h"
#include "ui/imagegen/ImageViewerDialog.h"

namespace {

constexpr int kProgressScale = 1000;
constexpr int kTokensShare = 900;  // the token loop is most of the time; decoding to pixels is the rest

QString pngIn(const QMimeData* mime) {
    if (!mime || !mime->hasUrls()) return {};
    for (const QUrl& url : mime->urls()) {
        if (url.isLocalFile() && url.toLocalFile().endsWith(QLatin1String(".png"), Qt::CaseInsensitive))
            return url.toLocalFile();
    }
    return {};
}

QString formatEta(double seconds) {
    if (seconds < 10.0) return QCoreApplication::translate("ImageGenPane", "%1 s").arg(QLocale().toString(seconds, 'f', 1));
    if (seconds < 120.0) return QCoreApplication::translate("ImageGenPane", "%1 s").arg(qRound(seconds));
    return QCoreApplication::translate("ImageGenPane", "%1 min").arg(qRound(seconds / 60.0));
}

}  // namespace

ImageGenPane::ImageGenPane(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Images"));
    setAcceptDrops(true);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(16, 12, 16, 8);
    outer->setSpacing(8);

    m_banner = new Banner(this);
    outer->addWidget(m_banner);

    // Prompt and Generate.
    auto* promptRow = new QHBoxLayout;
    promptRow->setSpacing(8);
    m_prompt = new QPlainTextEdit(this);
    m_prompt->setObjectName(QStringLiteral("ImagePrompt"));
    m_prompt->setAccessibleName(tr("Prompt"));
    m_prompt->setPlaceholderText(tr("Describe the image, e.g. a red fox in a snowy forest, watercolor"));
    m_prompt->setTabChangesFocus(true);
    m_prompt->setFixedHeight(m_prompt->fontMetrics().lineSpacing() * 3 + 16);
    m_prompt->installEventFilter(this);
    promptRow->addWidget(m_prompt, 1);
    m_generate = new QPushButton(Icons::icon(QStringLiteral("image"), Qt::white), tr("Generate"), this);
    m_generate->setObjectName(QStringLiteral("PrimaryButton"));
    m_generate->setAccessibleName(tr("Generate images"));
    m_generate->setToolTip(tr("Generate (Ctrl+Enter)"));
    promptRow->addWidget(m_generate, 0, Qt::AlignTop);
    outer->addLayout(promptRow);

    // Settings.
    auto* settings = new QHBoxLayout;
    settings->setSpacing(8);
    auto addLabelled = [&](const QString& text, QWidget* field) {
        auto* label = new QLabel(text, this);
        label->setBuddy(field);
        // The row is crowded at small widths: labels keep their whole text, the stretch gives way first.
        label->setMinimumWidth(label->fontMetrics().horizontalAdvance(QString(text).remove(QLatin1Char('&'))) + 4);
        settings->addWidget(label);
        settings->addWidget(field);
    };
    m_count = new QSpinBox(this);
    m_count->setRange(1, 16);
    m_count->setValue(4);
    m_count->setAccessibleName(tr("Number of images"));
    addLabelled(tr("&Images"), m_count);
    settings->addSpacing(8);
    m_cfg = new QDoubleSpinBox(this);
    m_cfg->setRange(1.0, 10.0);
    m_cfg->setSingleStep(0.5);
    m_cfg->setDecimals(1);
    m_cfg->setValue(5.0);
    m_cfg->setAccessibleName(tr("Guidance"));
    m_cfg->setToolTip(tr("How closely the images follow the prompt (classifier-free guidance weight)"));
    addLabelled(tr("&Guidance"), m_cfg);
    settings->addSpacing(8);
    m_temperature = new QDoubleSpinBox(this);
    m_temperature->setRange(0.0, 1.0);
    m_temperature->setSingleStep(0.05);
    m_temperature->setDecimals(2);
    m_temperature->setValue(1.0);
    m_temperature->setAccessibleName(tr("Temperature"));
    m_temperature->setToolTip(tr("0 always picks the most likely image token; higher is more varied"));
    addLabelled(tr("&Temperature"), m_temperature);
    settings->addSpacing(8);
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, int(ImageGenParams::kMaxSeed));
    m_seed->setValue(int(QRandomGenerator::global()->bounded(100000)));
    m_seed->setAccessibleName(tr("Seed"));
    m_seed->setToolTip(tr("The same seed and settings give the same images"));
    m_seed->setMinimumWidth(m_seed->fontMetrics().horizontalAdvance(QStringLiteral("0000000000")) + 24);
    addLabelled(tr("S&eed"), m_seed);
    m_dice = new QToolButton(this);
    m_dice->setObjectName(QStringLiteral("FlatButton"));
    m_dice->setIcon(Icons::icon(QStringLiteral("regenerate")));
    m_dice->setAccessibleName(tr("New random seed"));
    m_dice->setToolTip(tr("New random seed"));
    settings->addWidget(m_dice);
    m_lock = new QToolButton(this);
    m_lock->setObjectName(QStringLiteral("FlatButton"));
    m_lock->setCheckable(true);
    m_lock->setIcon(Icons::icon(QStringLiteral("pin")));
    m_lock->setAccessibleName(tr("Keep the seed"));
    m_lock->setToolTip(tr("Keep this seed for the next runs (otherwise each run rolls a new one)"));
    settings->addWidget(m_lock);
    settings->addStretch(1);
    m_model = new QComboBox(this);
    m_model->setAccessibleName(tr("Image generation model"));
    m_model->setMinimumContentsLength(16);
    m_model->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    addLabelled(tr("&Model:"), m_model);
    outer->addLayout(settings);

    // Progress, or what to do when there is no model.
    m_progressRow = new QWidget(this);
    auto* pl = new QHBoxLayout(m_progressRow);
    pl->setContentsMargins(0, 0, 0, 0);
    m_progress = new QProgressBar(m_progressRow);
    m_progress->setRange(0, kProgressScale);
    m_progress->setTextVisible(false);
    m_progress->setAccessibleName(tr("Generation progress"));
    pl->addWidget(m_progress, 1);
    m_progressText = new QLabel(m_progressRow);
    m_progressText->setAccessibleName(tr("Progress"));
    m_progressText->setMinimumWidth(m_progressText->fontMetrics().horizontalAdvance(
        tr("image tokens 576/576 · ETA 10.0 s")) + 8);
    pl->addWidget(m_progressText);
    m_cancel = new QPushButton(Icons::icon(QStringLiteral("stop")), tr("Cancel"), m_progressRow);
    m_cancel->setAccessibleName(tr("Cancel generating"));
    m_cancel->setToolTip(tr("Cancel (Esc)"));
    pl->addWidget(m_cancel);
    m_progressRow->hide();
    outer->addWidget(m_progressRow);

    m_emptyRow = new QWidget(this);
    auto* emptyRow = new QHBoxLayout(m_emptyRow);
    emptyRow->setContentsMargins(0, 0, 0, 0);
    m_emptyText = new QLabel(tr("No image generation model found. Add a Janus-Pro checkpoint folder in the model "
                                "manager."), m_emptyRow);
    m_emptyText->setObjectName(QStringLiteral("Muted"));
    m_emptyText->setWordWrap(true);
    emptyRow->addWidget(m_emptyText, 1);
    auto* openModels = new QPushButton(Icons::icon(QStringLiteral("models")), tr("Models…"), m_emptyRow);
    openModels->setAccessibleName(tr("Open the model manager"));
    connect(openModels, &QPushButton::clicked, this, &ImageGenPane::openModelManagerRequested);
    emptyRow->addWidget(openModels);
    outer->addWidget(m_emptyRow);

    // Results and gallery.
    m_results = new GalleryModel(176, this);
    m_gallery = new GalleryModel(112, this);
    m_resultsTitle = new QLabel(tr("Latest"), this);
    QFont bold = m_resultsTitle->font();
    bold.setBold(true);
    m_resultsTitle->setFont(bold);
    outer->addWidget(m_resultsTitle);
    m_resultsView = makeGrid(m_results, 176);
    m_resultsView->setAccessibleName(tr("Generated images"));
    outer->addWidget(m_resultsView, 3);

    auto* actions = new QHBoxLayout;
    actions->setSpacing(4);
    auto action = [&](const QString& icon, const QString& text, const QString& accessible, auto slot) {
        auto* b = new QToolButton(this);
        b->setObjectName(QStringLiteral("FlatButton"));
        b->setIcon(Icons::icon(icon));
        b->setText(text);
        b->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
        b->setAccessibleName(accessible);
        connect(b, &QToolButton::clicked, this, [this, slot] {
            if (auto item = selectedItem()) slot(*item);
        });
        actions->addWidget(b);
        m_itemActions << b;
    };
    action(QStringLiteral("search"), tr("Open"), tr("Open the image"), [this](const GeneratedImageItem& i) { openViewer(i); });
    action(QStringLiteral("folder"), tr("Save…"), tr("Save the image as PNG"),
           [this](const GeneratedImageItem& i) { chooseSaveFile(i); });
    action(QStringLiteral("copy"), tr("Copy"), tr("Copy the image"), [this](const GeneratedImageItem& i) { copyImage(i); });
    action(QStringLiteral("regenerate"), tr("Reuse"), tr("Reuse the image's settings"),
           [this](const GeneratedImageItem& i) { setParams(i.params); });
    action(QStringLiteral("chat"), tr("Send to chat"), tr("Send the image to a chat"),
           [this](const GeneratedImageItem& i) { emit sendToChatRequested(i); });
    actions->addStretch(1);
    outer->addLayout(actions);

    m_galleryTitle = new QLabel(tr("Earlier"), this);
    m_galleryTitle->setFont(bold);
    outer->addWidget(m_galleryTitle);
    m_galleryView = makeGrid(m_gallery, 112);
    m_galleryView->setAccessibleName(tr("Earlier images"));
    outer->addWidget(m_galleryView, 4);

    connect(m_generate, &QPushButton::clicked, this, &ImageGenPane::requestGenerate);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        m_cancel->setEnabled(false);
        m_progressText->setText(tr("Cancelling…"));
        emit cancelRequested();
    });
    connect(m_dice, &QToolButton::clicked, this,
            [this] { m_seed->setValue(int(QRandomGenerator::global()->bounded(ImageGenParams::kMaxSeed))); });
    connect(m_lock, &QToolButton::toggled, this, [this](bool on) {
        // The flat button shows no pressed state of its own: the accent colour says the seed is kept.
        m_lock->setIcon(Icons::icon(QStringLiteral("pin"), on ? Theme::color(Theme::Color::Accent) : QColor()));
        m_lock->setToolTip(on ? tr("The seed is kept between runs") : tr("Keep this seed for the next runs"));
    });
    auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    shortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(shortcut, &QShortcut::activated, this, &ImageGenPane::requestGenerate);
    auto* shortcut2 = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Enter), this);
    shortcut2->setContext(Qt::WidgetWithChildrenShortcut);
    connect(shortcut2, &QShortcut::activated, this, &ImageGenPane::requestGenerate);

    setModels({});
    updateEmptyStates();
    updateActions();
}

QListView* ImageGenPane::makeGrid(GalleryModel* model, int side) {
    auto* view = new QListView(this);
    view->setModel(model);
    view->setViewMode(QListView::IconMode);
    view->setIconSize(QSize(side, side));
    view->setGridSize(QSize(side + 16, side + 16 + fontMetrics().lineSpacing()));
    view->setResizeMode(QListView::Adjust);
    view->setMovement(QListView::Static);
    view->setUniformItemSizes(true);
    view->setWordWrap(false);
    view->setTextElideMode(Qt::ElideRight);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setContextMenuPolicy(Qt::CustomContextMenu);
    view->setDragEnabled(false);
    connect(view, &QListView::activated, this, [this, model](const QModelIndex& index) {
        if (index.isValid()) openViewer(model->item(index.row()));
    });
    connect(view, &QListView::customContextMenuRequested, this, [this, view](const QPoint& pos) { showContextMenu(view, pos); });
    connect(view->selectionModel(), &QItemSelectionModel::currentChanged, this, [this, view](const QModelIndex& index) {
        // One selection across both grids: the actions apply to it.
        QListView* other = view == m_resultsView ? m_galleryView : m_resultsView;
        if (index.isValid() && other && other->selectionModel()) {
            other->selectionModel()->clear();
        }
        updateActions();
    });
    connect(model, &QAbstractItemModel::modelReset, this, [this] {
        updateActions();
        updateEmptyStates();
    });
    return view;
}

ImageGenParams ImageGenPane::params() const {
    ImageGenParams p;
    p.prompt = m_prompt->toPlainText().trimmed();
    p.count = m_count->value();
    p.cfgWeight = m_cfg->value();
    p.temperature = m_temperature->value();
    p.seed = m_seed->value();
    p.modelPath = currentModel();
    p.model = m_model->currentText();
    return p;
}

void ImageGenPane::setParams(const ImageGenParams& p) {
    m_prompt->setPlainText(p.prompt);
    if (p.count >= 1 && p.count <= 16) m_count->setValue(p.count);
    m_cfg->setValue(p.cfgWeight);
    m_temperature->setValue(p.temperature);
    m_seed->setValue(int(std::clamp<qint64>(p.seed, 0, ImageGenParams::kMaxSeed)));
    m_lock->setChecked(true);
    // The model it was made with, when it is here (by path, else by name).
    int row = p.modelPath.isEmpty() ? -1 : m_model->findData(p.modelPath);
    if (row < 0 && !p.model.isEmpty()) row = m_model->findText(p.model);
    if (row >= 0) m_model->setCurrentIndex(row);
}

qint64 ImageGenPane::seedForNextRun() {
    if (!m_lock->isChecked()) m_seed->setValue(int(QRandomGenerator::global()->bounded(ImageGenParams::kMaxSeed)));
    return m_seed->value();
}

void ImageGenPane::setModels(const QList<ModelEntry>& models) {
    const QString current = currentModel();
    m_models = models;
    m_model->blockSignals(true);
    m_model->clear();
    for (const ModelEntry& m : models) m_model->addItem(m.name, m.path);
    const int row = m_model->findData(current);
    m_model->setCurrentIndex(row >= 0 ? row : (models.isEmpty() ? -1 : 0));
    m_model->blockSignals(false);
    m_model->setEnabled(!models.isEmpty());
    updateEmptyStates();
}

QString ImageGenPane::currentModel() const { return m_model->currentData().toString(); }

void ImageGenPane::setCurrentModel(const QString& path) {
    const int row = m_model->findData(path);
    if (row >= 0) m_model->setCurrentIndex(row);
}

void ImageGenPane::setGenerating(bool generating) {
    m_generating = generating;
    m_generate->setEnabled(!generating && !m_models.isEmpty());
    m_cancel->setEnabled(generating);
    m_progressRow->setVisible(generating);
    if (generating) {
        m_progress->setValue(0);
        m_progressText->setText(tr("Starting…"));
    } else {
        m_progress->reset();
        m_progressText->clear();
    }
    updateEmptyStates();
}

void ImageGenPane::setProgress(ImageGenPhase phase, int step, int total, double etaSeconds) {
    if (!m_generating || total <= 0) return;
    const double fraction = std::clamp(double(step) / total, 0.0, 1.0);
    const QString eta = etaSeconds >= 0 ? tr(" · ETA %1").arg(formatEta(etaSeconds)) : QString();
    switch (phase) {
    case ImageGenPhase::Prompt:
        m_progress->setValue(0);
        m_progressText->setText(tr("reading the prompt…"));
        break;
    case ImageGenPhase::Tokens:
        m_progress->setValue(int(kTokensShare * fraction));
        m_progressText->setText(tr("image tokens %1/%2").arg(step).arg(total) + eta);
        break;
    case ImageGenPhase::Pixels:
        m_progress->setValue(kTokensShare + int((kProgressScale - kTokensShare) * fraction));
        m_progressText->setText(tr("decoding images %1/%2").arg(step).arg(total) + eta);
        break;
    }
    if (!m_cancel->isEnabled()) m_progressText->setText(tr("Cancelling…"));
}

void ImageGenPane::showError(const AppError& error) { m_banner->showMessage(error.message, error.detail); }

void ImageGenPane::clearError() { m_banner->hide(); }

void ImageGenPane::showResults(const QList<GeneratedImageItem>& items) {
    m_gallery->add(m_results->items());
    m_results->setItems(items);
    if (m_results->rowCount() > 0) {
        m_resultsView->setCurrentIndex(m_results->index(0));
        m_resultsView->scrollToTop();
    }
}

void ImageGenPane::setGallery(const QList<GeneratedImageItem>& items) {
    // The stored gallery can arrive after a first batch was made (storage opens in the background): what is
    // on screen already stays, once.
    QSet<qint64> shown;
    for (const auto& it : m_results->items()) shown.insert(it.id);
    QList<GeneratedImageItem> merged;
    QSet<qint64> loaded;
    for (const auto& it : items) {
        if (shown.contains(it.id)) continue;
        merged << it;
        loaded.insert(it.id);
    }
    for (const auto& it : m_gallery->items()) {
        if (it.id == 0 || !loaded.contains(it.id)) merged << it;
    }
    m_gallery->setItems(merged);
}

void ImageGenPane::updateStored(const QList<GeneratedImageItem>& stored) {
    m_results->updateStored(stored);
    m_gallery->updateStored(stored);
}

std::optional<GeneratedImageItem> ImageGenPane::selectedItem() const {
    for (QListView* view : {m_resultsView, m_galleryView}) {
        const QModelIndex index = view->selectionModel()->currentIndex();
        if (index.isValid() && view->selectionModel()->isSelected(index))
            return static_cast<GalleryModel*>(view->model())->item(index.row());
    }
    return std::nullopt;
}

void ImageGenPane::openViewer(const GeneratedImageItem& item) {
    GeneratedImageItem full = item;
    full.image = item.fullImage();
    auto* viewer = new ImageViewerDialog(full, this);
    viewer->setAttribute(Qt::WA_DeleteOnClose);
    connect(viewer, &ImageViewerDialog::saveRequested, this, &ImageGenPane::chooseSaveFile);
    connect(viewer, &ImageViewerDialog::copyRequested, this, &ImageGenPane::copyImage);
    connect(viewer, &ImageViewerDialog::reuseRequested, this,
            [this](const GeneratedImageItem& i) { setParams(i.params); });
    viewer->open();
}

bool ImageGenPane::saveImage(const GeneratedImageItem& item, const QString& file) {
    QString error;
    if (ImageGenMeta::savePng(item.fullImage(), item.params, m_version, file, &error)) return true;
    showError(AppError{AppError::Kind::Io, tr("Cannot save %1: %2").arg(QFileInfo(file).fileName(), error), file});
    return false;
}

void ImageGenPane::chooseSaveFile(const GeneratedImageItem& item) {
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString name = QStringLiteral("tessera-%1-%2.png").arg(item.params.seed).arg(item.batchIndex + 1);
    auto* dialog = new QFileDialog(this, tr("Save image as PNG"), dir + QLatin1Char('/') + name,
                                   tr("PNG images (*.png)"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setAcceptMode(QFileDialog::AcceptSave);
    dialog->setDefaultSuffix(QStringLiteral("png"));
    connect(dialog, &QFileDialog::fileSelected, this, [this, item](const QString& file) { saveImage(item, file); });
    dialog->open();
}

void ImageGenPane::copyImage(const GeneratedImageItem& item) { QApplication::clipboard()->setImage(item.fullImage()); }

bool ImageGenPane::restoreFromFile(const QString& file) {
    const auto params = ImageGenMeta::readParams(file);
    if (!params) {
        showError(AppError{AppError::Kind::Unsupported,
                           tr("%1 carries no image generation settings from Tessera").arg(QFileInfo(file).fileName()),
                           file});
        return false;
    }
    clearError();
    setParams(*params);
    return true;
}

void ImageGenPane::requestGenerate() {
    if (m_generating) return;
    if (m_models.isEmpty() || currentModel().isEmpty()) {
        showError(AppError{AppError::Kind::Unsupported,
                           tr("No image generation model: add a Janus-Pro checkpoint folder in the model manager."), {}});
        return;
    }
    if (m_prompt->toPlainText().trimmed().isEmpty()) {
        m_prompt->setFocus();
        showError(AppError{AppError::Kind::Unsupported, tr("Describe the image to generate first."), {}});
        return;
    }
    clearError();
    seedForNextRun();
    emit generateRequested(params());
}

void ImageGenPane::showContextMenu(QListView* view, const QPoint& pos) {
    const QModelIndex index = view->indexAt(pos);
    if (!index.isValid()) return;
    view->setCurrentIndex(index);
    const GeneratedImageItem item = static_cast<GalleryModel*>(view->model())->item(index.row());
    QMenu menu(this);
    menu.addAction(tr("Open"), this, [this, item] { openViewer(item); });
    menu.addAction(tr("Save as PNG…"), this, [this, item] { chooseSaveFile(item); });
    menu.addAction(tr("Copy"), this, [this, item] { copyImage(item); });
    menu.addAction(tr("Reuse settings"), this, [this, item] { setParams(item.params); });
    menu.addAction(tr("Send to chat"), this, [this, item] { emit sendToChatRequested(item); });
    menu.exec(view->viewport()->mapToGlobal(pos));
}

void ImageGenPane::updateActions() {
    const bool any = selectedItem().has_value();
    for (QToolButton* b : m_itemActions) b->setEnabled(any);
}

void ImageGenPane::updateEmptyStates() {
    m_emptyRow->setVisible(m_models.isEmpty());
    m_generate->setEnabled(!m_generating && !m_models.isEmpty());
    m_galleryTitle->setVisible(m_gallery->rowCount() > 0);
    m_galleryView->setVisible(m_gallery->rowCount() > 0);
    m_resultsTitle->setText(m_results->rowCount() > 0 ? tr("Latest") : tr("Generated images appear here"));
}

bool ImageGenPane::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_prompt && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) && (key->modifiers() & Qt::ControlModifier)) {
            requestGenerate();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

void ImageGenPane::dragEnterEvent(QDragEnterEvent* event) {
    if (!pngIn(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void ImageGenPane::dropEvent(QDropEvent* event) {
    const QString file = pngIn(event->mimeData());
    if (file.isEmpty()) return;
    restoreFromFile(file);
    event->acceptProposedAction();
}
