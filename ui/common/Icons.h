// Icons: our SVGs from the resource file, drawn in the colour of the active palette so the same file
// serves light and dark, rendered at the screen's device pixel ratio so they stay crisp at 1.5×.
#pragma once

#include <QColor>
#include <QIcon>
#include <QString>

class Icons {
public:
    // name: a file in assets/icons without ".svg". color invalid: the palette's text colour.
    static QIcon icon(const QString& name, const QColor& color = QColor());
};
