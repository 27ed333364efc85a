// Unicode normalization for tokenizer.json normalizers (models.md §8 step 2): Qwen2 tokenizers use
// NFC, the DeepSeek LLM family none. Implemented on tables generated from Python's unicodedata
// (tools/gen_unicode_tables.py) so the engine needs no ICU; the tables leave out what the reference
// `tokenizers` normalizer does not know (characters newer than Unicode 9), so NFC matches it exactly.
#pragma once

#include <string>
#include <string_view>

namespace tessera {

enum class NormalForm { NFC, NFD };

// text must be valid UTF-8 (the tokenizer sanitizes its input first).
std::string normalize(NormalForm form, std::string_view text);

// True when text is certainly unchanged by NFC (the quick check of UAX #15); false means "maybe".
bool nfc_quick_check(std::string_view text);

// The Unicode version of the tables.
const char* unicode_tables_version();

}  // namespace tessera
