// PNG output with text chunks (tessera/image.h write_png/read_png_text, runtime/png.h): both pixel encoders
// (OpenCV's when the build has it, the own stored-deflate one always) decode pixel-exactly with the own
// decoder and, when available, OpenCV; ASCII/Latin-1 text goes into tEXt, other UTF-8 into iTXt, and all of
// it reads back; zTXt and compressed iTXt written by zlib are inflated; the write is atomic (a full disk,
// simulated with RLIMIT_FSIZE in a child, keeps the old file and leaves no temporary); bad keys, values,
// images and files give errors naming them.
#include <QtTest/QtTest>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <random>

#include "runtime/png.h"
#include "support/test_support.h"
#include "tessera/image.h"

#ifdef TESSERA_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

using namespace tessera;
using namespace tessera::test;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

Image test_image(int w, int h, uint32_t seed) {
    Image img{w, h, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
    std::mt19937 rng(seed);
    for (size_t i = 0; i < img.rgb.size(); ++i)
        img.rgb[i] =
            (i / 3) % 7 == 0 ? uint8_t(rng()) : uint8_t(i * 3 + i / (size_t(w) * 3));  // noise and ramps
    return img;
}

const PngText kText = {
    {"prompt", "a red fox in the snow"},
    {"Comment", "caf\xc3\xa9 na\xc3\xafve \xc2\xb1"},  // Latin-1 characters: tEXt
    {"prompt_utf8",
     "\xe7\x8b\x90\xe7\x8b\xb8 \xf0\x9f\xa6\x8a \xc3\xbc"
     "ber"},  // CJK and an emoji: iTXt
    {"seed", "12345"},
    {"empty", ""},
    {"caf\xc3\xa9 key", "value"},  // a Latin-1 keyword
};

std::string from_hex(std::string_view hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(char(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

void append_be32(std::string& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(char(v >> s));
}

// Inserts a chunk before IEND, with a correct CRC.
std::string with_chunk(std::string png, const std::string& type, const std::string& data) {
    std::string chunk;
    append_be32(chunk, uint32_t(data.size()));
    chunk += type + data;
    append_be32(chunk, png::crc32(reinterpret_cast<const uint8_t*>(chunk.data()) + 4, chunk.size() - 4));
    png.insert(png.size() - 12, chunk);
    return png;
}

// zlib.compress(b"seed 12345 caf\xe9", 9): fixed Huffman codes.
const char* kLatin1Z = "78da2b4e4d4d51303432363155484e4c7b0900247504f4";
// zlib.compress(dynamic_text().encode(), 9): dynamic Huffman codes (1187 bytes -> 593).
const char* kDynamicZ =
    "78da2593c795dc400c44534108846998187551964a43bf760ff3484ec394ebcffefdf96b6e6567de16cfb2adceba6cddfcfbcc83"
    "6715a754"
    "1c25d4c4e3b96719453dddd455f1dcb217676fda9abae6397c0fff2fe747dd511f6317e6ef98b616c7a409260cdd65fda5351dd3"
    "63fbc22e39"
    "0744848503d059f651faf50ff8e67df86f393b6a12ac258ccbd484cc47091892929776b3f0626b0ed897316e0de9a1f63c0c6a2e"
    "4050aee3a8"
    "3e1b9e27093e1000ba9cb66164014edbc7a290cd01c5b6698070e452e77ba8b22891b6fdc18f5240b1b0e1b4d0079768049f05f6"
    "86ed320df8"
    "81e4b5617de8e5eca72b1f4b162a0c4e58b6603e545e944d0bb42b76f7c226a0329ce3600fcacb49b056eafcc0c80a18d7d00f4d"
    "340c58bdc7"
    "f4483e1d0181cec64b4aa1f324242158694b4a70ed7029f8bdfeb5637977e94eeb2c4ab010b987e5f211799b7dc790c4acc6f31b"
    "e92441f4fe"
    "f1ce521c3c329021edc04d2b0b068f250a9d0313a7a304078801e407ae7b0843c0fa580a79c2bc08110c7d220de4c48829b5c336"
    "254cd2e24c"
    "271af16bc7e3fb6420620d75fe1c8ad0057c1e664a2d0949a424dac70dc2c16c7d1647a48e1c38363da2732851327cc45b69c33b"
    "6e4663afa3"
    "fd3b6587ada0c1ba62db812689d3726112a28b557122ce0582e4fc78224d64bb745172652dccf8f5fe1ae2ba00a71a182af8ec18"
    "a0040a0c8c"
    "02082bafb9b05b32b649b5328a0568fe48bd104a6f6c68c40bdc1a20266dfb741d61a860620fc45a5750f20b39241764c555532e"
    "a970c08c7c"
    "feb9dbb8c654ffe418ba017a95511204cfa6eb3f9dd5e39f";

std::string dynamic_text() {  // ''.join(str(i*i%997) + (' 狐 ' if i%50==0 else ' ') for i in range(300))
    std::string s;
    for (int i = 0; i < 300; ++i) s += std::to_string(i * i % 997) + (i % 50 == 0 ? " \xe7\x8b\x90 " : " ");
    return s;
}

}  // namespace

class TestPng : public QObject {
    Q_OBJECT

private slots:
    void checksums() {
        const std::string abc = "123456789";
        QCOMPARE(png::crc32(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()), 0xcbf43926u);
        QCOMPARE(png::adler32(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()), 0x091e01deu);
        // Adler-32 over more than one 5552-byte block.
        std::string big(100000, 'z');
        uint32_t a = 1, b = 0;
        for (char c : big) {
            a = (a + uint8_t(c)) % 65521;
            b = (b + a) % 65521;
        }
        QCOMPARE(png::adler32(reinterpret_cast<const uint8_t*>(big.data()), big.size()), b << 16 | a);
    }

    void bothEncodersRoundTrip() {
        const Image img = test_image(37, 23, 7);
        std::vector<png::Encoder> encoders = {png::Encoder::Stored};
#ifdef TESSERA_HAVE_OPENCV
        encoders.push_back(png::Encoder::Auto);
#endif
        for (png::Encoder enc : encoders) {
            auto bytes = png::encode(img, kText, enc);
            QVERIFY2(bytes.ok(), bytes.ok() ? "" : bytes.error().message.c_str());
            auto text = png::read_text(*bytes, "mem.png");
            QVERIFY2(text.ok(), text.ok() ? "" : text.error().message.c_str());
            QCOMPARE(text->size(), kText.size());
            for (size_t i = 0; i < kText.size(); ++i) {
                QCOMPARE((*text)[i].first, kText[i].first);
                QCOMPARE((*text)[i].second, kText[i].second);
            }
            // Latin-1 values are tEXt (key stored as Latin-1), the CJK one iTXt.
            QVERIFY(contains(*bytes, "tEXtComment\0caf\xe9"s));
            QVERIFY(contains(*bytes, "tEXtcaf\xe9 key\0value"s));
            QVERIFY(contains(*bytes, "iTXtprompt_utf8\0\0\0\0\0\xe7\x8b\x90"s));

            auto decoded = png::decode_rgb8(*bytes, "mem.png");
            QVERIFY2(decoded.ok(), decoded.ok() ? "" : decoded.error().message.c_str());
            QCOMPARE(decoded->width, img.width);
            QCOMPARE(decoded->height, img.height);
            QVERIFY(decoded->rgb == img.rgb);
#ifdef TESSERA_HAVE_OPENCV
            std::vector<uint8_t> buf(bytes->begin(), bytes->end());
            cv::Mat bgr = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
            QCOMPARE(bgr.type(), CV_8UC3);
            QCOMPARE(bgr.cols, img.width);
            QCOMPARE(bgr.rows, img.height);
            for (int y = 0; y < img.height; ++y)
                for (int x = 0; x < img.width; ++x)
                    for (int c = 0; c < 3; ++c)
                        QCOMPARE(int(bgr.at<cv::Vec3b>(y, x)[2 - c]),
                                 int(img.rgb[size_t((y * img.width + x) * 3 + c)]));
#endif
        }
#ifdef TESSERA_HAVE_OPENCV
        // OpenCV compresses: the own decoder has inflated real dynamic-Huffman deflate above.
        QVERIFY(png::encode(img, {}, png::Encoder::Auto)->size() <
                png::encode(img, {}, png::Encoder::Stored)->size());
#endif
    }

    void storedEncoderSplitsLargeImages() {
        // More than one 65535-byte stored block and more than one IDAT chunk.
        const Image img = test_image(700, 600, 3);
        auto bytes = png::encode(img, {{"k", "v"}}, png::Encoder::Stored);
        QVERIFY(bytes.ok());
        QVERIFY(bytes->size() > img.rgb.size());
        auto decoded = png::decode_rgb8(*bytes, "big.png");
        QVERIFY2(decoded.ok(), decoded.ok() ? "" : decoded.error().message.c_str());
        QVERIFY(decoded->rgb == img.rgb);
    }

    void compressedTextChunks() {
        auto base = png::encode(test_image(4, 4, 1), {}, png::Encoder::Stored);
        QVERIFY(base.ok());
        std::string f = with_chunk(*base, "zTXt", "Comment\0\0"s + from_hex(kLatin1Z));
        f = with_chunk(f, "iTXt", "Description\0\1\0en\0Beschreibung\0"s + from_hex(kDynamicZ));
        f = with_chunk(f, "iTXt",
                       "plain\0\0\0de\0\0"s +
                           "\xc3\xbc"
                           "ber");
        auto text = png::read_text(f, "z.png");
        QVERIFY2(text.ok(), text.ok() ? "" : text.error().message.c_str());
        QCOMPARE(text->size(), size_t(3));
        QCOMPARE((*text)[0].first, std::string("Comment"));
        QCOMPARE((*text)[0].second, std::string("seed 12345 caf\xc3\xa9"));
        QCOMPARE((*text)[1].first, std::string("Description"));
        QCOMPARE((*text)[1].second, dynamic_text());
        QCOMPARE((*text)[2].second, std::string("\xc3\xbc"
                                                "ber"));

        // A corrupt stream and a wrong Adler-32 are errors naming the chunk.
        std::string z = from_hex(kDynamicZ);
        z[40] = char(z[40] ^ 0x55);
        auto broken = png::read_text(with_chunk(*base, "zTXt", "Broken\0\0"s + z), "z.png");
        QVERIFY(!broken.ok());
        QVERIFY2(contains(broken.error().message, "z.png") && contains(broken.error().message, "Broken"),
                 broken.error().message.c_str());
        z = from_hex(kLatin1Z);
        z.back() = char(z.back() ^ 1);
        broken = png::read_text(with_chunk(*base, "zTXt", "Sum\0\0"s + z), "z.png");
        QVERIFY(!broken.ok());
        QVERIFY2(contains(broken.error().message, "Adler"), broken.error().message.c_str());
    }

    void writeAndReadFiles() {
        TempDir tmp;
        const fs::path file = tmp / "image.png";
        const Image img = test_image(64, 48, 9);
        QVERIFY(write_png(file, img, kText).ok());
        auto text = read_png_text(file);
        QVERIFY2(text.ok(), text.ok() ? "" : text.error().message.c_str());
        QVERIFY(*text == kText);
        auto decoded = png::decode_rgb8(read_file(file), file.string());
        QVERIFY(decoded.ok());
        QVERIFY(decoded->rgb == img.rgb);
#ifdef TESSERA_HAVE_OPENCV
        auto other = read_image(file);
        QVERIFY2(other.ok(), other.ok() ? "" : other.error().message.c_str());
        QVERIFY(other->rgb == img.rgb);
#endif
        // Overwriting replaces the file; no temporary is left beside it.
        QVERIFY(write_png(file, test_image(8, 8, 2), {{"seed", "1"}}).ok());
        QCOMPARE(read_png_text(file)->size(), size_t(1));
        int entries = 0;
        for (const auto& e : fs::directory_iterator(tmp.path())) {
            ++entries;
            QCOMPARE(e.path().filename().string(), std::string("image.png"));
        }
        QCOMPARE(entries, 1);
    }

    void writeErrorsNameThePath() {
        TempDir tmp;
        const Image img = test_image(8, 8, 1);
        const fs::path missing = tmp / "no" / "such" / "dir" / "x.png";
        auto st = write_png(missing, img);
        QVERIFY(!st.ok());
        QCOMPARE(st.error().code, ErrorCode::Io);
        QVERIFY2(contains(st.error().message, missing.string()), st.error().message.c_str());
        write_file(tmp / "plain", "not a directory");
        const fs::path under_file = tmp / "plain" / "x.png";
        st = write_png(under_file, img);
        QVERIFY(!st.ok());
        QVERIFY2(contains(st.error().message, under_file.string()), st.error().message.c_str());
        QVERIFY(!fs::exists(missing));
    }

    void fullDiskKeepsTheOldFile() {
        TempDir tmp;
        const fs::path file = tmp / "out.png";
        QVERIFY(write_png(file, test_image(8, 8, 1), {{"seed", "old"}}).ok());
        const Image big = test_image(384, 384, 5);  // 443 KB stored, 100+ KB compressed: over the limit
        int pipefd[2];
        QCOMPARE(::pipe(pipefd), 0);
        const pid_t pid = fork();
        QVERIFY(pid >= 0);
        if (pid == 0) {
            // Every write past 32 KiB now fails with EFBIG (the signal is ignored): a full disk.
            ::close(pipefd[0]);
            std::signal(SIGXFSZ, SIG_IGN);
            rlimit limit{32 << 10, 32 << 10};
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(20);
            auto st = write_png(file, big, {{"seed", "new"}});
            std::string msg = st.ok() ? std::string("written") : st.error().message;
            (void)!::write(pipefd[1], msg.data(), msg.size());
            ::close(pipefd[1]);
            _exit(st.ok() ? 21 : (st.error().code == ErrorCode::Io ? 0 : 22));
        }
        ::close(pipefd[1]);
        std::string msg;
        char buf[512];
        for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
        ::close(pipefd[0]);
        int status = 0;
        QCOMPARE(waitpid(pid, &status, 0), pid);
        QVERIFY2(WIFEXITED(status), "the child crashed on a full disk");
        QVERIFY2(WEXITSTATUS(status) == 0, msg.c_str());
        QVERIFY2(contains(msg, file.string()) && contains(msg, "full"), msg.c_str());
        // The old file is intact and nothing else was left in the folder.
        auto text = read_png_text(file);
        QVERIFY(text.ok());
        QCOMPARE(text->at(0).second, std::string("old"));
        int entries = 0;
        for (const auto& e : fs::directory_iterator(tmp.path())) {
            (void)e;
            ++entries;
        }
        QCOMPARE(entries, 1);
    }

    void badTextAndImages() {
        const Image img = test_image(4, 4, 1);
        const std::vector<std::pair<PngText, std::string>> bad = {
            {{{"", "v"}}, "\"\""},
            {{{std::string(80, 'k'), "v"}}, "79"},
            {{{"tab\tkey", "v"}}, "tab"},
            {{{" lead", "v"}}, "space"},
            {{{"\xe7\x8b\x90", "v"}}, "Latin-1"},
            {{{"bad",
               "a\xff"
               "b"}},
             "UTF-8"},
            {{{"nul", std::string("a\0b", 3)}}, "NUL"},
        };
        for (const auto& [text, expect] : bad) {
            auto r = png::encode(img, text);
            QVERIFY(!r.ok());
            QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
            QVERIFY2(contains(r.error().message, expect), r.error().message.c_str());
        }
        Image wrong = img;
        wrong.rgb.pop_back();
        QVERIFY(!png::encode(wrong, {}).ok());
        QVERIFY(!png::encode(Image{}, {}).ok());
        TempDir tmp;
        auto st = write_png(tmp / "w.png", wrong);
        QVERIFY(!st.ok());
        QVERIFY2(contains(st.error().message, (tmp / "w.png").string()), st.error().message.c_str());
        QVERIFY(!fs::exists(tmp / "w.png"));
    }

    void badFilesAreErrors() {
        TempDir tmp;
        auto missing = read_png_text(tmp / "missing.png");
        QVERIFY(!missing.ok());
        QCOMPARE(missing.error().code, ErrorCode::Io);
        QVERIFY(contains(missing.error().message, "missing.png"));

        write_file(tmp / "text.png", "hello, not a png at all");
        auto notpng = read_png_text(tmp / "text.png");
        QVERIFY(!notpng.ok());
        QCOMPARE(notpng.error().code, ErrorCode::Format);
        QVERIFY(contains(notpng.error().message, "text.png"));

        auto good = png::encode(test_image(5, 5, 2), {{"prompt", "fox"}}, png::Encoder::Stored);
        QVERIFY(good.ok());
        for (size_t cut : {size_t(10), size_t(40), good->size() - 1}) {
            auto r = png::read_text(good->substr(0, cut), "cut.png");
            QVERIFY2(!r.ok(), std::to_string(cut).c_str());
            QCOMPARE(r.error().code, ErrorCode::Format);
        }
        std::string corrupt = *good;
        const size_t at = corrupt.find("fox");
        corrupt[at] = 'b';  // the tEXt CRC no longer matches
        auto r = png::read_text(corrupt, "crc.png");
        QVERIFY(!r.ok());
        QVERIFY2(contains(r.error().message, "CRC"), r.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestPng)
#include "test_png.moc"
