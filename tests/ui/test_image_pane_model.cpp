// The Images pane with the real engine and the tiny Janus-Pro fixture (tests/fixtures/janus/tiny/, random
// weights): Generate shows the model's own progress to the last image token and the pictures the engine
// makes for those settings (the same bytes as Session::generate_images), the same seed gives the same
// images, cancel half-way leaves none, and after a restart the gallery holds the batch with its settings.
// "Send to chat" asks the same model about a generated picture.
#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QListView>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QToolButton>
#include <QtTest>

#include <cstring>

#include "app/Application.h"
#include "app/ChatController.h"
#include "app/ImageGenController.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "support/test_support.h"
#include "tessera/engine.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/chat/MessageModel.h"
#include "ui/common/Banner.h"
#include "ui/imagegen/GalleryModel.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/main/MainWindow.h"

using tessera::test::TempDir;

namespace {

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

std::unique_ptr<Application> startApp(const TempDir& root) {
    QSettings s(q(root.path()) + QStringLiteral("/config/tessera.conf"), QSettings::IniFormat);
    s.setValue(QStringLiteral("models/folders"), QStringList{q(tessera::test::fixture("janus/tiny"))});
    s.setValue(QStringLiteral("sampling/maxNewTokens"), 8);
    s.sync();
    ApplicationOptions o;
    o.root = q(root.path());  // the default engine: TesseraEngine
    auto app = std::make_unique<Application>(o);
    app->window()->show();
    QApplication::setActiveWindow(app->window());
    app->window()->panes()->setCurrentWidget(app->window()->imagePane());
    return app;
}

bool waitScanned(Application& app) {
    if (app.window()->imagePane()->modelPicker()->count() > 0) return true;
    QSignalSpy scanned(app.models(), &ModelController::scanned);
    return scanned.wait(30000) && app.window()->imagePane()->modelPicker()->count() > 0;
}

void setFields(ImageGenPane* pane, const QString& prompt, int count, qint64 seed) {
    ImageGenParams p;
    p.prompt = prompt;
    p.count = count;
    p.cfgWeight = 4.5;
    p.temperature = 0.8;
    p.seed = seed;
    pane->setParams(p);  // locks the seed
}

int generate(Application& app) {
    QSignalSpy done(app.images(), &ImageGenController::generationFinished);
    QTest::mouseClick(app.window()->imagePane()->generateButton(), Qt::LeftButton);
    if (!app.images()->isGenerating()) return -1;
    if (!done.wait(120000)) return -2;
    return done.first().at(1).toInt();
}

QByteArray rgb(const QImage& image) {
    const QImage c = image.convertToFormat(QImage::Format_RGB888);
    QByteArray out;
    for (int y = 0; y < c.height(); ++y)
        out.append(reinterpret_cast<const char*>(c.constScanLine(y)), c.width() * 3);
    return out;
}

}  // namespace

