#include "mock_api/reply.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "protocol/json_text.hpp"

namespace zbatch::mock {
namespace {

/// `text` with every invalid UTF-8 sequence replaced by U+FFFD. Error messages echo what a
/// request sent (a path, a task id, a fault header, a config parser's complaint), which may be
/// any bytes; a JSON answer cannot carry invalid UTF-8 (nlohmann throws on it), and the service
/// does not fail to answer 404 because the path it echoes is not UTF-8 (found by
/// fuzz/mock_api_requests.cpp).
std::string valid_utf8(std::string_view text) {
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);  // ASCII, the usual case: nothing to check
  }
  const auto literal = nlohmann::json(std::string(text))
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(literal).get<std::string>();
}

}  // namespace

std::string_view to_string(endpoint where) {
  static constexpr std::string_view names[endpoint_count] = {"submit", "poll",    "download",
                                                             "admin",  "metrics", "other"};
  return names[static_cast<std::size_t>(where)];
}

std::string_view to_string(transport_fault fault) {
  switch (fault) {
    case transport_fault::none:
      return "none";
    case transport_fault::reset:
      return "reset";
    case transport_fault::hang:
      return "hang";
    case transport_fault::truncate:
      return "truncate";
    case transport_fault::slow:
      return "slow";
    case transport_fault::close:
      return "close";
  }
  return "none";
}

namespace wire_body {

// Keys in the order nlohmann's std::map-backed objects dump them (sorted).
std::string task_state(const protocol::task_state& state) {
  const std::string_view status = state.raw_status.empty()
                                      ? std::string_view(protocol::to_string(state.status))
                                      : std::string_view(state.raw_status);
  std::string out;
  out.reserve(160);
  if (state.status == protocol::task_status::failed) {
    out += "{\"errors\":{\"code\":";
    out += std::to_string(state.error_code);
    out += ",\"message\":";
    protocol::append_json_string(out, state.error_message);
    out += "},\"request_id\":";
    protocol::append_json_string(out, state.request_id);
    out += ",\"task_status\":";
    protocol::append_json_string(out, status);
    out += '}';
    return out;
  }
  if (state.status == protocol::task_status::succeed) {
    out += '{';
    if (state.input) {
      // Once per task: the DOM's number formatting, rather than a copy of it.
      out += "\"input\":";
      out += protocol::to_json(*state.input).dump();
      out += ',';
    }
    out += "\"output_images\":[";
    for (std::size_t i = 0; i < state.output_images.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      protocol::append_json_string(out, state.output_images[i]);
    }
    out += "],\"request_id\":";
  } else {
    out += "{\"outputs\":{},\"request_id\":";
  }
  protocol::append_json_string(out, state.request_id);
  out += ",\"task_id\":";
  protocol::append_json_string(out, state.task_id);
  out += ",\"task_status\":";
  protocol::append_json_string(out, status);
  if (state.status == protocol::task_status::succeed && state.time_taken_ms) {
    out += ",\"time_taken\":";
    out += std::to_string(*state.time_taken_ms);
  }
  out += '}';
  return out;
}

std::string accepted(std::string_view task_id, std::string_view request_id) {
  std::string out;
  out.reserve(112);
  out += "{\"request_id\":";
  protocol::append_json_string(out, request_id);
  out += ",\"task_id\":";
  protocol::append_json_string(out, task_id);
  out += ",\"task_status\":\"SUCCEED\"}";
  return out;
}

std::string error(int code, std::string_view message, std::string_view request_id) {
  std::string out;
  out.reserve(96 + message.size());
  out += "{\"errors\":{\"code\":";
  out += std::to_string(code);
  out += ",\"message\":";
  protocol::append_json_string(out, message);
  out += "},\"request_id\":";
  protocol::append_json_string(out, request_id);
  out += '}';
  return out;
}

}  // namespace wire_body

protocol::wire_response json_response(int status, std::string body) {
  protocol::wire_response response;
  response.status = status;
  response.headers.set("Content-Type", "application/json");
  response.body = std::move(body);
  return response;
}

protocol::wire_response error_response(int status, std::string_view message,
                                       std::string_view request_id) {
  return json_response(status, wire_body::error(status, valid_utf8(message), request_id));
}

}  // namespace zbatch::mock
