#include "mock_api/png.hpp"

#include <stdexcept>

#include <zlib.h>

#include "mock_api/rng.hpp"

namespace zbatch::mock {
namespace {

constexpr int tile = image_tile;

void put_u32(std::string& out, std::uint32_t value) {
  out.push_back(static_cast<char>(value >> 24));
  out.push_back(static_cast<char>(value >> 16));
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t type_at = out.size();
  out.append(type, 4);
  out += data;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + type_at),
              static_cast<uInt>(4 + data.size()));
  put_u32(out, static_cast<std::uint32_t>(crc));
}

}  // namespace

std::string encode_png_rgb(int width, int height, const std::vector<std::uint8_t>& filtered_rows,
                           int compression_level) {
  const std::size_t expected =
      static_cast<std::size_t>(height) * (1 + 3 * static_cast<std::size_t>(width));
  if (width <= 0 || height <= 0 || filtered_rows.size() != expected) {
    throw std::invalid_argument("encode_png_rgb: pixel data does not match the size");
  }
  uLongf packed_size = compressBound(static_cast<uLong>(filtered_rows.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, filtered_rows.data(),
                static_cast<uLong>(filtered_rows.size()), compression_level) != Z_OK) {
    throw std::runtime_error("encode_png_rgb: zlib compression failed");
  }
  packed.resize(packed_size);

  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(width));
  put_u32(ihdr, static_cast<std::uint32_t>(height));
  ihdr += std::string{8, 2, 0, 0, 0};  // 8-bit depth, RGB, deflate, adaptive filters, no interlace

  std::string out("\x89PNG\r\n\x1a\n", 8);
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", std::string());
  return out;
}

std::uint64_t image_hash(std::string_view prompt, std::int64_t seed, int width, int height) {
  std::uint64_t base = fnv1a(std::string(prompt));
  base ^= static_cast<std::uint64_t>(seed) * 0x9e3779b97f4a7c15ULL;
  base ^= (static_cast<std::uint64_t>(width) << 32) ^ static_cast<std::uint64_t>(height);
  return base;
}

std::uint64_t tile_colour(std::uint64_t hash, int column, int row) {
  std::uint64_t state =
      hash + (static_cast<std::uint64_t>(row) << 20) + static_cast<std::uint64_t>(column);
  return splitmix64(state);
}

std::string render_png(std::string_view prompt, std::int64_t seed, int width, int height,
                       int compression_level) {
  const std::uint64_t base = image_hash(prompt, seed, width, height);
  const std::size_t stride = 1 + 3 * static_cast<std::size_t>(width);
  std::vector<std::uint8_t> rows(stride * static_cast<std::size_t>(height), 0);
  for (int y = 0; y < height; y += tile) {
    // First row of a band: colours per tile (filter None). The rest: "Up" filter, all zeros.
    std::uint8_t* row = rows.data() + static_cast<std::size_t>(y) * stride;
    row[0] = 0;
    for (int x0 = 0; x0 < width; x0 += tile) {
      const std::uint64_t colour = tile_colour(base, x0 / tile, y / tile);
      for (int x = x0; x < x0 + tile && x < width; ++x) {
        std::uint8_t* pixel = row + 1 + 3 * static_cast<std::size_t>(x);
        pixel[0] = static_cast<std::uint8_t>(colour);
        pixel[1] = static_cast<std::uint8_t>(colour >> 8);
        pixel[2] = static_cast<std::uint8_t>(colour >> 16);
      }
    }
    for (int r = y + 1; r < y + tile && r < height; ++r) {
      rows[static_cast<std::size_t>(r) * stride] = 2;
    }
  }
  return encode_png_rgb(width, height, rows, compression_level);
}

}  // namespace zbatch::mock
