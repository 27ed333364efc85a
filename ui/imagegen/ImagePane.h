// ImagePane: the Images tab. Holds its place in the window until the Janus-Pro image generation pane
// arrives (a later issue fills it: prompt, settings, progress, gallery).
#pragma once

#include <QWidget>

class ImagePane : public QWidget {
    Q_OBJECT
public:
    explicit ImagePane(QWidget* parent = nullptr);
};
