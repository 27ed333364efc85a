// TesseraEngine: the ChatEngine over Tessera's own inference engine (inference/include/tessera/engine.h).
// Keeps each loaded model with one session, so a conversation that re-sends its history reuses the KV
// cache for the shared prefix.
#pragma once

#include <QStringList>

#include <map>
#include <memory>

#include "app/ChatEngine.h"

namespace tessera {
class Model;
class Session;
}  // namespace tessera

class TesseraEngine : public ChatEngine {
public:
    TesseraEngine();
    ~TesseraEngine() override;

    QString deviceName() const override;
    qint64 memoryCapacity() const override;
    ModelEntry probe(const QString& path) override;
    std::optional<AppError> load(const QString& path, const std::function<bool(double)>& progress) override;
    void unload(const QString& path) override;
    int countPromptTokens(const QString& path, const EngineRequest& request) override;
    std::optional<AppError> generate(const QString& path, const EngineRequest& request,
                                     const EngineCallbacks& callbacks, const std::atomic<bool>& cancel,
                                     GenerationStats* stats) override;
    std::optional<AppError> generateImages(const QString& path, const ImageGenParams& params,
                                           const ImageProgressCallback& progress, const std::atomic<bool>& cancel,
                                           ImageGenResult* result) override;

private:
    struct Loaded {
        std::shared_ptr<tessera::Model> model;
        std::unique_ptr<tessera::Session> session;
    };
    std::map<QString, Loaded> m_loaded;
    QStringList m_loadOrder;  // loaded models, most recent last
};
