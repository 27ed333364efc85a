// The whole app, offscreen: the composition root with a real tiny fixture model on the CPU (type, stream,
// stop, regenerate, edit, restart and find the conversation again), a pasted picture reaching the model and
// the saved conversation, the event loop's latency while the worker streams at full speed, and the banners
// for a bad model folder, a failure mid-reply and a full disk.
#include <QApplication>
#include <QClipboard>
#include <QElapsedTimer>
#include <QMimeData>
#include <QMutex>
#include <QSettings>
#include <QSignalSpy>
#include <QTextDocument>
#include <QtTest>

#include <fstream>

#include "app/Application.h"
#include "app/ChatController.h"
#include "app/FaultyEngine.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "app/StorageWorker.h"
#include "support/test_support.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/chat/MessageBubble.h"
#include "ui/chat/MessageModel.h"
#include "ui/chat/MessageView.h"
#include "ui/common/Banner.h"
#include "ui/common/MarkdownView.h"
#include "ui/main/ConversationListModel.h"
#include "ui/main/FirstRunGuide.h"
#include "ui/main/MainWindow.h"
#include "ui/models/ModelListModel.h"

using tessera::test::TempDir;

namespace {

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

// Settings the app reads at start: the model folders, and small replies (temperature 0: greedy, so the
// fixture model's replies are the same on every run).
void configure(const TempDir& root, const QStringList& folders, int maxTokens, double temperature = 0.8) {
    QSettings s(q(root.path()) + QStringLiteral("/config/tessera.conf"), QSettings::IniFormat);
    s.setValue(QStringLiteral("models/folders"), folders);
    s.setValue(QStringLiteral("sampling/maxNewTokens"), maxTokens);
    s.setValue(QStringLiteral("sampling/temperature"), temperature);
    s.sync();
}

std::unique_ptr<Application> startApp(const TempDir& root, std::function<std::unique_ptr<ChatEngine>()> engine = {},
                                      qint64 maxPages = 0) {
    ApplicationOptions o;
    o.root = q(root.path());
    o.engineFactory = std::move(engine);
    o.maxDatabasePages = maxPages;
    auto app = std::make_unique<Application>(o);
    app->window()->show();
    QApplication::setActiveWindow(app->window());
    return app;
}

bool waitScanned(Application& app) {
    QSignalSpy scanned(app.models(), &ModelController::scanned);
    return scanned.wait(20000) && !app.window()->chatPane()->currentModel().isEmpty();
}

bool waitReply(Application& app, int ms = 60000) {
    if (!app.chat()->isGenerating()) return true;
    QSignalSpy done(app.chat(), &ChatController::generationFinished);
    return done.wait(ms);
}

struct Line {
    int role;
    QString content;
    bool operator==(const Line&) const = default;
};
QList<Line> shown(Application& app) {
    QList<Line> out;
    for (const auto& m : app.chat()->messages()->visibleMessages()) out << Line{int(m.role), m.content};
    return out;
}

std::unique_ptr<ChatEngine> faulty(FaultyEngine::Options o) { return std::make_unique<FaultyEngine>(o); }

// What the engine was given: the pixels of every image of every request, read from its files when the
// request arrived (generate runs on the inference thread, hence the lock).
struct SeenImages {
    QMutex lock;
    QList<QList<QImage>> requests;
};

class RecordingEngine : public FaultyEngine {
public:
    RecordingEngine(Options o, std::shared_ptr<SeenImages> seen)
        : FaultyEngine(std::move(o)), m_seen(std::move(seen)) {}
    std::optional<AppError> generate(const QString& path, const EngineRequest& request,
                                     const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                     GenerationStats* stats) override {
        QList<QImage> images;
        for (const EngineTurn& t : request.turns) {
            for (const QString& file : t.imagePaths) images << QImage(file);
        }
        {
            QMutexLocker locker(&m_seen->lock);
            m_seen->requests << images;
        }
        return FaultyEngine::generate(path, request, callbacks, cancel, stats);
    }

private:
    std::shared_ptr<SeenImages> m_seen;
};

// An odd-sized picture whose every pixel differs from its neighbours, so any resampling or crop shows.
QImage testPicture() {
    QImage image(37, 23, QImage::Format_RGB32);
    for (int y = 0; y < image.height(); ++y) {
        for (int x = 0; x < image.width(); ++x)
            image.setPixel(x, y, qRgb(x * 7 % 256, y * 11 % 256, (x * y + 5) % 256));
    }
    return image;
}

bool samePixels(const QImage& a, const QImage& b) {
    const auto rgb = QImage::Format_RGB888;
    return !a.isNull() && a.convertToFormat(rgb) == b.convertToFormat(rgb);
}

}  // namespace

