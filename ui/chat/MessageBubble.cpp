// MessageBubble: widgets of one message and their updates from MessageModel roles.
#include "ui/chat/MessageBubble.h"

#include <QFontMetrics>
#include <QHBoxLayout>
#include <QLabel>
#include <QPixmap>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

#include "ui/chat/MessageModel.h"
#include "ui/common/Icons.h"
#include "ui/common/MarkdownView.h"

namespace {
QToolButton* flatButton(QWidget* parent, const QString& icon, const QString& name) {
    auto* b = new QToolButton(parent);
    b->setObjectName(QStringLiteral("FlatButton"));
    b->setIcon(Icons::icon(icon));
    b->setIconSize(QSize(16, 16));
    b->setToolTip(name);
    b->setAccessibleName(name);
    b->setFocusPolicy(Qt::TabFocus);
    return b;
}
}  // namespace

MessageBubble::MessageBubble(bool fromUser, QWidget* parent) : QFrame(parent), m_fromUser(fromUser) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 8, 0, 8);
    outer->setSpacing(4);
    if (fromUser) {
        setAccessibleName(tr("Your message"));
        auto* row = new QHBoxLayout;
        row->addStretch(1);
        m_bubble = new QFrame(this);
        m_bubble->setObjectName(QStringLiteral("UserBubble"));
        m_bubble->setMaximumWidth(640);
        auto* inner = new QVBoxLayout(m_bubble);
        inner->setContentsMargins(12, 8, 12, 8);
        m_userText = new QLabel(m_bubble);
        m_userText->setWordWrap(true);
        m_userText->setTextFormat(Qt::PlainText);
        m_userText->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
        m_userText->setAccessibleName(tr("Message text"));
        inner->addWidget(m_userText);
        m_thumbs = new QHBoxLayout;
        m_thumbs->setSpacing(8);
        inner->addLayout(m_thumbs);
        m_editor = new QPlainTextEdit(m_bubble);
        m_editor->setAccessibleName(tr("Edit message"));
        m_editor->setMinimumWidth(360);
        m_editor->hide();
        inner->addWidget(m_editor);
        m_editButtons = new QWidget(m_bubble);
        auto* eb = new QHBoxLayout(m_editButtons);
        eb->setContentsMargins(0, 0, 0, 0);
        eb->addStretch(1);
        auto* cancel = new QPushButton(tr("Cancel"), m_editButtons);
        cancel->setAccessibleName(tr("Cancel editing"));
        auto* send = new QPushButton(tr("Send"), m_editButtons);
        send->setObjectName(QStringLiteral("PrimaryButton"));
        send->setAccessibleName(tr("Send edited message"));
        eb->addWidget(cancel);
        eb->addWidget(send);
        m_editButtons->hide();
        inner->addWidget(m_editButtons);
        connect(cancel, &QPushButton::clicked, this, [this] { finishEditing(false); });
        connect(send, &QPushButton::clicked, this, [this] { finishEditing(true); });
        row->addWidget(m_bubble);
        outer->addLayout(row);
    } else {
        setAccessibleName(tr("Assistant's reply"));
        buildThinking(outer);
        m_answer = new MarkdownView(this);
        m_answer->setAccessibleName(tr("Reply text"));
        outer->addWidget(m_answer);
    }
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("Muted"));
    m_status->hide();
    outer->addWidget(m_status, 0, fromUser ? Qt::AlignRight : Qt::AlignLeft);
    buildActions(outer);
}

void MessageBubble::buildThinking(QVBoxLayout* into) {
    m_thinkingToggle = new QToolButton(this);
    m_thinkingToggle->setObjectName(QStringLiteral("FlatButton"));
    m_thinkingToggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_thinkingToggle->setCheckable(true);
    m_thinkingToggle->setIcon(Icons::icon(QStringLiteral("chevron-right")));
    m_thinkingToggle->setAccessibleName(tr("Show the model's thinking"));
    m_thinkingToggle->hide();
    into->addWidget(m_thinkingToggle, 0, Qt::AlignLeft);
    m_thinkingBox = new QFrame(this);
    m_thinkingBox->setObjectName(QStringLiteral("ThinkingBox"));
    auto* tl = new QVBoxLayout(m_thinkingBox);
    tl->setContentsMargins(12, 0, 0, 0);
    // The same incremental view as the answer: R1 thinking can run to many thousands of words.
    m_thinkingText = new MarkdownView(m_thinkingBox);
    m_thinkingText->setObjectName(QStringLiteral("ThinkingView"));
    m_thinkingText->setAccessibleName(tr("Thinking text"));
    tl->addWidget(m_thinkingText);
    m_thinkingBox->hide();
    into->addWidget(m_thinkingBox);
    connect(m_thinkingToggle, &QToolButton::toggled, this, &MessageBubble::setThinkingExpanded);
}

