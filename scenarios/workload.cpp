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

namespace {

/// The API's submit token bucket as the ideal client meets it: refilled continuously, a submit
/// waits for a whole token. Without a rate every submit goes at once.
class submit_bucket {
 public:
  explicit submit_bucket(const api_limits& limits)
      : rate_per_s_(limits.submit_rate_per_s),
        burst_(limits.submit_burst),
        tokens_(limits.submit_burst) {}

  /// Takes a token for a submit wanted at `start` (ms); returns when the submit can go.
  double take(double start) {
    if (rate_per_s_ <= 0) {
      return start;
    }
    // Refill up to `start`, then wait for a whole token if needed.
    tokens_ = std::min(burst_, tokens_ + (start - token_time_) * rate_per_s_ / 1000.0);
    token_time_ = start;
    if (tokens_ < 1.0) {
      const double wait_ms = (1.0 - tokens_) * 1000.0 / rate_per_s_;
      start += wait_ms;
      tokens_ = 1.0;
      token_time_ = start;
    }
    tokens_ -= 1.0;
    return start;
  }

 private:
  double rate_per_s_;
  double burst_;
  double tokens_;
  double token_time_ = 0;
};

/// "; submits at 1/s (burst 8); 3920 ms per 1024x1024 image (median)[; note]": the part of the
/// bound's and the clairvoyant's explanations after their in-flight limit.
std::string rate_and_time_text(const std::vector<planned_image>& images, const api_limits& limits) {
  std::ostringstream why;
  if (limits.submit_rate_per_s > 0) {
    why << "; submits at " << limits.submit_rate_per_s << "/s (burst " << limits.submit_burst
        << ")";
  }
  // Every size of the workload, in order of first use (a new user's check: half the images at
  // 2048x2048 read as "6720 ms per 1024x1024 image").
  constexpr std::size_t named_sizes = 4;
  std::vector<std::string> sizes;
  why << ";";
  for (const auto& image : images) {
    const auto size = image.size.to_string();
    if (std::find(sizes.begin(), sizes.end(), size) != sizes.end()) {
      continue;
    }
    if (sizes.size() < named_sizes) {
      why << (sizes.empty() ? " " : ", ") << std::llround(limits.image_ms(image.size)) << " ms per "
          << size << " image";
    }
    sizes.push_back(size);
  }
  why << " (median)";
  if (sizes.size() > named_sizes) {
    why << " and " << sizes.size() - named_sizes << " more size(s)";
  }
  if (!limits.explanation.empty()) {
    why << "; " << limits.explanation;
  }
  return why.str();
}

using done_times = std::priority_queue<double, std::vector<double>, std::greater<>>;

/// Forgets the tasks of `running` done by `t_ms`; true when `schedule` lets one more start then.
bool slot_free(done_times& running, const limit_schedule& schedule, double t_ms) {
  while (!running.empty() && running.top() <= t_ms) {
    running.pop();
  }
  return static_cast<int>(running.size()) < schedule.limit_at(t_ms);
}

}  // namespace

int limit_schedule::limit_at(double t_ms) const {
  const double t = std::fmod(t_ms / 1000.0, period_s);
  for (const auto& w : windows) {
    if (t >= w.from_s && t < w.to_s) {
      return base + w.extra;
    }
  }
  return base;
}

double limit_schedule::next_change_ms(double t_ms) const {
  const double day_start_s = std::floor(t_ms / 1000.0 / period_s) * period_s;
  const double t = t_ms / 1000.0 - day_start_s;
  double next = period_s;
  for (const auto& w : windows) {
    for (double edge : {w.from_s, w.to_s}) {
      if (edge > t && edge < next) {
        next = edge;
      }
    }
  }
  // Rounding may put the edge at t itself: never answer a time that is not later.
  return std::max((day_start_s + next) * 1000.0, std::nextafter(t_ms, HUGE_VAL));
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
  submit_bucket bucket(limits);
  double finish = 0;
  const double first_arrival = static_cast<double>(images.front().arrival_ms);
  for (const auto& image : images) {
    double start = static_cast<double>(image.arrival_ms);
    if (limits.in_flight_cap > 0) {
      start = std::max(start, slots.top());
      slots.pop();
    }
    start = bucket.take(start);
    const double done = start + limits.image_ms(image.size);
    if (limits.in_flight_cap > 0) {
      slots.push(done);
    }
    finish = std::max(finish, done);
  }
  out.makespan_ms = finish - first_arrival;
  std::ostringstream why;
  why << images.size() << (images.size() == 1 ? " image; " : " images; ")
      << (limits.in_flight_cap > 0
              ? "at most " + std::to_string(limits.in_flight_cap) + " in flight"
              : std::string("no in-flight cap"))
      << rate_and_time_text(images, limits);
  out.explanation = why.str();
  return out;
}

std::optional<bound_result> compute_clairvoyant(const std::vector<planned_image>& images,
                                                const api_limits& limits) {
  if (!limits.schedule || images.empty()) {
    return std::nullopt;
  }
  const limit_schedule& schedule = *limits.schedule;
  done_times running;
  submit_bucket bucket(limits);
  double finish = 0;
  double last_start = 0;
  for (const auto& image : images) {
    // In arrival order: never before the previous start (the heap only knows the tasks running
    // from that time on).
    double start = std::max(static_cast<double>(image.arrival_ms), last_start);
    while (true) {
      if (!slot_free(running, schedule, start)) {
        // Wait for a task to end or the limit to rise, whichever comes first.
        start = std::min(running.top(), schedule.next_change_ms(start));
        continue;
      }
      // The token may come later than the slot; then the slot must still be free at that time.
      submit_bucket after = bucket;
      const double go = after.take(start);
      if (go == start || slot_free(running, schedule, go)) {
        bucket = after;
        start = go;
        break;
      }
      start = go;
    }
    last_start = start;
    const double done = start + limits.image_ms(image.size);
    running.push(done);
    finish = std::max(finish, done);
  }
  bound_result out;
  out.makespan_ms = finish - static_cast<double>(images.front().arrival_ms);
  // The limit is constant between window edges: its range is what it is at each edge (a new
  // user's check: "1..4 by time" for a window covering the whole day, whose limit is 4 always).
  int lowest = schedule.limit_at(0), highest = lowest;
  for (const auto& w : schedule.windows) {
    for (const double edge_s : {w.from_s, w.to_s}) {
      if (edge_s >= 0 && edge_s < schedule.period_s) {
        lowest = std::min(lowest, schedule.limit_at(edge_s * 1000.0));
        highest = std::max(highest, schedule.limit_at(edge_s * 1000.0));
      }
    }
  }
  std::ostringstream why;
  why << images.size() << (images.size() == 1 ? " image" : " images")
      << "; as many in flight as the schedule allows (";
  if (lowest == highest) {
    why << lowest << " at all times)";
  } else {
    why << lowest << ".." << highest << " by time of a " << schedule.period_s << " s period)";
  }
  why << rate_and_time_text(images, limits);
  out.explanation = why.str();
  return out;
}

}  // namespace zbatch::scenarios
