#pragma once
/// Failures of the ModelScope image API and how a client should treat each.
///
/// Every failure anywhere in zbatch (an HTTP status, a FAILED task, a broken connection, a body
/// that does not parse) is reduced to one `error_class`, with the message and request id the
/// service gave. Strategies decide from the class alone, so the client and the mock agree on
/// what a failure means by sharing this file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zbatch::protocol {

enum class error_class {
  dynamic_429,       ///< Dynamic rate limit: back off and retry later.
  quota_429,         ///< Daily quota or balance gone: stop submitting until the reset.
  server_transport,  ///< 5xx, "server is busy", reset, time-out: retryable.
  request_error,     ///< 400/401/403/404 (and other 4xx): fatal, retrying cannot help.
  moderation,        ///< Task FAILED with code 422: the same prompt and seed will fail again.
  task_failed,       ///< Task FAILED for system reasons: retryable (and refunded).
  malformed,         ///< A response that does not follow the protocol.
  deadline,          ///< The image's own deadline passed while its task was still running.
  cancelled,         ///< The batch was cancelled (or stopped) before the image finished.
};

/// Stable lower-case name used in JSON, reports and the CLI ("dynamic_429", ...).
std::string_view to_string(error_class kind);
std::optional<error_class> error_class_from_string(std::string_view name);

/// Whether a fresh attempt at the same image may succeed.
bool is_retryable(error_class kind);

/// One failure, as much as the service said about it.
struct api_error {
  error_class kind = error_class::malformed;
  int http_status = 0;     ///< 0 when no HTTP answer arrived (transport) or for task failures.
  int service_code = 0;    ///< `errors.code` of a FAILED task or an error body, 0 when absent.
  std::string message;     ///< Text extracted from the body, or a description of the fault.
  std::string request_id;  ///< The service's request id when it gave one.
  std::optional<std::int64_t> retry_after_ms;  ///< From a Retry-After header, when present.
  /// True when the request may have reached the service even though no answer came back (a
  /// submit that timed out may have created a task): never blindly resubmit after this.
  bool ambiguous = false;
  /// True when no connection was made (refused, DNS, TLS handshake or verification): the
  /// request never left, so it cost nothing and the service may be unreachable altogether.
  bool unsent = false;
  /// A 429 whose text is neither a known rate-limit text nor a known quota text (classified as
  /// dynamic_429; the coordinator stops the batch after a few in a row).
  bool unknown_429 = false;

  std::string describe() const;  ///< "dynamic_429 (HTTP 429): We have to rate limit you ..."
};

/// What an error body says: `errors.message`, then `error.message`, then `message`, then the raw
/// text (trimmed and shortened); `request_id` when present. Never throws.
struct error_text {
  std::string message;
  std::string request_id;
  int code = 0;
};
error_text extract_error_text(std::string_view body);

/// True when a 429 message means the quota is spent rather than a dynamic limit.
bool is_quota_message(std::string_view message);

/// Classifies a non-2xx HTTP answer from the submit or task endpoint.
api_error classify_http_error(int status, std::string_view body);

/// Classifies a task that reached FAILED with the given `errors` code and message.
api_error classify_task_failure(int code, std::string_view message, std::string request_id = {});

/// Parses a Retry-After value: delta-seconds, or an HTTP-date relative to `now_unix_s`.
/// Absurd values are capped at `cap_ms`. Returns nullopt for anything unparseable.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_unix_s,
                                              std::int64_t cap_ms = 3'600'000);

}  // namespace zbatch::protocol
