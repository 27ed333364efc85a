// Janus-1.3B next to Janus-Pro: which folders get the plain "User"/"Assistant" roles of the first Janus
// (models.md §7.5, §11.38) instead of Janus-Pro's <|User|>/<|Assistant|> tokens, decided from the folder's
// files (special_tokens_map.json, preprocessor_config.json), and the prompts such a model renders for chat
// and for text-to-image. Folders are copies of the tiny Janus-Pro fixture with one file replaced.
#include <QtTest/QtTest>

#include <algorithm>
#include <functional>

#include <nlohmann/json.hpp>

#include "models/janus.h"
#include "runtime/model_state.h"
#include "support/test_support.h"
#include "tessera/engine.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

using namespace tessera;
using namespace tessera::test;

namespace {

std::filesystem::path tiny() { return fixture("janus/tiny"); }

#define REQUIRE_OK(r) QVERIFY2((r).ok(), (r).ok() ? "" : (r).error().to_string().c_str())

// A copy of the fixture (files linked) where `file`, a JSON file, is replaced by edit(its content).
void copy_with(const std::filesystem::path& to, const std::string& file,
               const std::function<void(nlohmann::json&)>& edit) {
    std::filesystem::create_directories(to);
    for (const auto& e : std::filesystem::directory_iterator(tiny())) {
        if (e.path().filename() == file) continue;
        std::filesystem::create_symlink(e.path(), to / e.path().filename());
    }
    nlohmann::json j = nlohmann::json::parse(read_file(tiny() / file));
    edit(j);
    write_file(to / file, j.dump(2));
}

// The fixture's special_tokens_map.json without the two Janus-Pro role tokens.
void drop_role_tokens(nlohmann::json& m) {
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& t : m["additional_special_tokens"])
        if (t != "<|User|>" && t != "<|Assistant|>") kept.push_back(t);
    m["additional_special_tokens"] = kept;
}

std::string bos_of(const Tokenizer& t) { return t.token_bytes(*t.bos_id()); }
std::string eos_of(const Tokenizer& t) { return t.token_bytes(*t.eos_id()); }

}  // namespace

class TestJanusRoles : public QObject {
    Q_OBJECT

private slots:
    // The official "deepseek" template with the roles the Janus-1.3B scripts pass ("User", "Assistant").
    void plainRolesTemplate() {
        const std::vector<ChatMessage> chat{{"system", "Be brief."},
                                            {"user", "  What is this?  "},
                                            {"assistant", " A fox. "},
                                            {"user", "And the colour?"}};
        QCOMPARE(render_chat(ChatFormat::JanusPlain, chat, "<BOS>", "<EOS>"),
                 std::string("<BOS>Be brief.\n\nUser: What is this?\n\nAssistant: A fox.<EOS>"
                             "User: And the colour?\n\nAssistant:"));
        QCOMPARE(render_chat(ChatFormat::JanusPlain, {{"user", "hi"}}, "", ""),
                 std::string(kJanusSystemPrompt) + "\n\nUser: hi\n\nAssistant:");
        // Text-to-image (generation_inference.py): empty system prompt, then the image start tag.
        QCOMPARE(render_chat(ChatFormat::JanusPlain, {{"system", ""}, {"user", " a fox "}}, "<BOS>", "<EOS>"),
                 std::string("<BOS>User: a fox\n\nAssistant:"));
    }

    // The Janus-Pro fixture (its special_tokens_map lists both role tokens, do_normalize true) stays Janus-Pro.
    void proFolderKeepsRoleTokens() {
        auto plain = janus_uses_plain_roles(tiny());
        REQUIRE_OK(plain);
        QVERIFY(!*plain);
        auto info = probe_model(tiny());
        REQUIRE_OK(info);
        QCOMPARE(info->chat_format, std::string("janus"));
    }

