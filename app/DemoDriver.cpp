// DemoDriver: a tiny interpreter; each command either finishes at once (next line on the next event loop
// turn) or waits for a signal from the app.
#include "app/DemoDriver.h"

#include <QApplication>
#include <QDialog>
#include <QListView>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QFile>
#include <QTabWidget>
#include <QTextStream>
#include <QTimer>

#include <memory>

#include "app/Application.h"
#include "app/ChatController.h"
#include "app/ImageGenController.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "app/Settings.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/chat/MessageBubble.h"
#include "ui/chat/MessageModel.h"
#include "ui/chat/MessageView.h"
#include "ui/imagegen/GalleryModel.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/main/MainWindow.h"
#include "ui/models/ModelListModel.h"
#include "ui/models/ModelManagerDialog.h"

DemoDriver::DemoDriver(Application* app, QObject* parent) : QObject(parent), m_app(app) {}

bool DemoDriver::start(const QString& scriptPath) {
    QFile f(scriptPath);
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text)) {
        qWarning("demo script %s cannot be read", qPrintable(scriptPath));
        return false;
    }
    QTextStream in(&f);
    while (!in.atEnd()) {
        const QString line = in.readLine().trimmed();
        if (!line.isEmpty() && !line.startsWith(QLatin1Char('#'))) m_lines << line;
    }
    QTimer::singleShot(300, this, &DemoDriver::next);
    return true;
}

void DemoDriver::fail(const QString& why) {
    qWarning("demo script line %d: %s", m_pc, qPrintable(why));
    QCoreApplication::exit(3);
}

