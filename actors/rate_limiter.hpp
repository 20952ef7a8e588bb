#pragma once
/// The rate limiter: who may start an attempt now, and when the next start is allowed. Holds the
/// in-flight permits (fixed, or adaptive by AIMD driven by dynamic 429s read per level and task
/// latency), the
/// pacing (gap after an image, spacing between submits, or a token bucket), a global pause from
/// Retry-After hints, the circuit breaker and the quota stop; plus the backoff computation with
/// seeded jitter. (The retry budget is the batch's: retry_budget.hpp, held by the coordinator.)
///
/// A plain state machine with the current time passed in, so it runs unchanged on the wall clock
/// and in virtual time and is unit-tested without actors. The limiter actor (limiter_actor.hpp)
/// owns it, one per API key in a process (or one per coordinator with a shared store), and is
/// its only caller (one actor, so no locking).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "actors/hung_policy.hpp"
#include "actors/strategy.hpp"
#include "base/rng.hpp"

namespace zbatch::actors {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

/// The backoff jitter's generator: the project's seeded xoshiro256** (base/rng.hpp), the same
/// draws on every standard library.
using jitter_rng = base::rng;

/// The wait before retry number `n` (0-based) under `spec`; `previous` is the previous wait of the
/// same image (decorrelated jitter needs it; pass 0 for the first).
millis backoff_delay(const retry_spec& spec, int n, millis previous, jitter_rng& rng);

class rate_limiter {
 public:
  explicit rate_limiter(const strategy_spec& spec, time_point start);

  /// When the next attempt may start: `now` or later, or nullopt while it must wait for a
  /// running attempt to end (every permit taken, a half-open probe out, or quota stopped).
  std::optional<time_point> next_start(time_point now);

  /// An attempt starts now; returns true when it takes the last free permit (the limit is in
  /// use, so its acceptance may raise an adaptive limit).
  bool on_start(time_point now);
  /// The attempt's submit was accepted at `now` (AIMD additive increase when `saturated`);
  /// `level` is the tasks in flight the submit made, itself included (`in_flight()` right after
  /// its `on_start`; 0 = unknown), which `inflight.strikes` reads.
  void on_accepted(time_point now, time_point submitted_at, bool saturated, int level);
  void on_accepted(time_point submitted_at, bool saturated) {
    on_accepted(submitted_at, submitted_at, saturated, 0);
  }
  /// The attempt ended (any outcome); its permit returns (after the gap, if pacing by gap).
  void on_release(time_point now);
  /// A dynamic 429 for a submit made at `submitted_at`; decreases an adaptive limit at most once
  /// per round trip; a Retry-After hint pauses every start until it expires.
  /// With `inflight.strikes`, `level` (as for on_accepted) decides: a rate refusal (the level
  /// was accepted within `rate_window`) closes nothing; N capacity refusals in a row at a level
  /// drop the limit to the level below.
  void on_dynamic_429(time_point now, time_point submitted_at, std::optional<millis> retry_after,
                      int level = 0);
  int rate_refusals() const { return rate_refusals_; }  ///< 429s read as the submit rate.
  /// A server or transport failure (5xx, reset, time-out): counts towards opening the circuit.
  void on_server_failure(time_point now);
  /// A request succeeded: closes the circuit; `task_latency` (submit to terminal state) feeds
  /// the adaptive limit's latency signal: a task taking more than `inflight.latency_factor` x
  /// the median of the last 64 (once 8 were seen) shrinks the limit by `beta`.
  void on_success(time_point submitted_at, std::optional<duration> task_latency);
  /// The batch holds `images` images (the coordinator says so once, before the first start): the
  /// politeness budget then lends the next window's share ahead of its acceptances. 0 = unknown.
  void plan_batch(int images) { batch_images_ = images; }
  int planned_batch() const { return batch_images_; }
  /// A quota 429 with stop_on_quota: no more starts.
  void on_quota() { quota_stopped_ = true; }
  bool quota_stopped() const { return quota_stopped_; }

  double limit() const { return limit_; }  ///< Current in-flight limit (0 = unbounded).
  /// Whether an acceptance at the limit may grow an adaptive limit now: always without
  /// `inflight.strikes`, else while the politeness budget allows (a shared limit asks too).
  bool may_grow() const { return !strikes_on() || within_429_budget(); }
  int in_flight() const { return in_flight_; }
  bool circuit_open(time_point now) const;
  int circuit_openings() const { return openings_; }

 private:
  int effective_limit() const;
  void decrease(time_point now);
  void refill(time_point now);

  strategy_spec spec_;
  double limit_ = 0;
  int in_flight_ = 0;
  time_point last_decrease_;
  bool decreased_ = false;
  /// The last tasks' latencies: the latency signal compares each new one with their median.
  latency_window latencies_;
  static constexpr std::size_t latency_min_samples = 8;
  // Strikes (inflight.strikes > 0), indexed by level.
  bool strikes_on() const { return spec_.inflight.adaptive && spec_.inflight.strikes > 0; }
  bool rate_refusal(time_point now, int level) const;
  void close_level(time_point now, int level);
  /// The politeness budget of issue 13 (at most one dynamic 429 per delivered image), kept with
  /// room to spare: the limit grows only while the 429s drawn so far, and one more, stay within
  /// `max_429_share` per accepted submit, the next window of the batch counted as accepted.
  bool within_429_budget() const;
  static constexpr double max_429_share = 0.95;
  int batch_images_ = 0;  ///< The batch's images; 0 = unknown (nothing lent ahead).
  int accepted_ = 0;
  int refused_ = 0;
  std::vector<int> strikes_;             ///< Capacity refusals in a row per level.
  std::vector<time_point> accepted_at_;  ///< Last acceptance per level.
  /// The lowest level closed twice in a row (no acceptance at it between) since the last
  /// slow start; 0 = none.
  int closed_below_ = 0;
  std::vector<int> closures_;  ///< Closures in a row per level (no acceptance between).
  /// The service's limit rose (issue 13's step up): the first acceptance at `closed_below_` or
  /// above, higher than any level taken before. Growth is slow start again (+1 per acceptance)
  /// until the next closure or decrease.
  bool limit_rose(int level) const;
  bool reprobing_ = false;
  int rate_refusals_ = 0;
  // Pacing.
  std::priority_queue<time_point, std::vector<time_point>, std::greater<>> cooling_;
  std::optional<time_point> last_start_;
  double bucket_tokens_ = 0;  ///< Token-bucket pacing: submits that may start at once.
  time_point refilled_at_;
  time_point pause_until_;
  // Circuit breaker.
  enum class circuit { closed, open, half_open };
  circuit circuit_ = circuit::closed;
  int consecutive_failures_ = 0;
  time_point open_until_;
  bool probe_out_ = false;
  int openings_ = 0;
  bool quota_stopped_ = false;
};

}  // namespace zbatch::actors
