#pragma once
/// The shared limits of one API key, as a store interface: in-flight permits as leases, submit
/// pacing (GCRA), the adaptive in-flight limit every process shares, the quota stop with its
/// reset time, the circuit breaker's state, the rate-limit header figures, and the processes
/// seen on the key. Two implementations: `memory_store`
/// (memory_store.hpp: in one process, an injected clock, deterministic: the simulator and unit
/// tests) and `redis_store` (redis_store.hpp: every operation one atomic Lua script on a Redis
/// server, so processes on several hosts share one key's limits).
///
/// Time: every operation reads the store's own clock (Redis `TIME` inside the script, the
/// injected clock of the memory store) and answers with it (`now_ms`, milliseconds since the Unix
/// epoch for Redis). Callers never pass their own time, so processes whose clocks disagree still
/// agree on expiry, pacing and "one decrease per round trip"; a caller that needs a submit time
/// for `limit_decrease` uses the `now_ms` its `acquire` returned.
///
/// Errors: each call returns a `result`/`status`; `unavailable` when the store cannot be reached
/// (the caller, permit_client.hpp, then enters its degraded mode), `internal` for an answer that
/// makes no sense. A store object is not thread-safe: one per thread, or a lock around it
/// (permit_client holds one).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"

namespace zbatch::shared_limit {

using millis = std::chrono::milliseconds;

/// Adaptive-limit parameters (the strategy's `inflight=aimd:...`).
struct aimd_params {
  double initial = 1;
  double min = 1;
  double max = 256;
  double beta = 0.7;
  /// 0: every round trip's 429s multiply the limit by `beta` (classic AIMD). N > 0 (the
  /// strategy's `strikes`, issue 13): N refusals in a row on the key, no acceptance at the limit
  /// between, drop it to the level below (its floor - 1): one refusal may be the free tier's
  /// dice, and a lottery level read as congestion halved the limit at random.
  int strikes = 0;
};

/// The limit an `acquire` checks: a fixed number, or the shared adaptive limit as it stands in
/// the store at that moment (read inside the same atomic step; `initial` until first set).
struct lease_limit {
  lease_limit(int fixed_limit) : fixed(fixed_limit) {}  // NOLINT: implicit, a plain number
  lease_limit(const aimd_params& params) : fixed(0), adaptive(params) {}  // NOLINT: implicit
  int fixed = 1;
  std::optional<aimd_params> adaptive;
};

/// A caller's place in the queue for leases (store::acquire): none when `id` is empty.
struct waiter {
  std::string id;
  millis ttl{0};  ///< The place is dropped when the waiter has not asked again for this long.
};

/// The answer to `acquire`.
struct lease_answer {
  bool granted = false;
  int held = 0;             ///< Unexpired leases on the key after the call (this one included).
  int limit = 0;            ///< The limit checked (the adaptive one's floor, at least 1).
  std::int64_t now_ms = 0;  ///< The store's clock when it decided.
  /// Not granted: when the earliest lease expires at the latest (a release may come sooner).
  millis retry_in{0};
  /// The quota is stopped until this time (store clock, ms); nothing was granted.
  std::optional<std::int64_t> quota_reset_ms;
};

/// The answer to `pace` (GCRA: a submit may start now, or in `retry_in`).
struct pace_answer {
  bool allowed = false;
  millis retry_in{0};
};

/// The shared adaptive limit after a read or an update.
struct limit_answer {
  double limit = 0;
  bool changed = false;  ///< The update applied (a decrease within one round trip does not).
};

/// The circuit breaker every process on the key shares.
struct circuit_answer {
  enum class state { closed, open, half_open };
  state now = state::closed;
  std::int64_t until_ms = 0;  ///< open and half_open: when it half-opened / half-opens.
  bool probe = false;         ///< half_open: this caller holds the one probe; others wait.
};

/// The rate-limit header figures the key's processes have seen; unknown: none. The account's
/// calls left today over all models (`modelscope-ratelimit-requests-remaining`), and each
/// model's (`modelscope-ratelimit-model-requests-remaining`, which counts the answering
/// request's model only: a batch of several models learns one figure per model, issue 14).
struct ratelimit_figures {
  std::optional<std::int64_t> account_remaining;
  std::map<std::string, std::int64_t> models;  ///< Model id -> calls left today.
};

class store {
 public:
  virtual ~store() = default;

