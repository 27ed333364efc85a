// ConversationDelegate: draws a sidebar row, with its date-group header above the first row of each group
// and, for search hits, the matched snippet under the title.
#pragma once

#include <QStyledItemDelegate>

class ConversationDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    void updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option,
                              const QModelIndex& index) const override;

private:
    static bool startsSection(const QModelIndex& index);
    static int headerHeight(const QStyleOptionViewItem& option);
};