class TestAppEndToEnd : public QObject {
    Q_OBJECT
private slots:
    void firstRunShowsTheGuide() {
        TempDir root;
        auto app = startApp(root, [] { return faulty({}); });
        QVERIFY(app->window()->chatPane()->isFirstRun());
        QVERIFY(app->window()->chatPane()->guide()->isVisible());
    }

    void chatWithTheFixtureModel() {
        TempDir root;
        const QString fixture = q(tessera::test::fixture("llm/llama_st_single"));
        // Greedy: with sampling, the random-weight fixture often ends a reply (EOS) within the first
        // streamed update, before Stop can act; its greedy replies run to the token limit.
        configure(root, {fixture}, 48, 0.0);
        QList<Line> before;
        qint64 conversation = 0;
        {
            auto app = startApp(root);
            QVERIFY(waitScanned(*app));
            ChatPane* pane = app->window()->chatPane();
            QVERIFY(!pane->isFirstRun());
            // Type a prompt and press Enter.
            pane->composer()->editor()->setFocus();
            QTest::keyClicks(pane->composer()->editor(), QStringLiteral("Hello there"));
            QTest::keyClick(pane->composer()->editor(), Qt::Key_Return);
            QVERIFY(app->chat()->isGenerating());
            QCOMPARE(pane->composer()->text(), QString());
            MessageModel* messages = app->chat()->messages();
            QCOMPARE(messages->rowCount(), 2);
            QVERIFY(waitReply(*app));
            const ChatMessage reply = messages->visibleMessages().last();
            QVERIFY(!reply.content.isEmpty() || !reply.thinking.isEmpty());
            QCOMPARE(reply.state, ChatMessage::State::Complete);
            // The status bar names where the loaded model runs (no CUDA in this build: the CPU).
            QVERIFY2(app->window()->statusText().startsWith(QStringLiteral("CPU · llama_st_single")),
                     qPrintable(app->window()->statusText()));
            // The view shows what the model holds.
            MessageBubble* bubble = pane->messageView()->bubbleAt(1);
            QVERIFY(bubble);
            QCOMPARE(bubble->answerView()->markdownSource(), reply.content);

            // Stop mid-reply: a long reply, stopped as soon as text appears.
            app->chat()->setConversationSettings(QString(), SamplingSettings{0.0, 0.95, 3000});
            bool stoppedWhileStreaming = false;
            auto c = connect(messages, &QAbstractItemModel::dataChanged, app.get(), [&] {
                const ChatMessage last = messages->visibleMessages().last();
                if (app->chat()->isGenerating() && !last.content.isEmpty() && !stoppedWhileStreaming) {
                    stoppedWhileStreaming = true;
                    QTest::keyClick(app->window(), Qt::Key_Escape);
                }
            });
            app->chat()->send(QStringLiteral("Tell me a long story"));
            QVERIFY(waitReply(*app));
            disconnect(c);
            QVERIFY(stoppedWhileStreaming);
            const ChatMessage stopped = messages->visibleMessages().last();
            QCOMPARE(stopped.state, ChatMessage::State::Stopped);
            QVERIFY(stopped.generatedTokens < 3000);

            // Regenerate the stopped reply: a second version appears.
            app->chat()->setConversationSettings(QString(), SamplingSettings{0.0, 0.95, 24});
            app->chat()->regenerate(stopped.id);
            QVERIFY(waitReply(*app));
            QCOMPARE(messages->rowCount(), 4);
            QCOMPARE(messages->index(3).data(MessageModel::BranchCountRole).toInt(), 2);
            QCOMPARE(messages->index(3).data(MessageModel::BranchIndexRole).toInt(), 2);

            // Edit the first message and resend: a new branch from the top.
            app->chat()->editAndResend(messages->idAt(0), QStringLiteral("Hello again"));
            QVERIFY(waitReply(*app));
            QCOMPARE(messages->rowCount(), 2);
            QCOMPARE(messages->index(0).data(MessageModel::ContentRole).toString(), QStringLiteral("Hello again"));
            QCOMPARE(messages->index(0).data(MessageModel::BranchCountRole).toInt(), 2);
            before = shown(*app);
            conversation = app->chat()->currentConversation();
            QVERIFY(conversation > 0);  // storage has answered with the real id
        }
        // Restart on the same data folder: the conversation is there with the same content.
        auto app = startApp(root);
        ConversationListModel* list = app->chat()->conversations();
        QTRY_VERIFY_WITH_TIMEOUT(list->rowOf(conversation) >= 0, 10000);
        QCOMPARE(list->index(list->rowOf(conversation)).data().toString(), QStringLiteral("Hello there"));
        QSignalSpy opened(app->chat(), &ChatController::conversationOpened);
        app->chat()->openConversation(conversation);
        QVERIFY(opened.wait(10000));
        QCOMPARE(shown(*app), before);
        // The older branch is still there.
        app->chat()->switchBranch(app->chat()->messages()->idAt(0), -1);
        QCOMPARE(app->chat()->messages()->index(0).data(MessageModel::ContentRole).toString(), QStringLiteral("Hello there"));
        QCOMPARE(app->chat()->messages()->rowCount(), 4);
    }

