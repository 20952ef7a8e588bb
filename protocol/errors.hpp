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

#include "protocol/ratelimit.hpp"

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

/// One failure, as much as the service said about it. Fields added later keep defaults, so
/// `api_error{}` and designated code elsewhere stay valid.
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
  /// `errors.code` when it was a name rather than a number ("DataInspectionFailed").
  std::string code_name;
  /// A dynamic_429 whose text is neither a known dynamic nor a known quota text of the service
  /// (nor settled by its rate-limit headers): treated as dynamic, but the caller should bound
  /// how often it retries it and then stop, showing the text.
  bool unknown_429 = false;
  /// The answer came from something in front of the service (HTTP 502, 504, 524, or a 5xx whose
  /// body is not the service's JSON error and not its "Server is busy"), or is an error inside
  /// a 2xx answer that names no refusal (classify_error_in_success). On a submit this makes
  /// the error `ambiguous`: the origin may have created and charged the task.
  bool from_gateway = false;
  /// When Retry-After says to come back, as Unix seconds (the receive time plus the delay, or
  /// the HTTP-date itself); set with `retry_after_ms`.
  std::optional<std::int64_t> retry_at_unix_s;
  /// The answer's modelscope-ratelimit-* headers, when it carried any (client::read_*).
  std::optional<ratelimit_state> ratelimit;

  std::string describe() const;  ///< "dynamic_429 (HTTP 429): We have to rate limit you ..."
};

/// What an error body says: `errors.message`, then `error.message`, then `message`, then the raw
/// text (trimmed and shortened); `request_id` when present. Never throws.
struct error_text {
  std::string message;
  std::string request_id;
  int code = 0;           ///< The envelope's `code`: a number, or a string holding a number.
  std::string code_name;  ///< The envelope's `code` when it is a string that is not a number.
  /// The message came from an `errors` or `error` object: the service's own error shapes.
  bool envelope = false;
  /// It came from `errors`, the image and task endpoints' own shape (protocol doc, "Errors").
  /// OpenAI's `error` is the service's only on newer 429s; on a 5xx it is as likely a relay
  /// that answers so after the origin created (and charged) the task (a new user's check).
  bool origin_envelope = false;
};
error_text extract_error_text(std::string_view body);

/// An `errors.code` sent as a JSON string: the number it holds ("422", as some gateways send),
/// else 0 and the string as the code's name ("DataInspectionFailed").
struct error_code {
  int number = 0;
  std::string name;
};
error_code error_code_from_string(std::string_view text);

/// True when a 429 text is one of the service's quota texts (protocol doc: "Request limit
/// exceeded.", "You have exceeded today's quota for model ...", "insufficient balance",
/// "免费使用额度已用完"). Whole phrases only: an unknown text that merely contains "quota" is not.
bool is_quota_message(std::string_view message);

/// True for "Model id : <id> , has no provider supported" (protocol doc, "What newer public
/// material adds"): the model cannot be served, so no retry helps; it is a request_error even
/// when it comes with status 429.
bool is_no_provider_message(std::string_view message);

/// True for the service's own answer that it does not know a task: HTTP 404 whose text says
/// "task not found" (texts::task_not_found; the mock's "Task not found: <id>"), classified a
/// request_error: not a gateway's page (`from_gateway`), an auth refusal, or an answer the codec
/// found naming another task (malformed).
bool is_task_unknown(const api_error& error);

/// True when a 429 text is the service's dynamic limit ("We have to rate limit you ...").
bool is_dynamic_limit_message(std::string_view message);

/// True for content moderation: `code` 422, a known moderation code name
/// (DataInspectionFailed, IPInfringementSuspect, in CamelCase or snake_case, with or without a
/// dotted prefix such as "InternalError.Algo."), or a message saying "inappropriate content"
/// (the service's and DashScope's moderation texts). Sources: the protocol doc, QwenLM/qwen-code
/// #3145, DashScope's image-generation docs.
bool is_moderation(int code, std::string_view code_name, std::string_view message);

/// Classifies a non-2xx HTTP answer from the submit or task endpoint (or an image download).
/// 429: quota or dynamic by the known texts only; any other text is dynamic with `unknown_429`.
/// 5xx: server_transport, with `from_gateway` as documented on api_error (the caller of a submit
/// turns that into `ambiguous`). 4xx: moderation when `is_moderation` says so, server_transport
/// for "Server is busy", otherwise request_error.
api_error classify_http_error(int status, std::string_view body);

/// An error envelope that came with a 2xx status (`{"errors":{"code":..,"message":..}}` and its
/// shapes), classified by its content: by `code` when it is an HTTP status (400..599) as
/// classify_http_error would, otherwise by the texts (moderation, quota, dynamic limit, busy),
/// else malformed. `http_status` keeps the real status. nullopt when the body is no error
/// envelope (no `errors`/`error` object with a message and no `code`).
std::optional<api_error> classify_error_in_success(int status, std::string_view body);

/// Classifies a task that reached FAILED with the given `errors` code and message (`code_name`
/// when the code was a non-numeric string): moderation per `is_moderation`, else task_failed;
/// a code 429 is a rate limit answered inside the poll (the task may still run), classified as
/// an HTTP 429 with this text would be.
api_error classify_task_failure(int code, std::string_view message, std::string request_id = {},
                                std::string_view code_name = {});

/// The longest Retry-After `parse_retry_after` returns: 30 days. Longer values (and numbers too
/// large to hold) come back as this bound, which any caller treats as "stop" anyway.
inline constexpr std::int64_t max_retry_after_ms = 30LL * 24 * 3600 * 1000;

/// Parses a Retry-After value, in milliseconds: delta-seconds, or an HTTP-date relative to
/// `now_unix_s` (a date in the past is 0). The value is returned as sent, not capped: a long wait
/// is the caller's to turn into a stop. Only values beyond `max_retry_after_ms` are clamped to
/// it. Returns nullopt for anything unparseable.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_unix_s);

}  // namespace zbatch::protocol
