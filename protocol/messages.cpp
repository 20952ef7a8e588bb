#include "protocol/messages.hpp"

#include <array>
#include <cmath>

#include "protocol/json_scan.hpp"
#include "protocol/messages_detail.hpp"

namespace zbatch::protocol {
namespace {

using nlohmann::json;

field_error out_of_range(std::string field, const std::string& allowed) {
  return {field, field + " is out of range (allowed " + allowed + ")"};
}

std::string format_range(double low, double high) {
  auto text = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') {
      s.pop_back();
    }
    return s;
  };
  return text(low) + ".." + text(high);
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
  return body;
}

std::optional<field_error> validate(const submit_request& request) {
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
  if (request.size) {
    if (auto why = check_size(*request.size); !why.empty()) {
      return field_error{"size", "size " + request.size->to_string() + ": " + why};
    }
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
    auto size = parse_size(*size_text, &why);
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
  if (auto error = validate(request)) {
    return *error;
  }
  return request;
}

}  // namespace

std::variant<submit_request, field_error> parse_submit_body(std::string_view body) {
  json_scan::document doc;
  if (!doc.parse(body) || doc.has_real()) {  // a real's value (guidance 3.5) needs the DOM
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
  return read_submit_body([&](const char* name) {
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
  });
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
