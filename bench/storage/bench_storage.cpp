// Storage benchmark (not a test): a database of 10,000 conversations and 1,000,000 messages, then the
// costs the app pays on the user's clock: opening it and listing the sidebar's first page, opening one
// conversation, and full-text searches (English and Chinese, rare and common words) with snippets.
//
//   bench_storage [--dir DIR] [--conversations N] [--messages-per-conversation M] [--runs R]
//
// The database is built once in DIR (default: <temp>/tessera-bench-storage) and reused while its shape
// matches. Timings are medians of R runs after one untimed warm-up, with the OS file cache warm.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "storage/conversation_repository.h"
#include "storage/database.h"
#include "storage/message_repository.h"
#include "storage/search_index.h"
#include "storage/settings_repository.h"

using namespace tessera::storage;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
    int conversations = 10000;
    int per_conversation = 100;
    std::string key() const { return std::to_string(conversations) + "x" + std::to_string(per_conversation) + "-v2"; }
};

// A vocabulary with a Zipf-like frequency: a few real words the queries use, placed at chosen ranks,
// among synthetic ones; Chinese words made of common characters.
class Text {
public:
    explicit Text(unsigned seed) : m_rng(seed) {
        static const char* syllables[] = {"ka", "lo", "mi", "ren", "tar", "ve", "quo", "sin", "dal", "po",
                                          "ne", "gri", "ust", "ba", "che", "fol", "ix", "mar", "tu", "zel"};
        for (int i = 0; i < 20000; ++i) {
            std::string w;
            int v = i;
            do {
                w += syllables[v % 20];
                v /= 20;
            } while (v > 0);
            m_words.push_back(w);
        }
        // Real words at chosen ranks: "the" is everywhere, "model" common, "transformer" moderate,
        // "kyoto" rare.
        m_words[0] = "the";
        m_words[1] = "and";
        m_words[12] = "model";
        m_words[300] = "transformer";
        m_words[2500] = "attention";
        m_words[15000] = "kyoto";
        static const char* zh[] = {"模型", "数据", "训练", "注意力", "量化", "推理", "图像", "文本", "长城", "京都",
                                   "我们", "可以", "这个", "问题", "方法", "结果", "需要", "使用", "系统", "研究"};
        for (const char* w : zh) m_zh.push_back(w);
        std::vector<double> weights(m_words.size());
        for (std::size_t r = 0; r < weights.size(); ++r) weights[r] = 1.0 / std::pow(double(r) + 2.0, 1.05);
        m_zipf = std::discrete_distribution<int>(weights.begin(), weights.end());
        std::vector<double> zh_weights(m_zh.size());
        for (std::size_t r = 0; r < zh_weights.size(); ++r) zh_weights[r] = 1.0 / (double(r) + 1.0);
        m_zh_zipf = std::discrete_distribution<int>(zh_weights.begin(), zh_weights.end());
    }

    // One message: mostly English, one in eight Chinese, 8..60 words.
    std::string message() {
        const bool chinese = m_rng() % 8 == 0;
        const int n = 8 + int(m_rng() % 53);
        std::string out;
        for (int i = 0; i < n; ++i) {
            if (chinese) {
                out += m_zh[std::size_t(m_zh_zipf(m_rng))];
                if (m_rng() % 7 == 0) out += "，";
            } else {
                if (i) out += ' ';
                out += m_words[std::size_t(m_zipf(m_rng))];
                if (m_rng() % 11 == 0) out += '.';
            }
        }
        return out;
    }

    std::string title() {
        std::string t = m_words[std::size_t(m_zipf(m_rng)) % 3000 + 20];
        t[0] = char(std::toupper(static_cast<unsigned char>(t[0])));
        return t + " " + m_words[std::size_t(m_zipf(m_rng))] + " " + m_words[std::size_t(m_zipf(m_rng)) % 500 + 3];
    }

    std::mt19937& rng() { return m_rng; }

private:
    std::mt19937 m_rng;
    std::vector<std::string> m_words;
    std::vector<std::string> m_zh;
    std::discrete_distribution<int> m_zipf;
    std::discrete_distribution<int> m_zh_zipf;
};

