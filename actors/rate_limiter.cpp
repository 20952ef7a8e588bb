#include "actors/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace zbatch::actors {

namespace {

millis to_millis(double ms) { return millis{static_cast<std::int64_t>(std::llround(ms))}; }

}  // namespace

millis backoff_delay(const retry_spec& spec, int n, millis previous, jitter_rng& rng) {
  const double base = static_cast<double>(spec.base.count());
  const double cap = static_cast<double>(spec.cap.count());
  double raw = base;
  switch (spec.backoff) {
    case backoff_kind::constant:
      raw = base;
      break;
    case backoff_kind::linear:
      raw = base * (n + 1);
      break;
    case backoff_kind::exponential:
      raw = base * std::ldexp(1.0, std::min(n, 62));
      break;
  }
  const double capped = std::min(cap, raw);
  switch (spec.jitter) {
    case jitter_kind::none:
      return to_millis(capped);
    case jitter_kind::full:
      return to_millis(rng.uniform() * capped);
    case jitter_kind::equal:
      return to_millis(capped / 2 + rng.uniform() * capped / 2);
    case jitter_kind::decorrelated: {
      const double prev = previous.count() > 0 ? static_cast<double>(previous.count()) : base;
      const double high = std::max(base, 3 * prev);
      return to_millis(std::min(cap, base + rng.uniform() * (high - base)));
    }
  }
  return to_millis(capped);
}

rate_limiter::rate_limiter(const strategy_spec& spec, time_point start)
    : spec_(spec),
      last_decrease_(start),
      refilled_at_(start),
      pause_until_(start),
      open_until_(start) {
  limit_ = spec_.inflight.adaptive ? spec_.inflight.initial : spec_.inflight.limit;
  bucket_tokens_ = spec_.pacing.burst;
}

int rate_limiter::effective_limit() const {
  if (!spec_.inflight.adaptive && spec_.inflight.limit == 0) {
    return std::numeric_limits<int>::max();
  }
  return std::max(1, static_cast<int>(std::floor(limit_ + 1e-9)));
}

void rate_limiter::refill(time_point now) {
  if (now > refilled_at_) {
    const double seconds = std::chrono::duration<double>(now - refilled_at_).count();
    bucket_tokens_ = std::min(spec_.pacing.burst, bucket_tokens_ + seconds * spec_.pacing.rate);
    refilled_at_ = now;
  }
}

std::optional<time_point> rate_limiter::next_start(time_point now) {
  if (quota_stopped_) {
    return std::nullopt;
  }
  time_point earliest = std::max(now, pause_until_);
  if (circuit_ == circuit::open) {
    if (now >= open_until_) {
      circuit_ = circuit::half_open;
    } else {
      earliest = std::max(earliest, open_until_);
    }
  }
  if (circuit_ == circuit::half_open && probe_out_) {
    return std::nullopt;
  }
  // Permits: those resting after their image (gap pacing) are not free yet.
  while (!cooling_.empty() && cooling_.top() <= now) {
    cooling_.pop();
  }
  const int limit = effective_limit();
  if (in_flight_ >= limit) {
    return std::nullopt;
  }
  if (in_flight_ + static_cast<int>(cooling_.size()) >= limit) {
    // Only resting permits are missing: the first one is back when its rest ends.
    earliest = std::max(earliest, cooling_.top());
  }
  switch (spec_.pacing.type) {
    case pacing_spec::kind::none:
    case pacing_spec::kind::gap:
      break;
    case pacing_spec::kind::spacing:
      if (last_start_) {
        earliest = std::max(earliest, *last_start_ + spec_.pacing.gap);
      }
      break;
    case pacing_spec::kind::token: {
      refill(now);
      if (bucket_tokens_ < 1.0) {
        const double wait_s = (1.0 - bucket_tokens_) / spec_.pacing.rate;
        const auto wait =
            std::chrono::duration_cast<duration>(std::chrono::duration<double>(wait_s));
        // Round up so the bucket really holds a token when we come back.
        earliest = std::max(earliest, now + wait + duration{1});
      }
      break;
    }
  }
  return earliest;
}

