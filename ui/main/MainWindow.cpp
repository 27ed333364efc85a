// Main window layout. The panes themselves live in ui/chat and ui/imagegen.
#include "ui/main/MainWindow.h"

#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("Tessera"));
    resize(1280, 800);

    auto* splitter = new QSplitter(this);
    auto* sidebar = new QListWidget(splitter);
    sidebar->setAccessibleName(tr("Conversations"));
    m_panes = new QTabWidget(splitter);
    m_panes->setAccessibleName(tr("Panes"));
    auto* guide = new QLabel(tr("<h2>Welcome to Tessera</h2>"
                                "<p>Tessera runs DeepSeek models on this machine. Add a model folder "
                                "(an official Hugging Face checkpoint folder) to start chatting.</p>"),
                             m_panes);
    guide->setWordWrap(true);
    guide->setAlignment(Qt::AlignCenter);
    m_panes->addTab(guide, tr("Chat"));
    m_panes->addTab(new QLabel(tr("Image generation arrives with Janus-Pro."), m_panes), tr("Images"));
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({260, 1020});
    setCentralWidget(splitter);
    statusBar()->showMessage(tr("CPU · Ready"));
}
