// Theme: palettes and stylesheet. "Follow system" reads the palette the platform gave Qt before ours
// replaced it (Qt 6.4 has no colour-scheme hint), judging dark by the window colour's lightness.
#include "ui/common/Theme.h"

#include <QApplication>
#include <QFile>
#include <QFont>
#include <QPalette>
#include <QStyleFactory>

namespace {

bool g_dark = false;
ThemeMode g_mode = ThemeMode::System;
bool g_haveSystemPalette = false;
QPalette g_systemPalette;
QFont g_systemFont;

QPalette lightPalette() {
    QPalette p;
    p.setColor(QPalette::Window, QColor(0xf6, 0xf7, 0xf9));
    p.setColor(QPalette::WindowText, QColor(0x1f, 0x23, 0x28));
    p.setColor(QPalette::Base, QColor(0xff, 0xff, 0xff));
    p.setColor(QPalette::AlternateBase, QColor(0xf0, 0xf2, 0xf5));
    p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xff));
    p.setColor(QPalette::ToolTipText, QColor(0x1f, 0x23, 0x28));
    p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x91, 0x9a));
    p.setColor(QPalette::Text, QColor(0x1f, 0x23, 0x28));
    p.setColor(QPalette::Button, QColor(0xf0, 0xf2, 0xf5));
    p.setColor(QPalette::ButtonText, QColor(0x1f, 0x23, 0x28));
    p.setColor(QPalette::BrightText, Qt::white);
    p.setColor(QPalette::Highlight, QColor(0x2f, 0x6f, 0xeb));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Link, QColor(0x1f, 0x5f, 0xd6));
    p.setColor(QPalette::Mid, QColor(0xd0, 0xd5, 0xdc));
    p.setColor(QPalette::Midlight, QColor(0xe4, 0xe7, 0xeb));
    p.setColor(QPalette::Dark, QColor(0xa0, 0xa6, 0xae));
    p.setColor(QPalette::Disabled, QPalette::Text, QColor(0xa0, 0xa6, 0xae));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0xa0, 0xa6, 0xae));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0xa0, 0xa6, 0xae));
    return p;
}

QPalette darkPalette() {
    QPalette p;
    p.setColor(QPalette::Window, QColor(0x1c, 0x1e, 0x22));
    p.setColor(QPalette::WindowText, QColor(0xe6, 0xe8, 0xeb));
    p.setColor(QPalette::Base, QColor(0x24, 0x27, 0x2c));
    p.setColor(QPalette::AlternateBase, QColor(0x2b, 0x2e, 0x34));
    p.setColor(QPalette::ToolTipBase, QColor(0x2b, 0x2e, 0x34));
    p.setColor(QPalette::ToolTipText, QColor(0xe6, 0xe8, 0xeb));
    p.setColor(QPalette::PlaceholderText, QColor(0x8b, 0x92, 0x9c));
    p.setColor(QPalette::Text, QColor(0xe6, 0xe8, 0xeb));
    p.setColor(QPalette::Button, QColor(0x2b, 0x2e, 0x34));
    p.setColor(QPalette::ButtonText, QColor(0xe6, 0xe8, 0xeb));
    p.setColor(QPalette::BrightText, Qt::white);
    p.setColor(QPalette::Highlight, QColor(0x4c, 0x8d, 0xff));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Link, QColor(0x7c, 0xac, 0xff));
    p.setColor(QPalette::Mid, QColor(0x3a, 0x3e, 0x45));
    p.setColor(QPalette::Midlight, QColor(0x33, 0x36, 0x3c));
    p.setColor(QPalette::Dark, QColor(0x14, 0x15, 0x18));
    p.setColor(QPalette::Disabled, QPalette::Text, QColor(0x6b, 0x71, 0x7a));
    p.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(0x6b, 0x71, 0x7a));
    p.setColor(QPalette::Disabled, QPalette::WindowText, QColor(0x6b, 0x71, 0x7a));
    return p;
}

