// Migrations: from every older schema version, one step at a time and all at once, the data survives,
// the resulting schema is exactly that of a fresh database, and search covers the old messages. A step
// that fails leaves the previous version intact; a newer database is refused untouched.
#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/migrations.h"
#include "storage/search_index.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;

namespace {

const std::string k_hash_a(64, 'a');

// The schema as SQLite records it, one line per object.
std::string schema_of(Database& db) {
    std::string out;
    auto stmt = db.cached("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name");
    if (!stmt.ok()) return "error";
    while (true) {
        auto row = (*stmt)->step();
        if (!row.ok() || !row.value()) break;
        for (int c = 0; c < 4; ++c) out += (*stmt)->column_text(c) + "|";
        out += "\n";
    }
    return out;
}

// Rows typical of each version, written with that version's SQL (not today's repositories).
tessera::Status seed(Database& db, int version) {
    if (version >= 1) {
        TESSERA_TRY(db.exec(
            "INSERT INTO conversations (id, uuid, title, model, pinned, created_at, updated_at) VALUES "
            "(1, 'u-1', 'Old trip notes', 'deepseek-llm-7b', 1, 1000, 2000);"
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at, updated_at) VALUES "
            "(1, 1, NULL, 'user', 'Where did we stop in Kyoto?', 1000, 1000),"
            "(2, 1, 1, 'assistant', '我们在京都的清水寺停下了。', 1100, 1100),"
            "(3, 1, 1, 'assistant', 'At Kiyomizu-dera, the wooden temple.', 1200, 1200);"
            "UPDATE conversations SET current_leaf_id = 3 WHERE id = 1;"
            "INSERT INTO settings (key, value, updated_at) VALUES ('ui.theme', '\"dark\"', 1000);"));
    }
    if (version >= 2) {
        std::string sql =
            "INSERT INTO attachments (id, sha256, path, mime, size, width, height, created_at) VALUES "
            "(1, '" + k_hash_a + "', 'attachments/aa/" + k_hash_a + ".png', 'image/png', 10, 4, 3, 1000);"
            "INSERT INTO message_attachments (message_id, position, attachment_id, name) VALUES (1, 0, 1, 'kyoto.png');";
        TESSERA_TRY(db.exec(sql.c_str()));
    }
    if (version >= 3) {
        TESSERA_TRY(db.exec(
            "INSERT INTO grounding (message_id, attachment_id, position, phrase, x0, y0, x1, y1, px0, py0, px1, py1) "
            "VALUES (3, 1, 0, 'the temple', 10, 20, 500, 999, 0.04, 0.06, 2.0, 3.0);"
            "INSERT INTO generated_images (uuid, prompt, seed, cfg_weight, temperature, model, attachment_id, "
            "created_at) VALUES ('g-1', 'a fox', 42, 5.0, 1.0, 'janus-pro-1b', 1, 1500);"));
    }
    return {};
}

}  // namespace

class TestMigrations : public QObject {
    Q_OBJECT

private slots:
    void fromEveryOlderVersion_data() {
        QTest::addColumn<int>("from");
        for (int v = 0; v < latest_schema_version(); ++v) QTest::newRow(("v" + std::to_string(v)).c_str()) << v;
    }

