// JSON import (see export_import.h). Two phases: the whole document is validated into a plan first, with
// errors that name the offending field ("conversations[2].messages[5].parent: ..."); only then does one
// transaction write it. A bad file therefore changes nothing.
#include <map>
#include <set>

#include "storage/base64.h"
#include "storage/conversation_repository.h"
#include "storage/export_import.h"
#include "storage/file_util.h"
#include "storage/generated_image_repository.h"
#include "storage/grounding_repository.h"
#include "storage/message_repository.h"
#include "storage/settings_repository.h"
#include "storage/sha256.h"

namespace tessera::storage {

using nlohmann::json;

namespace {

struct PlanBox {
    GroundingBox box;
    std::optional<std::string> image;
};

struct PlanMessage {
    Message message;
    std::int64_t ref = 0;
    std::optional<std::int64_t> parent_ref;
    std::vector<std::pair<std::string, std::string>> attachments;  // sha256, name
    std::vector<PlanBox> boxes;
};

struct PlanConversation {
    Conversation conversation;
    std::optional<std::int64_t> current_leaf_ref;
    std::vector<PlanMessage> messages;
};

struct PlanImage {
    GeneratedImage image;
    std::string sha256;
};

struct PlanAttachment {
    std::string mime;
    std::optional<std::string> bytes;
};

struct Plan {
    std::vector<PlanConversation> conversations;
    std::vector<PlanImage> images;
    std::map<std::string, json> settings;
    std::map<std::string, PlanAttachment> attachments;
};

Error bad(const std::string& where, const std::string& what) {
    return make_error(ErrorCode::Format, "import: " + where + ": " + what);
}

// Field readers: each checks presence and JSON type before reading, so nlohmann never throws here.
class Fields {
public:
    Fields(const json& object, std::string where) : m_o(object), m_where(std::move(where)) {}

    Status object() const { return m_o.is_object() ? Status() : bad(m_where, "expected an object"); }
    std::string at(const char* key) const { return m_where + "." + key; }
    bool has(const char* key) const { return m_o.contains(key) && !m_o.at(key).is_null(); }

