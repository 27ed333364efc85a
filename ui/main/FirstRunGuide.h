// FirstRunGuide: what a new user sees instead of an empty window or an error: what Tessera runs, which
// official checkpoint folders to download, and a button to add one.
#pragma once

#include <QWidget>

class FirstRunGuide : public QWidget {
    Q_OBJECT
public:
    explicit FirstRunGuide(QWidget* parent = nullptr);

signals:
    void addModelFolderRequested();
    void openModelManagerRequested();
};
