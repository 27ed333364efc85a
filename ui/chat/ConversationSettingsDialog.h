// ConversationSettingsDialog: the system prompt and sampling of one conversation.
#pragma once

#include <QDialog>

#include "ui/common/ChatTypes.h"

class QPlainTextEdit;
class SamplingEditor;

class ConversationSettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit ConversationSettingsDialog(QWidget* parent = nullptr);
    void setValues(const QString& systemPrompt, const SamplingSettings& sampling);
    QString systemPrompt() const;
    SamplingSettings sampling() const;

private:
    QPlainTextEdit* m_system = nullptr;
    SamplingEditor* m_sampling = nullptr;
};
