// GGUF metadata -> tokenizer.json / tokenizer_config.json documents -> Tokenizer (see gguf_tokenizer.h).
#include "tokenizer/gguf_tokenizer.h"

#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace tessera {

using json = nlohmann::json;

namespace {

// GGUF token types (llama.cpp's llama_token_type).
constexpr int64_t kTokenControl = 3;
constexpr int64_t kTokenUserDefined = 4;

// The Qwen2 pre-tokenizer (models.md §8): one Split on the Qwen2 regex, then ByteLevel without its own regex.
constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// The DeepSeek LLM pre-tokenizer (models.md §8): six Isolated splits (newlines, Latin/Greek/... words with
// an optional leading space, ASCII and full-width punctuation runs, trailing whitespace, CJK runs, digit
// runs), then ByteLevel. Written as JSON string contents (\uXXXX escapes, decoded by the JSON parser).
constexpr const char* kDeepSeekLlmSplits[] = {
    R"re([\r\n])re",
    R"re(\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\ud801\udc00-\ud801\udc4f\ud801\udcb0-\ud801\udcd3\ud801\udcd8-\ud801\udcfb\ud803\udc80-\ud803\udcb2\ud803\udcc0-\ud803\udcf2\ud806\udca0-\ud806\udcdf\ud83a\udd00-\ud83a\udd43]+)re",
    R"re(\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+)re",
    R"re(\\s+$)re",
    R"re([\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+)re",
    R"re(\\p{N}+)re",
};

json split_step(json regex) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", std::move(regex)}}}, {"behavior", "Isolated"}, {"invert", false}};
}

json byte_level_step(bool trim_offsets) {
    return json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", trim_offsets}, {"use_regex", false}};
}

// tokenizer.json's normalizer and pre_tokenizer for a tokenizer.ggml.pre value; false when unknown.
bool pre_tokenizer_for(std::string_view pre, json& normalizer, json& pre_tokenizer) {
    if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
        normalizer = json{{"type", "NFC"}};
        pre_tokenizer = json{{"type", "Sequence"},
                             {"pretokenizers", json::array({split_step(kQwen2Regex), byte_level_step(false)})}};
        return true;
    }
    if (pre == "deepseek-llm") {
        normalizer = nullptr;
        json steps = json::array();
        for (const char* r : kDeepSeekLlmSplits) steps.push_back(split_step(json::parse("\"" + std::string(r) + "\"")));
        steps.push_back(byte_level_step(true));
        pre_tokenizer = json{{"type", "Sequence"}, {"pretokenizers", std::move(steps)}};
        return true;
    }
    return false;
}

Error tok_error(const GgufFile& f, const std::string& what) {
    return make_error(ErrorCode::Tokenizer, f.file_name() + ": " + what);
}

