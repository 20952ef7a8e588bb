#include "protocol/messages.hpp"

#include <array>
#include <cmath>

#include "protocol/json_scan.hpp"
#include "protocol/messages_detail.hpp"
#include "protocol/models.hpp"

namespace zbatch::protocol {
namespace {

using nlohmann::json;

field_error out_of_range(std::string field, const std::string& allowed) {
  return {field, field + " is out of range (allowed " + allowed + ")"};
}

/// A number with six decimals at most and no trailing zeros ("1.5", "20", "0.95").
std::string short_number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') {
    s.pop_back();
  }
  return s;
}

std::string format_range(double low, double high) {
  return short_number(low) + ".." + short_number(high);
}

}  // namespace

namespace texts {
std::string dynamic_rate_limit(std::string_view model) {
  return "We have to rate limit you for model " + std::string(model) +
         ". Please try again later or reduce your request rate.";
}
std::string no_provider(std::string_view model) {
  return "Model id : " + std::string(model) + " , has no provider supported";
}

std::string daily_quota(std::string_view model) {
  return "You have exceeded today's quota for model " + std::string(model) +
         ", please try again tomorrow";
}
}  // namespace texts

std::size_t utf8_length(std::string_view text) {
  std::size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++count;
    }
  }
  return count;
}

namespace {

/// The code point starting at `text[i]` (UTF-8; a malformed byte reads as itself) and its length.
std::pair<char32_t, std::size_t> decode_utf8(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  const std::size_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (length == 1 || i + length > text.size()) {
    return {lead, 1};
  }
  char32_t code = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    code = (code << 6) | (byte(k) & 0x3F);
  }
  return {code, length};
}

bool shows_nothing(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200D) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x2060 || c == 0x3000 || c == 0xFEFF;
}

}  // namespace

bool is_blank(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto [code, length] = decode_utf8(text, i);
    if (!shows_nothing(code)) {
      return false;
    }
    i += length;
  }
  return true;
}

json to_json(const submit_request& request) {
  json body{{"model", request.model}, {"prompt", request.prompt}};
  if (request.negative_prompt) {
    body["negative_prompt"] = *request.negative_prompt;
  }
  if (request.size) {
    body["size"] = request.size->to_string();
  }
  if (request.seed) {
    body["seed"] = *request.seed;
  }
  if (request.steps) {
    body["steps"] = *request.steps;
  }
  if (request.guidance) {
    body["guidance"] = *request.guidance;
  }
  if (request.loras) {
    body["loras"] = to_json(*request.loras);
  }
  if (request.image_url) {
    body["image_url"] = to_json(*request.image_url);
  }
  return body;
}

json to_json(const lora_set& loras) {
  if (loras.single && loras.weights.size() == 1) {
    return loras.weights.front().first;
  }
  json out = json::object();
  for (const auto& [id, weight] : loras.weights) {
    out[id] = weight;
  }
  return out;
}

json to_json(const image_url_value& image_url) {
  if (image_url.list) {
    return image_url.urls;
  }
  return image_url.urls.empty() ? std::string() : image_url.urls.front();
}

