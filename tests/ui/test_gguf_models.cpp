// The model manager's view of GGUF files: the folder scan lists each .gguf as its own entry, and
// TesseraEngine probes one like a checkpoint folder (kind, quant type, memory) and loads it; a broken
// GGUF is listed with the engine's error and a GGUF hint.
#include <QtTest>

#include <filesystem>

#include "app/InferenceWorker.h"
#include "app/TesseraEngine.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

class TestGgufModels : public QObject {
    Q_OBJECT

private slots:
    void scanListsEachGgufAndProbesIt() {
        tessera::test::TempDir tmp;
        const fs::path dir = tmp / "models";
        fs::create_directories(dir);
        fs::copy_file(tessera::test::fixture("gguf/quant_q4_k.gguf"), dir / "small-q4_k.gguf");
        fs::copy_file(tessera::test::fixture("gguf/qwen2_f16.gguf"), dir / "Tiny-R1.gguf");
        fs::copy_file(tessera::test::fixture("gguf/qwen2_truncated.gguf"), dir / "partial.gguf");

        const QStringList paths = InferenceWorker::findModelPaths(QString::fromStdString(dir.string()));
        QCOMPARE(paths.size(), 3);
        for (const QString& p : paths) QVERIFY2(p.endsWith(QLatin1String(".gguf")), qPrintable(p));

        TesseraEngine engine;
        const ModelEntry q4 = engine.probe(QString::fromStdString((dir / "small-q4_k.gguf").string()));
        QCOMPARE(q4.kind, ModelEntry::Kind::Chat);
        QCOMPARE(q4.name, QStringLiteral("small-q4_k.gguf"));
        QCOMPARE(q4.dtype, QStringLiteral("q4_k"));
        QCOMPARE(q4.fileBytes, qint64(fs::file_size(dir / "small-q4_k.gguf")));
        QVERIFY(q4.memoryBytes > q4.fileBytes / 2);

        const ModelEntry r1 = engine.probe(QString::fromStdString((dir / "Tiny-R1.gguf").string()));
        QCOMPARE(r1.kind, ModelEntry::Kind::Chat);
        QVERIFY(r1.thinks);  // the R1 chat format, chosen from the GGUF's chat template
        QCOMPARE(r1.dtype, QStringLiteral("f16"));

        const ModelEntry broken = engine.probe(QString::fromStdString((dir / "partial.gguf").string()));
        QCOMPARE(broken.kind, ModelEntry::Kind::Broken);
        QVERIFY2(broken.error.contains(QLatin1String("partial.gguf: tensor '")), qPrintable(broken.error));
        QVERIFY2(broken.hint.contains(QLatin1String("GGUF")), qPrintable(broken.hint));

        const auto error = engine.load(q4.path, {});
        QVERIFY2(!error, error ? qPrintable(error->message) : "");
        engine.unload(q4.path);
    }
};

QTEST_GUILESS_MAIN(TestGgufModels)
#include "test_gguf_models.moc"
