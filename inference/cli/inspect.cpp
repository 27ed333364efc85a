// tessera-cli info, tokenize and logits: look at a model folder without chatting.
#include <bit>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "tessera/engine.h"
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
    if (args->positional().size() != 1) return usage_error(command, "expected one model folder DIR");
    return kOk;
}

std::string with_commas(int64_t n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
    return s;
}

}  // namespace

int run_info(int argc, char** argv) {
    std::optional<Args> args;
    if (int rc = parse_dir_command(argc, argv, "info", ArgSpec{{"--json"}, {"--device", "--threads"}, {}}, args))
        return rc;
    LoadOptions load;
    if (int rc = read_load_options("info", *args, load)) return rc;
    const std::string dir = args->positional()[0];
    auto info = probe_model(dir);
    if (!info.ok()) return fail(kModelError, dir + ": " + info.error().to_string());
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
        std::cout << j.dump(2) << "\n";
        return kOk;
    }
    std::cout << "folder:          " << dir << "\n"
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
    return kOk;
}

int run_tokenize(int argc, char** argv) {
    std::optional<Args> args;
    if (int rc = parse_dir_command(argc, argv, "tokenize", ArgSpec{{"--no-special"}, {}, {}}, args)) return rc;
    const std::string dir = args->positional()[0];
    // Only the tokenizer files are needed, so a bare tokenizer folder works too.
    auto tokenizer = Tokenizer::load(dir);
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
