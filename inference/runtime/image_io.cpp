// read_image / decode_image (tessera/image.h): files to 8-bit RGB through OpenCV, converted the way Pillow's
// convert("RGB") does, which is what the reference image processors see.
//
// The size is read from the file's header before any pixel is decoded (PNG, JPEG, BMP, GIF, WebP, TIFF), so a
// small file announcing a gigantic image is refused without allocating for it; other formats rely on
// OpenCV's own limits (OPENCV_IO_MAX_IMAGE_PIXELS) and are checked against kMaxImagePixels after decoding.
//
// Conversion, matching Pillow (Image.open + convert("RGB")):
//  * grayscale is replicated to R=G=B; alpha is dropped, not composited; palettes are looked up;
//  * 16-bit colour (and gray+alpha) keeps the high byte, as Pillow's ";16B" raw modes do;
//  * 16-bit grayscale is clipped to 255 (Pillow opens it as "I;16" and converts by clipping, not scaling);
//  * EXIF orientation is ignored (Image.open does not apply it either).
// Known differences: float images (EXR, float TIFF) are rounded and clipped to 0..255; CMYK JPEGs go through
// libjpeg's CMYK conversion rather than Pillow's; only the first frame of a multi-page file is read.
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tessera/image.h"

#if TESSERA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

namespace tessera {

namespace {

// Files larger than this are refused before reading (an 16384² RGB image stored raw is 768 MiB).
constexpr uint64_t kMaxImageFileBytes = uint64_t(1) << 30;

uint32_t be16(const uint8_t* p) {
    return uint32_t(p[0]) << 8 | p[1];
}
uint32_t le16(const uint8_t* p) {
    return uint32_t(p[1]) << 8 | p[0];
}
uint32_t be32(const uint8_t* p) {
    return be16(p) << 16 | be16(p + 2);
}
uint32_t le32(const uint8_t* p) {
    return le16(p + 2) << 16 | le16(p);
}

struct HeaderSize {
    int64_t width = 0;
    int64_t height = 0;
};

enum class Sniff { Unknown, Ok, Bad };

struct SniffResult {
    Sniff kind = Sniff::Unknown;
    HeaderSize size;
    bool jpeg = false;
    size_t frame_offset = 0;  // JPEG: where the frame header starts (thumbnails in APPn segments come before)
    std::string problem;      // for Bad
};

SniffResult bad(std::string problem) {
    SniffResult r;
    r.kind = Sniff::Bad;
    r.problem = std::move(problem);
    return r;
}

SniffResult ok(int64_t w, int64_t h) {
    SniffResult r;
    r.kind = Sniff::Ok;
    r.size = {w, h};
    return r;
}

SniffResult sniff_jpeg(const uint8_t* b, size_t n) {
    // Walk the marker segments up to the first frame header (SOFn).
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xFF) return bad("JPEG marker expected at byte " + std::to_string(i));
        while (i < n && b[i] == 0xFF) ++i;  // fill bytes
        if (i >= n) break;
        const uint8_t m = b[i++];
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length field
        if (m == 0xD9 || m == 0xDA) return bad("JPEG has no frame header before its image data");
        if (i + 2 > n) break;
        const size_t len = be16(b + i);
        if (len < 2) return bad("JPEG segment with length " + std::to_string(len));
        const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            if (i + 7 > n) break;
            SniffResult r = ok(be16(b + i + 5), be16(b + i + 3));
            r.jpeg = true;
            r.frame_offset = i;
            return r;
        }
        i += len;
    }
    return bad("truncated (the JPEG header ends early)");
}

SniffResult sniff_webp(const uint8_t* b, size_t n) {
    if (n < 30) return bad("truncated (the WebP header ends early)");
    if (std::memcmp(b + 12, "VP8 ", 4) == 0) return ok(le16(b + 26) & 0x3FFF, le16(b + 28) & 0x3FFF);
    if (std::memcmp(b + 12, "VP8L", 4) == 0) {
        const uint32_t bits = le32(b + 21);
        return ok(1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF));
    }
    if (std::memcmp(b + 12, "VP8X", 4) == 0) {
        const int64_t w = 1 + int64_t(b[24] | b[25] << 8 | b[26] << 16);
        const int64_t h = 1 + int64_t(b[27] | b[28] << 8 | b[29] << 16);
        return ok(w, h);
    }
    return {};
}

