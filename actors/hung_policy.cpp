#include "actors/hung_policy.hpp"

#include <algorithm>
#include <cmath>

namespace zbatch::actors {

void latency_window::add(millis latency) {
  ring_[next_] = latency;
  next_ = (next_ + 1) % capacity;
  count_ = std::min(count_ + 1, capacity);
}

millis latency_window::quantile(double q) const {
  if (count_ == 0) {
    return millis{0};
  }
  // A copy of at most 64 values per new latency: cheaper than any incremental structure here.
  std::array<millis, capacity> sorted{};
  std::copy_n(ring_.begin(), count_, sorted.begin());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(count_)));
  const auto at = std::min(count_ - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(at),
                   sorted.begin() + static_cast<std::ptrdiff_t>(count_));
  return sorted[at];
}

double size_weight(const std::optional<protocol::image_size>& size) {
  if (!size) {
    return 1.0;
  }
  const double pixels = static_cast<double>(size->width) * static_cast<double>(size->height);
  return std::clamp(pixels / (1024.0 * 1024.0), 0.25, 16.0);
}

latency_summary summarize(const poll_spec& poll, const latency_window& seen) {
  latency_summary out;
  out.samples = seen.size();
  out.hung_quantile = seen.quantile(poll.hung.quantile);
  out.p10 = seen.quantile(0.1);
  out.p90 = seen.quantile(0.9);
  return out;
}

namespace {

millis weighted(millis value, double factor) {
  return millis{static_cast<std::int64_t>(std::ceil(static_cast<double>(value.count()) * factor))};
}

}  // namespace

std::optional<millis> hung_give_up(const poll_spec& poll, const latency_summary& seen,
                                   double weight) {
  if (!poll.hung.enabled || seen.samples < static_cast<std::size_t>(hung_min_samples)) {
    return std::nullopt;
  }
  const auto scaled = weighted(seen.hung_quantile, poll.hung.factor * weight);
  return std::min(poll.deadline, std::max(poll.hung.floor, scaled));
}

std::optional<poll_fit> fitted_polls(const poll_spec& poll, const latency_summary& seen,
                                     double weight) {
  if (poll.fit <= 0 || seen.samples < static_cast<std::size_t>(poll_fit_min_samples)) {
    return std::nullopt;
  }
  poll_fit out;
  out.from = std::max(poll.fit_min_gap, weighted(seen.p10, weight));
  out.until = std::max(out.from, weighted(seen.p90, weight));
  out.every = std::max(poll.fit_min_gap, (out.until - out.from) / poll.fit);
  return out;
}

}  // namespace zbatch::actors
