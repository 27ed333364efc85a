// Recognises image files by their first bytes and reads their pixel size without decoding them, so the
// storage library (no Qt, no OpenCV) can record width and height for every attachment.
#pragma once

#include <string>
#include <string_view>

namespace tessera::storage {

struct ImageInfo {
    std::string mime = "application/octet-stream";
    std::string extension = "bin";  // used in the content-addressed file name
    int width = 0;                   // 0 when unknown
    int height = 0;
    bool is_image = false;
};

// PNG, JPEG, GIF, WebP and BMP; anything else comes back as application/octet-stream.
ImageInfo sniff_image(std::string_view bytes);

}  // namespace tessera::storage
