// Lossless JSON export (see export_import.h for the format's promises; import_json.cpp reads it back).
//
// Messages are written oldest first with a "ref" (1, 2, ...) and their parent's ref, so the tree does not
// depend on the ids of this database; attachments are referred to by SHA-256 and stored once, at the end.
#include <map>

#include "storage/base64.h"
#include "storage/conversation_repository.h"
#include "storage/export_import.h"
#include "storage/file_util.h"
#include "storage/generated_image_repository.h"
#include "storage/grounding_repository.h"
#include "storage/message_repository.h"
#include "storage/settings_repository.h"

namespace tessera::storage {

using nlohmann::json;

namespace {

template <class T>
void put_optional(json& object, const char* key, const std::optional<T>& value) {
    if (value) object[key] = *value;
}

json sampling_json(const SamplingParams& s) {
    json j = json::object();
    put_optional(j, "temperature", s.temperature);
    put_optional(j, "top_p", s.top_p);
    put_optional(j, "top_k", s.top_k);
    put_optional(j, "max_tokens", s.max_tokens);
    put_optional(j, "seed", s.seed);
    put_optional(j, "repetition_penalty", s.repetition_penalty);
    return j;
}

json stats_json(const GenerationStats& s) {
    json j = json::object();
    put_optional(j, "prompt_tokens", s.prompt_tokens);
    put_optional(j, "completion_tokens", s.completion_tokens);
    put_optional(j, "thinking_tokens", s.thinking_tokens);
    put_optional(j, "prefill_tokens_per_s", s.prefill_tokens_per_s);
    put_optional(j, "decode_tokens_per_s", s.decode_tokens_per_s);
    put_optional(j, "thinking_ms", s.thinking_ms);
    return j;
}

// Collects the attachments an export refers to, each once.
class AttachmentCollector {
public:
    explicit AttachmentCollector(AttachmentStore& store) : m_store(store) {}

    Result<std::string> use(Id attachment_id) {
        auto it = m_by_id.find(attachment_id);
        if (it != m_by_id.end()) return it->second;
        TESSERA_ASSIGN(Attachment a, m_store.get(attachment_id));
        m_by_id.emplace(attachment_id, a.sha256);
        std::string sha = a.sha256;
        m_used.emplace(sha, std::move(a));
        return sha;
    }
    void use(const Attachment& a) {
        m_by_id.emplace(a.id, a.sha256);
        m_used.emplace(a.sha256, a);
    }

