// Tokenizer: reads tokenizer.json (+ tokenizer_config.json) into its parts and runs the encode
// pipeline of the reference library (models.md §8): added tokens on the raw text, normalizer,
// added tokens on the normalized text, pre-tokenizer, BPE, then BOS/EOS.
#include "tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace tessera {

using json = nlohmann::json;

struct Tokenizer::Impl {
    std::unique_ptr<BpeModel> model;
    std::vector<NormalForm> normalizers;  // applied in order
    PreTokenizer pre_tokenizer;
    AddedTokenMatcher raw_matcher;         // added tokens with normalized = false
    AddedTokenMatcher normalized_matcher;  // added tokens with normalized = true
    TokenMap added_ids;                    // content -> id
    std::vector<std::string> tokens;       // id -> vocabulary string (or added token content)
    std::vector<std::string> bytes;        // id -> the bytes it decodes to
    std::vector<uint8_t> special;          // id -> flagged special
    int32_t vocab_size = 0;
    std::optional<int32_t> bos, eos;
    bool add_bos = false, add_eos = false;

    std::optional<int32_t> lookup(std::string_view token) const {
        if (const auto it = added_ids.find(token); it != added_ids.end()) return it->second;
        return model->token_to_id(token);
    }
    void encode_plain(std::string_view text, std::vector<int32_t>& ids) const;
};

