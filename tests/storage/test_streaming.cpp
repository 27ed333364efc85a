// StreamingReply: checkpoints are written no more often than the interval yet never lag further behind,
// another connection sees each checkpoint, and finishing, stopping, failing and abandoning a reply each
// leave the documented status with the answer and the reasoning kept apart.
#include <chrono>
#include <thread>

#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;
using Clock = std::chrono::steady_clock;

class TestStreaming : public QObject {
    Q_OBJECT

    tessera::test::TempDir* m_dir = nullptr;
    std::unique_ptr<Database> m_db;
    Id m_conversation = 0;
    Id m_question = 0;

private slots:
    void init() {
        m_dir = new tessera::test::TempDir();
        m_db = open_db(*m_dir / "tessera.db");
        QVERIFY(m_db);
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("stream"));
        m_conversation = c.id;
        Message q;
        q.conversation_id = c.id;
        q.content = "Tell me a story.";
        STORAGE_ASSIGN(Message added, messages.append(q));
        m_question = added.id;
    }
    void cleanup() {
        m_db.reset();
        delete m_dir;
    }

    void checkpointsAreThrottledButTimely() {
        // Count the writes of the reply's text with a trigger local to this connection.
        STORAGE_OK(m_db->exec("CREATE TEMP TABLE writes (n INTEGER); INSERT INTO writes VALUES (0);"
                              "CREATE TEMP TRIGGER count_writes AFTER UPDATE OF content ON main.messages "
                              "BEGIN UPDATE writes SET n = n + 1; END;"));
        auto reader = open_db(*m_dir / "tessera.db");
        QVERIFY(reader);
        StreamingOptions options;
        options.checkpoint_interval = std::chrono::milliseconds(100);
        SamplingParams sampling;
        sampling.temperature = 0.7;
        STORAGE_ASSIGN(StreamingReply reply,
                       StreamingReply::begin(*m_db, m_conversation, m_question, "deepseek-r1-1.5b", sampling, options));
        MessageRepository reader_messages(*reader);
        STORAGE_ASSIGN(Message initial, reader_messages.get(reply.message_id()));
        QCOMPARE(initial.status, MessageStatus::Streaming);  // visible at once
        QCOMPARE(initial.sampling.temperature, std::optional<double>(0.7));

        const auto start = Clock::now();
        int tokens = 0;
        auto last_seen_change = Clock::now();
        std::string last_seen;
        std::chrono::milliseconds worst_lag{0};
        while (Clock::now() - start < std::chrono::milliseconds(1000)) {
            const int t = tokens++;
            STORAGE_OK(reply.append("tok" + std::to_string(t) + " ", t % 3 ? "" : "hmm "));
            STORAGE_ASSIGN(Message seen, reader_messages.get(reply.message_id()));
            // What another connection sees is always a prefix of what was generated...
            QVERIFY(reply.content().starts_with(seen.content));
            QVERIFY(reply.thinking().starts_with(seen.thinking));
            if (seen.content != last_seen) {
                last_seen = seen.content;
                last_seen_change = Clock::now();
            }
            // ...and never older than the interval (plus scheduling slack on a loaded machine).
            worst_lag = std::max(worst_lag, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_seen_change));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        const std::int64_t writes = query_int(*m_db, "SELECT n FROM temp.writes");
        qInfo("%d tokens in %lld ms: %lld checkpoints, worst visible lag %lld ms", tokens,
              static_cast<long long>(elapsed.count()), static_cast<long long>(writes),
              static_cast<long long>(worst_lag.count()));
        QVERIFY(tokens > 50);
        QVERIFY(writes >= 2);
        QVERIFY(writes <= elapsed.count() / 100 + 1);  // at most one per interval
        QVERIFY(worst_lag < std::chrono::milliseconds(400));

        GenerationStats stats;
        stats.prompt_tokens = 12;
        stats.completion_tokens = tokens;
        stats.decode_tokens_per_s = 42.5;
        stats.thinking_ms = 300;
        STORAGE_OK(reply.finish(stats));
        STORAGE_ASSIGN(Message done, reader_messages.get(reply.message_id()));
        QCOMPARE(done.status, MessageStatus::Complete);
        QCOMPARE(done.content, reply.content());
        QCOMPARE(done.thinking, reply.thinking());
        QVERIFY(done.content.find("hmm") == std::string::npos);  // reasoning never leaks into the answer
        QCOMPARE(done.stats, stats);
        QVERIFY(done.finished_at.has_value());
        QCOMPARE(done.parent_id, std::optional<Id>(m_question));
        QCOMPARE(done.model, std::string("deepseek-r1-1.5b"));
        QVERIFY(!reply.append("more").ok());  // finished replies take no more text
    }

    void stopFailAndAbandon() {
        MessageRepository messages(*m_db);
        Id stopped = 0, failed = 0, abandoned = 0;
        {
            STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, m_conversation, m_question, "m"));
            STORAGE_OK(reply.append("half an ans"));
            STORAGE_OK(reply.stop());
            stopped = reply.message_id();
        }
        {
            STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, m_conversation, m_question, "m"));
            STORAGE_OK(reply.append("partial", "thinking"));
            STORAGE_OK(reply.stop("CUDA error: out of memory"));
            failed = reply.message_id();
        }
        {
            STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, m_conversation, m_question, "m"));
            STORAGE_OK(reply.append("never finished"));
            abandoned = reply.message_id();
        }  // dropped without finish: the destructor saves the text as interrupted
        STORAGE_ASSIGN(Message s, messages.get(stopped));
        QCOMPARE(s.status, MessageStatus::Interrupted);
        QCOMPARE(s.content, std::string("half an ans"));
        STORAGE_ASSIGN(Message f, messages.get(failed));
        QCOMPARE(f.status, MessageStatus::Error);
        QCOMPARE(f.error, std::string("CUDA error: out of memory"));
        QCOMPARE(f.thinking, std::string("thinking"));
        STORAGE_ASSIGN(Message a, messages.get(abandoned));
        QCOMPARE(a.status, MessageStatus::Interrupted);
        QCOMPARE(a.content, std::string("never finished"));
        // All three are regenerations of one question: siblings in creation order.
        STORAGE_ASSIGN(BranchInfo info, messages.branch_info(abandoned));
        QCOMPARE(info.count, 3);
        QCOMPARE(info.index, 2);
    }

    void replyDeletedWhileStreaming() {
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, m_conversation, m_question, "m"));
        STORAGE_OK(reply.append("text"));
        STORAGE_OK(messages.remove(reply.message_id()));  // the user deleted it mid-stream
        auto checkpoint = reply.checkpoint();
        QVERIFY(!checkpoint.ok());
        QVERIFY(checkpoint.error().message.find("deleted") != std::string::npos);
        QVERIFY(!reply.finish().ok());
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM messages"), 1);
    }

    void beginOnMissingConversationFails() {
        auto reply = StreamingReply::begin(*m_db, 424242, std::nullopt, "m");
        QVERIFY(!reply.ok());
        QCOMPARE(reply.error().code, tessera::ErrorCode::InvalidArgument);  // foreign key constraint
    }
};

QTEST_APPLESS_MAIN(TestStreaming)
#include "test_streaming.moc"
