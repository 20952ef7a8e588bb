#pragma once
/// Image sizes for Z-Image-Turbo: "WxH" strings, the per-side limits and the aspect presets.
///
/// The aspect presets follow the reviewed client (Z-StudioArt): the long side equals the base
/// size and the short side is base × ratio, truncated. Pure functions.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zbatch::protocol {

inline constexpr int min_side = 512;   ///< Z-Image-Turbo's smallest width or height.
inline constexpr int max_side = 2048;  ///< Z-Image-Turbo's largest width or height.
inline constexpr int default_base_size = 1024;

struct image_size {
  int width = default_base_size;
  int height = default_base_size;
  std::string to_string() const;  ///< "1024x576"
  friend bool operator==(const image_size& a, const image_size& b) {
    return a.width == b.width && a.height == b.height;
  }
};

/// Parses "WxH" (also "W*H", as some clients send) and checks 512..2048 per side. On failure
/// returns nullopt and sets `error` to a sentence naming what was wrong and what is allowed.
std::optional<image_size> parse_size(std::string_view text, std::string* error = nullptr);

/// Checks both sides against the model's limits; an empty string when valid.
std::string check_size(const image_size& size);

/// The supported aspect ratios, in the order the CLI lists them: "1:1", "9:16", "16:9".
const std::vector<std::string>& aspect_ratios();

/// The size for an aspect ratio at a base size (long side = base). Fails, naming the allowed
/// values, for an unknown ratio or when a side falls outside 512..2048.
std::optional<image_size> size_for_aspect(std::string_view ratio, int base_size,
                                          std::string* error = nullptr);

}  // namespace zbatch::protocol
