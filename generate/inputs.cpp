#include "generate/inputs.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "protocol/size.hpp"

namespace zbatch::generate {
namespace {

using nlohmann::json;

const std::vector<std::string>& batch_fields() {
  static const std::vector<std::string> fields{"prompt", "negative_prompt", "size",
                                               "aspect", "base_size",       "seed",
                                               "count",  "steps",           "guidance"};
  return fields;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

/// FNV-1a: a seed that depends only on the line's prompt and number, so reruns agree.
std::int64_t derived_seed(const std::string& prompt, std::size_t line) {
  std::uint64_t hash = 1469598103934665603ULL;
  const auto text = prompt + "\n" + std::to_string(line);
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return static_cast<std::int64_t>(hash % 2000000000ULL);
}

struct line_reader {
  std::string where;  ///< "file:line"
  const json& item;

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw input_error(where + ": \"" + field + "\": " + message);
  }

  std::optional<std::int64_t> integer(const std::string& field, std::int64_t low,
                                      std::int64_t high) const {
    if (!item.contains(field)) {
      return std::nullopt;
    }
    const auto& value = item[field];
    if (!value.is_number_integer()) {
      fail(field, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high) +
                      " (got " + value.dump() + ")");
    }
    const auto number = value.get<std::int64_t>();
    if (number < low || number > high) {
      fail(field, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high) +
                      " (got " + value.dump() + ")");
    }
    return number;
  }

  std::optional<std::string> text(const std::string& field) const {
    if (!item.contains(field)) {
      return std::nullopt;
    }
    if (!item[field].is_string()) {
      fail(field, "must be a string (got " + item[field].dump() + ")");
    }
    return item[field].get<std::string>();
  }
};

std::vector<image_spec> parse_line(const line_reader& in, const std::string& model,
                                   std::size_t line_number) {
  for (const auto& field : in.item.items()) {
    const auto& allowed = batch_fields();
    if (std::find(allowed.begin(), allowed.end(), field.key()) == allowed.end()) {
      in.fail(field.key(), "unknown field (allowed " + join(allowed) + ")");
    }
  }
  protocol::submit_request request;
  request.model = model;
  auto prompt = in.text("prompt");
  if (!prompt || prompt->empty()) {
    in.fail("prompt", "is required (a non-empty string of fewer than 2000 characters)");
  }
  request.prompt = *prompt;
  request.negative_prompt = in.text("negative_prompt");
  const auto size = in.text("size");
  const auto aspect = in.text("aspect");
  const auto base_size = in.integer("base_size", protocol::min_side, protocol::max_side);
  std::string why;
  if (size && aspect) {
    in.fail("size", "\"size\" and \"aspect\" are mutually exclusive: give one of them");
  }
  if (base_size && !aspect) {
    in.fail("base_size", "needs \"aspect\" (allowed " + join(protocol::aspect_ratios()) + ")");
  }
  if (size) {
    request.size = protocol::parse_size(*size, &why);
    if (!request.size) {
      in.fail("size", why);
    }
  } else if (aspect) {
    request.size = protocol::size_for_aspect(
        *aspect, base_size ? static_cast<int>(*base_size) : protocol::default_base_size, &why);
    if (!request.size) {
      in.fail("aspect", why);
    }
  } else {
    request.size = protocol::image_size{};
  }
  if (auto steps = in.integer("steps", protocol::min_steps, protocol::max_steps)) {
    request.steps = static_cast<int>(*steps);
  }
  if (in.item.contains("guidance")) {
    const auto& value = in.item["guidance"];
    if (!value.is_number()) {
      in.fail("guidance", "must be a number from 1.5 to 20 (got " + value.dump() + ")");
    }
    request.guidance = value.get<double>();
  }
  const int count = static_cast<int>(in.integer("count", 1, max_count).value_or(1));
  const auto seed = in.integer("seed", 0, protocol::max_seed);
  const std::int64_t base = seed ? *seed : derived_seed(request.prompt, line_number);
  if (base + count - 1 > protocol::max_seed) {
    in.fail("seed", "with \"count\" " + std::to_string(count) +
                        " would use seeds above 2147483647 (allowed 0.." +
                        std::to_string(protocol::max_seed - (count - 1)) + " for this count)");
  }
  auto check = request;
  check.seed = base;
  if (auto error = protocol::validate(check)) {
    in.fail(error->field, error->message);
  }
  std::vector<image_spec> out;
  for (int i = 0; i < count; ++i) {
    image_spec image;
    image.line = line_number;
    image.request = request;
    image.request.seed = base + i;
    out.push_back(std::move(image));
  }
  return out;
}

