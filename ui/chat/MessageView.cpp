// MessageView: keeps m_bubbles in step with the model's rows; the bottom-following rule lives in the two
// scroll bar connections in the constructor.
#include "ui/chat/MessageView.h"

#include <QScrollBar>
#include <QVBoxLayout>

#include "ui/chat/MessageBubble.h"
#include "ui/chat/MessageModel.h"

MessageView::MessageView(QWidget* parent) : QScrollArea(parent) {
    setObjectName(QStringLiteral("MessageView"));
    setAccessibleName(tr("Messages"));
    setWidgetResizable(true);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setFrameShape(QFrame::NoFrame);
    m_column = new QWidget(this);
    m_column->setObjectName(QStringLiteral("MessageColumn"));
    m_layout = new QVBoxLayout(m_column);
    m_layout->setContentsMargins(24, 16, 24, 16);
    m_layout->setSpacing(4);
    m_layout->addStretch(1);
    setWidget(m_column);
    QScrollBar* bar = verticalScrollBar();
    // The user moved the bar (or the wheel did): follow only if they are back at the bottom.
    connect(bar, &QScrollBar::valueChanged, this, [this, bar](int value) { m_follow = value >= bar->maximum() - 8; });
    // The content grew: keep the bottom in view if we were following.
    connect(bar, &QScrollBar::rangeChanged, this, [this, bar](int, int max) {
        if (m_follow) bar->setValue(max);
    });
}

void MessageView::setModel(MessageModel* model) {
    if (m_model) disconnect(m_model, nullptr, this, nullptr);
    m_model = model;
    if (model) {
        connect(model, &QAbstractItemModel::modelReset, this, &MessageView::rebuild);
        connect(model, &QAbstractItemModel::rowsInserted, this,
                [this](const QModelIndex&, int first, int last) { insertRows(first, last); });
        connect(model, &QAbstractItemModel::rowsRemoved, this,
                [this](const QModelIndex&, int first, int last) { removeRows(first, last); });
        connect(model, &QAbstractItemModel::dataChanged, this,
                [this](const QModelIndex& tl, const QModelIndex& br) { updateRows(tl.row(), br.row()); });
    }
    rebuild();
}

MessageBubble* MessageView::bubbleAt(int row) const {
    return row >= 0 && row < m_bubbles.size() ? m_bubbles[row] : nullptr;
}

void MessageView::scrollToBottom() {
    m_follow = true;
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

MessageBubble* MessageView::makeBubble(int row) {
    const QModelIndex idx = m_model->index(row);
    const bool user = idx.data(MessageModel::RoleRole).toInt() == int(ChatMessage::Role::User);
    auto* bubble = new MessageBubble(user, m_column);
    bubble->updateFrom(idx);
    connect(bubble, &MessageBubble::regenerateRequested, this, &MessageView::regenerateRequested);
    connect(bubble, &MessageBubble::editSubmitted, this, &MessageView::editSubmitted);
    connect(bubble, &MessageBubble::copyRequested, this, &MessageView::copyRequested);
    connect(bubble, &MessageBubble::branchRequested, this, &MessageView::branchRequested);
    return bubble;
}

void MessageView::rebuild() {
    qDeleteAll(m_bubbles);
    m_bubbles.clear();
    if (m_model && m_model->rowCount() > 0) insertRows(0, m_model->rowCount() - 1);
    scrollToBottom();
}

void MessageView::insertRows(int first, int last) {
    for (int row = first; row <= last; ++row) {
        MessageBubble* bubble = makeBubble(row);
        m_bubbles.insert(row, bubble);
        m_layout->insertWidget(row, bubble);  // the stretch stays last
    }
    // A new message of the user's own always brings the view down.
    if (m_model && m_model->index(last).data(MessageModel::RoleRole).toInt() == int(ChatMessage::Role::User))
        m_follow = true;
}

void MessageView::removeRows(int first, int last) {
    for (int row = last; row >= first; --row) {
        if (row >= m_bubbles.size()) continue;
        MessageBubble* bubble = m_bubbles.takeAt(row);
        m_layout->removeWidget(bubble);
        bubble->hide();
        bubble->deleteLater();
    }
}

void MessageView::updateRows(int first, int last) {
    for (int row = first; row <= last && row < m_bubbles.size(); ++row) m_bubbles[row]->updateFrom(m_model->index(row));
}