template <class F>
double time_ms(F&& f) {
    const auto t0 = Clock::now();
    f();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// Drops this database's pages from the OS file cache (only this file, so other work on the machine keeps
// its cache), to time a start after a reboot.
void evict(const fs::path& path) {
    for (const char* suffix : {"", "-wal"}) {
        const int fd = ::open((path.string() + suffix).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ::fdatasync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

void die(const tessera::Error& e) {
    std::fprintf(stderr, "bench_storage: %s\n", e.message.c_str());
    std::exit(1);
}

template <class T>
T must(tessera::Result<T> r) {
    if (!r.ok()) die(r.error());
    return std::move(r).value();
}
void must(const tessera::Status& s) {
    if (!s.ok()) die(s.error());
}

bool has_shape(const fs::path& path, const Shape& shape) {
    if (!fs::exists(path)) return false;
    auto db = Database::open(path);
    if (!db.ok()) return false;
    SettingsRepository settings(**db);
    auto value = settings.get("bench.shape");
    return value.ok() && value.value() && *value.value() == shape.key();
}

void build(const fs::path& path, const Shape& shape) {
    for (const char* suffix : {"", "-wal", "-shm", "-lock"}) fs::remove(path.string() + suffix);
    auto db = must(Database::open(path));
    // Bulk load only: a crash here just means building again.
    must(db->exec("PRAGMA synchronous = OFF"));
    ConversationRepository conversations(*db);
    MessageRepository messages(*db);
    Text text(42);
    const std::int64_t base = 1'600'000'000'000;
    const auto t0 = Clock::now();
    for (int c = 0; c < shape.conversations; ++c) {
        auto tx = must(Transaction::begin(*db));
        Conversation conv;
        conv.uuid = new_uuid();
        conv.title = text.title();
        conv.model = c % 3 ? "deepseek-r1-distill-qwen-7b" : "deepseek-vl2-small";
        conv.pinned = c % 500 == 0;
        conv.archived = c % 40 == 0;
        conv.created_at = base + std::int64_t(c) * 60'000;
        conv.updated_at = conv.created_at + std::int64_t(shape.per_conversation) * 30'000;
        const Id id = must(conversations.insert(conv));
        std::optional<Id> parent;
        Id leaf = 0;
        for (int i = 0; i < shape.per_conversation; ++i) {
            Message m;
            m.conversation_id = id;
            m.parent_id = parent;
            m.role = i % 2 ? Role::Assistant : Role::User;
            m.content = text.message();
            if (m.role == Role::Assistant) {
                m.model = conv.model;
                m.stats.completion_tokens = 40 + i;
                m.stats.decode_tokens_per_s = 41.5;
            }
            m.created_at = m.updated_at = conv.created_at + std::int64_t(i) * 30'000;
            m.finished_at = m.created_at;
            leaf = must(messages.insert(m));
            // Every tenth reply was regenerated once: a sibling branch.
            if (m.role == Role::Assistant && i % 10 == 1 && i + 1 < shape.per_conversation) {
                m.content = text.message();
                must(messages.insert(m));
                ++i;
            }
            parent = leaf;
        }
        must(conversations.set_current_leaf(id, leaf));
        must(tx.commit());
        if ((c + 1) % 1000 == 0) {
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            std::printf("  built %d/%d conversations (%.0f s)\n", c + 1, shape.conversations, s);
            std::fflush(stdout);
        }
    }
    SettingsRepository settings(*db);
    must(settings.set("bench.shape", shape.key()));
    must(db->exec("PRAGMA optimize"));
    must(db->exec("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"));
    must(db->checkpoint_wal());
}

}  // namespace

int main(int argc, char** argv) {
    Shape shape;
    fs::path dir = fs::temp_directory_path() / "tessera-bench-storage";
    int runs = 15;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!std::strcmp(argv[i], "--conversations")) shape.conversations = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--messages-per-conversation")) shape.per_conversation = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--runs")) runs = std::max(1, std::atoi(argv[i + 1]));
    }
    fs::create_directories(dir);
    const fs::path path = dir / "tessera.db";
    if (!has_shape(path, shape)) {
        std::printf("building %s: %d conversations x %d messages\n", path.c_str(), shape.conversations,
                    shape.per_conversation);
        const double ms = time_ms([&] { build(path, shape); });
        std::printf("built in %.1f s\n", ms / 1000);
    }
    std::error_code ec;
    std::printf("database: %.0f MiB\n", double(fs::file_size(path, ec)) / (1 << 20));

    // 1. Start-up: open (pragmas, schema check, migrations, crash repair) and the sidebar's first page.
    std::vector<double> open_ms, list_ms, total_ms;
    double first_total = 0;
    std::int64_t message_count = 0, conversation_count = 0;
    for (int r = 0; r <= runs; ++r) {
        std::unique_ptr<Database> db;
        std::vector<Conversation> page;
        const double t_open = time_ms([&] { db = must(Database::open(path)); });
        const double t_list = time_ms([&] {
            ConversationRepository conversations(*db);
            page = must(conversations.list(ConversationFilter::Active, 50, 0));
        });
        if (page.size() != std::size_t(std::min(50, shape.conversations * 9 / 10)))
            die(tessera::make_error(tessera::ErrorCode::Internal, "the first page is not full"));
        if (r == 0) {
            first_total = t_open + t_list;
            auto count = must(db->cached("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM conversations)"));
            if (must(count->step())) {
                message_count = count->column_int(0);
                conversation_count = count->column_int(1);
            }
            continue;  // warm-up
        }
        open_ms.push_back(t_open);
        list_ms.push_back(t_list);
        total_ms.push_back(t_open + t_list);
    }
    std::printf("\n%lld conversations, %lld messages\n\n", static_cast<long long>(conversation_count),
                static_cast<long long>(message_count));
    std::printf("| operation | median ms |\n|---|---|\n");
    std::printf("| open database | %.2f |\n", median(open_ms));
    std::printf("| list first page (50 conversations) | %.2f |\n", median(list_ms));
    std::printf("| open + first page | %.2f |\n", median(total_ms));
    std::printf("| open + first page, first time in this process | %.2f |\n", first_total);

    // The same with nothing of the file in the OS cache.
    {
        std::vector<double> cold;
        for (int r = 0; r < 5; ++r) {
            evict(path);
            cold.push_back(time_ms([&] {
                auto db = must(Database::open(path));
                ConversationRepository conversations(*db);
                (void)must(conversations.list(ConversationFilter::Active, 50, 0));
            }));
        }
        std::printf("| open + first page, file not in the OS cache | %.2f |\n", median(cold));
    }

    auto db = must(Database::open(path));
    // 2. Opening one conversation: the shown thread (about 90 messages) and one branch position.
    {
        ConversationRepository conversations(*db);
        MessageRepository messages(*db);
        const auto page = must(conversations.list(ConversationFilter::Active, 1, shape.conversations / 20));
        if (page.empty()) die(tessera::make_error(tessera::ErrorCode::Internal, "no conversation to open"));
        std::vector<double> t;
        std::size_t n = 0;
        for (int r = 0; r <= runs; ++r) {
            const double ms = time_ms([&] { n = must(messages.active_thread(page[0].id)).size(); });
            if (r) t.push_back(ms);
        }
        std::printf("| open a conversation (%zu messages in thread) | %.2f |\n", n, median(t));
    }

    // 3. Full-text search: 20 best hits with snippets, plus title hits.
    SearchIndex search(*db);
    const char* queries[] = {"kyoto", "attention", "transformer", "model", "transformer attention",
                             "the", "京都", "量化", "模型", "trans"};
    std::printf("\n| search (20 best, snippets) | messages matching | median ms |\n|---|---|---|\n");
    for (const char* q : queries) {
        std::vector<double> t;
        std::size_t hits = 0;
        for (int r = 0; r <= runs; ++r) {
            const double ms = time_ms([&] { hits = must(search.search(std::string(q))).messages.size(); });
            if (r) t.push_back(ms);
        }
        auto count = must(db->cached("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1"));
        must(count->bind(1, SearchIndex::to_match_query(q, true)));
        const std::int64_t matching = must(count->step()) ? count->column_int(0) : 0;
        std::printf("| `%s` | %lld | %.2f |\n", q, static_cast<long long>(matching), median(t));
        (void)hits;
    }
    // And one search with nothing in the OS cache (a fresh connection, so SQLite's own cache is empty too).
    {
        std::vector<double> cold;
        for (int r = 0; r < 5; ++r) {
            evict(path);
            auto fresh = must(Database::open(path));
            SearchIndex fresh_search(*fresh);
            cold.push_back(time_ms([&] { (void)must(fresh_search.search(std::string("transformer"))); }));
        }
        std::printf("| `transformer`, file not in the OS cache | | %.2f |\n", median(cold));
    }
    return 0;
}
