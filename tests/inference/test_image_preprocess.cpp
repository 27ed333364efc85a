// Image reading and the Janus preprocessing against Pillow and the official processor (fixtures from
// tools/fixtures/make_siglip_fixtures.py): decoded pixels equal Pillow's convert("RGB") for PNG/JPEG images
// of several modes; bicubic resizes and the padded 384x384 processor images are bit-identical; the
// normalised bf16 tensors equal the processor's pixel_values. Bad files (missing, empty, not an image,
// truncated, corrupt, gigantic header) give errors naming the file.
#include <QtTest/QtTest>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "runtime/image_preprocess.h"
#include "support/test_support.h"
#include "tessera/image.h"

using namespace tessera;

namespace {

constexpr int kS = 384;

std::filesystem::path dir() {
    return test::fixture("janus/siglip");
}

nlohmann::json cases_json() {
    return nlohmann::json::parse(test::read_file(dir() / "cases.json"));
}

std::string fnv1a64(const uint8_t* p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

std::string hash_image(const Image& img) {
    return fnv1a64(img.rgb.data(), img.rgb.size());
}

// The bf16 bit patterns of a float tensor whose values are bf16-exact, little-endian, for hashing.
std::vector<uint8_t> bf16_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t b = f32_to_bf16(v[i]);
        out[2 * i] = uint8_t(b & 0xFF);
        out[2 * i + 1] = uint8_t(b >> 8);
    }
    return out;
}

Image load(const std::string& rel) {
    auto r = read_image(dir() / rel);
    if (!r.ok()) qFatal("%s", r.error().to_string().c_str());
    return std::move(r).value();
}

}  // namespace

class TestImagePreprocess : public QObject {
    Q_OBJECT

private slots:
    void decodeMatchesPillow();
    void resizeMatchesPillow();
    void resizeEdgeCases();
    void janusPaddedImagesMatchProcessor();
    void janusPixelValuesMatchProcessor();
    void normaliseTable();
    void badFilesAreNamedErrors();
    void mutatedFilesNeverCrash();
};

void TestImagePreprocess::decodeMatchesPillow() {
    const auto j = cases_json();
    QVERIFY(j["cases"].size() >= 10);
    for (const auto& c : j["cases"]) {
        const std::string name = c["name"];
        auto img = read_image(dir() / c["file"].get<std::string>());
        QVERIFY2(img.ok(), img.ok() ? "" : img.error().to_string().c_str());
        QCOMPARE(img->width, c["width"].get<int>());
        QCOMPARE(img->height, c["height"].get<int>());
        QCOMPARE(img->rgb.size(), size_t(img->width) * size_t(img->height) * 3);
        QVERIFY2(hash_image(*img) == c["rgb_fnv1a64"].get<std::string>(),
                 (name + " (" + c["pillow_mode"].get<std::string>() +
                  "): pixels differ from Pillow's convert(\"RGB\")")
                     .c_str());
    }
}

void TestImagePreprocess::resizeMatchesPillow() {
    const auto j = cases_json();
    QVERIFY(j["resize_cases"].size() >= 10);
    for (const auto& rc : j["resize_cases"]) {
        const std::string src_name = rc["source"];
        std::string file;
        for (const auto& c : j["cases"])
            if (c["name"] == src_name) file = c["file"];
        QVERIFY(!file.empty());
        const Image src = load(file);
        const int w = rc["width"], h = rc["height"];
        const Image out = resize_bicubic(src, w, h);
        QCOMPARE(out.width, w);
        QCOMPARE(out.height, h);
        QVERIFY2(hash_image(out) == rc["fnv1a64"].get<std::string>(),
                 (src_name + " -> " + std::to_string(w) + "x" + std::to_string(h) + " differs from Pillow")
                     .c_str());
    }
}

void TestImagePreprocess::resizeEdgeCases() {
    Image src;
    src.width = 3;
    src.height = 2;
    src.rgb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    // Same size: no filtering at all, the pixels come back unchanged.
    const Image same = resize_bicubic(src, 3, 2);
    QCOMPARE(same.rgb, src.rgb);
    // Invalid sizes give an empty image, not a crash.
    QCOMPARE(resize_bicubic(src, 0, 5).width, 0);
    QCOMPARE(resize_bicubic(src, 5, -1).rgb.size(), size_t(0));
    QCOMPARE(resize_bicubic(Image{}, 5, 5).width, 0);
    Image inconsistent = src;
    inconsistent.rgb.pop_back();
    QCOMPARE(resize_bicubic(inconsistent, 5, 5).width, 0);
    // A uniform image stays uniform whatever the scale (weights sum to one in fixed point).
    Image flat;
    flat.width = 7;
    flat.height = 5;
    flat.rgb.assign(7 * 5 * 3, 200);
    const Image up = resize_bicubic(flat, 29, 3);
    for (uint8_t v : up.rgb) QCOMPARE(int(v), 200);
}

