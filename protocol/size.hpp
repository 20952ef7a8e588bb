#pragma once
/// Image sizes: "WxH" strings, Z-Image-Turbo's per-side limits (other models' limits are in
/// protocol/models.hpp) and the aspect presets.
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

/// Checks both sides against Z-Image-Turbo's limits; an empty string when valid.
std::string check_size(const image_size& size);

/// Reads "WxH" (or "W*H") with any positive sides, leaving the range to the model's rules
/// (models.hpp). On failure returns nullopt and sets `error` to a sentence with the form.
std::optional<image_size> parse_size_form(std::string_view text, std::string* error = nullptr);

/// As above, but a side of 0 or of more than 6 digits is refused with the range a model allows,
/// e.g. `size "0x0": width 0 is out of range for M (allowed 512..2048)` (`model` may be empty).
std::optional<image_size> parse_size_form(std::string_view text, std::string* error, int min_side,
                                          int max_side, std::string_view model);

/// " for MODEL (allowed LOW..HIGH)" (no model: " (allowed LOW..HIGH)"): what error messages
/// append to a side out of range.
std::string allowed_sides(int min_side, int max_side, std::string_view model);

/// Checks both sides against `min_side..max_side`; an empty string when valid, else e.g.
/// "width 2048 is out of range for Qwen/Qwen-Image (allowed 64..1664)" (`model` may be empty).
std::string check_size(const image_size& size, int min_side, int max_side, std::string_view model);

/// The supported aspect ratios, in the order the CLI lists them: "1:1", "9:16", "16:9".
const std::vector<std::string>& aspect_ratios();

/// The size for an aspect ratio at a base size (long side = base). Fails, naming the allowed
/// values, for an unknown ratio or when a side falls outside `low..high` (default
/// Z-Image-Turbo's 512..2048; `model` names the model whose range it is).
std::optional<image_size> size_for_aspect(std::string_view ratio, int base_size,
                                          std::string* error = nullptr, int low = min_side,
                                          int high = max_side, std::string_view model = {});

}  // namespace zbatch::protocol
