// PNG output with generation metadata and text read-back (tessera/image.h write_png / read_png_text;
// internals in runtime/png.h). Pixels are encoded by OpenCV when the build has it, else as stored
// deflate blocks (valid PNG, uncompressed: 384×384 RGB is 443 KB); text chunks are written by this file in
// either case, with its own CRC-32. The file is written to a temporary name beside the target and renamed
// into place, so a failed write (full disk) never leaves a partial PNG under the real name. The inflater
// here exists for zTXt and compressed iTXt chunks written by other programs.
#include "runtime/png.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#ifdef TESSERA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

namespace tessera {

namespace png {

namespace {

constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
constexpr size_t kMaxTextBytes = size_t(16) << 20;  // one inflated text chunk
constexpr size_t kMaxIdatChunk = size_t(1) << 20;   // IDAT chunks the stored encoder writes

uint32_t load_be32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

void append_be32(std::string& out, uint32_t v) {
    out.push_back(char(v >> 24));
    out.push_back(char(v >> 16));
    out.push_back(char(v >> 8));
    out.push_back(char(v));
}

void append_chunk(std::string& out, const char type[5], std::string_view data) {
    append_be32(out, uint32_t(data.size()));
    const size_t start = out.size();
    out.append(type, 4);
    out.append(data);
    append_be32(out, crc32(reinterpret_cast<const uint8_t*>(out.data() + start), out.size() - start));
}

// ---------------------------------------------------------------------------------------------------
// Text: UTF-8 <-> Latin-1

// Decodes UTF-8 into code points; false on malformed input (overlong forms, surrogates, > U+10FFFF).
bool utf8_code_points(std::string_view s, std::vector<uint32_t>& out) {
    out.clear();
    for (size_t i = 0; i < s.size();) {
        const uint8_t c = uint8_t(s[i]);
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
            cp = c;
            len = 1;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1fu;
            len = 2;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0fu;
            len = 3;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07u;
            len = 4;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            const uint8_t cc = uint8_t(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = cp << 6 | (cc & 0x3fu);
        }
        static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        out.push_back(cp);
        i += len;
    }
    return true;
}

std::string latin1_to_utf8(std::string_view s) {
    std::string out;
    for (char ch : s) {
        const uint8_t c = uint8_t(ch);
        if (c < 0x80) {
            out.push_back(char(c));
        } else {
            out.push_back(char(0xc0 | (c >> 6)));
            out.push_back(char(0x80 | (c & 0x3f)));
        }
    }
    return out;
}

// The key as Latin-1 bytes, or an error: PNG keywords are 1-79 printable Latin-1 characters.
Result<std::string> png_keyword(const std::string& key) {
    std::vector<uint32_t> cps;
    auto bad = [&](const std::string& why) {
        return make_error(ErrorCode::InvalidArgument, "PNG text key \"" + key + "\": " + why);
    };
    if (!utf8_code_points(key, cps)) return bad("not valid UTF-8");
    if (cps.empty() || cps.size() > 79) return bad("must be 1 to 79 characters");
    std::string out;
    for (uint32_t cp : cps) {
        if (cp > 0xff || cp < 0x20 || (cp >= 0x7f && cp <= 0xa0))
            return bad("only printable Latin-1 characters are allowed in a PNG keyword");
        out.push_back(char(cp));
    }
    if (out.front() == ' ' || out.back() == ' ') return bad("leading or trailing space");
    return out;
}

// ---------------------------------------------------------------------------------------------------
// Inflate (RFC 1951), canonical Huffman decoding one bit at a time: only text chunks and test images go
// through it, so clarity wins over speed.

struct Huffman {
    std::array<uint16_t, 16> count{};    // codes of each length
    std::array<uint16_t, 320> symbol{};  // symbols ordered by code
};

// False when the lengths over-subscribe the code space (an incomplete code is allowed, as zlib does for
// single-symbol distance codes).
bool build_huffman(Huffman& h, const uint8_t* lengths, int n) {
    h.count.fill(0);
    for (int i = 0; i < n; ++i) ++h.count[lengths[i]];
    h.count[0] = 0;
    int left = 1;
    for (int len = 1; len < 16; ++len) {
        left <<= 1;
        left -= h.count[size_t(len)];
        if (left < 0) return false;
    }
    std::array<uint16_t, 16> offs{};
    for (int len = 1; len < 15; ++len)
        offs[size_t(len + 1)] = uint16_t(offs[size_t(len)] + h.count[size_t(len)]);
    for (int i = 0; i < n; ++i)
        if (lengths[i] != 0) h.symbol[offs[lengths[i]]++] = uint16_t(i);
    return true;
}

class Inflater {
public:
    Inflater(std::string_view in, size_t max_out) : m_in(in), m_max(max_out) {}

