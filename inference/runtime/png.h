// Internal pieces of the PNG writer/reader (png.cpp) that the public API (tessera/image.h: write_png,
// read_png_text) is built from, exposed so tests can reach both encoders and the decoder on any build:
// the in-memory encoder, a zlib inflater (zTXt/compressed iTXt; also what decode_png_rgb uses) and a
// minimal decoder for 8-bit RGB PNGs, used to check pixels without OpenCV.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/error.h"
#include "tessera/image.h"

namespace tessera::png {

enum class Encoder {
    Auto,    // OpenCV's imencode when the build has it (TESSERA_HAVE_OPENCV), else Stored
    Stored,  // own encoder: filter 0 rows in stored (uncompressed) deflate blocks
};

// The whole PNG file in memory: pixels from `encoder`, then one tEXt (key and value Latin-1) or iTXt
// (value needs UTF-8) chunk per text entry, in order, before IEND. Keys: 1..79 Latin-1 printable
// characters without leading/trailing spaces; values: valid UTF-8 without NUL. Errors: InvalidArgument.
Result<std::string> encode(const Image& image, const PngText& text, Encoder encoder = Encoder::Auto);

// The text chunks of a PNG in memory (tEXt, zTXt, iTXt; compressed ones inflated), as UTF-8, in file
// order. CRCs are checked. name_for_errors names the file in every error.
Result<PngText> read_text(std::string_view bytes, const std::string& name_for_errors);

// CRC-32 (ISO 3309, as PNG uses it) and Adler-32 (zlib).
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0);
uint32_t adler32(const uint8_t* data, size_t n, uint32_t adler = 1);

// Inflates a zlib stream (RFC 1950/1951, checks the Adler-32); more than max_out bytes is an error.
Result<std::string> zlib_inflate(std::string_view in, size_t max_out, const std::string& name_for_errors);

// Decodes a non-interlaced 8-bit RGB (colour type 2) PNG, all five row filters. Anything else: Unsupported.
Result<Image> decode_rgb8(std::string_view bytes, const std::string& name_for_errors);

}  // namespace tessera::png
