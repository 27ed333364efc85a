// ChatPane: layout, the model picker and the empty-conversation suggestions.
#include "ui/chat/ChatPane.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/chat/MessageModel.h"
#include "ui/chat/MessageView.h"
#include "ui/common/Banner.h"
#include "ui/common/Icons.h"
#include "ui/main/FirstRunGuide.h"

ChatPane::ChatPane(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Chat"));
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_stack = new QStackedWidget(this);
    outer->addWidget(m_stack);

    m_guide = new FirstRunGuide(m_stack);
    m_stack->addWidget(m_guide);
    connect(m_guide, &FirstRunGuide::addModelFolderRequested, this, &ChatPane::addModelFolderRequested);
    connect(m_guide, &FirstRunGuide::openModelManagerRequested, this, &ChatPane::openModelManagerRequested);

    auto* chat = new QWidget(m_stack);
    auto* layout = new QVBoxLayout(chat);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);

    auto* header = new QFrame(chat);
    header->setObjectName(QStringLiteral("PaneHeader"));
    auto* hl = new QHBoxLayout(header);
    hl->setContentsMargins(16, 8, 16, 8);
    m_title = new QLabel(header);
    m_title->setAccessibleName(tr("Conversation title"));
    QFont tf = m_title->font();
    tf.setBold(true);
    m_title->setFont(tf);
    hl->addWidget(m_title, 1);
    auto* modelLabel = new QLabel(tr("Model:"), header);
    m_modelPicker = new QComboBox(header);
    m_modelPicker->setAccessibleName(tr("Model for this conversation"));
    m_modelPicker->setMinimumContentsLength(18);
    m_modelPicker->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    modelLabel->setBuddy(m_modelPicker);
    m_settingsButton = new QToolButton(header);
    m_settingsButton->setObjectName(QStringLiteral("FlatButton"));
    m_settingsButton->setIcon(Icons::icon(QStringLiteral("settings")));
    m_settingsButton->setToolTip(tr("System prompt and sampling for this conversation"));
    m_settingsButton->setAccessibleName(tr("Conversation settings"));
    hl->addWidget(modelLabel);
    hl->addWidget(m_modelPicker);
    hl->addWidget(m_settingsButton);
    layout->addWidget(header);

    auto* content = new QVBoxLayout;
    content->setContentsMargins(16, 8, 16, 0);
    content->setSpacing(8);
    m_banner = new Banner(chat);
    content->addWidget(m_banner);
    m_noticeFrame = new QFrame(chat);
    m_noticeFrame->setObjectName(QStringLiteral("Notice"));
    auto* nl = new QHBoxLayout(m_noticeFrame);
    nl->setContentsMargins(12, 6, 12, 6);
    m_notice = new QLabel(m_noticeFrame);
    m_notice->setWordWrap(true);
    m_notice->setAccessibleName(tr("Context notice"));
    nl->addWidget(m_notice);
    m_noticeFrame->hide();
    content->addWidget(m_noticeFrame);
    layout->addLayout(content);

    m_view = new MessageView(chat);
    layout->addWidget(m_view, 1);

    // Empty conversation: three suggestions that fill the composer.
    m_empty = new QWidget(chat);
    auto* el = new QVBoxLayout(m_empty);
    el->addStretch(1);
    auto* hello = new QLabel(tr("What would you like to talk about?"), m_empty);
    QFont hf = hello->font();
    hf.setPointSizeF(hf.pointSizeF() * 1.4);
    hello->setFont(hf);
    el->addWidget(hello, 0, Qt::AlignHCenter);
    auto* sl = new QHBoxLayout;
    sl->addStretch(1);
    const QStringList suggestions = {tr("Describe this image"), tr("Find the … in this image"),
                                     tr("Generate an image of …")};
    for (const QString& s : suggestions) {
        auto* b = new QPushButton(s, m_empty);
        b->setAccessibleName(tr("Suggestion: %1").arg(s));
        connect(b, &QPushButton::clicked, this, [this, s] {
            m_composer->setText(s);
            focusComposer();
        });
        sl->addWidget(b);
    }
    sl->addStretch(1);
    el->addLayout(sl);
    el->addStretch(1);
    layout->addWidget(m_empty, 1);

    auto* bottom = new QVBoxLayout;
    bottom->setContentsMargins(16, 8, 16, 16);
    m_composer = new Composer(chat);
    bottom->addWidget(m_composer);
    layout->addLayout(bottom);
    m_stack->addWidget(chat);
    m_stack->setCurrentIndex(1);

    connect(m_composer, &Composer::sendRequested, this, &ChatPane::sendRequested);
    connect(m_composer, &Composer::stopRequested, this, &ChatPane::stopRequested);
    connect(m_composer, &Composer::attachmentRefused, this, [this](const QString& reason) {
        showError(AppError{AppError::Kind::Unsupported, reason, {}});
    });
    connect(m_view, &MessageView::regenerateRequested, this, &ChatPane::regenerateRequested);
    connect(m_view, &MessageView::editSubmitted, this, &ChatPane::editSubmitted);
    connect(m_view, &MessageView::branchRequested, this, &ChatPane::branchRequested);
    connect(m_view, &MessageView::copyRequested, this, &ChatPane::copyMessage);
    connect(m_settingsButton, &QToolButton::clicked, this, &ChatPane::conversationSettingsRequested);
    connect(m_modelPicker, &QComboBox::activated, this,
            [this](int index) { emit modelChosen(m_modelPicker->itemData(index).toString()); });
    updateEmptyState();
}