    // Each file that marks the first Janus, on its own.
    void janus13bDetected() {
        struct Case {
            const char* name;
            std::string file;
            std::function<void(nlohmann::json&)> edit;
            bool plain;
        };
        const std::vector<Case> cases = {
            {"no role tokens", "special_tokens_map.json", drop_role_tokens, true},
            {"no <|Assistant|>", "special_tokens_map.json",
             [](nlohmann::json& m) {
                 auto& l = m["additional_special_tokens"];
                 l.erase(std::remove(l.begin(), l.end(), nlohmann::json("<|Assistant|>")), l.end());
             },
             true},
            {"no additional tokens", "special_tokens_map.json",
             [](nlohmann::json& m) { m.erase("additional_special_tokens"); }, true},
            {"role tokens as AddedToken objects", "special_tokens_map.json",
             [](nlohmann::json& m) {
                 for (auto& t : m["additional_special_tokens"]) t = {{"content", t}, {"special", true}};
             },
             false},
            {"do_normalize false", "preprocessor_config.json",
             [](nlohmann::json& p) { p["do_normalize"] = false; }, true},
        };
        for (const Case& c : cases) {
            TempDir dir;
            copy_with(dir / "m", c.file, c.edit);
            auto plain = janus_uses_plain_roles(dir / "m");
            QVERIFY2(plain.ok(), c.name);
            QVERIFY2(*plain == c.plain, c.name);
            auto cfg = load_janus_config(dir / "m");
            QVERIFY2(cfg.ok() && cfg->plain_roles == c.plain, c.name);
            auto info = probe_model(dir / "m");
            QVERIFY2(info.ok(), c.name);
            QCOMPARE(info->chat_format, std::string(c.plain ? "janus-1.3b" : "janus"));
        }
    }

    void badSpecialTokensMap() {
        TempDir dir;
        copy_with(dir / "m", "special_tokens_map.json",
                  [](nlohmann::json& m) { m["additional_special_tokens"] = "<|User|>"; });
        auto info = probe_model(dir / "m");
        QVERIFY(!info.ok());
        QVERIFY2(info.error().message.find("special_tokens_map.json") != std::string::npos,
                 info.error().message.c_str());
    }

    // A loaded Janus-1.3B folder renders its chat prompt with the plain roles (images still expanded), and its
    // text-to-image prompt likewise.
    void janus13bPrompts() {
        TempDir dir;
        copy_with(dir / "m", "special_tokens_map.json", drop_role_tokens);
        auto model = Model::load(dir / "m", LoadOptions{Device::Cpu, 0});
        REQUIRE_OK(model);
        QCOMPARE((*model)->info().chat_format, std::string("janus-1.3b"));
        auto tok = Tokenizer::load(dir / "m");
        REQUIRE_OK(tok);
        const std::string bos = bos_of(**tok), eos = eos_of(**tok);
        const std::vector<int32_t> ids = (*model)->chat_prompt({Message("user", "What is this?")});
        const std::string expected = bos + kJanusSystemPrompt + "\n\nUser: What is this?\n\nAssistant:";
        QCOMPARE(ids, (*tok)->encode(expected, /*add_special=*/false));
        const int32_t user_token = *(*tok)->token_to_id("<|User|>");
        QVERIFY(std::find(ids.begin(), ids.end(), user_token) == ids.end());

        Image img;
        img.width = img.height = 8;
        img.rgb.assign(size_t(8 * 8 * 3), 100);
        const std::vector<int32_t> with_image = (*model)->chat_prompt({Message("user", "What is this?", {img})});
        // The placeholder goes before the text on a line of its own, then becomes boi, 576 placeholders, eoi.
        const int32_t image = *(*tok)->token_to_id("<image_placeholder>");
        std::vector<int32_t> expanded;
        for (int32_t id : (*tok)->encode(bos + kJanusSystemPrompt +
                                             "\n\nUser: <image_placeholder>\nWhat is this?\n\nAssistant:",
                                         false)) {
            if (id != image) {
                expanded.push_back(id);
                continue;
            }
            expanded.push_back(*(*tok)->token_to_id("<begin_of_image>"));
            expanded.insert(expanded.end(), 576, image);
            expanded.push_back(*(*tok)->token_to_id("<end_of_image>"));
        }
        QCOMPARE(with_image, expanded);
        auto session = (*model)->open_session();
        REQUIRE_OK(session);
        GenerateOptions opt;
        opt.sampling.greedy = true;
        opt.max_tokens = 2;
        auto reply = (*session)->chat({Message("user", "What is this?", {img})}, opt);
        REQUIRE_OK(reply);
        QCOMPARE(reply->prompt_tokens, int(with_image.size()));

        auto cfg = load_janus_config(dir / "m");
        REQUIRE_OK(cfg);
        QCOMPARE(janus_chat_format(*cfg), ChatFormat::JanusPlain);
        const std::vector<int32_t> gen = janus_generation_ids(**tok, janus_chat_format(*cfg), bos, eos,
                                                              cfg->processor.image_start_tag, "A red fox.");
        QCOMPARE(gen, (*tok)->encode(bos + "User: A red fox.\n\nAssistant:<begin_of_image>", false));
    }
};

QTEST_GUILESS_MAIN(TestJanusRoles)
#include "test_janus_roles.moc"
