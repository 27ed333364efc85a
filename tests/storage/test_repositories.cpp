// Round trips for every table: what is written reads back field for field, lists come in the documented
// order, and deleting a conversation takes its messages, links and boxes with it.
#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/generated_image_repository.h"
#include "storage/grounding_repository.h"
#include "storage/message_repository.h"
#include "storage/settings_repository.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;

namespace {

// A 4x3 PNG header is all the store needs to recognise an image and its size.
std::string tiny_png(int w, int h, char salt) {
    std::string b = "\x89PNG\r\n\x1a\n";
    b += std::string("\x00\x00\x00\x0dIHDR", 8);
    for (int v : {w, h})
        for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((v >> s) & 0xFF);
    b += std::string("\x08\x06\x00\x00\x00", 5);
    b += salt;
    return b;
}

}  // namespace

class TestRepositories : public QObject {
    Q_OBJECT

    tessera::test::TempDir* m_dir = nullptr;
    std::unique_ptr<Database> m_db;

private slots:
    void init() {
        m_dir = new tessera::test::TempDir();
        m_db = open_db(*m_dir / "tessera.db");
        QVERIFY(m_db);
    }
    void cleanup() {
        m_db.reset();
        delete m_dir;
        m_dir = nullptr;
    }

    void conversationsRoundTripAndOrder() {
        ConversationRepository repo(*m_db);
        STORAGE_ASSIGN(Conversation a, repo.create("First", "deepseek-r1-distill-qwen-1.5b"));
        QVERIFY(a.id > 0);
        QCOMPARE(a.uuid.size(), std::size_t(36));
        STORAGE_ASSIGN(Conversation read, repo.get(a.id));
        QCOMPARE(read, a);
        STORAGE_ASSIGN(auto by_uuid, repo.find_by_uuid(a.uuid));
        QVERIFY(by_uuid && *by_uuid == a);
        STORAGE_ASSIGN(auto none, repo.find_by_uuid("no-such-uuid"));
        QVERIFY(!none);

        // Exact times make the order deterministic.
        std::vector<Id> ids;
        for (int i = 0; i < 5; ++i) {
            Conversation c;
            c.uuid = new_uuid();
            c.title = "c" + std::to_string(i);
            c.created_at = c.updated_at = 10'000 + i;
            STORAGE_ASSIGN(Id id, repo.insert(c));
            ids.push_back(id);
        }
        STORAGE_OK(repo.set_pinned(ids[1], true));
        STORAGE_OK(repo.set_archived(ids[3], true));
        STORAGE_OK(repo.rename(ids[0], "renamed \"quoted\" 'title' 标题"));  // also makes it the newest
        STORAGE_OK(repo.set_model(ids[2], "janus-pro-7b"));
        STORAGE_ASSIGN(auto active, repo.list(ConversationFilter::Active));
        std::vector<std::string> titles;
        for (const auto& c : active) titles.push_back(c.title);
        const std::vector<std::string> expected = {"c1", "renamed \"quoted\" 'title' 标题", "First", "c4", "c2"};
        QCOMPARE(titles, expected);
        STORAGE_ASSIGN(auto archived, repo.list(ConversationFilter::Archived));
        QCOMPARE(int(archived.size()), 1);
        QCOMPARE(archived[0].id, ids[3]);
        QVERIFY(archived[0].archived);
        STORAGE_ASSIGN(auto page, repo.list(ConversationFilter::All, 2, 1));
        QCOMPARE(int(page.size()), 2);
        STORAGE_ASSIGN(std::int64_t n, repo.count(ConversationFilter::All));
        QCOMPARE(n, 6);
        STORAGE_ASSIGN(Conversation model, repo.get(ids[2]));
        QCOMPARE(model.model, std::string("janus-pro-7b"));
        QVERIFY(!repo.rename(999999, "x").ok());
        QVERIFY(!repo.get(999999).ok());
        STORAGE_OK(repo.remove(ids[4]));
        QVERIFY(!repo.get(ids[4]).ok());
    }