    Result<std::string> text(const char* key, bool required = true) const {
        if (!has(key)) return required ? Result<std::string>(bad(at(key), "missing")) : std::string();
        const json& v = m_o.at(key);
        if (!v.is_string()) return bad(at(key), "expected a string");
        return v.get<std::string>();
    }
    Result<std::int64_t> integer(const char* key, std::optional<std::int64_t> fallback = std::nullopt) const {
        if (!has(key)) return fallback ? Result<std::int64_t>(*fallback) : Result<std::int64_t>(bad(at(key), "missing"));
        const json& v = m_o.at(key);
        if (!v.is_number_integer()) return bad(at(key), "expected an integer");
        return v.get<std::int64_t>();
    }
    Result<std::optional<std::int64_t>> opt_integer(const char* key) const {
        if (!has(key)) return std::optional<std::int64_t>();
        TESSERA_ASSIGN(std::int64_t v, integer(key));
        return std::optional<std::int64_t>(v);
    }
    Result<double> number(const char* key) const {
        if (!has(key)) return bad(at(key), "missing");
        const json& v = m_o.at(key);
        if (!v.is_number()) return bad(at(key), "expected a number");
        return v.get<double>();
    }
    Result<std::optional<double>> opt_number(const char* key) const {
        if (!has(key)) return std::optional<double>();
        TESSERA_ASSIGN(double v, number(key));
        return std::optional<double>(v);
    }
    Result<bool> boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        const json& v = m_o.at(key);
        if (!v.is_boolean()) return bad(at(key), "expected true or false");
        return v.get<bool>();
    }
    Result<const json*> array(const char* key) const {
        static const json empty = json::array();
        if (!has(key)) return &empty;
        const json& v = m_o.at(key);
        if (!v.is_array()) return bad(at(key), "expected an array");
        return &v;
    }

private:
    const json& m_o;
    std::string m_where;
};

bool is_sha256(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

Result<PlanMessage> plan_message(const json& j, const std::string& where, const std::set<std::int64_t>& earlier) {
    Fields f(j, where);
    TESSERA_TRY(f.object());
    PlanMessage pm;
    Message& m = pm.message;
    TESSERA_ASSIGN(pm.ref, f.integer("ref"));
    if (earlier.count(pm.ref)) return bad(f.at("ref"), "ref " + std::to_string(pm.ref) + " is used twice");
    TESSERA_ASSIGN(pm.parent_ref, f.opt_integer("parent"));
    if (pm.parent_ref && !earlier.count(*pm.parent_ref))
        return bad(f.at("parent"), "parent " + std::to_string(*pm.parent_ref) + " is not an earlier message");
    TESSERA_ASSIGN(std::string role, f.text("role"));
    if (auto r = role_from_name(role)) m.role = *r;
    else return bad(f.at("role"), "unknown role '" + role + "'");
    TESSERA_ASSIGN(std::string status, f.text("status", false));
    if (status.empty()) status = "complete";
    if (auto s = status_from_name(status)) m.status = *s;
    else return bad(f.at("status"), "unknown status '" + status + "'");
    // A reply that was being generated when exported has no writer any more.
    if (m.status == MessageStatus::Streaming) m.status = MessageStatus::Interrupted;
    TESSERA_ASSIGN(m.content, f.text("content", false));
    TESSERA_ASSIGN(m.thinking, f.text("thinking", false));
    TESSERA_ASSIGN(m.model, f.text("model", false));
    TESSERA_ASSIGN(m.error, f.text("error", false));
    TESSERA_ASSIGN(m.created_at, f.integer("created_at"));
    TESSERA_ASSIGN(m.updated_at, f.integer("updated_at", m.created_at));
    TESSERA_ASSIGN(m.finished_at, f.opt_integer("finished_at"));
    if (f.has("sampling")) {
        Fields s(j.at("sampling"), f.at("sampling"));
        TESSERA_TRY(s.object());
        TESSERA_ASSIGN(m.sampling.temperature, s.opt_number("temperature"));
        TESSERA_ASSIGN(m.sampling.top_p, s.opt_number("top_p"));
        TESSERA_ASSIGN(m.sampling.top_k, s.opt_integer("top_k"));
        TESSERA_ASSIGN(m.sampling.max_tokens, s.opt_integer("max_tokens"));
        TESSERA_ASSIGN(m.sampling.seed, s.opt_integer("seed"));
        TESSERA_ASSIGN(m.sampling.repetition_penalty, s.opt_number("repetition_penalty"));
    }
    if (f.has("stats")) {
        Fields s(j.at("stats"), f.at("stats"));
        TESSERA_TRY(s.object());
        TESSERA_ASSIGN(m.stats.prompt_tokens, s.opt_integer("prompt_tokens"));
        TESSERA_ASSIGN(m.stats.completion_tokens, s.opt_integer("completion_tokens"));
        TESSERA_ASSIGN(m.stats.thinking_tokens, s.opt_integer("thinking_tokens"));
        TESSERA_ASSIGN(m.stats.prefill_tokens_per_s, s.opt_number("prefill_tokens_per_s"));
        TESSERA_ASSIGN(m.stats.decode_tokens_per_s, s.opt_number("decode_tokens_per_s"));
        TESSERA_ASSIGN(m.stats.thinking_ms, s.opt_integer("thinking_ms"));
    }
    TESSERA_ASSIGN(const json* links, f.array("attachments"));
    for (std::size_t i = 0; i < links->size(); ++i) {
        Fields a((*links)[i], f.at("attachments") + "[" + std::to_string(i) + "]");
        TESSERA_TRY(a.object());
        TESSERA_ASSIGN(std::string sha, a.text("sha256"));
        if (!is_sha256(sha)) return bad(a.at("sha256"), "not a SHA-256 hex digest");
        TESSERA_ASSIGN(std::string name, a.text("name", false));
        pm.attachments.emplace_back(std::move(sha), std::move(name));
    }
    TESSERA_ASSIGN(const json* boxes, f.array("grounding"));
    for (std::size_t i = 0; i < boxes->size(); ++i) {
        const std::string bw = f.at("grounding") + "[" + std::to_string(i) + "]";
        const json& bj = (*boxes)[i];
        Fields b(bj, bw);
        TESSERA_TRY(b.object());
        PlanBox pb;
        TESSERA_ASSIGN(pb.box.phrase, b.text("phrase", false));
        if (!b.has("box") || !bj.at("box").is_array() || bj.at("box").size() != 4)
            return bad(b.at("box"), "expected four integers");
        int* model[4] = {&pb.box.x0, &pb.box.y0, &pb.box.x1, &pb.box.y1};
        for (std::size_t k = 0; k < 4; ++k) {
            const json& v = bj.at("box")[k];
            if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 999)
                return bad(b.at("box"), "coordinates must be integers in 0..999");
            *model[k] = static_cast<int>(v.get<std::int64_t>());
        }
        if (!b.has("pixels") || !bj.at("pixels").is_array() || bj.at("pixels").size() != 4)
            return bad(b.at("pixels"), "expected four numbers");
        double* pixels[4] = {&pb.box.px0, &pb.box.py0, &pb.box.px1, &pb.box.py1};
        for (std::size_t k = 0; k < 4; ++k) {
            const json& v = bj.at("pixels")[k];
            if (!v.is_number()) return bad(b.at("pixels"), "expected four numbers");
            *pixels[k] = v.get<double>();
        }
        if (b.has("image")) {
            TESSERA_ASSIGN(std::string sha, b.text("image"));
            if (!is_sha256(sha)) return bad(b.at("image"), "not a SHA-256 hex digest");
            pb.image = std::move(sha);
        }
        pm.boxes.push_back(std::move(pb));
    }
    return pm;
}

Result<PlanConversation> plan_conversation(const json& j, const std::string& where) {
    Fields f(j, where);
    TESSERA_TRY(f.object());
    PlanConversation pc;
    Conversation& c = pc.conversation;
    TESSERA_ASSIGN(c.uuid, f.text("uuid"));
    if (c.uuid.empty()) return bad(f.at("uuid"), "empty");
    TESSERA_ASSIGN(c.title, f.text("title", false));
    TESSERA_ASSIGN(c.model, f.text("model", false));
    TESSERA_ASSIGN(c.pinned, f.boolean("pinned", false));
    TESSERA_ASSIGN(c.archived, f.boolean("archived", false));
    TESSERA_ASSIGN(c.created_at, f.integer("created_at"));
    TESSERA_ASSIGN(c.updated_at, f.integer("updated_at", c.created_at));
    TESSERA_ASSIGN(pc.current_leaf_ref, f.opt_integer("current_leaf"));
    TESSERA_ASSIGN(const json* messages, f.array("messages"));
    std::set<std::int64_t> refs;
    for (std::size_t i = 0; i < messages->size(); ++i) {
        TESSERA_ASSIGN(PlanMessage pm,
                       plan_message((*messages)[i], f.at("messages") + "[" + std::to_string(i) + "]", refs));
        refs.insert(pm.ref);
        pc.messages.push_back(std::move(pm));
    }
    if (pc.current_leaf_ref && !refs.count(*pc.current_leaf_ref))
        return bad(f.at("current_leaf"), "names no message of this conversation");
    return pc;
}

Result<Plan> make_plan(const json& doc) {
    Fields top(doc, "document");
    if (!doc.is_object()) return bad("document", "not a JSON object");
    TESSERA_ASSIGN(std::string format, top.text("format"));
    if (format != k_export_format) return bad("format", "'" + format + "' is not a Tessera export");
    TESSERA_ASSIGN(std::int64_t version, top.integer("version"));
    if (version < 1 || version > k_export_version)
        return bad("version", "export version " + std::to_string(version) + " is not supported by this Tessera");
    Plan plan;
    if (top.has("attachments")) {
        const json& atts = doc.at("attachments");
        if (!atts.is_object()) return bad("attachments", "expected an object keyed by SHA-256");
        for (const auto& [sha, aj] : atts.items()) {
            const std::string where = "attachments." + sha;
            if (!is_sha256(sha)) return bad(where, "key is not a SHA-256 hex digest");
            Fields a(aj, where);
            TESSERA_TRY(a.object());
            PlanAttachment pa;
            TESSERA_ASSIGN(pa.mime, a.text("mime", false));
            if (a.has("data")) {
                TESSERA_ASSIGN(std::string data, a.text("data"));
                auto bytes = base64_decode(data);
                if (!bytes) return bad(a.at("data"), "not valid base64");
                if (sha256_hex(*bytes) != sha) return bad(a.at("data"), "content does not match its SHA-256");
                pa.bytes = std::move(*bytes);
            }
            plan.attachments.emplace(sha, std::move(pa));
        }
    }
    TESSERA_ASSIGN(const json* conversations, top.array("conversations"));
    std::set<std::string> uuids;
    for (std::size_t i = 0; i < conversations->size(); ++i) {
        const std::string where = "conversations[" + std::to_string(i) + "]";
        TESSERA_ASSIGN(PlanConversation pc, plan_conversation((*conversations)[i], where));
        if (!uuids.insert(pc.conversation.uuid).second) return bad(where + ".uuid", "appears twice in the file");
        plan.conversations.push_back(std::move(pc));
    }
    TESSERA_ASSIGN(const json* images, top.array("generated_images"));
    std::set<std::string> image_uuids;
    for (std::size_t i = 0; i < images->size(); ++i) {
        const std::string where = "generated_images[" + std::to_string(i) + "]";
        Fields g((*images)[i], where);
        TESSERA_TRY(g.object());
        PlanImage pi;
        TESSERA_ASSIGN(pi.image.uuid, g.text("uuid"));
        if (pi.image.uuid.empty() || !image_uuids.insert(pi.image.uuid).second)
            return bad(g.at("uuid"), "empty or appears twice in the file");
        TESSERA_ASSIGN(pi.image.prompt, g.text("prompt", false));
        TESSERA_ASSIGN(pi.image.seed, g.integer("seed"));
        TESSERA_ASSIGN(pi.image.cfg_weight, g.number("cfg_weight"));
        TESSERA_ASSIGN(pi.image.temperature, g.number("temperature"));
        TESSERA_ASSIGN(pi.image.model, g.text("model", false));
        TESSERA_ASSIGN(std::int64_t batch, g.integer("batch_index", 0));
        pi.image.batch_index = static_cast<int>(batch);
        TESSERA_ASSIGN(pi.image.created_at, g.integer("created_at"));
        TESSERA_ASSIGN(pi.sha256, g.text("image"));
        if (!is_sha256(pi.sha256)) return bad(g.at("image"), "not a SHA-256 hex digest");
        plan.images.push_back(std::move(pi));
    }
    if (top.has("settings")) {
        const json& s = doc.at("settings");
        if (!s.is_object()) return bad("settings", "expected an object");
        for (const auto& [key, value] : s.items()) plan.settings.emplace(key, value);
    }
    return plan;
}

// Every hash the plan refers to must come with its bytes or already be stored here.
Status check_attachments(const Plan& plan, AttachmentStore& store) {
    auto check = [&](const std::string& sha, const std::string& where) -> Status {
        auto it = plan.attachments.find(sha);
        if (it != plan.attachments.end() && it->second.bytes) return {};
        TESSERA_ASSIGN(auto existing, store.find_by_hash(sha));
        if (existing) return {};
        return bad(where, "image " + sha + " is neither in the file nor already stored");
    };
    for (std::size_t i = 0; i < plan.conversations.size(); ++i)
        for (const auto& pm : plan.conversations[i].messages) {
            const std::string where = "conversations[" + std::to_string(i) + "] message " + std::to_string(pm.ref);
            for (const auto& [sha, name] : pm.attachments) TESSERA_TRY(check(sha, where));
            for (const auto& pb : pm.boxes)
                if (pb.image) TESSERA_TRY(check(*pb.image, where));
        }
    for (std::size_t i = 0; i < plan.images.size(); ++i)
        TESSERA_TRY(check(plan.images[i].sha256, "generated_images[" + std::to_string(i) + "]"));
    return {};
}

class Importer {
public:
    Importer(Database& db, AttachmentStore& store, const ImportOptions& options)
        : m_db(db), m_store(store), m_options(options) {}

