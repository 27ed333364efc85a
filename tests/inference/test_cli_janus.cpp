// tessera-cli generate and describe on the tiny Janus-Pro fixture (tests/fixtures/janus/tiny/): generate writes
// N PNGs carrying prompt/seed/cfg/temperature/model/software text chunks, the same seed gives the same pictures
// and another seed others; describe prints the greedy answer the official code gives for the fixture image;
// usage and model errors exit with 2 and 1.
#include <QtTest/QtTest>

#include <QProcess>

#include <cstdlib>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "support/test_support.h"
#include "tessera/engine.h"
#include "tessera/image.h"

using namespace tessera;
using namespace tessera::test;

namespace {

using Run = CliRun;
// Generation on the CPU takes a while: a longer limit than the default.
Run run(const QStringList& args) { return runCli(args, {}, 300000); }

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::map<std::string, std::string> text_map(const PngText& t) { return {t.begin(), t.end()}; }

}  // namespace

class TestCliJanus : public QObject {
    Q_OBJECT

private slots:
    void generateWritesPngsWithSettings() {
        TempDir dir;
        const auto out = dir / "images";
        const Run r = run({"generate", q(fixture("janus/tiny")), "-p", "a red fox in the snow", "-n", "3", "--seed", "11",
                           "--cfg", "4.5", "--temperature", "0.8", "--image-tokens", "16", "--out", q(out)});
        QVERIFY2(r.code == 0, r.err.c_str());
        QVERIFY2(contains(r.err, "tokens 16/16"), r.err.c_str());  // progress on stderr
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(out)) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        QCOMPARE(files.size(), size_t(3));
        for (const auto& f : files) {
            QVERIFY2(contains(r.out, f.string()), r.out.c_str());  // the written paths on stdout
            QCOMPARE(f.extension().string(), std::string(".png"));
            auto text = read_png_text(f);
            QVERIFY2(text.ok(), text.ok() ? "" : text.error().to_string().c_str());
            const auto t = text_map(*text);
            QCOMPARE(t.at("prompt"), std::string("a red fox in the snow"));
            QCOMPARE(t.at("seed"), std::string("11"));
            QCOMPARE(t.at("cfg_weight"), std::string("4.5"));
            QCOMPARE(t.at("temperature"), std::string("0.8"));
            QCOMPARE(t.at("model"), std::string("tiny"));
            QVERIFY2(t.at("Software").starts_with("Tessera "), t.at("Software").c_str());
            QVERIFY(t.at("Software").size() > 8);
            auto img = read_image(f);
            QVERIFY2(img.ok(), img.ok() ? "" : img.error().to_string().c_str());
            QCOMPARE(img->width, 64);
            QCOMPARE(img->height, 64);
        }
    }

    void sameSeedSamePictures() {
        TempDir dir;
        auto gen = [&](const std::string& sub, const char* seed) {
            const Run r = run({"generate", q(fixture("janus/tiny")), "-p", "a cat", "-n", "1", "--seed", seed,
                               "--image-tokens", "16", "--quiet", "-o", q(dir / sub)});
            if (r.code != 0) qWarning("%s", r.err.c_str());
            auto img = read_image(dir / sub / (std::string("image_") + seed + "_0.png"));
            return img.ok() ? img->rgb : std::vector<uint8_t>{};
        };
        const auto a = gen("a", "5"), b = gen("b", "5"), c = gen("c", "6");
        QVERIFY(!a.empty());
        QCOMPARE(a, b);
        QVERIFY(a != c);
    }

    // The greedy answer of the official code for the fixture's image (reference.json understand_greedy).
    void describePrintsTheAnswer() {
        const auto ref = nlohmann::json::parse(read_file(fixture("janus/tiny/reference.json")));
        auto model = Model::load(fixture("janus/tiny"), LoadOptions{Device::Cpu, 1});
        QVERIFY(model.ok());
        const std::string expected =
            (*model)->detokenize(ref["understand_greedy"].get<std::vector<int32_t>>(), /*skip_special=*/true);
        QVERIFY(!expected.empty());
        const Run r = run({"describe", q(fixture("janus/tiny")), q(fixture("janus/tiny/image0.png")), "-p",
                           "Describe this image.", "--greedy", "--max-tokens", "16"});
        QVERIFY2(r.code == 0, r.err.c_str());
        QCOMPARE(r.out, expected + "\n");
        QVERIFY2(contains(r.err, "628 prompt tokens"), r.err.c_str());
    }

    void errors() {
        TempDir dir;
        Run r = run({"generate", q(fixture("janus/tiny")), "--out", q(dir / "x")});
        QCOMPARE(r.code, 2);
        QVERIFY(contains(r.err, "-p PROMPT"));
        r = run({"generate", q(fixture("janus/tiny")), "-p", "x", "--out", q(dir / "x"), "-n", "17"});
        QCOMPARE(r.code, 2);
        r = run({"generate", q(fixture("llm/llama_st_single")), "-p", "x", "--out", q(dir / "x")});
        QCOMPARE(r.code, 1);
        QVERIFY2(contains(r.err, "does not generate images"), r.err.c_str());
        r = run({"describe", q(fixture("janus/tiny")), q(dir / "missing.png")});
        QCOMPARE(r.code, 1);
        QVERIFY2(contains(r.err, "missing.png"), r.err.c_str());
        r = run({"describe", q(fixture("janus/tiny"))});
        QCOMPARE(r.code, 2);
    }
};

QTEST_GUILESS_MAIN(TestCliJanus)
#include "test_cli_janus.moc"
