// tessera-cli subcommands. Each returns the process exit code: 0 ok, 1 model or data error (message on
// stderr naming the folder or file), 2 usage error.
#pragma once

#include <string>

namespace tessera::cli {

int run_info(int argc, char** argv);      // info DIR [--json]
int run_tokenize(int argc, char** argv);  // tokenize DIR [--no-special]  (text on stdin)
int run_logits(int argc, char** argv);    // logits DIR --ids 1,2,3 --out FILE [--json]
int run_chat(int argc, char** argv);      // chat DIR [-p PROMPT] [sampling options]
int run_generate(int argc, char** argv);  // generate DIR -p PROMPT --out DIR [-n N] [--seed S] [--cfg W] ...
int run_describe(int argc, char** argv);  // describe DIR IMAGE [-p QUESTION] [--max-tokens N] [--greedy]

// "tessera-cli: <what>" on stderr, returning the code.
int fail(int code, const std::string& message);
int usage_error(const std::string& command, const std::string& message);

}  // namespace tessera::cli

namespace tessera {
struct LoadOptions;
}

namespace tessera::cli {

class Args;
// --device and --threads into LoadOptions; returns a non-zero exit code on a usage error.
int read_load_options(const std::string& command, const Args& args, LoadOptions& out);
// "3.31 GiB"
std::string format_bytes(unsigned long long bytes);

}  // namespace tessera::cli
