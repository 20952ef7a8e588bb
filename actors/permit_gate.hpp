#pragma once
/// An outside source of in-flight permits, the shared store behind the limiter actor
/// (limiter_actor.hpp): one API key's limits shared by several processes (shared_limit/, issue
/// 15). The limiter actor asks it for a permit just before an attempt starts (after the
/// coordinator's rate limiter said yes), returns the permit when the attempt ends or its
/// coordinator leaves or dies, and tells it about accepted submits, dynamic
/// 429s, the quota, server failures, its circuit breaker's openings and the rate-limit headers,
/// so a shared adaptive limit, quota stop, circuit and remaining-calls figures follow every
/// process.
/// Without a gate (the default) the limiter actor's in-process store decides alone.
///
/// Lifetime: shared by the caller and the limiter actor (shared_ptr); it must outlive it.
/// Threading: called only from the limiter actor, one call at a time; an implementation
/// may run its own threads (a heartbeat). Calls must not block for long: an implementation that
/// talks to a server bounds each call (time-outs) and falls back to a local decision.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/strategy.hpp"
#include "protocol/ratelimit.hpp"

namespace zbatch::actors {

class permit_gate {
 public:
  struct answer {
    std::optional<std::uint64_t> permit;  ///< Granted: a handle for the other calls.
    millis retry_in{20};                  ///< Not granted: when the coordinator asks again.
    /// Another process stopped for the quota: no permit until the reset (Unix time, ms).
    std::optional<std::int64_t> quota_reset_ms;
    /// Models some process saw with no calls left today (the model's remaining count at 0, the
    /// account's above it): their images stop, the other models' go on (issue 14's per-model
    /// quotas). Reported with or without a permit.
    std::vector<std::string> exhausted_models;
  };

  virtual ~permit_gate() = default;
  virtual answer acquire() = 0;
  virtual void release(std::uint64_t permit) = 0;
  /// The permit's submit was accepted; `grow`: this process's 429 budget lets an adaptive limit
  /// grow (rate_limiter::may_grow).
  virtual void on_accepted(std::uint64_t permit, bool grow) = 0;
  /// The permit's submit drew a dynamic 429 (called before `release`).
  virtual void on_dynamic_429(std::uint64_t permit) = 0;
  /// The batch stopped for the quota; `retry_after` is the service's hint, if any.
  virtual void on_quota(std::optional<millis> retry_after) = 0;
  /// The permit's attempt ended in a server or transport failure (called before `release`).
  virtual void on_server_failure(std::uint64_t /*permit*/) {}
  /// This coordinator's circuit breaker opened for `open_for`.
  virtual void on_circuit_opened(millis /*open_for*/) {}
  /// A submit answer's rate-limit headers (`modelscope-ratelimit-*`) for a submit of `model`
  /// (the model-requests figures are that model's).
  virtual void on_ratelimit(const protocol::ratelimit_state& /*limits*/,
                            const std::string& /*model*/) {}
  /// The latest quota reset (Unix ms) `acquire` reported from the store: another process's
  /// quota stop, the service's time if it gave one. Read once the run is over (any thread).
  virtual std::optional<std::int64_t> quota_reset_seen() const { return std::nullopt; }
};

}  // namespace zbatch::actors