    void messagesRoundTripEveryField() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("fields"));
        Message user;
        user.conversation_id = c.id;
        user.role = Role::User;
        user.content = "Explain MLA attention.\nWith a table | a | b |\n";
        STORAGE_ASSIGN(Message u, messages.append(user));
        QVERIFY(u.created_at > 0);
        QCOMPARE(u.finished_at, std::optional<std::int64_t>(u.created_at));

        Message full;
        full.conversation_id = c.id;
        full.parent_id = u.id;
        full.role = Role::Assistant;
        full.content = "MLA compresses the KV cache. 多头潜在注意力 😀";
        full.thinking = "The user wants a short answer; mention the latent vector.";
        full.model = "deepseek-v2-lite-chat";
        full.status = MessageStatus::Complete;
        full.sampling = {0.6, 0.95, 40, 4096, -123456789012LL, 1.05};
        full.stats = {512, 300, 120, 2500.25, 41.5, 4200};
        full.created_at = 1'700'000'000'123;
        full.updated_at = 1'700'000'004'000;
        full.finished_at = 1'700'000'004'000;
        STORAGE_ASSIGN(Message stored, messages.append(full));
        STORAGE_ASSIGN(Message read, messages.get(stored.id));
        full.id = stored.id;
        QCOMPARE(read, full);

        // Unset optionals stay unset.
        STORAGE_ASSIGN(Message ur, messages.get(u.id));
        QVERIFY(!ur.sampling.temperature && !ur.sampling.seed && !ur.stats.decode_tokens_per_s);
        QCOMPARE(ur.role, Role::User);

        // update() changes a message in place.
        read.status = MessageStatus::Error;
        read.error = "CUDA out of memory";
        read.stats.completion_tokens = 301;
        STORAGE_OK(messages.update(read));
        STORAGE_ASSIGN(Message updated, messages.get(read.id));
        QCOMPARE(updated.status, MessageStatus::Error);
        QCOMPARE(updated.error, std::string("CUDA out of memory"));
        QCOMPARE(updated.stats.completion_tokens, std::optional<std::int64_t>(301));

        // The conversation follows its newest message.
        STORAGE_ASSIGN(Conversation after, conversations.get(c.id));
        QCOMPARE(after.current_leaf_id, std::optional<Id>(stored.id));
        STORAGE_ASSIGN(auto all, messages.list_all(c.id));
        QCOMPARE(int(all.size()), 2);

        // A parent from another conversation is refused by the schema itself.
        STORAGE_ASSIGN(Conversation other, conversations.create("other"));
        Message stray;
        stray.conversation_id = other.id;
        stray.parent_id = u.id;
        auto refused = messages.append(stray);
        QVERIFY(!refused.ok());
        QVERIFY(refused.error().message.find("another conversation") != std::string::npos);
        QVERIFY(!conversations.set_current_leaf(other.id, u.id).ok());
    }

    void settingsRoundTrip() {
        SettingsRepository settings(*m_db);
        const nlohmann::json values = {{"ui.theme", "dark"},
                                       {"ui.sidebar_width", 280},
                                       {"imagegen.guidance", 5.5},
                                       {"imagegen.seed_locked", true},
                                       {"window.geometry", {{"x", 10}, {"y", 20}, {"w", 1280}, {"h", 800}}},
                                       {"recent.models", {"a", "b", "模型"}},
                                       {"nothing", nullptr}};
        for (const auto& [key, value] : values.items()) STORAGE_OK(settings.set(key, value));
        for (const auto& [key, value] : values.items()) {
            STORAGE_ASSIGN(auto got, settings.get(key));
            QVERIFY(got.has_value());
            QCOMPARE(*got, value);
        }
        STORAGE_OK(settings.set("ui.theme", "light"));
        STORAGE_ASSIGN(auto theme, settings.get("ui.theme"));
        QCOMPARE(*theme, nlohmann::json("light"));
        STORAGE_ASSIGN(auto wrong_type, settings.get_or("ui.theme", 3));
        QCOMPARE(wrong_type, nlohmann::json(3));
        STORAGE_ASSIGN(auto number, settings.get_or("imagegen.guidance", 1));
        QCOMPARE(number, nlohmann::json(5.5));
        STORAGE_ASSIGN(auto missing, settings.get_or("missing", "x"));
        QCOMPARE(missing, nlohmann::json("x"));
        STORAGE_OK(settings.remove("ui.theme"));
        STORAGE_ASSIGN(auto gone, settings.get("ui.theme"));
        QVERIFY(!gone);
        STORAGE_ASSIGN(auto all, settings.all());
        QCOMPARE(int(all.size()), int(values.size()) - 1);
        QVERIFY(!settings.set("", 1).ok());
        // A value damaged outside the app reads as absent, not as an error.
        STORAGE_OK(m_db->exec("UPDATE settings SET value = '{broken' WHERE key = 'ui.sidebar_width'"));
        STORAGE_ASSIGN(auto broken, settings.get("ui.sidebar_width"));
        QVERIFY(!broken);
    }

    void groundingRoundTrip() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        AttachmentStore store(*m_db, m_dir->path());
        GroundingRepository grounding(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("vision"));
        Message m;
        m.conversation_id = c.id;
        m.role = Role::Assistant;
        m.content = "<|ref|>the red car<|/ref|><|det|>[[10, 20, 400, 999]]<|/det|>";
        STORAGE_ASSIGN(Message reply, messages.append(m));
        STORAGE_ASSIGN(Attachment image, store.add(tiny_png(1998, 999, 'g')));
        QCOMPARE(image.width, 1998);

        std::vector<GroundingBox> boxes(2);
        boxes[0].phrase = "the red car";
        boxes[0].attachment_id = image.id;
        boxes[0].x0 = 10, boxes[0].y0 = 20, boxes[0].x1 = 400, boxes[0].y1 = 999;
        fill_pixel_box(boxes[0], image.width, image.height);
        QCOMPARE(boxes[0].px0, 20.0);
        QCOMPARE(boxes[0].py1, 999.0);
        QCOMPARE(boxes[0].px1, 800.0);
        boxes[1].phrase = "红色的车";
        boxes[1].x0 = 0, boxes[1].y0 = 0, boxes[1].x1 = 999, boxes[1].y1 = 999;
        boxes[1].px0 = 0.5, boxes[1].py0 = 0.25, boxes[1].px1 = 1997.75, boxes[1].py1 = 998.5;
        STORAGE_OK(grounding.replace_for_message(reply.id, boxes));
        STORAGE_ASSIGN(auto read, grounding.for_message(reply.id));
        QCOMPARE(int(read.size()), 2);
        for (std::size_t i = 0; i < 2; ++i) {
            boxes[i].id = read[i].id;
            boxes[i].message_id = reply.id;
            boxes[i].position = int(i);
            QCOMPARE(read[i], boxes[i]);
        }
        // Replacing keeps only the new set; out-of-range boxes are refused before anything changes.
        GroundingBox bad = boxes[0];
        bad.x1 = 1000;
        QVERIFY(!grounding.replace_for_message(reply.id, {bad}).ok());
        STORAGE_ASSIGN(auto unchanged, grounding.for_message(reply.id));
        QCOMPARE(int(unchanged.size()), 2);
        STORAGE_OK(grounding.replace_for_message(reply.id, {boxes[1]}));
        STORAGE_ASSIGN(auto one, grounding.for_message(reply.id));
        QCOMPARE(int(one.size()), 1);
        QCOMPARE(one[0].phrase, std::string("红色的车"));
        QCOMPARE(one[0].position, 0);
    }

    void generatedImagesRoundTrip() {
        AttachmentStore store(*m_db, m_dir->path());
        GeneratedImageRepository gallery(*m_db);
        std::vector<GeneratedImage> added;
        for (int i = 0; i < 4; ++i) {
            STORAGE_ASSIGN(Attachment png, store.add(tiny_png(384, 384, char('0' + i))));
            GeneratedImage g;
            g.prompt = "a red fox in a snowy forest, watercolor";
            g.seed = 12345 + i;
            g.cfg_weight = 5.0;
            g.temperature = 1.0;
            g.model = "Janus-Pro-7B";
            g.attachment_id = png.id;
            g.batch_index = i;
            g.created_at = 5000 + i / 2;  // two per "click"
            STORAGE_ASSIGN(GeneratedImage stored, gallery.add(g));
            QVERIFY(stored.id > 0 && !stored.uuid.empty());
            added.push_back(stored);
        }
        STORAGE_ASSIGN(GeneratedImage read, gallery.get(added[2].id));
        QCOMPARE(read, added[2]);
        STORAGE_ASSIGN(auto found, gallery.find_by_uuid(added[1].uuid));
        QVERIFY(found && *found == added[1]);
        STORAGE_ASSIGN(auto newest, gallery.list(3, 0));
        QCOMPARE(int(newest.size()), 3);
        QCOMPARE(newest[0].id, added[3].id);  // newest first, ties by id
        QCOMPARE(newest[1].id, added[2].id);
        QCOMPARE(newest[2].id, added[1].id);
        STORAGE_OK(gallery.remove(added[0].id));
        STORAGE_ASSIGN(std::int64_t n, gallery.count());
        QCOMPARE(n, 3);
        QVERIFY(!gallery.remove(added[0].id).ok());
    }

    void deletingConversationCascades() {
        ConversationRepository conversations(*m_db);
        MessageRepository messages(*m_db);
        AttachmentStore store(*m_db, m_dir->path());
        GroundingRepository grounding(*m_db);
        STORAGE_ASSIGN(Conversation c, conversations.create("to delete"));
        STORAGE_ASSIGN(Conversation keep, conversations.create("to keep"));
        std::optional<Id> parent;
        for (int i = 0; i < 6; ++i) {
            Message m;
            m.conversation_id = c.id;
            m.parent_id = parent;
            m.role = i % 2 ? Role::Assistant : Role::User;
            m.content = "message " + std::to_string(i);
            STORAGE_ASSIGN(Message added, messages.append(m));
            parent = added.id;
        }
        STORAGE_ASSIGN(Attachment a, store.add(tiny_png(8, 8, 'x')));
        STORAGE_OK(store.link(*parent, a.id, "x.png"));
        GroundingBox b;
        b.message_id = *parent;
        b.phrase = "x";
        STORAGE_OK(grounding.add(b));
        Message other;
        other.conversation_id = keep.id;
        other.content = "kept";
        STORAGE_OK(messages.append(other));

        STORAGE_OK(conversations.remove(c.id));
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM messages"), 1);
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM message_attachments"), 0);
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM grounding"), 0);
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM attachments"), 1);  // until garbage collection
        QCOMPARE(query_int(*m_db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        STORAGE_ASSIGN(std::string check, m_db->integrity_check());
        QCOMPARE(check, std::string("ok"));
    }
};

QTEST_APPLESS_MAIN(TestRepositories)
#include "test_repositories.moc"
