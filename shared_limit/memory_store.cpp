#include "shared_limit/memory_store.hpp"

#include <algorithm>
#include <cmath>

namespace zbatch::shared_limit {

struct memory_store::state {
  std::mutex mutex;
  clock now;
  bool reachable = true;
  std::map<std::string, std::int64_t> leases;     ///< id -> expiry
  std::map<std::string, std::int64_t> processes;  ///< id -> expiry
  /// The queue for leases: waiter id -> {ticket (a counter), expiry of its place}.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> waiters;
  std::int64_t last_ticket = 0;
  int max_held = 0;
  std::optional<std::int64_t> tat;  ///< GCRA theoretical arrival time
  std::optional<double> limit;
  std::int64_t last_decrease = 0;
  bool decreased = false;
  int strikes = 0;  ///< Refusals in a row at the limit (aimd_params::strikes).
  std::optional<std::int64_t> quota_reset;
  std::optional<std::int64_t> circuit_until;
  std::optional<std::pair<std::string, std::int64_t>> probe;  ///< holder, expiry
  ratelimit_figures figures;
  std::int64_t figures_until = 0;

  /// Drops stale waiters; returns how many of the rest are ahead of `me` (all when not queued).
  int waiters_ahead(const waiter& me, std::int64_t now) {
    for (auto it = waiters.begin(); it != waiters.end();) {
      it = it->second.second <= now ? waiters.erase(it) : std::next(it);
    }
    const auto mine = waiters.find(me.id);
    int ahead = 0;
    for (const auto& [id, times] : waiters) {
      ahead += id != me.id && (mine == waiters.end() || times.first < mine->second.first);
    }
    return ahead;
  }
  static void purge(std::map<std::string, std::int64_t>& set, std::int64_t now) {
    for (auto it = set.begin(); it != set.end();) {
      it = it->second <= now ? set.erase(it) : std::next(it);
    }
  }
  double current(const aimd_params& p) {
    if (!limit) {
      limit = p.initial;
    }
    return *limit;
  }
};

namespace {
status unreachable() { return unavailable_error("the shared-limit store is unreachable"); }
}  // namespace

memory_store::memory_store(clock now) : state_(std::make_shared<state>()) {
  state_->now = std::move(now);
}

memory_store memory_store::share() const { return memory_store(state_); }

void memory_store::set_reachable(bool reachable) {
  std::lock_guard lock(state_->mutex);
  state_->reachable = reachable;
}

result<lease_answer> memory_store::acquire(const std::string& lease_id, const lease_limit& wanted,
                                           millis lease, const waiter& queue) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const auto now = s.now();
  lease_answer answer;
  answer.now_ms = now;
  if (s.quota_reset && *s.quota_reset > now) {
    answer.quota_reset_ms = s.quota_reset;
    return answer;
  }
  state::purge(s.leases, now);
  const int limit =
      wanted.adaptive
          ? std::max(1, static_cast<int>(std::floor(s.current(*wanted.adaptive) + 1e-9)))
          : wanted.fixed;
  answer.limit = limit;
  const int held = static_cast<int>(s.leases.size());
  const int ahead = s.waiters_ahead(queue, now);
  if (held >= limit || limit - held <= ahead) {
    std::int64_t first = now + lease.count();
    for (const auto& [id, expiry] : s.leases) {
      first = std::min(first, expiry);
    }
    answer.held = held;
    answer.retry_in = millis{held >= limit ? first - now : lease.count()};
    if (!queue.id.empty()) {
      auto [place, added] = s.waiters.try_emplace(queue.id, s.last_ticket + 1, 0);
      s.last_ticket += added ? 1 : 0;
      place->second.second = now + queue.ttl.count();
    }
    return answer;
  }
  s.waiters.erase(queue.id);
  s.leases[lease_id] = now + lease.count();
  answer.granted = true;
  answer.held = static_cast<int>(s.leases.size());
  s.max_held = std::max(s.max_held, answer.held);
  return answer;
}

result<int> memory_store::renew(const std::vector<std::string>& lease_ids, millis lease) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const auto now = s.now();
  state::purge(s.leases, now);
  int renewed = 0;
  for (const auto& id : lease_ids) {
    if (auto it = s.leases.find(id); it != s.leases.end()) {
      it->second = now + lease.count();
      ++renewed;
    }
  }
  return renewed;
}

result<int> memory_store::adopt(const std::vector<std::string>& lease_ids, millis lease) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const auto now = s.now();
  state::purge(s.leases, now);
  for (const auto& id : lease_ids) {
    s.leases[id] = now + lease.count();
  }
  s.max_held = std::max(s.max_held, static_cast<int>(s.leases.size()));
  return static_cast<int>(s.leases.size());
}

status memory_store::release(const std::string& lease_id) {
  std::lock_guard lock(state_->mutex);
  if (!state_->reachable) {
    return unreachable();
  }
  state_->leases.erase(lease_id);
  return ok_status();
}

result<int> memory_store::held() {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  state::purge(s.leases, s.now());
  return static_cast<int>(s.leases.size());
}

