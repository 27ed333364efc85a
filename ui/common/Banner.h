// Banner: an error shown at the top of the pane it concerns, with its detail one click away and a
// dismiss button. It never takes focus from what the user is typing.
#pragma once

#include <QFrame>

class QLabel;
class QToolButton;
class QPushButton;

class Banner : public QFrame {
    Q_OBJECT
public:
    explicit Banner(QWidget* parent = nullptr);

    void showMessage(const QString& message, const QString& detail = QString());
    QString message() const;
    QString detail() const { return m_detailText; }

signals:
    void dismissed();

private:
    void toggleDetail();

    QLabel* m_icon = nullptr;
    QLabel* m_text = nullptr;
    QLabel* m_detail = nullptr;
    QPushButton* m_detailButton = nullptr;
    QToolButton* m_close = nullptr;
    QString m_detailText;
};
