// InferenceWorker on its own thread with the FaultyEngine, observed through QSignalSpy: coalesced
// streaming, stop, a failure mid-reply, a model that fails to load, least-recently-used unloading, the
// device models run on, and the context notice.
#include <QSignalSpy>
#include <QThread>
#include <QtTest>

#include "app/Application.h"
#include "app/FaultyEngine.h"
#include "app/InferenceWorker.h"

// The worker's signals, re-emitted on the test's thread through queued connections. Spies on the relay
// neither race the worker thread nor miss a signal sent before wait() starts: delivery waits for the
// test's event loop, as it does for the app's controllers.
class Relay : public QObject {
    Q_OBJECT
public:
    explicit Relay(InferenceWorker* worker) {
        const auto q = Qt::QueuedConnection;
        connect(worker, &InferenceWorker::deviceInfo, this, &Relay::deviceInfo, q);
        connect(worker, &InferenceWorker::probed, this, &Relay::probed, q);
        connect(worker, &InferenceWorker::modelLoaded, this, &Relay::modelLoaded, q);
        connect(worker, &InferenceWorker::modelUnloaded, this, &Relay::modelUnloaded, q);
        connect(worker, &InferenceWorker::contextTrimmed, this, &Relay::contextTrimmed, q);
        connect(worker, &InferenceWorker::textDelta, this, &Relay::textDelta, q);
        connect(worker, &InferenceWorker::thinkingDelta, this, &Relay::thinkingDelta, q);
        connect(worker, &InferenceWorker::failed, this, &Relay::failed, q);
        connect(worker, &InferenceWorker::finished, this, &Relay::finished, q);
    }
signals:
    void deviceInfo(const QString& device, qint64 capacityBytes);
    void probed(quint64 requestId, const QList<ModelEntry>& entries);
    void modelLoaded(quint64 requestId, const QString& path);
    void modelUnloaded(const QString& path, const QString& reason);
    void contextTrimmed(quint64 requestId, int droppedTurns, int contextLength);
    void textDelta(quint64 requestId, const QString& text);
    void thinkingDelta(quint64 requestId, const QString& text);
    void failed(quint64 requestId, const AppError& error);
    void finished(quint64 requestId, bool stopped);
};

namespace {
EngineRequest ask(const QString& text) {
    EngineRequest r;
    r.turns.append(EngineTurn{ChatMessage::Role::User, text, {}});
    return r;
}
}  // namespace

class TestInferenceWorker : public QObject {
    Q_OBJECT
    QThread m_thread;
    InferenceWorker* m_worker = nullptr;
    std::unique_ptr<Relay> m_relay;

    void startWorker(FaultyEngine::Options options) {
        m_worker = new InferenceWorker(std::make_unique<FaultyEngine>(options));
        m_relay = std::make_unique<Relay>(m_worker);
        m_worker->moveToThread(&m_thread);
        connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
        m_thread.start();
    }
    template <class F>
    void post(F&& f) {
        QMetaObject::invokeMethod(m_worker, std::forward<F>(f), Qt::QueuedConnection);
    }

private slots:
    void initTestCase() { Application::registerMetaTypes(); }
    void cleanup() {
        m_thread.quit();
        m_thread.wait();
        m_worker = nullptr;
        m_relay.reset();
    }

    void streamsCoalescedOnItsThread() {
        FaultyEngine::Options o;
        o.reply = QStringLiteral("one two three four five six seven eight nine ten");
        o.thinking = QStringLiteral("let me think");
        o.repeatReply = 200;
        o.tokenDelayMicros = 50;
        startWorker(o);
        QSignalSpy text(m_relay.get(), &Relay::textDelta);
        QSignalSpy thinking(m_relay.get(), &Relay::thinkingDelta);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        QSignalSpy loaded(m_relay.get(), &Relay::modelLoaded);
        const quint64 id = InferenceWorker::nextRequestId();
        post([w = m_worker, id] { w->generate(id, QStringLiteral("/models/a"), ask(QStringLiteral("hi"))); });
        QVERIFY(finished.wait(20000));
        QCOMPARE(loaded.count(), 1);
        QCOMPARE(finished.first().at(0).toULongLong(), id);
        QCOMPARE(finished.first().at(1).toBool(), false);
        QString all;
        for (const auto& args : text) {
            QCOMPARE(args.at(0).toULongLong(), id);
            all += args.at(1).toString();
        }
        QString expected;
        for (int i = 0; i < 200; ++i) expected += o.reply;
        QCOMPARE(all, expected);
        QCOMPARE(thinking.first().at(1).toString(), QStringLiteral("let me think"));
        // 2,000 pieces in about 0.1-1 s must arrive as a few dozen updates, not one signal per token.
        QVERIFY2(text.count() < 200, qPrintable(QString::number(text.count())));
        QVERIFY(QThread::currentThread() != m_worker->thread());
    }

