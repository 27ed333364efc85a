// Base64 (RFC 4648, standard alphabet, padded) for images embedded in JSON exports.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tessera::storage {

std::string base64_encode(std::string_view bytes);
// nullopt for anything that is not canonical padded base64 (white space is not accepted either).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tessera::storage
