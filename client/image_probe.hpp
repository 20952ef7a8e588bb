#pragma once
/// Tells whether downloaded bytes are an image, and which: PNG, JPEG or WebP, by signature, with
/// the dimensions read from the header (PNG IHDR; JPEG's first SOFn frame header; WebP's VP8,
/// VP8L or VP8X chunk), and whether the bytes run to the format's end (PNG's IEND chunk, JPEG's
/// EOI marker, the size WebP's RIFF header gives).
///
/// A download is delivered only when its bytes are such an image, whole (issue 12: an HTML page
/// served with 200 must never be journaled as the image; a new user's check: half a PNG sent
/// with a matching Content-Length was delivered and then trusted by every rerun). Pixels are
/// never decoded, so a whole file whose pixel data is damaged still passes. Every read is bounded
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
  /// The bytes reach the format's end: a PNG's chunks run whole up to IEND, a JPEG ends with
  /// EOI (FF D9, trailing padding allowed), a WebP holds the size its RIFF header gives.
  /// probe_image decides; a backend that builds its own image_info vouches for whole bytes.
  bool complete = true;
};

/// The format and size of `bytes`, or nullopt when they are not a PNG, JPEG or WebP whose header
/// names a non-zero width and height.
std::optional<image_info> probe_image(std::string_view bytes);

}  // namespace zbatch::client