class TestImagePaneModel : public QObject {
    Q_OBJECT
private slots:
    void generateCancelAndReopen() {
        TempDir root;
        QList<GeneratedImageItem> made;
        {
            auto app = startApp(root);
            QVERIFY(waitScanned(*app));
            ImageGenPane* pane = app->window()->imagePane();
            QCOMPARE(pane->modelPicker()->currentText(), QStringLiteral("tiny"));
            setFields(pane, QStringLiteral("a red fox in the snow"), 2, 11);

            int lastTokens = 0;
            int tokenTotal = 0;
            int pixelsDone = 0;
            bool inOrder = true;
            connect(app->inference(), &InferenceWorker::imageProgress, this,
                    [&](quint64, ImageGenPhase phase, int step, int total, double) {
                        if (phase == ImageGenPhase::Tokens) {
                            inOrder = inOrder && step > lastTokens && pixelsDone == 0;
                            lastTokens = step;
                            tokenTotal = total;
                        } else if (phase == ImageGenPhase::Pixels) {
                            pixelsDone = step;
                        }
                    });
            QSignalSpy stored(app->images(), &ImageGenController::batchStored);
            QCOMPARE(generate(*app), 2);
            QVERIFY(inOrder);
            QVERIFY(tokenTotal > 0);
            QCOMPARE(lastTokens, tokenTotal);
            QCOMPARE(pixelsDone, 2);
            QVERIFY(!pane->banner()->isVisible());
            QCOMPARE(pane->results()->rowCount(), 2);

            // The pictures are the engine's for these settings, byte for byte.
            auto model = tessera::Model::load(tessera::test::fixture("janus/tiny"));
            QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
            auto session = (*model)->open_session();
            QVERIFY(session.ok());
            tessera::ImageGenerationOptions options;
            options.count = 2;
            options.cfg_weight = 4.5f;
            options.temperature = 0.8f;
            options.seed = 11;
            auto direct = (*session)->generate_images("a red fox in the snow", options);
            QVERIFY2(direct.ok(), direct.ok() ? "" : direct.error().to_string().c_str());
            for (int i = 0; i < 2; ++i) {
                const GeneratedImageItem& item = pane->results()->item(i);
                const tessera::Image& expected = direct->images[size_t(i)];
                QCOMPARE(item.image.width(), expected.width);
                QCOMPARE(item.image.height(), expected.height);
                const QByteArray got = rgb(item.image);
                QCOMPARE(size_t(got.size()), expected.rgb.size());
                QVERIFY(std::memcmp(got.constData(), expected.rgb.data(), expected.rgb.size()) == 0);
            }
            QVERIFY(stored.wait(20000) || !stored.isEmpty());
            made = pane->results()->items();

            // Same seed, same images.
            QCOMPARE(generate(*app), 2);
            for (int i = 0; i < 2; ++i) QCOMPARE(rgb(pane->results()->item(i).image), rgb(made[i].image));
            QVERIFY(stored.wait(20000) || stored.size() >= 2);

            // Cancel half-way: no images, the pane ready again.
            lastTokens = 0;
            pixelsDone = 0;
            setFields(pane, QStringLiteral("a cat"), 4, 5);
            QSignalSpy done(app->images(), &ImageGenController::generationFinished);
            QTest::mouseClick(pane->generateButton(), Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(lastTokens >= 1, 60000);
            QTest::mouseClick(pane->cancelButton(), Qt::LeftButton);
            QVERIFY(done.wait(60000));
            QCOMPARE(done.first().at(1).toInt(), 0);
            QCOMPARE(pixelsDone, 0);
            QVERIFY(!pane->isGenerating());
            QVERIFY(!pane->banner()->isVisible());
            QCOMPARE(pane->results()->rowCount(), 2);  // the last finished batch stays
        }
        // Reopen: the two batches are in the gallery with their settings.
        auto app = startApp(root);
        QSignalSpy loaded(app->images(), &ImageGenController::galleryLoaded);
        QVERIFY(loaded.wait(30000));
        GalleryModel* gallery = app->window()->imagePane()->gallery();
        QCOMPARE(gallery->rowCount(), 4);
        for (int i = 0; i < 4; ++i) {
            const GeneratedImageItem& item = gallery->item(i);
            QCOMPARE(item.params.prompt, QStringLiteral("a red fox in the snow"));
            QCOMPARE(item.params.seed, qint64(11));
            QCOMPARE(item.params.cfgWeight, 4.5);
            QCOMPARE(item.params.temperature, 0.8);
            QCOMPARE(item.params.model, QStringLiteral("tiny"));
            QCOMPARE(rgb(item.fullImage()), rgb(made[item.batchIndex].image));
            QVERIFY(item.image.width() <= GeneratedImageItem::kThumbnailSide);
        }
    }

    void temperatureZeroIsGreedy() {
        TempDir root;
        auto app = startApp(root);
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        // Greedy image tokens: the seed no longer matters.
        setFields(pane, QStringLiteral("a blue door"), 1, 1);
        pane->temperatureBox()->setValue(0.0);
        QCOMPARE(generate(*app), 1);
        const QByteArray first = rgb(pane->results()->item(0).image);
        pane->seedBox()->setValue(2);
        QCOMPARE(generate(*app), 1);
        QCOMPARE(pane->results()->item(0).params.temperature, 0.0);
        QCOMPARE(rgb(pane->results()->item(0).image), first);
        // With sampling, another seed gives another picture.
        pane->temperatureBox()->setValue(1.0);
        QCOMPARE(generate(*app), 1);
        const QByteArray sampled = rgb(pane->results()->item(0).image);
        pane->seedBox()->setValue(3);
        QCOMPARE(generate(*app), 1);
        QVERIFY(rgb(pane->results()->item(0).image) != sampled);
    }

    void sendToChatAndAsk() {
        TempDir root;
        auto app = startApp(root);
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        setFields(pane, QStringLiteral("a green teapot"), 1, 3);
        QCOMPARE(generate(*app), 1);
        pane->resultsView()->setCurrentIndex(pane->results()->index(0));
        emit pane->sendToChatRequested(pane->results()->item(0));
        ChatPane* chat = app->window()->chatPane();
        QCOMPARE(app->window()->panes()->currentWidget(), static_cast<QWidget*>(chat));
        QCOMPARE(chat->composer()->images().size(), 1);
        // The tiny model's answer is noise; what matters is that the picture reached it without an error.
        QSignalSpy finished(app->chat(), &ChatController::generationFinished);
        app->chat()->send(QStringLiteral("What is in this picture?"), chat->composer()->images());
        QVERIFY(app->chat()->isGenerating());
        QVERIFY(finished.wait(120000));
        QVERIFY2(!chat->banner()->isVisible(), qPrintable(chat->banner()->message() + chat->banner()->detail()));
        const QList<ChatMessage> shown = app->chat()->messages()->visibleMessages();
        QCOMPARE(shown.size(), 2);
        QCOMPARE(shown[0].imagePaths.size(), 1);
        QCOMPARE(shown[1].state, ChatMessage::State::Complete);
    }
};

QTEST_MAIN(TestImagePaneModel)
#include "test_image_pane_model.moc"
