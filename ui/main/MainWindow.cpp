// MainWindow: layout, shortcuts, status bar and window-wide drop handling.
#include "ui/main/MainWindow.h"

#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QLabel>
#include <QMimeData>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QStringList>
#include <QTabWidget>

#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/common/Icons.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/main/Sidebar.h"

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("Tessera"));
    setWindowIcon(QIcon(QStringLiteral(":/tessera/icons/tessera.svg")));
    setAccessibleName(tr("Tessera"));
    setAcceptDrops(true);
    resize(1280, 800);

    m_splitter = new QSplitter(this);
    m_splitter->setChildrenCollapsible(true);
    m_sidebar = new Sidebar(m_splitter);
    m_sidebar->setMinimumWidth(200);
    m_panes = new QTabWidget(m_splitter);
    m_panes->setAccessibleName(tr("Panes"));
    m_panes->setDocumentMode(true);
    m_chat = new ChatPane(m_panes);
    m_images = new ImageGenPane(m_panes);
    m_panes->addTab(m_chat, Icons::icon(QStringLiteral("chat")), tr("Chat"));
    m_panes->addTab(m_images, Icons::icon(QStringLiteral("image")), tr("Images"));
    m_panes->setTabToolTip(0, tr("Chat (Ctrl+1)"));
    m_panes->setTabToolTip(1, tr("Images (Ctrl+2)"));
    m_splitter->addWidget(m_sidebar);
    m_splitter->addWidget(m_panes);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({272, 1008});
    setCentralWidget(m_splitter);

    auto label = [this](const QString& name) {
        auto* l = new QLabel(this);
        l->setAccessibleName(name);
        l->setContentsMargins(4, 0, 4, 0);
        return l;
    };
    m_device = label(tr("Device"));
    m_model = label(tr("Model"));
    m_memory = label(tr("Memory in use"));
    m_speed = label(tr("Generation speed"));
    m_state = label(tr("State"));
    // Parts separated by a muted dot, as in "CPU · model · 4.6 MB / 23.5 GB · 41.2 tok/s · Ready".
    const QList<QLabel*> parts = {m_device, m_model, m_memory, m_speed, m_state};
    for (QLabel* part : parts) {
        if (part != m_device) {
            auto* dot = new QLabel(QStringLiteral("·"), this);
            dot->setObjectName(QStringLiteral("Muted"));
            dot->setAccessibleName(QString());
            statusBar()->addWidget(dot);
            m_separators.insert(part, dot);
        }
        statusBar()->addWidget(part, part == m_state ? 1 : 0);
    }
    setStatusDevice(tr("CPU"));
    setStatusModel(tr("No model"));
    setStatusState(tr("Ready"));

    connect(m_sidebar, &Sidebar::newChatRequested, this, &MainWindow::newChatRequested);
    connect(m_sidebar, &Sidebar::settingsRequested, this, &MainWindow::settingsRequested);
    connect(m_sidebar, &Sidebar::modelsRequested, this, &MainWindow::modelsRequested);
    connect(m_chat, &ChatPane::openModelManagerRequested, this, &MainWindow::modelsRequested);
    addShortcuts();
}

void MainWindow::addShortcuts() {
    auto add = [this](const QKeySequence& keys, auto slot) {
        auto* s = new QShortcut(keys, this);
        s->setContext(Qt::WindowShortcut);
        connect(s, &QShortcut::activated, this, slot);
        return s;
    };
    add(QKeySequence(Qt::CTRL | Qt::Key_N), [this] { emit newChatRequested(); });
    add(QKeySequence(Qt::CTRL | Qt::Key_K), [this] { m_sidebar->focusSearch(); });
    add(QKeySequence(Qt::CTRL | Qt::Key_L), [this] {
        m_panes->setCurrentWidget(m_chat);
        m_chat->focusComposer();
    });
    add(QKeySequence(Qt::CTRL | Qt::Key_1), [this] { m_panes->setCurrentIndex(0); });
    add(QKeySequence(Qt::CTRL | Qt::Key_2), [this] { m_panes->setCurrentIndex(1); });
    add(QKeySequence(Qt::CTRL | Qt::Key_Comma), [this] { emit settingsRequested(); });
    add(QKeySequence(Qt::Key_Escape), [this] { emit stopRequested(); });
}

void MainWindow::setStatusPart(QLabel* part, const QString& text) {
    part->setText(text);
    part->setVisible(!text.isEmpty());
    if (QLabel* dot = m_separators.value(part)) dot->setVisible(!text.isEmpty());
}

void MainWindow::setStatusModel(const QString& text) { setStatusPart(m_model, text); }
void MainWindow::setStatusDevice(const QString& text) { setStatusPart(m_device, text); }
void MainWindow::setStatusMemory(const QString& text) { setStatusPart(m_memory, text); }

void MainWindow::setStatusSpeed(double tokensPerSecond) {
    setStatusPart(m_speed, tokensPerSecond > 0 ? tr("%1 tok/s").arg(tokensPerSecond, 0, 'f', 1) : QString());
}

void MainWindow::setStatusState(const QString& text) { setStatusPart(m_state, text); }

QString MainWindow::statusText() const {
    QStringList parts;
    for (const QLabel* l : {m_device, m_model, m_memory, m_speed, m_state}) {
        if (!l->text().isEmpty()) parts << l->text();
    }
    return parts.join(QStringLiteral(" · "));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    emit closing();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (Composer::mimeHasImages(event->mimeData())) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    m_panes->setCurrentWidget(m_chat);
    if (m_chat->composer()->offerImages(event->mimeData()) > 0) event->acceptProposedAction();
}