    void pastedPictureReachesTheModelAndIsSaved() {
        TempDir root;
        std::filesystem::create_directories(root / "models");
        configure(root, {q(root / "models")}, 16);
        FaultyEngine::Options o;
        o.seesImages = true;
        auto seen = std::make_shared<SeenImages>();
        const QImage picture = testPicture();
        qint64 conversation = 0;
        // A pasted picture's file left from an earlier run goes at start; one from today stays.
        const QString scratch = q(root.path()) + QStringLiteral("/cache/pasted");
        QVERIFY(QDir().mkpath(scratch));
        for (const QString& name : {QStringLiteral("pasted-old.png"), QStringLiteral("pasted-new.png")}) {
            QVERIFY(picture.save(scratch + QLatin1Char('/') + name));
        }
        {
            QFile old(scratch + QStringLiteral("/pasted-old.png"));
            QVERIFY(old.open(QIODevice::ReadWrite));
            const QDateTime threeDaysAgo = QDateTime::currentDateTime().addDays(-3);
            QVERIFY(old.setFileTime(threeDaysAgo, QFileDevice::FileModificationTime));
        }
        {
            auto app = startApp(root, [o, seen] { return std::make_unique<RecordingEngine>(o, seen); });
            QCOMPARE(app->paths().cacheDir() + QStringLiteral("/pasted"), scratch);
            QVERIFY(!QFileInfo::exists(scratch + QStringLiteral("/pasted-old.png")));
            QVERIFY(QFileInfo::exists(scratch + QStringLiteral("/pasted-new.png")));
            QVERIFY(waitScanned(*app));
            Composer* composer = app->window()->chatPane()->composer();
            QTRY_VERIFY_WITH_TIMEOUT(composer->imagesAllowed(), 10000);
            // Paste a picture from the clipboard (image data, no file) with Ctrl+V, then ask about it.
            auto* mime = new QMimeData;
            mime->setImageData(picture);
            QGuiApplication::clipboard()->setMimeData(mime);
            composer->editor()->setFocus();
            QTest::keyClick(composer->editor(), Qt::Key_V, Qt::ControlModifier);
            QCOMPARE(composer->images().size(), 1);
            QVERIFY(composer->images().first().sourcePath.isEmpty());
            QTest::keyClicks(composer->editor(), QStringLiteral("What is in this picture?"));
            QTest::keyClick(composer->editor(), Qt::Key_Return);
            QVERIFY(app->chat()->isGenerating());
            QVERIFY(waitReply(*app));
            {
                QMutexLocker locker(&seen->lock);
                QCOMPARE(seen->requests.size(), 1);
                QCOMPARE(seen->requests.first().size(), 1);
                QVERIFY2(samePixels(seen->requests.first().first(), picture), "the model got other pixels");
            }
            // The message on screen holds it, and so does the next request of the conversation.
            const QStringList files = app->chat()->messages()->visibleMessages().first().imagePaths;
            QCOMPARE(files.size(), 1);
            QVERIFY2(files.first().startsWith(scratch + QLatin1Char('/')), qPrintable(files.first()));
            app->chat()->send(QStringLiteral("And the colours?"));
            QVERIFY(waitReply(*app));
            {
                QMutexLocker locker(&seen->lock);
                QCOMPARE(seen->requests.size(), 2);
                QCOMPARE(seen->requests.last().size(), 1);
                QVERIFY(samePixels(seen->requests.last().first(), picture));
            }
            QTRY_VERIFY_WITH_TIMEOUT(app->chat()->currentConversation() > 0, 10000);
            conversation = app->chat()->currentConversation();
        }
        // Restart: the saved conversation still has the picture, and a regenerated reply sends it again.
        auto app = startApp(root, [o, seen] { return std::make_unique<RecordingEngine>(o, seen); });
        QVERIFY(waitScanned(*app));
        ConversationListModel* list = app->chat()->conversations();
        QTRY_VERIFY_WITH_TIMEOUT(list->rowOf(conversation) >= 0, 10000);
        QSignalSpy opened(app->chat(), &ChatController::conversationOpened);
        app->chat()->openConversation(conversation);
        QVERIFY(opened.wait(10000));
        const QList<ChatMessage> messages = app->chat()->messages()->visibleMessages();
        QCOMPARE(messages.size(), 4);
        QCOMPARE(messages.first().content, QStringLiteral("What is in this picture?"));
        QCOMPARE(messages.first().imagePaths.size(), 1);
        QVERIFY2(samePixels(QImage(messages.first().imagePaths.first()), picture),
                 "the saved picture differs");
        app->chat()->regenerate(messages.at(1).id);
        QVERIFY(waitReply(*app));
        {
            QMutexLocker locker(&seen->lock);
            QCOMPARE(seen->requests.size(), 3);
            QCOMPARE(seen->requests.last().size(), 1);
            QVERIFY(samePixels(seen->requests.last().first(), picture));
        }
        // An edited question keeps the picture, for the model and in what is saved.
        app->chat()->editAndResend(messages.first().id, QStringLiteral("Which animal is this?"));
        QVERIFY(waitReply(*app));
        {
            QMutexLocker locker(&seen->lock);
            QCOMPARE(seen->requests.size(), 4);
            QCOMPARE(seen->requests.last().size(), 1);
            QVERIFY(samePixels(seen->requests.last().first(), picture));
        }
        app.reset();
        app = startApp(root, [o, seen] { return std::make_unique<RecordingEngine>(o, seen); });
        QTRY_VERIFY_WITH_TIMEOUT(app->chat()->conversations()->rowOf(conversation) >= 0, 10000);
        QSignalSpy reopened(app->chat(), &ChatController::conversationOpened);
        app->chat()->openConversation(conversation);
        QVERIFY(reopened.wait(10000));
        const ChatMessage edited = app->chat()->messages()->visibleMessages().first();
        QCOMPARE(edited.content, QStringLiteral("Which animal is this?"));
        QCOMPARE(edited.imagePaths.size(), 1);
        QVERIFY2(samePixels(QImage(edited.imagePaths.first()), picture), "the edited copy lost its picture");
    }

