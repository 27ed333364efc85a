// The engine's public API for images: decoded 8-bit RGB pictures, reading them from files (with limits, so a
// corrupt or enormous file is an error, not a crash), writing PNGs that carry generation metadata, and the
// options, progress and results of text-to-image generation (Janus-Pro, models.md §7.5). Session methods
// that use these live in engine.h. No Qt, OpenCV or CUDA type appears here.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/error.h"

namespace tessera {

// 8-bit RGB, row-major, rows packed (stride = 3 * width), top row first.
struct Image {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> rgb;  // width * height * 3
};

// Largest image read_image accepts (pixels); bigger files are refused before their pixels are decoded.
constexpr int64_t kMaxImagePixels = int64_t(16384) * 16384;

// Decodes PNG, JPEG, WebP, BMP, TIFF ... (whatever the build's OpenCV reads) to RGB as Pillow's
// convert("RGB") would: grayscale replicated, alpha dropped (not composited), EXIF orientation ignored.
// Errors name the file: missing, unreadable, not an image, truncated, larger than kMaxImagePixels, or
// "image decoding is not available in this build" when built without OpenCV (the engine-only GPU build).
Result<Image> read_image(const std::filesystem::path& file);
Result<Image> decode_image(const uint8_t* bytes, size_t size, const std::string& name_for_errors);

// Text chunks written into a PNG (tEXt for Latin-1 keys/values, iTXt for UTF-8 values).
using PngText = std::vector<std::pair<std::string, std::string>>;

// Writes `image` as a PNG with `text` chunks; the write goes to a temporary file renamed into place, so a
// full disk leaves no half-written file and returns an error naming the path.
Status write_png(const std::filesystem::path& file, const Image& image, const PngText& text = {});
// The text chunks of a PNG file (tEXt, zTXt and iTXt), e.g. to restore generation settings from one.
Result<PngText> read_png_text(const std::filesystem::path& file);

// Text-to-image generation (Janus-Pro). count images are made in one batch of 2 x count sequences
// (conditional and unconditional, classifier-free guidance).
struct ImageGenerationOptions {
    int count = 4;             // images in the batch, 1..16
    float cfg_weight = 5.0f;   // guidance: logits = uncond + cfg_weight * (cond - uncond)
    float temperature = 1.0f;  // softmax(logits / temperature) then a multinomial draw; 0: greedy (argmax)
    uint64_t seed = 0;         // same seed, prompt, options and model: the same images
    int image_tokens = 0;      // tokens per image, a square (24 x 24 = 576); 0: the model's default
    const std::atomic<bool>* cancel = nullptr;  // checked before every step
};

struct ImageGenerationProgress {
    enum class Phase { Prompt, Tokens, Pixels };
    Phase phase = Phase::Prompt;
    int step = 0;         // image-token steps done (Phase::Tokens), images decoded (Phase::Pixels)
    int total_steps = 0;  // image_tokens (Tokens) or count (Pixels)
    double elapsed_seconds = 0;
};

enum class Flow;  // engine.h: Continue | Stop
using ImageProgressCallback = std::function<Flow(const ImageGenerationProgress&)>;

struct ImageGenerationResult {
    std::vector<Image> images;                // count images, in batch order
    std::vector<std::vector<int32_t>> codes;  // the image tokens of each image, raster order
    double prompt_seconds = 0;
    double token_seconds = 0;   // the sampling loop
    double pixel_seconds = 0;   // VQ decoding
};

}  // namespace tessera
