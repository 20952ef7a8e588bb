#include "protocol/size.hpp"

#include <algorithm>
#include <cctype>

namespace zbatch::protocol {
namespace {

std::optional<int> parse_positive(std::string_view digits) {
  if (digits.empty() || digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return std::nullopt;
  }
  return std::stoi(std::string(digits));
}

template <class T>
std::optional<T> fail(std::string* error, std::string why) {
  if (error != nullptr) {
    *error = std::move(why);
  }
  return std::nullopt;
}

std::optional<image_size> parse_digits(std::string_view text, std::string* error);

}  // namespace

std::string allowed_sides(int low, int high, std::string_view model) {
  return (model.empty() ? "" : " for " + std::string(model)) + " (allowed " + std::to_string(low) +
         ".." + std::to_string(high) + ")";
}

std::string image_size::to_string() const {
  return std::to_string(width) + "x" + std::to_string(height);
}

std::string check_size(const image_size& size) { return check_size(size, min_side, max_side, {}); }

std::string check_size(const image_size& size, int low, int high, std::string_view model) {
  const auto range = " is out of range" + allowed_sides(low, high, model);
  if (size.width < low || size.width > high) {
    return "width " + std::to_string(size.width) + range;
  }
  if (size.height < low || size.height > high) {
    return "height " + std::to_string(size.height) + range;
  }
  return {};
}

std::optional<image_size> parse_size(std::string_view text, std::string* error) {
  auto size = parse_digits(text, error);
  if (!size) {
    return size;
  }
  if (auto why = check_size(*size); !why.empty()) {
    return fail<image_size>(error, "size \"" + std::string(text) + "\": " + why);
  }
  return size;
}

std::optional<image_size> parse_size_form(std::string_view text, std::string* error) {
  auto size = parse_digits(text, error);
  if (size && (size->width < 1 || size->height < 1)) {
    return fail<image_size>(error, "size \"" + std::string(text) + "\" has a side of 0 pixels");
  }
  return size;
}

std::optional<image_size> parse_size_form(std::string_view text, std::string* error, int low,
                                          int high, std::string_view model) {
  const auto sep = text.find_first_of("xX*");
  if (sep != std::string_view::npos) {
    // Sides of the right form but no size at all (0, or more digits than any model allows):
    // the range, not the form, is what the user needs to read.
    const std::string_view sides[] = {text.substr(0, sep), text.substr(sep + 1)};
    const char* names[] = {"width", "height"};
    for (int i = 0; i < 2; ++i) {
      const auto side = sides[i];
      const bool digits = !side.empty() && std::all_of(side.begin(), side.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
      const bool zero = digits && side.find_first_not_of('0') == std::string_view::npos;
      if (digits && (zero || side.size() > 6)) {
        return fail<image_size>(error, "size \"" + std::string(text) + "\": " + names[i] + " " +
                                           std::string(side) + " is out of range" +
                                           allowed_sides(low, high, model));
      }
    }
  }
  return parse_size_form(text, error);
}

namespace {
/// "WxH" with decimal sides (0 included): the form both parsers share.
std::optional<image_size> parse_digits(std::string_view text, std::string* error) {
  const auto sep = text.find_first_of("xX*");
  if (sep == std::string_view::npos) {
    return fail<image_size>(error, "size \"" + std::string(text) +
                                       "\" is not of the form WIDTHxHEIGHT, e.g. 1024x1024");
  }
  const auto width = parse_positive(text.substr(0, sep));
  const auto height = parse_positive(text.substr(sep + 1));
  if (!width || !height) {
    return fail<image_size>(error, "size \"" + std::string(text) +
                                       "\" is not of the form WIDTHxHEIGHT, e.g. 1024x1024");
  }
  return image_size{*width, *height};
}
}  // namespace

const std::vector<std::string>& aspect_ratios() {
  static const std::vector<std::string> ratios{"1:1", "9:16", "16:9"};
  return ratios;
}

std::optional<image_size> size_for_aspect(std::string_view ratio, int base_size, std::string* error,
                                          int low, int high, std::string_view model) {
  int ratio_w = 0;
  int ratio_h = 0;
  if (ratio == "1:1") {
    ratio_w = ratio_h = 1;
  } else if (ratio == "9:16") {
    ratio_w = 9;
    ratio_h = 16;
  } else if (ratio == "16:9") {
    ratio_w = 16;
    ratio_h = 9;
  } else {
    return fail<image_size>(
        error, "aspect \"" + std::string(ratio) + "\" is not supported (allowed 1:1, 9:16, 16:9)");
  }
  image_size size;
  if (ratio_w >= ratio_h) {
    size.width = base_size;
    size.height = base_size * ratio_h / ratio_w;
  } else {
    size.height = base_size;
    size.width = base_size * ratio_w / ratio_h;
  }
  if (auto why = check_size(size, low, high, model); !why.empty()) {
    return fail<image_size>(error, "aspect " + std::string(ratio) + " at base size " +
                                       std::to_string(base_size) + " gives " + size.to_string() +
                                       ": " + why);
  }
  return size;
}

}  // namespace zbatch::protocol
