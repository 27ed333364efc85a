// Banner: icon, message, "Details" toggle and a close button.
#include "ui/common/Banner.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/common/Icons.h"
#include "ui/common/Theme.h"

Banner::Banner(QWidget* parent) : QFrame(parent) {
    setObjectName(QStringLiteral("Banner"));
    setAccessibleName(tr("Error"));
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(12, 8, 8, 8);
    outer->setSpacing(4);
    auto* row = new QHBoxLayout;
    row->setSpacing(8);
    m_icon = new QLabel(this);
    m_icon->setPixmap(Icons::icon(QStringLiteral("warning"), Theme::color(Theme::Color::BannerText)).pixmap(20, 20));
    m_text = new QLabel(this);
    m_text->setWordWrap(true);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text->setAccessibleName(tr("Error message"));
    m_detailButton = new QPushButton(tr("Details"), this);
    m_detailButton->setFlat(true);
    m_detailButton->setAccessibleName(tr("Show error details"));
    m_close = new QToolButton(this);
    m_close->setObjectName(QStringLiteral("FlatButton"));
    m_close->setIcon(Icons::icon(QStringLiteral("close"), Theme::color(Theme::Color::BannerText)));
    m_close->setAccessibleName(tr("Dismiss error"));
    m_close->setToolTip(tr("Dismiss"));
    row->addWidget(m_icon, 0, Qt::AlignTop);
    row->addWidget(m_text, 1);
    row->addWidget(m_detailButton, 0, Qt::AlignTop);
    row->addWidget(m_close, 0, Qt::AlignTop);
    outer->addLayout(row);
    m_detail = new QLabel(this);
    m_detail->setWordWrap(true);
    m_detail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_detail->setAccessibleName(tr("Error details"));
    m_detail->setVisible(false);
    outer->addWidget(m_detail);
    connect(m_detailButton, &QPushButton::clicked, this, &Banner::toggleDetail);
    connect(m_close, &QToolButton::clicked, this, [this] {
        hide();
        emit dismissed();
    });
    hide();
}

void Banner::showMessage(const QString& message, const QString& detail) {
    m_text->setText(message);
    m_detailText = detail;
    m_detail->setText(detail);
    m_detail->setVisible(false);
    m_detailButton->setVisible(!detail.isEmpty());
    m_detailButton->setText(tr("Details"));
    show();
}

QString Banner::message() const { return m_text->text(); }

void Banner::toggleDetail() {
    const bool open = !m_detail->isVisible();
    m_detail->setVisible(open);
    m_detailButton->setText(open ? tr("Hide details") : tr("Details"));
}
