#pragma once
/// A small PNG encoder and the mock's deterministic images.
///
/// `render_png` draws a tiled picture whose every pixel is a function of (prompt, seed, size) and
/// encodes it as a real PNG (signature, IHDR, one zlib IDAT, IEND, CRCs). It is made cheap on
/// purpose: rows inside a tile band repeat, so they are written with the "Up" filter as zeros and
/// deflate in microseconds. Pure functions, thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zbatch::mock {

/// Encodes 8-bit RGB scanlines, each already prefixed by its PNG filter byte
/// (`height * (1 + 3 * width)` bytes), at the given zlib level (0..9).
std::string encode_png_rgb(int width, int height, const std::vector<std::uint8_t>& filtered_rows,
                           int compression_level = 1);

/// Side of the square tiles the mock's images are made of, pixels.
inline constexpr int image_tile = 32;
/// The hash an image's tile colours come from: a function of (prompt, seed, size).
std::uint64_t image_hash(std::string_view prompt, std::int64_t seed, int width, int height);
/// The colour (R | G << 8 | B << 16 in the low bits) of tile (column, row) of an image.
std::uint64_t tile_colour(std::uint64_t hash, int column, int row);

/// The mock's image for a task: same (prompt, seed, size) → same bytes.
std::string render_png(std::string_view prompt, std::int64_t seed, int width, int height,
                       int compression_level = 1);

}  // namespace zbatch::mock