SniffResult sniff_tiff(const uint8_t* b, size_t n) {
    const bool le = b[0] == 'I';
    auto u16 = [&](size_t at) { return le ? le16(b + at) : be16(b + at); };
    auto u32 = [&](size_t at) { return le ? le32(b + at) : be32(b + at); };
    const size_t ifd = u32(4);
    if (ifd + 2 > n) return bad("truncated (the TIFF directory lies beyond the end of the file)");
    const size_t count = u16(ifd);
    int64_t w = -1, h = -1;
    for (size_t e = 0; e < count; ++e) {
        const size_t at = ifd + 2 + 12 * e;
        if (at + 12 > n) return bad("truncated (the TIFF directory ends early)");
        const uint32_t tag = u16(at), type = u16(at + 2);
        if (tag != 256 && tag != 257) continue;
        const int64_t v = type == 3 ? int64_t(u16(at + 8)) : int64_t(u32(at + 8));
        (tag == 256 ? w : h) = v;
    }
    if (w < 0 || h < 0) return {};  // let the decoder report it
    return ok(w, h);
}

// The image size stated in the header of the formats we know; Unknown for the others.
SniffResult sniff(const uint8_t* b, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n >= 8 && std::memcmp(b, png_sig, 8) == 0) {
        if (n < 24 || std::memcmp(b + 12, "IHDR", 4) != 0) return bad("truncated or corrupt PNG header");
        return ok(be32(b + 16), be32(b + 20));
    }
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return sniff_jpeg(b, n);
    if (n >= 6 && (std::memcmp(b, "GIF87a", 6) == 0 || std::memcmp(b, "GIF89a", 6) == 0)) {
        if (n < 10) return bad("truncated (the GIF header ends early)");
        return ok(le16(b + 6), le16(b + 8));
    }
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
        if (n < 26) return bad("truncated (the BMP header ends early)");
        if (le32(b + 14) == 12) return ok(le16(b + 18), le16(b + 20));
        const int64_t w = int32_t(le32(b + 18)), h = int32_t(le32(b + 22));
        return ok(w < 0 ? -w : w, h < 0 ? -h : h);
    }
    if (n >= 16 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0)
        return sniff_webp(b, n);
    if (n >= 8 && (std::memcmp(b, "II*\0", 4) == 0 || std::memcmp(b, "MM\0*", 4) == 0))
        return sniff_tiff(b, n);
    return {};
}

// A JPEG whose entropy-coded data stops before the end-of-image marker decodes "successfully" with grey
// filling in libjpeg (a warning only); Pillow refuses such a file, so do we. FF D9 cannot occur inside the
// entropy-coded data (0xFF is stuffed as FF 00 there).
bool jpeg_has_end_marker(const uint8_t* b, size_t n, size_t from) {
    for (size_t i = n; i-- > from + 1;)
        if (b[i - 1] == 0xFF && b[i] == 0xD9) return true;
    return false;
}

Error image_error(const std::string& name, const std::string& what) {
    return make_error(ErrorCode::Format, name + ": " + what);
}

#if TESSERA_HAVE_OPENCV
// OpenCV's decoded Mat (1, 3 or 4 channels of 8/16-bit or float, BGR order) to packed RGB, as Pillow's
// convert("RGB") would produce it.
Result<Image> to_rgb(const cv::Mat& m, const std::string& name) {
    const int ch = m.channels();
    if (ch != 1 && ch != 3 && ch != 4)
        return image_error(name, std::to_string(ch) + "-channel images are not supported");
    cv::Mat src = m;
    if (m.depth() != CV_8U && m.depth() != CV_16U) {
        cv::Mat tmp;
        m.convertTo(tmp, CV_MAKETYPE(CV_8U, ch));  // rounds and saturates
        src = tmp;
    }
    Image img;
    img.width = src.cols;
    img.height = src.rows;
    img.rgb.resize(size_t(src.cols) * size_t(src.rows) * 3);
    const bool wide = src.depth() == CV_16U;
    for (int y = 0; y < src.rows; ++y) {
        uint8_t* out = img.rgb.data() + size_t(y) * size_t(src.cols) * 3;
        if (!wide) {
            const uint8_t* in = src.ptr<uint8_t>(y);
            for (int x = 0; x < src.cols; ++x, in += ch, out += 3) {
                if (ch == 1) {
                    out[0] = out[1] = out[2] = in[0];
                } else {
                    out[0] = in[2], out[1] = in[1], out[2] = in[0];
                }
            }
        } else {
            const uint16_t* in = src.ptr<uint16_t>(y);
            for (int x = 0; x < src.cols; ++x, in += ch, out += 3) {
                if (ch == 1) {
                    out[0] = out[1] = out[2] = uint8_t(in[0] > 255 ? 255 : in[0]);
                } else {
                    out[0] = uint8_t(in[2] >> 8), out[1] = uint8_t(in[1] >> 8), out[2] = uint8_t(in[0] >> 8);
                }
            }
        }
    }
    return img;
}
#endif

}  // namespace

