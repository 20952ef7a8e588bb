#pragma once
/// What the mock's model answers and where: its endpoints, a wire response plus what the
/// transport must do with it, and the builders of its JSON answers. Shared by the model
/// (mock_api/model.hpp) and its parts (fault.hpp, ...), which so need not include the model.
///
/// Plain values and pure functions; no threading concerns.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mock_api/clock.hpp"
#include "protocol/messages.hpp"
#include "protocol/wire.hpp"

namespace zbatch::mock {

/// The routes the model serves, as the stats count them.
enum class endpoint : std::uint8_t {
  submit,    ///< POST /v1/images/generations
  poll,      ///< GET /v1/tasks/{id}
  download,  ///< GET /images/{id}.png
  admin,     ///< /admin/*
  metrics,   ///< GET /metrics
  other,     ///< Anything else (404).
};
inline constexpr std::size_t endpoint_count = 6;
static_assert(static_cast<std::size_t>(endpoint::other) + 1 == endpoint_count);
/// Its stats name ("submit", "poll", ...).
std::string_view to_string(endpoint where);

/// Config milliseconds (fractional) as a duration, rounded to the microsecond.
inline duration from_ms(double ms) {
  return duration{static_cast<duration::rep>(std::llround(ms * 1000))};
}
/// A duration in seconds.
inline double to_seconds(duration d) { return static_cast<double>(d.count()) / 1e6; }

/// A header value without the spaces and tabs around it (a view into `text`).
inline std::string_view trim_blanks(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

/// What the transport must do besides (or instead of) sending the response.
enum class transport_fault {
  none,
  reset,     ///< Close the connection without any answer (RST where possible).
  hang,      ///< Never answer: hold the connection until the client gives up (or `hold_max`).
  truncate,  ///< Send the headers and `truncate_at` bytes of the body, then close.
  slow,      ///< Send the body spread evenly over `dribble`.
  close,     ///< Close the connection without any answer, gracefully (FIN).
};

struct reply {
  protocol::wire_response response;
  duration delay{0};  ///< Hold the answer this long (simulated network + server time).
  transport_fault fault = transport_fault::none;
  std::size_t truncate_at = 0;
  duration dribble{0};
  duration hold_max{60'000'000};  ///< Upper bound of a `hang` (config faults.hang_max_ms).
};

/// Stable lower-case name of a transport fault ("reset", "hang", ...).
std::string_view to_string(transport_fault fault);

/// The JSON bodies of the hot paths (every poll, every accepted submit, every error), built by
/// appending instead of through a JSON DOM: byte-identical to what the protocol library's DOM
/// functions dump (tests/sim/wire_body_test.cpp holds them to that).
namespace wire_body {
/// `protocol::to_json(state).dump()`.
std::string task_state(const protocol::task_state& state);
/// `{"request_id":..,"task_id":..,"task_status":"SUCCEED"}`, the accepted submit.
std::string accepted(std::string_view task_id, std::string_view request_id);
/// `protocol::error_body(code, message, request_id)`.
std::string error(int code, std::string_view message, std::string_view request_id);
}  // namespace wire_body

/// A response with `Content-Type: application/json` and this body.
protocol::wire_response json_response(int status, std::string body);
/// The service's JSON error answer: `status` with `wire_body::error(status, message, request_id)`,
/// invalid UTF-8 in `message` (request text it echoes) replaced by U+FFFD.
protocol::wire_response error_response(int status, std::string_view message,
                                       std::string_view request_id);

}  // namespace zbatch::mock