void DemoDriver::next() {
    if (m_pc >= m_lines.size()) return;
    const QString line = m_lines[m_pc++];
    const QString cmd = line.section(QLatin1Char(' '), 0, 0);
    const QString arg = line.section(QLatin1Char(' '), 1);
    MainWindow* w = m_app->window();
    auto proceed = [this] { QTimer::singleShot(0, this, &DemoDriver::next); };
    if (cmd == QLatin1String("wait-models")) {
        if (m_app->models()->models()->rowCount() > 0) return proceed();
        auto c = std::make_shared<QMetaObject::Connection>();
        *c = connect(m_app->models(), &ModelController::scanned, this, [this, c] {
            disconnect(*c);
            next();
        });
    } else if (cmd == QLatin1String("load-default")) {
        const QString path = w->chatPane()->currentModel();
        if (path.isEmpty()) return fail(QStringLiteral("no model to load"));
        if (m_app->models()->loadedModels().contains(path)) return proceed();
        auto c = std::make_shared<QMetaObject::Connection>();
        *c = connect(m_app->models(), &ModelController::modelLoaded, this, [this, c] {
            disconnect(*c);
            next();
        });
        m_app->models()->load(path);
    } else if (cmd == QLatin1String("new-chat")) {
        m_app->chat()->newChat();
        proceed();
    } else if (cmd == QLatin1String("type")) {
        w->chatPane()->composer()->setText(arg);
        proceed();
    } else if (cmd == QLatin1String("send")) {
        auto* composer = w->chatPane()->composer();
        m_app->chat()->send(composer->text().trimmed(), composer->images());
        proceed();
    } else if (cmd == QLatin1String("regenerate")) {
        const qint64 leaf = m_app->chat()->messages()->leafId();
        m_app->chat()->regenerate(leaf);
        proceed();
    } else if (cmd == QLatin1String("stop")) {
        m_app->chat()->stop();
        proceed();
    } else if (cmd == QLatin1String("wait-reply")) {
        if (!m_app->chat()->isGenerating()) return proceed();
        auto c = std::make_shared<QMetaObject::Connection>();
        *c = connect(m_app->chat(), &ChatController::generationFinished, this, [this, c] {
            disconnect(*c);
            QTimer::singleShot(100, this, &DemoDriver::next);
        });
    } else if (cmd == QLatin1String("wait")) {
        QTimer::singleShot(arg.toInt(), this, &DemoDriver::next);
    } else if (cmd == QLatin1String("resize")) {
        w->resize(arg.section(QLatin1Char(' '), 0, 0).toInt(), arg.section(QLatin1Char(' '), 1, 1).toInt());
        proceed();
    } else if (cmd == QLatin1String("tab")) {
        w->panes()->setCurrentIndex(arg.toInt());
        proceed();
    } else if (cmd == QLatin1String("expand-thinking")) {
        MessageView* view = w->chatPane()->messageView();
        for (int i = 0; i < view->bubbleCount(); ++i) view->bubbleAt(i)->setThinkingExpanded(true);
        proceed();
    } else if (cmd == QLatin1String("open-models")) {
        m_app->models()->showManager();
        if (m_app->models()->models()->rowCount() > 0) m_app->models()->dialog()->selectPath(m_app->models()->models()->entryAt(0).path);
        proceed();
    } else if (cmd == QLatin1String("select-model")) {
        m_app->models()->dialog()->selectPath(arg);
        proceed();
    } else if (cmd == QLatin1String("close-dialogs")) {
        for (QWidget* top : QApplication::topLevelWidgets()) {
            if (auto* d = qobject_cast<QDialog*>(top)) d->hide();
        }
        proceed();
    } else if (cmd == QLatin1String("screenshot") || cmd == QLatin1String("screenshot-models")) {
        QWidget* target = cmd == QLatin1String("screenshot") ? static_cast<QWidget*>(w)
                                                            : static_cast<QWidget*>(m_app->models()->dialog());
        if (!target->grab().save(arg)) return fail(QStringLiteral("cannot write %1").arg(arg));
        proceed();
    } else if (cmd == QLatin1String("images-prompt")) {
        w->imagePane()->promptEdit()->setPlainText(arg);
        proceed();
    } else if (cmd == QLatin1String("images-count")) {
        w->imagePane()->countBox()->setValue(arg.toInt());
        proceed();
    } else if (cmd == QLatin1String("images-seed")) {
        ImageGenParams p = w->imagePane()->params();
        p.seed = arg.toLongLong();
        w->imagePane()->setParams(p);
        proceed();
    } else if (cmd == QLatin1String("images-generate")) {
        w->imagePane()->generateButton()->click();
        if (!m_app->images()->isGenerating()) return fail(QStringLiteral("image generation did not start"));
        proceed();
    } else if (cmd == QLatin1String("wait-images-step")) {
        if (!m_app->images()->isGenerating()) return fail(QStringLiteral("no image generation running"));
        const int wanted = arg.toInt();
        auto c = std::make_shared<QMetaObject::Connection>();
        *c = connect(m_app->inference(), &InferenceWorker::imageProgress, this,
                     [this, c, wanted](quint64, ImageGenPhase phase, int step, int, double) {
                         if (phase == ImageGenPhase::Prompt || (phase == ImageGenPhase::Tokens && step < wanted)) return;
                         disconnect(*c);
                         next();
                     });
    } else if (cmd == QLatin1String("wait-images")) {
        if (!m_app->images()->isGenerating()) return proceed();
        auto c = std::make_shared<QMetaObject::Connection>();
        *c = connect(m_app->images(), &ImageGenController::generationFinished, this, [this, c] {
            disconnect(*c);
            QTimer::singleShot(100, this, &DemoDriver::next);
        });
    } else if (cmd == QLatin1String("images-select")) {
        ImageGenPane* pane = w->imagePane();
        const int row = arg.toInt();
        if (row < 0 || row >= pane->results()->rowCount()) return fail(QStringLiteral("no image %1").arg(row));
        pane->resultsView()->setCurrentIndex(pane->results()->index(row));
        proceed();
    } else if (cmd == QLatin1String("quit")) {
        QCoreApplication::quit();
    } else {
        fail(QStringLiteral("unknown command %1").arg(cmd));
    }
}
