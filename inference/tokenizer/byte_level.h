// The GPT-2 byte <-> printable-character mapping that byte-level BPE vocabularies are written in
// (models.md §8 step 3): every byte becomes one visible code point so that merges never see raw
// control bytes or half characters.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tessera::byte_level {

// UTF-8 of the character that stands for byte b.
const std::string& char_of(unsigned char b);

// Maps every byte of raw to its character, appending to out.
void encode(std::string_view raw, std::string& out);

// The bytes a vocabulary token stands for; nullopt when a character is outside the mapping
// (added tokens, or a vocabulary that is not byte-level), which the decoder then keeps verbatim.
std::optional<std::string> decode(std::string_view token);

}  // namespace tessera::byte_level
