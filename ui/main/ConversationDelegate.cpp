// ConversationDelegate: header + title (+ snippet) painting and the matching size hints.
#include "ui/main/ConversationDelegate.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QPainter>
#include <QTextDocument>

#include "ui/common/Theme.h"
#include "ui/main/ConversationListModel.h"

bool ConversationDelegate::startsSection(const QModelIndex& index) {
    if (index.row() == 0) return true;
    const QModelIndex prev = index.sibling(index.row() - 1, 0);
    return prev.data(ConversationListModel::SectionRole) != index.data(ConversationListModel::SectionRole);
}

int ConversationDelegate::headerHeight(const QStyleOptionViewItem& option) {
    return option.fontMetrics.height() + 16;
}

QSize ConversationDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const {
    int h = option.fontMetrics.height() + 16;
    if (!index.data(ConversationListModel::SnippetRole).toString().isEmpty()) h += option.fontMetrics.height() * 2 + 4;
    if (startsSection(index)) h += headerHeight(option);
    return QSize(200, h);
}

void ConversationDelegate::updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option,
                                                const QModelIndex& index) const {
    QRect r = option.rect;
    if (startsSection(index)) r.setTop(r.top() + headerHeight(option));
    editor->setGeometry(r.adjusted(8, 2, -8, -2));
}

void ConversationDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const {
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    QRect r = option.rect;
    const QPalette& pal = option.palette;
    if (startsSection(index)) {
        QRect header = r;
        header.setHeight(headerHeight(option));
        QFont f = option.font;
        f.setPointSizeF(f.pointSizeF() * 0.85);
        f.setBold(true);
        painter->setFont(f);
        painter->setPen(Theme::color(Theme::Color::Muted));
        painter->drawText(header.adjusted(12, 6, -8, 0), Qt::AlignLeft | Qt::AlignVCenter,
                          index.data(ConversationListModel::SectionRole).toString().toUpper());
        r.setTop(header.bottom() + 1);
    }
    const QRect item = r.adjusted(4, 1, -4, -1);
    if (option.state & QStyle::State_Selected) {
        painter->setPen(Qt::NoPen);
        painter->setBrush(Theme::color(Theme::Color::Selection));
        painter->drawRoundedRect(item, 8, 8);
    } else if (option.state & QStyle::State_MouseOver) {
        painter->setPen(Qt::NoPen);
        QColor hover = Theme::color(Theme::Color::Selection);
        hover.setAlpha(120);
        painter->setBrush(hover);
        painter->drawRoundedRect(item, 8, 8);
    }
    if (option.state & QStyle::State_HasFocus) {
        painter->setPen(QPen(Theme::color(Theme::Color::Accent), 1.5));
        painter->setBrush(Qt::NoBrush);
        painter->drawRoundedRect(QRectF(item).adjusted(0.75, 0.75, -0.75, -0.75), 8, 8);
    }
    painter->setFont(option.font);
    painter->setPen(pal.color(QPalette::Text));
    const QRect textRect = item.adjusted(10, 6, -10, -6);
    const QString title = option.fontMetrics.elidedText(index.data(Qt::DisplayRole).toString(), Qt::ElideRight,
                                                        textRect.width());
    painter->drawText(textRect.left(), textRect.top() + option.fontMetrics.ascent(), title);
    const QString snippet = index.data(ConversationListModel::SnippetRole).toString();
    if (!snippet.isEmpty()) {
        QTextDocument doc;
        doc.setDefaultFont(option.font);
        doc.setTextWidth(textRect.width());
        doc.setHtml(QStringLiteral("<span style='color:%1'>%2</span>").arg(Theme::hex(Theme::Color::Muted), snippet));
        painter->translate(textRect.left(), textRect.top() + option.fontMetrics.height() + 2);
        const QRect clip(0, 0, textRect.width(), option.fontMetrics.height() * 2 + 2);
        painter->setClipRect(clip);
        QAbstractTextDocumentLayout::PaintContext ctx;
        ctx.clip = clip;
        doc.documentLayout()->draw(painter, ctx);
    }
    painter->restore();
}
