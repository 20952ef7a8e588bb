// probe_image: format and size of real small PNG, JPEG and WebP files; nullopt, never a read past
// the end, for truncated, damaged and foreign bytes.
#include "client/image_probe.hpp"

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "mock_api/png.hpp"

namespace zbatch::client {
namespace {

std::string be16(int value) {
  return {static_cast<char>(value >> 8 & 0xFF), static_cast<char>(value & 0xFF)};
}

std::string segment(unsigned char marker, const std::string& payload) {
  return std::string{'\xFF', static_cast<char>(marker)} +
         be16(static_cast<int>(payload.size()) + 2) + payload;
}

/// A complete baseline greyscale JPEG a decoder reads as a uniform grey picture: one-symbol
/// Huffman tables (DC difference 0, AC end-of-block, both coded "0"), so every 8x8 block is the
/// two bits "00". `sof` picks the frame marker (0xC0 baseline, 0xC2 progressive header).
std::string tiny_jpeg(int width, int height, unsigned char sof = 0xC0) {
  std::string out = "\xFF\xD8";
  out += segment(0xE0, std::string("JFIF\0\x01\x01\0\0\x01\0\x01\0\0", 14));
  out += segment(0xDB, std::string(1, '\0') + std::string(64, '\x01'));
  out += segment(sof, std::string("\x08", 1) + be16(height) + be16(width) +
                          std::string("\x01\x01\x11\x00", 4));
  const std::string one_symbol = std::string(1, '\x01') + std::string(15, '\0') + '\0';
  out += segment(0xC4, std::string(1, '\x00') + one_symbol);  // DC table 0
  out += segment(0xC4, std::string(1, '\x10') + one_symbol);  // AC table 0
  out += segment(0xDA, std::string("\x01\x01\x00\x00\x3F\x00", 6));
  const int blocks = ((width + 7) / 8) * ((height + 7) / 8);
  const int bits = 2 * blocks;
  std::string scan((bits + 7) / 8, '\0');
  if (bits % 8 != 0) {
    scan.back() = static_cast<char>((1 << (8 - bits % 8)) - 1);  // padding with 1-bits
  }
  out += scan;
  out += "\xFF\xD9";
  return out;
}

std::string le32(std::uint32_t value) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out += static_cast<char>(value >> (8 * i) & 0xFF);
  }
  return out;
}

std::string riff(const std::string& fourcc, const std::string& payload) {
  std::string chunk = fourcc + le32(static_cast<std::uint32_t>(payload.size())) + payload;
  if (payload.size() % 2 != 0) {
    chunk += '\0';
  }
  return "RIFF" + le32(static_cast<std::uint32_t>(4 + chunk.size())) + "WEBP" + chunk;
}

/// A complete lossless WebP of opaque black pixels: no transform, no colour cache, five
/// one-symbol prefix codes (green 0, red 0, blue 0, alpha 255, distance 0), so every pixel
/// takes zero bits and the whole image data is four bytes.
std::string tiny_webp_lossless(int width, int height) {
  const std::uint32_t header =
      static_cast<std::uint32_t>(width - 1) | static_cast<std::uint32_t>(height - 1) << 14;
  return riff("VP8L", "\x2F" + le32(header) + std::string("\x88\x88\xFE\x07", 4));
}

/// The header of a lossy key frame: frame tag, start code, 14-bit sizes (2 scale bits above).
std::string webp_lossy_header(int width, int height) {
  std::string frame("\x50\x02\x00\x9D\x01\x2A", 6);
  frame += static_cast<char>(width & 0xFF);
  frame += static_cast<char>(width >> 8 | 0x40);  // horizontal scale bits must be ignored
  frame += static_cast<char>(height & 0xFF);
  frame += static_cast<char>(height >> 8);
  frame += std::string(8, '\0');
  return riff("VP8 ", frame);
}

/// The extended format's header: flags, then the 24-bit canvas size minus one.
std::string webp_extended(int width, int height) {
  std::string payload("\x10\0\0\0", 4);
  for (int value : {width - 1, height - 1}) {
    for (int i = 0; i < 3; ++i) {
      payload += static_cast<char>(value >> (8 * i) & 0xFF);
    }
  }
  return riff("VP8X", payload);
}

void expect_image(const std::string& bytes, image_format format, int width, int height) {
  auto info = probe_image(bytes);
  ASSERT_TRUE(info) << to_string(format) << " " << width << "x" << height;
  EXPECT_EQ(info->format, format);
  EXPECT_EQ(info->width, width);
  EXPECT_EQ(info->height, height);
  EXPECT_TRUE(info->complete);
}

TEST(ImageProbe, PngFromTheMockEncoder) {
  expect_image(mock::render_png("a fox", 3, 640, 512), image_format::png, 640, 512);
  expect_image(mock::render_png("a fox", 3, 1, 1), image_format::png, 1, 1);
}