bool rate_limiter::on_start(time_point now) {
  ++in_flight_;
  last_start_ = now;
  if (spec_.pacing.type == pacing_spec::kind::token) {
    refill(now);
    bucket_tokens_ -= 1.0;
  }
  if (circuit_ == circuit::half_open) {
    probe_out_ = true;
  }
  return in_flight_ >= effective_limit();
}

void rate_limiter::on_accepted(time_point now, time_point submitted_at, bool saturated, int level) {
  if (strikes_on() && level > 0) {
    // The service took `level` tasks: every level up to it is open.
    const auto size = static_cast<std::size_t>(level) + 1;
    if (accepted_at_.size() < size) {
      accepted_at_.resize(size, time_point{});
      strikes_.resize(std::max(strikes_.size(), size), 0);
    }
    if (limit_rose(level)) {
      // Find the new limit by slow start (a round trip per doubling), not a permit per round.
      reprobing_ = true;
      closed_below_ = 0;
    }
    accepted_at_[static_cast<std::size_t>(level)] = now;
    std::fill(strikes_.begin(), strikes_.begin() + static_cast<std::ptrdiff_t>(size), 0);
    closures_.resize(std::max(closures_.size(), size), 0);
    std::fill(closures_.begin(), closures_.begin() + static_cast<std::ptrdiff_t>(size), 0);
    ++accepted_;
  }
  if (spec_.inflight.adaptive && saturated && (!decreased_ || submitted_at >= last_decrease_) &&
      (!strikes_on() || within_429_budget())) {
    // Slow start (+1 per acceptance, doubling per round) until the first congestion signal,
    // then additive increase of about one permit per round of acceptances at the limit.
    const double step = decreased_ && !reprobing_ ? 1.0 / effective_limit() : 1.0;
    limit_ = std::min<double>(spec_.inflight.max, limit_ + step);
  }
  consecutive_failures_ = 0;
  if (circuit_ == circuit::half_open) {
    circuit_ = circuit::closed;
    probe_out_ = false;
  }
}

void rate_limiter::on_release(time_point now) {
  --in_flight_;
  if (spec_.pacing.type == pacing_spec::kind::gap && spec_.pacing.gap.count() > 0) {
    cooling_.push(now + spec_.pacing.gap);
  }
  if (circuit_ == circuit::half_open && probe_out_ && in_flight_ == 0) {
    // The probe ended without an acceptance (a failure reopened the circuit already, or it
    // ended otherwise): allow another probe.
    probe_out_ = false;
  }
}

void rate_limiter::decrease(time_point now) {
  limit_ = std::max<double>(spec_.inflight.min, limit_ * spec_.inflight.beta);
  last_decrease_ = now;
  decreased_ = true;
  reprobing_ = false;
}

bool rate_limiter::within_429_budget() const {
  // Every image of the batch is to be accepted (or to fail), so its share of the budget is
  // known before it is: on a 4-image batch, waiting for acceptances to earn the budget kept the
  // second slot shut for a whole task. Only the next window (the limit's worth of images, and
  // one more) is lent ahead, so a long batch still pays as it goes.
  const int ahead = std::max(0, std::min(batch_images_ - accepted_ - 1, effective_limit() + 1));
  return refused_ + 1 <= max_429_share * (accepted_ + 1 + ahead);
}

bool rate_limiter::rate_refusal(time_point now, int level) const {
  // The service held this many tasks (or more) a moment ago; what it refuses now is the rate.
  for (std::size_t at = static_cast<std::size_t>(level); at < accepted_at_.size(); ++at) {
    if (accepted_at_[at] != time_point{} && now - accepted_at_[at] < spec_.inflight.rate_window) {
      return true;
    }
  }
  return false;
}

