// Composer: text field, attachment thumbnails, attach and send/stop buttons.
#include "ui/chat/Composer.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QImageReader>
#include <QKeyEvent>
#include <QLabel>
#include <QMimeData>
#include <QPixmap>
#include <QPushButton>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "ui/common/Icons.h"

namespace {

bool isImageFile(const QUrl& url) {
    if (!url.isLocalFile()) return false;
    const QByteArray format = QImageReader::imageFormat(url.toLocalFile());
    return !format.isEmpty();
}

}  // namespace

ComposerEdit::ComposerEdit(QWidget* parent) : QPlainTextEdit(parent) {
    setTabChangesFocus(true);
    setPlaceholderText(tr("Ask about an image, or type a message…"));
    setAccessibleName(tr("Message"));
    setAccessibleDescription(tr("Enter sends, Shift+Enter starts a new line"));
}

void ComposerEdit::keyPressEvent(QKeyEvent* event) {
    const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
    if (enter && !(event->modifiers() & Qt::ShiftModifier)) {
        emit submit();
        return;
    }
    if (enter) {
        insertPlainText(QStringLiteral("\n"));
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
}

bool ComposerEdit::canInsertFromMimeData(const QMimeData* source) const {
    return Composer::mimeHasImages(source) || QPlainTextEdit::canInsertFromMimeData(source);
}

void ComposerEdit::insertFromMimeData(const QMimeData* source) {
    if (Composer::mimeHasImages(source)) {
        emit imagesOffered(source);
        return;
    }
    QPlainTextEdit::insertFromMimeData(source);
}

Composer::Composer(QWidget* parent) : QFrame(parent) {
    setObjectName(QStringLiteral("Composer"));
    setAccessibleName(tr("Composer"));
    setAcceptDrops(true);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(8, 8, 8, 8);
    outer->setSpacing(8);
    m_thumbRow = new QWidget(this);
    m_thumbLayout = new QHBoxLayout(m_thumbRow);
    m_thumbLayout->setContentsMargins(0, 0, 0, 0);
    m_thumbLayout->setSpacing(8);
    m_thumbRow->hide();
    outer->addWidget(m_thumbRow);
    auto* row = new QHBoxLayout;
    row->setSpacing(8);
    m_attach = new QToolButton(this);
    m_attach->setObjectName(QStringLiteral("FlatButton"));
    m_attach->setIcon(Icons::icon(QStringLiteral("attach")));
    m_attach->setIconSize(QSize(20, 20));
    m_attach->setToolTip(tr("Attach images"));
    m_attach->setAccessibleName(tr("Attach images"));
    m_edit = new ComposerEdit(this);
    m_send = new QPushButton(Icons::icon(QStringLiteral("send"), Qt::white), tr("Send"), this);
    m_send->setObjectName(QStringLiteral("PrimaryButton"));
    m_send->setAccessibleName(tr("Send message"));
    row->addWidget(m_attach, 0, Qt::AlignBottom);
    row->addWidget(m_edit, 1);
    row->addWidget(m_send, 0, Qt::AlignBottom);
    outer->addLayout(row);
    connect(m_edit, &ComposerEdit::submit, this, &Composer::onSendClicked);
    connect(m_edit, &ComposerEdit::imagesOffered, this, [this](const QMimeData* mime) { offerImages(mime); });
    connect(m_edit, &QPlainTextEdit::textChanged, this, &Composer::fitHeight);
    connect(m_send, &QPushButton::clicked, this, [this] {
        if (m_generating)
            emit stopRequested();
        else
            onSendClicked();
    });
    connect(m_attach, &QToolButton::clicked, this, &Composer::chooseFiles);
    fitHeight();
}

QString Composer::text() const { return m_edit->toPlainText(); }

void Composer::setText(const QString& text) {
    m_edit->setPlainText(text);
    m_edit->moveCursor(QTextCursor::End);
}

void Composer::clear() {
    m_edit->clear();
    m_images.clear();
    rebuildThumbnails();
}

void Composer::setGenerating(bool generating) {
    m_generating = generating;
    m_send->setText(generating ? tr("Stop") : tr("Send"));
    m_send->setIcon(Icons::icon(generating ? QStringLiteral("stop") : QStringLiteral("send"), Qt::white));
    m_send->setAccessibleName(generating ? tr("Stop generating") : tr("Send message"));
}

void Composer::setImagesAllowed(bool allowed, const QString& reason) {
    m_imagesAllowed = allowed;
    m_refusal = reason;
    m_attach->setToolTip(allowed ? tr("Attach images") : reason);
}

bool Composer::mimeHasImages(const QMimeData* mime) {
    if (!mime) return false;
    if (mime->hasImage()) return true;
    if (mime->hasUrls()) {
        const QList<QUrl> urls = mime->urls();
        return std::any_of(urls.cbegin(), urls.cend(), isImageFile);
    }
    return false;
}

int Composer::offerImages(const QMimeData* mime) {
    if (!mimeHasImages(mime)) return 0;
    if (!m_imagesAllowed) {
        emit attachmentRefused(m_refusal);
        return 0;
    }
    int taken = 0;
    if (mime->hasUrls()) {
        for (const QUrl& url : mime->urls()) {
            if (!isImageFile(url)) continue;
            QImageReader reader(url.toLocalFile());
            reader.setAutoTransform(true);
            if (addImage(reader.read(), url.toLocalFile())) ++taken;
        }
    } else if (mime->hasImage()) {
        if (addImage(qvariant_cast<QImage>(mime->imageData()))) ++taken;
    }
    return taken;
}

bool Composer::addImage(const QImage& image, const QString& sourcePath) {
    if (!m_imagesAllowed) {
        emit attachmentRefused(m_refusal);
        return false;
    }
    if (image.isNull()) return false;
    m_images.append(PendingImage{sourcePath, image});
    rebuildThumbnails();
    return true;
}

void Composer::removeImage(int index) {
    if (index < 0 || index >= m_images.size()) return;
    m_images.removeAt(index);
    rebuildThumbnails();
}

void Composer::rebuildThumbnails() {
    while (auto* item = m_thumbLayout->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    for (int i = 0; i < m_images.size(); ++i) {
        auto* frame = new QFrame(m_thumbRow);
        frame->setObjectName(QStringLiteral("Thumbnail"));
        auto* fl = new QHBoxLayout(frame);
        fl->setContentsMargins(4, 4, 4, 4);
        auto* pic = new QLabel(frame);
        const qreal dpr = devicePixelRatioF();
        QPixmap pm = QPixmap::fromImage(
            m_images[i].image.scaled(QSize(64, 64) * dpr, Qt::KeepAspectRatio, Qt::SmoothTransformation));
        pm.setDevicePixelRatio(dpr);
        pic->setPixmap(pm);
        const QString name = m_images[i].sourcePath.isEmpty() ? tr("pasted image")
                                                              : QFileInfo(m_images[i].sourcePath).fileName();
        pic->setAccessibleName(tr("Attached image %1").arg(name));
        pic->setToolTip(name);
        auto* remove = new QToolButton(frame);
        remove->setObjectName(QStringLiteral("FlatButton"));
        remove->setIcon(Icons::icon(QStringLiteral("close")));
        remove->setAccessibleName(tr("Remove %1").arg(name));
        remove->setToolTip(tr("Remove"));
        fl->addWidget(pic);
        fl->addWidget(remove, 0, Qt::AlignTop);
        connect(remove, &QToolButton::clicked, this, [this, i] { removeImage(i); });
        m_thumbLayout->addWidget(frame);
    }
    m_thumbLayout->addStretch(1);
    m_thumbRow->setVisible(!m_images.isEmpty());
}

void Composer::chooseFiles() {
    if (!m_imagesAllowed) {
        emit attachmentRefused(m_refusal);
        return;
    }
    // Non-blocking: the dialog is window-modal and reports back through a signal.
    auto* dialog = new QFileDialog(window(), tr("Attach images"), QString(),
                                   tr("Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif)"));
    dialog->setFileMode(QFileDialog::ExistingFiles);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QFileDialog::filesSelected, this, [this](const QStringList& files) {
        QMimeData mime;
        QList<QUrl> urls;
        for (const QString& f : files) urls << QUrl::fromLocalFile(f);
        mime.setUrls(urls);
        offerImages(&mime);
    });
    dialog->open();
}

void Composer::onSendClicked() {
    if (m_generating) return;
    const QString t = text().trimmed();
    if (t.isEmpty() && m_images.isEmpty()) return;
    emit sendRequested(t, m_images);
}

void Composer::fitHeight() {
    // Grow with the text up to 8 lines, then scroll inside.
    const QFontMetrics fm(m_edit->font());
    const int lines = std::clamp(int(m_edit->document()->size().height()), 1, 8);
    const int margins = int(std::ceil(m_edit->document()->documentMargin() * 2)) + m_edit->frameWidth() * 2 + 4;
    m_edit->setFixedHeight(lines * fm.lineSpacing() + margins);
}

void Composer::dragEnterEvent(QDragEnterEvent* event) {
    if (mimeHasImages(event->mimeData())) event->acceptProposedAction();
}

void Composer::dropEvent(QDropEvent* event) {
    if (offerImages(event->mimeData()) > 0) event->acceptProposedAction();
}
