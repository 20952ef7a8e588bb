#include "generate/inputs.hpp"

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include "base/json_reader.hpp"
#include "base/rng.hpp"
#include "protocol/messages.hpp"
#include "protocol/models.hpp"
#include "protocol/size.hpp"

namespace zbatch::generate {
namespace {

using nlohmann::json;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

/// A seed that depends only on the line's prompt and number, so reruns agree. The FNV offset
/// basis here lacks the reference value's last digit; batches journaled with it resume only
/// with the same seeds, so it stays.
std::int64_t derived_seed(const std::string& prompt, std::size_t line) {
  const auto hash = base::fnv1a(prompt + "\n" + std::to_string(line), 1469598103934665603ULL);
  return static_cast<std::int64_t>(hash % 2000000000ULL);
}

/// The side range sizes of `model` must fall in: its catalogue entry's, or for a model the
/// client does not know (the service decides), any positive side up to the widest known.
std::pair<int, int> side_range(const protocol::model_rules* rules) {
  if (rules != nullptr) {
    return {rules->min_side, rules->max_side};
  }
  int widest = protocol::max_side;
  for (const auto& m : protocol::default_catalogue()) {
    widest = std::max(widest, m.max_side);
  }
  return {1, widest};
}

/// "size" or "aspect" (with "base_size") of a line, within the model's side range; 1024x1024
/// when neither is given.
protocol::image_size read_size(base::json_reader& in, const std::string& model) {
  auto size = in.field("size");
  auto aspect = in.field("aspect");
  auto base_size = in.field("base_size");
  if (size.present() && aspect.present()) {
    size.fail("\"size\" and \"aspect\" are mutually exclusive: give one of them");
  }
  if (base_size.present() && !aspect.present()) {
    base_size.fail("needs \"aspect\" (allowed " + join(protocol::aspect_ratios()) + ")");
  }
  const auto* rules = protocol::find_model(protocol::default_catalogue(), model);
  const auto [low, high] = side_range(rules);
  const std::string model_name = rules != nullptr ? model : std::string();
  std::string why;
  std::optional<protocol::image_size> out = protocol::image_size{};
  if (size.present()) {
    out = protocol::parse_size_form(size.string_or_empty(), &why, low, high, model_name);
    if (out) {
      if (auto range = protocol::check_size(*out, low, high, model_name); !range.empty()) {
        size.fail("size \"" + size.string_or_empty() + "\": " + range);
      }
    }
  } else if (aspect.present()) {
    const auto side =
        base_size.present() ? base_size.integer(low, high) : protocol::default_base_size;
    out = protocol::size_for_aspect(aspect.string_or_empty(), static_cast<int>(side), &why, low,
                                    high, model_name);
  }
  if (!out) {
    (size.present() ? size : aspect).fail(why);
  }
  return *out;
}

/// "loras": a LoRA model id, or an object of ids to weights (checked by protocol::validate).
std::optional<protocol::lora_set> read_loras(base::json_reader& in) {
  auto value = in.field("loras");
  if (!value.present()) {
    return std::nullopt;
  }
  protocol::lora_set out;
  if (value.node().is_string()) {
    out.single = true;
    out.weights.emplace_back(value.string(), 1.0);
    return out;
  }
  if (!value.node().is_object()) {
    value.fail_expected(
        "a LoRA model id or an object of ids to weights summing to 1, e.g. "
        "{\"a/lora\": 0.6, \"b/lora\": 0.4}");
  }
  for (const auto& item : value.node().items()) {
    out.weights.emplace_back(item.key(), value.field(item.key()).number(0, 1));
  }
  return out;
}

/// "image_url": a URL, or a list of URLs (for the models that take a list).
std::optional<protocol::image_url_value> read_image_url(base::json_reader& in) {
  auto value = in.field("image_url");
  if (!value.present()) {
    return std::nullopt;
  }
  protocol::image_url_value out;
  if (value.node().is_array()) {
    out.list = true;
    const auto size = value.array("URLs of the images to edit", true);
    for (std::size_t i = 0; i < size; ++i) {
      out.urls.push_back(value.element(i).string());
    }
  } else {
    out.urls.push_back(value.string());
  }
  return out;
}

std::vector<image_spec> parse_line(base::json_reader& in, const std::string& model,
                                   std::size_t line_number) {
  in.expect_fields({"prompt", "negative_prompt", "size", "aspect", "base_size", "seed", "count",
                    "steps", "guidance", "model", "loras", "image_url"});
  protocol::submit_request request;
  request.model = in.has("model") ? in.field("model").string() : model;
  const auto prompt = in.field("prompt");
  request.prompt = prompt.string();
  if (!request.prompt.empty() && protocol::is_blank(request.prompt)) {
    prompt.fail("holds only whitespace (give the text of the image)");
  }
  if (const auto negative = in.field("negative_prompt"); negative.present()) {
    request.negative_prompt = negative.string_or_empty();
  }
  request.size = read_size(in, request.model);
  request.loras = read_loras(in);
  request.image_url = read_image_url(in);
  if (const auto steps = in.field("steps"); steps.present()) {
    request.steps = static_cast<int>(steps.integer(protocol::min_steps, protocol::max_steps));
  }
  if (const auto guidance = in.field("guidance"); guidance.present()) {
    request.guidance = guidance.number(protocol::min_guidance, protocol::max_guidance);
  }
  int count = 1;
  in.read("count", count, 1, max_count);
  const auto seed = in.field("seed");
  const std::int64_t base = seed.present() ? seed.integer(0, protocol::max_seed)
                                           : derived_seed(request.prompt, line_number);
  if (base + count - 1 > protocol::max_seed) {
    seed.fail("with \"count\" " + std::to_string(count) +
              " would use seeds above 2147483647 (allowed 0.." +
              std::to_string(protocol::max_seed - (count - 1)) + " for this count)");
  }
  auto check = request;
  check.seed = base;
  if (auto error = protocol::validate(check)) {
    in.field(error->field).fail(error->message);
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

/// One image's request in the journal's options. `model` only when it is not the batch's
/// (`batch_model`), so batches of one model keep the options their journals were started with.
json request_json(const protocol::submit_request& request, const std::string& batch_model) {
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
  if (request.model != batch_model) {
    out["model"] = request.model;
  }
  if (request.loras) {
    out["loras"] = protocol::to_json(*request.loras);
  }
  if (request.image_url) {
    out["image_url"] = protocol::to_json(*request.image_url);
  }
  return out;
}

}  // namespace

result<std::vector<image_spec>> prompt_images(const protocol::submit_request& request, int count,
                                              std::int64_t base_seed) {
  if (count < 1 || count > max_count) {
    return invalid_argument_error("--count must be an integer from 1 to " +
                                  std::to_string(max_count));
  }
  if (base_seed < 0 || base_seed + count - 1 > protocol::max_seed) {
    return invalid_argument_error(
        "--seed " + std::to_string(base_seed) + " with --count " + std::to_string(count) +
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

result<std::vector<image_spec>> batch_file_images(const std::filesystem::path& file,
                                                  const std::string& model) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    return invalid_argument_error("--batch " + file.string() +
                                  " is a directory (give a JSON-lines file, one image request "
                                  "per line)");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return not_found_error("--batch " + file.string() + ": cannot be read (no such file?)");
  }
  std::vector<image_spec> out;
  // Each image's request body to the line that first asked for it: a second line asking for the
  // same body would pay for the same picture again (a new user's check: two equal lines, two
  // paid tasks, not a word).
  std::unordered_map<std::string, std::size_t> first_line_of;
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
    const std::string example =
        "(one object per line, e.g. {\"prompt\": \"a red fox\", \"count\": 2})";
    auto parsed = base::parse_json_line(text, file.string(), line_number);
    if (!parsed.ok()) {
      // The example helps a line that is not an object at all, not a mistake inside one.
      const bool object = text[text.find_first_not_of(" \t")] == '{';
      return invalid_argument_error(parsed.status().message() + (object ? "" : " " + example));
    }
    const json item = std::move(*parsed);
    if (!item.is_object()) {
      return invalid_argument_error(where + ": not a JSON object " + example);
    }
    // The line's reader raises at its first mistake; capture returns it.
    auto images = capture([&] {
      base::json_reader line(item, where);
      return parse_line(line, model, line_number);
    });
    if (!images.ok()) {
      return images.status();
    }
    for (auto& image : *images) {
      const auto [first, inserted] =
          first_line_of.emplace(protocol::to_json(image.request).dump(), line_number);
      if (!inserted) {
        return invalid_argument_error(
            where + ": the same image as line " + std::to_string(first->second) +
            " (same prompt, seed " + std::to_string(image.request.seed.value_or(0)) +
            ", size and model): it would be paid twice for one picture; remove it or give it "
            "another seed");
      }
      image.index = out.size();
      out.push_back(std::move(image));
      if (out.size() > max_images) {
        return invalid_argument_error(where + ": the batch holds more than " +
                                      std::to_string(max_images) + " images (allowed 1.." +
                                      std::to_string(max_images) + ")");
      }
    }
  }
  if (out.empty()) {
    return invalid_argument_error("--batch " + file.string() +
                                  ": holds no image (one JSON object per line)");
  }
  return out;
}

json options_json(const std::vector<image_spec>& images, bool from_batch_file, int count) {
  if (images.empty()) {
    return json::object();
  }
  const auto& first = images.front().request;
  if (!from_batch_file) {
    auto out = request_json(first, first.model);
    out["mode"] = "prompt";
    out["model"] = first.model;
    out["count"] = count;
    return out;
  }
  json per_image = json::object();
  for (const auto& image : images) {
    per_image[std::to_string(image.index)] = request_json(image.request, first.model);
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
