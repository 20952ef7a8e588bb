#include "client/image_probe.hpp"

#include <cstdint>

namespace zbatch::client {
namespace {

/// Bounded reads: every accessor checks `at + n <= bytes.size()` and reports failure instead.
class reader {
 public:
  explicit reader(std::string_view bytes) : bytes_(bytes) {}
  bool has(std::size_t at, std::size_t n) const {
    return at <= bytes_.size() && n <= bytes_.size() - at;
  }
  bool equals(std::size_t at, std::string_view text) const {
    return has(at, text.size()) && bytes_.substr(at, text.size()) == text;
  }
  std::uint32_t byte(std::size_t at) const { return static_cast<unsigned char>(bytes_[at]); }
  /// Big-endian (PNG, JPEG) and little-endian (WebP) unsigned integers of `n` bytes (n <= 4).
  std::optional<std::uint32_t> big(std::size_t at, std::size_t n) const {
    if (!has(at, n)) {
      return std::nullopt;
    }
    std::uint32_t out = 0;
    for (std::size_t i = 0; i < n; ++i) {
      out = out << 8 | byte(at + i);
    }
    return out;
  }
  std::optional<std::uint32_t> little(std::size_t at, std::size_t n) const {
    if (!has(at, n)) {
      return std::nullopt;
    }
    std::uint32_t out = 0;
    for (std::size_t i = n; i-- > 0;) {
      out = out << 8 | byte(at + i);
    }
    return out;
  }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::string_view bytes_;
};

std::optional<image_info> sized(image_format format, std::uint32_t width, std::uint32_t height) {
  // PNG allows up to 2^31-1 per side; anything larger (or zero) is not a usable header.
  constexpr std::uint32_t max_side = 0x7fffffffu;
  if (width == 0 || height == 0 || width > max_side || height > max_side) {
    return std::nullopt;
  }
  return image_info{format, static_cast<int>(width), static_cast<int>(height)};
}

/// Walks the chunks after the signature (length, type, data, CRC: PNG spec 5.3) to a whole
/// IEND; bytes after it are ignored, as decoders do.
bool png_reaches_iend(const reader& in) {
  std::size_t at = 8;
  while (true) {
    const auto length = in.big(at, 4);
    if (!length || !in.has(at + 8, std::size_t{*length} + 4)) {
      return false;  // the file ends inside this chunk
    }
    if (in.equals(at + 4, "IEND")) {
      return true;
    }
    at += 12 + std::size_t{*length};
  }
}

/// Signature, then the first chunk must be a 13-byte IHDR (PNG spec 5.2, 11.2.2).
std::optional<image_info> probe_png(const reader& in) {
  if (!in.equals(0, "\x89PNG\r\n\x1a\n") || in.big(8, 4) != 13u || !in.equals(12, "IHDR")) {
    return std::nullopt;
  }
  auto width = in.big(16, 4);
  auto height = in.big(20, 4);
  if (!width || !height) {
    return std::nullopt;
  }
  auto out = sized(image_format::png, *width, *height);
  if (out) {
    out->complete = png_reaches_iend(in);
  }
  return out;
}

/// Start-of-frame markers carry the size: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
bool is_sof(std::uint32_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

/// The last bytes are EOI (FF D9), give or take the zero or 0xFF padding some encoders append.
bool jpeg_ends_with_eoi(const reader& in) {
  std::size_t end = in.size();
  while (end > 0 && (in.byte(end - 1) == 0x00 || in.byte(end - 1) == 0xFF) &&
         end + 64 > in.size()) {
    --end;
  }
  return end >= 2 && in.byte(end - 2) == 0xFF && in.byte(end - 1) == 0xD9;
}

/// Walks the marker segments after SOI up to the first SOFn (ITU T.81, B.1.1 and B.2.2).
std::optional<image_info> probe_jpeg(const reader& in) {
  if (!in.equals(0, "\xFF\xD8\xFF")) {
    return std::nullopt;
  }
  std::size_t at = 2;
  while (in.has(at, 2)) {
    if (in.byte(at) != 0xFF) {
      return std::nullopt;
    }
    std::uint32_t marker = in.byte(at + 1);
    if (marker == 0xFF) {  // fill byte before a marker
      ++at;
      continue;
    }
    at += 2;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      continue;  // TEM, RSTn and SOI stand alone
    }
    if (marker == 0xD9 || marker == 0xDA) {
      return std::nullopt;  // EOI or scan data before any frame header
    }
    auto length = in.big(at, 2);
    if (!length || *length < 2) {
      return std::nullopt;
    }
    if (is_sof(marker)) {
      auto height = in.big(at + 3, 2);  // after length and sample precision
      auto width = in.big(at + 5, 2);
      if (*length < 8 || !height || !width) {
        return std::nullopt;
      }
      auto out = sized(image_format::jpeg, *width, *height);
      if (out) {
        out->complete = jpeg_ends_with_eoi(in);
      }
      return out;
    }
    at += *length;
  }
  return std::nullopt;
}

/// RIFF container, then the first chunk: VP8 (lossy key frame), VP8L (lossless) or VP8X
/// (extended, canvas size). Google's WebP container and bitstream specifications (RFC 9649).
std::optional<image_info> probe_webp_header(const reader& in);

/// The header's image, whole when the file holds the RIFF size (RFC 9649, 2.5).
std::optional<image_info> probe_webp(const reader& in) {
  auto out = probe_webp_header(in);
  if (out) {
    const auto riff_size = in.little(4, 4);  // the bytes after the size field
    out->complete = riff_size && in.size() - 8 >= *riff_size;
  }
  return out;
}

std::optional<image_info> probe_webp_header(const reader& in) {
  if (!in.equals(0, "RIFF") || !in.equals(8, "WEBP")) {
    return std::nullopt;
  }
  constexpr std::size_t data = 20;  // after "RIFF" size "WEBP" fourcc chunk-size
  if (in.equals(12, "VP8 ")) {
    // 3-byte frame tag (bit 0 clear on a key frame), start code, 14-bit width and height.
    auto tag = in.little(data, 3);
    auto width = in.little(data + 6, 2);
    auto height = in.little(data + 8, 2);
    if (!tag || (*tag & 1u) != 0 || !in.equals(data + 3, "\x9D\x01\x2A") || !width || !height) {
      return std::nullopt;
    }
    return sized(image_format::webp, *width & 0x3FFFu, *height & 0x3FFFu);
  }
  if (in.equals(12, "VP8L")) {
    // Signature 0x2F, then 14 bits width-1 and 14 bits height-1, least significant first.
    auto bits = in.little(data + 1, 4);
    if (!in.equals(data, "\x2F") || !bits) {
      return std::nullopt;
    }
    return sized(image_format::webp, (*bits & 0x3FFFu) + 1, (*bits >> 14 & 0x3FFFu) + 1);
  }
  if (in.equals(12, "VP8X")) {
    // Flags and reserved (4 bytes), then 24-bit canvas width-1 and height-1.
    auto width = in.little(data + 4, 3);
    auto height = in.little(data + 7, 3);
    if (!width || !height) {
      return std::nullopt;
    }
    return sized(image_format::webp, *width + 1, *height + 1);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(image_format format) {
  switch (format) {
    case image_format::png:
      return "png";
    case image_format::jpeg:
      return "jpeg";
    case image_format::webp:
      return "webp";
  }
  return "unknown";
}

std::optional<image_info> probe_image(std::string_view bytes) {
  const reader in(bytes);
  if (auto png = probe_png(in)) {
    return png;
  }
  if (auto jpeg = probe_jpeg(in)) {
    return jpeg;
  }
  return probe_webp(in);
}

}  // namespace zbatch::client
