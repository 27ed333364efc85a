// Values of the image generation pane shared by the views, the controller and the workers: the settings
// one batch was made with, one generated image as the gallery keeps it, the phases of a generation, and the
// PNG text chunks that carry the settings inside a saved file (so dropping it on the pane restores them).
#pragma once

#include <QDateTime>
#include <QImage>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>

#include <optional>

// Everything needed to make the same images again.
struct ImageGenParams {
    QString prompt;
    int count = 4;             // images in the batch, 1..16
    double cfgWeight = 5.0;    // classifier-free guidance, 1..10
    double temperature = 1.0;  // 0..1
    qint64 seed = 0;           // 0..kMaxSeed
    QString model;             // the model's name, as shown and stored
    QString modelPath;         // where it was loaded from (empty for images read back from a file)
    bool operator==(const ImageGenParams&) const = default;

    static constexpr qint64 kMaxSeed = 2147483647;  // fits a spin box
};

// One image of the gallery.
struct GeneratedImageItem {
    qint64 id = 0;       // storage id; 0 until stored
    QImage image;        // the picture; for images read back from storage a thumbnail (see fullImage)
    QString filePath;    // the stored PNG (empty until stored)
    ImageGenParams params;
    int batchIndex = 0;  // its place in the batch it came from
    QDateTime createdAt;

    // Longest side of the thumbnails the stored gallery keeps in memory (a full 384 px picture is 432 KB).
    static constexpr int kThumbnailSide = 256;
    // The full picture: the stored PNG when there is one, else `image`.
    QImage fullImage() const;
};

enum class ImageGenPhase { Prompt, Tokens, Pixels };

namespace ImageGenMeta {
// PNG text chunk keys written with saved images.
inline constexpr const char* kPrompt = "prompt";
inline constexpr const char* kSeed = "seed";
inline constexpr const char* kCfg = "cfg_weight";
inline constexpr const char* kTemperature = "temperature";
inline constexpr const char* kModel = "model";
inline constexpr const char* kSoftware = "Software";

// The chunks for an image made with `params` by this app version.
QMap<QString, QString> textFor(const ImageGenParams& params, const QString& softwareVersion);
// Settings read back from PNG text chunks; nullopt when the file was not made by Tessera's image pane
// (no prompt or no seed).
std::optional<ImageGenParams> paramsFrom(const QMap<QString, QString>& text);
// Reads a PNG's text chunks (without decoding its pixels) and returns the settings it carries.
std::optional<ImageGenParams> readParams(const QString& pngFile);
// Writes `image` as a PNG carrying `params` in tEXt/iTXt chunks.
bool savePng(const QImage& image, const ImageGenParams& params, const QString& softwareVersion, const QString& file,
             QString* error = nullptr);
}  // namespace ImageGenMeta

Q_DECLARE_METATYPE(ImageGenParams)
Q_DECLARE_METATYPE(GeneratedImageItem)
Q_DECLARE_METATYPE(ImageGenPhase)
