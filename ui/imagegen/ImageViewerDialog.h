// ImageViewerDialog: one generated image at full size with its settings: fit to the window or 100 %,
// zoom in and out (buttons, +/−, Ctrl+wheel), and the pane's actions on it (save, copy, reuse).
#pragma once

#include <QDialog>
#include <QImage>

#include "ui/imagegen/ImageGenTypes.h"

class QLabel;
class QScrollArea;

class ImageViewerDialog : public QDialog {
    Q_OBJECT
public:
    explicit ImageViewerDialog(const GeneratedImageItem& item, QWidget* parent = nullptr);

    double zoom() const { return m_zoom; }
    void setZoom(double zoom);  // 0 = fit
    const GeneratedImageItem& item() const { return m_item; }

signals:
    void saveRequested(const GeneratedImageItem& item);
    void copyRequested(const GeneratedImageItem& item);
    void reuseRequested(const GeneratedImageItem& item);

protected:
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;

private:
    void render();

    GeneratedImageItem m_item;
    QScrollArea* m_scroll = nullptr;
    QLabel* m_picture = nullptr;
    double m_zoom = 0.0;
};