    void stopKeepsPartialText() {
        FaultyEngine::Options o;
        o.repeatReply = 100000;
        o.tokenDelayMicros = 100;
        startWorker(o);
        QSignalSpy text(m_relay.get(), &Relay::textDelta);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        QSignalSpy failed(m_relay.get(), &Relay::failed);
        const quint64 id = InferenceWorker::nextRequestId();
        post([w = m_worker, id] { w->generate(id, QStringLiteral("/models/a"), ask(QStringLiteral("go"))); });
        QVERIFY(text.wait(10000));
        m_worker->cancel(id);  // from the GUI thread: only the atomic flag
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.first().at(1).toBool(), true);
        QCOMPARE(failed.count(), 0);
        // A request queued behind a cancelled id is not run.
        const quint64 early = InferenceWorker::nextRequestId();
        m_worker->cancel(early);
        post([w = m_worker, early] { w->generate(early, QStringLiteral("/models/a"), ask(QStringLiteral("x"))); });
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.last().at(0).toULongLong(), early);
        QCOMPARE(finished.last().at(1).toBool(), true);
    }

    void cancelIsPerRequest() {
        FaultyEngine::Options o;
        o.repeatReply = 100000;
        o.tokenDelayMicros = 100;
        startWorker(o);
        QSignalSpy text(m_relay.get(), &Relay::textDelta);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        const quint64 reply = InferenceWorker::nextRequestId();
        post([w = m_worker, reply] { w->generate(reply, QStringLiteral("/models/a"), ask(QStringLiteral("go"))); });
        QVERIFY(text.wait(10000));
        // A later request (an image batch queued behind the reply) is cancelled: the reply goes on.
        const quint64 later = InferenceWorker::nextRequestId();
        m_worker->cancel(later);
        const qsizetype before = text.count();
        QTRY_VERIFY_WITH_TIMEOUT(text.count() > before + 2, 10000);
        QCOMPARE(finished.count(), 0);
        m_worker->cancel(reply);
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.first().at(0).toULongLong(), reply);
        QCOMPARE(finished.first().at(1).toBool(), true);
    }

    void failureMidReply() {
        FaultyEngine::Options o;
        o.failAfterTokens = 5;
        o.repeatReply = 10;
        startWorker(o);
        QSignalSpy text(m_relay.get(), &Relay::textDelta);
        QSignalSpy failed(m_relay.get(), &Relay::failed);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        const quint64 id = InferenceWorker::nextRequestId();
        post([w = m_worker, id] { w->generate(id, QStringLiteral("/models/a"), ask(QStringLiteral("hi"))); });
        QVERIFY(finished.wait(10000));
        QCOMPARE(failed.count(), 1);
        const AppError e = failed.first().at(1).value<AppError>();
        QVERIFY(e.detail.contains(QStringLiteral("fault")));
        QCOMPARE(finished.first().at(1).toBool(), false);
        QVERIFY(text.count() >= 1);  // what came before the failure was delivered
    }

    void badModelFailsToLoad() {
        FaultyEngine::Options o;
        o.failLoadSubstring = QStringLiteral("broken");
        startWorker(o);
        QSignalSpy failed(m_relay.get(), &Relay::failed);
        QSignalSpy probed(m_relay.get(), &Relay::probed);
        const quint64 id = InferenceWorker::nextRequestId();
        post([w = m_worker, id] { w->loadModel(id, QStringLiteral("/models/broken")); });
        QVERIFY(failed.wait(10000));
        QCOMPARE(failed.first().at(1).value<AppError>().kind, AppError::Kind::BadModel);
        post([w = m_worker] { w->probe(1, {QStringLiteral("/models/broken"), QStringLiteral("/models/ok")}); });
        QVERIFY(probed.wait(10000));
        const auto entries = probed.first().at(1).value<QList<ModelEntry>>();
        QCOMPARE(entries.size(), 2);
        QCOMPARE(entries[0].kind, ModelEntry::Kind::Broken);
        QVERIFY(!entries[0].error.isEmpty());
        QCOMPARE(entries[1].kind, ModelEntry::Kind::Chat);
    }

    void unloadsLeastRecentlyUsed() {
        FaultyEngine::Options o;
        o.modelBytes = 100;
        startWorker(o);
        QSignalSpy unloaded(m_relay.get(), &Relay::modelUnloaded);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        post([w = m_worker] { w->setMemoryBudget(250); });
        for (const char* name : {"/m/a", "/m/b"}) {
            post([w = m_worker, p = QString::fromLatin1(name)] { w->loadModel(InferenceWorker::nextRequestId(), p); });
        }
        // Use a so that b becomes the least recently used.
        post([w = m_worker] { w->generate(InferenceWorker::nextRequestId(), QStringLiteral("/m/a"), ask(QStringLiteral("hi"))); });
        post([w = m_worker] { w->loadModel(InferenceWorker::nextRequestId(), QStringLiteral("/m/c")); });
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 4, 10000);
        QCOMPARE(unloaded.count(), 1);
        QCOMPARE(unloaded.first().at(0).toString(), QStringLiteral("/m/b"));
        QVERIFY(unloaded.first().at(1).toString().contains(QStringLiteral("to make room")));
    }

    void reportsWhereModelsRun() {
        FaultyEngine::Options o;
        o.loadedDevice = QStringLiteral("CUDA · Test GPU · 8 GiB");
        startWorker(o);
        QSignalSpy device(m_relay.get(), &Relay::deviceInfo);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        post([w = m_worker] { w->start(); });
        post([w = m_worker] { w->loadModel(InferenceWorker::nextRequestId(), QStringLiteral("/m/a")); });
        QVERIFY(finished.wait(10000));
        QCOMPARE(device.count(), 2);
        QCOMPARE(device.at(0).at(0).toString(), QStringLiteral("CPU (test engine)"));  // nothing loaded yet
        QCOMPARE(device.at(1).at(0).toString(), QStringLiteral("CUDA · Test GPU · 8 GiB"));
        QCOMPARE(device.at(1).at(1).toLongLong(), o.capacity);
        post([w = m_worker] { w->unloadModel(QStringLiteral("/m/a")); });
        QTRY_COMPARE(device.count(), 3);
        QCOMPARE(device.at(2).at(0).toString(), QStringLiteral("CPU (test engine)"));
    }

    void saysWhatTheContextDropped() {
        FaultyEngine::Options o;
        o.contextLength = 64;
        startWorker(o);
        QSignalSpy trimmed(m_relay.get(), &Relay::contextTrimmed);
        QSignalSpy finished(m_relay.get(), &Relay::finished);
        EngineRequest r;
        r.sampling.maxNewTokens = 16;
        for (int i = 0; i < 6; ++i) {
            r.turns.append(EngineTurn{ChatMessage::Role::User, QString(40, QLatin1Char('u')), {}});
            r.turns.append(EngineTurn{ChatMessage::Role::Assistant, QString(40, QLatin1Char('a')), {}});
        }
        r.turns.append(EngineTurn{ChatMessage::Role::User, QStringLiteral("last"), {}});
        const quint64 id = InferenceWorker::nextRequestId();
        post([w = m_worker, id, r] { w->generate(id, QStringLiteral("/m/a"), r); });
        QVERIFY(finished.wait(10000));
        QCOMPARE(trimmed.count(), 1);
        QVERIFY(trimmed.first().at(1).toInt() >= 2);
        QCOMPARE(trimmed.first().at(2).toInt(), 64);
    }
};

QTEST_MAIN(TestInferenceWorker)
#include "test_inference_worker.moc"