void MessageBubble::buildActions(QVBoxLayout* into) {
    auto* row = new QHBoxLayout;
    row->setSpacing(2);
    if (m_fromUser) row->addStretch(1);
    if (!m_fromUser) {
        m_regenerate = flatButton(this, QStringLiteral("regenerate"), tr("Regenerate"));
        row->addWidget(m_regenerate);
        connect(m_regenerate, &QToolButton::clicked, this, [this] { emit regenerateRequested(m_id); });
    } else {
        m_edit = flatButton(this, QStringLiteral("edit"), tr("Edit"));
        row->addWidget(m_edit);
        connect(m_edit, &QToolButton::clicked, this, &MessageBubble::startEditing);
    }
    m_copy = flatButton(this, QStringLiteral("copy"), tr("Copy message"));
    row->addWidget(m_copy);
    connect(m_copy, &QToolButton::clicked, this, [this] { emit copyRequested(m_id); });
    m_prev = flatButton(this, QStringLiteral("chevron-left"), tr("Previous version"));
    m_branch = new QLabel(this);
    m_branch->setObjectName(QStringLiteral("Muted"));
    m_branch->setAccessibleName(tr("Version"));
    m_next = flatButton(this, QStringLiteral("chevron-right"), tr("Next version"));
    row->addWidget(m_prev);
    row->addWidget(m_branch);
    row->addWidget(m_next);
    connect(m_prev, &QToolButton::clicked, this, [this] { emit branchRequested(m_id, -1); });
    connect(m_next, &QToolButton::clicked, this, [this] { emit branchRequested(m_id, +1); });
    if (!m_fromUser) {
        row->addStretch(1);
        m_speed = new QLabel(this);
        m_speed->setObjectName(QStringLiteral("Muted"));
        m_speed->setAccessibleName(tr("Generation speed"));
        row->addWidget(m_speed);
    }
    into->addLayout(row);
}

bool MessageBubble::thinkingExpanded() const { return m_thinkingBox && m_thinkingBox->isVisible(); }

void MessageBubble::setThinkingExpanded(bool expanded) {
    if (!m_thinkingBox) return;
    m_thinkingBox->setVisible(expanded);
    if (m_thinkingToggle->isChecked() != expanded) m_thinkingToggle->setChecked(expanded);
    m_thinkingToggle->setIcon(Icons::icon(expanded ? QStringLiteral("chevron-down") : QStringLiteral("chevron-right")));
}

void MessageBubble::updateThinkingHeader() {
    if (!m_thinkingToggle) return;
    const bool streaming = m_state == int(ChatMessage::State::Streaming);
    const bool stillThinking = streaming && m_text.isEmpty();
    if (stillThinking)
        m_thinkingToggle->setText(tr("Thinking…"));
    else if (m_thinkingSeconds > 0)
        m_thinkingToggle->setText(tr("Thought for %1 s").arg(m_thinkingSeconds, 0, 'f', 1));
    else
        m_thinkingToggle->setText(tr("Thoughts"));
}