json request_json(const protocol::submit_request& request) {
  json out{{"prompt", request.prompt},
           {"seed", request.seed ? json(*request.seed) : json()},
           {"size", request.size ? json(request.size->to_string()) : json()}};
  if (request.negative_prompt) {
    out["negative_prompt"] = *request.negative_prompt;
  }
  if (request.steps) {
    out["steps"] = *request.steps;
  }
  if (request.guidance) {
    out["guidance"] = *request.guidance;
  }
  return out;
}

}  // namespace

std::vector<image_spec> prompt_images(const protocol::submit_request& request, int count,
                                      std::int64_t base_seed) {
  if (count < 1 || count > max_count) {
    throw input_error("--count must be an integer from 1 to " + std::to_string(max_count));
  }
  if (base_seed < 0 || base_seed + count - 1 > protocol::max_seed) {
    throw input_error("--seed " + std::to_string(base_seed) + " with --count " +
                      std::to_string(count) +
                      " would use seeds above 2147483647 (allowed --seed 0.." +
                      std::to_string(protocol::max_seed - (count - 1)) + " for this count)");
  }
  std::vector<image_spec> out;
  for (int i = 0; i < count; ++i) {
    image_spec image;
    image.index = static_cast<std::size_t>(i);
    image.request = request;
    image.request.seed = base_seed + i;
    out.push_back(std::move(image));
  }
  return out;
}

std::vector<image_spec> batch_file_images(const std::filesystem::path& file,
                                          const std::string& model) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw input_error("--batch " + file.string() + ": cannot be read (no such file?)");
  }
  std::vector<image_spec> out;
  std::string text;
  std::size_t line_number = 0;
  while (std::getline(in, text)) {
    ++line_number;
    if (!text.empty() && text.back() == '\r') {
      text.pop_back();
    }
    if (text.find_first_not_of(" \t") == std::string::npos) {
      continue;
    }
    const auto where = file.string() + ":" + std::to_string(line_number);
    const auto item = json::parse(text, nullptr, false);
    if (item.is_discarded() || !item.is_object()) {
      throw input_error(where +
                        ": not a JSON object (one object per line, e.g. "
                        "{\"prompt\": \"a red fox\", \"count\": 2})");
    }
    auto images = parse_line(line_reader{where, item}, model, line_number);
    for (auto& image : images) {
      image.index = out.size();
      out.push_back(std::move(image));
      if (out.size() > max_images) {
        throw input_error(where + ": the batch holds more than " + std::to_string(max_images) +
                          " images (allowed 1.." + std::to_string(max_images) + ")");
      }
    }
  }
  if (out.empty()) {
    throw input_error("--batch " + file.string() + ": holds no image (one JSON object per line)");
  }
  return out;
}

json options_json(const std::vector<image_spec>& images, bool from_batch_file, int count) {
  if (images.empty()) {
    return json::object();
  }
  const auto& first = images.front().request;
  if (!from_batch_file) {
    auto out = request_json(first);
    out["mode"] = "prompt";
    out["model"] = first.model;
    out["count"] = count;
    return out;
  }
  json per_image = json::object();
  for (const auto& image : images) {
    per_image[std::to_string(image.index)] = request_json(image.request);
  }
  return json{{"mode", "batch"}, {"model", first.model}, {"images", per_image}};
}

std::optional<json> journal_options(const std::filesystem::path& dir) {
  std::ifstream in(dir / "journal.jsonl", std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::nullopt;
  }
  const auto header = json::parse(line, nullptr, false);
  if (header.is_discarded() || !header.is_object() || header.value("event", "") != "header" ||
      !header.contains("options")) {
    return std::nullopt;
  }
  return header["options"];
}

std::string image_extension(std::string_view bytes) {
  if (bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return "png";
  }
  if (bytes.substr(0, 3) == "\xff\xd8\xff") {
    return "jpg";
  }
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") {
    return "webp";
  }
  return "bin";
}

std::string image_file_name(const image_spec& image, std::string_view extension) {
  return std::to_string(image.index) + "-" + std::to_string(image.request.seed.value_or(0)) + "." +
         std::string(extension);
}

}  // namespace zbatch::generate
