// Icons: recolour the SVG text (stroke="currentColor"), then render it for several sizes.
#include "ui/common/Icons.h"

#include <QApplication>
#include <QFile>
#include <QPainter>
#include <QPalette>
#include <QPixmap>
#include <QSvgRenderer>

QIcon Icons::icon(const QString& name, const QColor& color) {
    QFile f(QStringLiteral(":/tessera/icons/%1.svg").arg(name));
    if (!f.open(QIODevice::ReadOnly)) return {};
    const QByteArray svg = f.readAll();
    auto render = [&](const QColor& c) {
        QByteArray text = svg;
        text.replace("currentColor", c.name().toLatin1());
        QSvgRenderer renderer(text);
        QIcon out;
        const qreal dpr = qApp ? qApp->devicePixelRatio() : 1.0;
        for (int size : {16, 20, 24, 32}) {
            QPixmap pm(QSize(size, size) * dpr);
            pm.setDevicePixelRatio(dpr);
            pm.fill(Qt::transparent);
            QPainter p(&pm);
            p.setRenderHint(QPainter::Antialiasing);
            renderer.render(&p, QRectF(0, 0, size, size));
            p.end();
            out.addPixmap(pm);
        }
        return out;
    };
    const QPalette pal = QApplication::palette();
    const QColor normal = color.isValid() ? color : pal.color(QPalette::ButtonText);
    QIcon icon = render(normal);
    // Disabled state drawn by us: Fusion's automatic greying is too faint on the dark palette.
    const QIcon disabled = render(pal.color(QPalette::Disabled, QPalette::ButtonText));
    for (int size : {16, 20, 24, 32}) icon.addPixmap(disabled.pixmap(size, size), QIcon::Disabled);
    return icon;
}
