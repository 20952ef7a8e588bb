#include "client/codec.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "client/image_probe.hpp"
#include "protocol/errors_detail.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/json_text.hpp"

namespace zbatch::client {
namespace {

using nlohmann::json;

bool is_success(int status) { return status >= 200 && status < 300; }

protocol::api_error malformed(int status, std::string message, std::string request_id = {}) {
  protocol::api_error error;
  error.kind = protocol::error_class::malformed;
  error.http_status = status;
  error.message = std::move(message);
  error.request_id = std::move(request_id);
  return error;
}

/// A 429 read by the service's rate-limit headers first, its text second (protocol doc, "What
/// newer public material adds": a 429 while `remaining` is above 0 is the dynamic limit, at 0 the
/// quota). Without a readable remaining count the text decides, as classify_http_error did.
void settle_429(protocol::api_error& error, const protocol::wire_response& response) {
  if (response.status != 429 || (error.kind != protocol::error_class::dynamic_429 &&
                                 error.kind != protocol::error_class::quota_429)) {
    return;
  }
  const auto limits = protocol::read_ratelimit(response.headers);
  if (!limits || !limits->remaining()) {
    return;
  }
  const bool text_says_quota = error.kind == protocol::error_class::quota_429;
  error.kind =
      limits->exhausted() ? protocol::error_class::quota_429 : protocol::error_class::dynamic_429;
  // The quota's text under headers saying calls remain: the headers decide (retried as the
  // dynamic limit), but the two disagree, so it is bounded like an unknown text and then stops
  // the batch showing it (a new user's check: 25 refused submits per image, then "unfinished").
  error.unknown_429 = text_says_quota && !limits->exhausted();
}

/// Attaches the answer's rate-limit headers to what was read from it, accepted or not.
template <class T>
result<T> with_ratelimit(result<T> outcome, const protocol::wire_response& response) {
  auto limits = protocol::read_ratelimit(response.headers);
  if (!limits) {
    return outcome;
  }
  if (outcome.ok()) {
    T value = std::move(outcome).value();
    value.ratelimit = std::move(limits);
    return value;
  }
  protocol::api_error error = outcome.error();
  error.ratelimit = std::move(limits);
  return error;
}

/// A non-2xx answer: classified from its body, with what its headers add (Retry-After and the
/// time it names, the rate-limit headers). `error` is classify_http_error's answer (fast path)
/// or its DOM twin's.
protocol::api_error with_headers(protocol::api_error error,
                                 const protocol::wire_response& response) {
  if (auto value = response.headers.get("Retry-After")) {
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    error.retry_after_ms = protocol::parse_retry_after(*value, now);
    if (error.retry_after_ms) {
      error.retry_at_unix_s = now + (*error.retry_after_ms + 999) / 1000;
    }
  }
  settle_429(error, response);
  return error;
}

protocol::api_error http_failure(const protocol::wire_response& response) {
  return with_headers(protocol::classify_http_error(response.status, response.body), response);
}

/// A redirect answered to a submit or a poll: not followed (a submit sent again to another
/// place may be paid twice), and no transient state to retry: the base URL is wrong or moved.
/// A request error naming where it points (a new user's check: "unexpected HTTP status 307",
/// retried 10 times).
protocol::api_error api_call_failure(protocol::api_error error,
                                     const protocol::wire_response& response) {
  if (response.status >= 300 && response.status < 400) {
    error.kind = protocol::error_class::request_error;
    error.from_gateway = false;
    error.message = "HTTP " + std::to_string(response.status) + " redirect to " +
                    response.headers.get("Location").value_or("nowhere (no Location header)") +
                    ": API calls are not followed (a submit sent again may be paid twice); if "
                    "the API moved, give its address with --base-url";
  }
  return error;
}

protocol::api_error http_failure_dom(const protocol::wire_response& response) {
  return with_headers(protocol::detail::classify_http_error_dom(response.status, response.body),
                      response);
}

/// A 2xx submit answer that is neither the task id nor an error envelope: something between the
/// origin and us garbled or cut the answer after the origin may have created and charged the task
/// (issue 12: an answer that may hide a created task is ambiguous).
protocol::api_error garbled_submit(int status, std::string message, std::string request_id = {}) {
  auto error = malformed(status, std::move(message), std::move(request_id));
  error.ambiguous = true;
  return error;
}

/// A 2xx submit answer with an empty body (seen on the service: protocol doc, "What newer public
/// material adds"): the task may have been created and charged, so it is an ambiguous
/// server_transport failure, never resubmitted blindly (retry_policy). nullopt otherwise.
std::optional<protocol::api_error> empty_submit_answer(const protocol::wire_response& response) {
  if (response.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    return std::nullopt;
  }
  protocol::api_error error;
  error.kind = protocol::error_class::server_transport;
  error.http_status = response.status;
  error.ambiguous = true;
  error.message = "the submit was answered " + std::to_string(response.status) +
                  " with an empty body: the task may have been created (possibly paid)";
  return error;
}

/// A refused submit: one that a gateway answered may hide a task the origin created and charged.
protocol::api_error submit_failure(protocol::api_error error) {
  error.ambiguous = error.from_gateway;
  return error;
}

std::string string_field(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// A task id: opaque text, though one public sample sends a number (`"task_id": 4003503`,
/// protocol doc, "What newer public material adds"); read as its decimal text either way, so
/// the task it names is polled, not held as possibly paid (a new user's check).
std::string task_id_field(const json& object) {
  auto it = object.find("task_id");
  if (it != object.end() && it->is_number_integer()) {
    return it->is_number_unsigned() ? std::to_string(it->get<std::uint64_t>())
                                    : std::to_string(it->get<std::int64_t>());
  }
  return string_field(object, "task_id");
}

std::string scan_task_id(const protocol::json_scan::document& doc,
                         const protocol::json_scan::node& object) {
  const auto* member = doc.find(object, "task_id");
  if (member != nullptr && member->is_integer()) {
    return std::to_string(member->number);
  }
  return member != nullptr && member->is_string() ? std::string(member->text()) : std::string{};
}

std::string scan_string_field(const protocol::json_scan::document& doc,
                              const protocol::json_scan::node& object, std::string_view key) {
  const auto* member = doc.find(object, key);
  return member != nullptr && member->is_string() ? std::string(member->text()) : std::string{};
}

/// read_submit on a body json_scan handled: the same reading as the DOM code below.
result<protocol::submit_accepted> submit_from_scan(const protocol::json_scan::document& doc,
                                                   const protocol::wire_response& response) {
  const auto& body = doc.root();
  protocol::submit_accepted accepted;
  accepted.task_id = scan_task_id(doc, body);
  accepted.request_id = scan_string_field(doc, body, "request_id");
  if (accepted.task_id.empty()) {
    if (auto error = protocol::classify_error_in_success(response.status, response.body)) {
      return submit_failure(*error);
    }
    auto text = protocol::extract_error_text(response.body);
    return garbled_submit(response.status, "submit answer has no task_id: " + text.message,
                          accepted.request_id);
  }
  return accepted;
}

/// A poll answer that names a task other than the one polled: a gateway or cache mixed answers
/// up (a new user's check: three paid images delivered as the first one's bytes). Malformed,
/// so the task is polled again, never taken; nullopt when it names the polled task or none.
std::optional<protocol::api_error> names_another_task(const std::string& named,
                                                      std::string_view polled, int status,
                                                      const std::string& request_id) {
  if (named.empty() || polled.empty() || named == polled) {
    return std::nullopt;
  }
  return malformed(status,
                   "task answer is for task " + named + ", not the polled " + std::string(polled),
                   request_id);
}

/// The service's 404 "Task not found: <id>" naming another id than the polled one is no proof
/// that ours does not exist: the server read another task out of the URL (or mixed answers up).
/// Malformed, so it is polled past and never taken as the task's end (a rerun would pay again).
/// The error unchanged when it names no id or ours.
protocol::api_error unknown_names_another_task(protocol::api_error error, std::string_view polled) {
  if (!protocol::is_task_unknown(error)) {
    return error;
  }
  const std::string_view phrase = protocol::texts::task_not_found;
  const auto at =
      std::search(error.message.begin(), error.message.end(), phrase.begin(), phrase.end(),
                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  std::string_view named(error.message);
  named.remove_prefix(static_cast<std::size_t>(at - error.message.begin()) + phrase.size());
  const auto first = named.find_first_not_of(": \t");
  if (first == std::string_view::npos) {
    return error;
  }
  named = named.substr(first, named.find_last_not_of(" \t") + 1 - first);
  if (named == polled) {
    return error;
  }
  error.kind = protocol::error_class::malformed;
  error.message = "HTTP 404 names task " + std::string(named) + ", not the polled " +
                  std::string(polled) + " (" + error.message + ")";
  return error;
}

/// read_poll on a body json_scan handled: the same reading as the DOM code below.
result<protocol::task_state> poll_from_scan(const protocol::json_scan::document& doc,
                                            const protocol::wire_response& response,
                                            std::string_view task_id) {
  const auto& body = doc.root();
  protocol::task_state state;
  state.task_id = scan_string_field(doc, body, "task_id");
  state.request_id = scan_string_field(doc, body, "request_id");
  if (auto other = names_another_task(state.task_id, task_id, response.status, state.request_id)) {
    return *other;
  }
  if (state.task_id.empty()) {
    state.task_id = std::string(task_id);
  }
  const auto* status = doc.find(body, "task_status");
  if (status == nullptr || !status->is_string()) {
    if (auto error = protocol::classify_error_in_success(response.status, response.body)) {
      return *error;
    }
    return malformed(response.status, "task answer has no task_status", state.request_id);
  }
  state.raw_status = std::string(status->text());
  state.status = protocol::task_status_from_string(state.raw_status);
  if (state.status == protocol::task_status::failed) {
    protocol::error_code code;
    std::string message;
    if (const auto* errors = doc.find(body, "errors"); errors != nullptr && errors->is_object()) {
      if (const auto* c = doc.find(*errors, "code"); c != nullptr && c->is_integer()) {
        code.number = static_cast<int>(c->number);  // nlohmann's get<int>() is this same cast
      } else if (c != nullptr && c->is_string()) {
        code = protocol::error_code_from_string(c->text());
      }
      message = scan_string_field(doc, *errors, "message");
    }
    if (message.empty()) {
      message = "task " + state.task_id + " FAILED without a message";
    }
    return protocol::classify_task_failure(code.number, message, state.request_id, code.name);
  }
  if (state.status == protocol::task_status::succeed) {
    const auto* images = doc.find(body, "output_images");
    if (images == nullptr || !images->is_array() || images->size == 0) {
      return malformed(response.status, "task " + state.task_id + " SUCCEED without output_images",
                       state.request_id);
    }
    state.output_images.reserve(images->size);
    for (const auto& url : doc.children(*images)) {
      if (!url.is_string() || url.text_size == 0) {
        return malformed(response.status,
                         "task " + state.task_id + " has a non-string entry in output_images",
                         state.request_id);
      }
      state.output_images.emplace_back(url.text());
    }
  }
  return state;
}

void append_member(std::string& out, std::string_view key, std::string_view text) {
  out += '"';
  out += key;
  out += "\":";
  protocol::append_json_string(out, text);
}

/// `protocol::to_json(request).dump()`, byte for byte, built by appending: keys in the sorted
/// order nlohmann's std::map objects dump them, strings as nlohmann writes them, integers as
/// std::to_string writes them (as nlohmann does). Declines (nullopt) any guidance (a double,
/// whose shortest form is nlohmann's own), `loras` and `image_url`. The caller then dumps the DOM.
std::optional<std::string> submit_body(const protocol::submit_request& request) {
  if (request.guidance || request.loras || request.image_url) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(64 + request.model.size() + request.prompt.size() +
              (request.negative_prompt ? request.negative_prompt->size() : 0));
  out += '{';
  append_member(out, "model", request.model);
  if (request.negative_prompt) {
    out += ',';
    append_member(out, "negative_prompt", *request.negative_prompt);
  }
  out += ',';
  append_member(out, "prompt", request.prompt);
  if (request.seed) {
    out += ",\"seed\":";
    out += std::to_string(*request.seed);
  }
  if (request.size) {
    out += ',';
    append_member(out, "size", request.size->to_string());
  }
  if (request.steps) {
    out += ",\"steps\":";
    out += std::to_string(*request.steps);
  }
  out += '}';
  return out;
}

/// Why a 2xx download is not delivered: what it was instead, with a short printable excerpt.
std::string not_an_image(const std::string& body, const std::string& content_type) {
  if (body.empty()) {
    return "image download returned an empty body";
  }
  std::string out = "answer is not a PNG, JPEG or WebP image (" +
                    (content_type.empty() ? std::string("no Content-Type") : content_type) + ", " +
                    std::to_string(body.size()) + " bytes";
  constexpr std::size_t excerpt = 80;
  const auto head = std::string_view(body).substr(0, excerpt);
  if (std::all_of(head.begin(), head.end(),
                  [](unsigned char c) { return c >= 0x20 && c < 0x7f; })) {
    out += ": " + std::string(head) + (body.size() > excerpt ? "..." : "");
  }
  return out + ")";
}

/// RFC 3986 reference resolution, enough for Location headers: `base` is an absolute URL.
std::string resolve_reference(std::string_view base, std::string_view ref) {
  ref = ref.substr(0, ref.find('#'));
  const auto trimmed = ref.find_first_not_of(" \t");
  ref = trimmed == std::string_view::npos ? std::string_view{} : ref.substr(trimmed);
  ref = ref.substr(0, ref.find_last_not_of(" \t") + 1);
  const auto scheme_end = ref.find("://");
  if (scheme_end != std::string_view::npos && ref.find_first_of("/?") > scheme_end) {
    return std::string(ref);  // absolute
  }
  base = base.substr(0, base.find('#'));
  const auto authority = base.find("://") + 3;
  const auto path_start = std::min(base.find_first_of("/?", authority), base.size());
  const std::string_view origin = base.substr(0, path_start);
  const std::string_view path = base.substr(path_start, base.find('?', path_start) - path_start);
  if (ref.substr(0, 2) == "//") {
    return std::string(base.substr(0, authority - 2)) + std::string(ref);
  }
  if (ref.empty()) {
    return std::string(base);
  }
  if (ref.front() == '/') {
    return std::string(origin) + std::string(ref);
  }
  if (ref.front() == '?') {
    return std::string(origin) + std::string(path.empty() ? "/" : path) + std::string(ref);
  }
  const auto slash = path.rfind('/');
  const std::string directory =
      slash == std::string_view::npos ? "/" : std::string(path.substr(0, slash + 1));
  return std::string(origin) + directory + std::string(ref);
}

void add_auth(protocol::header_list& headers, std::string_view api_key) {
  // An empty key sends no header at all (the mock answers 401 to that, as the service does).
  if (!api_key.empty()) {
    headers.set("Authorization", "Bearer " + std::string(api_key));
  }
}

}  // namespace

protocol::wire_request make_submit(const protocol::submit_request& request,
                                   std::string_view api_key) {
  protocol::wire_request out;
  out.method = "POST";
  out.target = std::string(protocol::submit_path);
  add_auth(out.headers, api_key);
  out.headers.set("Content-Type", "application/json");
  out.headers.set(std::string(protocol::async_header), "true");
  auto body = submit_body(request);
  out.body = body ? std::move(*body) : protocol::to_json(request).dump();
  return out;
}

protocol::wire_request make_poll(std::string_view task_id, std::string_view api_key) {
  protocol::wire_request out;
  out.method = "GET";
  // One path segment whatever the id holds: "id?0" sent raw was read as task "id" (a query
  // after it), and its 404 made the rerun pay for the task again (a new user's check).
  out.target = std::string(protocol::task_path_prefix) + protocol::encode_path_segment(task_id);
  add_auth(out.headers, api_key);
  out.headers.set(std::string(protocol::task_type_header), std::string(protocol::task_type_image));
  return out;
}

protocol::wire_request make_download(std::string_view target) {
  protocol::wire_request out;
  out.method = "GET";
  out.target = target.empty() ? std::string("/") : std::string(target);
  return out;
}

namespace {

result<protocol::submit_accepted> read_submit_dom_body(const protocol::wire_response& response);
result<protocol::task_state> read_poll_dom_body(const protocol::wire_response& response,
                                                std::string_view task_id);

result<protocol::submit_accepted> read_submit_body(const protocol::wire_response& response) {
  if (!is_success(response.status)) {
    return submit_failure(api_call_failure(http_failure(response), response));
  }
  if (auto empty = empty_submit_answer(response)) {
    return *empty;
  }
  protocol::json_scan::document doc;
  if (doc.parse(response.body)) {
    return submit_from_scan(doc, response);
  }
  return read_submit_dom_body(response);
}

result<protocol::submit_accepted> read_submit_dom_body(const protocol::wire_response& response) {
  if (!is_success(response.status)) {
    return submit_failure(api_call_failure(http_failure_dom(response), response));
  }
  if (auto empty = empty_submit_answer(response)) {
    return *empty;
  }
  auto body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return garbled_submit(response.status, "submit answer is not a JSON object");
  }
  protocol::submit_accepted accepted;
  accepted.task_id = task_id_field(body);
  accepted.request_id = string_field(body, "request_id");
  if (accepted.task_id.empty()) {
    // The body may be an error envelope sent with a 200 status: classified by its content.
    if (auto error =
            protocol::detail::classify_error_in_success_dom(response.status, response.body)) {
      return submit_failure(*error);
    }
    auto text = protocol::detail::extract_error_text_dom(response.body);
    return garbled_submit(response.status, "submit answer has no task_id: " + text.message,
                          accepted.request_id);
  }
  // task_status here only means "accepted": ignored on purpose.
  return accepted;
}

result<protocol::task_state> read_poll_body(const protocol::wire_response& response,
                                            std::string_view task_id) {
  if (!is_success(response.status)) {
    return unknown_names_another_task(api_call_failure(http_failure(response), response), task_id);
  }
  protocol::json_scan::document doc;
  if (doc.parse(response.body)) {
    return poll_from_scan(doc, response, task_id);
  }
  return read_poll_dom_body(response, task_id);
}

result<protocol::task_state> read_poll_dom_body(const protocol::wire_response& response,
                                                std::string_view task_id) {
  if (!is_success(response.status)) {
    return unknown_names_another_task(api_call_failure(http_failure_dom(response), response),
                                      task_id);
  }
  auto body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return malformed(response.status, "task answer is not a JSON object");
  }
  protocol::task_state state;
  state.task_id = string_field(body, "task_id");
  state.request_id = string_field(body, "request_id");
  if (auto other = names_another_task(state.task_id, task_id, response.status, state.request_id)) {
    return *other;
  }
  if (state.task_id.empty()) {
    state.task_id = std::string(task_id);  // the failed shape carries none
  }
  auto status_it = body.find("task_status");
  if (status_it == body.end() || !status_it->is_string()) {
    if (auto error =
            protocol::detail::classify_error_in_success_dom(response.status, response.body)) {
      return *error;
    }
    return malformed(response.status, "task answer has no task_status", state.request_id);
  }
  state.raw_status = status_it->get<std::string>();
  state.status = protocol::task_status_from_string(state.raw_status);
  if (state.status == protocol::task_status::failed) {
    protocol::error_code code;
    std::string message;
    if (auto errors = body.find("errors"); errors != body.end() && errors->is_object()) {
      if (auto c = errors->find("code"); c != errors->end() && c->is_number_integer()) {
        code.number = c->get<int>();
      } else if (c != errors->end() && c->is_string()) {
        code = protocol::error_code_from_string(c->get<std::string>());
      }
      message = string_field(*errors, "message");
    }
    if (message.empty()) {
      message = "task " + state.task_id + " FAILED without a message";
    }
    return protocol::classify_task_failure(code.number, message, state.request_id, code.name);
  }
  if (state.status == protocol::task_status::succeed) {
    auto images = body.find("output_images");
    if (images == body.end() || !images->is_array() || images->empty()) {
      return malformed(response.status, "task " + state.task_id + " SUCCEED without output_images",
                       state.request_id);
    }
    for (const auto& url : *images) {
      if (!url.is_string() || url.get<std::string>().empty()) {
        return malformed(response.status,
                         "task " + state.task_id + " has a non-string entry in output_images",
                         state.request_id);
      }
      state.output_images.push_back(url.get<std::string>());
    }
  }
  // PENDING, RUNNING, PROCESSING and unknown values: still running.
  return state;
}

}  // namespace

result<protocol::submit_accepted> read_submit(const protocol::wire_response& response) {
  return with_ratelimit(read_submit_body(response), response);
}

result<protocol::submit_accepted> detail::read_submit_dom(const protocol::wire_response& response) {
  return with_ratelimit(read_submit_dom_body(response), response);
}

result<protocol::task_state> read_poll(const protocol::wire_response& response,
                                       std::string_view task_id) {
  return with_ratelimit(read_poll_body(response, task_id), response);
}

result<protocol::task_state> detail::read_poll_dom(const protocol::wire_response& response,
                                                   std::string_view task_id) {
  return with_ratelimit(read_poll_dom_body(response, task_id), response);
}

result<downloaded_image> read_download(const protocol::wire_response& response) {
  if (!is_success(response.status)) {
    return http_failure(response);
  }
  downloaded_image image;
  image.content_type = response.headers.get("Content-Type").value_or("");
  image.info = probe_image(response.body);
  if (!image.info) {
    return malformed(response.status, not_an_image(response.body, image.content_type));
  }
  if (!image.info->complete) {
    // Half a file with a matching Content-Length passes HTTP; delivered, a rerun trusts it.
    return malformed(response.status, "answer is an incomplete " +
                                          std::string(to_string(image.info->format)) + " (" +
                                          std::to_string(response.body.size()) +
                                          " bytes: the file ends before the format does)");
  }
  image.bytes = response.body;
  return image;
}

std::optional<std::string> redirect_target(const protocol::wire_response& response,
                                           std::string_view from) {
  const int s = response.status;
  if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
    return std::nullopt;
  }
  const auto* location = response.headers.find("Location");
  if (location == nullptr) {
    return std::nullopt;
  }
  return resolve_reference(from, *location);
}

protocol::api_error transport_error(transport_failure failure, bool request_sent,
                                    std::string detail) {
  protocol::api_error error;
  error.kind = protocol::error_class::server_transport;
  switch (failure) {
    case transport_failure::connect:
      error.message = "could not connect";
      request_sent = false;  // nothing left the machine
      break;
    case transport_failure::reset:
      error.message = "connection reset or closed before a complete answer";
      break;
    case transport_failure::timeout:
      error.message = "timed out waiting for the answer";
      break;
    case transport_failure::truncated:
      error.message = "answer body ended before its Content-Length";
      break;
    case transport_failure::tls:
      error.message = "TLS handshake or certificate verification failed";
      request_sent = false;
      break;
  }
  if (!detail.empty()) {
    error.message += " (" + detail + ")";
  }
  error.ambiguous = request_sent;
  error.unsent = failure == transport_failure::connect || failure == transport_failure::tls;
  return error;
}

}  // namespace zbatch::client
