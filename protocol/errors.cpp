#include "protocol/errors.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include <nlohmann/json.hpp>

#include "protocol/errors_detail.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/messages.hpp"

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

/// An HTML page's <title> text ("504 Gateway Time-out"), or empty when there is none.
std::string html_title(std::string_view body) {
  const std::string lowered = lower(body.substr(0, 4096));
  const auto open = lowered.find("<title>");
  const auto close = lowered.find("</title>", open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) {
    return {};
  }
  return std::string(body.substr(open + 7, close - open - 7));
}

/// The raw body as one line: whitespace runs (a page's newlines and indents) become one space;
/// an HTML page is its title (a new user's check: a gateway's whole page filled the event line
/// and the manifest).
std::string trimmed_raw(std::string_view body) {
  constexpr std::size_t max_raw = 300;
  if (const auto title = html_title(body); !title.empty()) {
    return trimmed_raw(title) + " (an HTML page of " + std::to_string(body.size()) + " bytes)";
  }
  std::string out;
  bool space = false;
  for (const char c : body) {
    const bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
    if (blank) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
    if (out.size() > max_raw) {
      break;
    }
  }
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

void code_from_string(std::string_view text, error_text& out) {
  auto code = error_code_from_string(text);
  out.code = code.number;
  out.code_name = std::move(code.name);
}

void read_code(const nlohmann::json& object, error_text& out) {
  if (!object.is_object()) {
    return;
  }
  auto it = object.find("code");
  if (it == object.end()) {
    return;
  }
  if (it->is_number_integer()) {
    out.code = it->get<int>();
  } else if (it->is_string()) {
    code_from_string(it->get<std::string>(), out);
  }
}

// The same reading on a json_scan document (only strings without escapes reach here, so a
// string's raw bytes are its value).
const json_scan::node* scan_string_at(const json_scan::document& doc, const json_scan::node& object,
                                      std::string_view key) {
  const auto* member = doc.find(object, key);  // nullptr when `object` is not an object
  return member != nullptr && member->is_string() ? member : nullptr;
}

void scan_read_code(const json_scan::document& doc, const json_scan::node& object,
                    error_text& out) {
  const auto* code = doc.find(object, "code");
  if (code == nullptr) {
    return;
  }
  if (code->is_integer()) {
    out.code = static_cast<int>(code->number);  // nlohmann's get<int>() is this same cast
  } else if (code->is_string()) {
    code_from_string(code->text(), out);
  }
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
      out.envelope = true;
      out.origin_envelope = std::string_view(envelope) == "errors";
      scan_read_code(doc, *it, out);
      return out;
    }
  }
  if (const auto* message = scan_string_at(doc, root, "message")) {
    out.message = std::string(message->text());
    scan_read_code(doc, root, out);
    return out;
  }
  out.message = trimmed_raw(body);
  return out;
}

bool contains(std::string_view lowered_text, std::string_view phrase) {
  return lowered_text.find(phrase) != std::string_view::npos;
}

bool is_busy_message(std::string_view message) {
  return contains(lower(message), "server is busy");
}

/// The gateways' statuses: bad gateway, gateway time-out, Cloudflare's "a timeout occurred".
bool is_gateway_status(int status) { return status == 502 || status == 504 || status == 524; }

api_error from_text(int status, error_text text) {
  api_error out;
  out.http_status = status;
  out.service_code = text.code;
  out.code_name = std::move(text.code_name);
  out.message = std::move(text.message);
  out.request_id = std::move(text.request_id);
  return out;
}

/// Sets kind, unknown_429 and from_gateway for an answer with this (HTTP or envelope) status
/// from the text already in `out`; `envelope`: the text came in the service's error shape.
void classify_status(int status, bool envelope, api_error& out) {
  if (status == 429 && is_no_provider_message(out.message)) {
    out.kind = error_class::request_error;  // no provider for the model: waiting cannot help
  } else if (status == 429) {
    out.kind = is_quota_message(out.message) ? error_class::quota_429 : error_class::dynamic_429;
    out.unknown_429 =
        out.kind == error_class::dynamic_429 && !is_dynamic_limit_message(out.message);
  } else if (status >= 500) {
    out.kind = error_class::server_transport;
    out.from_gateway = is_gateway_status(status) || (!envelope && !is_busy_message(out.message));
  } else if (status >= 400) {
    // "Server is busy" has been seen with 4xx-looking gateways too; it is retryable either way.
    out.kind = is_moderation(out.service_code, out.code_name, out.message) ? error_class::moderation
               : is_busy_message(out.message) ? error_class::server_transport
                                              : error_class::request_error;
  } else {
    out.kind = error_class::malformed;
  }
}

api_error classify_text(int status, error_text text) {
  // A 5xx in the OpenAI shape may be a relay's, sent after the origin took the task.
  const bool envelope = status >= 500 ? text.origin_envelope : text.envelope;
  auto out = from_text(status, std::move(text));
  classify_status(status, envelope, out);
  if (out.kind == error_class::malformed && out.message.empty()) {
    out.message = "unexpected HTTP status " + std::to_string(status);
  } else if (out.message.empty()) {
    // Said, so a stop it causes names a cause (a new user's check: "after dynamic_429 (HTTP
    // 429); " and nothing).
    out.message = "an empty body";
  }
  return out;
}

