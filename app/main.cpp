// Entry point of the Tessera desktop app.
#include <QApplication>

#include "ui/main/MainWindow.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Tessera"));
    QApplication::setOrganizationDomain(QStringLiteral("tessera.io"));
    QApplication::setDesktopFileName(QStringLiteral("io.tessera.Tessera"));
    QApplication::setApplicationVersion(QStringLiteral(TESSERA_VERSION));
    MainWindow window;
    window.show();
    return QApplication::exec();
}
