#pragma once
/// The mock's throttle: admission per API key as a state machine over the time passed in. Per key
/// it keeps the in-flight slots (the done times of the tasks holding one), a token bucket, the
/// daily credit quota with its pending refunds, and the key's submit counts. It decides a submit
/// in the order the service appears to apply its limits (token bucket, daily quota, then the
/// in-flight cap with dynamic refusal above it) and writes what a client sees of them: the 429
/// answers and the `modelscope-ratelimit-*` headers. Rules: `throttle.*` in mock_api/README.md.
///
/// Owned by the model, one per model; `reset` forgets every key. Never reads a clock: every
/// call takes `now` (time since the clock's origin). Deterministic: the same config, draws (the
/// `rng` it is given, used only for `dynamic.mode` "load") and times give the same decisions.
/// Not thread-safe: the model calls it under its mutex.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mock_api/clock.hpp"
#include "mock_api/config.hpp"
#include "mock_api/rng.hpp"
#include "protocol/wire.hpp"

namespace zbatch::mock {

/// Why the throttle refused a request: the three kinds of 429, named as in the stats'
/// `rate_limited.*`.
enum class refusal : std::uint8_t {
  dynamic,  ///< Above the in-flight cap: "We have to rate limit you ...".
  rate,     ///< The token bucket is empty.
  quota,    ///< The day's credits are spent.
};
inline constexpr std::size_t refusal_count = 3;
static_assert(static_cast<std::size_t>(refusal::quota) + 1 == refusal_count);
std::string_view to_string(refusal why);

/// Credits a task gets back when it fails for system reasons, due at its failure time.
struct pending_refund {
  duration at{0};
  std::int64_t day = 0;  ///< Quota day it was charged on: a refund after the reset changes nothing.
  double credits = 0;
};

/// One API key's standing, as of the last time the throttle settled it.
struct key_state {
  std::deque<duration> in_flight;  ///< Done times of the tasks holding a slot, ascending.
  /// The most slots it held at once (counted when a task takes one, after finished tasks freed
  /// theirs), since the key's first use or the last reset: how many tasks the key's clients
  /// together really had running.
  std::size_t in_flight_peak = 0;
  double tokens = 0;  ///< Token bucket content, once `bucket_started`.
  duration last_refill{0};
  bool bucket_started = false;  ///< The bucket starts full at the key's first token request.
  std::int64_t day = -1;        ///< Quota day of `used` (`throttle::day_index`).
  double used = 0;              ///< Credits charged on `day`, net of refunds that fell due.
  std::vector<pending_refund> refunds;
  long long calls = 0;  ///< Tasks created on `day` (daily_limits), over all models...
  std::map<std::string, long long, std::less<>> model_calls;  ///< ...and per model.
  std::uint64_t submits = 0;   ///< Submit attempts that reached the model with this key.
  std::uint64_t accepted = 0;  ///< Tasks created (paid).
};

/// A task the model created after `admit_submit` let it through.
struct admitted_task {
  duration done_at{0};          ///< When it ends: its slot frees, its refund falls due.
  bool holds_slot = true;       ///< False for a task that never ends.
  bool system_failure = false;  ///< It ends FAILED for system reasons (refundable).
  std::string_view model;       ///< Its model, counted against `daily_limits`.
};

/// A daily limit counted in tasks, as the rate-limit headers state it.
struct task_allowance {
  long long limit = 0;
  long long remaining = 0;
};

/// What the four rate-limit headers say for one key and model: the account's calls (all
/// models) and the model's; either absent when nothing limits it.
struct ratelimit_view {
  std::optional<task_allowance> account;
  std::optional<task_allowance> model;
};

class throttle {
 public:
  /// `draws` is the stream of the "load" refusals.
  throttle(throttle_config config, rng draws);

  /// Replaces the config live; keys keep their slots, tokens and credits.
  void configure(throttle_config config);
  const throttle_config& config() const { return config_; }