    void fromEveryOlderVersion() {
        QFETCH(int, from);
        tessera::test::TempDir dir;
        const auto path = dir / "old.db";
        {
            OpenOptions old;
            old.schema_version = from;
            if (from == 0) {
                // Version 0: an empty file, as left by a first start that crashed before migrating.
                tessera::test::write_file(path, "");
            } else {
                auto db = open_db(path, old);
                QVERIFY(db);
                STORAGE_ASSIGN(int version, db->schema_version());
                QCOMPARE(version, from);
                STORAGE_OK(seed(*db, from));
            }
        }
        // One step at a time: after each, the schema equals a fresh database of that version.
        for (int step = from + 1; step <= latest_schema_version(); ++step) {
            OpenOptions to;
            to.schema_version = step;
            auto db = open_db(path, to);
            QVERIFY(db);
            STORAGE_ASSIGN(int version, db->schema_version());
            QCOMPARE(version, step);
            tessera::test::TempDir fresh_dir;
            auto fresh = open_db(fresh_dir / "fresh.db", to);
            QVERIFY(fresh);
            QCOMPARE(schema_of(*db), schema_of(*fresh));
            QCOMPARE(query_int(*db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        }
        auto db = open_db(path);
        QVERIFY(db);
        STORAGE_ASSIGN(std::string check, db->integrity_check());
        QCOMPARE(check, std::string("ok"));
        if (from == 0) {
            QCOMPARE(query_int(*db, "SELECT count(*) FROM conversations"), 0);
            return;
        }
        // The old rows read back through today's repositories.
        ConversationRepository conversations(*db);
        MessageRepository messages(*db);
        STORAGE_ASSIGN(Conversation c, conversations.get(1));
        QCOMPARE(c.title, std::string("Old trip notes"));
        QVERIFY(c.pinned);
        QCOMPARE(c.current_leaf_id, std::optional<Id>(3));
        STORAGE_ASSIGN(auto thread, messages.active_thread(1));
        QCOMPARE(int(thread.size()), 2);
        QCOMPARE(thread[1].content, std::string("At Kiyomizu-dera, the wooden temple."));
        QCOMPARE(thread[1].status, MessageStatus::Complete);
        STORAGE_ASSIGN(BranchInfo branch, messages.branch_info(3));
        QCOMPARE(branch.count, 2);
        QCOMPARE(branch.index, 1);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM settings WHERE key = 'ui.theme'"), 1);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM message_attachments"), from >= 2 ? 1 : 0);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM grounding"), from >= 3 ? 1 : 0);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM generated_images"), from >= 3 ? 1 : 0);
        // Messages written before search existed are indexed by the migration.
        SearchIndex search(*db);
        STORAGE_ASSIGN(auto hits, search.search_messages("kiyomizu"));
        QCOMPARE(int(hits.size()), 1);
        QCOMPARE(hits[0].message_id, std::optional<Id>(3));
        STORAGE_ASSIGN(auto zh, search.search_messages("京都"));
        QCOMPARE(int(zh.size()), 1);
        QCOMPARE(zh[0].message_id, std::optional<Id>(2));
        STORAGE_ASSIGN(auto titles, search.search_titles("trip"));
        QCOMPARE(int(titles.size()), 1);
        // And new writes work on the migrated file.
        Message m;
        m.conversation_id = 1;
        m.parent_id = 3;
        m.role = Role::User;
        m.content = "thanks";
        STORAGE_OK(messages.append(m));
    }

    void failedStepLeavesPreviousVersion() {
        tessera::test::TempDir dir;
        const auto path = dir / "blocked.db";
        {
            OpenOptions v1;
            v1.schema_version = 1;
            auto db = open_db(path, v1);
            QVERIFY(db);
            STORAGE_OK(seed(*db, 1));
            // Something in the way of migration 2 (which creates a table of this name).
            STORAGE_OK(db->exec("CREATE TABLE attachments (x)"));
        }
        std::string error;
        QVERIFY(!open_db(path, {}, &error));
        QVERIFY2(error.find("002_attachments") != std::string::npos, error.c_str());
        OpenOptions v1;
        v1.schema_version = 1;
        auto db = open_db(path, v1);
        QVERIFY(db);
        STORAGE_ASSIGN(int version, db->schema_version());
        QCOMPARE(version, 1);
        // Nothing of the failed step was left half-applied.
        QCOMPARE(query_int(*db, "SELECT count(*) FROM sqlite_master WHERE name = 'message_attachments'"), 0);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM messages"), 3);
    }

    void newerDatabaseIsRefusedUntouched() {
        tessera::test::TempDir dir;
        const auto path = dir / "newer.db";
        const int newer = latest_schema_version() + 1;
        {
            auto db = open_db(path);
            QVERIFY(db);
            STORAGE_OK(seed(*db, latest_schema_version()));
            std::string bump = "PRAGMA user_version = " + std::to_string(newer);
            STORAGE_OK(db->exec(bump.c_str()));
            STORAGE_OK(db->checkpoint_wal());
        }
        const std::string before = tessera::test::read_file(path);
        auto db = Database::open(path);
        QVERIFY(!db.ok());
        QCOMPARE(db.error().code, tessera::ErrorCode::Unsupported);
        QVERIFY(db.error().message.find("newer") != std::string::npos);
        QVERIFY(std::filesystem::exists(path));  // not moved aside
        QCOMPARE(tessera::test::read_file(path), before);
    }
};

QTEST_APPLESS_MAIN(TestMigrations)
#include "test_migrations.moc"
