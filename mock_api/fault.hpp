#pragma once
/// The mock's failure injection, kept apart from the model the way Envoy keeps its fault filter's
/// settings apart from the filter: the fault kinds (one declared enumeration, which also names the
/// `faults.*` counters), the per-request overrides read from `x-zbatch-fault-*` headers, drawing a
/// request's fault and a task's fate from one uniform each, and applying a fault to the answer.
///
/// Pure functions of the config (`faults.*` of mock_api/README.md), the overrides, the time and
/// the draws the caller passes in: the model owns the seeded streams, so the order of draws is
/// decided in one place. No state; no threading concerns.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mock_api/config.hpp"
#include "mock_api/reply.hpp"
#include "protocol/wire.hpp"

namespace zbatch::mock {

/// Every fault the mock injects; `to_string` gives its stats name (`faults.http_500`, ...).
enum class fault_kind : std::uint8_t {
  // Drawn per request from `faults.{submit,poll,download}`, stacked in this order, or named by
  // x-zbatch-fault-transport (reset..slow).
  http_500,
  http_502,  ///< The gateway's HTML page.
  http_503,
  busy,       ///< 503 "Server is busy, please try again later".
  reset,      ///< RST, no answer.
  close,      ///< FIN, no answer.
  hang,       ///< No answer until the client gives up (or `faults.hang_max_ms`).
  malformed,  ///< 200 whose body is not JSON (not a PNG for a download).
  truncate,   ///< Headers and part of the body, then close.
  slow,       ///< The body dribbled over `faults.slow_ms`.
  // Injected otherwise.
  abort,       ///< x-zbatch-fault-abort.
  delay,       ///< x-zbatch-fault-delay-ms.
  fail_first,  ///< One of an endpoint's first `faults.fail_first` requests.
  outage,      ///< A submit inside a `faults.outages` window.
  task_moderation,
  task_system,
  task_never,
  // Drawn per request after `slow` (declared last so older counters keep their places).
  unbound_401,      ///< 401 {"error":{"message":"Please bind your Alibaba Cloud account ..."}}.
  no_provider_400,  ///< 400 {"error":{"message":"Model id : <id> , has no provider supported"}}.
  no_provider_429,  ///< The same with status 429.
  empty_200,        ///< 200 with an empty body, after the endpoint acted (a submit: charged).
};
inline constexpr std::size_t fault_kind_count = 21;
static_assert(static_cast<std::size_t>(fault_kind::empty_200) + 1 == fault_kind_count);
std::string_view to_string(fault_kind kind);

/// How a task ends, decided when it is created.
enum class task_fate : std::uint8_t {
  succeed,
  moderation,  ///< FAILED 422 "Output data may contain inappropriate content."
  system,      ///< FAILED 500 (refunded when the quota says so).
  never,       ///< Stays RUNNING forever and holds no in-flight slot.
};
inline constexpr std::size_t task_fate_count = 4;
static_assert(static_cast<std::size_t>(task_fate::never) + 1 == task_fate_count);
/// Its stats name ("succeed", "moderation", ...).
std::string_view to_string(task_fate fate);
/// The fault counted for a fate (`task_moderation`, ...); nullopt for `succeed`.
std::optional<fault_kind> fault_of(task_fate fate);

/// Request headers that override the config for one request (Envoy style). See README.
namespace fault_headers {
inline constexpr std::string_view abort =
    "x-zbatch-fault-abort";  ///< 500|502|503|busy|429|quota|<4xx/5xx>
inline constexpr std::string_view delay_ms = "x-zbatch-fault-delay-ms";  ///< added response delay
inline constexpr std::string_view transport =
    "x-zbatch-fault-transport";  ///< reset|close|hang|truncate|malformed|slow
inline constexpr std::string_view task =
    "x-zbatch-fault-task";  ///< succeed|moderation|system|never
inline constexpr std::string_view generation_ms =
    "x-zbatch-fault-generation-ms";  ///< exact task time
}  // namespace fault_headers

/// One request's overrides, as read from its `fault_headers`.
struct fault_overrides {
  enum class abort_kind : std::uint8_t {
    none,
    status,        ///< Answer `abort_status` (400..599; 429 is `rate_limited` instead).
    busy,          ///< The 503 busy answer.
    rate_limited,  ///< "429": the throttle's dynamic 429.
    quota,         ///< "quota": the throttle's quota 429.
  };
  bool present = false;  ///< The request carried an x-zbatch-fault-* header (valid or not).
  abort_kind abort = abort_kind::none;
  int abort_status = 0;
  double delay_ms = 0;                  ///< Added to the response delay.
  std::optional<fault_kind> transport;  ///< reset, close, hang, truncate, malformed or slow.
  std::optional<task_fate> task;        ///< A submit's task ends so.
  std::optional<double> generation_ms;  ///< A submit's task ends exactly this long after it.
  /// Non-empty: a bad header value, "<header>: unknown value '<v>' (allowed ...)" (answered 400).
  std::string error;
};

/// Reads the overrides of a request; allocates nothing when it carries no x-zbatch-fault-* header
/// (nearly every request). Milliseconds are accepted in 0..3600000.
fault_overrides read_fault_overrides(const protocol::wire_request& request);

/// The fault of one request to `where` (submit, poll or download; other endpoints have none) from
/// its uniform draw `u` in [0, 1): the endpoint's probabilities stacked in declaration order. An
/// override's transport fault wins over the draw. nullopt: no fault.
std::optional<fault_kind> draw_fault(const fault_config& config, endpoint where, double u,
                                     const fault_overrides& overrides);

/// A task's fate from its uniform draw `u` in [0, 1) (moderation, system, never stacked in this
/// order over `faults.task`); the override wins.
task_fate draw_fate(const task_faults& faults, double u, const fault_overrides& overrides);

/// A fault that answers instead of the endpoint.
struct early_fault {
  fault_kind kind;  ///< abort, fail_first, outage, http_500, http_502, http_503 or busy.
  int status = 0;   ///< The HTTP status of the answer.
};

/// The fault, if any, that answers request number `seen` (from 1) of `where` before the endpoint
/// runs, in this order: an abort override, the endpoint's first `faults.fail_first` requests, an
/// outage window at `now` (submits only), a drawn 5xx or busy.
std::optional<early_fault> early_fault_of(const fault_config& config, endpoint where,
                                          std::uint64_t seen, const fault_overrides& overrides,
                                          std::optional<fault_kind> drawn, duration now);

/// The answer of an early fault, except an abort with `rate_limited` or `quota`, which is the
/// throttle's 429. A 502 looks like a gateway's HTML page, as in the wild; an outage answers its
/// window's status with the busy body.
/// `model_id`: the request's model, named by the "no provider" texts.
protocol::wire_response early_fault_answer(const early_fault& fault,
                                           const fault_overrides& overrides,
                                           std::string_view request_id,
                                           std::string_view model_id = {});

/// Whether a fault leaves the connection without any answer (reset, close, hang): on a submit
/// these may hit before the task is created (`faults.transport_after_accept` false).
bool drops_connection(fault_kind kind);

/// What a malformed answer looks like: cut JSON, or bytes that are not a PNG.
enum class body_kind : std::uint8_t { json, image };

/// Applies a transport-level fault (reset, close, hang, truncate, malformed, slow) to `out`, whose
/// response is the endpoint's answer.
void apply_fault(fault_kind kind, const fault_config& config, body_kind body,
                 std::string_view request_id, reply& out);

}  // namespace zbatch::mock