void TestImagePreprocess::janusPaddedImagesMatchProcessor() {
    // The processor's 384x384 uint8 image (resize + expand2square) is what janus_preprocess normalises, so
    // out must equal table[expected pixel] everywhere.
    const auto j = cases_json();
    const std::vector<float> table = j["normalize_table_bf16"].get<std::vector<float>>();
    QCOMPARE(table.size(), size_t(256));
    std::vector<float> out(size_t(3) * kS * kS);
    for (const auto& c : j["cases"]) {
        const std::string name = c["name"];
        const Image src = load(c["file"]);
        const Image expected = load(c["expected"]);
        QCOMPARE(expected.width, kS);
        QCOMPARE(expected.height, kS);
        janus_preprocess(src, kS, out.data());
        int mismatches = 0, first = -1;
        for (int y = 0; y < kS; ++y)
            for (int x = 0; x < kS; ++x)
                for (int ch = 0; ch < 3; ++ch) {
                    const uint8_t e = expected.rgb[(size_t(y) * kS + size_t(x)) * 3 + size_t(ch)];
                    if (out[size_t(ch) * kS * kS + size_t(y) * kS + size_t(x)] != table[e]) {
                        if (first < 0) first = y * kS + x;
                        ++mismatches;
                    }
                }
        QVERIFY2(mismatches == 0,
                 (name + ": " + std::to_string(mismatches) + " values differ, first at pixel (" +
                  std::to_string(first % kS) + ", " + std::to_string(first / kS) + ")")
                     .c_str());
    }
}

void TestImagePreprocess::janusPixelValuesMatchProcessor() {
    const auto j = cases_json();
    std::vector<float> out(size_t(3) * kS * kS);
    for (const auto& c : j["cases"]) {
        janus_preprocess(load(c["file"]), kS, out.data());
        const std::vector<uint8_t> bytes = bf16_bytes(out);
        for (float v : out) QCOMPARE(round_bf16(v), v);  // bf16-exact values
        QVERIFY2(fnv1a64(bytes.data(), bytes.size()) == c["pixel_values_bf16_fnv1a64"].get<std::string>(),
                 (c["name"].get<std::string>() + ": pixel_values differ from the processor's").c_str());
    }
    // One case element by element against the stored tensor.
    const auto& full = j["pixel_values_full"];
    std::string file;
    for (const auto& c : j["cases"])
        if (c["name"] == full["case"]) file = c["file"];
    QVERIFY(!file.empty());
    janus_preprocess(load(file), kS, out.data());
    const std::string ref = test::read_file(dir() / full["file"].get<std::string>());
    QCOMPARE(ref.size(), out.size() * 2);
    for (size_t i = 0; i < out.size(); ++i) {
        const uint16_t b = uint16_t(uint8_t(ref[2 * i]) | uint8_t(ref[2 * i + 1]) << 8);
        if (bf16_to_f32(b) != out[i]) QFAIL(("pixel_values differ at element " + std::to_string(i)).c_str());
    }
}

void TestImagePreprocess::normaliseTable() {
    // A 384x384 source is neither resized nor padded: every value maps through the table alone.
    const auto j = cases_json();
    const std::vector<float> table = j["normalize_table_bf16"].get<std::vector<float>>();
    Image src;
    src.width = kS;
    src.height = kS;
    src.rgb.resize(size_t(kS) * kS * 3);
    for (size_t i = 0; i < src.rgb.size(); ++i) src.rgb[i] = uint8_t((i * 7 + i / 3) % 256);
    std::vector<float> out(size_t(3) * kS * kS);
    janus_preprocess(src, kS, out.data());
    for (size_t p = 0; p < size_t(kS) * kS; ++p)
        for (size_t ch = 0; ch < 3; ++ch) QCOMPARE(out[ch * kS * kS + p], table[src.rgb[p * 3 + ch]]);
    QCOMPARE(table[0], -1.0f);
    QCOMPARE(table[255], 1.0f);
    QCOMPARE(table[127], round_bf16(-1.0f / 255.0f));  // the padding value: (127/255 - 0.5)/0.5
    // An empty image gives plain padding.
    janus_preprocess(Image{}, kS, out.data());
    for (float v : out) QCOMPARE(v, table[127]);
}

