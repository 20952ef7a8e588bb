#pragma once
/// Expands a workload into images with arrival times, and computes the best makespan the API's
/// limits allow for it (the "bound" that efficiency is measured against).
///
/// Arrivals are deterministic for a seed (Poisson uses its own inverse-CDF sampling over
/// std::mt19937_64, so results do not depend on the standard library's distributions).

#include <cstdint>
#include <functional>
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

/// The limits of an API as far as the bound is concerned.
struct api_limits {
  int in_flight_cap = 0;         ///< Tasks in flight per key; 0 = unlimited.
  double submit_rate_per_s = 0;  ///< Token-bucket refill; 0 = unlimited.
  double submit_burst = 1;       ///< Token-bucket capacity.
  /// Least time from submit to a downloadable image, per size (median generation time plus the
  /// median response delays of submit, the final poll and download).
  std::function<double(const protocol::image_size&)> image_ms;
  std::string explanation;  ///< Filled by compute_bound.
};

struct bound_result {
  double makespan_ms = 0;
  std::string explanation;
};

/// The makespan of an ideal client: images start in arrival order as soon as they have arrived,
/// a task slot is free and the rate allows, and each takes exactly image_ms. With equal image
/// times this greedy order is optimal, so no strategy can beat it on the median latencies.
bound_result compute_bound(const std::vector<planned_image>& images, const api_limits& limits);

}  // namespace zbatch::scenarios
