// tessera-cli info, tokenize and logits: look at a model folder (or GGUF file) without chatting.
#include <bit>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "io/gguf.h"
#include "tessera/engine.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace tessera::cli {

int read_load_options(const std::string& command, const Args& args, LoadOptions& out) {
    if (auto device = args.value("--device")) {
        if (*device == "cpu") out.device = Device::Cpu;
        else if (*device == "cuda") out.device = Device::Cuda;
        else if (*device == "auto") out.device = Device::Auto;
        else return usage_error(command, "--device: expected auto, cpu or cuda, got '" + *device + "'");
    }
    std::string error;
    auto threads = args.int_value("--threads", 1, 1024, error);
    if (!error.empty()) return usage_error(command, error);
    if (threads) out.threads = int(*threads);
    return kOk;
}

std::string format_bytes(unsigned long long bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

namespace {

// Parses the command line of a command that takes exactly one DIR; returns an exit code != 0 on error.
int parse_dir_command(int argc, char** argv, const std::string& command, const ArgSpec& spec,
                      std::optional<Args>& args) {
    std::string error;
    args = Args::parse(argc, argv, 2, spec, error);
    if (!args) return usage_error(command, error);
    if (args->positional().size() != 1) return usage_error(command, "expected one model folder DIR (or a .gguf file)");
    return kOk;
}

// What a GGUF header says beyond ModelInfo: format version, tensor types, tokenizer, chat format choice.
// Read leniently, so a truncated download still shows its header.
struct GgufDetails {
    nlohmann::json json;
    std::string text;
    std::string chat_template;
    LlmConfig config;
    bool config_ok = false;
};

std::optional<GgufDetails> gguf_details(const std::string& path) {
    auto where = gguf_model_file(path);
    if (!where.ok() || !*where) return std::nullopt;
    GgufOpenOptions o;
    o.allow_truncated = true;
    auto f = GgufFile::open(**where, o);
    if (!f.ok()) return std::nullopt;
    const GgufFile& g = **f;
    GgufDetails d;
    std::map<std::string, std::pair<int, uint64_t>> types;  // name -> tensors, bytes
    for (const GgufTensor& t : g.tensors()) {
        auto& e = types[std::string(quant_name(t.type))];
        ++e.first;
        e.second += t.nbytes;
    }
    std::string pre = "?";
    if (const GgufValue* p = g.find("tokenizer.ggml.pre")) pre = std::string(p->as_string().value_or("?"));
    size_t n_tokens = 0;
    if (const GgufValue* t = g.find("tokenizer.ggml.tokens")) n_tokens = size_t(t->array_size());
    const GgufChatChoice chat = gguf_chat_format(g);
    if (const GgufValue* t = g.find("tokenizer.chat_template")) d.chat_template = std::string(t->as_string().value_or(""));
    nlohmann::json jt = nlohmann::json::object();
    std::ostringstream tt;
    for (const auto& [name, e] : types) {
        jt[name] = {{"tensors", e.first}, {"bytes", e.second}};
        tt << (tt.tellp() > 0 ? ", " : "") << name << " x" << e.first << " (" << format_bytes(e.second) << ")";
    }
    d.json = {{"file", g.file_name()},
              {"version", g.version()},
              {"tensor_count", g.tensors().size()},
              {"tensor_types", jt},
              {"truncated", g.truncated()},
              {"file_bytes", g.file_size()},
              {"tokenizer_pre", pre},
              {"tokens", n_tokens},
              {"chat_format", chat.name},
              {"chat_format_reason", chat.reason},
              {"has_chat_template", !d.chat_template.empty()}};
    std::ostringstream out;
    out << "gguf:            version " << g.version() << ", " << g.tensors().size() << " tensors, "
        << g.metadata().size() << " metadata keys" << (g.truncated() ? ", TRUNCATED (tensor data incomplete)" : "")
        << "\n"
        << "tensor types:    " << tt.str() << "\n"
        << "tokenizer:       " << n_tokens << " tokens, pre-tokenizer " << pre << "\n"
        << "chat format:     " << chat.name << " (" << chat.reason << ")\n";
    d.text = out.str();
    auto c = gguf_llm_config(g);
    if (c.ok()) {
        d.config = *c;
        d.config_ok = true;
    }
    return d;
}

std::string with_commas(int64_t n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
    return s;
}

}  // namespace

int run_info(int argc, char** argv) {
    std::optional<Args> args;
    if (int rc = parse_dir_command(argc, argv, "info",
                                   ArgSpec{{"--json", "--chat-template"}, {"--device", "--threads"}, {}}, args))
        return rc;
    LoadOptions load;
    if (int rc = read_load_options("info", *args, load)) return rc;
    const std::string dir = args->positional()[0];
    const std::optional<GgufDetails> gguf = gguf_details(dir);
    if (args->flag("--chat-template")) {
        if (!gguf) return usage_error("info", "--chat-template: only GGUF files carry a chat template");
        std::cout << gguf->chat_template << (gguf->chat_template.empty() ? "" : "\n");
        return kOk;
    }
    auto info = probe_model(dir);
    if (!info.ok()) {
        // A GGUF whose weights cannot be used (a partial download) still shows what its header says.
        if (gguf && gguf->config_ok) {
            const LlmConfig& c = gguf->config;
            if (args->flag("--json")) {
                nlohmann::json j = gguf->json;
                j["architecture"] = c.architecture;
                j["num_layers"] = c.num_hidden_layers;
                j["hidden_size"] = c.hidden_size;
                j["intermediate_size"] = c.intermediate_size;
                j["num_heads"] = c.num_attention_heads;
                j["num_kv_heads"] = c.num_key_value_heads;
                j["head_dim"] = c.head_dim;
                j["vocab_size"] = c.vocab_size;
                j["max_position_embeddings"] = c.max_position_embeddings;
                j["error"] = info.error().to_string();
                std::cout << j.dump(2) << "\n";
            } else {
                std::cout << "file:            " << dir << "\n"
                          << "architecture:    " << c.architecture << "\n"
                          << "shape:           " << c.num_hidden_layers << " layers, hidden " << c.hidden_size
                          << ", heads " << c.num_attention_heads << " / kv " << c.num_key_value_heads << " x "
                          << c.head_dim << ", intermediate " << c.intermediate_size << ", vocab " << c.vocab_size
                          << (c.tie_word_embeddings ? ", tied embeddings" : "") << "\n"
                          << "context:         model maximum " << c.max_position_embeddings << " tokens\n"
                          << gguf->text;
            }
        }
        return fail(kModelError, dir + ": " + info.error().to_string());
    }
    const ModelInfo& m = *info;
    if (args->flag("--json")) {
        nlohmann::json j = {
            {"dir", dir},
            {"kind", model_kind_name(m.kind)},
            {"architecture", m.architecture},
            {"chat_format", m.chat_format},
            {"weight_format", m.weight_format},
            {"dtype", m.dtype},
            {"parameters", m.parameters},
            {"weight_bytes", m.weight_bytes},
            {"file_bytes", m.file_bytes},
            {"memory_estimate_bytes", m.memory_estimate},
            {"context_length", m.context_length},
            {"kv_bytes_per_token", m.kv_bytes_per_token},
            {"vocab_size", m.vocab_size},
            {"hidden_size", m.hidden_size},
            {"intermediate_size", m.intermediate_size},
            {"num_layers", m.num_layers},
            {"num_heads", m.num_heads},
            {"num_kv_heads", m.num_kv_heads},
            {"head_dim", m.head_dim},
            {"max_position_embeddings", m.max_position_embeddings},
            {"tie_word_embeddings", m.tie_word_embeddings},
        };
        if (gguf) j["gguf"] = gguf->json;
        std::cout << j.dump(2) << "\n";
        return kOk;
    }
    std::cout << (gguf ? "file:            " : "folder:          ") << dir << "\n"
              << "kind:            " << model_kind_name(m.kind) << " (" << m.architecture << "), chat format "
              << m.chat_format << "\n"
              << "parameters:      " << with_commas(m.parameters) << "\n"
              << "dtype:           " << m.dtype << " (" << m.weight_format << ", " << format_bytes(m.file_bytes)
              << " on disk)\n"
              << "shape:           " << m.num_layers << " layers, hidden " << m.hidden_size << ", heads "
              << m.num_heads << " / kv " << m.num_kv_heads << " x " << m.head_dim << ", intermediate "
              << m.intermediate_size << ", vocab " << m.vocab_size
              << (m.tie_word_embeddings ? ", tied embeddings" : "") << "\n"
              << "context:         " << m.context_length << " tokens (model maximum " << m.max_position_embeddings
              << "), KV cache " << format_bytes(m.kv_bytes_per_token) << " per token\n"
              << "memory estimate: " << format_bytes(m.memory_estimate) << " (weights "
              << format_bytes(m.weight_bytes) << " + one session)\n";
    if (gguf) std::cout << gguf->text;
    return kOk;
}

int run_tokenize(int argc, char** argv) {
    std::optional<Args> args;
    if (int rc = parse_dir_command(argc, argv, "tokenize", ArgSpec{{"--no-special"}, {}, {}}, args)) return rc;
    const std::string dir = args->positional()[0];
    // Only the tokenizer files are needed, so a bare tokenizer folder works too (and a GGUF's header).
    auto tokenizer = load_model_tokenizer(dir);
    if (!tokenizer.ok()) return fail(kModelError, dir + ": " + tokenizer.error().to_string());
    std::ostringstream in;
    in << std::cin.rdbuf();
    const std::vector<int32_t> ids = (*tokenizer)->encode(in.str(), !args->flag("--no-special"));
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return kOk;
}

int run_logits(int argc, char** argv) {
    std::optional<Args> args;
    const ArgSpec spec{{"--json"}, {"--ids", "--out", "--device", "--threads"}, {}};
    if (int rc = parse_dir_command(argc, argv, "logits", spec, args)) return rc;
    const auto ids_text = args->value("--ids");
    const auto out_path = args->value("--out");
    if (!ids_text || !out_path) return usage_error("logits", "--ids and --out are required");
    std::vector<int32_t> ids;
    if (!parse_id_list(*ids_text, ids))
        return usage_error("logits", "--ids: expected comma-separated token ids, got '" + *ids_text + "'");
    LoadOptions load;
    if (int rc = read_load_options("logits", *args, load)) return rc;

    const std::string dir = args->positional()[0];
    auto model = Model::load(dir, load);
    if (!model.ok()) return fail(kModelError, dir + ": " + model.error().to_string());
    SessionOptions so;
    so.context_length = int(ids.size());
    auto session = (*model)->open_session(so);
    if (!session.ok()) return fail(kModelError, dir + ": " + session.error().to_string());
    auto logits = (*session)->logits(ids);
    if (!logits.ok()) return fail(kModelError, dir + ": " + logits.error().to_string());

    // Raw float32, little-endian: the host order on every platform the engine supports.
    static_assert(std::endian::native == std::endian::little, "logits files are written in host byte order");
    std::ofstream out(*out_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(logits->data()), std::streamsize(logits->size() * sizeof(float)));
    out.close();
    if (!out) return fail(kModelError, *out_path + ": cannot write the logits file");
    const int V = (*model)->info().vocab_size;
    if (args->flag("--json")) {
        nlohmann::json j = {{"shape", {ids.size(), V}}, {"dtype", "float32"}, {"byte_order", "little"},
                            {"file", *out_path}};
        std::cout << j.dump() << "\n";
    } else {
        std::cout << "logits: [" << ids.size() << ", " << V << "] float32 little-endian -> " << *out_path << "\n";
    }
    return kOk;
}

}  // namespace tessera::cli
