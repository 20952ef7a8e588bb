#pragma once
/// Expands a workload into images with arrival times, and computes the best makespan the API's
/// limits allow for it (the "bound" that efficiency is measured against).
///
/// Arrivals are deterministic for a seed (Poisson uses its own inverse-CDF sampling over
/// std::mt19937_64, so results do not depend on the standard library's distributions).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "protocol/size.hpp"
#include "scenarios/scenario.hpp"

namespace zbatch::scenarios {

struct planned_image {
  int index = 0;
  int batch = 0;
  std::string prompt;
  std::int64_t seed = 0;
  protocol::image_size size;
  std::int64_t arrival_ms = 0;
};

/// Every image of the workload in arrival order (batch by batch).
std::vector<planned_image> plan_images(const workload_spec& workload, std::uint64_t seed);

/// An in-flight limit that is a known function of time (the mock's `throttle.dynamic.mode`
/// "schedule"): `base` tasks, plus the extra capacity of the first window that holds the time of
/// day, the day being `period_s` long. Times are seconds on the API's clock, whose origin is the
/// workload's time 0 (as in the mock's model: `fmod(t, period)` against `[from_s, to_s)`).
struct limit_schedule {
  struct window {
    double from_s = 0;
    double to_s = 0;
    int extra = 0;
  };
  int base = 1;
  std::vector<window> windows;
  double period_s = 86400;

  /// Tasks allowed in flight at `t_ms` (ms on the workload's clock).
  int limit_at(double t_ms) const;
  /// The first time after `t_ms` at which the limit may change (a window edge or the period's
  /// end); always later than `t_ms`.
  double next_change_ms(double t_ms) const;
};

/// The limits of an API as far as the bound is concerned.
struct api_limits {
  int in_flight_cap = 0;         ///< Tasks in flight per key; 0 = unlimited.
  double submit_rate_per_s = 0;  ///< Token-bucket refill; 0 = unlimited.
  double submit_burst = 1;       ///< Token-bucket capacity.
  /// Least time from submit to a downloadable image, per size (median generation time plus the
  /// median response delays of submit, the final poll and download).
  std::function<double(const protocol::image_size&)> image_ms;
  std::string explanation;  ///< Filled by compute_bound.
  /// The in-flight limit over time, when the profile fixes it (nullopt: it is left to chance).
  /// compute_bound ignores it (it keeps to the guaranteed cap); compute_clairvoyant uses it.
  std::optional<limit_schedule> schedule;
};

struct bound_result {
  double makespan_ms = 0;
  std::string explanation;
};

/// The makespan of an ideal client: images start in arrival order as soon as they have arrived,
/// a task slot is free and the rate allows, and each takes exactly image_ms. With equal image
/// times this greedy order is optimal, so no strategy can beat it on the median latencies.
bound_result compute_bound(const std::vector<planned_image>& images, const api_limits& limits);

/// The clairvoyant reference: the bound's ideal client with `limits.schedule`'s limit in place of
/// the guaranteed cap. It knows the schedule, so it starts an image (in arrival order) as soon as
/// it has arrived, the rate allows and fewer tasks than the limit of that moment are in flight
/// (the mock checks the limit when a task is submitted only, so a task started just before the
/// limit falls keeps running), each taking exactly image_ms. Computed, not played: median times,
/// no faults. nullopt when `limits.schedule` is not set.
std::optional<bound_result> compute_clairvoyant(const std::vector<planned_image>& images,
                                                const api_limits& limits);

}  // namespace zbatch::scenarios