    Result<ImportReport> run(const Plan& plan) {
        TESSERA_TRY(check_attachments(plan, m_store));
        TESSERA_TRY(check_conflicts(plan));
        TESSERA_ASSIGN(Transaction tx, Transaction::begin(m_db));
        for (const auto& pc : plan.conversations) TESSERA_TRY(import_conversation(plan, pc));
        for (const auto& pi : plan.images) TESSERA_TRY(import_image(plan, pi));
        if (m_options.import_settings)
            for (const auto& [key, value] : plan.settings) TESSERA_TRY(import_setting(key, value));
        TESSERA_TRY(tx.commit());
        return m_report;
    }

private:
    // With ConflictPolicy::Fail nothing is written when anything clashes.
    Status check_conflicts(const Plan& plan) {
        if (m_options.on_conflict != ConflictPolicy::Fail) return {};
        std::vector<std::string> clashes;
        ConversationRepository conversations(m_db);
        for (const auto& pc : plan.conversations) {
            TESSERA_ASSIGN(auto existing, conversations.find_by_uuid(pc.conversation.uuid));
            if (existing) clashes.push_back("conversation '" + existing->title + "' (" + pc.conversation.uuid + ")");
        }
        GeneratedImageRepository images(m_db);
        for (const auto& pi : plan.images) {
            TESSERA_ASSIGN(auto existing, images.find_by_uuid(pi.image.uuid));
            if (existing) clashes.push_back("generated image " + pi.image.uuid);
        }
        if (m_options.import_settings) {
            SettingsRepository settings(m_db);
            for (const auto& [key, value] : plan.settings) {
                TESSERA_ASSIGN(auto existing, settings.get(key));
                if (existing && *existing != value) clashes.push_back("setting '" + key + "'");
            }
        }
        if (clashes.empty()) return {};
        std::string msg = "import: " + std::to_string(clashes.size()) + " item(s) already exist, nothing was imported:";
        for (const auto& c : clashes) msg += "\n  " + c;
        return make_error(ErrorCode::InvalidArgument, std::move(msg));
    }

