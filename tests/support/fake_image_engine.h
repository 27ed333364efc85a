// A text-to-image engine for the app's tests, with no model: FaultyEngine set up so that folders named
// *janus* generate images (a seeded pattern per image, the same for the same settings) with real
// per-step progress, plus the helpers to lay out model folders the app's scan finds.
#pragma once

#include <QDir>
#include <QFile>
#include <QString>

#include <memory>

#include "app/FaultyEngine.h"

namespace tessera::test {

struct FakeImageEngineOptions {
    int steps = 24;           // image-token steps per batch
    int stepMicros = 2000;    // time each step takes
    int imageSize = 32;       // pixels per side
    int failAfterSteps = -1;  // >= 0: the engine fails after that many steps
};

inline std::unique_ptr<ChatEngine> fakeImageEngine(const FakeImageEngineOptions& o = {}) {
    FaultyEngine::Options options;
    options.imageModelSubstring = QStringLiteral("janus");
    options.imageSteps = o.steps;
    options.imageStepMicros = o.stepMicros;
    options.imageSize = o.imageSize;
    options.failImagesAfterSteps = o.failAfterSteps;
    return std::make_unique<FaultyEngine>(options);
}

// <parent>/<name>/config.json, which is all the model scan looks for; returns the folder.
inline QString makeModelFolder(const QString& parent, const QString& name) {
    const QString dir = parent + QLatin1Char('/') + name;
    QDir().mkpath(dir);
    QFile config(dir + QStringLiteral("/config.json"));
    if (config.open(QIODevice::WriteOnly)) config.write("{}");
    return QDir(dir).absolutePath();
}

}  // namespace tessera::test
