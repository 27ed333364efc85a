// Header parsers for the image formats users attach (see image_info.h). Every read is bounds-checked:
// the bytes come from arbitrary files.
#include "storage/image_info.h"

#include <cstdint>

namespace tessera::storage {

namespace {

struct Reader {
    std::string_view b;
    bool has(std::size_t at, std::size_t n) const { return at <= b.size() && n <= b.size() - at; }
    std::uint32_t u8(std::size_t at) const { return static_cast<unsigned char>(b[at]); }
    std::uint32_t be16(std::size_t at) const { return (u8(at) << 8) | u8(at + 1); }
    std::uint32_t le16(std::size_t at) const { return u8(at) | (u8(at + 1) << 8); }
    std::uint32_t be32(std::size_t at) const { return (be16(at) << 16) | be16(at + 2); }
    std::uint32_t le32(std::size_t at) const { return le16(at) | (le16(at + 2) << 16); }
    bool starts(std::size_t at, std::string_view s) const { return has(at, s.size()) && b.substr(at, s.size()) == s; }
};

ImageInfo make(const char* mime, const char* ext, std::uint32_t w, std::uint32_t h) {
    ImageInfo info;
    info.mime = mime;
    info.extension = ext;
    info.is_image = true;
    // Sizes beyond any real image are recorded as unknown rather than trusted.
    if (w > 0 && h > 0 && w <= 1u << 20 && h <= 1u << 20) {
        info.width = static_cast<int>(w);
        info.height = static_cast<int>(h);
    }
    return info;
}

ImageInfo jpeg(const Reader& r) {
    std::size_t pos = 2;
    while (r.has(pos, 4)) {
        if (r.u8(pos) != 0xFF) break;
        std::uint32_t marker = r.u8(pos + 1);
        if (marker == 0xFF) {  // fill byte
            ++pos;
            continue;
        }
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            pos += 2;
            continue;
        }
        if (marker == 0xD9 || marker == 0xDA) break;  // end of image / start of scan: no frame header seen
        const std::uint32_t length = r.be16(pos + 2);
        const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (frame && r.has(pos + 5, 4)) return make("image/jpeg", "jpg", r.be16(pos + 7), r.be16(pos + 5));
        if (length < 2) break;
        pos += 2 + length;
    }
    return make("image/jpeg", "jpg", 0, 0);
}

ImageInfo webp(const Reader& r) {
    if (r.starts(12, "VP8 ") && r.has(26, 4)) return make("image/webp", "webp", r.le16(26) & 0x3FFF, r.le16(28) & 0x3FFF);
    if (r.starts(12, "VP8L") && r.has(21, 4)) {
        const std::uint32_t bits = r.le32(21);
        return make("image/webp", "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
    }
    if (r.starts(12, "VP8X") && r.has(24, 6)) {
        const std::uint32_t w = r.u8(24) | (r.u8(25) << 8) | (r.u8(26) << 16);
        const std::uint32_t h = r.u8(27) | (r.u8(28) << 8) | (r.u8(29) << 16);
        return make("image/webp", "webp", w + 1, h + 1);
    }
    return make("image/webp", "webp", 0, 0);
}

}  // namespace

ImageInfo sniff_image(std::string_view bytes) {
    const Reader r{bytes};
    if (r.starts(0, "\x89PNG\r\n\x1a\n")) {
        if (r.starts(12, "IHDR") && r.has(16, 8)) return make("image/png", "png", r.be32(16), r.be32(20));
        return make("image/png", "png", 0, 0);
    }
    if (r.has(0, 3) && r.u8(0) == 0xFF && r.u8(1) == 0xD8 && r.u8(2) == 0xFF) return jpeg(r);
    if ((r.starts(0, "GIF87a") || r.starts(0, "GIF89a")) && r.has(6, 4))
        return make("image/gif", "gif", r.le16(6), r.le16(8));
    if (r.starts(0, "RIFF") && r.starts(8, "WEBP")) return webp(r);
    if (r.starts(0, "BM") && r.has(14, 4)) {
        const std::uint32_t header = r.le32(14);
        if (header == 12 && r.has(18, 4)) return make("image/bmp", "bmp", r.le16(18), r.le16(20));
        if (header >= 40 && r.has(18, 8)) {
            // Height is negative for top-down bitmaps.
            auto magnitude = [](std::uint32_t v) { return (v & 0x80000000u) ? 0u - v : v; };
            return make("image/bmp", "bmp", magnitude(r.le32(18)), magnitude(r.le32(22)));
        }
        return make("image/bmp", "bmp", 0, 0);
    }
    return ImageInfo{};
}

}  // namespace tessera::storage