    Result<Id> attachment_id(const Plan& plan, const std::string& sha) {
        auto cached = m_ids.find(sha);
        if (cached != m_ids.end()) return cached->second;
        TESSERA_ASSIGN(auto existing, m_store.find_by_hash(sha));
        Id id = 0;
        if (existing) {
            id = existing->id;
        } else {
            const PlanAttachment& pa = plan.attachments.at(sha);  // present: check_attachments ran
            TESSERA_ASSIGN(Attachment a, m_store.add(*pa.bytes, pa.mime));
            id = a.id;
            ++m_report.attachments_imported;
        }
        m_ids.emplace(sha, id);
        return id;
    }

    Status import_conversation(const Plan& plan, const PlanConversation& pc) {
        ConversationRepository conversations(m_db);
        MessageRepository messages(m_db);
        GroundingRepository grounding(m_db);
        Conversation c = pc.conversation;
        TESSERA_ASSIGN(auto existing, conversations.find_by_uuid(c.uuid));
        if (existing) {
            const std::string name = "conversation '" + existing->title + "' (" + c.uuid + ")";
            switch (m_options.on_conflict) {
                case ConflictPolicy::Skip:
                case ConflictPolicy::Fail:
                    ++m_report.conversations_skipped;
                    m_report.conflicts.push_back(name + " already exists: kept, the imported copy was skipped");
                    return {};
                case ConflictPolicy::KeepBoth:
                    c.uuid = new_uuid();
                    m_report.conflicts.push_back(name + " already exists: imported as a second conversation");
                    break;
                case ConflictPolicy::Replace:
                    TESSERA_TRY(conversations.remove(existing->id));
                    ++m_report.conversations_replaced;
                    m_report.conflicts.push_back(name + " already existed: replaced by the imported one");
                    break;
            }
        }
        TESSERA_ASSIGN(Id conversation_id, conversations.insert(c));
        std::map<std::int64_t, Id> id_of;
        for (const PlanMessage& pm : pc.messages) {
            Message m = pm.message;
            m.conversation_id = conversation_id;
            if (pm.parent_ref) m.parent_id = id_of.at(*pm.parent_ref);
            TESSERA_ASSIGN(Id id, messages.insert(m));
            id_of[pm.ref] = id;
            ++m_report.messages_imported;
            for (const auto& [sha, name] : pm.attachments) {
                TESSERA_ASSIGN(Id aid, attachment_id(plan, sha));
                TESSERA_TRY(m_store.link(id, aid, name));
            }
            for (const PlanBox& pb : pm.boxes) {
                GroundingBox b = pb.box;
                b.message_id = id;
                if (pb.image) {
                    TESSERA_ASSIGN(b.attachment_id, attachment_id(plan, *pb.image));
                }
                TESSERA_TRY(grounding.add(std::move(b)));
            }
        }
        if (pc.current_leaf_ref) TESSERA_TRY(conversations.set_current_leaf(conversation_id, id_of.at(*pc.current_leaf_ref)));
        ++m_report.conversations_imported;
        return {};
    }

