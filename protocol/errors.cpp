#include "protocol/errors.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include <nlohmann/json.hpp>

#include "protocol/errors_detail.hpp"
#include "protocol/json_scan.hpp"

namespace zbatch::protocol {
namespace {

constexpr std::array<std::pair<error_class, std::string_view>, 9> class_names{{
    {error_class::dynamic_429, "dynamic_429"},
    {error_class::quota_429, "quota_429"},
    {error_class::server_transport, "server_transport"},
    {error_class::request_error, "request_error"},
    {error_class::moderation, "moderation"},
    {error_class::task_failed, "task_failed"},
    {error_class::malformed, "malformed"},
    {error_class::deadline, "deadline"},
    {error_class::cancelled, "cancelled"},
}};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trimmed_raw(std::string_view body) {
  constexpr std::size_t max_raw = 300;
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = body.find_last_not_of(" \t\r\n");
  std::string out(body.substr(first, last - first + 1));
  if (out.size() > max_raw) {
    out.resize(max_raw);
    out += "...";
  }
  return out;
}

const nlohmann::json* string_at(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? &*it : nullptr;
}

int code_at(const nlohmann::json& object) {
  if (!object.is_object()) {
    return 0;
  }
  auto it = object.find("code");
  if (it == object.end()) {
    return 0;
  }
  if (it->is_number_integer()) {
    return it->get<int>();
  }
  if (it->is_string()) {  // some gateways send "429"
    try {
      return std::stoi(it->get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

// The same reading on a json_scan document (only strings without escapes reach here, so a
// string's raw bytes are its value).
const json_scan::node* scan_string_at(const json_scan::document& doc, const json_scan::node& object,
                                      std::string_view key) {
  const auto* member = doc.find(object, key);  // nullptr when `object` is not an object
  return member != nullptr && member->is_string() ? member : nullptr;
}

int scan_code_at(const json_scan::document& doc, const json_scan::node& object) {
  const auto* code = doc.find(object, "code");
  if (code == nullptr) {
    return 0;
  }
  if (code->is_integer()) {
    return static_cast<int>(code->number);  // nlohmann's get<int>() is this same cast
  }
  if (code->is_string()) {
    try {
      return std::stoi(std::string(code->text()));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

/// extract_error_text on a handled document.
error_text extract_scanned(const json_scan::document& doc, std::string_view body) {
  error_text out;
  const auto& root = doc.root();
  if (const auto* id = scan_string_at(doc, root, "request_id")) {
    out.request_id = std::string(id->text());
  }
  for (const char* envelope : {"errors", "error"}) {
    const auto* it = doc.find(root, envelope);
    if (it == nullptr) {
      continue;
    }
    if (const auto* message = scan_string_at(doc, *it, "message")) {
      out.message = std::string(message->text());
      out.code = scan_code_at(doc, *it);
      return out;
    }
  }
  if (const auto* message = scan_string_at(doc, root, "message")) {
    out.message = std::string(message->text());
    out.code = scan_code_at(doc, root);
    return out;
  }
  out.message = trimmed_raw(body);
  return out;
}

api_error classify_text(int status, error_text text) {
  api_error out;
  out.http_status = status;
  out.service_code = text.code;
  out.message = std::move(text.message);
  out.request_id = std::move(text.request_id);
  if (status == 429) {
    out.kind = is_quota_message(out.message) ? error_class::quota_429 : error_class::dynamic_429;
  } else if (status >= 500) {
    out.kind = error_class::server_transport;
  } else if (status >= 400) {
    // "Server is busy" has been seen with 4xx-looking gateways too; it is retryable either way.
    out.kind = lower(out.message).find("server is busy") != std::string::npos
                   ? error_class::server_transport
                   : error_class::request_error;
  } else {
    out.kind = error_class::malformed;
    if (out.message.empty()) {
      out.message = "unexpected HTTP status " + std::to_string(status);
    }
  }
  return out;
}

}  // namespace

std::string_view to_string(error_class kind) {
  for (const auto& [value, name] : class_names) {
    if (value == kind) {
      return name;
    }
  }
  return "unknown";
}

std::optional<error_class> error_class_from_string(std::string_view name) {
  for (const auto& [value, text] : class_names) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

bool is_retryable(error_class kind) {
  switch (kind) {
    case error_class::dynamic_429:
    case error_class::server_transport:
    case error_class::task_failed:
    case error_class::malformed:
      return true;
    case error_class::quota_429:
    case error_class::request_error:
    case error_class::moderation:
    case error_class::deadline:
    case error_class::cancelled:
      return false;
  }
  return false;
}

std::string api_error::describe() const {
  std::string out(to_string(kind));
  if (http_status != 0) {
    out += " (HTTP " + std::to_string(http_status) + ")";
  } else if (service_code != 0) {
    out += " (code " + std::to_string(service_code) + ")";
  }
  if (!message.empty()) {
    out += ": " + message;
  }
  return out;
}

error_text extract_error_text(std::string_view body) {
  json_scan::document doc;
  if (doc.parse(body)) {
    return extract_scanned(doc, body);
  }
  return detail::extract_error_text_dom(body);
}

error_text detail::extract_error_text_dom(std::string_view body) {
  error_text out;
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    out.message = trimmed_raw(body);
    return out;
  }
  if (const auto* id = string_at(json, "request_id")) {
    out.request_id = id->get<std::string>();
  }
  for (const char* envelope : {"errors", "error"}) {
    auto it = json.find(envelope);
    if (it == json.end()) {
      continue;
    }
    if (const auto* message = string_at(*it, "message")) {
      out.message = message->get<std::string>();
      out.code = code_at(*it);
      return out;
    }
  }
  if (const auto* message = string_at(json, "message")) {
    out.message = message->get<std::string>();
    out.code = code_at(json);
    return out;
  }
  out.message = trimmed_raw(body);
  return out;
}

bool is_quota_message(std::string_view message) {
  const auto text = lower(message);
  return text.find("exceeded today's quota") != std::string::npos ||
         text.find("request limit exceeded") != std::string::npos ||
         text.find("insufficient balance") != std::string::npos ||
         text.find("quota") != std::string::npos ||
         message.find("免费使用额度已用完") != std::string_view::npos;
}

api_error classify_http_error(int status, std::string_view body) {
  return classify_text(status, extract_error_text(body));
}

api_error detail::classify_http_error_dom(int status, std::string_view body) {
  return classify_text(status, detail::extract_error_text_dom(body));
}

api_error classify_task_failure(int code, std::string_view message, std::string request_id) {
  api_error out;
  out.service_code = code;
  out.message = std::string(message);
  out.request_id = std::move(request_id);
  out.kind = code == 422 ? error_class::moderation : error_class::task_failed;
  return out;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_unix_s,
                                              std::int64_t cap_ms) {
  const auto first = value.find_first_not_of(' ');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  value = value.substr(first, value.find_last_not_of(' ') - first + 1);
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) {
      return cap_ms;
    }
    return std::min<std::int64_t>(std::stoll(std::string(value)) * 1000, cap_ms);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  std::tm tm{};
  char weekday[4] = {};
  char month[4] = {};
  char zone[4] = {};
  if (std::sscanf(std::string(value).c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &tm.tm_mday,
                  month, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone) != 8) {
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 12> months{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto it = std::find(months.begin(), months.end(), std::string_view(month));
  if (it == months.end() || std::string_view(zone) != "GMT") {
    return std::nullopt;
  }
  tm.tm_mon = static_cast<int>(it - months.begin());
  tm.tm_year -= 1900;
  const auto when = static_cast<std::int64_t>(timegm(&tm));
  return std::clamp<std::int64_t>((when - now_unix_s) * 1000, 0, cap_ms);
}

}  // namespace zbatch::protocol
