#include "protocol/models.hpp"

#include <algorithm>
#include <cmath>

namespace zbatch::protocol {
namespace {

/// "About 200-250 credits a day free, so about 125 images a day" (protocol doc, "Rate limits
/// and cost"): 2 credits a task. The doc gives "0.5-2 by model tier" without naming tiers, so
/// every default model costs the top figure.
constexpr double default_cost = 2;

/// The doc measured no model but Z-Image-Turbo; "other models on this service took 15-60 s per
/// task". The others get 30 s for 1024x1024 (inside that range), scaled by pixels.
const std::vector<latency_point> unmeasured_latency{{1024, 30000}};

model_rules z_image_turbo() {
  model_rules m;
  m.id = std::string(default_model);
  m.min_side = min_side;  // "Flow": each side 512..2048
  m.max_side = max_side;
  // The doc names no LoRA or edit input for this model.
  m.cost = default_cost;
  // "Measured generation times" (one public log): 512² 1.7 s, 1024² 5.8 s, 1440² 12 s.
  m.latency = {{512, 1700}, {1024, 5800}, {1440, 12000}};
  return m;
}

model_rules qwen_image() {
  model_rules m;
  m.id = "Qwen/Qwen-Image";
  m.min_side = 64;  // "Other models and fields": sides 64..1664
  m.max_side = 1664;
  // The doc says which shapes `loras` takes, not which models: public clients send it to
  // Qwen-Image, so it is taken here.
  m.loras = true;
  m.cost = default_cost;
  m.latency = unmeasured_latency;
  return m;
}

model_rules flux2_dev() {
  model_rules m;
  // The doc names "FLUX.2-dev" without its owner; black-forest-labs publishes it.
  m.id = "black-forest-labs/FLUX.2-dev";
  m.min_side = 64;  // "FLUX models (64..1024)"
  m.max_side = 1024;
  m.loras = true;  // as for Qwen-Image: the doc does not restrict `loras` to some models
  m.image_url = image_url_kind::list;  // "FLUX.2-dev takes a list"
  // No figure for the list's length in the doc: 4 reference images is this catalogue's choice.
  m.max_image_urls = 4;
  m.cost = default_cost;
  m.latency = unmeasured_latency;
  return m;
}

model_rules qwen_image_edit() {
  model_rules m;
  m.id = "Qwen/Qwen-Image-Edit";
  // The doc gives no size range for the edit model: Qwen-Image's 64..1664 (its base model).
  m.min_side = 64;
  m.max_side = 1664;
  m.image_url = image_url_kind::string;  // "Qwen-Image-Edit ... (edit: `image_url`, a string)"
  m.image_url_required = true;           // an edit needs the image it edits
  m.cost = default_cost;
  m.latency = unmeasured_latency;
  return m;
}

std::optional<field_error> check_image_url(const submit_request& request,
                                           const model_rules& rules) {
  if (!request.image_url) {
    if (rules.image_url_required) {
      return field_error{
          "image_url", "image_url is required for " + rules.id + " (allowed " +
                           (rules.image_url == image_url_kind::list ? std::string("a list of URLs")
                                                                    : std::string("a URL string")) +
                           ")"};
    }
    return std::nullopt;
  }
  const auto& value = *request.image_url;
  switch (rules.image_url) {
    case image_url_kind::none:
      return field_error{
          "image_url", "image_url is not taken by " + rules.id + " (allowed only for edit models)"};
    case image_url_kind::string:
      if (value.list) {
        return field_error{"image_url", "image_url must be a URL string for " + rules.id +
                                            " (a list is allowed only for list models)"};
      }
      return std::nullopt;
    case image_url_kind::list:
      if (value.urls.size() > static_cast<std::size_t>(rules.max_image_urls)) {
        return field_error{"image_url", "image_url holds " + std::to_string(value.urls.size()) +
                                            " URLs for " + rules.id + " (allowed 1.." +
                                            std::to_string(rules.max_image_urls) + ")"};
      }
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(image_url_kind kind) {
  return image_url_kind_names()[static_cast<std::size_t>(kind)];
}

const std::vector<std::string>& image_url_kind_names() {
  static const std::vector<std::string> names{"none", "string", "list"};
  return names;
}

const model_catalogue& default_catalogue() {
  static const model_catalogue catalogue{z_image_turbo(), qwen_image(), flux2_dev(),
                                         qwen_image_edit()};
  return catalogue;
}

const model_rules* find_model(const model_catalogue& catalogue, std::string_view id) {
  auto it = std::find_if(catalogue.begin(), catalogue.end(),
                         [id](const model_rules& m) { return m.id == id; });
  return it == catalogue.end() ? nullptr : &*it;
}

std::string model_ids(const model_catalogue& catalogue) {
  std::string out;
  for (const auto& m : catalogue) {
    out += (out.empty() ? "" : ", ") + m.id;
  }
  return out;
}

std::optional<field_error> check_for_model(const submit_request& request,
                                           const model_rules& rules) {
  if (request.size) {
    if (auto why = check_size(*request.size, rules.min_side, rules.max_side, rules.id);
        !why.empty()) {
      return field_error{"size", "size " + request.size->to_string() + ": " + why};
    }
  }
  if (request.loras && !rules.loras) {
    return field_error{"loras", "loras is not taken by " + rules.id};
  }
  return check_image_url(request, rules);
}

std::optional<field_error> validate(const submit_request& request, const model_rules& rules) {
  if (auto error = validate_fields(request)) {
    return error;
  }
  return check_for_model(request, rules);
}

double generation_ms(const model_rules& rules, const image_size& size) {
  const auto& points = rules.latency;
  if (points.empty()) {
    return 0;
  }
  const double pixels = static_cast<double>(size.width) * size.height;
  auto pixels_of = [](const latency_point& p) { return static_cast<double>(p.side) * p.side; };
  if (points.size() == 1) {
    return points.front().ms * pixels / pixels_of(points.front());
  }
  // The segment that holds `pixels`, or the nearest end segment.
  std::size_t i = 1;
  while (i + 1 < points.size() && pixels > pixels_of(points[i])) {
    ++i;
  }
  const auto& a = points[i - 1];
  const auto& b = points[i];
  const double slope = std::log(b.ms / a.ms) / std::log(pixels_of(b) / pixels_of(a));
  return a.ms * std::pow(pixels / pixels_of(a), slope);
}

}  // namespace zbatch::protocol