  // ---- in-flight permits as leases -------------------------------------------------------------
  /// Takes a lease named `lease_id` (unique per holder) that expires `lease` from now, unless
  /// `limit` unexpired leases are held already, the queue holds as many waiters ahead of this
  /// caller as there are free leases, or the quota is stopped. Expired leases and stale waiters
  /// are purged first, in the same atomic step.
  ///
  /// The queue (first come, first served, per waiter): a refused caller that names itself
  /// (`queue.id`, one per process) keeps its place while it asks again within `queue.ttl`; a
  /// granted one leaves it. Without it a process that held permits took back each one it freed
  /// before a waiting process's next try came (a new user's check: a second process's first
  /// submit 26.5 s after it started, none in ten rounds of a kill loop). An unnamed caller
  /// queues nowhere but still lets every waiter go first.
  virtual result<lease_answer> acquire(const std::string& lease_id, const lease_limit& limit,
                                       millis lease, const waiter& queue) = 0;
  /// `acquire` without a place in the queue.
  result<lease_answer> acquire(const std::string& lease_id, const lease_limit& limit,
                               millis lease) {
    return acquire(lease_id, limit, lease, waiter{});
  }
  /// Moves the expiry of each still unexpired lease of `lease_ids` to `lease` from now; returns
  /// how many were renewed (an expired one is gone and is not revived).
  virtual result<int> renew(const std::vector<std::string>& lease_ids, millis lease) = 0;
  /// Adds leases unconditionally (a process that rejoins after the store was unreachable records
  /// the permits it used meanwhile, so the others count them); returns the unexpired count.
  virtual result<int> adopt(const std::vector<std::string>& lease_ids, millis lease) = 0;
  /// Returns a lease early (unknown or expired ids are ignored).
  virtual status release(const std::string& lease_id) = 0;
  /// Unexpired leases now.
  virtual result<int> held() = 0;
  /// The most leases ever held at once, as counted inside the acquire step (for tests).
  virtual result<int> max_held() = 0;

  // ---- submit pacing ---------------------------------------------------------------------------
  /// GCRA over every process: `rate` submits per second with bursts of `burst`.
  virtual result<pace_answer> pace(double rate, int burst) = 0;

  // ---- the shared adaptive limit ---------------------------------------------------------------
  virtual result<limit_answer> limit(const aimd_params& params) = 0;
  /// A congestion signal for a submit made at `submitted_ms` (store clock): multiplies the limit
  /// by beta (with `params.strikes`: counts a strike, and the Nth in a row drops the limit to
  /// the level below) unless a decrease happened after that submit (one decrease per round
  /// trip, across every process).
  virtual result<limit_answer> limit_decrease(const aimd_params& params,
                                              std::int64_t submitted_ms) = 0;
  /// An accepted submit that used the last permit: clears the strikes and, when `grow` (the
  /// caller's 429 budget allows it), adds +1 before the first decrease (slow start), then
  /// +1/limit; ignored for submits made before the last decrease.
  virtual result<limit_answer> limit_increase(const aimd_params& params, std::int64_t submitted_ms,
                                              bool grow) = 0;

  // ---- quota -----------------------------------------------------------------------------------
  /// Stops every acquire on the key until `reset_ms` (store clock).
  virtual status quota_stop(std::int64_t reset_ms) = 0;
  /// The reset time while stopped.
  virtual result<std::optional<std::int64_t>> quota() = 0;

  // ---- circuit breaker -------------------------------------------------------------------------
  /// Opens the circuit until `until_ms` (store clock); a later opening wins over an earlier
  /// one, and any probe of a half-open circuit is dropped (the probe failed).
  virtual status circuit_open(std::int64_t until_ms) = 0;
  /// Closes it (a probe succeeded).
  virtual status circuit_close() = 0;
  /// The state now. Once `until` has passed the circuit is half-open: the first caller becomes
  /// its one probe (named `holder`) for `probe_ttl`, so a probe whose process died is taken over
  /// after that; every other caller sees half_open without the probe and waits.
  virtual result<circuit_answer> circuit(const std::string& holder, millis probe_ttl) = 0;

  // ---- rate-limit header figures ---------------------------------------------------------------
  /// Records the remaining-calls figures of one answer until `until_ms` (the quota reset, store
  /// clock), keeping the lowest of each (the account's, and each model's apart), all in one
  /// atomic step: they only fall within a day, so the lowest is the latest, whichever process
  /// saw it and whenever its answer arrived.
  virtual status ratelimit_record(const ratelimit_figures& figures, std::int64_t until_ms) = 0;
  /// The figures as they stand (none before the first record or after `until_ms`).
  virtual result<ratelimit_figures> ratelimit() = 0;

  // ---- processes -------------------------------------------------------------------------------
  /// Records that `process_id` is alive for `ttl`; returns the processes alive on the key.
  virtual result<int> heartbeat(const std::string& process_id, millis ttl) = 0;
};

/// The store namespace of an API key: "zbatch:" and 16 hex digits of SHA-256 over a fixed prefix
/// and the key. The key itself never reaches the store.
std::string key_namespace(const std::string& api_key);

}  // namespace zbatch::shared_limit
