// tessera-cli chat: an interactive REPL over stdin (one line per user turn; /reset, /quit) or a one-shot
// reply to -p PROMPT, streamed as it is generated. R1 thinking is printed apart from the answer: dimmed on
// a terminal, between "[thinking]" and "[answer]" markers otherwise. Ctrl-C stops the current reply.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"
#include "tessera/engine.h"

namespace tessera::cli {

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<bool> g_generating{false};

extern "C" void on_sigint(int) {
    // During a reply: cancel it (the engine checks the flag every token). At the prompt: leave.
    if (g_generating.load()) g_cancel.store(true);
    else std::_Exit(130);
}

// Writes streamed events to stdout, keeping thinking and answer apart.
class Printer {
public:
    Printer(bool tty, bool hide_thinking) : m_tty(tty), m_hide_thinking(hide_thinking) {}

    void write(const TextEvent& e) {
        if (!e.thinking.empty() && !m_hide_thinking) {
            if (m_section != Section::Thinking) {
                std::fputs(m_tty ? "\x1b[2m" : "[thinking]\n", stdout);
                m_section = Section::Thinking;
            }
            std::fputs(e.thinking.c_str(), stdout);
        }
        if (!e.answer.empty()) {
            if (m_section == Section::Thinking) std::fputs(m_tty ? "\x1b[0m\n" : "\n[answer]\n", stdout);
            m_section = Section::Answer;
            std::fputs(e.answer.c_str(), stdout);
            m_answer += e.answer;
        }
        std::fflush(stdout);
    }

    void finish() {
        if (m_section == Section::Thinking && m_tty) std::fputs("\x1b[0m", stdout);
        std::fputs("\n", stdout);
        std::fflush(stdout);
    }

    const std::string& answer() const { return m_answer; }

private:
    enum class Section { None, Thinking, Answer };
    bool m_tty;
    bool m_hide_thinking;
    Section m_section = Section::None;
    std::string m_answer;
};

void print_stats(const GenerationStats& s) {
    std::fprintf(stderr,
                 "[prompt %d tokens (%d cached), prefill %.1f tok/s | generated %d tokens, decode %.2f tok/s | "
                 "stop: %s]\n",
                 s.prompt_tokens, s.cached_tokens, s.prefill_tokens_per_second, s.generated_tokens,
                 s.decode_tokens_per_second, stop_reason_name(s.stop_reason));
}

// Sampling: the model's defaults, then the command line. Returns an exit code != 0 on a usage error.
int read_sampling(const Args& args, const ModelInfo& info, SamplingParams& p) {
    std::string error;
    p = info.default_sampling;
    if (auto t = args.float_value("--temperature", 0.0, 100.0, error)) {
        p.temperature = float(*t);
        p.greedy = *t == 0.0;
    }
    if (auto k = args.int_value("--top-k", 0, 1 << 30, error)) p.top_k = int(*k);
    if (auto top_p = args.float_value("--top-p", 0.0, 1.0, error)) p.top_p = float(*top_p);
    if (auto r = args.float_value("--repeat-penalty", 0.0, 100.0, error)) p.repetition_penalty = float(*r);
    if (auto seed = args.u64_value("--seed", error)) {
        p.seed = *seed;
    } else {
        p.seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    }
    if (args.flag("--greedy")) p.greedy = true;
    if (!error.empty()) return usage_error("chat", error);
    if (!p.greedy && !(p.top_p > 0.0f)) return usage_error("chat", "--top-p must be in (0, 1]");
    if (!(p.repetition_penalty > 0.0f)) return usage_error("chat", "--repeat-penalty must be positive");
    return kOk;
}

}  // namespace

int run_chat(int argc, char** argv) {
    const ArgSpec spec{
        {"--greedy", "--hide-thinking", "--no-stats"},
        {"--prompt", "--system", "--temperature", "--top-k", "--top-p", "--repeat-penalty", "--seed", "--max-tokens",
         "--context", "--device", "--threads"},
        {{"-p", "--prompt"}}};
    std::string error;
    auto args = Args::parse(argc, argv, 2, spec, error);
    if (!args) return usage_error("chat", error);
    if (args->positional().size() != 1) return usage_error("chat", "expected one model folder DIR");
    LoadOptions load;
    if (int rc = read_load_options("chat", *args, load)) return rc;
    const auto max_tokens = args->int_value("--max-tokens", 0, 1 << 24, error);
    const auto context = args->int_value("--context", 1, 1 << 24, error);
    if (!error.empty()) return usage_error("chat", error);

    const std::string dir = args->positional()[0];
    auto model = Model::load(dir, load);
    if (!model.ok()) return fail(kModelError, dir + ": " + model.error().to_string());
    if (!args->flag("--no-stats")) std::fprintf(stderr, "[running on %s]\n", (*model)->device_name().c_str());
    GenerateOptions options;
    if (int rc = read_sampling(*args, (*model)->info(), options.sampling)) return rc;
    options.max_tokens = max_tokens ? int(*max_tokens) : 1024;
    options.cancel = &g_cancel;
    SessionOptions so;
    if (context) so.context_length = int(*context);
    auto session_result = (*model)->open_session(so);
    if (!session_result.ok()) return fail(kModelError, dir + ": " + session_result.error().to_string());
    Session& session = **session_result;

    const bool tty = isatty(STDOUT_FILENO) != 0;
    const bool deepseek_llm = (*model)->info().chat_format == "deepseek-llm";
    const bool show_stats = !args->flag("--no-stats");
    std::vector<Message> messages;
    if (auto system = args->value("--system")) messages.push_back({"system", *system});
    const size_t base = messages.size();

    // One user turn: generate, stream, remember the answer. Returns false on an engine error.
    auto turn = [&](const std::string& user) -> int {
        messages.push_back({"user", user});
        Printer printer(tty, args->flag("--hide-thinking"));
        g_cancel.store(false);
        g_generating.store(true);
        auto stats = session.chat(messages, options, [&](const TextEvent& e) {
            printer.write(e);
            return Flow::Continue;
        });
        g_generating.store(false);
        printer.finish();
        if (!stats.ok()) return fail(kModelError, dir + ": " + stats.error().to_string());
        // The DeepSeek LLM template writes "Assistant: " + answer, and the model's first token carried that
        // space, so drop it from the history (the R1 answer is kept as generated; its template handles it).
        std::string answer = printer.answer();
        if (deepseek_llm) answer.erase(0, answer.find_first_not_of(' '));
        messages.push_back({"assistant", answer});
        if (show_stats) print_stats(*stats);
        return kOk;
    };

    std::signal(SIGINT, on_sigint);
    if (auto prompt = args->value("--prompt")) return turn(*prompt);

    const bool interactive = isatty(STDIN_FILENO) != 0;
    if (interactive) std::fputs("Type a message; /reset starts over, /quit (or Ctrl-D) leaves.\n", stderr);
    std::string line;
    while (true) {
        if (interactive) std::fputs("> ", stderr);
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/reset") {
            messages.resize(base);
            session.reset();
            continue;
        }
        if (int rc = turn(line)) return rc;
    }
    return kOk;
}

}  // namespace tessera::cli
