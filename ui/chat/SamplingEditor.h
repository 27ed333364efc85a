// SamplingEditor: temperature, top-p and maximum reply length, used by the conversation settings and the
// application settings (defaults for new chats).
#pragma once

#include <QWidget>

#include "ui/common/ChatTypes.h"

class QDoubleSpinBox;
class QSpinBox;

class SamplingEditor : public QWidget {
    Q_OBJECT
public:
    explicit SamplingEditor(QWidget* parent = nullptr);
    void setValue(const SamplingSettings& s);
    SamplingSettings value() const;

private:
    QDoubleSpinBox* m_temperature = nullptr;
    QDoubleSpinBox* m_topP = nullptr;
    QSpinBox* m_maxTokens = nullptr;
};