Result<Image> decode_image(const uint8_t* bytes, size_t size, const std::string& name_for_errors) {
    const std::string& name = name_for_errors;
    if (bytes == nullptr || size == 0) return image_error(name, "empty file, not an image");
    const SniffResult s = sniff(bytes, size);
    if (s.kind == Sniff::Bad) return image_error(name, s.problem);
    if (s.kind == Sniff::Ok) {
        if (s.size.width <= 0 || s.size.height <= 0)
            return image_error(name, "image header states a size of " + std::to_string(s.size.width) + " x " +
                                         std::to_string(s.size.height) + " pixels");
        if (s.size.width * s.size.height > kMaxImagePixels)
            return make_error(ErrorCode::InvalidArgument,
                              name + ": image is " + std::to_string(s.size.width) + " x " +
                                  std::to_string(s.size.height) + " pixels, more than the limit of " +
                                  std::to_string(kMaxImagePixels) + " pixels");
        if (s.jpeg && !jpeg_has_end_marker(bytes, size, s.frame_offset))
            return image_error(name, "truncated JPEG (no end marker)");
    }
#if TESSERA_HAVE_OPENCV
    if (size > size_t(INT32_MAX)) return make_error(ErrorCode::InvalidArgument, name + ": file too large");
    cv::Mat decoded;
    try {
        const cv::Mat buf(1, int(size), CV_8UC1, const_cast<uint8_t*>(bytes));
        decoded =
            cv::imdecode(buf, cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR | cv::IMREAD_IGNORE_ORIENTATION);
    } catch (const cv::Exception& e) {
        return image_error(name, std::string("cannot decode the image (") + e.what() + ")");
    } catch (const std::exception& e) {
        return make_error(ErrorCode::OutOfMemory, name + ": decoding failed: " + e.what());
    }
    if (decoded.empty()) {
        if (s.kind == Sniff::Unknown) return image_error(name, "not an image file this build can read");
        return image_error(
            name, "cannot decode the image (corrupt, truncated, or a format this build does not read)");
    }
    if (int64_t(decoded.cols) * decoded.rows > kMaxImagePixels)
        return make_error(ErrorCode::InvalidArgument, name + ": image is " + std::to_string(decoded.cols) +
                                                          " x " + std::to_string(decoded.rows) +
                                                          " pixels, more than the limit of " +
                                                          std::to_string(kMaxImagePixels) + " pixels");
    if (s.kind == Sniff::Ok && (decoded.cols != s.size.width || decoded.rows != s.size.height))
        return image_error(name, "decoded size differs from the size in its header");
    try {
        return to_rgb(decoded, name);
    } catch (const std::exception& e) {
        return make_error(ErrorCode::OutOfMemory, name + ": converting the image failed: " + e.what());
    }
#else
    return make_error(ErrorCode::Unsupported, name + ": image decoding is not available in this build");
#endif
}

Result<Image> read_image(const std::filesystem::path& file) {
    const std::string name = file.string();
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);
    if (ec || !std::filesystem::exists(status)) return make_error(ErrorCode::Io, name + ": no such file");
    if (std::filesystem::is_directory(status))
        return make_error(ErrorCode::Io, name + ": is a directory, not an image");
    const uint64_t bytes = std::filesystem::file_size(file, ec);
    if (ec) return make_error(ErrorCode::Io, name + ": cannot read the file size (" + ec.message() + ")");
    if (bytes > kMaxImageFileBytes)
        return make_error(ErrorCode::InvalidArgument, name + ": file of " + std::to_string(bytes) +
                                                          " bytes is larger than the image file limit");
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error(ErrorCode::Io, name + ": cannot open the file");
    std::vector<uint8_t> data(static_cast<size_t>(bytes));
    if (bytes > 0 && !in.read(reinterpret_cast<char*>(data.data()), std::streamsize(bytes)))
        return make_error(ErrorCode::Io, name + ": short read");
    return decode_image(data.data(), data.size(), name);
}

}  // namespace tessera
