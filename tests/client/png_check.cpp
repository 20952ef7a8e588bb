#include "tests/client/png_check.hpp"

#include <cstdint>
#include <string>

#include <zlib.h>

namespace zbatch::test {
namespace {

std::uint32_t be32(std::string_view bytes, std::size_t at) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i]));
  };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

png_info fail(png_info info, std::string problem) {
  info.ok = false;
  info.problem = std::move(problem);
  return info;
}

}  // namespace

png_info check_png(std::string_view bytes) {
  png_info info;
  if (bytes.substr(0, 8) != std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return fail(info, "no PNG signature");
  }
  std::string idat;
  bool seen_ihdr = false;
  bool seen_iend = false;
  int bit_depth = 0;
  int color_type = 0;
  std::size_t at = 8;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) {
      return fail(info, "truncated chunk header at byte " + std::to_string(at));
    }
    const std::uint32_t length = be32(bytes, at);
    if (length > bytes.size() - at - 12) {
      return fail(info, "chunk length runs past the end at byte " + std::to_string(at));
    }
    const auto type = std::string(bytes.substr(at + 4, 4));
    const auto data = bytes.substr(at + 8, length);
    const std::uint32_t stored_crc = be32(bytes, at + 8 + length);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), length + 4);
    if (crc != stored_crc) {
      return fail(info, "bad CRC in chunk " + type);
    }
    ++info.chunks;
    if (info.chunks == 1 && type != "IHDR") {
      return fail(info, "first chunk is " + type + ", not IHDR");
    }
    if (type == "IHDR") {
      if (length != 13) {
        return fail(info, "IHDR length " + std::to_string(length));
      }
      seen_ihdr = true;
      info.width = static_cast<int>(be32(data, 0));
      info.height = static_cast<int>(be32(data, 4));
      bit_depth = static_cast<unsigned char>(data[8]);
      color_type = static_cast<unsigned char>(data[9]);
    } else if (type == "IDAT") {
      idat.append(data);
    } else if (type == "IEND") {
      seen_iend = true;
      at += 12 + length;
      break;
    }
    at += 12 + length;
  }
  if (!seen_ihdr || !seen_iend) {
    return fail(info, "missing IHDR or IEND");
  }
  if (at != bytes.size()) {
    return fail(info, "bytes after IEND");
  }
  if (bit_depth != 8 || (color_type != 2 && color_type != 6 && color_type != 0)) {
    return fail(info, "unexpected bit depth/color type " + std::to_string(bit_depth) + "/" +
                          std::to_string(color_type));
  }
  const int channels = color_type == 2 ? 3 : color_type == 6 ? 4 : 1;
  const std::size_t expected =
      static_cast<std::size_t>(info.height) * (1 + static_cast<std::size_t>(info.width) * channels);
  std::string raw(expected + 1, '\0');  // one spare byte detects surplus data
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) {
    return fail(info, "inflateInit failed");
  }
  stream.next_in = reinterpret_cast<Bytef*>(idat.data());
  stream.avail_in = static_cast<uInt>(idat.size());
  stream.next_out = reinterpret_cast<Bytef*>(raw.data());
  stream.avail_out = static_cast<uInt>(raw.size());
  const int status = inflate(&stream, Z_FINISH);
  const auto produced = stream.total_out;
  inflateEnd(&stream);
  if (status != Z_STREAM_END) {
    return fail(info, "IDAT does not inflate to a complete zlib stream (status " +
                          std::to_string(status) + ")");
  }
  if (produced != expected) {
    return fail(info, "IDAT inflates to " + std::to_string(produced) + " bytes, expected " +
                          std::to_string(expected));
  }
  for (std::size_t row = 0; row < static_cast<std::size_t>(info.height); ++row) {
    if (static_cast<unsigned char>(raw[row * (expected / info.height)]) > 4) {
      return fail(info, "bad filter type in row " + std::to_string(row));
    }
  }
  info.ok = true;
  return info;
}

}  // namespace zbatch::test
