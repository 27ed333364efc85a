// Theme: our light and dark palettes on the Fusion style, the accent colour, the font size and the
// stylesheet (assets/style.qss with @colour@ placeholders). Views ask Theme for colours so they repaint
// correctly when the user switches the theme at run time.
#pragma once

#include <QColor>
#include <QString>

class QApplication;

enum class ThemeMode { System, Light, Dark };

class Theme {
public:
    enum class Color { Accent, AccentText, UserBubble, CodeBackground, CodeBorder, Muted, Banner, BannerBorder,
                       BannerText, Notice, SidebarBackground, Selection, Keyword, String, Comment, Number };

    // Applies palette, font and stylesheet to the application. fontPoints 0 keeps the system size.
    static void apply(QApplication* app, ThemeMode mode, int fontPoints);
    static bool isDark();
    static QColor color(Color c);
    static ThemeMode mode();
    // Colour name for HTML in rich text ("#rrggbb").
    static QString hex(Color c) { return color(c).name(); }
};
