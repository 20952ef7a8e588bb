#pragma once
/// A batching strategy as data: in-flight limit (fixed or adaptive), pacing, retries with backoff
/// and jitter, a retry budget, a circuit breaker, the poll policy and the quota/ambiguity rules.
///
/// Every knob is independent and range-checked. A spec is written as JSON or in a compact form
/// (`bounded,inflight=3` or `inflight=4,pace=token:2/s:burst=3,retry=3:exp:base=500ms:cap=8s:
/// jitter=full`; see actors/README.md), optionally starting from a named preset that the later
/// clauses override. Parsing fails (a `zbatch::status`, base/status.hpp: invalid_argument, or
/// not_found for an unknown preset) naming the knob and its allowed range before anything is
/// sent. Plain values; no threading concerns.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::actors {

using millis = std::chrono::milliseconds;

/// Tasks in flight: a fixed number (0 = unbounded) or AIMD-adaptive; with `strikes` > 0 a dynamic
/// 429 is read by the level it was drawn at (see rate_limiter.hpp).
struct inflight_spec {
  bool adaptive = false;
  int limit = 0;                ///< Fixed limit; 0 means unbounded.
  int initial = 1;              ///< AIMD: starting limit.
  int min = 1;                  ///< AIMD: floor of the limit.
  int max = 64;                 ///< AIMD: ceiling of the limit.
  double beta = 0.7;            ///< AIMD: multiplicative decrease factor on congestion.
  double latency_factor = 0.0;  ///< AIMD: task latency above this × the median of the last 64
                                ///< seen counts as congestion; 0 turns the latency signal off.
  /// AIMD: 0 = every dynamic 429 multiplies the limit by `beta` (classic). N = a level (the tasks
  /// in flight a submit made, itself included) closes after N capacity refusals in a row at it:
  /// the limit drops to the level below, and a refused submit is retried after its short 429
  /// backoff instead of waiting for a task to end. A 429 at a level that was accepted within the
  /// last `rate_window` is the per-key submit rate speaking, not capacity: it closes nothing.
  int strikes = 0;
  /// Strikes: a refusal this soon after an acceptance at the same or a higher level is a rate
  /// refusal (the free tier's token bucket refills one submit per second; protocol doc). Not a
  /// knob (no compact form): a duration of the service's, scaled with the clock in http mode.
  millis rate_window{1000};
};

/// Pacing of starts: none; a rest of `gap` for a permit after its image ends (the reviewed code's
/// sleep after each image); a minimum `gap` between consecutive submits; or a token bucket.
struct pacing_spec {
  enum class kind { none, gap, spacing, token };
  kind type = kind::none;
  millis gap{0};
  double rate = 0.5;   ///< token: tokens per second.
  double burst = 2.0;  ///< token: bucket size (also its initial content).
};

enum class backoff_kind { constant, linear, exponential };
enum class jitter_kind { none, full, equal, decorrelated };

/// Retries of one image after a retryable failure.
struct retry_spec {
  int max_retries = 0;  ///< Error retries per image (5xx, transport, failed task, malformed).
  backoff_kind backoff = backoff_kind::exponential;
  millis base{500};
  millis cap{8000};
  jitter_kind jitter = jitter_kind::none;
  /// Dynamic 429s retried without using the error retries; once these are used up a 429 takes
  /// an error retry. 0 = every 429 is an ordinary retryable error (the reviewed code).
  int max_429_retries = 0;
  bool honour_retry_after = true;  ///< Wait max(Retry-After, own backoff) when a hint is given.
  /// After an ambiguous submit failure (the task may exist) resubmit anyway (true: pays twice
  /// if it did exist) or fail the image (false).
  bool resubmit_ambiguous = false;
};

/// gRPC-style retry throttling (gRFC A6): failures cost 1 token, successes earn `token_ratio`,
/// no error retries while tokens <= max_tokens / 2.
struct budget_spec {
  bool enabled = false;
  double max_tokens = 10;
  double token_ratio = 0.1;
};

/// The hung-task policy (issue 13): a running task is given up
/// max(`floor`, `factor` × the `quantile` of the task latencies seen so far in the batch) after it
/// was accepted, capped by the fixed poll deadline; until `hung_min_samples` latencies were seen
/// the fixed deadline applies. A task given up while still RUNNING/PENDING (never a SUCCEEDed
/// one) is resubmitted knowingly up to `resubmits` times per image: a counted, paid submit within
/// `--max-submits`, while the old task is still polled beside the new one (at most two tasks).
struct hung_spec {
  bool enabled = false;  ///< Off: the fixed deadline alone (every preset but adaptive).
  double quantile = 0.95;
  double factor = 3.0;
  millis floor{30000};
  int resubmits = 1;
};

/// Latencies a hung give-up waits for before it replaces the fixed deadline.
constexpr int hung_min_samples = 5;

/// Polling of an accepted task: first wait `interval`, then × `factor` up to `cap`; the task is
/// given up (error class `deadline`) `deadline` after it was accepted, or earlier by `hung`.
struct poll_spec {
  millis interval{1000};
  double factor = 1.0;
  millis cap{5000};
  millis deadline{300000};
  hung_spec hung;
  /// Polls fitted to the latencies seen (0: off): once `poll_fit_min_samples` tasks finished,
  /// a task is first polled at the p10 of their latencies, then `fit` times up to their p90
  /// (never closer than `fit_min_gap`), then `factor` growth from that gap up to `cap`
  /// (actors/hung_policy.hpp). Before that, the schedule above.
  int fit = 0;
  /// Fitted polls of one task are never closer than this (the hindsight grid's shorter
  /// interval). Not a knob (no compact form); scaled with the clock in http mode.
  millis fit_min_gap{250};
};

/// Circuit breaker: `threshold` consecutive server/transport failures open it for `open_for`,
/// then one half-open probe decides between closing and opening again.
struct circuit_spec {
  bool enabled = false;
  int threshold = 5;
  millis open_for{10000};
};

struct strategy_spec {
  std::string name = "custom";  ///< Preset name, or "custom" once anything was changed.
  inflight_spec inflight;
  pacing_spec pacing;
  retry_spec retry;
  budget_spec budget;
  poll_spec poll;
  circuit_spec circuit;
  /// On a quota 429: stop submitting, let what is in flight finish, fail the rest as quota_429.
  bool stop_on_quota = false;
};

/// The preset names in the order the CLI lists them: serial, concurrent, bounded, retry,
/// token-bucket, adaptive.
const std::vector<std::string>& preset_names();

/// A named preset; not_found listing the names for an unknown one.
result<strategy_spec> preset(std::string_view name);

/// Parses the compact form (or a bare preset name) and validates it.
result<strategy_spec> parse_strategy(std::string_view text);

/// The canonical compact form (every knob spelled out); parse_strategy(to_compact(s)) == s
/// apart from the name.
std::string to_compact(const strategy_spec& spec);

/// Reads a JSON spec: a string (preset or compact form) or an object (see README); `where` is
/// the JSON path used in errors (e.g. "strategies[2]"), which read as every JSON input's do
/// (base/json_reader.hpp): "strategies[2].retry.maxx: unknown field (allowed ...)". Null
/// `budget` or `circuit` turns that part off; any other null field counts as absent.
result<strategy_spec> strategy_from_json(const nlohmann::json& document,
                                         const std::string& where = "strategy");
nlohmann::json to_json(const strategy_spec& spec);

/// Checks every knob's range; fails naming the first bad one.
status validate(const strategy_spec& spec);

}  // namespace zbatch::actors
