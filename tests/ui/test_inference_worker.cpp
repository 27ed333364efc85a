// InferenceWorker on its own thread with the FaultyEngine, observed through QSignalSpy: coalesced
// streaming, stop, a failure mid-reply, a model that fails to load, least-recently-used unloading, and
// the context notice.
#include <QSignalSpy>
#include <QThread>
#include <QtTest>

#include "app/Application.h"
#include "app/FaultyEngine.h"
#include "app/InferenceWorker.h"

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

    void startWorker(FaultyEngine::Options options) {
        m_worker = new InferenceWorker(std::make_unique<FaultyEngine>(options));
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
    }

    void streamsCoalescedOnItsThread() {
        FaultyEngine::Options o;
        o.reply = QStringLiteral("one two three four five six seven eight nine ten");
        o.thinking = QStringLiteral("let me think");
        o.repeatReply = 200;
        o.tokenDelayMicros = 50;
        startWorker(o);
        QSignalSpy text(m_worker, &InferenceWorker::textDelta);
        QSignalSpy thinking(m_worker, &InferenceWorker::thinkingDelta);
        QSignalSpy finished(m_worker, &InferenceWorker::finished);
        QSignalSpy loaded(m_worker, &InferenceWorker::modelLoaded);
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
        QSignalSpy text(m_worker, &InferenceWorker::textDelta);
        QSignalSpy finished(m_worker, &InferenceWorker::finished);
        QSignalSpy failed(m_worker, &InferenceWorker::failed);
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

    void failureMidReply() {
        FaultyEngine::Options o;
        o.failAfterTokens = 5;
        o.repeatReply = 10;
        startWorker(o);
        QSignalSpy text(m_worker, &InferenceWorker::textDelta);
        QSignalSpy failed(m_worker, &InferenceWorker::failed);
        QSignalSpy finished(m_worker, &InferenceWorker::finished);
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
        QSignalSpy failed(m_worker, &InferenceWorker::failed);
        QSignalSpy probed(m_worker, &InferenceWorker::probed);
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
        QSignalSpy unloaded(m_worker, &InferenceWorker::modelUnloaded);
        QSignalSpy finished(m_worker, &InferenceWorker::finished);
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

    void saysWhatTheContextDropped() {
        FaultyEngine::Options o;
        o.contextLength = 64;
        startWorker(o);
        QSignalSpy trimmed(m_worker, &InferenceWorker::contextTrimmed);
        QSignalSpy finished(m_worker, &InferenceWorker::finished);
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
