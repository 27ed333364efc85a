// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (+ tokenizer_config.json): added and
// special tokens matched before pre-tokenization, an optional NFC normalizer, the Split regex sequence
// through PCRE2, rank-ordered merges, ByteLevel decoding. models.md §8. Encoding equals the reference
// `tokenizers` library (tests/fixtures/tokenizer, made by tools/fixtures/make_tokenizer_cases.py).
// Thread-safe: encode/decode may run concurrently on one Tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tessera/error.h"

namespace tessera {

class Tokenizer {
public:
    // dir holds tokenizer.json and optionally tokenizer_config.json (bos/eos strings, add_bos_token).
    static Result<std::unique_ptr<Tokenizer>> load(const std::filesystem::path& dir);
    // The same from parsed documents: root is tokenizer.json's content, config tokenizer_config.json's (or
    // null); file and config_file name them in errors. The GGUF tokenizer (gguf_tokenizer.h) builds both
    // from the file's metadata.
    static Result<std::unique_ptr<Tokenizer>> from_json(const nlohmann::json& root, const nlohmann::json* config,
                                                        const std::string& file, const std::string& config_file);
    ~Tokenizer();

    // add_special: prepend BOS when tokenizer_config says add_bos_token (default true), append EOS when
    // it says add_eos_token; without tokenizer_config.json the tokenizer.json post-processor decides.
    // Ill-formed UTF-8 in text is read as U+FFFD. Never fails.
    std::vector<int32_t> encode(std::string_view text, bool add_special = true) const;
    // skip_special: drop tokens flagged special. Invalid UTF-8 from partial byte tokens is kept as bytes.
    // Added tokens decode as their content; the reference instead pushes single-character added tokens
    // whose character is in the byte map (DeepSeek's "ø", ids 100002-100014) through it and gets U+FFFD,
    // so decode(encode(s)) == s holds here where it does not there.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
    // Raw bytes of one token (ByteLevel decoded; added tokens as their content).
    std::string token_bytes(int32_t id) const;

    std::optional<int32_t> token_to_id(std::string_view token) const;  // added tokens first, then vocab
    // The vocabulary string of an id ("Ġhow"; added tokens as their content); nullopt for an unused id.
    std::optional<std::string> id_to_token(int32_t id) const;
    bool is_special(int32_t id) const;
    int32_t vocab_size() const;  // highest id + 1
    std::optional<int32_t> bos_id() const;
    std::optional<int32_t> eos_id() const;
    // Whether encode(text, true) prepends BOS (add_bos_token and a BOS token exist).
    bool adds_bos() const;

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Turns a stream of token ids into text that never ends in half a UTF-8 character.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
        : m_tokenizer(tokenizer), m_skip_special(skip_special) {}
    // Returns the newly completed text (possibly empty).
    std::string push(int32_t id);
    // Remaining bytes at the end of the stream (invalid sequences replaced by U+FFFD).
    std::string flush();

private:
    const Tokenizer& m_tokenizer;
    bool m_skip_special;
    std::string m_pending;
};

}  // namespace tessera
