// Sidebar: widgets, the search debounce and the context menu.
#include "ui/main/Sidebar.h"

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QPushButton>
#include <QShortcut>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/common/Icons.h"
#include "ui/main/ConversationDelegate.h"
#include "ui/main/ConversationListModel.h"

Sidebar::Sidebar(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("Sidebar"));
    setAccessibleName(tr("Sidebar"));
    setAttribute(Qt::WA_StyledBackground);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->setSpacing(8);
    auto* newChat = new QPushButton(Icons::icon(QStringLiteral("plus"), Qt::white), tr("New chat"), this);
    newChat->setObjectName(QStringLiteral("PrimaryButton"));
    newChat->setAccessibleName(tr("New chat"));
    newChat->setToolTip(tr("New chat (Ctrl+N)"));
    layout->addWidget(newChat);
    m_search = new QLineEdit(this);
    m_search->setPlaceholderText(tr("Search chats…"));
    m_search->setAccessibleName(tr("Search chats"));
    m_search->setToolTip(tr("Search all conversations (Ctrl+K)"));
    m_search->setClearButtonEnabled(true);
    m_search->addAction(Icons::icon(QStringLiteral("search")), QLineEdit::LeadingPosition);
    layout->addWidget(m_search);
    m_list = new QListView(this);
    m_list->setAccessibleName(tr("Conversations"));
    m_list->setItemDelegate(new ConversationDelegate(m_list));
    m_list->setEditTriggers(QAbstractItemView::EditKeyPressed | QAbstractItemView::SelectedClicked);
    m_list->setContextMenuPolicy(Qt::CustomContextMenu);
    m_list->setMouseTracking(true);
    m_list->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_list->setUniformItemSizes(false);
    layout->addWidget(m_list, 1);

    m_undoBar = new QFrame(this);
    m_undoBar->setObjectName(QStringLiteral("Notice"));
    auto* ul = new QHBoxLayout(m_undoBar);
    ul->setContentsMargins(8, 4, 4, 4);
    m_undoText = new QLabel(m_undoBar);
    auto* undo = new QPushButton(tr("Undo"), m_undoBar);
    undo->setAccessibleName(tr("Undo delete"));
    ul->addWidget(m_undoText, 1);
    ul->addWidget(undo);
    m_undoBar->hide();
    layout->addWidget(m_undoBar);

    auto* foot = new QHBoxLayout;
    auto* models = new QToolButton(this);
    models->setObjectName(QStringLiteral("FlatButton"));
    models->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    models->setIcon(Icons::icon(QStringLiteral("models")));
    models->setText(tr("Models"));
    models->setAccessibleName(tr("Model manager"));
    auto* settings = new QToolButton(this);
    settings->setObjectName(QStringLiteral("FlatButton"));
    settings->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    settings->setIcon(Icons::icon(QStringLiteral("settings")));
    settings->setText(tr("Settings"));
    settings->setAccessibleName(tr("Settings"));
    settings->setToolTip(tr("Settings (Ctrl+,)"));
    foot->addWidget(models);
    foot->addWidget(settings);
    foot->addStretch(1);
    layout->addLayout(foot);

    m_searchDelay = new QTimer(this);
    m_searchDelay->setSingleShot(true);
    m_searchDelay->setInterval(200);
    m_undoTimer = new QTimer(this);
    m_undoTimer->setSingleShot(true);

    connect(newChat, &QPushButton::clicked, this, &Sidebar::newChatRequested);
    connect(models, &QToolButton::clicked, this, &Sidebar::modelsRequested);
    connect(settings, &QToolButton::clicked, this, &Sidebar::settingsRequested);
    connect(m_search, &QLineEdit::textChanged, m_searchDelay, qOverload<>(&QTimer::start));
    connect(m_searchDelay, &QTimer::timeout, this, [this] { emit searchRequested(m_search->text().trimmed()); });
    connect(m_list, &QListView::customContextMenuRequested, this, &Sidebar::showMenu);
    connect(undo, &QPushButton::clicked, this, [this] {
        m_undoTimer->stop();
        m_undoBar->hide();
        emit undoRequested();
    });
    connect(m_undoTimer, &QTimer::timeout, this, [this] {
        m_undoBar->hide();
        emit undoExpired();
    });
    auto* del = new QShortcut(QKeySequence::Delete, m_list, nullptr, nullptr, Qt::WidgetShortcut);
    connect(del, &QShortcut::activated, this, [this] {
        if (const qint64 id = selectedConversation()) emit deleteRequested(id);
    });
}

void Sidebar::setModel(ConversationListModel* model) {
    m_model = model;
    m_list->setModel(model);
    connect(m_list->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& current) {
        if (current.isValid()) emit conversationActivated(current.data(ConversationListModel::IdRole).toLongLong());
    });
}

void Sidebar::selectConversation(qint64 id) {
    if (!m_model) return;
    const int row = m_model->rowOf(id);
    if (row < 0) {
        m_list->clearSelection();
        return;
    }
    const QModelIndex idx = m_model->index(row);
    if (m_list->currentIndex() != idx) {
        QSignalBlocker block(m_list->selectionModel());
        m_list->selectionModel()->setCurrentIndex(idx, QItemSelectionModel::ClearAndSelect);
    }
    m_list->scrollTo(idx);
}

qint64 Sidebar::selectedConversation() const {
    const QModelIndex idx = m_list->currentIndex();
    return idx.isValid() ? idx.data(ConversationListModel::IdRole).toLongLong() : 0;
}

void Sidebar::focusSearch() {
    m_search->setFocus(Qt::ShortcutFocusReason);
    m_search->selectAll();
}

void Sidebar::showUndo(const QString& text, int timeoutMs) {
    m_undoText->setText(text);
    m_undoBar->show();
    m_undoTimer->start(timeoutMs);
}

void Sidebar::hideUndo() {
    m_undoTimer->stop();
    m_undoBar->hide();
}

void Sidebar::showMenu(const QPoint& pos) {
    const QModelIndex idx = m_list->indexAt(pos);
    if (!idx.isValid()) return;
    const qint64 id = idx.data(ConversationListModel::IdRole).toLongLong();
    const bool pinned = idx.data(ConversationListModel::PinnedRole).toBool();
    QMenu menu(this);
    menu.addAction(Icons::icon(QStringLiteral("edit")), tr("Rename"), this, [this, idx] { m_list->edit(idx); });
    menu.addAction(Icons::icon(QStringLiteral("pin")), pinned ? tr("Unpin") : tr("Pin"), this,
                   [this, id, pinned] { emit pinRequested(id, !pinned); });
    menu.addSeparator();
    menu.addAction(Icons::icon(QStringLiteral("trash")), tr("Delete"), this, [this, id] { emit deleteRequested(id); });
    menu.exec(m_list->viewport()->mapToGlobal(pos));
}
