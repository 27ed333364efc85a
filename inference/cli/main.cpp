// tessera-cli: the engine from the command line — inspect a model folder, tokenize, dump logits, chat.
#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"

namespace tessera::cli {

namespace {

const char* kUsage =
    "usage: tessera-cli <command> DIR [options]\n"
    "DIR is a model folder, a .gguf file, or a folder holding one .gguf (and no config.json)\n"
    "\n"
    "commands:\n"
    "  info DIR [--json]                      kind, parameters, dtype, files, memory estimate\n"
    "  info FILE.gguf --chat-template         the chat template stored in a GGUF (info shows the format chosen)\n"
    "  chat DIR [-p PROMPT] [options]         chat on stdin (one line per turn), or one reply to PROMPT\n"
    "  tokenize DIR [--no-special]            token ids of the text on stdin (BOS added unless --no-special)\n"
    "  logits DIR --ids 1,2,3 --out FILE [--json]\n"
    "                                         float32 logits of every position, raw little-endian\n"
    "  generate DIR -p PROMPT --out DIR [-n N] [--seed S] [--cfg W] [--temperature T] [--image-tokens N]\n"
    "                                         text to images (Janus-Pro): PNGs with the settings as text\n"
    "  describe DIR IMAGE [-p QUESTION] [--max-tokens N] [--greedy]\n"
    "                                         answer a question about a picture (Janus-Pro)\n"
    "\n"
    "chat options:\n"
    "  -p, --prompt TEXT     one-shot: answer TEXT, stream the reply, exit\n"
    "  --system TEXT         system message\n"
    "  --greedy              argmax decoding (same as --temperature 0)\n"
    "  --temperature T       sampling temperature (default: the model's generation_config)\n"
    "  --top-k K             keep the K most likely tokens (0: off)\n"
    "  --top-p P             nucleus sampling mass in (0, 1]\n"
    "  --repeat-penalty R    repetition penalty (1: off)\n"
    "  --seed N              sampling seed (default: random)\n"
    "  --max-tokens N        reply length limit (default 1024)\n"
    "  --context N           session context in tokens (default min(model maximum, 4096))\n"
    "  --hide-thinking       do not print R1 thinking\n"
    "  --no-stats            do not print token counts and speeds on stderr\n"
    "common options:\n"
    "  --device auto|cpu|cuda  where to run (auto: the GPU when present and the model fits)\n"
    "  --threads N           CPU threads (default: all)\n"
    "\n"
    "exit codes: 0 ok, 1 model or data error, 2 usage error\n";

}  // namespace

int fail(int code, const std::string& message) {
    std::cerr << "tessera-cli: " << message << "\n";
    return code;
}

int usage_error(const std::string& command, const std::string& message) {
    std::cerr << "tessera-cli " << command << ": " << message << "\n"
              << "run 'tessera-cli --help' for usage\n";
    return kUsageError;
}

}  // namespace tessera::cli

int main(int argc, char** argv) {
    using namespace tessera::cli;
    if (argc < 2) {
        std::cerr << kUsage;
        return kUsageError;
    }
    const std::string command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return kOk;
    }
    if (command == "info") return run_info(argc, argv);
    if (command == "tokenize") return run_tokenize(argc, argv);
    if (command == "logits") return run_logits(argc, argv);
    if (command == "chat") return run_chat(argc, argv);
    if (command == "generate") return run_generate(argc, argv);
    if (command == "describe") return run_describe(argc, argv);
    return usage_error(command, "unknown command (info, chat, tokenize, logits, generate, describe)");
}
