// The tokenizer and chat format of a GGUF model, from its metadata (tokenizer.ggml.*): the byte-level BPE
// ("gpt2") vocabulary, merges and token types, the special ids, add_bos_token, and the pre-tokenizer named
// by tokenizer.ggml.pre. It is built as the same internal structures the tokenizer.json reader builds
// (Tokenizer::from_json), so encoding follows exactly the same code as a Hugging Face folder.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "io/gguf.h"
#include "tessera/error.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

// tokenizer.ggml.pre values: "qwen2" and "deepseek-r1-qwen" (the Qwen2 regex, NFC; models.md §8) and
// "deepseek-llm" (the six DeepSeek LLM splits). Token types: control (3) -> special added token,
// user-defined (4) -> added token; the rest are vocabulary. Errors name the file and the key.
Result<std::unique_ptr<Tokenizer>> gguf_tokenizer(const GgufFile& file);

struct GgufChatChoice {
    ChatFormat format = ChatFormat::R1Distill;
    const char* name = "r1-distill";  // as ModelSpec::chat_format_name
    std::string reason;              // why: "tokenizer.chat_template has the R1 markers", ...
};

// The chat format for a GGUF model: R1 distill when tokenizer.chat_template has the R1 markers
// (<｜User｜>, <｜Assistant｜>); else DeepSeek LLM for tokenizer.ggml.pre "deepseek-llm" or a llama
// architecture, R1 distill for qwen2.
GgufChatChoice gguf_chat_format(const GgufFile& file);

// The tokenizer of a model path: from the GGUF metadata for a GGUF model (gguf_model_file), else
// Tokenizer::load (tokenizer.json + tokenizer_config.json).
Result<std::unique_ptr<Tokenizer>> load_model_tokenizer(const std::filesystem::path& path);

}  // namespace tessera
