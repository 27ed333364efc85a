// Full-text search: English (case, diacritics, prefixes), Chinese two-character words as exact adjacent
// pairs, Japanese, mixed scripts; bm25 ranking; highlighted snippets; the index follows edits and
// deletions; user text with FTS5 syntax in it is searched literally, never parsed.
#include <algorithm>

#include "storage/conversation_repository.h"
#include "storage/message_repository.h"
#include "storage/search_index.h"
#include "storage/search_tokenizer.h"
#include "storage/streaming_reply.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;

class TestSearch : public QObject {
    Q_OBJECT

    tessera::test::TempDir* m_dir = nullptr;
    std::unique_ptr<Database> m_db;
    Id m_conversation = 0;

    Id add(const std::string& content, const std::string& thinking = {}) {
        MessageRepository messages(*m_db);
        Message m;
        m.conversation_id = m_conversation;
        m.role = Role::Assistant;
        m.content = content;
        m.thinking = thinking;
        auto added = messages.append(m);
        return added.ok() ? added->id : 0;
    }

    std::vector<Id> ids(std::string_view query, SearchOptions options = {}) {
        SearchIndex search(*m_db);
        std::vector<Id> out;
        auto hits = search.search_messages(query, options);
        if (!hits.ok()) {
            qWarning("search failed: %s", hits.error().message.c_str());
            return {Id(-1)};
        }
        for (const auto& h : hits.value()) out.push_back(*h.message_id);
        return out;
    }

private slots:
    void init() {
        m_dir = new tessera::test::TempDir();
        m_db = open_db(*m_dir / "tessera.db");
        QVERIFY(m_db);
        ConversationRepository conversations(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("Search test"));
        m_conversation = c.id;
    }
    void cleanup() {
        m_db.reset();
        delete m_dir;
    }

    void matchQueryQuotesUserText() {
        QCOMPARE(SearchIndex::to_match_query("red fox", false), std::string("\"red\" \"fox\""));
        QCOMPARE(SearchIndex::to_match_query("  red   fox ", true), std::string("\"red\" \"fox\"*"));
        QCOMPARE(SearchIndex::to_match_query("say \"hi\"", false), std::string("\"say\" \"\"\"hi\"\"\""));
        QCOMPARE(SearchIndex::to_match_query("中国\xE3\x80\x80人民", false), std::string("\"中国\" \"人民\""));
        QCOMPARE(SearchIndex::to_match_query("... --- !!", true), std::string());
        QCOMPARE(SearchIndex::to_match_query("", true), std::string());
        // No prefix for a single letter (it would expand to half the vocabulary) or a CJK character.
        QCOMPARE(SearchIndex::to_match_query("red f", true), std::string("\"red\" \"f\""));
        QCOMPARE(SearchIndex::to_match_query("红色 模型", true), std::string("\"红色\" \"模型\""));
        QCOMPARE(SearchIndex::to_match_query("GPU模型v2", true), std::string("\"GPU模型v2\"*"));
        QVERIFY(is_cjk_codepoint(0x4E2D) && is_cjk_codepoint(0x3042) && !is_cjk_codepoint('a') && !is_cjk_codepoint(0xAC00));
    }

    void englishWords() {
        const Id fox = add("The quick brown Fox jumps over the lazy dog.");
        const Id cafe = add("We met at the Café de Flore in Paris.");
        const Id kernel = add("The attention kernel uses FlashAttention-style tiling.");
        QCOMPARE(ids("fox"), std::vector<Id>{fox});
        QCOMPARE(ids("FOX JUMPS"), std::vector<Id>{fox});  // all words, any case
        QCOMPARE(ids("cafe"), std::vector<Id>{cafe});       // diacritics folded
        QCOMPARE(ids("café"), std::vector<Id>{cafe});
        QCOMPARE(ids("kern"), std::vector<Id>{kernel});     // last word as prefix
        QCOMPARE(ids("flashatt"), std::vector<Id>{kernel});  // longer than the prefix indexes
        SearchOptions exact;
        exact.prefix_last = false;
        QVERIFY(ids("kern", exact).empty());
        QVERIFY(ids("fox paris").empty());
        QVERIFY(ids("giraffe").empty());
    }