  /// Unix time (seconds) at the clock's origin: places the quota reset at local midnight of
  /// `quota.reset_utc_offset_hours`. Default 0.
  void set_clock_origin_unix(std::int64_t unix_seconds);

  /// Forgets every key and the credit totals, and restarts the draws from `draws`.
  void reset(rng draws);

  /// The key under `label` (created on first use), brought up to `now`: finished tasks free
  /// their slots, refunds due by now are applied, the quota day rolls over. The reference stays
  /// valid until `reset`.
  key_state& settle(const std::string& label, duration now);
  /// `settle`, counting a submit attempt with the key.
  key_state& settle_submit(const std::string& label, duration now);
  /// Settles every key (before a report: refunds due by now count).
  void settle_all(duration now);

  /// Whether a valid submit with a settled `key` may create a task at `now`; takes a bucket
  /// token first (kept even when the quota or the cap then refuses, as the service does).
  /// `model`: the submit's model, for `daily_limits` (checked after the credit quota: a submit
  /// past the account's or the model's daily calls is refused as `quota`).
  std::optional<refusal> admit_submit(key_state& key, duration now, std::string_view model = {});
  /// Whether another request with `key` (a poll) may pass: only a token bucket of scope "all"
  /// refuses it.
  std::optional<refusal> admit_request(key_state& key, duration now);
  /// Books a created task: charges the quota, holds a slot until `done_at` and schedules the
  /// refund of a system failure when the quota refunds those.
  void accept(key_state& key, const admitted_task& task);

  /// The quota day of `now`: 0 before the first reset, then +1 at every reset (every 24 h).
  std::int64_t day_index(duration now) const;
  /// Seconds from `now` to the next quota reset.
  double seconds_to_reset(duration now) const;
  /// The key's daily quota in tasks; nullopt when the quota is off or costs nothing. One
  /// number serves the key-wide and the per-model headers today.
  std::optional<task_allowance> daily_tasks(const key_state& key) const;

  /// The 429 answer of `why` with the service's texts for `model_id`, in the configured body
  /// shape, with Retry-After when configured (quota: the seconds to the reset).
  protocol::wire_response refusal_answer(refusal why, std::string_view model_id,
                                         std::string_view request_id, duration now) const;
  /// The key's standing for `model` (empty: the account only). The account's figures are the
  /// tighter of `daily_limits.account` and the credit quota in tasks; the model's are
  /// `daily_limits`' for the model, or the account's when only the credit quota is on.
  ratelimit_view allowance(const key_state& key, std::string_view model) const;
  /// Adds `modelscope-ratelimit-requests-{limit,remaining}` (the account) and
  /// `modelscope-ratelimit-model-requests-{limit,remaining}` (the model; left out when `model`
  /// is empty) when `ratelimit_headers` is on and something limits them. Names and meaning:
  /// protocol doc, "What newer public material adds".
  void add_ratelimit_headers(protocol::wire_response& response, const key_state& key,
                             std::string_view model = {}) const;

  /// Tasks holding a slot across keys, as last settled.
  std::size_t in_flight() const;
  /// Credits charged since the start (or reset), and refunds that fell due by the last settle.
  double credits_charged() const { return credits_charged_; }
  double credits_refunded() const { return credits_refunded_; }
  /// Every key by label, in label order.
  const std::map<std::string, key_state>& keys() const { return keys_; }

 private:
  void settle(key_state& key, duration now);
  double first_reset_s() const;
  bool take_token(key_state& key, duration now);
  bool refuse_above_cap(const key_state& key, duration now);
  int schedule_capacity(duration now) const;

  throttle_config config_;
  rng draws_;
  std::int64_t origin_unix_ = 0;
  std::map<std::string, key_state> keys_;
  double credits_charged_ = 0;
  double credits_refunded_ = 0;
};

}  // namespace zbatch::mock