result<int> memory_store::max_held() {
  std::lock_guard lock(state_->mutex);
  if (!state_->reachable) {
    return unreachable();
  }
  return state_->max_held;
}

result<pace_answer> memory_store::pace(double rate, int burst) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  // GCRA in whole milliseconds, as the Lua script computes it.
  const auto now = s.now();
  const auto interval = static_cast<std::int64_t>(std::ceil(1000.0 / rate));
  const auto tolerance = interval * (burst - 1);
  const auto tat = std::max(s.tat.value_or(now), now);
  pace_answer answer;
  if (now < tat - tolerance) {
    answer.retry_in = millis{tat - tolerance - now};
    return answer;
  }
  s.tat = tat + interval;
  answer.allowed = true;
  return answer;
}

result<limit_answer> memory_store::limit(const aimd_params& params) {
  std::lock_guard lock(state_->mutex);
  if (!state_->reachable) {
    return unreachable();
  }
  return limit_answer{state_->current(params), false};
}

result<limit_answer> memory_store::limit_decrease(const aimd_params& params,
                                                  std::int64_t submitted_ms) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const double current = s.current(params);
  if (s.decreased && submitted_ms < s.last_decrease) {
    return limit_answer{current, false};
  }
  if (params.strikes > 0) {
    if (++s.strikes < params.strikes) {
      return limit_answer{current, false};
    }
    s.strikes = 0;
    s.limit = std::max(params.min, std::min(current, std::floor(current + 1e-9) - 1));
  } else {
    s.limit = std::max(params.min, current * params.beta);
  }
  s.last_decrease = s.now();
  s.decreased = true;
  return limit_answer{*s.limit, true};
}

result<limit_answer> memory_store::limit_increase(const aimd_params& params,
                                                  std::int64_t submitted_ms, bool grow) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const double current = s.current(params);
  if (s.decreased && submitted_ms < s.last_decrease) {
    return limit_answer{current, false};
  }
  s.strikes = 0;
  if (!grow) {
    return limit_answer{current, false};
  }
  const double step = s.decreased ? 1.0 / std::max(1.0, std::floor(current + 1e-9)) : 1.0;
  s.limit = std::min(params.max, current + step);
  return limit_answer{*s.limit, true};
}

status memory_store::quota_stop(std::int64_t reset_ms) {
  std::lock_guard lock(state_->mutex);
  if (!state_->reachable) {
    return unreachable();
  }
  state_->quota_reset = reset_ms;
  return ok_status();
}

result<std::optional<std::int64_t>> memory_store::quota() {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  if (s.quota_reset && *s.quota_reset <= s.now()) {
    s.quota_reset.reset();
  }
  return s.quota_reset;
}

status memory_store::circuit_open(std::int64_t until_ms) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  if (!s.circuit_until || until_ms > *s.circuit_until) {
    s.circuit_until = until_ms;
  }
  s.probe.reset();
  return ok_status();
}

status memory_store::circuit_close() {
  std::lock_guard lock(state_->mutex);
  if (!state_->reachable) {
    return unreachable();
  }
  state_->circuit_until.reset();
  state_->probe.reset();
  return ok_status();
}

result<circuit_answer> memory_store::circuit(const std::string& holder, millis probe_ttl) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  circuit_answer answer;
  if (!s.circuit_until) {
    return answer;
  }
  const auto now = s.now();
  answer.until_ms = *s.circuit_until;
  if (*s.circuit_until > now) {
    answer.now = circuit_answer::state::open;
    return answer;
  }
  answer.now = circuit_answer::state::half_open;
  if (!s.probe || s.probe->second <= now) {
    s.probe = std::make_pair(holder, now + probe_ttl.count());
  }
  answer.probe = s.probe->first == holder;
  return answer;
}

status memory_store::ratelimit_record(const ratelimit_figures& figures, std::int64_t until_ms) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  if (s.figures_until <= s.now()) {
    s.figures = {};
  }
  auto lowest = [](std::optional<std::int64_t>& kept, const std::optional<std::int64_t>& seen) {
    if (seen && (!kept || *seen < *kept)) {
      kept = seen;
    }
  };
  lowest(s.figures.account_remaining, figures.account_remaining);
  for (const auto& [model, remaining] : figures.models) {
    auto kept = s.figures.models.emplace(model, remaining).first;
    kept->second = std::min(kept->second, remaining);
  }
  s.figures_until = std::max(s.figures_until, until_ms);
  return ok_status();
}

result<ratelimit_figures> memory_store::ratelimit() {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  if (s.figures_until <= s.now()) {
    return ratelimit_figures{};
  }
  return s.figures;
}

result<int> memory_store::heartbeat(const std::string& process_id, millis ttl) {
  std::lock_guard lock(state_->mutex);
  auto& s = *state_;
  if (!s.reachable) {
    return unreachable();
  }
  const auto now = s.now();
  state::purge(s.processes, now);
  s.processes[process_id] = now + ttl.count();
  return static_cast<int>(s.processes.size());
}

}  // namespace zbatch::shared_limit
