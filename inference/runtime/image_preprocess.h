// Image preprocessing that must equal the reference processors pixel for pixel: Pillow's BICUBIC resize
// (models.md §5.3) and the Janus understanding processor (resize, pad to a square, normalise; §5.4).
#pragma once

#include "tessera/image.h"

namespace tessera {

// Pillow Image.resize(size, BICUBIC) on an RGB image, bit-exact with Pillow 13: separable passes with an
// 8-bit intermediate (horizontal first, unless the height shrinks by more than twice as many pixels as the
// width), antialiasing support when shrinking, 22-bit fixed-point weights; an axis whose size does not change
// is not filtered at all. Returns an empty Image when src is empty or out_w/out_h < 1.
Image resize_bicubic(const Image& src, int out_w, int out_h);

// The pixel arithmetic of a Janus preprocessor_config.json (VLMImageProcessor): v · rescale_factor, then
// (· − mean_c) / std_c when do_normalize; the padding colour is int(mean_c · 255). The defaults are the
// shipped Janus-Pro files' (mean = std = 0.5); Janus-1.3B's original file has do_normalize false.
struct JanusPixelConfig {
    bool do_normalize = true;
    float mean[3] = {0.5f, 0.5f, 0.5f};
    float std[3] = {0.5f, 0.5f, 0.5f};
    double rescale_factor = 1.0 / 255.0;
    int min_size = 14;
};

// The Janus VLMImageProcessor: aspect-preserving bicubic resize so the longer side is image_size (the
// shorter at least min_size), centred on a square of the padding colour, then the pixel arithmetic above
// (rescale in double stored as float, normalise in float), rounded to bf16 values. out = [3, S, S] floats,
// S = image_size (>= min_size). An empty src gives the plain background.
void janus_preprocess(const Image& src, int image_size, float* out, const JanusPixelConfig& px = {});

}  // namespace tessera