Result<std::unique_ptr<Tokenizer>> build(const GgufFile& f) {
    TESSERA_ASSIGN(std::string_view model, f.get_string("tokenizer.ggml.model"));
    if (model != "gpt2")
        return make_error(ErrorCode::Unsupported, f.file_name() + ": tokenizer.ggml.model '" + std::string(model) +
                                                      "' is not supported (only gpt2, byte-level BPE)");
    TESSERA_ASSIGN(const GgufValue* tokens_v, f.get_array("tokenizer.ggml.tokens", GgufType::String));
    const std::vector<std::string_view>& tokens = tokens_v->strings();
    if (tokens.empty()) return tok_error(f, "tokenizer.ggml.tokens: empty");
    if (int64_t(tokens.size()) >= int64_t(1) << 21)
        return tok_error(f, "tokenizer.ggml.tokens: " + std::to_string(tokens.size()) + " tokens is too many");
    TESSERA_ASSIGN(const GgufValue* merges_v, f.get_array("tokenizer.ggml.merges", GgufType::String));
    const GgufValue* types = nullptr;
    if (f.find("tokenizer.ggml.token_type")) {
        TESSERA_ASSIGN(const GgufValue* t, f.get_array("tokenizer.ggml.token_type", GgufType::I32));
        if (t->array_size() != tokens.size())
            return tok_error(f, "tokenizer.ggml.token_type has " + std::to_string(t->array_size()) +
                                    " entries for " + std::to_string(tokens.size()) + " tokens");
        types = t;
    }
    std::string pre = "default";
    if (f.find("tokenizer.ggml.pre")) {
        TESSERA_ASSIGN(std::string_view p, f.get_string("tokenizer.ggml.pre"));
        pre = std::string(p);
    }
    json normalizer, pre_tokenizer;
    if (!pre_tokenizer_for(pre, normalizer, pre_tokenizer))
        return make_error(ErrorCode::Unsupported, f.file_name() + ": tokenizer.ggml.pre '" + pre +
                                                      "' is not supported (qwen2, deepseek-r1-qwen, deepseek-llm)");

    // Vocabulary and added tokens. A string may appear twice in a GGUF vocabulary (padding entries); the
    // BPE model keeps the first id, as an id -> string table read back into a map would.
    json vocab = json::object();
    json added = json::array();
    std::unordered_map<std::string_view, int32_t> ids;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const int64_t type = types ? types->int_at(i).value_or(1) : 1;
        const std::string text(tokens[i]);
        if (type == kTokenControl || type == kTokenUserDefined) {
            added.push_back(json{{"id", int64_t(i)}, {"content", text}, {"special", type == kTokenControl},
                                 {"lstrip", false}, {"rstrip", false}, {"single_word", false}, {"normalized", false}});
        } else if (ids.emplace(tokens[i], int32_t(i)).second) {
            vocab[text] = int64_t(i);
        }
    }
    // Every merge must join two vocabulary symbols into a third; a clear error here beats a BPE that
    // silently never applies it.
    const std::vector<std::string_view>& merges = merges_v->strings();
    json merges_j = json::array();
    for (size_t i = 0; i < merges.size(); ++i) {
        const std::string_view m = merges[i];
        const size_t sp = m.find(' ');
        const std::string where = "tokenizer.ggml.merges[" + std::to_string(i) + "] '" + std::string(m) + "'";
        if (sp == std::string_view::npos || sp == 0 || sp + 1 == m.size() || m.find(' ', sp + 1) != std::string_view::npos)
            return tok_error(f, where + ": expected two symbols separated by one space");
        const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
        for (std::string_view sym : {a, b})
            if (!ids.count(sym))
                return tok_error(f, where + ": symbol '" + std::string(sym) + "' is not in tokenizer.ggml.tokens");
        if (!ids.count(std::string(a) + std::string(b)))
            return tok_error(f, where + ": the merged symbol is not in tokenizer.ggml.tokens");
        merges_j.push_back(std::string(m));
    }

    json root = {
        {"added_tokens", std::move(added)},
        {"normalizer", std::move(normalizer)},
        {"pre_tokenizer", std::move(pre_tokenizer)},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges_j)}, {"ignore_merges", false}}},
    };

    // Special ids -> the token strings tokenizer_config.json would name.
    json cfg = json::object();
    auto special = [&](const char* key, const char* cfg_key) -> Status {
        if (!f.find(key)) return {};
        TESSERA_ASSIGN(int64_t id, f.get_int(key));
        if (id < 0 || uint64_t(id) >= tokens.size())
            return tok_error(f, std::string(key) + ": " + std::to_string(id) + " is not a token id (" +
                                    std::to_string(tokens.size()) + " tokens)");
        cfg[cfg_key] = std::string(tokens[size_t(id)]);
        return {};
    };
    TESSERA_TRY(special("tokenizer.ggml.bos_token_id", "bos_token"));
    TESSERA_TRY(special("tokenizer.ggml.eos_token_id", "eos_token"));
    TESSERA_TRY(special("tokenizer.ggml.padding_token_id", "pad_token"));
    for (const auto& [key, cfg_key, fallback] :
         {std::tuple{"tokenizer.ggml.add_bos_token", "add_bos_token", true},
          std::tuple{"tokenizer.ggml.add_eos_token", "add_eos_token", false}}) {
        bool v = fallback;
        if (f.find(key)) {
            TESSERA_ASSIGN(v, f.get_bool(key));
        }
        cfg[cfg_key] = v;
    }
    return Tokenizer::from_json(root, &cfg, f.file_name() + " (tokenizer.ggml.*)", f.file_name() + " (tokenizer.ggml.*)");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> gguf_tokenizer(const GgufFile& file) {
    try {
        return build(file);
    } catch (const std::exception& e) {
        return tok_error(file, std::string("tokenizer metadata: ") + e.what());
    }
}

GgufChatChoice gguf_chat_format(const GgufFile& f) {
    GgufChatChoice c;
    if (const GgufValue* t = f.find("tokenizer.chat_template")) {
        const std::string_view tpl = t->as_string().value_or("");
        if (tpl.find("<｜User｜>") != std::string_view::npos && tpl.find("<｜Assistant｜>") != std::string_view::npos) {
            c.reason = "tokenizer.chat_template has the R1 markers <｜User｜> and <｜Assistant｜>";
            return c;
        }
    }
    std::string_view pre;
    if (const GgufValue* p = f.find("tokenizer.ggml.pre")) pre = p->as_string().value_or("");
    if (pre == "deepseek-llm" || f.architecture() == "llama") {
        c.format = ChatFormat::DeepSeekLlm;
        c.name = "deepseek-llm";
        c.reason = pre == "deepseek-llm" ? "tokenizer.ggml.pre is deepseek-llm" : "general.architecture is llama";
        return c;
    }
    c.reason = "general.architecture is " + std::string(f.architecture());
    return c;
}

Result<std::unique_ptr<Tokenizer>> load_model_tokenizer(const std::filesystem::path& path) {
    TESSERA_ASSIGN(std::optional<std::filesystem::path> gguf, gguf_model_file(path));
    if (!gguf) return Tokenizer::load(path);
    GgufOpenOptions options;
    options.allow_truncated = true;  // the tokenizer lives in the header
    TESSERA_ASSIGN(std::unique_ptr<GgufFile> file, GgufFile::open(*gguf, options));
    return gguf_tokenizer(*file);
}

}  // namespace tessera
