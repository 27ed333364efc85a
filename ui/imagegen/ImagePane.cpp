// ImagePane: a calm placeholder saying what will be here.
#include "ui/imagegen/ImagePane.h"

#include <QLabel>
#include <QVBoxLayout>

#include "ui/common/Icons.h"

ImagePane::ImagePane(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Images"));
    auto* layout = new QVBoxLayout(this);
    layout->addStretch(1);
    auto* icon = new QLabel(this);
    icon->setPixmap(Icons::icon(QStringLiteral("image")).pixmap(48, 48));
    layout->addWidget(icon, 0, Qt::AlignHCenter);
    auto* text = new QLabel(tr("Image generation with Janus-Pro will appear here."), this);
    text->setObjectName(QStringLiteral("Muted"));
    layout->addWidget(text, 0, Qt::AlignHCenter);
    layout->addStretch(2);
}
