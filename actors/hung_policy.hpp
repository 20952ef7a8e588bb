#pragma once
/// The hung-task give-up time (issue 13): how long a running task may take before the batch stops
/// waiting for it. Pure values, unit-tested on their own (tests/actors/hung_policy_test.cpp); the
/// coordinator owns one `latency_window` per batch and publishes `hung_give_up` to its workers.

#include <array>
#include <cstddef>
#include <optional>

#include "actors/strategy.hpp"
#include "protocol/messages.hpp"

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

/// How much work an image of `size` is against a 1024x1024 one (the default): its pixel count
/// over 1024², within 0.25..16; 1 when no size is given. Generation time grows about with the
/// pixels (protocol doc: 512² 1.7 s, 1024² 5.8 s, 1440² 12 s), so the batch's latencies are kept
/// divided by it and a task's give-up and polls are multiplied by its own: in a batch of mixed
/// sizes, a 2048² image was given up as hung against the small ones' latencies and paid twice.
double size_weight(const std::optional<protocol::image_size>& size);

/// What the workers read of the batch's latencies (per unit of size_weight), published by the
/// coordinator at each new latency: how many were seen, the hung quantile, the p10 and the p90.
struct latency_summary {
  std::size_t samples = 0;
  millis hung_quantile{0};
  millis p10{0};
  millis p90{0};
};
latency_summary summarize(const poll_spec& poll, const latency_window& seen);

/// When a running task of `weight` (size_weight) is given up, measured from its acceptance:
/// max(floor, factor × quantile × weight), capped by the fixed poll deadline; nullopt (the fixed
/// deadline applies) while the policy is off or fewer than `hung_min_samples` latencies were seen.
std::optional<millis> hung_give_up(const poll_spec& poll, const latency_summary& seen,
                                   double weight = 1.0);

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
/// For a task of `weight`, the p10 and p90 are multiplied by it.
std::optional<poll_fit> fitted_polls(const poll_spec& poll, const latency_summary& seen,
                                     double weight = 1.0);

}  // namespace zbatch::actors