    Status import_image(const Plan& plan, const PlanImage& pi) {
        GeneratedImageRepository images(m_db);
        GeneratedImage g = pi.image;
        TESSERA_ASSIGN(auto existing, images.find_by_uuid(g.uuid));
        if (existing) {
            switch (m_options.on_conflict) {
                case ConflictPolicy::Skip:
                case ConflictPolicy::Fail:
                    ++m_report.generated_images_skipped;
                    m_report.conflicts.push_back("generated image " + g.uuid + " already exists: skipped");
                    return {};
                case ConflictPolicy::KeepBoth:
                    g.uuid = new_uuid();
                    m_report.conflicts.push_back("generated image " + pi.image.uuid + " already exists: imported a copy");
                    break;
                case ConflictPolicy::Replace:
                    TESSERA_TRY(images.remove(existing->id));
                    m_report.conflicts.push_back("generated image " + g.uuid + " replaced");
                    break;
            }
        }
        TESSERA_ASSIGN(g.attachment_id, attachment_id(plan, pi.sha256));
        TESSERA_TRY(images.add(g));
        ++m_report.generated_images_imported;
        return {};
    }

    Status import_setting(const std::string& key, const json& value) {
        SettingsRepository settings(m_db);
        TESSERA_ASSIGN(auto existing, settings.get(key));
        if (existing && *existing == value) {
            ++m_report.settings_skipped;
            return {};
        }
        if (existing && m_options.on_conflict != ConflictPolicy::Replace) {
            ++m_report.settings_skipped;
            m_report.conflicts.push_back("setting '" + key + "' differs: kept the current value");
            return {};
        }
        if (existing) m_report.conflicts.push_back("setting '" + key + "' differs: replaced by the imported value");
        TESSERA_TRY(settings.set(key, value));
        ++m_report.settings_imported;
        return {};
    }

    Database& m_db;
    AttachmentStore& m_store;
    ImportOptions m_options;
    ImportReport m_report;
    std::map<std::string, Id> m_ids;
};

}  // namespace

Result<ImportReport> import_json(Database& db, AttachmentStore& store, const json& document,
                                 const ImportOptions& options) {
    // Validation reads fields only after checking their types, but nlohmann may still throw (e.g. out of
    // memory inside it); nothing may escape the library.
    try {
        TESSERA_ASSIGN(Plan plan, make_plan(document));
        Importer importer(db, store, options);
        return importer.run(plan);
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Format, std::string("import: ") + e.what());
    }
}

Result<ImportReport> import_json_file(Database& db, AttachmentStore& store, const std::filesystem::path& path,
                                      const ImportOptions& options) {
    TESSERA_ASSIGN(std::string text, read_whole_file(path));
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return make_error(ErrorCode::Format, path.string() + ": not valid JSON");
    auto report = import_json(db, store, doc, options);
    if (!report.ok()) return make_error(report.error().code, path.string() + ": " + report.error().message);
    return report;
}

}  // namespace tessera::storage
