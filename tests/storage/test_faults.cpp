// Faults: damaged, truncated, foreign and non-SQLite files are detected at open and moved aside (never
// deleted) with a clear notice; read-only databases and full disks give errors, not crashes, and lose
// nothing already committed. Disk-full is produced three ways: SQLite's max_page_count (everywhere),
// RLIMIT_FSIZE in a child process (everywhere), and a real tiny tmpfs where mounting is permitted.
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <random>

#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> moved_aside(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".corrupt-") != std::string::npos &&
            e.path().filename().string().find("-wal") == std::string::npos &&
            e.path().filename().string().find("-shm") == std::string::npos)
            out.push_back(e.path());
    return out;
}

// A database with `n` messages in one conversation, closed cleanly (WAL folded into the file).
tessera::Status make_db(const fs::path& path, int n, const std::string& text = "committed message number ") {
    TESSERA_ASSIGN(auto db, Database::open(path));
    ConversationRepository conversations(*db);
    MessageRepository messages(*db);
    TESSERA_ASSIGN(Conversation c, conversations.create("faults"));
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(*db));
    for (int i = 0; i < n; ++i) {
        Message m;
        m.conversation_id = c.id;
        m.content = text + std::to_string(i);
        TESSERA_TRY(messages.append(m));
    }
    return tx.commit();
}

// Appends until the first failure; returns how many succeeded and the error.
std::pair<int, std::optional<tessera::Error>> append_until_failure(Database& db, Id conversation, int limit,
                                                                   std::size_t size) {
    MessageRepository messages(db);
    for (int i = 0; i < limit; ++i) {
        Message m;
        m.conversation_id = conversation;
        m.content = "filler " + std::to_string(i) + " " + std::string(size, char('a' + i % 26));
        auto added = messages.append(m);
        if (!added.ok()) return {i, added.error()};
    }
    return {limit, std::nullopt};
}

// Mounts a tmpfs of `size` on `dir` for the life of the object, where the system allows it.
class TinyFilesystem {
public:
    TinyFilesystem(const fs::path& dir, const char* options) : m_dir(dir) {
        fs::create_directories(dir);
        m_mounted = ::mount("tessera-test", dir.c_str(), "tmpfs", 0, options) == 0;
        if (!m_mounted) m_error = std::strerror(errno);
    }
    ~TinyFilesystem() {
        if (m_mounted) ::umount2(m_dir.c_str(), MNT_DETACH);
    }
    bool mounted() const { return m_mounted; }
    const std::string& error() const { return m_error; }
    bool remount_read_only() {
        return ::mount("tessera-test", m_dir.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
    }

private:
    fs::path m_dir;
    bool m_mounted = false;
    std::string m_error;
};

}  // namespace