    void chineseWords() {
        const Id china = add("我爱中国人民，也爱北京的秋天。");
        const Id apart = add("中间的国家很远。");  // has 中 and 国, but not next to each other
        const Id ml = add("机器学习模型需要大量数据。");
        const Id mixed = add("DeepSeek模型在GPU上运行得很快");
        QCOMPARE(ids("中国"), std::vector<Id>{china});
        QCOMPARE(ids("北京"), std::vector<Id>{china});
        QCOMPARE(ids("人民 秋天"), std::vector<Id>{china});
        QCOMPARE(ids("学习"), std::vector<Id>{ml});
        QCOMPARE(ids("国家"), std::vector<Id>{apart});
        QCOMPARE(sorted(ids("中")), sorted({china, apart}));
        QCOMPARE(sorted(ids("模型")), sorted({ml, mixed}));
        QCOMPARE(ids("deepseek 模型"), std::vector<Id>{mixed});
        QCOMPARE(ids("gpu"), std::vector<Id>{mixed});
        QVERIFY(ids("中北").empty());
        // Japanese kana and kanji, one token per character as well.
        const Id ja = add("東京で新しいモデルを試しました。");
        QCOMPARE(ids("モデル"), std::vector<Id>{ja});
        QCOMPARE(ids("東京"), std::vector<Id>{ja});
    }

    void rankingPrefersDenserMatches() {
        const Id once = add("A long note about many things, where the word transformer appears once among lots "
                            "of other words that dilute it considerably in this sentence.");
        const Id often = add("Transformer, transformer: the transformer architecture.");
        const Id thinking_only = add("Unrelated answer text here.", "I should mention the transformer.");
        auto ranked = ids("transformer");
        QCOMPARE(int(ranked.size()), 3);
        QCOMPARE(ranked[0], often);
        QVERIFY(std::find(ranked.begin(), ranked.end(), once) != ranked.end());
        QVERIFY(std::find(ranked.begin(), ranked.end(), thinking_only) != ranked.end());

        const Id zh_once = add("今天天气很好，我们去公园散步，然后讨论了模型。");
        const Id zh_often = add("模型，模型，还是模型。");
        auto zh = ids("模型");
        QCOMPARE(int(zh.size()), 2);
        QCOMPARE(zh[0], zh_often);
        QCOMPARE(zh[1], zh_once);
        // Scores are bm25: lower is better, and ascending in the returned order.
        SearchIndex search(*m_db);
        STORAGE_ASSIGN(auto hits, search.search_messages("transformer"));
        for (std::size_t i = 1; i < hits.size(); ++i) QVERIFY(hits[i - 1].score <= hits[i].score);
    }

    void commonWordsRankAmongRecentMatches() {
        // The oldest message is the densest match; 29 newer ones mention the word once.
        const Id dense = add("lemur lemur lemur lemur");
        std::vector<Id> newer;
        for (int i = 0; i < 29; ++i) newer.push_back(add("a lemur and some other words number " + std::to_string(i)));
        SearchOptions all;
        all.rank_window = 0;
        all.limit = 100;
        auto everything = ids("lemur", all);
        QCOMPARE(int(everything.size()), 30);
        QCOMPARE(everything[0], dense);
        SearchOptions windowed;
        windowed.rank_window = 10;
        windowed.limit = 5;
        auto recent = ids("lemur", windowed);
        QCOMPARE(int(recent.size()), 5);
        for (Id id : recent) QVERIFY(std::find(newer.end() - 10, newer.end(), id) != newer.end());
        // Paging past the window widens it rather than running dry.
        windowed.offset = 25;
        QCOMPARE(int(ids("lemur", windowed).size()), 5);
    }

    void snippetsHighlightMatches() {
        add("Quantised weights shrink memory; the red fox sleeps while GPUs compute.");
        add("长城是中国最著名的建筑之一，每年有很多游客。");
        SearchIndex search(*m_db);
        SearchOptions o;
        o.highlight_open = "[";
        o.highlight_close = "]";
        STORAGE_ASSIGN(auto en, search.search_messages("red fox", o));
        QCOMPARE(int(en.size()), 1);
        QVERIFY2(en[0].snippet.find("[red] [fox]") != std::string::npos, en[0].snippet.c_str());
        QCOMPARE(en[0].conversation_title, std::string("Search test"));
        QCOMPARE(en[0].conversation_id, m_conversation);
        QCOMPARE(en[0].role, Role::Assistant);
        STORAGE_ASSIGN(auto zh, search.search_messages("中国", o));
        QCOMPARE(int(zh.size()), 1);
        QVERIFY2(zh[0].snippet.find("[中国]") != std::string::npos, zh[0].snippet.c_str());
        // Default markers are STX/ETX.
        STORAGE_ASSIGN(auto plain, search.search_messages("fox"));
        QVERIFY(plain[0].snippet.find("\x02" "fox\x03") != std::string::npos);
    }

