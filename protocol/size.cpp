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

}  // namespace

std::string image_size::to_string() const {
  return std::to_string(width) + "x" + std::to_string(height);
}

std::string check_size(const image_size& size) {
  const auto limits = std::to_string(min_side) + ".." + std::to_string(max_side);
  if (size.width < min_side || size.width > max_side) {
    return "width " + std::to_string(size.width) + " is out of range (allowed " + limits + ")";
  }
  if (size.height < min_side || size.height > max_side) {
    return "height " + std::to_string(size.height) + " is out of range (allowed " + limits + ")";
  }
  return {};
}

std::optional<image_size> parse_size(std::string_view text, std::string* error) {
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
  image_size size{*width, *height};
  if (auto why = check_size(size); !why.empty()) {
    return fail<image_size>(error, "size \"" + std::string(text) + "\": " + why);
  }
  return size;
}

const std::vector<std::string>& aspect_ratios() {
  static const std::vector<std::string> ratios{"1:1", "9:16", "16:9"};
  return ratios;
}

std::optional<image_size> size_for_aspect(std::string_view ratio, int base_size,
                                          std::string* error) {
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
  if (auto why = check_size(size); !why.empty()) {
    return fail<image_size>(error, "aspect " + std::string(ratio) + " at base size " +
                                       std::to_string(base_size) + " gives " + size.to_string() +
                                       ": " + why);
  }
  return size;
}

}  // namespace zbatch::protocol
