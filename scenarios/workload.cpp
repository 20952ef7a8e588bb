#include "scenarios/workload.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <random>
#include <sstream>

namespace zbatch::scenarios {

std::vector<planned_image> plan_images(const workload_spec& workload, std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<planned_image> out;
  out.reserve(static_cast<std::size_t>(workload.total_images()));
  double batch_arrival_ms = 0;
  for (int b = 0; b < workload.batches; ++b) {
    if (b > 0) {
      const double mean_gap_ms = 1000.0 / std::max(workload.arrival.batches_per_second, 1e-9);
      switch (workload.arrival.kind) {
        case arrival_kind::all_at_once:
          break;
        case arrival_kind::fixed_rate:
          batch_arrival_ms += mean_gap_ms;
          break;
        case arrival_kind::poisson: {
          // Uniform in (0, 1] from 53 random bits, then the exponential's inverse CDF.
          const double u = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
          batch_arrival_ms += -std::log(u) * mean_gap_ms;
          break;
        }
      }
    }
    const auto& prompt = workload.prompts[static_cast<std::size_t>(b) % workload.prompts.size()];
    for (int i = 0; i < workload.images_per_batch; ++i) {
      planned_image image;
      image.index = static_cast<int>(out.size());
      image.batch = b;
      image.prompt = prompt;
      image.seed = workload.seed_base + i;
      image.size = workload.sizes[static_cast<std::size_t>(i) % workload.sizes.size()];
      image.arrival_ms = static_cast<std::int64_t>(std::llround(batch_arrival_ms));
      out.push_back(std::move(image));
    }
  }
  return out;
}

bound_result compute_bound(const std::vector<planned_image>& images, const api_limits& limits) {
  bound_result out;
  if (images.empty()) {
    out.explanation = "no images";
    return out;
  }
  // Min-heap of the times at which task slots free up (only when capped).
  std::priority_queue<double, std::vector<double>, std::greater<>> slots;
  if (limits.in_flight_cap > 0) {
    for (int i = 0; i < limits.in_flight_cap; ++i) {
      slots.push(0.0);
    }
  }
  double tokens = limits.submit_burst;
  double token_time = 0;
  double finish = 0;
  const double first_arrival = static_cast<double>(images.front().arrival_ms);
  for (const auto& image : images) {
    double start = static_cast<double>(image.arrival_ms);
    if (limits.in_flight_cap > 0) {
      start = std::max(start, slots.top());
      slots.pop();
    }
    if (limits.submit_rate_per_s > 0) {
      // Refill up to `start`, then wait for a whole token if needed.
      tokens = std::min(limits.submit_burst,
                        tokens + (start - token_time) * limits.submit_rate_per_s / 1000.0);
      token_time = start;
      if (tokens < 1.0) {
        const double wait_ms = (1.0 - tokens) * 1000.0 / limits.submit_rate_per_s;
        start += wait_ms;
        tokens = 1.0;
        token_time = start;
      }
      tokens -= 1.0;
    }
    const double done = start + limits.image_ms(image.size);
    if (limits.in_flight_cap > 0) {
      slots.push(done);
    }
    finish = std::max(finish, done);
  }
  out.makespan_ms = finish - first_arrival;
  std::ostringstream why;
  why << images.size() << " images; "
      << (limits.in_flight_cap > 0
              ? "at most " + std::to_string(limits.in_flight_cap) + " in flight"
              : std::string("no in-flight cap"));
  if (limits.submit_rate_per_s > 0) {
    why << "; submits at " << limits.submit_rate_per_s << "/s (burst " << limits.submit_burst
        << ")";
  }
  why << "; " << std::llround(limits.image_ms(images.front().size)) << " ms per "
      << images.front().size.to_string() << " image (median)";
  if (!limits.explanation.empty()) {
    why << "; " << limits.explanation;
  }
  out.explanation = why.str();
  return out;
}

}  // namespace zbatch::scenarios