TEST(ImageProbe, JpegFrameHeaders) {
  expect_image(tiny_jpeg(17, 9), image_format::jpeg, 17, 9);
  expect_image(tiny_jpeg(2048, 512, 0xC2), image_format::jpeg, 2048, 512);
  // Fill bytes before a marker are allowed (T.81 B.1.1.2).
  auto filled = tiny_jpeg(8, 8);
  filled.insert(2, "\xFF\xFF");
  expect_image(filled, image_format::jpeg, 8, 8);
  // Some encoders pad after EOI; the file is whole.
  expect_image(tiny_jpeg(8, 8) + std::string(3, '\0'), image_format::jpeg, 8, 8);
}

TEST(ImageProbe, WebpLossyLosslessAndExtended) {
  expect_image(tiny_webp_lossless(1, 1), image_format::webp, 1, 1);
  expect_image(tiny_webp_lossless(3, 2), image_format::webp, 3, 2);
  expect_image(tiny_webp_lossless(16384, 16384), image_format::webp, 16384, 16384);
  expect_image(webp_lossy_header(800, 600), image_format::webp, 800, 600);
  expect_image(webp_extended(1000, 700), image_format::webp, 1000, 700);
}

TEST(ImageProbe, EveryTruncationIsRejectedOrReadsTheSameHeader) {
  const std::string samples[] = {mock::render_png("p", 1, 64, 32), tiny_jpeg(64, 32),
                                 tiny_webp_lossless(64, 32), webp_lossy_header(64, 32),
                                 webp_extended(64, 32)};
  for (const auto& sample : samples) {
    const auto full = probe_image(sample);
    ASSERT_TRUE(full);
    bool seen_reject = false;
    for (std::size_t n = 0; n < sample.size(); ++n) {
      // A copy of exactly n bytes, so a read past the end is a heap overflow ASan reports.
      const std::string prefix = sample.substr(0, n);
      auto info = probe_image(prefix);
      if (info) {
        EXPECT_EQ(info->width, 64);
        EXPECT_EQ(info->height, 32);
        EXPECT_FALSE(info->complete) << n << " of " << sample.size() << " bytes";
      } else {
        seen_reject = true;
      }
    }
    EXPECT_TRUE(seen_reject);
    EXPECT_FALSE(probe_image(sample.substr(0, 8)));  // a signature alone is no image
  }
}

TEST(ImageProbe, ForeignAndDamagedBytesAreNotImages) {
  for (const std::string& bytes :
       {std::string(), std::string("<html><body>Welcome</body></html>"),
        std::string("{\"errors\":{\"message\":\"x\"}}"), std::string("\x89PNG\r\n\x1a\n", 8),
        std::string("GIF89a\x01\0\x01\0", 10), std::string("RIFF\0\0\0\0WAVEfmt ", 16),
        std::string("\xFF\xD8\xFF\xD9", 4)}) {
    EXPECT_FALSE(probe_image(bytes)) << bytes;
  }
  // A PNG whose IHDR says zero width.
  auto png = mock::render_png("p", 1, 8, 8);
  png.replace(16, 4, std::string(4, '\0'));
  EXPECT_FALSE(probe_image(png));
  // A JPEG whose scan starts before any frame header, and one with a segment length below 2.
  auto scan_first = tiny_jpeg(8, 8);
  const auto sof = scan_first.find("\xFF\xC0");
  scan_first[sof + 1] = '\xDA';
  EXPECT_FALSE(probe_image(scan_first));
  auto short_length = tiny_jpeg(8, 8);
  short_length.replace(4, 2, std::string("\0\x01", 2));
  EXPECT_FALSE(probe_image(short_length));
  // A lossy WebP that is not a key frame, and one whose start code is wrong.
  auto inter = webp_lossy_header(8, 8);
  inter[20] = '\x51';
  EXPECT_FALSE(probe_image(inter));
  auto bad_code = webp_lossy_header(8, 8);
  bad_code[23] = '\x00';
  EXPECT_FALSE(probe_image(bad_code));
}

TEST(ImageProbe, RandomBytesNeverCrash) {
  std::mt19937 rng(12);
  using namespace std::string_literals;  // the prefixes hold NUL bytes
  const std::string prefixes[] = {""s,
                                  "\x89PNG\r\n\x1a\n"s,
                                  "\xFF\xD8\xFF"s,
                                  "RIFF\x10\0\0\0WEBPVP8 "s,
                                  "RIFF\x10\0\0\0WEBPVP8L"s,
                                  "RIFF\x10\0\0\0WEBPVP8X"s};
  for (int round = 0; round < 4000; ++round) {
    std::string bytes = prefixes[round % 6];
    const std::size_t extra = rng() % 40;
    for (std::size_t i = 0; i < extra; ++i) {
      bytes += static_cast<char>(rng() & 0xFF);
    }
    auto info = probe_image(bytes);
    if (info) {
      EXPECT_GT(info->width, 0);
      EXPECT_GT(info->height, 0);
    }
  }
}

TEST(ImageProbe, FormatNames) {
  EXPECT_EQ(to_string(image_format::png), "png");
  EXPECT_EQ(to_string(image_format::jpeg), "jpeg");
  EXPECT_EQ(to_string(image_format::webp), "webp");
}

}  // namespace
}  // namespace zbatch::client
