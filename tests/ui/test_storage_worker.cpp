// StorageWorker against a database capped in size (a full disk): a message that does not fit is reported
// as "disk full", kept in order with the reply that answers it, and written with the next change once
// there is room again, so reopening the conversation shows everything that was on screen; a reply cut
// short by closing the app is kept as interrupted.
#include <QSignalSpy>
#include <QtTest>

#include "app/Application.h"
#include "app/StorageWorker.h"
#include "support/test_support.h"

using tessera::test::TempDir;

namespace {

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

ChatMessage userMessage(qint64 id, qint64 parent, const QString& text) {
    ChatMessage m;
    m.id = id;
    m.parentId = parent;
    m.role = ChatMessage::Role::User;
    m.content = text;
    return m;
}

ConversationSummary titled(const QString& title) {
    ConversationSummary s;
    s.title = title;
    return s;
}

}  // namespace

class TestStorageWorker : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { Application::registerMetaTypes(); }

    void fullDiskKeepsMessagesUntilThereIsRoom() {
        TempDir root;
        StorageWorker w;
        QSignalSpy failed(&w, &StorageWorker::failed);
        QSignalSpy assigned(&w, &StorageWorker::conversationIdAssigned);
        QSignalSpy loaded(&w, &StorageWorker::conversationLoaded);
        w.open(q(root / "db.sqlite3"), q(root / "data"), 250);
        QCOMPARE(failed.count(), 0);

        // A conversation whose one long message takes most of the room; deleting it later frees it.
        w.createConversation(-1, titled(QStringLiteral("filler")));
        w.appendUserMessage(-1, userMessage(-2, 0, QStringLiteral("filler ").repeated(50'000)), {}, {});
        QCOMPARE(failed.count(), 0);

        // The conversation the user is in: its question does not fit.
        w.createConversation(-10, titled(QStringLiteral("kept")));
        QCOMPARE(assigned.count(), 2);
        const qint64 kept = assigned.last().at(1).toLongLong();
        const QString question = QStringLiteral("question ").repeated(40'000);
        w.appendUserMessage(-10, userMessage(-11, 0, question), {}, {});
        QVERIFY(failed.count() >= 1);
        const AppError full = failed.last().at(0).value<AppError>();
        QCOMPARE(full.kind, AppError::Kind::DiskFull);
        QVERIFY2(full.message.contains(QStringLiteral("disk is full")), qPrintable(full.message));

        // The reply to it streams and ends while the disk is still full: kept in memory, not lost.
        w.beginReply(-10, -12, -11, QStringLiteral("/models/m"), SamplingSettings{});
        w.appendReply(-12, QStringLiteral("The "), QString());
        w.appendReply(-12, QStringLiteral("answer."), QStringLiteral("thought"));
        w.finishReply(-12, GenerationStats{10, 2, 0.5, 4.0, 0.0}, false, QString());

        // Room again, and the next change writes everything in order.
        const int failures = int(failed.count());
        w.deleteConversation(-1);
        w.appendUserMessage(-10, userMessage(-13, -12, QStringLiteral("and then?")), {}, {});
        QCOMPARE(failed.count(), failures);

        w.loadConversation(kept);
        QCOMPARE(loaded.count(), 1);
        const auto messages = loaded.first().at(1).value<QList<ChatMessage>>();
        QCOMPARE(messages.size(), 3);
        QCOMPARE(messages[0].content, question);
        QCOMPARE(messages[1].role, ChatMessage::Role::Assistant);
        QCOMPARE(messages[1].content, QStringLiteral("The answer."));
        QCOMPARE(messages[1].thinking, QStringLiteral("thought"));
        QCOMPARE(messages[1].state, ChatMessage::State::Complete);
        QCOMPARE(messages[1].parentId, messages[0].id);
        QCOMPARE(messages[2].content, QStringLiteral("and then?"));
        QCOMPARE(messages[2].parentId, messages[1].id);
        QCOMPARE(loaded.first().at(2).toLongLong(), messages[2].id);  // the newest is the shown leaf
    }

    void closingKeepsAnInterruptedReply() {
        TempDir root;
        const QString db = q(root / "db.sqlite3");
        {
            StorageWorker w;
            w.open(db, q(root / "data"), 0);
            w.createConversation(-1, titled(QStringLiteral("t")));
            w.appendUserMessage(-1, userMessage(-2, 0, QStringLiteral("hello")), {}, {});
            // A reply interrupted by closing the app is kept, as interrupted.
            w.beginReply(-1, -3, -2, QStringLiteral("/models/m"), SamplingSettings{});
            w.appendReply(-3, QStringLiteral("partial"), QString());
            w.close();
        }
        StorageWorker w;
        QSignalSpy listed(&w, &StorageWorker::conversationsListed);
        QSignalSpy loaded(&w, &StorageWorker::conversationLoaded);
        w.open(db, q(root / "data"), 0);
        QCOMPARE(listed.count(), 1);
        const auto list = listed.first().at(0).value<QList<ConversationSummary>>();
        QCOMPARE(list.size(), 1);
        w.loadConversation(list.first().id);
        const auto messages = loaded.first().at(1).value<QList<ChatMessage>>();
        QCOMPARE(messages.size(), 2);
        QCOMPARE(messages[1].content, QStringLiteral("partial"));
        QCOMPARE(messages[1].state, ChatMessage::State::Stopped);
    }
};

QTEST_MAIN(TestStorageWorker)
#include "test_storage_worker.moc"
