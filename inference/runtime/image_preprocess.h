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

// The Janus VLMImageProcessor: aspect-preserving bicubic resize so the longer side is image_size (the
// shorter at least 14), centred on a square of RGB (127,127,127), then v -> (v/255 - 0.5)/0.5 with the
// reference's float arithmetic, rounded to bf16 values. out = [3, S, S] floats, S = image_size (>= 14).
// An empty src gives the plain background.
void janus_preprocess(const Image& src, int image_size, float* out);

}  // namespace tessera
