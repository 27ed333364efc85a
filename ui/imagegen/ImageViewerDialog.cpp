// ImageViewerDialog: a label in a scroll area, scaled on demand (nearest-neighbour above 100 % so the
// pixels stay visible, smooth below).
#include "ui/imagegen/ImageViewerDialog.h"

#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QShortcut>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWheelEvent>

#include <algorithm>

#include "ui/common/Icons.h"
#include "ui/imagegen/GalleryModel.h"

ImageViewerDialog::ImageViewerDialog(const GeneratedImageItem& item, QWidget* parent)
    : QDialog(parent), m_item(item) {
    setWindowTitle(tr("Generated image"));
    setAccessibleName(tr("Image viewer"));
    resize(720, 720);
    auto* layout = new QVBoxLayout(this);
    m_scroll = new QScrollArea(this);
    m_scroll->setAlignment(Qt::AlignCenter);
    m_scroll->setWidgetResizable(false);
    m_scroll->setAccessibleName(tr("Image"));
    m_picture = new QLabel;
    m_picture->setAccessibleName(GalleryModel::describe(item.params));
    m_scroll->setWidget(m_picture);
    layout->addWidget(m_scroll, 1);

    auto* info = new QLabel(GalleryModel::describe(item.params), this);
    info->setWordWrap(true);
    info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(info);

    auto* row = new QHBoxLayout;
    auto button = [&](const QString& text, const QString& accessible, auto slot) {
        auto* b = new QToolButton(this);
        b->setText(text);
        b->setAccessibleName(accessible);
        b->setToolButtonStyle(Qt::ToolButtonTextOnly);
        connect(b, &QToolButton::clicked, this, slot);
        row->addWidget(b);
        return b;
    };
    button(tr("Fit"), tr("Fit to the window"), [this] { setZoom(0.0); });
    button(tr("100 %"), tr("Actual size"), [this] { setZoom(1.0); });
    button(tr("−"), tr("Zoom out"), [this] { setZoom(std::max(0.1, (m_zoom > 0 ? m_zoom : 1.0) / 1.25)); });
    button(tr("+"), tr("Zoom in"), [this] { setZoom(std::min(16.0, (m_zoom > 0 ? m_zoom : 1.0) * 1.25)); });
    row->addStretch(1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    auto* save = buttons->addButton(tr("Save…"), QDialogButtonBox::ActionRole);
    auto* copy = buttons->addButton(tr("Copy"), QDialogButtonBox::ActionRole);
    auto* reuse = buttons->addButton(tr("Reuse settings"), QDialogButtonBox::ActionRole);
    connect(save, &QPushButton::clicked, this, [this] { emit saveRequested(m_item); });
    connect(copy, &QPushButton::clicked, this, [this] { emit copyRequested(m_item); });
    connect(reuse, &QPushButton::clicked, this, [this] {
        emit reuseRequested(m_item);
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    row->addWidget(buttons);
    layout->addLayout(row);

    auto* in = new QShortcut(QKeySequence(Qt::Key_Plus), this);
    connect(in, &QShortcut::activated, this, [this] { setZoom(std::min(16.0, (m_zoom > 0 ? m_zoom : 1.0) * 1.25)); });
    auto* out = new QShortcut(QKeySequence(Qt::Key_Minus), this);
    connect(out, &QShortcut::activated, this, [this] { setZoom(std::max(0.1, (m_zoom > 0 ? m_zoom : 1.0) / 1.25)); });
    render();
}

void ImageViewerDialog::setZoom(double zoom) {
    m_zoom = zoom;
    render();
}

void ImageViewerDialog::render() {
    const QImage& image = m_item.image;
    if (image.isNull()) return;
    QSize target;
    if (m_zoom <= 0.0) {
        const QSize room = m_scroll->viewport()->size() - QSize(4, 4);
        target = image.size().scaled(room.expandedTo(QSize(16, 16)), Qt::KeepAspectRatio);
    } else {
        target = image.size() * m_zoom;
    }
    const qreal dpr = devicePixelRatioF();
    const bool enlarge = target.width() > image.width();
    QPixmap pixmap = QPixmap::fromImage(image.scaled(target * dpr, Qt::KeepAspectRatio,
                                                     enlarge ? Qt::FastTransformation : Qt::SmoothTransformation));
    pixmap.setDevicePixelRatio(dpr);
    m_picture->setPixmap(pixmap);
    m_picture->resize(target);
}

void ImageViewerDialog::resizeEvent(QResizeEvent* event) {
    QDialog::resizeEvent(event);
    if (m_zoom <= 0.0) render();
}

void ImageViewerDialog::wheelEvent(QWheelEvent* event) {
    if (!(event->modifiers() & Qt::ControlModifier)) return QDialog::wheelEvent(event);
    const double base = m_zoom > 0 ? m_zoom : 1.0;
    setZoom(std::clamp(event->angleDelta().y() > 0 ? base * 1.25 : base / 1.25, 0.1, 16.0));
    event->accept();
}
