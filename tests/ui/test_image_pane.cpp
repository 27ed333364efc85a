// The Images pane in the whole app, offscreen, with the fake image engine (tests/support): Generate with
// Ctrl+Enter and watch progress move step by step to the end and the images arrive; cancel half-way with
// Esc (no images, the pane ready again); the error banner; reuse an image's settings; the seed lock; the
// gallery after closing and reopening the app on the same data folder; saved PNGs carry the settings in
// text chunks and dropping one on the pane restores them; "Send to chat".
#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QImageReader>
#include <QLabel>
#include <QListView>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QToolButton>
#include <QUrl>
#include <QtTest>

#include "app/AppInfo.h"
#include "app/Application.h"
#include "app/ChatController.h"
#include "app/FaultyEngine.h"
#include "app/ImageGenController.h"
#include "app/InferenceWorker.h"
#include "app/ModelController.h"
#include "support/fake_image_engine.h"
#include "support/test_support.h"
#include "ui/chat/ChatPane.h"
#include "ui/chat/Composer.h"
#include "ui/common/Banner.h"
#include "ui/imagegen/GalleryModel.h"
#include "ui/imagegen/ImageGenPane.h"
#include "ui/imagegen/ImageViewerDialog.h"
#include "ui/main/MainWindow.h"

using tessera::test::FakeImageEngineOptions;
using tessera::test::TempDir;

namespace {

QString q(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

// A models folder with one image generation model and one plain chat model.
void configure(const TempDir& root) {
    const QString models = q(root.path()) + QStringLiteral("/models");
    tessera::test::makeModelFolder(models, QStringLiteral("Janus-Pro-test"));
    tessera::test::makeModelFolder(models, QStringLiteral("chat-test"));
    QSettings s(q(root.path()) + QStringLiteral("/config/tessera.conf"), QSettings::IniFormat);
    s.setValue(QStringLiteral("models/folders"), QStringList{models});
    s.sync();
}

std::unique_ptr<Application> startApp(const TempDir& root, FakeImageEngineOptions engine = {}) {
    ApplicationOptions o;
    o.root = q(root.path());
    o.engineFactory = [engine] { return tessera::test::fakeImageEngine(engine); };
    auto app = std::make_unique<Application>(o);
    app->window()->show();
    QApplication::setActiveWindow(app->window());
    app->window()->panes()->setCurrentWidget(app->window()->imagePane());
    return app;
}

bool waitScanned(Application& app) {
    if (app.window()->imagePane()->modelPicker()->count() > 0) return true;
    QSignalSpy scanned(app.models(), &ModelController::scanned);
    return scanned.wait(20000) && app.window()->imagePane()->modelPicker()->count() > 0;
}

// Runs one batch from the pane's fields (Ctrl+Enter in the prompt); returns the images that arrived.
int generate(Application& app, const QString& prompt) {
    ImageGenPane* pane = app.window()->imagePane();
    pane->promptEdit()->setPlainText(prompt);
    pane->promptEdit()->setFocus();
    QSignalSpy done(app.images(), &ImageGenController::generationFinished);
    QTest::keyClick(pane->promptEdit(), Qt::Key_Return, Qt::ControlModifier);
    if (!app.images()->isGenerating()) return -1;
    if (!done.wait(30000)) return -2;
    return done.first().at(1).toInt();
}

bool sameImage(const QImage& a, const QImage& b) {
    return a.convertToFormat(QImage::Format_RGB888) == b.convertToFormat(QImage::Format_RGB888);
}

QToolButton* actionButton(ImageGenPane* pane, const QString& accessibleName) {
    for (QToolButton* b : pane->findChildren<QToolButton*>()) {
        if (b->accessibleName() == accessibleName) return b;
    }
    return nullptr;
}

struct Step {
    ImageGenPhase phase;
    int step;
    int total;
    QString label;
    int bar;
};

}  // namespace

class TestImagePane : public QObject {
    Q_OBJECT
private slots:
    void pickerListsOnlyImageModels() {
        TempDir root;
        configure(root);
        auto app = startApp(root);
        QVERIFY(waitScanned(*app));
        QComboBox* picker = app->window()->imagePane()->modelPicker();
        QCOMPARE(picker->count(), 1);
        QCOMPARE(picker->itemText(0), QStringLiteral("Janus-Pro-test"));
        QVERIFY(app->window()->imagePane()->generateButton()->isEnabled());
    }

