// Composer: where the user writes. Enter sends, Shift+Enter starts a new line; it grows up to 8 lines.
// Images come in by the attach button, drag-and-drop or paste, show as thumbnails with remove buttons,
// and are refused with a reason when the chosen model cannot see images. Stop replaces Send while a
// reply is generating.
#pragma once

#include <QFrame>
#include <QImage>
#include <QList>
#include <QPlainTextEdit>

class QHBoxLayout;
class QToolButton;
class QPushButton;
class QMimeData;

// The text field: Enter/Shift+Enter and image paste/drop go to the Composer.
class ComposerEdit : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit ComposerEdit(QWidget* parent = nullptr);

signals:
    void submit();
    void imagesOffered(const QMimeData* mime);

protected:
    void keyPressEvent(QKeyEvent* event) override;
    bool canInsertFromMimeData(const QMimeData* source) const override;
    void insertFromMimeData(const QMimeData* source) override;
};

struct PendingImage {
    QString sourcePath;  // the file it came from; empty when pasted
    QImage image;
};

class Composer : public QFrame {
    Q_OBJECT
public:
    explicit Composer(QWidget* parent = nullptr);

    QString text() const;
    void setText(const QString& text);
    QList<PendingImage> images() const { return m_images; }
    void clear();
    ComposerEdit* editor() const { return m_edit; }

    void setGenerating(bool generating);
    bool isGenerating() const { return m_generating; }
    // Whether the chosen model can see images; reason says why not (shown when an image is refused).
    void setImagesAllowed(bool allowed, const QString& reason);
    bool imagesAllowed() const { return m_imagesAllowed; }

    // Adds images from a drop or paste: returns how many were taken.
    int offerImages(const QMimeData* mime);
    bool addImage(const QImage& image, const QString& sourcePath = QString());
    void removeImage(int index);

    static bool mimeHasImages(const QMimeData* mime);

signals:
    void sendRequested(const QString& text, const QList<PendingImage>& images);
    void stopRequested();
    void attachmentRefused(const QString& reason);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void onSendClicked();
    void chooseFiles();
    void rebuildThumbnails();
    void fitHeight();

    ComposerEdit* m_edit = nullptr;
    QToolButton* m_attach = nullptr;
    QPushButton* m_send = nullptr;
    QWidget* m_thumbRow = nullptr;
    QHBoxLayout* m_thumbLayout = nullptr;
    QList<PendingImage> m_images;
    bool m_generating = false;
    bool m_imagesAllowed = false;
    QString m_refusal;
};
