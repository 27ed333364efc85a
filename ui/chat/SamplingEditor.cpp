// SamplingEditor: a form of three spin boxes.
#include "ui/chat/SamplingEditor.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QSpinBox>

SamplingEditor::SamplingEditor(QWidget* parent) : QWidget(parent) {
    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    m_temperature = new QDoubleSpinBox(this);
    m_temperature->setRange(0.0, 2.0);
    m_temperature->setSingleStep(0.05);
    m_temperature->setDecimals(2);
    m_temperature->setAccessibleName(tr("Temperature"));
    m_temperature->setToolTip(tr("0 always picks the most likely token; higher is more varied"));
    m_topP = new QDoubleSpinBox(this);
    m_topP->setRange(0.05, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setDecimals(2);
    m_topP->setAccessibleName(tr("Top p"));
    m_maxTokens = new QSpinBox(this);
    m_maxTokens->setRange(16, 32768);
    m_maxTokens->setSingleStep(256);
    m_maxTokens->setAccessibleName(tr("Longest reply in tokens"));
    form->addRow(tr("&Temperature:"), m_temperature);
    form->addRow(tr("Top &p:"), m_topP);
    form->addRow(tr("Longest &reply (tokens):"), m_maxTokens);
    setValue(SamplingSettings{});
}

void SamplingEditor::setValue(const SamplingSettings& s) {
    m_temperature->setValue(s.temperature);
    m_topP->setValue(s.topP);
    m_maxTokens->setValue(s.maxNewTokens);
}

SamplingSettings SamplingEditor::value() const {
    SamplingSettings s;
    s.temperature = m_temperature->value();
    s.topP = m_topP->value();
    s.maxNewTokens = m_maxTokens->value();
    return s;
}