    void titlesAreSearchedAndHighlighted() {
        ConversationRepository conversations(*m_db);
        STORAGE_ASSIGN(Conversation trip, conversations.create("Trip photos from Kyoto"));
        STORAGE_ASSIGN(Conversation zh, conversations.create("周末的旅行计划"));
        SearchIndex search(*m_db);
        SearchOptions o;
        o.highlight_open = "<";
        o.highlight_close = ">";
        STORAGE_ASSIGN(auto hits, search.search_titles("kyoto", o));
        QCOMPARE(int(hits.size()), 1);
        QCOMPARE(hits[0].conversation_id, trip.id);
        QVERIFY(!hits[0].message_id);
        QCOMPARE(hits[0].snippet, std::string("Trip photos from <Kyoto>"));
        STORAGE_ASSIGN(auto zh_hits, search.search_titles("旅行", o));
        QCOMPARE(int(zh_hits.size()), 1);
        QCOMPARE(zh_hits[0].snippet, std::string("周末的<旅行>计划"));
        STORAGE_OK(conversations.rename(trip.id, "Osaka food"));
        STORAGE_ASSIGN(auto renamed, search.search(std::string("kyoto")));
        QVERIFY(renamed.titles.empty());
        STORAGE_ASSIGN(auto osaka, search.search(std::string("osaka")));
        QCOMPARE(int(osaka.titles.size()), 1);
        (void)zh;
    }

    void indexFollowsChanges() {
        MessageRepository messages(*m_db);
        const Id id = add("original wording about llamas");
        QCOMPARE(ids("llamas"), std::vector<Id>{id});
        STORAGE_ASSIGN(Message m, messages.get(id));
        m.content = "revised wording about alpacas";
        STORAGE_OK(messages.update(m));
        QVERIFY(ids("llamas").empty());
        QCOMPARE(ids("alpacas"), std::vector<Id>{id});
        // A streamed reply is searchable as it grows and once finished.
        STORAGE_ASSIGN(StreamingReply reply, StreamingReply::begin(*m_db, m_conversation, std::nullopt, "m"));
        STORAGE_OK(reply.append("streaming zebra "));
        STORAGE_OK(reply.checkpoint());
        QCOMPARE(ids("zebra"), std::vector<Id>{reply.message_id()});
        STORAGE_OK(reply.append("and okapi"));
        STORAGE_OK(reply.finish());
        QCOMPARE(ids("okapi"), std::vector<Id>{reply.message_id()});
        STORAGE_OK(messages.remove(id));
        QVERIFY(ids("alpacas").empty());
        ConversationRepository conversations(*m_db);
        STORAGE_OK(conversations.remove(m_conversation));
        QVERIFY(ids("zebra").empty());
        STORAGE_ASSIGN(std::string check, m_db->integrity_check());
        QCOMPARE(check, std::string("ok"));
        SearchIndex search(*m_db);
        STORAGE_OK(search.rebuild());
    }

    void syntaxInUserTextIsLiteral() {
        const Id id = add("Use NEAR(a b) or \"quotes\" AND OR NOT col:value * ^start");
        for (const char* q : {"NEAR(a", "\"quotes\"", "AND", "OR NOT", "col:value", "*", "^start", "\"", "(", ")",
                              "a\"b", "'; DROP TABLE messages; --", "{col}", "-", "+"}) {
            auto got = ids(q);
            QVERIFY2(got.empty() || got == std::vector<Id>{id}, q);  // never an error (which returns {-1})
        }
        QCOMPARE(ids("NEAR"), std::vector<Id>{id});
        QCOMPARE(ids("quotes"), std::vector<Id>{id});
        QCOMPARE(ids("col:value"), std::vector<Id>{id});
        QVERIFY(ids("").empty());
        QVERIFY(ids("   ").empty());
        QCOMPARE(query_count(), 1);
    }

private:
    static std::vector<Id> sorted(std::vector<Id> v) {
        std::sort(v.begin(), v.end());
        return v;
    }
    std::int64_t query_count() { return tessera::storage::test::query_int(*m_db, "SELECT count(*) FROM messages"); }
};

QTEST_APPLESS_MAIN(TestSearch)
#include "test_search.moc"
