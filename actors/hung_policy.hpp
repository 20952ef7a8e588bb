#pragma once
/// The hung-task give-up time (issue 13): how long a running task may take before the batch stops
/// waiting for it. Pure values, unit-tested on their own (tests/actors/hung_policy_test.cpp); the
/// coordinator owns one `latency_window` per batch and publishes `hung_give_up` to its workers.

#include <array>
#include <cstddef>
#include <optional>

#include "actors/strategy.hpp"

namespace zbatch::actors {

/// The last `capacity` task latencies (submit accepted -> SUCCEED seen) of a batch, in a ring:
/// memory does not grow with the batch, and the quantile follows the service as it changes.
class latency_window {
 public:
  static constexpr std::size_t capacity = 64;

  void add(millis latency);
  std::size_t size() const { return count_; }
  /// The `q`-quantile (0..1, nearest rank) of the latencies held; 0 ms when there are none.
  millis quantile(double q) const;

 private:
  std::array<millis, capacity> ring_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

/// When a running task is given up, measured from its acceptance: max(floor, factor × quantile),
/// capped by the fixed poll deadline; nullopt (the fixed deadline applies) while the policy is
/// off or fewer than `hung_min_samples` latencies were seen.
std::optional<millis> hung_give_up(const poll_spec& poll, const latency_window& seen);

}  // namespace zbatch::actors
