// Crash safety: a child process writes a conversation the way the app does (user messages with images,
// streamed replies checkpointed as they grow, regenerations) and is killed with SIGKILL at a random
// moment, over and over (also while the database is being created). After every kill the database must
// pass PRAGMA integrity_check and the full-text index check, every message the child reported as
// committed must be there byte for byte, a reply cut off mid-stream must hold a prefix of its text and be
// marked interrupted, and every attachment row must name an intact file.
//
// TESSERA_CRASH_KILLS overrides the number of kills (default 60).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/search_index.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;

namespace {

// The full text of message k, reproducible by the parent: "[k] " then words in English and Chinese.
std::string text_of(int k) {
    static const char* words[] = {"model", "attention", "kernel", "河流", "山", "fox", "数据", "image", "grounding",
                                  "token", "流式", "reply", "cache", "模型", "snow", "GPU"};
    std::mt19937 rng(static_cast<unsigned>(k) * 2654435761u);
    std::string out = "[" + std::to_string(k) + "] ";
    const int n = 20 + int(rng() % 120);
    for (int i = 0; i < n; ++i) {
        out += words[rng() % 16];
        out += (rng() % 9 == 0) ? ".\n" : " ";
    }
    out += "marker" + std::to_string(k);
    return out;
}

// Splits a text into the pieces a model would stream (a few bytes each, never inside a UTF-8 character).
std::vector<std::string> tokens_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = std::min(text.size(), i + 6);
        while (j < text.size() && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) ++j;
        out.push_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

int index_of(const std::string& content) {
    if (content.size() < 3 || content[0] != '[') return -1;
    return std::atoi(content.c_str() + 1);
}

// The child: writes until killed. Reports "<message id> <k>\n" on the pipe after each commit returned.
[[noreturn]] void child_main(const std::filesystem::path& dir, int report_fd, unsigned seed) {
    std::mt19937 rng(seed);
    auto db = open_db(dir / "tessera.db");
    if (!db) _exit(3);
    ConversationRepository conversations(*db);
    MessageRepository messages(*db);
    AttachmentStore store(*db, dir);
    auto report = [&](Id id, int k) {
        const std::string line = std::to_string(id) + " " + std::to_string(k) + "\n";
        if (::write(report_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
    };
    auto list = conversations.list(ConversationFilter::All, 1, 0);
    if (!list.ok()) _exit(5);
    Id conversation = 0;
    if (list->empty()) {
        auto c = conversations.create("crash test");
        if (!c.ok()) _exit(6);
        conversation = c->id;
    } else {
        conversation = list->front().id;
    }
    // k continues after the highest message index already stored.
    auto thread = messages.active_thread(conversation);
    if (!thread.ok()) _exit(7);
    auto all = messages.list_all(conversation);
    if (!all.ok()) _exit(7);
    int k = 0;
    for (const auto& m : all.value()) k = std::max(k, index_of(m.content) + 1);
    std::optional<Id> parent = thread->empty() ? std::nullopt : std::optional<Id>(thread->back().id);
    StreamingOptions fast;
    fast.checkpoint_interval = std::chrono::milliseconds(2);  // many checkpoints in a short life
    while (true) {
        Message user;
        user.conversation_id = conversation;
        user.parent_id = parent;
        user.content = text_of(k);
        auto u = messages.append(user);
        if (!u.ok()) _exit(8);
        if (k % 3 == 0) {
            std::string image = "\x89PNG\r\n\x1a\n" + std::string(2000 + rng() % 20000, char('A' + k % 26));
            auto a = store.add(image);
            if (!a.ok() || !store.link(u->id, a->id, "photo.png").ok()) _exit(9);
        }
        report(u->id, k++);
        // Sometimes regenerate: a sibling reply under the same question.
        const int replies = rng() % 4 == 0 ? 2 : 1;
        Id last_reply = 0;
        for (int r = 0; r < replies; ++r) {
            auto reply = StreamingReply::begin(*db, conversation, u->id, "crash-model", {}, fast);
            if (!reply.ok()) _exit(10);
            const int reply_k = k++;
            for (const auto& piece : tokens_of(text_of(reply_k))) {
                if (!reply->append(piece).ok()) _exit(11);
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
            }
            if (!reply->finish().ok()) _exit(12);
            report(reply->message_id(), reply_k);
            last_reply = reply->message_id();
        }
        parent = last_reply;
    }
}

}  // namespace

class TestCrash : public QObject {
    Q_OBJECT

private slots:
    void sigkillAtRandomMoments() {
        int kills = 60;
        if (const char* env = std::getenv("TESSERA_CRASH_KILLS")) kills = std::max(1, std::atoi(env));
        tessera::test::TempDir dir;
        std::mt19937 rng(20240601);
        std::map<Id, int> committed;  // message id -> k, as reported by the children
        std::set<Id> interrupted, partial_nonempty;  // distinct replies cut off by a kill
        const auto start = std::chrono::steady_clock::now();
        for (int round = 0; round < kills; ++round) {
            int fds[2];
            QCOMPARE(::pipe(fds), 0);
            const unsigned seed = rng();
            pid_t pid = fork();
            QVERIFY(pid >= 0);
            if (pid == 0) {
                ::close(fds[0]);
                child_main(dir.path(), fds[1], seed);
            }
            ::close(fds[1]);
            // Early kills hit creation, migration and start-up repair; later ones hit streaming.
            const int delay_ms = round < 5 ? int(rng() % 4) : 5 + int(rng() % 120);
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
            ::kill(pid, SIGKILL);
            int status = 0;
            QCOMPARE(waitpid(pid, &status, 0), pid);
            // The child must have died by our signal, not by a failure of its own.
            QVERIFY2(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                     ("child exited by itself with code " + std::to_string(WEXITSTATUS(status))).c_str());
            std::string reported;
            char buf[4096];
            ssize_t n;
            while ((n = ::read(fds[0], buf, sizeof buf)) > 0) reported.append(buf, std::size_t(n));
            ::close(fds[0]);
            // Only whole lines count: the kill may cut one in half.
            std::size_t pos = 0;
            while (true) {
                const std::size_t nl = reported.find('\n', pos);
                if (nl == std::string::npos) break;
                Id id = 0;
                int k = 0;
                QCOMPARE(std::sscanf(reported.c_str() + pos, "%lld %d", reinterpret_cast<long long*>(&id), &k), 2);
                committed[id] = k;
                pos = nl + 1;
            }

            auto db = open_db(dir / "tessera.db");
            QVERIFY(db);
            QVERIFY2(db->notice().empty(), db->notice().c_str());  // never judged damaged
            STORAGE_ASSIGN(std::string check, db->integrity_check());
            QCOMPARE(check, std::string("ok"));
            MessageRepository messages(*db);
            ConversationRepository conversations(*db);
            STORAGE_ASSIGN(auto list, conversations.list(ConversationFilter::All));
            QVERIFY(list.size() <= 1);
            std::map<Id, Message> stored;
            if (!list.empty()) {
                STORAGE_ASSIGN(auto all, messages.list_all(list[0].id));
                for (auto& m : all) stored.emplace(m.id, std::move(m));
            }
            for (const auto& [id, m] : stored) {
                QVERIFY(m.status != MessageStatus::Streaming);  // repaired at open
                const int k = index_of(m.content);
                if (m.content.empty()) {
                    QCOMPARE(m.status, MessageStatus::Interrupted);  // killed before its first checkpoint
                    continue;
                }
                QVERIFY2(k >= 0, m.content.c_str());
                const std::string full = text_of(k);
                if (m.status == MessageStatus::Complete) {
                    QCOMPARE(m.content, full);
                } else {
                    QCOMPARE(m.status, MessageStatus::Interrupted);
                    QVERIFY2(full.starts_with(m.content), m.content.c_str());
                    partial_nonempty.insert(id);
                }
            }
            for (const auto& [id, m] : stored)
                if (m.status == MessageStatus::Interrupted) interrupted.insert(id);
            for (const auto& [id, k] : committed) {
                auto it = stored.find(id);
                QVERIFY2(it != stored.end(), ("committed message " + std::to_string(id) + " is missing").c_str());
                QCOMPARE(it->second.content, text_of(k));
                QCOMPARE(it->second.status, MessageStatus::Complete);
            }
            // Attachments: every row names an intact file, whatever moment the kill hit.
            AttachmentStore store(*db, dir.path());
            STORAGE_ASSIGN(auto collected, store.collect_garbage(std::chrono::seconds(0)));
            (void)collected;
            STORAGE_ASSIGN(auto ids, db->cached("SELECT id FROM attachments"));
            std::vector<Id> attachment_ids;
            while (true) {
                STORAGE_ASSIGN(bool row, ids->step());
                if (!row) break;
                attachment_ids.push_back(ids->column_int(0));
            }
            ids->reset();
            for (Id aid : attachment_ids) {
                STORAGE_ASSIGN(Attachment a, store.get(aid));
                STORAGE_OK(store.read(a));
            }
            // The last committed message is findable.
            if (!committed.empty()) {
                SearchIndex search(*db);
                const int last_k = std::prev(committed.end())->second;
                STORAGE_ASSIGN(auto hits, search.search_messages("marker" + std::to_string(last_k)));
                QVERIFY(!hits.empty());
            }
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        qInfo("%d kills in %.1f s: %zu committed messages verified, %d interrupted replies kept (%d with text)",
              kills, seconds, committed.size(), int(interrupted.size()), int(partial_nonempty.size()));
        QVERIFY(committed.size() > std::size_t(kills));  // the children did real work between kills
        QVERIFY(!partial_nonempty.empty());                  // and were killed mid-reply at least sometimes
    }
};

QTEST_APPLESS_MAIN(TestCrash)
#include "test_crash.moc"
