// ConversationSettingsDialog: system prompt editor above the sampling form.
#include "ui/chat/ConversationSettingsDialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

#include "ui/chat/SamplingEditor.h"

ConversationSettingsDialog::ConversationSettingsDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Conversation settings"));
    setAccessibleName(tr("Conversation settings"));
    auto* layout = new QVBoxLayout(this);
    auto* label = new QLabel(tr("&System prompt"), this);
    m_system = new QPlainTextEdit(this);
    m_system->setAccessibleName(tr("System prompt"));
    m_system->setPlaceholderText(tr("Optional. DeepSeek recommends none for R1 models: put instructions in your message."));
    label->setBuddy(m_system);
    layout->addWidget(label);
    layout->addWidget(m_system);
    m_sampling = new SamplingEditor(this);
    layout->addWidget(m_sampling);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    resize(520, 420);
}

void ConversationSettingsDialog::setValues(const QString& systemPrompt, const SamplingSettings& sampling) {
    m_system->setPlainText(systemPrompt);
    m_sampling->setValue(sampling);
}

QString ConversationSettingsDialog::systemPrompt() const { return m_system->toPlainText().trimmed(); }

SamplingSettings ConversationSettingsDialog::sampling() const { return m_sampling->value(); }