bool rate_limiter::limit_rose(int level) const {
  // Two closures in a row are not the free tier's dice (one strike-out in a few probes there);
  // a level taken for the first time at or above one is the service holding more than it did.
  // Retaking a level taken before is the dice again: growth stays additive.
  if (closed_below_ == 0 || level < closed_below_) {
    return false;
  }
  return std::none_of(accepted_at_.begin() + static_cast<std::ptrdiff_t>(level), accepted_at_.end(),
                      [](time_point at) { return at != time_point{}; });
}

void rate_limiter::close_level(time_point now, int level) {
  const auto size = static_cast<std::size_t>(level) + 1;
  if (strikes_.size() < size) {
    strikes_.resize(size, 0);
  }
  auto& strikes = strikes_[static_cast<std::size_t>(level)];
  if (++strikes < spec_.inflight.strikes) {
    return;  // One refusal may be the service's dice (a probability growing with load).
  }
  strikes = 0;
  // The levels below stay open: drop to the one below, not to a multiple of the limit.
  limit_ = std::max<double>(spec_.inflight.min, std::min<double>(limit_, level - 1));
  closures_.resize(std::max(closures_.size(), size), 0);
  if (++closures_[static_cast<std::size_t>(level)] >= 2) {
    closed_below_ = closed_below_ > 0 ? std::min(closed_below_, level) : level;
  }
  reprobing_ = false;
  last_decrease_ = now;
  decreased_ = true;
}

void rate_limiter::on_dynamic_429(time_point now, time_point submitted_at,
                                  std::optional<millis> retry_after, int level) {
  if (strikes_on() && level > 0) {
    ++refused_;
    if (rate_refusal(now, level)) {
      ++rate_refusals_;
      // The bucket is empty: submitting before a token is back only draws more 429s.
      pause_until_ = std::max(pause_until_, now + spec_.inflight.rate_window);
    } else {
      close_level(now, level);
    }
  } else if (spec_.inflight.adaptive && (!decreased_ || submitted_at >= last_decrease_)) {
    // Only submits made after the last decrease speak about the current limit: several 429s of
    // one round trip decrease it once (Resilience4j #1177).
    decrease(now);
  }
  if (retry_after && spec_.retry.honour_retry_after) {
    pause_until_ = std::max(pause_until_, now + *retry_after);
  }
}

void rate_limiter::on_server_failure(time_point now) {
  if (!spec_.circuit.enabled) {
    return;
  }
  ++consecutive_failures_;
  if (circuit_ == circuit::half_open ||
      (circuit_ == circuit::closed && consecutive_failures_ >= spec_.circuit.threshold)) {
    circuit_ = circuit::open;
    open_until_ = now + spec_.circuit.open_for;
    probe_out_ = false;
    ++openings_;
  }
}

void rate_limiter::on_success(time_point submitted_at, std::optional<duration> task_latency) {
  consecutive_failures_ = 0;
  if (circuit_ == circuit::half_open) {
    circuit_ = circuit::closed;
    probe_out_ = false;
  }
  if (!task_latency || !spec_.inflight.adaptive || spec_.inflight.latency_factor <= 0) {
    return;
  }
  // Against the median of recent tasks, not the fastest ever seen: task times are heavy-tailed
  // (lognormal on the free tier), so 3x the fastest is crossed by about half of all tasks and
  // the limit shrank at random (issue 13, measured on the step scenario: 43 of 80 tasks).
  const auto latency = std::chrono::duration_cast<millis>(*task_latency);
  const bool enough = latencies_.size() >= latency_min_samples;
  const double median = static_cast<double>(latencies_.quantile(0.5).count());
  latencies_.add(latency);
  if (!enough) {
    return;
  }
  const double ratio = static_cast<double>(latency.count()) / std::max(1.0, median);
  if (ratio > spec_.inflight.latency_factor && (!decreased_ || submitted_at >= last_decrease_)) {
    decrease(submitted_at + *task_latency);
  }
}

bool rate_limiter::circuit_open(time_point now) const {
  return circuit_ == circuit::open && now < open_until_;
}

}  // namespace zbatch::actors