QString loadStyleSheet() {
    QFile f(QStringLiteral(":/tessera/style.qss"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    QString qss = QString::fromUtf8(f.readAll());
    const std::pair<const char*, Theme::Color> keys[] = {
        {"@accent@", Theme::Color::Accent},       {"@accentText@", Theme::Color::AccentText},
        {"@userBubble@", Theme::Color::UserBubble}, {"@code@", Theme::Color::CodeBackground},
        {"@codeBorder@", Theme::Color::CodeBorder}, {"@muted@", Theme::Color::Muted},
        {"@banner@", Theme::Color::Banner},       {"@bannerBorder@", Theme::Color::BannerBorder},
        {"@bannerText@", Theme::Color::BannerText}, {"@notice@", Theme::Color::Notice},
        {"@sidebar@", Theme::Color::SidebarBackground}, {"@selection@", Theme::Color::Selection},
    };
    for (const auto& [key, c] : keys) qss.replace(QLatin1String(key), Theme::hex(c));
    const QPalette pal = QApplication::palette();
    qss.replace(QLatin1String("@base@"), pal.color(QPalette::Base).name());
    qss.replace(QLatin1String("@window@"), pal.color(QPalette::Window).name());
    qss.replace(QLatin1String("@text@"), pal.color(QPalette::Text).name());
    qss.replace(QLatin1String("@mid@"), pal.color(QPalette::Mid).name());
    return qss;
}

}  // namespace

void Theme::apply(QApplication* app, ThemeMode mode, int fontPoints) {
    if (!g_haveSystemPalette) {
        g_systemPalette = QApplication::palette();
        g_systemFont = QApplication::font();
        g_haveSystemPalette = true;
        app->setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    }
    g_mode = mode;
    g_dark = mode == ThemeMode::Dark ||
             (mode == ThemeMode::System && g_systemPalette.color(QPalette::Window).lightness() < 128);
    QApplication::setPalette(g_dark ? darkPalette() : lightPalette());
    QFont font = g_systemFont;
    if (fontPoints > 0) font.setPointSize(fontPoints);
    QApplication::setFont(font);
    app->setStyleSheet(loadStyleSheet());
}

bool Theme::isDark() { return g_dark; }

ThemeMode Theme::mode() { return g_mode; }

QColor Theme::color(Color c) {
    const bool d = g_dark;
    switch (c) {
    case Color::Accent: return d ? QColor(0x4c, 0x8d, 0xff) : QColor(0x2f, 0x6f, 0xeb);
    case Color::AccentText: return Qt::white;
    case Color::UserBubble: return d ? QColor(0x2a, 0x3a, 0x57) : QColor(0xe3, 0xed, 0xfd);
    case Color::CodeBackground: return d ? QColor(0x17, 0x19, 0x1d) : QColor(0xf3, 0xf4, 0xf6);
    case Color::CodeBorder: return d ? QColor(0x3a, 0x3e, 0x45) : QColor(0xdd, 0xe1, 0xe6);
    case Color::Muted: return d ? QColor(0x9a, 0xa1, 0xab) : QColor(0x6a, 0x71, 0x7a);
    case Color::Banner: return d ? QColor(0x4a, 0x22, 0x22) : QColor(0xfd, 0xec, 0xec);
    case Color::BannerBorder: return d ? QColor(0x8a, 0x3a, 0x3a) : QColor(0xf0, 0xb4, 0xb4);
    case Color::BannerText: return d ? QColor(0xff, 0xd6, 0xd6) : QColor(0x8a, 0x1c, 0x1c);
    case Color::Notice: return d ? QColor(0x3d, 0x36, 0x1e) : QColor(0xfd, 0xf6, 0xdd);
    case Color::SidebarBackground: return d ? QColor(0x17, 0x19, 0x1d) : QColor(0xee, 0xf0, 0xf3);
    case Color::Selection: return d ? QColor(0x2f, 0x35, 0x40) : QColor(0xdd, 0xe3, 0xec);
    case Color::Keyword: return d ? QColor(0xc6, 0x92, 0xff) : QColor(0x8a, 0x2b, 0xc2);
    case Color::String: return d ? QColor(0x98, 0xd1, 0x8a) : QColor(0x2a, 0x7a, 0x2a);
    case Color::Comment: return d ? QColor(0x7f, 0x87, 0x91) : QColor(0x7a, 0x80, 0x88);
    case Color::Number: return d ? QColor(0xff, 0xb8, 0x6b) : QColor(0xb3, 0x5a, 0x00);
    }
    return {};
}
