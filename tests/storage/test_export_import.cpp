// Export and import: export -> import into an empty database -> export reproduces the same document
// (every table, every branch, the image bytes); conflicts are never overwritten silently; bad files are
// refused with a message that names the problem and change nothing; Markdown is readable and complete.
#include <functional>

#include "storage/attachment_store.h"
#include "storage/conversation_repository.h"
#include "storage/export_import.h"
#include "storage/generated_image_repository.h"
#include "storage/grounding_repository.h"
#include "storage/message_repository.h"
#include "storage/settings_repository.h"
#include "storage/sha256.h"
#include "storage_test_util.h"

using namespace tessera::storage;
using nlohmann::json;
using tessera::storage::test::open_db;
using tessera::storage::test::query_int;

namespace fs = std::filesystem;

namespace {

std::string png(int w, int h, const std::string& salt) {
    std::string b("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16);
    for (int v : {w, h})
        for (int s = 24; s >= 0; s -= 8) b += char((v >> s) & 0xFF);
    return b + salt;
}

// The document minus the moment it was made.
json comparable(json doc) {
    doc.erase("exported_at");
    return doc;
}

struct Env {
    tessera::test::TempDir dir;
    std::unique_ptr<Database> db;
    std::unique_ptr<AttachmentStore> store;
    bool open() {
        db = open_db(dir / "tessera.db");
        if (!db) return false;
        store = std::make_unique<AttachmentStore>(*db, dir.path());
        return true;
    }
    std::int64_t count(const char* table) {
        const std::string sql = std::string("SELECT count(*) FROM ") + table;
        return query_int(*db, sql.c_str());
    }
};

// Everything the schema can hold: branches, reasoning, all optional fields, CJK and emoji text,
// images shared between messages, boxes, generated images, settings.
tessera::Status fill(Database& db, AttachmentStore& store) {
    ConversationRepository conversations(db);
    MessageRepository messages(db);
    GroundingRepository grounding(db);
    GeneratedImageRepository gallery(db);
    SettingsRepository settings(db);
    TESSERA_ASSIGN(Attachment car, store.add(png(800, 600, "car")));
    TESSERA_ASSIGN(Attachment fox, store.add(png(384, 384, "fox")));
    for (int n = 0; n < 3; ++n) {
        TESSERA_ASSIGN(Conversation c, conversations.create("Conversation " + std::to_string(n) + " 对话 🚗", "vl2-small"));
        Message u;
        u.conversation_id = c.id;
        u.content = "Where is the red car? 红色的车在哪里？";
        u.created_at = 1'700'000'000'000 + n;
        TESSERA_ASSIGN(u, messages.append(u));
        TESSERA_TRY(store.link(u.id, car.id, "street.png"));
        Message a;
        a.conversation_id = c.id;
        a.parent_id = u.id;
        a.role = Role::Assistant;
        a.model = "deepseek-vl2-small";
        a.content = "<|ref|>the red car<|/ref|><|det|>[[12, 300, 480, 777]]<|/det|>";
        a.thinking = "Look for red vehicles.\n\"Quoted\" \\ backslash\ttab";
        a.sampling = {0.1, 0.9, 50, 2048, 9007199254740993LL, 1.1};
        a.stats = {900, 40, 12, 3210.5, 38.25, 1500};
        a.status = n == 2 ? MessageStatus::Interrupted : MessageStatus::Complete;
        TESSERA_ASSIGN(a, messages.append(a));
        GroundingBox b;
        b.message_id = a.id;
        b.attachment_id = car.id;
        b.phrase = "the red car";
        b.x0 = 12, b.y0 = 300, b.x1 = 480, b.y1 = 777;
        fill_pixel_box(b, car.width, car.height);
        TESSERA_TRY(grounding.add(b));
        // A regenerated reply and an edited question: two extra branches.
        Message regen = a;
        regen.content = "The red car is on the left.";
        regen.status = MessageStatus::Complete;
        TESSERA_TRY(messages.append(regen));
        TESSERA_ASSIGN(Message edited, messages.edit(u.id, "Where is the blue car?"));
        if (n == 1) TESSERA_TRY(messages.select_branch(a.id));  // not always the newest branch shown
        if (n == 0) TESSERA_TRY(conversations.set_pinned(c.id, true));
        if (n == 2) TESSERA_TRY(conversations.set_archived(c.id, true));
        (void)edited;
    }
    for (int i = 0; i < 2; ++i) {
        GeneratedImage g;
        g.prompt = "a red fox in a snowy forest, watercolor";
        g.seed = 12345;
        g.cfg_weight = 5.0;
        g.temperature = 1.0;
        g.model = "Janus-Pro-7B";
        g.attachment_id = fox.id;
        g.batch_index = i;
        g.created_at = 1'700'000'100'000;
        TESSERA_TRY(gallery.add(g));
    }
    TESSERA_TRY(settings.set("ui.theme", "dark"));
    TESSERA_TRY(settings.set("imagegen.guidance", 5.5));
    return {};
}

}  // namespace

class TestExportImport : public QObject {
    Q_OBJECT

private slots:
    void exportImportExportIsIdentical() {
        Env a, b;
        QVERIFY(a.open() && b.open());
        STORAGE_OK(fill(*a.db, *a.store));
        STORAGE_ASSIGN(json first, export_all_json(*a.db, *a.store));
        STORAGE_OK(write_json_file(a.dir / "export.json", first));
        STORAGE_ASSIGN(ImportReport report, import_json_file(*b.db, *b.store, a.dir / "export.json"));
        QCOMPARE(report.conversations_imported, 3);
        QCOMPARE(report.messages_imported, 12);
        QCOMPARE(report.attachments_imported, 2);
        QCOMPARE(report.generated_images_imported, 2);
        QCOMPARE(report.settings_imported, 2);
        QVERIFY(report.conflicts.empty());
        STORAGE_ASSIGN(json second, export_all_json(*b.db, *b.store));
        QCOMPARE(comparable(second).dump(), comparable(first).dump());
        for (const char* table : {"conversations", "messages", "attachments", "message_attachments", "grounding",
                                  "generated_images", "settings"})
            QCOMPARE(b.count(table), a.count(table));
        // The images themselves arrived, byte for byte, content-addressed.
        AttachmentStore& store = *b.store;
        STORAGE_ASSIGN(auto car, store.find_by_hash(sha256_hex(png(800, 600, "car"))));
        QVERIFY(car.has_value());
        QCOMPARE(car->width, 800);
        STORAGE_ASSIGN(std::string bytes, store.read(*car));
        QCOMPARE(bytes, png(800, 600, "car"));
        // The shown branch and search work on the imported copy.
        MessageRepository messages(*b.db);
        ConversationRepository conversations(*b.db);
        STORAGE_ASSIGN(auto list, conversations.list(ConversationFilter::All));
        QCOMPARE(int(list.size()), 3);
        for (const auto& c : list) {
            STORAGE_ASSIGN(auto thread, messages.active_thread(c.id));
            QVERIFY(!thread.empty());
        }
        STORAGE_ASSIGN(std::string check, b.db->integrity_check());
        QCOMPARE(check, std::string("ok"));
    }