namespace {

/// The rule the protocol doc gives for `loras`: one id, or up to 6 ids whose weights sum to 1.0.
std::optional<field_error> check_loras(const lora_set& loras) {
  if (loras.weights.empty() || loras.weights.size() > max_loras) {
    return field_error{"loras", "loras names " + std::to_string(loras.weights.size()) +
                                    " LoRAs (allowed 1.." + std::to_string(max_loras) + ")"};
  }
  double sum = 0;
  for (const auto& [id, weight] : loras.weights) {
    if (id.empty()) {
      return field_error{"loras", "loras has an empty LoRA id (allowed a model id)"};
    }
    if (!std::isfinite(weight) || weight <= 0 || weight > 1) {
      return field_error{"loras", "loras weight of " + id + " is out of range (allowed 0..1)"};
    }
    sum += weight;
  }
  if (std::fabs(sum - 1.0) > 1e-6) {
    return field_error{"loras",
                       "loras weights sum to " + short_number(sum) + " (allowed a sum of 1.0)"};
  }
  return std::nullopt;
}

std::optional<field_error> check_image_urls(const image_url_value& image_url) {
  if (image_url.urls.empty()) {
    return field_error{"image_url", "image_url is empty (allowed a URL or a list of URLs)"};
  }
  for (const auto& url : image_url.urls) {
    if (url.empty()) {
      return field_error{"image_url", "image_url holds an empty URL (allowed http(s) URLs)"};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<field_error> validate(const submit_request& request) {
  if (auto error = validate_fields(request)) {
    return error;
  }
  if (const auto* rules = find_model(default_catalogue(), request.model)) {
    return check_for_model(request, *rules);
  }
  return std::nullopt;
}

std::optional<field_error> validate_fields(const submit_request& request) {
  if (request.model.empty()) {
    return field_error{"model", "model is required"};
  }
  if (request.prompt.empty()) {
    return field_error{"prompt", "prompt is required"};
  }
  if (utf8_length(request.prompt) > max_prompt_chars) {
    return field_error{"prompt", "prompt is too long (" +
                                     std::to_string(utf8_length(request.prompt)) +
                                     " characters; allowed fewer than 2000)"};
  }
  if (request.negative_prompt && utf8_length(*request.negative_prompt) > max_prompt_chars) {
    return field_error{"negative_prompt", "negative_prompt is too long (allowed fewer than 2000)"};
  }
  if (request.size && (request.size->width < 1 || request.size->height < 1)) {
    return field_error{"size", "size " + request.size->to_string() + " has a side of 0 pixels"};
  }
  if (request.seed && (*request.seed < 0 || *request.seed > max_seed)) {
    return out_of_range("seed", "0..2147483647");
  }
  if (request.steps && (*request.steps < min_steps || *request.steps > max_steps)) {
    return out_of_range("steps", "1..100");
  }
  if (request.guidance && (!std::isfinite(*request.guidance) || *request.guidance < min_guidance ||
                           *request.guidance > max_guidance)) {
    return out_of_range("guidance", format_range(min_guidance, max_guidance));
  }
  if (request.loras) {
    if (auto error = check_loras(*request.loras)) {
      return error;
    }
  }
  if (request.image_url) {
    return check_image_urls(*request.image_url);
  }
  return std::nullopt;
}

namespace {

/// One member of a submit body, as either reader sees it (`text` points into the parsed body).
struct body_field {
  enum class type { absent, string, integer, number, other };  ///< absent: missing or null
  type kind = type::absent;
  std::string_view text;
  std::int64_t integer = 0;
  double number = 0;
};

/// The submit body's rules, once for both readers: `field(name)` gives each member.
template <class Field>
std::variant<submit_request, field_error> read_submit_body(Field field) {
  using type = body_field::type;
  submit_request request;
  request.model.clear();
  auto string_field = [&](const char* name,
                          std::optional<std::string>& out) -> std::optional<field_error> {
    const auto member = field(name);
    if (member.kind == type::absent) {
      return std::nullopt;
    }
    if (member.kind != type::string) {
      return field_error{name, std::string(name) + " must be a string"};
    }
    out = std::string(member.text);
    return std::nullopt;
  };
  std::optional<std::string> model;
  std::optional<std::string> prompt;
  std::optional<std::string> size_text;
  if (auto e = string_field("model", model)) {
    return *e;
  }
  if (auto e = string_field("prompt", prompt)) {
    return *e;
  }
  if (auto e = string_field("negative_prompt", request.negative_prompt)) {
    return *e;
  }
  if (auto e = string_field("size", size_text)) {
    return *e;
  }
  request.model = model.value_or("");
  request.prompt = prompt.value_or("");
  if (size_text) {
    std::string why;
    auto size = parse_size_form(*size_text, &why);
    if (!size) {
      return field_error{"size", why};
    }
    request.size = *size;
  }
  if (const auto seed = field("seed"); seed.kind != type::absent) {
    if (seed.kind != type::integer) {
      return field_error{"seed", "seed must be an integer (allowed 0..2147483647)"};
    }
    request.seed = seed.integer;
  }
  if (const auto steps = field("steps"); steps.kind != type::absent) {
    if (steps.kind != type::integer) {
      return field_error{"steps", "steps must be an integer (allowed 1..100)"};
    }
    if (steps.integer < min_steps || steps.integer > max_steps) {
      return out_of_range("steps", "1..100");
    }
    request.steps = static_cast<int>(steps.integer);
  }
  if (const auto guidance = field("guidance"); guidance.kind != type::absent) {
    if (guidance.kind == type::integer) {
      request.guidance = static_cast<double>(guidance.integer);  // as nlohmann's get<double>()
    } else if (guidance.kind == type::number) {
      request.guidance = guidance.number;
    } else {
      return field_error{"guidance", "guidance must be a number (allowed 1.5..20)"};
    }
  }
  if (auto error = validate_fields(request)) {
    return *error;
  }
  return request;
}

/// `loras` of a submit body: a string, or an object of ids to numbers.
std::optional<field_error> read_loras(const json& value, submit_request& request) {
  const auto shape = "loras must be a LoRA model id or an object of ids to weights";
  lora_set loras;
  if (value.is_string()) {
    loras.single = true;
    loras.weights.emplace_back(value.get<std::string>(), 1.0);
  } else if (value.is_object()) {
    for (const auto& [id, weight] : value.items()) {
      if (!weight.is_number()) {
        return field_error{"loras", shape};
      }
      loras.weights.emplace_back(id, weight.get<double>());
    }
  } else {
    return field_error{"loras", shape};
  }
  request.loras = std::move(loras);
  return std::nullopt;
}

/// `image_url` of a submit body: a string or an array of strings.
std::optional<field_error> read_image_url(const json& value, submit_request& request) {
  image_url_value image_url;
  if (value.is_string()) {
    image_url.urls.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    image_url.list = true;
    for (const auto& url : value) {
      if (!url.is_string()) {
        return field_error{"image_url", "image_url must be a URL or a list of URLs"};
      }
      image_url.urls.push_back(url.get<std::string>());
    }
  } else {
    return field_error{"image_url", "image_url must be a URL or a list of URLs"};
  }
  request.image_url = std::move(image_url);
  return std::nullopt;
}

/// Adds a DOM body's `loras` and `image_url` (absent or null: left out) and checks them.
std::variant<submit_request, field_error> with_extras(
    const json& body, std::variant<submit_request, field_error> read) {
  auto* request = std::get_if<submit_request>(&read);
  if (request == nullptr) {
    return read;
  }
  if (auto it = body.find("loras"); it != body.end() && !it->is_null()) {
    if (auto error = read_loras(*it, *request)) {
      return *error;
    }
  }
  if (auto it = body.find("image_url"); it != body.end() && !it->is_null()) {
    if (auto error = read_image_url(*it, *request)) {
      return *error;
    }
  }
  if (auto error = validate_fields(*request)) {
    return *error;
  }
  return read;
}

/// Whether the scanned body holds a member only the DOM reader reads.
bool has_extras(const json_scan::document& doc) {
  for (const char* name : {"loras", "image_url"}) {
    const auto* member = doc.find(doc.root(), name);
    if (member != nullptr && member->type != json_scan::kind::null) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::variant<submit_request, field_error> parse_submit_body(std::string_view body) {
  json_scan::document doc;
  // A real's value (guidance 3.5), `loras` and `image_url` need the DOM.
  if (!doc.parse(body) || doc.has_real() || has_extras(doc)) {
    return detail::parse_submit_body_dom(body);
  }
  // json_scan hands out only strings without escapes, integers, booleans, null and containers.
  return read_submit_body([&](const char* name) {
    body_field out;
    const auto* member = doc.find(doc.root(), name);
    if (member == nullptr || member->type == json_scan::kind::null) {
      return out;
    }
    if (member->is_string()) {
      out.kind = body_field::type::string;
      out.text = member->text();
    } else if (member->is_integer()) {
      out.kind = body_field::type::integer;
      out.integer = member->number;
    } else {
      out.kind = body_field::type::other;
    }
    return out;
  });
}

std::variant<submit_request, field_error> detail::parse_submit_body_dom(std::string_view body) {
  auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return field_error{"body", "request body is not a JSON object"};
  }
  return with_extras(parsed, read_submit_body([&](const char* name) {
                       body_field out;
                       auto it = parsed.find(name);
                       if (it == parsed.end() || it->is_null()) {
                         return out;
                       }
                       if (it->is_string()) {
                         out.kind = body_field::type::string;
                         out.text = it->get_ref<const std::string&>();
                       } else if (it->is_number_integer()) {
                         out.kind = body_field::type::integer;
                         out.integer = it->get<std::int64_t>();
                       } else if (it->is_number()) {
                         out.kind = body_field::type::number;
                         out.number = it->get<double>();
                       } else {
                         out.kind = body_field::type::other;
                       }
                       return out;
                     }));
}

std::string_view to_string(task_status status) {
  switch (status) {
    case task_status::pending:
      return "PENDING";
    case task_status::running:
      return "RUNNING";
    case task_status::processing:
      return "PROCESSING";
    case task_status::succeed:
      return "SUCCEED";
    case task_status::failed:
      return "FAILED";
    case task_status::unknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

task_status task_status_from_string(std::string_view text) {
  static constexpr std::array<task_status, 5> known{task_status::pending, task_status::running,
                                                    task_status::processing, task_status::succeed,
                                                    task_status::failed};
  for (auto status : known) {
    if (to_string(status) == text) {
      return status;
    }
  }
  return task_status::unknown;
}

json to_json(const task_input& input) {
  return json{{"guidanceScale", input.guidance_scale},
              {"height", input.height},
              {"numInferenceSteps", input.num_inference_steps},
              {"sampler", input.sampler},
              {"seed", input.seed},
              {"timeTaken", input.time_taken_ms}};
}

json to_json(const task_state& state) {
  const std::string status =
      state.raw_status.empty() ? std::string(to_string(state.status)) : state.raw_status;
  if (state.status == task_status::failed) {
    // The failed shape carries no task_id, as the service sends it.
    return json{{"request_id", state.request_id},
                {"task_status", status},
                {"errors", {{"code", state.error_code}, {"message", state.error_message}}}};
  }
  if (state.status == task_status::succeed) {
    json body{{"task_id", state.task_id},
              {"request_id", state.request_id},
              {"task_status", status},
              {"output_images", state.output_images}};
    if (state.time_taken_ms) {
      body["time_taken"] = *state.time_taken_ms;
    }
    if (state.input) {
      body["input"] = to_json(*state.input);
    }
    return body;
  }
  return json{{"task_id", state.task_id},
              {"request_id", state.request_id},
              {"task_status", status},
              {"outputs", json::object()}};
}

std::string error_body(int code, std::string_view message, std::string_view request_id) {
  return json{{"errors", {{"code", code}, {"message", message}}}, {"request_id", request_id}}
      .dump();
}

std::string openai_error_body(std::string_view message) {
  return json{{"error", {{"message", message}}}}.dump();
}

}  // namespace zbatch::protocol
