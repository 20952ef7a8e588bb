#include "mock_api/throttle.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "mock_api/reply.hpp"
#include "protocol/messages.hpp"
#include "protocol/ratelimit.hpp"

namespace zbatch::mock {
namespace {

constexpr double day_s = 86400.0;

}  // namespace

std::string_view to_string(refusal why) {
  static constexpr std::string_view names[refusal_count] = {"dynamic", "rate", "quota"};
  return names[static_cast<std::size_t>(why)];
}

throttle::throttle(throttle_config config, rng draws) : config_(std::move(config)), draws_(draws) {}

void throttle::configure(throttle_config config) { config_ = std::move(config); }

void throttle::set_clock_origin_unix(std::int64_t unix_seconds) { origin_unix_ = unix_seconds; }

void throttle::reset(rng draws) {
  draws_ = draws;
  keys_.clear();
  credits_charged_ = 0;
  credits_refunded_ = 0;
}

// ---- the quota day ---------------------------------------------------------------------------

double throttle::first_reset_s() const {
  const auto& q = config_.quota;
  if (q.first_reset_s) {
    return *q.first_reset_s;
  }
  const auto offset = static_cast<std::int64_t>(std::llround(q.reset_utc_offset_hours * 3600));
  const std::int64_t local = origin_unix_ + offset;
  const std::int64_t day = static_cast<std::int64_t>(day_s);
  return static_cast<double>(((day - (local % day + day) % day)) % day);
}

std::int64_t throttle::day_index(duration now) const {
  const double t = to_seconds(now) - first_reset_s();
  return t < 0 ? 0 : static_cast<std::int64_t>(std::floor(t / day_s)) + 1;
}

double throttle::seconds_to_reset(duration now) const {
  const double first = first_reset_s();
  const double t = to_seconds(now);
  if (t < first) {
    return first - t;
  }
  return day_s - std::fmod(t - first, day_s);
}

// ---- settling --------------------------------------------------------------------------------

void throttle::settle(key_state& key, duration now) {
  while (!key.in_flight.empty() && key.in_flight.front() <= now) {
    key.in_flight.pop_front();
  }
  auto due = std::stable_partition(key.refunds.begin(), key.refunds.end(),
                                   [&](const pending_refund& r) { return r.at > now; });
  for (auto it = due; it != key.refunds.end(); ++it) {
    credits_refunded_ += it->credits;
    if (it->day == key.day) {
      key.used = std::max(0.0, key.used - it->credits);
    }
  }
  key.refunds.erase(due, key.refunds.end());
  const std::int64_t day = day_index(now);
  if (day != key.day) {
    key.day = day;
    key.used = 0;
    key.calls = 0;
    key.model_calls.clear();
  }
}

key_state& throttle::settle(const std::string& label, duration now) {
  key_state& key = keys_[label];
  settle(key, now);
  return key;
}

key_state& throttle::settle_submit(const std::string& label, duration now) {
  key_state& key = settle(label, now);
  ++key.submits;
  return key;
}

void throttle::settle_all(duration now) {
  for (auto& entry : keys_) {
    settle(entry.second, now);
  }
}

std::size_t throttle::in_flight() const {
  std::size_t total = 0;
  for (const auto& entry : keys_) {
    total += entry.second.in_flight.size();
  }
  return total;
}

// ---- admission -------------------------------------------------------------------------------

bool throttle::take_token(key_state& key, duration now) {
  const auto& r = config_.rate;
  if (!key.bucket_started) {
    key.bucket_started = true;
    key.tokens = r.burst;
    key.last_refill = now;
  }
  key.tokens = std::min(r.burst, key.tokens + to_seconds(now - key.last_refill) * r.per_second);
  key.last_refill = now;
  if (key.tokens < 1.0) {
    return false;
  }
  key.tokens -= 1.0;
  return true;
}

int throttle::schedule_capacity(duration now) const {
  const auto& d = config_.dynamic;
  const double t = std::fmod(to_seconds(now), d.schedule_period_s);
  for (const auto& w : d.schedule) {
    if (t >= w.from_s && t < w.to_s) {
      return w.capacity;
    }
  }
  return 0;
}

/// For a key at or above the cap: "off" refuses, "load" refuses with a probability growing with
/// the key's and everyone's load (one draw), "schedule" allows the window's extra capacity.
bool throttle::refuse_above_cap(const key_state& key, duration now) {
  const auto& t = config_;
  if (t.dynamic.mode == "load") {
    const auto above = static_cast<double>(key.in_flight.size() - t.in_flight_cap);
    const double p =
        std::min(t.dynamic.max_probability,
                 t.dynamic.base_probability + t.dynamic.per_task_probability * above +
                     t.dynamic.per_global_task_probability * static_cast<double>(in_flight()));
    return draws_.uniform() < p;
  }
  if (t.dynamic.mode == "schedule") {
    return key.in_flight.size() >=
           static_cast<std::size_t>(t.in_flight_cap + schedule_capacity(now));
  }
  return true;
}

std::optional<refusal> throttle::admit_submit(key_state& key, duration now,
                                              std::string_view model) {
  const auto& t = config_;
  if (t.rate.enabled && !take_token(key, now)) {
    return refusal::rate;
  }
  if (t.quota.enabled && key.used + t.quota.cost_per_task > t.quota.daily_credits + 1e-9) {
    return refusal::quota;
  }
  if (t.daily_limits.enabled) {
    const auto calls = key.model_calls.find(model);
    const long long model_calls = calls == key.model_calls.end() ? 0 : calls->second;
    if (key.calls >= t.daily_limits.account ||
        model_calls >= t.daily_limits.limit_for(std::string(model))) {
      return refusal::quota;
    }
  }
  if (t.in_flight_cap > 0 && key.in_flight.size() >= static_cast<std::size_t>(t.in_flight_cap) &&
      refuse_above_cap(key, now)) {
    return refusal::dynamic;
  }
  return std::nullopt;
}

std::optional<refusal> throttle::admit_request(key_state& key, duration now) {
  if (config_.rate.enabled && config_.rate.scope == "all" && !take_token(key, now)) {
    return refusal::rate;
  }
  return std::nullopt;
}

void throttle::accept(key_state& key, const admitted_task& task) {
  if (task.holds_slot) {
    // Slots free in completion order; keep the deque sorted.
    key.in_flight.insert(std::upper_bound(key.in_flight.begin(), key.in_flight.end(), task.done_at),
                         task.done_at);
    key.in_flight_peak = std::max(key.in_flight_peak, key.in_flight.size());
  }
  const auto& q = config_.quota;
  if (q.enabled) {
    key.used += q.cost_per_task;
    credits_charged_ += q.cost_per_task;
    if (task.system_failure && q.refund_system_failures) {
      key.refunds.push_back({task.done_at, key.day, q.cost_per_task});
    }
  }
  if (config_.daily_limits.enabled) {
    ++key.calls;
    auto it = key.model_calls.find(task.model);
    if (it == key.model_calls.end()) {
      it = key.model_calls.emplace(std::string(task.model), 0).first;
    }
    ++it->second;
  }
  ++key.accepted;
}

// ---- what the client sees ----------------------------------------------------------------------

std::optional<task_allowance> throttle::daily_tasks(const key_state& key) const {
  const auto& q = config_.quota;
  if (!q.enabled || q.cost_per_task <= 0) {
    return std::nullopt;
  }
  task_allowance out;
  out.limit = static_cast<long long>(q.daily_credits / q.cost_per_task);
  out.remaining =
      static_cast<long long>(std::max(0.0, (q.daily_credits - key.used) / q.cost_per_task));
  return out;
}

protocol::wire_response throttle::refusal_answer(refusal why, std::string_view model_id,
                                                 std::string_view request_id, duration now) const {
  const auto& t = config_;
  std::string message;
  if (why == refusal::quota) {
    message = t.quota.message == "request_limit"
                  ? std::string(protocol::texts::request_limit_exceeded)
                  : protocol::texts::daily_quota(model_id);
  } else {
    message = protocol::texts::dynamic_rate_limit(model_id);
  }
  auto response = t.body_shape == "openai"
                      ? json_response(429, protocol::openai_error_body(message))
                      : error_response(429, message, request_id);
  if (t.retry_after_header) {
    const double seconds = why == refusal::quota ? seconds_to_reset(now) : t.retry_after_s;
    response.headers.set("Retry-After", std::to_string(static_cast<long long>(std::ceil(seconds))));
  }
  return response;
}

ratelimit_view throttle::allowance(const key_state& key, std::string_view model) const {
  ratelimit_view out;
  out.account = daily_tasks(key);
  const auto& d = config_.daily_limits;
  if (!d.enabled) {
    out.model = out.account;
    return out;
  }
  const task_allowance calls{d.account, std::max(0LL, d.account - key.calls)};
  if (!out.account) {
    out.account = calls;
  } else {
    out.account->limit = std::min(out.account->limit, calls.limit);
    out.account->remaining = std::min(out.account->remaining, calls.remaining);
  }
  if (!model.empty()) {
    const auto it = key.model_calls.find(model);
    const long long used = it == key.model_calls.end() ? 0 : it->second;
    const long long limit = d.limit_for(std::string(model));
    out.model = task_allowance{limit, std::max(0LL, limit - used)};
  }
  return out;
}

void throttle::add_ratelimit_headers(protocol::wire_response& response, const key_state& key,
                                     std::string_view model) const {
  if (!config_.ratelimit_headers) {
    return;
  }
  const auto view = allowance(key, model);
  if (view.account) {
    response.headers.set(std::string(protocol::ratelimit::requests_limit),
                         std::to_string(view.account->limit));
    response.headers.set(std::string(protocol::ratelimit::requests_remaining),
                         std::to_string(view.account->remaining));
  }
  if (view.model) {
    response.headers.set(std::string(protocol::ratelimit::model_requests_limit),
                         std::to_string(view.model->limit));
    response.headers.set(std::string(protocol::ratelimit::model_requests_remaining),
                         std::to_string(view.model->remaining));
  }
}

}  // namespace zbatch::mock