    void singleConversationAndConflicts() {
        Env a;
        QVERIFY(a.open());
        STORAGE_OK(fill(*a.db, *a.store));
        ConversationRepository conversations(*a.db);
        STORAGE_ASSIGN(auto list, conversations.list(ConversationFilter::All));
        const Conversation original = list.front();
        STORAGE_ASSIGN(json one, export_conversation_json(*a.db, *a.store, original.id));
        QCOMPARE(one["conversations"].size(), std::size_t(1));
        QCOMPARE(one["attachments"].size(), std::size_t(1));  // only the image this conversation uses
        const auto messages_before = a.count("messages");

        // Default: the existing conversation is kept and the clash reported.
        STORAGE_ASSIGN(ImportReport skip, import_json(*a.db, *a.store, one));
        QCOMPARE(skip.conversations_skipped, 1);
        QCOMPARE(skip.conversations_imported, 0);
        QCOMPARE(int(skip.conflicts.size()), 1);
        QVERIFY(skip.conflicts[0].find(original.uuid) != std::string::npos);
        QCOMPARE(a.count("messages"), messages_before);

        // Fail: an error listing the clash, nothing written.
        ImportOptions fail;
        fail.on_conflict = ConflictPolicy::Fail;
        auto failed = import_json(*a.db, *a.store, one, fail);
        QVERIFY(!failed.ok());
        QVERIFY(failed.error().message.find(original.uuid) != std::string::npos);
        QCOMPARE(a.count("messages"), messages_before);

        // Keep both: a second conversation with a new identity.
        ImportOptions both;
        both.on_conflict = ConflictPolicy::KeepBoth;
        STORAGE_ASSIGN(ImportReport kept, import_json(*a.db, *a.store, one, both));
        QCOMPARE(kept.conversations_imported, 1);
        QCOMPARE(a.count("messages"), messages_before + 4);
        QCOMPARE(a.count("attachments"), 2);  // the image was already stored: not duplicated

        // Replace: explicit, reported, and the result equals the export.
        STORAGE_OK(conversations.rename(original.id, "changed locally"));
        ImportOptions replace;
        replace.on_conflict = ConflictPolicy::Replace;
        STORAGE_ASSIGN(ImportReport replaced, import_json(*a.db, *a.store, one, replace));
        QCOMPARE(replaced.conversations_replaced, 1);
        QVERIFY(!replaced.conflicts.empty());
        STORAGE_ASSIGN(auto back, conversations.find_by_uuid(original.uuid));
        QVERIFY(back.has_value());
        QCOMPARE(back->title, original.title);
        STORAGE_ASSIGN(json again, export_conversation_json(*a.db, *a.store, back->id));
        QCOMPARE(comparable(again).dump(), comparable(one).dump());

        // Settings with other values are kept unless Replace is chosen.
        SettingsRepository settings(*a.db);
        STORAGE_OK(settings.set("ui.theme", "light"));
        STORAGE_ASSIGN(json all, export_all_json(*a.db, *a.store));
        STORAGE_OK(settings.set("ui.theme", "dark"));
        STORAGE_ASSIGN(ImportReport s, import_json(*a.db, *a.store, all));
        QCOMPARE(s.settings_imported, 0);
        STORAGE_ASSIGN(auto theme, settings.get("ui.theme"));
        QCOMPARE(*theme, json("dark"));
        QCOMPARE(s.generated_images_skipped, 2);
    }

