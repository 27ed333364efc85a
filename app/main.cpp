// Entry point of the Tessera desktop app: identity, theme, the composition root, and the optional demo
// script used by tools/screenshots.sh.
#include <QApplication>
#include <QCommandLineParser>

#include "app/AppInfo.h"
#include "app/AppPaths.h"
#include "app/Application.h"
#include "app/DemoDriver.h"
#include "app/FaultyEngine.h"
#include "app/Settings.h"
#include "ui/common/Theme.h"
#include "ui/main/MainWindow.h"

int main(int argc, char** argv) {
    QApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("tessera"));
    QApplication::setApplicationDisplayName(QStringLiteral("Tessera"));
    QApplication::setOrganizationDomain(QStringLiteral("tessera.io"));
    QApplication::setDesktopFileName(AppInfo::applicationId());
    QApplication::setApplicationVersion(AppInfo::version());

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Local DeepSeek models on the desktop"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption root(QStringLiteral("root"), QStringLiteral("Keep data, settings and cache under <dir>."),
                            QStringLiteral("dir"));
    QCommandLineOption demo(QStringLiteral("demo-script"),
                            QStringLiteral("Run a demo script (screenshots): see app/DemoDriver.h."),
                            QStringLiteral("file"));
    // Screenshots of the Images pane without a Janus-Pro checkpoint: the test engine draws seeded patterns
    // (folders named *janus*) with real per-step progress.
    QCommandLineOption testEngine(QStringLiteral("test-engine"),
                                  QStringLiteral("Use the built-in test engine instead of models (screenshots)."));
    parser.addOption(root);
    parser.addOption(demo);
    parser.addOption(testEngine);
    parser.process(app);

    ApplicationOptions options;
    options.root = parser.value(root);
    if (parser.isSet(testEngine)) {
        options.engineFactory = [] {
            FaultyEngine::Options o;
            o.imageSteps = 576;
            o.imageStepMicros = 2500;
            o.imageSize = 384;
            return std::unique_ptr<ChatEngine>(new FaultyEngine(o));
        };
    }
    {
        // The theme goes first: icons are drawn in the palette's colours when the widgets are made.
        Settings early(AppPaths(options.root).settingsFile());
        Theme::apply(&app, early.theme(), early.fontPointSize());
    }
    Application tessera(options);
    tessera.window()->show();
    DemoDriver driver(&tessera);
    if (parser.isSet(demo) && !driver.start(parser.value(demo))) return 2;
    return QApplication::exec();
}
