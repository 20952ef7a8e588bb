#include "mock_api/jpeg.hpp"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <jpeglib.h>

#include "mock_api/png.hpp"

namespace zbatch::mock {
namespace {

/// libjpeg reports fatal errors through error_exit, which must not return: jump back out.
struct error_manager {
  jpeg_error_mgr base;
  std::jmp_buf back;
};

[[noreturn]] void on_error(j_common_ptr info) {
  std::longjmp(reinterpret_cast<error_manager*>(info->err)->back, 1);
}

/// One row of tile colours (every row inside a tile band is the same).
std::vector<JSAMPLE> band_row(std::uint64_t hash, int width, int band) {
  std::vector<JSAMPLE> row(3 * static_cast<std::size_t>(width));
  for (int x = 0; x < width; ++x) {
    const std::uint64_t colour = tile_colour(hash, x / image_tile, band);
    row[3 * static_cast<std::size_t>(x)] = static_cast<JSAMPLE>(colour & 0xff);
    row[3 * static_cast<std::size_t>(x) + 1] = static_cast<JSAMPLE>((colour >> 8) & 0xff);
    row[3 * static_cast<std::size_t>(x) + 2] = static_cast<JSAMPLE>((colour >> 16) & 0xff);
  }
  return row;
}

}  // namespace

std::string render_jpeg(std::string_view prompt, std::int64_t seed, int width, int height) {
  if (width <= 0 || height <= 0) {
    throw std::invalid_argument("render_jpeg: the size must be positive");
  }
  const std::uint64_t hash = image_hash(prompt, seed, width, height);
  jpeg_compress_struct info{};
  error_manager errors{};
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
  if (setjmp(errors.back) != 0) {
    jpeg_destroy_compress(&info);
    std::free(buffer);
    throw std::runtime_error("render_jpeg: libjpeg failed");
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 85, TRUE);
  jpeg_start_compress(&info, TRUE);
  std::vector<JSAMPLE> row;
  int band = -1;
  while (info.next_scanline < info.image_height) {
    const int y = static_cast<int>(info.next_scanline);
    if (y / image_tile != band) {
      band = y / image_tile;
      row = band_row(hash, width, band);
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&info, rows, 1);
  }
  jpeg_finish_compress(&info);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&info);
  std::free(buffer);
  return out;
}

}  // namespace zbatch::mock
