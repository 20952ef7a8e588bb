#pragma once
/// Tells whether downloaded bytes are an image, and which: PNG, JPEG or WebP, by signature, with
/// the dimensions read from the header (PNG IHDR; JPEG's first SOFn frame header; WebP's VP8,
/// VP8L or VP8X chunk).
///
/// A download is delivered only when its bytes are such an image (issue 12: an HTML page served
/// with 200 must never be journaled as the image). Only headers are read, never pixels, so a
/// file whose header is sound but whose pixel data is damaged still passes. Every read is bounded
/// by the input: truncated or hostile bytes give nullopt, never a read past the end. Pure
/// functions, thread-safe.

#include <optional>
#include <string_view>

namespace zbatch::client {

enum class image_format { png, jpeg, webp };

/// "png", "jpeg", "webp".
std::string_view to_string(image_format format);

struct image_info {
  image_format format = image_format::png;
  int width = 0;   ///< Pixels, > 0.
  int height = 0;  ///< Pixels, > 0.
};

/// The format and size of `bytes`, or nullopt when they are not a PNG, JPEG or WebP whose header
/// names a non-zero width and height.
std::optional<image_info> probe_image(std::string_view bytes);

}  // namespace zbatch::client