namespace {

Result<json> read_json(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::Io, path.string() + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return make_error(ErrorCode::Io, path.string() + ": read failed");
    json j;
    try {
        j = json::parse(ss.str());
    } catch (const json::exception& e) {
        return make_error(ErrorCode::Tokenizer, path.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) return make_error(ErrorCode::Tokenizer, path.string() + ": not a JSON object");
    return j;
}

Status add_normalizer(const json& j, const std::string& where, std::vector<NormalForm>& out) {
    if (j.is_null()) return {};
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        return make_error(ErrorCode::Tokenizer, where + ": expected an object with a \"type\"");
    const std::string type = j["type"].get<std::string>();
    if (type == "NFC") out.push_back(NormalForm::NFC);
    else if (type == "NFD") out.push_back(NormalForm::NFD);
    else if (type == "Sequence") {
        const auto it = j.find("normalizers");
        if (it == j.end() || !it->is_array())
            return make_error(ErrorCode::Tokenizer, where + ".normalizers: missing or not an array");
        for (size_t i = 0; i < it->size(); ++i)
            TESSERA_TRY(add_normalizer((*it)[i], where + ".normalizers[" + std::to_string(i) + "]", out));
    } else {
        return make_error(ErrorCode::Unsupported, where + ".type: normalizer \"" + type + "\" is not supported");
    }
    return {};
}

// The decoder must turn byte-level tokens back into bytes; other decoders are not implemented.
Status check_decoder(const json& j, const std::string& where) {
    if (j.is_null()) return {};
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        return make_error(ErrorCode::Tokenizer, where + ": expected an object with a \"type\"");
    const std::string type = j["type"].get<std::string>();
    if (type == "ByteLevel") return {};
    if (type == "Sequence" && j.contains("decoders") && j["decoders"].is_array()) {
        for (size_t i = 0; i < j["decoders"].size(); ++i)
            TESSERA_TRY(check_decoder(j["decoders"][i], where + ".decoders[" + std::to_string(i) + "]"));
        return {};
    }
    return make_error(ErrorCode::Unsupported, where + ".type: decoder \"" + type + "\" is not supported");
}

Result<std::vector<AddedToken>> parse_added_tokens(const json& root, const std::string& file) {
    std::vector<AddedToken> out;
    const auto it = root.find("added_tokens");
    if (it == root.end() || it->is_null()) return out;
    if (!it->is_array()) return make_error(ErrorCode::Tokenizer, file + ": added_tokens: not an array");
    for (size_t i = 0; i < it->size(); ++i) {
        const json& e = (*it)[i];
        const std::string where = file + ": added_tokens[" + std::to_string(i) + "]";
        if (!e.is_object()) return make_error(ErrorCode::Tokenizer, where + ": not an object");
        AddedToken t;
        const auto id = e.find("id");
        if (id == e.end() || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId)
            return make_error(ErrorCode::Tokenizer, where + ".id: missing or not a valid token id");
        t.id = int32_t(id->get<int64_t>());
        const auto content = e.find("content");
        if (content == e.end() || !content->is_string())
            return make_error(ErrorCode::Tokenizer, where + ".content: missing or not a string");
        t.content = content->get<std::string>();
        if (!utf8::is_valid(t.content)) return make_error(ErrorCode::Tokenizer, where + ".content: not valid UTF-8");
        const auto flag = [&](const char* key, bool fallback, bool& dst) -> Status {
            const auto f = e.find(key);
            if (f == e.end() || f->is_null()) {
                dst = fallback;
                return {};
            }
            if (!f->is_boolean()) return make_error(ErrorCode::Tokenizer, where + "." + key + ": not a boolean");
            dst = f->get<bool>();
            return {};
        };
        TESSERA_TRY(flag("special", false, t.special));
        TESSERA_TRY(flag("lstrip", false, t.lstrip));
        TESSERA_TRY(flag("rstrip", false, t.rstrip));
        TESSERA_TRY(flag("single_word", false, t.single_word));
        TESSERA_TRY(flag("normalized", !t.special, t.normalized));
        out.push_back(std::move(t));
    }
    return out;
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...}, or null.
Result<std::optional<std::string>> token_string(const json& cfg, const char* key, const std::string& file) {
    const auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return std::optional<std::string>{};
    if (it->is_string()) return std::optional<std::string>{it->get<std::string>()};
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return std::optional<std::string>{(*it)["content"].get<std::string>()};
    return make_error(ErrorCode::Tokenizer, file + ": " + key + ": expected a string or {\"content\": ...}");
}

Result<bool> config_flag(const json& cfg, const char* key, bool fallback, const std::string& file) {
    const auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return make_error(ErrorCode::Tokenizer, file + ": " + key + ": not a boolean");
    return it->get<bool>();
}

// Without tokenizer_config.json, BOS/EOS come from a TemplateProcessing post-processor: the special
// tokens before and after $A in its "single" template.
void template_specials(const json& root, std::optional<std::string>& bos, std::optional<std::string>& eos) {
    const auto pp = root.find("post_processor");
    if (pp == root.end() || !pp->is_object() || pp->value("type", std::string()) != "TemplateProcessing") return;
    const auto single = pp->find("single");
    if (single == pp->end() || !single->is_array()) return;
    bool seen_sequence = false;
    for (const json& piece : *single) {
        if (!piece.is_object()) continue;
        if (piece.contains("Sequence")) {
            seen_sequence = true;
            continue;
        }
        const auto sp = piece.find("SpecialToken");
        if (sp == piece.end() || !sp->is_object() || !sp->contains("id") || !(*sp)["id"].is_string()) continue;
        (seen_sequence ? eos : bos) = (*sp)["id"].get<std::string>();
    }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::filesystem::path& dir) try {
    const std::filesystem::path tok_path = dir / "tokenizer.json";
    TESSERA_ASSIGN(const json root, read_json(tok_path));
    const std::filesystem::path cfg_path = dir / "tokenizer_config.json";
    if (!std::filesystem::exists(cfg_path)) return from_json(root, nullptr, tok_path.string(), std::string());
    TESSERA_ASSIGN(const json cfg, read_json(cfg_path));
    return from_json(root, &cfg, tok_path.string(), cfg_path.string());
} catch (const std::exception& e) {
    // nlohmann and the standard library report through exceptions; none may leave the engine.
    return make_error(ErrorCode::Tokenizer, (dir / "tokenizer.json").string() + ": " + e.what());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json(const nlohmann::json& root, const nlohmann::json* cfg,
                                                        const std::string& file, const std::string& config_file) try {
    auto impl = std::make_unique<Impl>();
    const auto model = root.find("model");
    if (model == root.end()) return make_error(ErrorCode::Tokenizer, file + ": model: missing");
    TESSERA_ASSIGN(impl->model, BpeModel::from_json(*model, file));

    if (const auto n = root.find("normalizer"); n != root.end())
        TESSERA_TRY(add_normalizer(*n, file + ": normalizer", impl->normalizers));
    if (const auto p = root.find("pre_tokenizer"); p != root.end()) {
        TESSERA_ASSIGN(impl->pre_tokenizer, PreTokenizer::from_json(*p, file + ": pre_tokenizer"));
    }
    if (const auto d = root.find("decoder"); d != root.end()) TESSERA_TRY(check_decoder(*d, file + ": decoder"));

    TESSERA_ASSIGN(std::vector<AddedToken> added, parse_added_tokens(root, file));

    // Id tables: vocabulary first, then added tokens (which win where both name an id).
    int32_t max_id = impl->model->max_id();
    for (const AddedToken& t : added) max_id = std::max(max_id, t.id);
    impl->vocab_size = max_id + 1;
    impl->tokens.assign(size_t(impl->vocab_size), std::string());
    impl->bytes.assign(size_t(impl->vocab_size), std::string());
    impl->special.assign(size_t(impl->vocab_size), 0);
    const bool byte_level = impl->pre_tokenizer.byte_level();
    for (const auto& [token, id] : impl->model->vocab()) {
        impl->tokens[size_t(id)] = token;
        // A token with a character outside the byte map stands for its own UTF-8, as in the reference.
        std::optional<std::string> b = byte_level ? byte_level::decode(token) : std::nullopt;
        impl->bytes[size_t(id)] = b ? std::move(*b) : token;
    }
    std::vector<AddedToken> raw, normalized;
    std::vector<std::string> raw_patterns, normalized_patterns;
    for (const AddedToken& t : added) {
        impl->tokens[size_t(t.id)] = t.content;
        impl->bytes[size_t(t.id)] = t.content;
        impl->special[size_t(t.id)] = t.special ? 1 : 0;
        impl->added_ids.emplace(t.content, t.id);
        if (t.normalized) {
            std::string pattern = t.content;
            for (const NormalForm f : impl->normalizers) pattern = normalize(f, pattern);
            normalized.push_back(t);
            normalized_patterns.push_back(std::move(pattern));
        } else {
            raw.push_back(t);
            raw_patterns.push_back(t.content);
        }
    }
    impl->raw_matcher.build(std::move(raw), std::move(raw_patterns));
    impl->normalized_matcher.build(std::move(normalized), std::move(normalized_patterns));

    // BOS/EOS: tokenizer_config.json when present (as transformers' LlamaTokenizerFast rebuilds its
    // post-processor from it), else the tokenizer.json post-processor.
    std::optional<std::string> bos_text, eos_text;
    std::string cfg_file = file;
    if (cfg) {
        cfg_file = config_file;
        TESSERA_ASSIGN(bos_text, token_string(*cfg, "bos_token", cfg_file));
        TESSERA_ASSIGN(eos_text, token_string(*cfg, "eos_token", cfg_file));
        TESSERA_ASSIGN(impl->add_bos, config_flag(*cfg, "add_bos_token", true, cfg_file));
        TESSERA_ASSIGN(impl->add_eos, config_flag(*cfg, "add_eos_token", false, cfg_file));
    } else {
        template_specials(root, bos_text, eos_text);
        impl->add_bos = bos_text.has_value();
        impl->add_eos = eos_text.has_value();
    }
    for (auto [text, dst, key] : {std::tuple{&bos_text, &impl->bos, "bos_token"}, std::tuple{&eos_text, &impl->eos, "eos_token"}}) {
        if (!*text) continue;
        *dst = impl->lookup(**text);
        if (!*dst)
            return make_error(ErrorCode::Tokenizer,
                              cfg_file + ": " + key + " \"" + **text + "\" is not a token of " + file);
    }
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
} catch (const std::exception& e) {
    return make_error(ErrorCode::Tokenizer, file + ": " + e.what());
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
    const Pieces pieces = pre_tokenizer.run(text);
    for (size_t i = 0; i < pieces.spans.size(); ++i) model->tokenize(pieces[i], ids);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
    const Impl& m = *m_impl;
    // The pipeline works on valid UTF-8 (as the reference, whose input is a Python str); stray bytes
    // become U+FFFD.
    std::string sanitized;
    if (!utf8::is_valid(text)) {
        sanitized = utf8::sanitize(text);
        text = sanitized;
    }
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 2);
    if (add_special && m.add_bos && m.bos) ids.push_back(*m.bos);
    for (const Segment& seg : m.raw_matcher.split(text)) {
        if (seg.id >= 0) {
            ids.push_back(seg.id);
            continue;
        }
        std::string_view part = text.substr(seg.begin, seg.end - seg.begin);
        std::string norm;
        if (!m.normalizers.empty()) {
            norm.assign(part);
            for (const NormalForm f : m.normalizers) norm = normalize(f, norm);
            part = norm;
        }
        if (m.normalized_matcher.empty()) {
            m.encode_plain(part, ids);
            continue;
        }
        for (const Segment& s : m.normalized_matcher.split(part)) {
            if (s.id >= 0) ids.push_back(s.id);
            else m.encode_plain(part.substr(s.begin, s.end - s.begin), ids);
        }
    }
    if (add_special && m.add_eos && m.eos) ids.push_back(*m.eos);
    return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::string out;
    for (const int32_t id : ids) {
        if (id < 0 || id >= m_impl->vocab_size) continue;
        if (skip_special && m_impl->special[size_t(id)]) continue;
        out += m_impl->bytes[size_t(id)];
    }
    return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
    if (id < 0 || id >= m_impl->vocab_size) return {};
    return m_impl->bytes[size_t(id)];
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= m_impl->vocab_size || m_impl->tokens[size_t(id)].empty()) return std::nullopt;
    return m_impl->tokens[size_t(id)];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return m_impl->lookup(token); }

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && id < m_impl->vocab_size && m_impl->special[size_t(id)] != 0;
}

int32_t Tokenizer::vocab_size() const { return m_impl->vocab_size; }
std::optional<int32_t> Tokenizer::bos_id() const { return m_impl->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return m_impl->eos; }
bool Tokenizer::adds_bos() const { return m_impl->add_bos && m_impl->bos.has_value(); }

}  // namespace tessera