class TestFaults : public QObject {
    Q_OBJECT

private slots:
    void garbageFileIsMovedAside() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        std::string garbage(64 * 1024, '\0');
        std::mt19937 rng(1);
        for (auto& c : garbage) c = char(rng());
        tessera::test::write_file(path, garbage);
        auto db = open_db(path);
        QVERIFY(db);
        QVERIFY2(db->notice().find("damaged") != std::string::npos, db->notice().c_str());
        QVERIFY(db->notice().find("not an SQLite database") != std::string::npos);
        auto aside = moved_aside(dir.path());
        QCOMPARE(int(aside.size()), 1);
        QVERIFY(db->notice().find(aside[0].filename().string()) != std::string::npos);
        QCOMPARE(tessera::test::read_file(aside[0]), garbage);  // kept, byte for byte
        ConversationRepository conversations(*db);
        STORAGE_OK(conversations.create("fresh start"));
        STORAGE_ASSIGN(std::string check, db->integrity_check());
        QCOMPARE(check, std::string("ok"));
    }

    void shortAndEmptyFiles() {
        tessera::test::TempDir dir;
        tessera::test::write_file(dir / "short.db", "SQLite format 3");  // shorter than a header
        auto short_db = open_db(dir / "short.db");
        QVERIFY(short_db);
        QVERIFY(!short_db->notice().empty());
        QCOMPARE(int(moved_aside(dir.path()).size()), 1);
        tessera::test::write_file(dir / "empty.db", "");  // a first start that died at once: just start
        auto empty_db = open_db(dir / "empty.db");
        QVERIFY(empty_db);
        QVERIFY(empty_db->notice().empty());
        QCOMPARE(int(moved_aside(dir.path()).size()), 1);
    }

    void truncatedFileIsDetected() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        STORAGE_OK(make_db(path, 2000));
        const auto size = fs::file_size(path);
        QVERIFY(size > 100 * 1024);
        QVERIFY(!fs::exists(fs::path(path.string() + "-wal")));
        fs::resize_file(path, size / 2);
        auto db = open_db(path);
        QVERIFY(db);
        QVERIFY2(db->notice().find("truncated") != std::string::npos, db->notice().c_str());
        QCOMPARE(query_int(*db, "SELECT count(*) FROM messages"), 0);
        auto aside = moved_aside(dir.path());
        QCOMPARE(int(aside.size()), 1);
        QCOMPARE(fs::file_size(aside[0]), size / 2);
    }

    void damagedPagesAreDetected() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        STORAGE_OK(make_db(path, 1500));
        std::string bytes = tessera::test::read_file(path);
        // Overwrite four pages in the middle of the file; the header still looks fine.
        std::mt19937 rng(2);
        for (std::size_t i = 8 * 4096; i < 12 * 4096 && i < bytes.size(); ++i) bytes[i] = char(rng());
        tessera::test::write_file(path, bytes);
        auto db = open_db(path);
        QVERIFY(db);
        QVERIFY2(db->notice().find("damaged") != std::string::npos, db->notice().c_str());
        QCOMPARE(int(moved_aside(dir.path()).size()), 1);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM messages"), 0);

        // With moving aside disabled the damage is reported and the file left alone.
        tessera::test::write_file(dir / "keep.db", bytes);
        OpenOptions strict;
        strict.move_aside_corrupt = false;
        auto refused = Database::open(dir / "keep.db", strict);
        QVERIFY(!refused.ok());
        QCOMPARE(refused.error().code, tessera::ErrorCode::Format);
        QCOMPARE(tessera::test::read_file(dir / "keep.db"), bytes);
    }

    void foreignDatabaseIsNotTouched() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        sqlite3* raw = nullptr;
        QCOMPARE(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
        QCOMPARE(sqlite3_exec(raw, "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup')", nullptr,
                              nullptr, nullptr),
                 SQLITE_OK);
        sqlite3_close(raw);
        const std::string before = tessera::test::read_file(path);
        auto db = open_db(path);
        QVERIFY(db);
        QVERIFY2(db->notice().find("another program") != std::string::npos, db->notice().c_str());
        auto aside = moved_aside(dir.path());
        QCOMPARE(int(aside.size()), 1);
        QCOMPARE(tessera::test::read_file(aside[0]), before);
    }

    void readOnlyDatabase() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        STORAGE_OK(make_db(path, 10));
        OpenOptions ro;
        ro.read_only = true;
        auto db = open_db(path, ro);
        QVERIFY(db);
        QVERIFY(db->read_only());
        MessageRepository messages(*db);
        ConversationRepository conversations(*db);
        STORAGE_ASSIGN(auto thread, messages.list_all(1));
        QCOMPARE(int(thread.size()), 10);
        QCOMPARE(thread[9].content, std::string("committed message number 9"));
        auto create = conversations.create("cannot");
        QVERIFY(!create.ok());
        QCOMPARE(create.error().code, tessera::ErrorCode::Io);
        QVERIFY2(create.error().message.find("read-only") != std::string::npos, create.error().message.c_str());
        QVERIFY(!StreamingReply::begin(*db, 1, thread.back().id, "m").ok());
        QVERIFY(!conversations.rename(1, "x").ok());
        db.reset();
        auto rw = open_db(path);
        QVERIFY(rw);
        QCOMPARE(query_int(*rw, "SELECT count(*) FROM messages"), 10);
        QCOMPARE(query_int(*rw, "SELECT count(*) FROM conversations"), 1);
    }

    void unwritableLocationIsAnError() {
        tessera::test::TempDir dir;
        tessera::test::write_file(dir / "a-file", "x");
        // The parent "folder" is a regular file: even root cannot create anything below it.
        auto db = Database::open(dir / "a-file" / "tessera.db");
        QVERIFY(!db.ok());
        QCOMPARE(db.error().code, tessera::ErrorCode::Io);
        QVERIFY(db.error().message.find("tessera.db") != std::string::npos);
    }

    void diskFullViaPageCap() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        STORAGE_OK(make_db(path, 5));
        OpenOptions capped;
        capped.max_page_count = 60;
        auto db = open_db(path, capped);
        QVERIFY(db);
        auto [written, error] = append_until_failure(*db, 1, 10000, 3000);
        QVERIFY(error.has_value());
        QVERIFY(written > 0);
        QCOMPARE(error->code, tessera::ErrorCode::Io);
        QVERIFY2(error->message.find("full") != std::string::npos, error->message.c_str());
        // A reply that hits the full disk keeps its text in memory; once space is back, it is all saved.
        STORAGE_OK(db->exec("PRAGMA max_page_count = 80"));
        StreamingOptions every_append;
        every_append.checkpoint_interval = std::chrono::milliseconds(0);
        STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*db, 1, std::nullopt, "m", {}, every_append));
        STORAGE_OK(db->exec("PRAGMA max_page_count = 1"));  // below the current size: nothing more fits
        std::string expected;
        int failures = 0;
        for (int i = 0; i < 200; ++i) {
            const std::string piece = "token" + std::to_string(i) + " " + std::string(100, 'z');
            expected += piece;
            auto st = reply.append(piece);
            if (!st.ok()) {
                ++failures;
                QCOMPARE(st.error().code, tessera::ErrorCode::Io);
            }
        }
        QVERIFY(failures > 0);
        QCOMPARE(reply.content(), expected);  // nothing lost from memory
        STORAGE_OK(db->exec("PRAGMA max_page_count = 100000"));
        STORAGE_OK(reply.finish());
        db.reset();
        auto reopened = open_db(path);
        QVERIFY(reopened);
        STORAGE_ASSIGN(std::string check, reopened->integrity_check());
        QCOMPARE(check, std::string("ok"));
        QCOMPARE(query_int(*reopened, "SELECT count(*) FROM messages WHERE content LIKE 'filler %'"), written);
        MessageRepository messages(*reopened);
        STORAGE_ASSIGN(Message saved, messages.get(reply.message_id()));
        QCOMPARE(saved.content, expected);
        QCOMPARE(saved.status, MessageStatus::Complete);
    }

    void diskFullViaFileSizeLimit() {
        tessera::test::TempDir dir;
        const auto path = dir / "tessera.db";
        STORAGE_OK(make_db(path, 5));
        int pipefd[2];
        QCOMPARE(::pipe(pipefd), 0);
        pid_t pid = fork();
        QVERIFY(pid >= 0);
        if (pid == 0) {
            // Every write past 2 MiB in any file now fails with EFBIG (the signal is ignored), exactly
            // what a full disk looks like to SQLite and to the attachment writer.
            ::close(pipefd[0]);
            std::signal(SIGXFSZ, SIG_IGN);
            rlimit limit{2 << 20, 2 << 20};
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(20);
            int code = 0;
            {
                auto db = open_db(path);
                if (!db) _exit(21);
                auto [written, error] = append_until_failure(*db, 1, 100000, 2000);
                if (!error) code = 22;
                else if (error->code != tessera::ErrorCode::Io) code = 23;
                else if (error->message.find("full") == std::string::npos) code = 25;
                (void)!::write(pipefd[1], &written, sizeof written);
                AttachmentStore store(*db, dir.path());
                auto big = store.add(std::string(3 << 20, 'x'));  // larger than the limit
                if (big.ok() || big.error().code != tessera::ErrorCode::Io) code = 24;
            }
            ::close(pipefd[1]);
            _exit(code);
        }
        ::close(pipefd[1]);
        int written = -1;
        QCOMPARE(::read(pipefd[0], &written, sizeof written), ssize_t(sizeof written));
        ::close(pipefd[0]);
        int status = 0;
        QCOMPARE(waitpid(pid, &status, 0), pid);
        QVERIFY2(WIFEXITED(status), "the child crashed on a full disk");
        QCOMPARE(WEXITSTATUS(status), 0);
        QVERIFY(written > 10);
        auto db = open_db(path);
        QVERIFY(db);
        STORAGE_ASSIGN(std::string check, db->integrity_check());
        QCOMPARE(check, std::string("ok"));
        QCOMPARE(query_int(*db, "SELECT count(*) FROM messages WHERE content LIKE 'filler %'"), written);
        QCOMPARE(query_int(*db, "SELECT count(*) FROM attachments"), 0);
        // No half-written attachment under a final name (only a temporary name could remain).
        if (fs::exists(dir / "attachments"))
            for (const auto& e : fs::recursive_directory_iterator(dir / "attachments"))
                if (e.is_regular_file()) QVERIFY(e.path().filename().string().starts_with(".tmp-"));
    }

    void realFullAndReadOnlyFilesystem() {
        tessera::test::TempDir dir;
        TinyFilesystem tiny(dir / "mnt", "size=768k");
        if (!tiny.mounted())
            QSKIP(("cannot mount a tmpfs here (" + tiny.error() + "); disk-full is covered by the page-cap and "
                   "file-size-limit tests").c_str());
        const auto path = dir / "mnt" / "tessera.db";
        STORAGE_OK(make_db(path, 3));
        {
            auto db = open_db(path);
            QVERIFY(db);
            auto [written, error] = append_until_failure(*db, 1, 100000, 4000);
            QVERIFY(error.has_value());
            QCOMPARE(error->code, tessera::ErrorCode::Io);
            QVERIFY2(error->message.find("full") != std::string::npos, error->message.c_str());
            AttachmentStore store(*db, dir / "mnt");
            QVERIFY(!store.add(std::string(512 * 1024, 'q')).ok());
            STORAGE_ASSIGN(std::string check, db->integrity_check());
            QCOMPARE(check, std::string("ok"));
            QCOMPARE(query_int(*db, "SELECT count(*) FROM messages WHERE content LIKE 'filler %'"), written);
        }
        // The same file on a read-only mount: opened read-only with a notice, nothing lost.
        QVERIFY(tiny.remount_read_only());
        auto db = open_db(path);
        QVERIFY(db);
        QVERIFY(db->read_only());
        QVERIFY2(db->notice().find("cannot be written") != std::string::npos, db->notice().c_str());
        QVERIFY(query_int(*db, "SELECT count(*) FROM messages") > 3);
        ConversationRepository conversations(*db);
        QVERIFY(!conversations.create("nope").ok());
    }
};

QTEST_APPLESS_MAIN(TestFaults)
#include "test_faults.moc"
