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

/// Latencies a fitted poll schedule waits for (before them: the spec's interval and growth).
constexpr int poll_fit_min_samples = 5;

/// Where a task's polls go while the batch's latencies are known, in ms after acceptance: the
/// first at `from`, then every `every` while before `until`; after that the spec's schedule.
struct poll_fit {
  millis from{0};
  millis every{0};
  millis until{0};
};

/// The fitted schedule (poll_spec::fit polls between the p10 and the p90 of the latencies seen),
/// or nullopt while it is off or fewer than `poll_fit_min_samples` latencies were seen. Why: a
/// task is done around its peers' latencies, so polls placed there find it sooner than a fixed
/// growth from 1 s, and none are spent before the fastest tenth could be done.
std::optional<poll_fit> fitted_polls(const poll_spec& poll, const latency_window& seen);

}  // namespace zbatch::actors