    void badFilesAreRefusedAndChangeNothing() {
        Env src, dst;
        QVERIFY(src.open() && dst.open());
        STORAGE_OK(fill(*src.db, *src.store));
        STORAGE_ASSIGN(json good, export_all_json(*src.db, *src.store));
        const std::string car_sha = sha256_hex(png(800, 600, "car"));

        struct Case {
            const char* name;
            std::function<void(json&)> damage;
            const char* expect;  // a piece of the error message
        };
        const std::vector<Case> cases = {
            {"wrong format", [](json& d) { d["format"] = "something.else"; }, "not a Tessera export"},
            {"future version", [](json& d) { d["version"] = 99; }, "version"},
            {"not an object", [](json& d) { d = json::array({1, 2}); }, "not a JSON object"},
            {"missing uuid", [](json& d) { d["conversations"][0].erase("uuid"); }, "conversations[0].uuid: missing"},
            {"title not text", [](json& d) { d["conversations"][1]["title"] = 5; }, "conversations[1].title"},
            {"unknown role", [](json& d) { d["conversations"][0]["messages"][0]["role"] = "robot"; }, "unknown role"},
            {"parent later", [](json& d) { d["conversations"][0]["messages"][0]["parent"] = 3; }, "not an earlier message"},
            {"duplicate ref", [](json& d) { d["conversations"][0]["messages"][1]["ref"] = 1; }, "used twice"},
            {"box outside", [](json& d) { d["conversations"][0]["messages"][1]["grounding"][0]["box"][2] = 1000; }, "0..999"},
            {"bad base64", [&](json& d) { d["attachments"][car_sha]["data"] = "@@@"; }, "base64"},
            {"hash mismatch", [&](json& d) { d["attachments"][car_sha]["data"] = "aGVsbG8="; }, "does not match"},
            {"missing image", [&](json& d) { d["attachments"].erase(car_sha); }, "neither in the file"},
            {"duplicate uuid", [](json& d) { d["conversations"][1]["uuid"] = d["conversations"][0]["uuid"]; }, "twice"},
            {"leaf elsewhere", [](json& d) { d["conversations"][0]["current_leaf"] = 77; }, "current_leaf"},
            {"seed not integer", [](json& d) { d["generated_images"][0]["seed"] = "many"; }, "generated_images[0].seed"},
            // The last conversation is valid up to a broken message: nothing at all may be written.
            {"late damage", [](json& d) { d["conversations"][2]["messages"][3]["created_at"] = "yesterday"; }, "created_at"},
        };
        for (const auto& c : cases) {
            json doc = good;
            c.damage(doc);
            auto result = import_json(*dst.db, *dst.store, doc);
            QVERIFY2(!result.ok(), c.name);
            QVERIFY2(result.error().message.find(c.expect) != std::string::npos,
                     (std::string(c.name) + ": " + result.error().message).c_str());
            QCOMPARE(dst.count("conversations"), 0);
            QCOMPARE(dst.count("messages"), 0);
            QCOMPARE(dst.count("settings"), 0);
        }
        // Files that are not exports at all.
        const std::string text = good.dump();
        const std::pair<const char*, std::string> files[] = {
            {"empty", ""},
            {"truncated", text.substr(0, text.size() / 2)},
            {"binary", std::string("\x00\xff\xfe\x01 SQLite format 3\0", 20)},
            {"plain text", "hello, this is not json"},
            {"other json", R"({"messages": []})"},
        };
        for (const auto& [name, bytes] : files) {
            tessera::test::write_file(dst.dir / "bad.json", bytes);
            auto result = import_json_file(*dst.db, *dst.store, dst.dir / "bad.json");
            QVERIFY2(!result.ok(), name);
            QCOMPARE(result.error().code, tessera::ErrorCode::Format);
            QVERIFY(result.error().message.find("bad.json") != std::string::npos);
        }
        QVERIFY(!import_json_file(*dst.db, *dst.store, dst.dir / "missing.json").ok());
        QCOMPARE(dst.count("conversations"), 0);
        // The undamaged document still imports.
        STORAGE_OK(import_json(*dst.db, *dst.store, good));
        QCOMPARE(dst.count("conversations"), 3);
    }