    void staysResponsiveWhileStreaming() {
        TempDir root;
        configure(root, {q(root / "models")}, 1'000'000);
        std::filesystem::create_directories(root / "models");
        FaultyEngine::Options o;
        o.reply = QStringLiteral("Streaming at full speed, paragraph after paragraph of text.\n\n");
        o.repeatReply = 1'000'000;
        o.tokenDelayMicros = 100;  // 10,000 tokens/s: far beyond what a real model does here
        auto app = startApp(root, [o] { return faulty(o); });
        QVERIFY(waitScanned(*app));
        app->chat()->send(QStringLiteral("go"));
        QVERIFY(app->chat()->isGenerating());
        QElapsedTimer clock;
        clock.start();
        qint64 last = clock.elapsed();
        qint64 worst = 0;
        int ticks = 0;
        QTimer probe;
        probe.setInterval(5);
        connect(&probe, &QTimer::timeout, this, [&] {
            const qint64 now = clock.elapsed();
            worst = std::max(worst, now - last);
            last = now;
            ++ticks;
        });
        probe.start();
        QTest::qWait(2000);
        probe.stop();
        const int length = int(app->chat()->messages()->visibleMessages().last().content.size());
        // What was on screen: the reply's view rendered the stream as it came (it was not just skipped).
        MessageBubble* bubble = app->window()->chatPane()->messageView()->bubbleAt(1);
        QVERIFY(bubble);
        const int rendered = bubble->answerView()->document()->characterCount();
        app->chat()->stop();
        QVERIFY(waitReply(*app, 10000));
        QVERIFY2(length > 10000, qPrintable(QString::number(length)));  // it really streamed
        QVERIFY2(rendered > length / 2, qPrintable(QStringLiteral("%1 of %2").arg(rendered).arg(length)));
        qInfo("event loop: longest gap %lld ms over %d ticks, %d characters streamed", worst, ticks, length);
        QVERIFY2(worst <= 50, qPrintable(QStringLiteral("longest gap %1 ms over %2 ticks").arg(worst).arg(ticks)));
    }

