#include "client/codec.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

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

/// A non-2xx answer: classified from its body, with Retry-After when the service sent one.
protocol::api_error http_failure(const protocol::wire_response& response) {
  auto error = protocol::classify_http_error(response.status, response.body);
  if (auto value = response.headers.get("Retry-After")) {
    error.retry_after_ms =
        protocol::parse_retry_after(*value, static_cast<std::int64_t>(std::time(nullptr)));
  }
  return error;
}

std::string string_field(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
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
  out.body = protocol::to_json(request).dump();
  return out;
}

protocol::wire_request make_poll(std::string_view task_id, std::string_view api_key) {
  protocol::wire_request out;
  out.method = "GET";
  out.target = std::string(protocol::task_path_prefix) + std::string(task_id);
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

result<protocol::submit_accepted> read_submit(const protocol::wire_response& response) {
  if (!is_success(response.status)) {
    return http_failure(response);
  }
  auto body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return malformed(response.status, "submit answer is not a JSON object");
  }
  protocol::submit_accepted accepted;
  accepted.task_id = string_field(body, "task_id");
  accepted.request_id = string_field(body, "request_id");
  if (accepted.task_id.empty()) {
    // The body may still be an error envelope sent with a 200 status: keep its text.
    auto text = protocol::extract_error_text(response.body);
    return malformed(response.status, "submit answer has no task_id: " + text.message,
                     accepted.request_id);
  }
  // task_status here only means "accepted": ignored on purpose.
  return accepted;
}

result<protocol::task_state> read_poll(const protocol::wire_response& response,
                                       std::string_view task_id) {
  if (!is_success(response.status)) {
    return http_failure(response);
  }
  auto body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return malformed(response.status, "task answer is not a JSON object");
  }
  protocol::task_state state;
  state.task_id = string_field(body, "task_id");
  if (state.task_id.empty()) {
    state.task_id = std::string(task_id);  // the failed shape carries none
  }
  state.request_id = string_field(body, "request_id");
  auto status_it = body.find("task_status");
  if (status_it == body.end() || !status_it->is_string()) {
    return malformed(response.status, "task answer has no task_status", state.request_id);
  }
  state.raw_status = status_it->get<std::string>();
  state.status = protocol::task_status_from_string(state.raw_status);
  if (state.status == protocol::task_status::failed) {
    int code = 0;
    std::string message;
    if (auto errors = body.find("errors"); errors != body.end() && errors->is_object()) {
      if (auto c = errors->find("code"); c != errors->end() && c->is_number_integer()) {
        code = c->get<int>();
      }
      message = string_field(*errors, "message");
    }
    if (message.empty()) {
      message = "task " + state.task_id + " FAILED without a message";
    }
    return protocol::classify_task_failure(code, message, state.request_id);
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

result<downloaded_image> read_download(const protocol::wire_response& response) {
  if (!is_success(response.status)) {
    return http_failure(response);
  }
  if (response.body.empty()) {
    return malformed(response.status, "image download returned an empty body");
  }
  downloaded_image image;
  image.bytes = response.body;
  image.content_type = response.headers.get("Content-Type").value_or("");
  return image;
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
  return error;
}

}  // namespace zbatch::client