void ChatPane::setMessageModel(MessageModel* model) {
    m_model = model;
    m_view->setModel(model);
    connect(model, &QAbstractItemModel::modelReset, this, &ChatPane::updateEmptyState);
    connect(model, &QAbstractItemModel::rowsInserted, this, &ChatPane::updateEmptyState);
    connect(model, &QAbstractItemModel::rowsRemoved, this, &ChatPane::updateEmptyState);
    updateEmptyState();
}

void ChatPane::updateEmptyState() {
    const bool empty = !m_model || m_model->rowCount() == 0;
    m_empty->setVisible(empty);
    m_view->setVisible(!empty);
}

void ChatPane::setModels(const QList<ModelEntry>& models) {
    const QString current = currentModel();
    m_models = models;
    m_modelPicker->clear();
    for (const auto& m : models) {
        QString label = m.name;
        if (m.state == ModelEntry::State::Loaded) label += tr(" · loaded");
        m_modelPicker->addItem(label, m.path);
    }
    if (models.isEmpty()) m_modelPicker->addItem(tr("No model"), QString());
    setCurrentModel(current);
}

void ChatPane::setCurrentModel(const QString& path) {
    const int i = m_modelPicker->findData(path);
    if (i >= 0) m_modelPicker->setCurrentIndex(i);
    bool vision = false;
    for (const auto& m : m_models) {
        if (m.path == path) vision = m.seesImages;
    }
    m_composer->setImagesAllowed(vision, vision ? QString()
                                                : tr("The chosen model cannot see images. Pick a vision model "
                                                     "(DeepSeek-VL2 or Janus-Pro) to attach images."));
}

QString ChatPane::currentModel() const { return m_modelPicker->currentData().toString(); }

void ChatPane::setFirstRun(bool firstRun) { m_stack->setCurrentIndex(firstRun ? 0 : 1); }

bool ChatPane::isFirstRun() const { return m_stack->currentIndex() == 0; }

void ChatPane::setGenerating(bool generating) { m_composer->setGenerating(generating); }

void ChatPane::showError(const AppError& error) { m_banner->showMessage(error.message, error.detail); }

void ChatPane::clearError() { m_banner->hide(); }

void ChatPane::setContextNotice(const QString& text) {
    m_notice->setText(text);
    m_noticeFrame->setVisible(!text.isEmpty());
}

void ChatPane::setTitle(const QString& title) { m_title->setText(title.isEmpty() ? tr("New chat") : title); }

void ChatPane::focusComposer() {
    if (isFirstRun()) return;
    m_composer->editor()->setFocus(Qt::ShortcutFocusReason);
}

void ChatPane::copyMessage(qint64 id) {
    if (!m_model) return;
    if (const ChatMessage* m = m_model->message(id)) QApplication::clipboard()->setText(m->content);
}
