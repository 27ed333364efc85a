// FirstRunGuide: static text and two buttons, centred in a card.
#include "ui/main/FirstRunGuide.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/common/Icons.h"

FirstRunGuide::FirstRunGuide(QWidget* parent) : QWidget(parent) {
    setAccessibleName(tr("Getting started"));
    auto* outer = new QVBoxLayout(this);
    outer->addStretch(1);
    auto* card = new QFrame(this);
    card->setObjectName(QStringLiteral("Card"));
    card->setMaximumWidth(640);
    auto* layout = new QVBoxLayout(card);
    layout->setContentsMargins(32, 24, 32, 24);
    layout->setSpacing(16);
    auto* logo = new QLabel(card);
    logo->setPixmap(QIcon(QStringLiteral(":/tessera/icons/tessera.svg")).pixmap(48, 48));
    logo->setAccessibleName(tr("Tessera logo"));
    layout->addWidget(logo, 0, Qt::AlignHCenter);
    auto* text = new QLabel(card);
    text->setWordWrap(true);
    text->setTextFormat(Qt::RichText);
    text->setOpenExternalLinks(false);
    text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    text->setText(tr(
        "<h2>Welcome to Tessera</h2>"
        "<p>Tessera runs DeepSeek models on this computer, offline: on an NVIDIA GPU when there is one, "
        "otherwise on the CPU. Nothing you type leaves this machine.</p>"
        "<p><b>1. Download an official checkpoint folder</b> from Hugging Face — the whole folder, with "
        "<tt>config.json</tt>, the weight files and <tt>tokenizer.json</tt>. Good first choices:</p>"
        "<ul>"
        "<li><tt>deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B</tt> — small, thinks before it answers (about 4 GB)</li>"
        "<li><tt>deepseek-ai/deepseek-llm-7b-chat</tt> — a general chat model (about 14 GB)</li>"
        "</ul>"
        "<p><b>2. Add the folder</b> (or a folder that holds several checkpoints). Tessera checks each one "
        "and tells you how much memory it needs.</p>"
        "<p><b>3. Start a chat.</b> Your conversations are saved as you go and can be searched.</p>"));
    text->setAccessibleName(tr("How to get started"));
    layout->addWidget(text);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    auto* manager = new QPushButton(Icons::icon(QStringLiteral("models")), tr("Open model manager"), card);
    manager->setAccessibleName(tr("Open model manager"));
    auto* add = new QPushButton(Icons::icon(QStringLiteral("folder"), Qt::white), tr("Add model folder…"), card);
    add->setObjectName(QStringLiteral("PrimaryButton"));
    add->setAccessibleName(tr("Add model folder"));
    buttons->addWidget(manager);
    buttons->addWidget(add);
    layout->addLayout(buttons);
    auto* row = new QHBoxLayout;
    row->addStretch(1);
    row->addWidget(card, 4);
    row->addStretch(1);
    outer->addLayout(row);
    outer->addStretch(2);
    connect(add, &QPushButton::clicked, this, &FirstRunGuide::addModelFolderRequested);
    connect(manager, &QPushButton::clicked, this, &FirstRunGuide::openModelManagerRequested);
}