    void generateShowsProgressAndImages() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 40, .stepMicros = 4000});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(3);
        QList<Step> steps;
        connect(app->inference(), &InferenceWorker::imageProgress, this,
                [&](quint64, ImageGenPhase phase, int step, int total, double) {
                    // The controller is connected first, so the pane already shows this step.
                    steps << Step{phase, step, total, pane->progressLabel()->text(), pane->progressBar()->value()};
                });
        QSignalSpy stored(app->images(), &ImageGenController::batchStored);
        QCOMPARE(generate(*app, QStringLiteral("a red fox in a snowy forest, watercolor")), 3);

        // Token steps: one at a time, in order, up to the last of 40; then the three images decoded.
        QList<int> tokenSteps;
        QList<int> bars;
        bool sawEta = false;
        for (const Step& s : steps) {
            if (s.phase == ImageGenPhase::Tokens) {
                QCOMPARE(s.total, 40);
                tokenSteps << s.step;
                QVERIFY2(s.label.startsWith(QStringLiteral("image tokens %1/40").arg(s.step)), qPrintable(s.label));
                sawEta = sawEta || s.label.contains(QStringLiteral(" · ETA "));
            }
            bars << s.bar;
        }
        QVERIFY2(tokenSteps.size() >= 5, qPrintable(QString::number(tokenSteps.size())));
        QCOMPARE(tokenSteps.first(), 1);
        QCOMPARE(tokenSteps.last(), 40);
        for (int i = 1; i < tokenSteps.size(); ++i) QVERIFY(tokenSteps[i] > tokenSteps[i - 1]);
        for (int i = 1; i < bars.size(); ++i) QVERIFY(bars[i] >= bars[i - 1]);
        QVERIFY(sawEta);
        QCOMPARE(steps.last().phase, ImageGenPhase::Pixels);
        QCOMPARE(steps.last().step, 3);
        QCOMPARE(steps.last().bar, pane->progressBar()->maximum());

        // The images: the engine's pictures for these settings, in batch order; the pane is ready again.
        QVERIFY(!pane->isGenerating());
        QVERIFY(pane->generateButton()->isEnabled());
        QVERIFY(!pane->progressBar()->isVisible());
        QCOMPARE(pane->results()->rowCount(), 3);
        for (int i = 0; i < 3; ++i) {
            const GeneratedImageItem& item = pane->results()->item(i);
            QCOMPARE(item.batchIndex, i);
            QCOMPARE(item.params.model, QStringLiteral("Janus-Pro-test"));
            QVERIFY(sameImage(item.image, FaultyEngine::patternImage(item.params, i, 32)));
        }
        // Stored: each image has its PNG in the data folder.
        QVERIFY(stored.wait(10000) || !stored.isEmpty());
        for (int i = 0; i < 3; ++i) {
            QVERIFY(pane->results()->item(i).id > 0);
            QVERIFY(QFileInfo::exists(pane->results()->item(i).filePath));
        }
    }

    void cancelHalfWayLeavesNoImages() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 400, .stepMicros = 5000});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->promptEdit()->setPlainText(QStringLiteral("a lighthouse at dusk"));
        QSignalSpy done(app->images(), &ImageGenController::generationFinished);
        int lastStep = 0;
        connect(app->inference(), &InferenceWorker::imageProgress, this,
                [&](quint64, ImageGenPhase phase, int step, int, double) {
                    if (phase == ImageGenPhase::Tokens) lastStep = step;
                });
        QTest::mouseClick(pane->generateButton(), Qt::LeftButton);
        QVERIFY(app->images()->isGenerating());
        QVERIFY(pane->cancelButton()->isVisible());
        QTRY_VERIFY_WITH_TIMEOUT(lastStep >= 10, 20000);
        QTest::keyClick(app->window(), Qt::Key_Escape);  // Esc cancels on the Images pane
        QVERIFY(done.wait(20000));
        QCOMPARE(done.first().at(1).toInt(), 0);
        QVERIFY(lastStep < 400);
        QVERIFY(!pane->isGenerating());
        QVERIFY(!pane->banner()->isVisible());
        QCOMPARE(pane->results()->rowCount(), 0);
        QVERIFY(pane->generateButton()->isEnabled());
        QVERIFY(!pane->progressBar()->isVisible());

        // The cancel button works too, and the pane can generate again afterwards.
        done.clear();
        lastStep = 0;
        QTest::mouseClick(pane->generateButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(lastStep >= 5, 20000);
        QTest::mouseClick(pane->cancelButton(), Qt::LeftButton);
        QVERIFY(done.wait(20000));
        QCOMPARE(done.first().at(1).toInt(), 0);
        QCOMPARE(pane->results()->rowCount(), 0);
    }

    void engineErrorShowsABanner() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 40, .stepMicros = 1000, .failAfterSteps = 7});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        QCOMPARE(generate(*app, QStringLiteral("a bowl of fruit")), 0);
        QVERIFY(pane->banner()->isVisible());
        QVERIFY2(pane->banner()->message().contains(QStringLiteral("failed")), qPrintable(pane->banner()->message()));
        QVERIFY(pane->banner()->detail().contains(QStringLiteral("7")));
        QVERIFY(!pane->isGenerating());
        QCOMPARE(pane->results()->rowCount(), 0);
        QVERIFY(pane->generateButton()->isEnabled());
    }

    void reuseFillsTheFields() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 8, .stepMicros = 500});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(2);
        pane->guidanceBox()->setValue(7.5);
        pane->temperatureBox()->setValue(0.85);
        QCOMPARE(generate(*app, QStringLiteral("a paper boat on a pond")), 2);
        const ImageGenParams made = pane->results()->item(1).params;
        // Change everything, then reuse the second image's settings from the action bar.
        pane->promptEdit()->setPlainText(QStringLiteral("something else"));
        pane->countBox()->setValue(5);
        pane->guidanceBox()->setValue(2.0);
        pane->temperatureBox()->setValue(0.3);
        pane->seedBox()->setValue(int(made.seed + 1) % 1000);
        pane->lockButton()->setChecked(false);
        QToolButton* reuse = actionButton(pane, QStringLiteral("Reuse the image's settings"));
        QVERIFY(reuse);
        pane->resultsView()->setCurrentIndex(pane->results()->index(1));
        QVERIFY(reuse->isEnabled());
        QTest::mouseClick(reuse, Qt::LeftButton);
        QCOMPARE(pane->promptEdit()->toPlainText(), QStringLiteral("a paper boat on a pond"));
        QCOMPARE(pane->countBox()->value(), 2);
        QCOMPARE(pane->guidanceBox()->value(), 7.5);
        QCOMPARE(pane->temperatureBox()->value(), 0.85);
        QCOMPARE(qint64(pane->seedBox()->value()), made.seed);
        QVERIFY(pane->lockButton()->isChecked());  // Generate now makes the same images
        QCOMPARE(generate(*app, pane->promptEdit()->toPlainText()), 2);
        QVERIFY(sameImage(pane->results()->item(1).image, FaultyEngine::patternImage(made, 1, 32)));
    }

    void seedLock() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 4, .stepMicros = 200});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(1);
        // Unlocked: every run rolls a new seed (shown in the field, and used).
        pane->lockButton()->setChecked(false);
        QSet<qint64> seeds;
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(generate(*app, QStringLiteral("a cat")), 1);
            QCOMPARE(pane->results()->item(0).params.seed, qint64(pane->seedBox()->value()));
            seeds.insert(pane->results()->item(0).params.seed);
        }
        QVERIFY(seeds.size() >= 2);
        // Locked: the seed stays, and so do the images.
        pane->seedBox()->setValue(1234);
        QTest::mouseClick(pane->lockButton(), Qt::LeftButton);
        QVERIFY(pane->lockButton()->isChecked());
        QCOMPARE(generate(*app, QStringLiteral("a cat")), 1);
        const QImage first = pane->results()->item(0).image;
        QCOMPARE(generate(*app, QStringLiteral("a cat")), 1);
        QCOMPARE(pane->results()->item(0).params.seed, qint64(1234));
        QCOMPARE(pane->seedBox()->value(), 1234);
        QVERIFY(sameImage(pane->results()->item(0).image, first));
        // The dice rolls a new one without unlocking.
        QTest::mouseClick(pane->diceButton(), Qt::LeftButton);
        QVERIFY(pane->seedBox()->value() != 1234);
        QVERIFY(pane->lockButton()->isChecked());
    }

    void galleryPersistsAcrossRestarts() {
        TempDir root;
        configure(root);
        QList<GeneratedImageItem> made;
        {
            auto app = startApp(root, {.steps = 4, .stepMicros = 200});
            QVERIFY(waitScanned(*app));
            ImageGenPane* pane = app->window()->imagePane();
            pane->countBox()->setValue(2);
            pane->guidanceBox()->setValue(3.5);
            pane->temperatureBox()->setValue(0.9);
            QSignalSpy stored(app->images(), &ImageGenController::batchStored);
            QCOMPARE(generate(*app, QStringLiteral("first prompt")), 2);
            QVERIFY(stored.wait(10000));
            pane->countBox()->setValue(1);
            QCOMPARE(generate(*app, QStringLiteral("second prompt")), 1);
            QVERIFY(stored.wait(10000));
            // The first batch moved down to the gallery when the second arrived.
            QCOMPARE(pane->gallery()->rowCount(), 2);
            made = pane->results()->items() + pane->gallery()->items();
        }
        auto app = startApp(root);
        QSignalSpy loaded(app->images(), &ImageGenController::galleryLoaded);
        QVERIFY(loaded.wait(20000));
        GalleryModel* gallery = app->window()->imagePane()->gallery();
        QCOMPARE(gallery->rowCount(), 3);
        // Newest first, grouped by prompt.
        QCOMPARE(gallery->item(0).params.prompt, QStringLiteral("second prompt"));
        QCOMPARE(gallery->item(1).params.prompt, QStringLiteral("first prompt"));
        QVERIFY(gallery->data(gallery->index(1), GalleryModel::GroupStartRole).toBool());
        QVERIFY(!gallery->data(gallery->index(2), GalleryModel::GroupStartRole).toBool());
        for (int i = 0; i < 3; ++i) {
            const GeneratedImageItem& back = gallery->item(i);
            const GeneratedImageItem& orig = made[i];
            QCOMPARE(back.params.prompt, orig.params.prompt);
            QCOMPARE(back.params.seed, orig.params.seed);
            QCOMPARE(back.params.cfgWeight, orig.params.cfgWeight);
            QCOMPARE(back.params.temperature, orig.params.temperature);
            QCOMPARE(back.params.model, QStringLiteral("Janus-Pro-test"));
            QCOMPARE(back.batchIndex, orig.batchIndex);
            QVERIFY(sameImage(back.image, orig.image));
        }
        QCOMPARE(gallery->item(1).params.cfgWeight, 3.5);
        QCOMPARE(gallery->item(1).params.temperature, 0.9);
    }

    void savedPngCarriesSettingsAndDropRestoresThem() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 4, .stepMicros = 200});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(1);
        pane->guidanceBox()->setValue(6.5);
        pane->temperatureBox()->setValue(0.75);
        QCOMPARE(generate(*app, QStringLiteral("ein Fuchs im Schnee, Aquarell — ü")), 1);
        const GeneratedImageItem item = pane->results()->item(0);
        const QString file = q(root.path()) + QStringLiteral("/saved.png");
        QVERIFY(pane->saveImage(item, file));

        // The text chunks, read back without our code.
        QImageReader reader(file);
        QCOMPARE(reader.format(), QByteArray("png"));
        QCOMPARE(reader.text(QStringLiteral("prompt")), QStringLiteral("ein Fuchs im Schnee, Aquarell — ü"));
        QCOMPARE(reader.text(QStringLiteral("seed")), QString::number(item.params.seed));
        QCOMPARE(reader.text(QStringLiteral("cfg_weight")).toDouble(), 6.5);
        QCOMPARE(reader.text(QStringLiteral("temperature")).toDouble(), 0.75);
        QCOMPARE(reader.text(QStringLiteral("model")), QStringLiteral("Janus-Pro-test"));
        QCOMPARE(reader.text(QStringLiteral("Software")), QStringLiteral("Tessera %1").arg(AppInfo::version()));
        QVERIFY(sameImage(reader.read(), item.image));

        // Other settings in the fields; dropping the file on the pane brings its settings back.
        pane->promptEdit()->setPlainText(QStringLiteral("other"));
        pane->guidanceBox()->setValue(1.0);
        pane->temperatureBox()->setValue(0.2);
        pane->seedBox()->setValue(7);
        pane->lockButton()->setChecked(false);
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(file)});
        const QPoint at = pane->rect().center();
        QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(pane, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(pane, &drop);
        QVERIFY(drop.isAccepted());
        QCOMPARE(pane->promptEdit()->toPlainText(), QStringLiteral("ein Fuchs im Schnee, Aquarell — ü"));
        QCOMPARE(pane->guidanceBox()->value(), 6.5);
        QCOMPARE(pane->temperatureBox()->value(), 0.75);
        QCOMPARE(qint64(pane->seedBox()->value()), item.params.seed);
        QVERIFY(pane->lockButton()->isChecked());
        QVERIFY(!pane->banner()->isVisible());

        // A PNG from elsewhere says so and leaves the fields alone.
        const QString plain = q(root.path()) + QStringLiteral("/plain.png");
        QVERIFY(item.image.save(plain, "PNG"));
        QVERIFY(!pane->restoreFromFile(plain));
        QVERIFY(pane->banner()->isVisible());
        QCOMPARE(qint64(pane->seedBox()->value()), item.params.seed);
    }

    void viewerOpensTheImage() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 4, .stepMicros = 200, .imageSize = 96});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(2);
        QCOMPARE(generate(*app, QStringLiteral("a windmill")), 2);
        // Enter on the selected image opens it.
        pane->resultsView()->setFocus();
        pane->resultsView()->setCurrentIndex(pane->results()->index(1));
        QTest::keyClick(pane->resultsView(), Qt::Key_Return);
        ImageViewerDialog* viewer = pane->findChild<ImageViewerDialog*>();
        QVERIFY(viewer);
        QTRY_VERIFY(viewer->isVisible());
        QCOMPARE(viewer->item().params, pane->results()->item(1).params);
        QVERIFY(sameImage(viewer->item().image, pane->results()->item(1).image));
        viewer->setZoom(1.0);
        QLabel* picture = nullptr;
        for (QLabel* l : viewer->findChildren<QLabel*>()) {
            if (!l->pixmap().isNull()) picture = l;
        }
        QVERIFY(picture);
        QCOMPARE(picture->size(), QSize(96, 96));
        viewer->setZoom(2.0);
        QCOMPARE(picture->size(), QSize(192, 192));
        viewer->reject();
    }

    void storedGalleryArrivingLateShowsImagesOnce() {
        ImageGenPane pane;
        GeneratedImageItem a;
        a.id = 1;
        a.image = FaultyEngine::patternImage(ImageGenParams{}, 0, 16);
        a.params.prompt = QStringLiteral("p");
        a.createdAt = QDateTime::currentDateTime();
        GeneratedImageItem b = a;
        b.id = 2;
        b.batchIndex = 1;
        pane.showResults({a, b});  // a batch made before storage answered
        GeneratedImageItem old = a;
        old.id = 3;
        old.params.prompt = QStringLiteral("older");
        old.createdAt = a.createdAt.addSecs(-60);
        pane.setGallery({a, b, old});  // the stored gallery already holds that batch
        QCOMPARE(pane.results()->rowCount(), 2);
        QCOMPARE(pane.gallery()->rowCount(), 1);
        QCOMPARE(pane.gallery()->item(0).id, qint64(3));
    }

    void sendToChatAttachesTheImage() {
        TempDir root;
        configure(root);
        auto app = startApp(root, {.steps = 4, .stepMicros = 200});
        QVERIFY(waitScanned(*app));
        ImageGenPane* pane = app->window()->imagePane();
        pane->countBox()->setValue(1);
        QCOMPARE(generate(*app, QStringLiteral("a green teapot")), 1);
        pane->resultsView()->setCurrentIndex(pane->results()->index(0));
        QToolButton* send = actionButton(pane, QStringLiteral("Send the image to a chat"));
        QVERIFY(send && send->isEnabled());
        QTest::mouseClick(send, Qt::LeftButton);
        MainWindow* w = app->window();
        QCOMPARE(w->panes()->currentWidget(), static_cast<QWidget*>(w->chatPane()));
        QVERIFY(w->chatPane()->currentModel().endsWith(QStringLiteral("Janus-Pro-test")));
        QCOMPARE(w->chatPane()->composer()->images().size(), 1);
        QVERIFY(sameImage(w->chatPane()->composer()->images().first().image, pane->results()->item(0).image));
    }
};

QTEST_MAIN(TestImagePane)
#include "test_image_pane.moc"