    void badModelFolderShowsABanner() {
        TempDir root;
        std::filesystem::create_directories(root / "models" / "broken");
        tessera::test::write_file(root / "models" / "broken" / "config.json", "{\"architectures\": [\"Nope\"]}");
        configure(root, {q(root / "models")}, 16);
        auto app = startApp(root);
        QSignalSpy scanned(app->models(), &ModelController::scanned);
        QVERIFY(scanned.wait(20000));
        ChatPane* pane = app->window()->chatPane();
        pane->composer()->setText(QStringLiteral("a draft I typed"));
        QSignalSpy failed(app->models(), &ModelController::loadFailed);
        app->models()->load(q(root / "models" / "broken"));
        QVERIFY(failed.wait(20000));
        QVERIFY(pane->banner()->isVisible());
        QVERIFY(!pane->banner()->message().isEmpty());
        QCOMPARE(pane->composer()->text(), QStringLiteral("a draft I typed"));
        // The manager says what is wrong in place.
        QCOMPARE(app->models()->models()->entryAt(0).kind, ModelEntry::Kind::Broken);
    }

    void failureMidReplyShowsABanner() {
        TempDir root;
        std::filesystem::create_directories(root / "models");
        configure(root, {q(root / "models")}, 64);
        FaultyEngine::Options o;
        o.failAfterTokens = 4;
        auto app = startApp(root, [o] { return faulty(o); });
        QVERIFY(waitScanned(*app));
        app->chat()->send(QStringLiteral("hi"));
        QVERIFY(waitReply(*app));
        ChatPane* pane = app->window()->chatPane();
        QVERIFY(pane->banner()->isVisible());
        QVERIFY(pane->banner()->message().contains(QStringLiteral("failed")));
        QCOMPARE(app->chat()->messages()->visibleMessages().last().state, ChatMessage::State::Failed);
        // The app goes on: the next message is accepted.
        app->chat()->send(QStringLiteral("again"));
        QVERIFY(waitReply(*app));
        QCOMPARE(app->chat()->messages()->rowCount(), 4);
    }

    void fullDiskShowsABanner() {
        TempDir root;
        std::filesystem::create_directories(root / "models");
        configure(root, {q(root / "models")}, 16);
        FaultyEngine::Options o;
        o.contextLength = 1 << 20;  // the long message fits the model: the disk is the only thing full
        auto app = startApp(root, [o] { return faulty(o); }, 120);
        QVERIFY(waitScanned(*app));
        ChatPane* pane = app->window()->chatPane();
        // The storage worker's own report, received on this thread (a queued connection, no race with it).
        QList<AppError> storageErrors;
        connect(app->storage(), &StorageWorker::failed, this, [&](const AppError& e) { storageErrors << e; });
        const QString question = QStringLiteral("word ").repeated(120'000);
        app->chat()->send(question);
        pane->composer()->setText(QStringLiteral("a draft typed meanwhile"));
        QTRY_VERIFY_WITH_TIMEOUT(!storageErrors.isEmpty(), 20000);
        QCOMPARE(storageErrors.first().kind, AppError::Kind::DiskFull);
        QVERIFY(storageErrors.first().message.contains(QStringLiteral("disk is full")));
        QTRY_VERIFY_WITH_TIMEOUT(pane->banner()->isVisible(), 20000);
        QVERIFY2(pane->banner()->message().contains(QStringLiteral("disk is full")), qPrintable(pane->banner()->message()));
        QVERIFY(waitReply(*app));
        // Nothing typed is lost: the message on screen, the draft in the composer.
        QCOMPARE(app->chat()->messages()->visibleMessages().first().content, question);
        QCOMPARE(pane->composer()->text(), QStringLiteral("a draft typed meanwhile"));
        // The app goes on: the next message is answered.
        app->chat()->send(QStringLiteral("still there?"));
        QVERIFY(waitReply(*app));
        QCOMPARE(app->chat()->messages()->rowCount(), 4);
        QCOMPARE(app->chat()->messages()->visibleMessages().last().state, ChatMessage::State::Complete);
    }
};

QTEST_MAIN(TestAppEndToEnd)
#include "test_app_end_to_end.moc"