void TestImagePreprocess::badFilesAreNamedErrors() {
    test::TempDir tmp;
    const std::string png = test::read_file(dir() / "images/portrait_200x350.png");
    const std::string jpg = test::read_file(dir() / "images/landscape_500x300.jpg");
    QVERIFY(png.size() > 1000 && jpg.size() > 1000);

    auto expect_error = [&](const std::string& file_name, const std::string& bytes, const char* what) {
        const auto path = tmp / file_name;
        test::write_file(path, bytes);
        auto r = read_image(path);
        QVERIFY2(!r.ok(), (file_name + " (" + what + ") was accepted").c_str());
        const std::string msg = r.error().to_string();
        QVERIFY2(msg.find(file_name) != std::string::npos,
                 (file_name + ": message does not name it: " + msg).c_str());
    };
    expect_error("empty.png", "", "empty");
    expect_error("text.png", "this is not an image at all, just some text\n", "not an image");
    expect_error("half.png", png.substr(0, png.size() / 2), "truncated PNG");
    expect_error("header_only.png", png.substr(0, 40), "PNG header only");
    expect_error("half.jpg", jpg.substr(0, jpg.size() / 2), "truncated JPEG");
    expect_error("header_only.jpg", jpg.substr(0, 300), "JPEG header only");
    {
        std::string corrupt = png;  // garbage in the compressed data (and a wrong CRC)
        for (size_t i = png.size() / 3; i < png.size() / 3 + 2000; ++i) corrupt[i] = char(corrupt[i] ^ 0x5A);
        expect_error("corrupt.png", corrupt, "corrupt PNG");
    }
    {
        // A valid-looking PNG header announcing 100000 x 100000 pixels: refused before decoding.
        std::string huge = png.substr(0, 33);
        const uint32_t side = 100000;
        for (int k = 0; k < 2; ++k)
            for (int b = 0; b < 4; ++b) huge[size_t(16 + 4 * k + b)] = char((side >> (24 - 8 * b)) & 0xFF);
        expect_error("huge.png", huge + png.substr(33), "huge");
        const auto r = read_image(tmp / "huge.png");
        QVERIFY(r.error().to_string().find("limit") != std::string::npos);
    }
    {
        std::string zero = png;
        for (int b = 0; b < 4; ++b) zero[size_t(16 + b)] = 0;
        expect_error("zero_width.png", zero, "zero width");
    }
    {
        // JPEG frame header announcing 60000 x 60000 (above the pixel limit).
        std::string big = jpg;
        size_t i = 2;
        while (i + 9 < big.size()) {
            const uint8_t m = uint8_t(big[i + 1]);
            if (m >= 0xC0 && m <= 0xC2) {
                big[i + 5] = big[i + 7] = char(0xEA);
                big[i + 6] = big[i + 8] = char(0x60);
                break;
            }
            i += 2 + (size_t(uint8_t(big[i + 2])) << 8 | uint8_t(big[i + 3]));
        }
        expect_error("huge.jpg", big, "huge JPEG");
    }
    // Missing file and a directory.
    auto missing = read_image(tmp / "no_such_image.png");
    QVERIFY(!missing.ok());
    QVERIFY(missing.error().to_string().find("no_such_image.png") != std::string::npos);
    auto folder = read_image(tmp.path());
    QVERIFY(!folder.ok());
    // decode_image on empty memory.
    auto none = decode_image(nullptr, 0, "clipboard");
    QVERIFY(!none.ok());
    QVERIFY(none.error().to_string().find("clipboard") != std::string::npos);
    // The bad files above did not poison anything: a good file still decodes.
    QVERIFY(read_image(dir() / "images/portrait_200x350.png").ok());
}

void TestImagePreprocess::mutatedFilesNeverCrash() {
    // Random byte flips and truncations of real files: every outcome is an image of consistent size or an
    // error naming the input; nothing throws, aborts or reads out of bounds (run under ASan in CI).
    std::mt19937 rng(1234);
    int decoded = 0, refused = 0;
    for (const char* rel :
         {"images/portrait_200x350.png", "images/landscape_500x300.jpg", "images/palette_150x220.png",
          "images/rgb16_45x33.png", "images/grayjpeg_120x80.jpg"}) {
        const std::string good = test::read_file(dir() / rel);
        for (int it = 0; it < 40; ++it) {
            std::string bytes = good;
            const int flips = 1 + int(rng() % 8);
            for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = char(rng() & 0xFF);
            if (it % 3 == 0) bytes.resize(rng() % bytes.size());
            auto r = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mutant.bin");
            if (r.ok()) {
                ++decoded;
                QVERIFY(r->width > 0 && r->height > 0);
                QCOMPARE(r->rgb.size(), size_t(r->width) * size_t(r->height) * 3);
                QVERIFY(int64_t(r->width) * r->height <= kMaxImagePixels);
            } else {
                ++refused;
                QVERIFY2(r.error().to_string().find("mutant.bin") != std::string::npos,
                         r.error().to_string().c_str());
            }
        }
    }
    qInfo("mutated files: %d decoded, %d refused", decoded, refused);
    QVERIFY(refused > 0);
}

QTEST_GUILESS_MAIN(TestImagePreprocess)
#include "test_image_preprocess.moc"