void MessageBubble::updateFrom(const QModelIndex& index) {
    m_id = index.data(MessageModel::IdRole).toLongLong();
    m_state = index.data(MessageModel::StateRole).toInt();
    const QString text = index.data(MessageModel::ContentRole).toString();
    const bool streaming = m_state == int(ChatMessage::State::Streaming);
    if (m_fromUser) {
        if (text != m_text) {
            m_userText->setText(text);
            m_text = text;
            fitUserText();
        }
        const QStringList images = index.data(MessageModel::ImagesRole).toStringList();
        if (images != m_thumbPaths) {
            m_thumbPaths = images;
            while (auto* item = m_thumbs->takeAt(0)) {
                delete item->widget();
                delete item;
            }
            for (const QString& path : images) {
                auto* thumb = new QLabel(m_bubble);
                thumb->setPixmap(QPixmap(path).scaled(160, 120, Qt::KeepAspectRatio, Qt::SmoothTransformation));
                thumb->setAccessibleName(tr("Attached image"));
                m_thumbs->addWidget(thumb);
            }
            m_thumbs->addStretch(1);
        }
    } else {
        const QString thinking = index.data(MessageModel::ThinkingRole).toString();
        m_thinkingSeconds = index.data(MessageModel::ThinkingSecondsRole).toDouble();
        // Streaming views coalesce their updates; the end of the stream renders them at once, whole.
        if (streaming) {
            m_thinkingText->setStreaming(true);
            m_answer->setStreaming(true);
        }
        if (thinking != m_thinking) {
            m_thinking = thinking;
            m_thinkingText->setMarkdown(thinking);
        }
        m_thinkingToggle->setVisible(!thinking.isEmpty());
        if (text != m_text) m_answer->setMarkdown(text);
        if (!streaming) {
            m_thinkingText->setStreaming(false);
            m_answer->setStreaming(false);
        }
        m_answer->setVisible(!text.isEmpty() || !streaming);
        const double tps = index.data(MessageModel::TokensPerSecondRole).toDouble();
        const int tokens = index.data(MessageModel::GeneratedTokensRole).toInt();
        m_speed->setText(tps > 0 ? tr("%1 tok/s").arg(tps, 0, 'f', 1) : QString());
        m_speed->setToolTip(tr("%1 tokens · %2").arg(tokens).arg(index.data(MessageModel::ModelNameRole).toString()));
    }
    m_text = text;
    updateThinkingHeader();
    switch (ChatMessage::State(m_state)) {
    case ChatMessage::State::Stopped: m_status->setText(tr("Stopped")); break;
    case ChatMessage::State::Failed: m_status->setText(tr("The reply did not finish")); break;
    default: m_status->clear(); break;
    }
    m_status->setVisible(!m_status->text().isEmpty());
    const int branchIndex = index.data(MessageModel::BranchIndexRole).toInt();
    const int branchCount = index.data(MessageModel::BranchCountRole).toInt();
    const bool branches = branchCount > 1;
    m_prev->setVisible(branches);
    m_next->setVisible(branches);
    m_branch->setVisible(branches);
    m_branch->setText(QStringLiteral("%1/%2").arg(branchIndex).arg(branchCount));
    m_prev->setEnabled(branchIndex > 1 && !streaming);
    m_next->setEnabled(branchIndex < branchCount && !streaming);
    m_copy->setEnabled(!streaming);
    if (m_regenerate) m_regenerate->setEnabled(!streaming);
}

void MessageBubble::fitUserText() {
    // A word-wrapped label asks for little width, so the bubble would wrap after every word: it gets the
    // width of its longest line, up to three quarters of the column (and never more than 640 px).
    const QMargins m = m_bubble->contentsMargins() + m_bubble->layout()->contentsMargins();
    const int available = std::min(m_bubble->maximumWidth(), int(width() * 0.75)) - m.left() - m.right();
    const QFontMetrics fm(m_userText->font());
    int natural = 0;
    for (const QString& line : m_text.split(QLatin1Char('\n'))) natural = std::max(natural, fm.horizontalAdvance(line));
    m_userText->setMinimumWidth(std::clamp(natural + 2, 0, std::max(available, 80)));
}

void MessageBubble::resizeEvent(QResizeEvent* event) {
    QFrame::resizeEvent(event);
    if (m_fromUser) fitUserText();
}

void MessageBubble::startEditing() {
    if (!m_fromUser) return;
    m_editor->setPlainText(m_text);
    m_userText->hide();
    m_editor->show();
    m_editButtons->show();
    m_editor->setFocus();
}

void MessageBubble::finishEditing(bool submit) {
    const QString text = m_editor->toPlainText().trimmed();
    m_editor->hide();
    m_editButtons->hide();
    m_userText->show();
    if (submit && !text.isEmpty()) emit editSubmitted(m_id, text);
}