    void markdownIsReadable() {
        Env a;
        QVERIFY(a.open());
        STORAGE_OK(fill(*a.db, *a.store));
        ConversationRepository conversations(*a.db);
        STORAGE_ASSIGN(auto list, conversations.list(ConversationFilter::All));
        // Conversation 1 shows the first reply (selected branch), whose question has the car image.
        const Conversation* c1 = nullptr;
        for (const auto& c : list)
            if (c.title.starts_with("Conversation 1")) c1 = &c;
        QVERIFY(c1);
        STORAGE_ASSIGN(MarkdownDocument doc, export_conversation_markdown(*a.db, *a.store, c1->id));
        const std::string& md = doc.text;
        QVERIFY2(md.starts_with("# Conversation 1 对话 🚗\n"), md.c_str());
        QVERIFY(md.find("**You**") != std::string::npos);
        QVERIFY(md.find("**Assistant** (deepseek-vl2-small)") != std::string::npos);
        QVERIFY(md.find("Where is the red car? 红色的车在哪里？") != std::string::npos);
        QVERIFY(md.find("blue car") == std::string::npos);        // other branches are not in the reading copy
        QVERIFY(md.find("on the left") == std::string::npos);
        QVERIFY(md.find("<details><summary>Thinking (1 s)</summary>") != std::string::npos);
        QVERIFY(md.find("> Look for red vehicles.") != std::string::npos);
        QVERIFY(md.find("- **the red car**: [12, 300, 480, 777]") != std::string::npos);
        QCOMPARE(int(doc.images.size()), 1);
        QVERIFY(md.find("![street.png](" + doc.images[0].relative_path + ")") != std::string::npos);
        QVERIFY(doc.file_name.ends_with(".md"));
        QVERIFY(doc.file_name.find('/') == std::string::npos);

        const fs::path out = a.dir / "markdown";
        STORAGE_OK(write_markdown_export(*a.db, *a.store, out));
        int md_files = 0;
        for (const auto& e : fs::directory_iterator(out))
            if (e.path().extension() == ".md") ++md_files;
        QCOMPARE(md_files, 3);
        QCOMPARE(tessera::test::read_file(out / doc.images[0].relative_path), png(800, 600, "car"));
        QCOMPARE(tessera::test::read_file(out / doc.file_name), md);
    }
};

QTEST_APPLESS_MAIN(TestExportImport)
#include "test_export_import.moc"
