// Database, Statement and Transaction: pragmas at open, binding of every type, commit/rollback/nesting,
// several instances on one file (processes writing at once, crash repair only when alone).
#include <sys/wait.h>
#include <unistd.h>

#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/migrations.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;
using tessera::storage::test::query_text;

class TestDatabase : public QObject {
    Q_OBJECT

private slots:
    void opensWithPragmas() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "tessera.db");
        QVERIFY(db);
        QCOMPARE(query_text(*db, "PRAGMA journal_mode"), std::string("wal"));
        QCOMPARE(query_int(*db, "PRAGMA foreign_keys"), 1);
        QCOMPARE(query_int(*db, "PRAGMA busy_timeout"), 5000);
        QCOMPARE(query_int(*db, "PRAGMA synchronous"), 1);  // NORMAL
        QCOMPARE(query_int(*db, "PRAGMA user_version"), std::int64_t(latest_schema_version()));
        QVERIFY(latest_schema_version() >= 4);
        QVERIFY(db->sole_instance_at_open());
        QVERIFY(!db->read_only());
        QVERIFY(db->notice().empty());
        STORAGE_ASSIGN(std::string check, db->integrity_check());
        QCOMPARE(check, std::string("ok"));
    }

    void statementBindsEveryType() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "t.db");
        QVERIFY(db);
        STORAGE_OK(db->exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)"));
        STORAGE_ASSIGN(Statement ins, Statement::prepare(db->handle(), "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)"));
        // Text that would break SQL built by concatenation must arrive verbatim.
        const std::string nasty = "Robert'); DROP TABLE t;-- \"中文\" \xF0\x9F\x98\x80";
        const std::string bytes("\x00\x01\xFF\x00z", 5);
        STORAGE_OK(ins.bind_all(std::int64_t(-9007199254740993), 0.1 + 0.2, nasty,
                                BlobView{bytes.data(), bytes.size()}, std::optional<int>()));
        STORAGE_OK(ins.run());
        STORAGE_ASSIGN(Statement sel, Statement::prepare(db->handle(), "SELECT i, r, s, b, n, typeof(b) FROM t"));
        STORAGE_ASSIGN(bool row, sel.step());
        QVERIFY(row);
        QCOMPARE(sel.column_int(0), std::int64_t(-9007199254740993));
        QCOMPARE(sel.column_double(1), 0.1 + 0.2);
        QCOMPARE(sel.column_text(2), nasty);
        auto blob = sel.column_blob(3);
        QCOMPARE(std::string(blob.begin(), blob.end()), bytes);
        QVERIFY(sel.is_null(4));
        QVERIFY(!sel.column_opt_int(4).has_value());
        QCOMPARE(sel.column_text(5), std::string("blob"));
        STORAGE_ASSIGN(bool more, sel.step());
        QVERIFY(!more);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM sqlite_master WHERE name = 't'"), 1);
        // A statement error names the problem instead of crashing.
        auto badsql = Statement::prepare(db->handle(), "SELEC nonsense");
        QVERIFY(!badsql.ok());
        QVERIFY(badsql.error().message.find("syntax") != std::string::npos);
        QVERIFY(!ins.bind(9, 1).ok());  // out of range parameter
    }

    void transactionsCommitRollbackAndNest() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "t.db");
        QVERIFY(db);
        STORAGE_OK(db->exec("CREATE TABLE t (v INTEGER)"));
        {
            STORAGE_ASSIGN(Transaction tx, Transaction::begin(*db));
            STORAGE_OK(db->exec("INSERT INTO t VALUES (1)"));
        }  // dropped: rolled back
        QCOMPARE(query_int(*db, "SELECT count(*) FROM t"), 0);
        {
            STORAGE_ASSIGN(Transaction outer, Transaction::begin(*db));
            STORAGE_OK(db->exec("INSERT INTO t VALUES (1)"));
            {
                STORAGE_ASSIGN(Transaction inner, Transaction::begin(*db));
                STORAGE_OK(db->exec("INSERT INTO t VALUES (2)"));
            }  // inner undone only
            {
                STORAGE_ASSIGN(Transaction inner, Transaction::begin(*db));
                STORAGE_OK(db->exec("INSERT INTO t VALUES (3)"));
                STORAGE_OK(inner.commit());
            }
            STORAGE_OK(outer.commit());
        }
        QCOMPARE(query_int(*db, "SELECT group_concat(v) = '1,3' FROM t"), 1);
        QVERIFY(!db->exec("ROLLBACK").ok());  // nothing left open
    }

    void cachedStatementLeaseResets() {
        tessera::test::TempDir dir;
        auto db = open_db(dir / "t.db");
        QVERIFY(db);
        STORAGE_OK(db->exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3)"));
        {
            STORAGE_ASSIGN(auto stmt, db->cached("SELECT v FROM t ORDER BY v"));
            STORAGE_ASSIGN(bool row, stmt->step());
            QVERIFY(row);
            QCOMPARE(stmt->column_int(0), 1);
        }  // abandoned mid-way: must not keep a read transaction open
        auto other = open_db(dir / "t.db");
        QVERIFY(other);
        STORAGE_OK(other->exec("INSERT INTO t VALUES (4)"));
        // A TRUNCATE checkpoint fails (busy) while any reader still holds an older snapshot.
        STORAGE_OK(other->checkpoint_wal());
        STORAGE_ASSIGN(auto again, db->cached("SELECT v FROM t ORDER BY v"));
        STORAGE_ASSIGN(bool row, again->step());
        QVERIFY(row);
        QCOMPARE(again->column_int(0), 1);  // starts from the first row again
        QCOMPARE(query_int(*db, "SELECT count(*) FROM t"), 4);  // and sees the other connection's commit
    }

    void soleInstanceAndCrashRepair() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        Id reply_id = 0;
        {
            auto first = open_db(path);
            QVERIFY(first && first->sole_instance_at_open());
            ConversationRepository conversations(*first);
            STORAGE_ASSIGN(Conversation c, conversations.create("streaming"));
            STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*first, c.id, std::nullopt, "m"));
            STORAGE_OK(reply.append("partial"));
            STORAGE_OK(reply.checkpoint());
            reply_id = reply.message_id();
            // A second instance must not "repair" a reply that the first is still writing.
            auto second = open_db(path);
            QVERIFY(second && !second->sole_instance_at_open());
            QCOMPARE(second->recovered_replies(), 0);
            MessageRepository messages(*second);
            STORAGE_ASSIGN(Message m, messages.get(reply_id));
            QCOMPARE(m.status, MessageStatus::Streaming);
            QCOMPARE(m.content, std::string("partial"));
        }  // the reply's destructor marks it interrupted, as an orderly shutdown would
        {
            // Put it back to 'streaming', which is what a writer killed mid-reply leaves behind.
            auto db = open_db(path);
            QVERIFY(db);
            STORAGE_OK(db_raw_mark_streaming(*db, reply_id));
        }
        auto again = open_db(path);
        QVERIFY(again && again->sole_instance_at_open());
        QCOMPARE(again->recovered_replies(), 1);
        MessageRepository messages(*again);
        STORAGE_ASSIGN(Message m, messages.get(reply_id));
        QCOMPARE(m.status, MessageStatus::Interrupted);
        QCOMPARE(m.content, std::string("partial"));
    }

    void twoProcessesWriteAtOnce() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        {
            auto db = open_db(path);  // created (and migrated) once, before the writers race
            QVERIFY(db);
        }
        constexpr int k_writers = 3, k_messages = 120;
        std::vector<pid_t> children;
        for (int w = 0; w < k_writers; ++w) {
            pid_t pid = fork();
            QVERIFY(pid >= 0);
            if (pid == 0) {
                int failures = 0;
                {
                    auto db = open_db(path);
                    if (!db) _exit(10);
                    ConversationRepository conversations(*db);
                    MessageRepository messages(*db);
                    auto c = conversations.create("writer " + std::to_string(w));
                    if (!c.ok()) _exit(11);
                    std::optional<Id> parent;
                    for (int i = 0; i < k_messages; ++i) {
                        Message m;
                        m.conversation_id = c->id;
                        m.parent_id = parent;
                        m.role = i % 2 ? Role::Assistant : Role::User;
                        m.content = "writer " + std::to_string(w) + " message " + std::to_string(i);
                        auto added = messages.append(m);
                        if (!added.ok()) {
                            ++failures;
                            continue;
                        }
                        parent = added->id;
                    }
                }
                _exit(failures == 0 ? 0 : 12);
            }
            children.push_back(pid);
        }
        for (pid_t pid : children) {
            int status = 0;
            QCOMPARE(waitpid(pid, &status, 0), pid);
            QVERIFY(WIFEXITED(status));
            QCOMPARE(WEXITSTATUS(status), 0);
        }
        auto db = open_db(path);
        QVERIFY(db);
        STORAGE_ASSIGN(std::string check, db->integrity_check());
        QCOMPARE(check, std::string("ok"));
        QCOMPARE(query_int(*db, "SELECT count(*) FROM messages"), std::int64_t(k_writers * k_messages));
        ConversationRepository conversations(*db);
        MessageRepository messages(*db);
        STORAGE_ASSIGN(auto list, conversations.list());
        QCOMPARE(int(list.size()), k_writers);
        for (const auto& c : list) {
            STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
            QCOMPARE(int(thread.size()), k_messages);
            for (int i = 0; i < k_messages; ++i)
                QVERIFY(thread[std::size_t(i)].content.ends_with(" message " + std::to_string(i)));
        }
    }

private:
    // Puts a reply back to 'streaming' as a crashed writer would have left it.
    static tessera::Status db_raw_mark_streaming(Database& db, Id id) {
        TESSERA_ASSIGN(auto stmt, db.cached("UPDATE messages SET status = 'streaming' WHERE id = ?1"));
        TESSERA_TRY(stmt->bind(1, id));
        return stmt->run();
    }
};

QTEST_APPLESS_MAIN(TestDatabase)
#include "test_database.moc"