/// classify_error_in_success on an extracted text.
std::optional<api_error> classify_success_text(int status, error_text text) {
  if (!text.envelope && text.code == 0 && text.code_name.empty()) {
    return std::nullopt;
  }
  const bool origin = text.origin_envelope;
  auto out = from_text(status, std::move(text));
  if (out.service_code >= 400 && out.service_code <= 599) {
    // OpenAI's shape with a 5xx code may be a relay's, sent after the origin took the task.
    classify_status(out.service_code, origin, out);
    if (origin) {
      out.from_gateway = false;  // the service's own envelope, whatever its code says
    }
  } else if (is_moderation(out.service_code, out.code_name, out.message)) {
    out.kind = error_class::moderation;
  } else if (is_quota_message(out.message)) {
    out.kind = error_class::quota_429;
  } else if (is_dynamic_limit_message(out.message)) {
    out.kind = error_class::dynamic_429;
  } else {
    out.kind =
        is_busy_message(out.message) ? error_class::server_transport : error_class::malformed;
  }
  // A 2xx answer whose error names no refusal (a limit, the quota, moderation, a request error,
  // "Server is busy", a code) may follow a created task, as a 2xx without a task id does (a
  // relay's "upstream connect error" in a 200 was resubmitted and paid twice: a new user's
  // check). On a submit that makes it ambiguous (api_error::from_gateway).
  if (out.kind == error_class::malformed) {
    out.from_gateway = true;
  }
  out.message = "error inside HTTP " + std::to_string(status) + ": " + out.message;
  return out;
}

}  // namespace

bool is_task_unknown(const api_error& error) {
  return error.http_status == 404 && error.kind == error_class::request_error &&
         !error.from_gateway && contains(lower(error.message), texts::task_not_found);
}

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

error_code error_code_from_string(std::string_view text) {
  error_code out;
  try {
    out.number = std::stoi(std::string(text));
  } catch (...) {
    out.name = std::string(text);
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
      out.envelope = true;
      out.origin_envelope = std::string_view(envelope) == "errors";
      read_code(*it, out);
      return out;
    }
  }
  if (const auto* message = string_at(json, "message")) {
    out.message = message->get<std::string>();
    read_code(json, out);
    return out;
  }
  out.message = trimmed_raw(body);
  return out;
}

bool is_no_provider_message(std::string_view message) {
  return lower(message).find("has no provider supported") != std::string::npos;
}

bool is_quota_message(std::string_view message) {
  const auto text = lower(message);
  return contains(text, "request limit exceeded") || contains(text, "exceeded today's quota") ||
         contains(text, "insufficient balance") || contains(message, "免费使用额度已用完");
}

bool is_dynamic_limit_message(std::string_view message) {
  return contains(lower(message), "we have to rate limit you");
}

bool is_moderation(int code, std::string_view code_name, std::string_view message) {
  if (code == 422 || contains(lower(message), "inappropriate content")) {
    return true;
  }
  // "InternalError.Algo.DataInspectionFailed" -> "datainspectionfailed"; so is
  // "data_inspection_failed". ("InvalidParameter.DataInspection" is a media download failure.)
  std::string name;
  for (char c : code_name.substr(code_name.rfind('.') + 1)) {
    if (c != '_') {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return name == "datainspectionfailed" || name == "ipinfringementsuspect";
}

api_error classify_http_error(int status, std::string_view body) {
  return classify_text(status, extract_error_text(body));
}

api_error detail::classify_http_error_dom(int status, std::string_view body) {
  return classify_text(status, detail::extract_error_text_dom(body));
}

std::optional<api_error> classify_error_in_success(int status, std::string_view body) {
  return classify_success_text(status, extract_error_text(body));
}

std::optional<api_error> detail::classify_error_in_success_dom(int status, std::string_view body) {
  return classify_success_text(status, detail::extract_error_text_dom(body));
}

api_error classify_task_failure(int code, std::string_view message, std::string request_id,
                                std::string_view code_name) {
  api_error out;
  out.service_code = code;
  out.code_name = std::string(code_name);
  out.message = std::string(message);
  out.request_id = std::move(request_id);
  if (code == 429) {
    // A rate limit answered inside the poll: the task itself may still be running.
    classify_status(429, /*envelope=*/true, out);
    return out;
  }
  out.kind =
      is_moderation(code, code_name, message) ? error_class::moderation : error_class::task_failed;
  return out;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_unix_s) {
  const auto first = value.find_first_not_of(' ');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  value = value.substr(first, value.find_last_not_of(' ') - first + 1);
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) {  // beyond 30 days anyway; also keeps stoll and * 1000 in range
      return max_retry_after_ms;
    }
    return std::min<std::int64_t>(std::stoll(std::string(value)) * 1000, max_retry_after_ms);
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
  // Clamped in seconds first, so an absurd year cannot overflow the multiplication.
  return std::clamp<std::int64_t>(when - now_unix_s, 0, max_retry_after_ms / 1000) * 1000;
}

}  // namespace zbatch::protocol
