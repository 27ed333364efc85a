// DemoDriver: runs a small script against the live app, for tools/screenshots.sh. One command a line:
//   wait-models             until the model folders are scanned
//   load-default            load the default model and wait for it
//   new-chat | type TEXT | send | stop | wait-reply | regenerate
//   wait MS                 let the event loop run
//   resize W H | tab N | open-models | close-dialogs | expand-thinking
//   images-prompt TEXT | images-count N | images-seed N (the Images pane's fields; the seed is then kept)
//   images-generate         start a batch;  wait-images-step N: until its token step N;  wait-images: its end
//   images-select N         select the Nth image of the latest batch
//   screenshot FILE.png     grabs the main window (or the model manager with "screenshot-models")
//   quit
// Lines starting with # are comments. A command that cannot be done ends the app with exit code 3.
#pragma once

#include <QObject>
#include <QStringList>

class Application;

class DemoDriver : public QObject {
    Q_OBJECT
public:
    explicit DemoDriver(Application* app, QObject* parent = nullptr);
    bool start(const QString& scriptPath);

private:
    void next();
    void fail(const QString& why);

    Application* m_app;
    QStringList m_lines;
    int m_pc = 0;
};