    Result<json> to_json(bool include_bytes) {
        json out = json::object();
        for (const auto& [sha, a] : m_used) {
            json j = {{"mime", a.mime}, {"size", a.size}, {"width", a.width}, {"height", a.height}};
            if (include_bytes) {
                // A missing or damaged file fails the export: a "lossless" file must not lose images quietly.
                TESSERA_ASSIGN(std::string bytes, m_store.read(a));
                j["data"] = base64_encode(bytes);
            }
            out[sha] = std::move(j);
        }
        return out;
    }

private:
    AttachmentStore& m_store;
    std::map<Id, std::string> m_by_id;
    std::map<std::string, Attachment> m_used;
};

Result<json> conversation_json(Database& db, AttachmentStore& store, const Conversation& c,
                               AttachmentCollector& attachments) {
    MessageRepository messages(db);
    GroundingRepository grounding(db);
    TESSERA_ASSIGN(auto all, messages.list_all(c.id));
    std::map<Id, std::int64_t> ref_of;
    json list = json::array();
    for (const Message& m : all) {
        const std::int64_t ref = static_cast<std::int64_t>(ref_of.size()) + 1;
        ref_of[m.id] = ref;
        json j = {{"ref", ref},
                  {"role", role_name(m.role)},
                  {"content", m.content},
                  {"thinking", m.thinking},
                  {"model", m.model},
                  {"status", status_name(m.status)},
                  {"error", m.error},
                  {"sampling", sampling_json(m.sampling)},
                  {"stats", stats_json(m.stats)},
                  {"created_at", m.created_at},
                  {"updated_at", m.updated_at}};
        j["parent"] = m.parent_id && ref_of.count(*m.parent_id) ? json(ref_of[*m.parent_id]) : json(nullptr);
        j["finished_at"] = m.finished_at ? json(*m.finished_at) : json(nullptr);
        json links = json::array();
        TESSERA_ASSIGN(auto linked, store.for_message(m.id));
        for (const auto& ma : linked) {
            attachments.use(ma.attachment);
            links.push_back({{"sha256", ma.attachment.sha256}, {"name", ma.name}});
        }
        j["attachments"] = std::move(links);
        json boxes = json::array();
        TESSERA_ASSIGN(auto found, grounding.for_message(m.id));
        for (const auto& b : found) {
            json box = {{"phrase", b.phrase},
                        {"box", {b.x0, b.y0, b.x1, b.y1}},
                        {"pixels", {b.px0, b.py0, b.px1, b.py1}}};
            if (b.attachment_id) {
                TESSERA_ASSIGN(std::string sha, attachments.use(*b.attachment_id));
                box["image"] = sha;
            } else {
                box["image"] = nullptr;
            }
            boxes.push_back(std::move(box));
        }
        j["grounding"] = std::move(boxes);
        list.push_back(std::move(j));
    }
    json out = {{"uuid", c.uuid},         {"title", c.title},           {"model", c.model},
                {"pinned", c.pinned},     {"archived", c.archived},     {"created_at", c.created_at},
                {"updated_at", c.updated_at}, {"messages", std::move(list)}};
    out["current_leaf"] =
        c.current_leaf_id && ref_of.count(*c.current_leaf_id) ? json(ref_of[*c.current_leaf_id]) : json(nullptr);
    return out;
}

json envelope(Database& db) {
    auto version = db.schema_version();
    return {{"format", k_export_format},
            {"version", k_export_version},
            {"schema", version.ok() ? version.value() : 0},
            {"exported_at", now_ms()}};
}

}  // namespace

Result<json> export_conversation_json(Database& db, AttachmentStore& store, Id conversation_id,
                                      const ExportOptions& options) {
    ConversationRepository conversations(db);
    // A read transaction: the export is one consistent snapshot even while a reply is being written.
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(db, Transaction::Kind::Read));
    TESSERA_ASSIGN(Conversation c, conversations.get(conversation_id));
    AttachmentCollector attachments(store);
    json doc = envelope(db);
    TESSERA_ASSIGN(json cj, conversation_json(db, store, c, attachments));
    doc["conversations"] = json::array({std::move(cj)});
    doc["generated_images"] = json::array();
    doc["settings"] = json::object();
    TESSERA_ASSIGN(doc["attachments"], attachments.to_json(options.include_images));
    TESSERA_TRY(tx.commit());
    return doc;
}

Result<json> export_all_json(Database& db, AttachmentStore& store, const ExportOptions& options) {
    ConversationRepository conversations(db);
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(db, Transaction::Kind::Read));
    AttachmentCollector attachments(store);
    json doc = envelope(db);
    json list = json::array();
    // Oldest first, so an import recreates the sidebar in the same order.
    TESSERA_ASSIGN(auto all, conversations.list(ConversationFilter::All, -1, 0));
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        TESSERA_ASSIGN(json cj, conversation_json(db, store, *it, attachments));
        list.push_back(std::move(cj));
    }
    doc["conversations"] = std::move(list);
    json images = json::array();
    if (options.include_generated_images) {
        GeneratedImageRepository generated(db);
        TESSERA_ASSIGN(auto gallery, generated.list(-1, 0));
        for (auto it = gallery.rbegin(); it != gallery.rend(); ++it) {
            TESSERA_ASSIGN(std::string sha, attachments.use(it->attachment_id));
            images.push_back({{"uuid", it->uuid},
                              {"prompt", it->prompt},
                              {"seed", it->seed},
                              {"cfg_weight", it->cfg_weight},
                              {"temperature", it->temperature},
                              {"model", it->model},
                              {"image", sha},
                              {"batch_index", it->batch_index},
                              {"created_at", it->created_at}});
        }
    }
    doc["generated_images"] = std::move(images);
    json settings = json::object();
    if (options.include_settings) {
        SettingsRepository repo(db);
        TESSERA_ASSIGN(auto values, repo.all());
        for (auto& [key, value] : values) settings[key] = std::move(value);
    }
    doc["settings"] = std::move(settings);
    TESSERA_ASSIGN(doc["attachments"], attachments.to_json(options.include_images));
    TESSERA_TRY(tx.commit());
    return doc;
}

Status write_json_file(const std::filesystem::path& path, const json& document) {
    std::string text;
    try {
        text = document.dump(1, '\t');
    } catch (const json::exception& e) {
        return make_error(ErrorCode::Format, path.string() + ": cannot write export: " + e.what());
    }
    text += '\n';
    return write_file_atomic(path, text);
}

}  // namespace tessera::storage
