// The main window: sidebar of conversations, the Chat and Images panes, and the status bar.
#pragma once

#include <QMainWindow>

class QTabWidget;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

private:
    QTabWidget* m_panes = nullptr;
};