    // Returns an empty string on success, else what went wrong.
    std::string run(std::string& out) {
        int last = 0;
        do {
            last = bits(1);
            const int type = bits(2);
            if (m_fail) return "truncated deflate data";
            std::string err;
            if (type == 0)
                err = stored(out);
            else if (type == 1)
                err = fixed(out);
            else if (type == 2)
                err = dynamic(out);
            else
                err = "invalid deflate block type 3";
            if (!err.empty()) return err;
        } while (!last);
        return {};
    }
    size_t consumed() const { return m_pos; }  // bytes, after the final block (rounded up)

private:
    int bits(int need) {
        uint32_t v = m_bitbuf;
        while (m_bitcnt < need) {
            if (m_pos >= m_in.size()) {
                m_fail = true;
                return 0;
            }
            v |= uint32_t(uint8_t(m_in[m_pos++])) << m_bitcnt;
            m_bitcnt += 8;
        }
        m_bitbuf = v >> need;
        m_bitcnt -= need;
        return int(v & ((1u << need) - 1));
    }

    int decode(const Huffman& h) {
        int code = 0, first = 0, index = 0;
        for (int len = 1; len < 16; ++len) {
            code |= bits(1);
            if (m_fail) return -1;
            const int count = h.count[size_t(len)];
            if (code - count < first) return h.symbol[size_t(index + (code - first))];
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        return -1;
    }

    std::string stored(std::string& out) {
        m_bitbuf = 0;
        m_bitcnt = 0;
        if (m_pos + 4 > m_in.size()) return "truncated stored block";
        const uint8_t* p = reinterpret_cast<const uint8_t*>(m_in.data() + m_pos);
        const unsigned len = p[0] | unsigned(p[1]) << 8, nlen = p[2] | unsigned(p[3]) << 8;
        if (len != (~nlen & 0xffffu)) return "stored block length check failed";
        m_pos += 4;
        if (m_pos + len > m_in.size()) return "truncated stored block";
        if (out.size() + len > m_max) return "inflated data larger than " + std::to_string(m_max) + " bytes";
        out.append(m_in.data() + m_pos, len);
        m_pos += len;
        return {};
    }

    std::string codes(std::string& out, const Huffman& lencode, const Huffman& distcode) {
        static constexpr uint16_t kLenBase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                                  15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                                  67, 83, 99, 115, 131, 163, 195, 227, 258};
        static constexpr uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
        static constexpr uint16_t kDistBase[30] = {
            1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
            193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
        static constexpr uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
        for (;;) {
            int sym = decode(lencode);
            if (sym < 0) return "invalid or truncated literal/length code";
            if (sym < 256) {
                if (out.size() >= m_max)
                    return "inflated data larger than " + std::to_string(m_max) + " bytes";
                out.push_back(char(sym));
            } else if (sym == 256) {
                return {};
            } else {
                sym -= 257;
                if (sym >= 29) return "invalid length code";
                const size_t len = kLenBase[sym] + size_t(bits(kLenExtra[sym]));
                const int ds = decode(distcode);
                if (ds < 0 || ds >= 30) return "invalid distance code";
                const size_t dist = kDistBase[ds] + size_t(bits(kDistExtra[ds]));
                if (m_fail) return "truncated deflate data";
                if (dist > out.size()) return "distance too far back";
                if (out.size() + len > m_max)
                    return "inflated data larger than " + std::to_string(m_max) + " bytes";
                const size_t from = out.size() - dist;
                for (size_t i = 0; i < len; ++i) out.push_back(out[from + i]);
            }
        }
    }

    std::string fixed(std::string& out) {
        uint8_t lengths[288 + 30];
        int i = 0;
        for (; i < 144; ++i) lengths[i] = 8;
        for (; i < 256; ++i) lengths[i] = 9;
        for (; i < 280; ++i) lengths[i] = 7;
        for (; i < 288; ++i) lengths[i] = 8;
        for (i = 0; i < 30; ++i) lengths[288 + i] = 5;
        Huffman lencode, distcode;
        build_huffman(lencode, lengths, 288);
        build_huffman(distcode, lengths + 288, 30);
        return codes(out, lencode, distcode);
    }

    std::string dynamic(std::string& out) {
        const int nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
        if (m_fail) return "truncated deflate data";
        if (nlen > 286 || ndist > 30) return "bad dynamic block counts";
        static constexpr uint8_t kOrder[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                               11, 4,  12, 3, 13, 2, 14, 1, 15};
        uint8_t lengths[320] = {};
        for (int i = 0; i < ncode; ++i) lengths[kOrder[i]] = uint8_t(bits(3));
        Huffman lencode, distcode;
        if (!build_huffman(lencode, lengths, 19)) return "bad code-length code";
        int index = 0;
        while (index < nlen + ndist) {
            int sym = decode(lencode);
            if (sym < 0) return "invalid code-length symbol";
            if (sym < 16) {
                lengths[index++] = uint8_t(sym);
                continue;
            }
            uint8_t len = 0;
            int repeat;
            if (sym == 16) {
                if (index == 0) return "repeat with no previous length";
                len = lengths[index - 1];
                repeat = 3 + bits(2);
            } else if (sym == 17) {
                repeat = 3 + bits(3);
            } else {
                repeat = 11 + bits(7);
            }
            if (m_fail) return "truncated deflate data";
            if (index + repeat > nlen + ndist) return "too many code lengths";
            while (repeat--) lengths[index++] = len;
        }
        if (lengths[256] == 0) return "no end-of-block code";
        if (!build_huffman(lencode, lengths, nlen) || !build_huffman(distcode, lengths + nlen, ndist))
            return "over-subscribed Huffman code";
        return codes(out, lencode, distcode);
    }

    std::string_view m_in;
    size_t m_max;
    size_t m_pos = 0;
    uint32_t m_bitbuf = 0;
    int m_bitcnt = 0;
    bool m_fail = false;
};

// ---------------------------------------------------------------------------------------------------
// Pixels

Status check_image(const Image& image) {
    if (image.width <= 0 || image.height <= 0 || int64_t(image.width) * image.height > kMaxImagePixels)
        return make_error(ErrorCode::InvalidArgument, "PNG: image size " + std::to_string(image.width) + "x" +
                                                          std::to_string(image.height) +
                                                          " is empty or too large");
    if (image.rgb.size() != size_t(image.width) * size_t(image.height) * 3)
        return make_error(ErrorCode::InvalidArgument, "PNG: " + std::to_string(image.rgb.size()) +
                                                          " bytes of pixels for a " +
                                                          std::to_string(image.width) + "x" +
                                                          std::to_string(image.height) + " RGB image");
    return {};
}

std::string encode_stored(const Image& image) {
    std::string out(kSignature);
    std::string ihdr;
    append_be32(ihdr, uint32_t(image.width));
    append_be32(ihdr, uint32_t(image.height));
    ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, RGB, deflate, adaptive filtering, no interlace
    append_chunk(out, "IHDR", ihdr);

    const size_t row = size_t(image.width) * 3;
    std::string raw;
    raw.reserve((row + 1) * size_t(image.height));
    for (int y = 0; y < image.height; ++y) {
        raw.push_back('\0');  // filter: none
        raw.append(reinterpret_cast<const char*>(image.rgb.data()) + size_t(y) * row, row);
    }
    std::string z("\x78\x01", 2);  // deflate, 32 KiB window, no dictionary, check bits
    for (size_t at = 0; at < raw.size() || at == 0;) {
        const size_t n = std::min<size_t>(65535, raw.size() - at);
        const bool last = at + n == raw.size();
        z.push_back(last ? '\x01' : '\x00');
        z.push_back(char(n & 0xff));
        z.push_back(char(n >> 8));
        z.push_back(char(~n & 0xff));
        z.push_back(char((~n >> 8) & 0xff));
        z.append(raw, at, n);
        at += n;
        if (last) break;
    }
    append_be32(z, adler32(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
    for (size_t at = 0; at < z.size(); at += kMaxIdatChunk)
        append_chunk(out, "IDAT", std::string_view(z).substr(at, kMaxIdatChunk));
    append_chunk(out, "IEND", {});
    return out;
}

#ifdef TESSERA_HAVE_OPENCV
Result<std::string> encode_opencv(const Image& image) {
    try {
        cv::Mat bgr(image.height, image.width, CV_8UC3);
        for (int y = 0; y < image.height; ++y) {
            const uint8_t* src = image.rgb.data() + size_t(y) * size_t(image.width) * 3;
            uint8_t* dst = bgr.ptr<uint8_t>(y);
            for (int x = 0; x < image.width; ++x) {
                dst[3 * x] = src[3 * x + 2];
                dst[3 * x + 1] = src[3 * x + 1];
                dst[3 * x + 2] = src[3 * x];
            }
        }
        std::vector<uint8_t> buf;
        if (!cv::imencode(".png", bgr, buf))
            return make_error(ErrorCode::Internal, "PNG: OpenCV could not encode the image");
        return std::string(buf.begin(), buf.end());
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal,
                          std::string("PNG: OpenCV could not encode the image: ") + e.what());
    }
}
#endif

std::string io_message(const std::filesystem::path& file, const std::string& what, int err) {
    std::string m = file.string() + ": " + what + " (" + std::strerror(err) + ")";
    if (err == ENOSPC || err == EFBIG || err == EDQUOT)
        m += ": the disk is full or the file size limit is reached";
    return m;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc) {
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t adler32(const uint8_t* data, size_t n, uint32_t adler) {
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n > 0) {
        const size_t block = std::min<size_t>(n, 5552);  // largest run before the sums can overflow
        for (size_t i = 0; i < block; ++i) {
            a += data[i];
            b += a;
        }
        a %= 65521;
        b %= 65521;
        data += block;
        n -= block;
    }
    return b << 16 | a;
}

Result<std::string> zlib_inflate(std::string_view in, size_t max_out, const std::string& name) {
    auto bad = [&](const std::string& why) {
        return make_error(ErrorCode::Format, name + ": zlib data: " + why);
    };
    if (in.size() < 6) return bad("truncated");
    const uint8_t cmf = uint8_t(in[0]), flg = uint8_t(in[1]);
    if ((cmf & 0x0f) != 8 || (cmf >> 4) > 7 || (unsigned(cmf) << 8 | flg) % 31 != 0) return bad("bad header");
    if (flg & 0x20) return bad("preset dictionary not supported");
    std::string out;
    Inflater inf(in.substr(2), max_out);
    if (std::string err = inf.run(out); !err.empty()) return bad(err);
    const size_t end = 2 + inf.consumed();
    if (end + 4 > in.size()) return bad("missing Adler-32");
    if (load_be32(reinterpret_cast<const uint8_t*>(in.data() + end)) !=
        adler32(reinterpret_cast<const uint8_t*>(out.data()), out.size()))
        return bad("Adler-32 mismatch");
    return out;
}

Result<std::string> encode(const Image& image, const PngText& text, Encoder encoder) {
    TESSERA_TRY(check_image(image));
    std::string chunks;
    std::vector<uint32_t> cps;
    for (const auto& [key, value] : text) {
        TESSERA_ASSIGN(std::string keyword, png_keyword(key));
        if (!utf8_code_points(value, cps))
            return make_error(ErrorCode::InvalidArgument,
                              "PNG text \"" + key + "\": value is not valid UTF-8");
        bool latin1 = true;
        for (uint32_t cp : cps) {
            if (cp == 0)
                return make_error(ErrorCode::InvalidArgument,
                                  "PNG text \"" + key + "\": value contains a NUL");
            latin1 = latin1 && cp <= 0xff;
        }
        std::string data = keyword;
        data.push_back('\0');
        if (latin1) {
            for (uint32_t cp : cps) data.push_back(char(cp));
            append_chunk(chunks, "tEXt", data);
        } else {
            data +=
                std::string("\0\0\0\0", 4);  // not compressed, method 0, no language tag, no translated key
            data += value;
            append_chunk(chunks, "iTXt", data);
        }
    }
    std::string file;
#ifdef TESSERA_HAVE_OPENCV
    if (encoder == Encoder::Auto) {
        TESSERA_ASSIGN(file, encode_opencv(image));
    } else {
        file = encode_stored(image);
    }
#else
    (void)encoder;
    file = encode_stored(image);
#endif
    // Text goes just before IEND (the last 12 bytes: length 0, "IEND", CRC).
    if (file.size() < kSignature.size() + 12 || file.compare(file.size() - 8, 4, "IEND") != 0)
        return make_error(ErrorCode::Internal, "PNG: encoder output does not end with IEND");
    file.insert(file.size() - 12, chunks);
    return file;
}

Result<PngText> read_text(std::string_view bytes, const std::string& name) {
    auto bad = [&](const std::string& why) { return make_error(ErrorCode::Format, name + ": " + why); };
    if (bytes.substr(0, 8) != kSignature) return bad("not a PNG file (bad signature)");
    PngText text;
    size_t at = 8;
    for (;;) {
        if (at + 12 > bytes.size()) return bad("truncated (no IEND chunk)");
        const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data() + at);
        const uint32_t len = load_be32(p);
        const std::string type(bytes.substr(at + 4, 4));
        if (len > bytes.size() - at - 12) return bad("chunk " + type + " runs past the end of the file");
        const std::string_view data = bytes.substr(at + 8, len);
        const bool is_text = type == "tEXt" || type == "zTXt" || type == "iTXt";
        if (is_text && load_be32(p + 8 + len) != crc32(p + 4, len + 4))
            return bad("CRC mismatch in a " + type + " chunk");
        at += 12 + size_t(len);
        if (type == "IEND") break;
        if (!is_text) continue;
        const size_t nul = data.find('\0');
        if (nul == std::string_view::npos || nul == 0 || nul > 79)
            return bad(type + " chunk with a bad keyword");
        const std::string key = latin1_to_utf8(data.substr(0, nul));
        std::string_view rest = data.substr(nul + 1);
        if (type == "tEXt") {
            text.emplace_back(key, latin1_to_utf8(rest));
        } else if (type == "zTXt") {
            if (rest.empty() || rest[0] != '\0')
                return bad("zTXt \"" + key + "\" with an unknown compression method");
            TESSERA_ASSIGN(std::string value,
                           zlib_inflate(rest.substr(1), kMaxTextBytes, name + ": zTXt \"" + key + "\""));
            text.emplace_back(key, latin1_to_utf8(value));
        } else {
            if (rest.size() < 2) return bad("truncated iTXt \"" + key + "\"");
            const bool compressed = rest[0] != '\0';
            if (compressed && rest[1] != '\0')
                return bad("iTXt \"" + key + "\" with an unknown compression method");
            rest.remove_prefix(2);
            const size_t lang_end = rest.find('\0');
            const size_t tkey_end =
                lang_end == std::string_view::npos ? lang_end : rest.find('\0', lang_end + 1);
            if (tkey_end == std::string_view::npos) return bad("truncated iTXt \"" + key + "\"");
            rest.remove_prefix(tkey_end + 1);
            std::string value;
            if (compressed) {
                TESSERA_ASSIGN(value, zlib_inflate(rest, kMaxTextBytes, name + ": iTXt \"" + key + "\""));
            } else {
                value = std::string(rest);
            }
            std::vector<uint32_t> cps;
            if (!utf8_code_points(value, cps)) return bad("iTXt \"" + key + "\" is not valid UTF-8");
            text.emplace_back(key, std::move(value));
        }
    }
    return text;
}

Result<Image> decode_rgb8(std::string_view bytes, const std::string& name) {
    auto bad = [&](ErrorCode code, const std::string& why) { return make_error(code, name + ": " + why); };
    if (bytes.substr(0, 8) != kSignature) return bad(ErrorCode::Format, "not a PNG file (bad signature)");
    Image img;
    std::string z;
    bool ended = false;
    for (size_t at = 8; !ended;) {
        if (at + 12 > bytes.size()) return bad(ErrorCode::Format, "truncated (no IEND chunk)");
        const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data() + at);
        const uint32_t len = load_be32(p);
        if (len > bytes.size() - at - 12)
            return bad(ErrorCode::Format, "chunk runs past the end of the file");
        if (load_be32(p + 8 + len) != crc32(p + 4, len + 4)) return bad(ErrorCode::Format, "CRC mismatch");
        const std::string_view type = bytes.substr(at + 4, 4);
        if (type == "IHDR") {
            if (len != 13) return bad(ErrorCode::Format, "bad IHDR");
            img.width = int(load_be32(p + 8));
            img.height = int(load_be32(p + 12));
            if (p[16] != 8 || p[17] != 2 || p[20] != 0)
                return bad(ErrorCode::Unsupported, "only 8-bit RGB non-interlaced PNGs are decoded here");
            if (img.width <= 0 || img.height <= 0 || int64_t(img.width) * img.height > kMaxImagePixels)
                return bad(ErrorCode::Format, "bad image size");
        } else if (type == "IDAT") {
            z.append(bytes.substr(at + 8, len));
        } else if (type == "IEND") {
            ended = true;
        }
        at += 12 + size_t(len);
    }
    if (img.width == 0) return bad(ErrorCode::Format, "no IHDR chunk");
    const size_t row = size_t(img.width) * 3;
    TESSERA_ASSIGN(std::string raw, zlib_inflate(z, (row + 1) * size_t(img.height), name));
    if (raw.size() != (row + 1) * size_t(img.height))
        return bad(ErrorCode::Format, "pixel data of the wrong size");
    img.rgb.resize(row * size_t(img.height));
    for (int y = 0; y < img.height; ++y) {
        const uint8_t filter = uint8_t(raw[size_t(y) * (row + 1)]);
        const uint8_t* src = reinterpret_cast<const uint8_t*>(raw.data()) + size_t(y) * (row + 1) + 1;
        uint8_t* dst = img.rgb.data() + size_t(y) * row;
        const uint8_t* up = y > 0 ? dst - row : nullptr;
        for (size_t i = 0; i < row; ++i) {
            const int a = i >= 3 ? dst[i - 3] : 0, b = up ? up[i] : 0, c = (up && i >= 3) ? up[i - 3] : 0;
            int pred;
            switch (filter) {
                case 0:
                    pred = 0;
                    break;
                case 1:
                    pred = a;
                    break;
                case 2:
                    pred = b;
                    break;
                case 3:
                    pred = (a + b) / 2;
                    break;
                case 4: {
                    const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
                    pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
                    break;
                }
                default:
                    return bad(ErrorCode::Format, "unknown row filter " + std::to_string(filter));
            }
            dst[i] = uint8_t(src[i] + pred);
        }
    }
    return img;
}

}  // namespace png

Status write_png(const std::filesystem::path& file, const Image& image, const PngText& text) {
    auto encoded = png::encode(image, text);
    if (!encoded.ok()) {
        Error e = encoded.take_error();
        e.message = file.string() + ": " + e.message;
        return e;
    }
    const std::string& bytes = *encoded;
    static std::atomic<uint64_t> counter{0};
    const std::filesystem::path tmp =
        file.parent_path() / ("." + file.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1)));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(ErrorCode::Io, png::io_message(file, "cannot create the file", errno));
    auto fail = [&](const std::string& what, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return make_error(ErrorCode::Io, png::io_message(file, what, err));
    };
    for (size_t at = 0; at < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail("write failed, nothing was saved", n < 0 ? errno : ENOSPC);
        at += size_t(n);
    }
    if (::fsync(fd) != 0) return fail("write failed, nothing was saved", errno);
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return make_error(ErrorCode::Io, png::io_message(file, "write failed, nothing was saved", err));
    }
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return make_error(ErrorCode::Io,
                          png::io_message(file, "cannot move the finished file into place", err));
    }
    return {};
}

Result<PngText> read_png_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error(ErrorCode::Io, file.string() + ": cannot open (" + std::strerror(errno) + ")");
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(file, ec);
    if (ec) return make_error(ErrorCode::Io, file.string() + ": cannot read (" + ec.message() + ")");
    if (size > (uintmax_t(1) << 31))
        return make_error(ErrorCode::Unsupported, file.string() + ": larger than 2 GiB, not read as a PNG");
    std::string bytes(size_t(size), '\0');
    if (!in.read(bytes.data(), std::streamsize(size)))
        return make_error(ErrorCode::Io, file.string() + ": short read");
    return png::read_text(bytes, file.string());
}

}  // namespace tessera
