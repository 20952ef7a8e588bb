#include "shared_limit/permit_client.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace zbatch::shared_limit {

namespace {

std::string random_process_id() {
  std::random_device device;
  const std::uint64_t high = device();
  const std::uint64_t low = device();
  char text[48];
  std::snprintf(text, sizeof text, "%d-%016llx", static_cast<int>(getpid()),
                static_cast<unsigned long long>((high << 32) ^ low));
  return text;
}

}  // namespace

permit_client::permit_client(std::unique_ptr<store> backing, permit_options options)
    : store_(std::move(backing)), options_(std::move(options)) {
  if (options_.process_id.empty()) {
    options_.process_id = random_process_id();
  }
  options_.guaranteed = std::max(1, options_.guaranteed);
  limit_ = options_.adaptive ? options_.adaptive->initial : options_.limit;
  std::lock_guard lock(mutex_);
  if (auto seen = store_->heartbeat(options_.process_id, 3 * options_.heartbeat); seen.ok()) {
    processes_ = std::max(1, *seen);
    processes_known_ = true;
  } else {
    degrade(seen.status());
  }
  if (options_.adaptive && !degraded_) {
    if (auto current = store_->limit(*options_.adaptive); current.ok()) {
      limit_ = current->limit;
    }
  }
}

permit_client::~permit_client() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    for (const auto& [permit, entry] : held_) {
      if (!store_->release(lease_id(permit)).ok()) {
        break;  // gone: the leases expire by themselves
      }
    }
  }
}

void permit_client::start_heartbeat() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (wake_.wait_for(lock, options_.heartbeat, [this] { return stop_; })) {
        break;
      }
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

std::string permit_client::lease_id(std::uint64_t permit) const {
  return options_.process_id + ":" + std::to_string(permit);
}

int permit_client::shared_limit_now() const {
  return std::max(1, static_cast<int>(std::floor(limit_ + 1e-9)));
}

int permit_client::share_locked() const {
  return std::max(1, std::min(granted_share_, options_.guaranteed / std::max(1, processes_)));
}

void permit_client::degrade(const status& why) {
  if (degraded_) {
    return;
  }
  degraded_ = true;
  if (options_.on_notice) {
    // What the key may see in total: each worker last seen on its share (at least one), and
    // the tasks already in flight finish (a new user's check counted 4 against a limit of 2).
    const int workers = std::max(1, processes_);
    if (!processes_known_) {
      // Unreachable from the start: nothing says how many workers share the key (a new user's
      // check: "1 worker(s) last seen ... on the key together" with three running).
      options_.on_notice("shared limit unreachable (" + why.message() +
                         "); continuing on a local share of " + std::to_string(share_locked()) +
                         " permit(s) in flight until it answers; other workers on the key were "
                         "never seen, so together the key may see this share times the workers "
                         "running, against a limit of " +
                         std::to_string(options_.guaranteed));
      return;
    }
    options_.on_notice("shared limit unreachable (" + why.message() +
                       "); continuing on a local share of " + std::to_string(share_locked()) +
                       " permit(s) in flight until it answers (" + std::to_string(workers) +
                       " worker(s) last seen: up to " + std::to_string(workers * share_locked()) +
                       " new tasks in flight on the key together, against a limit of " +
                       std::to_string(options_.guaranteed) +
                       ", and the tasks in flight now finish)");
  }
}

void permit_client::note_waiting(const lease_answer& refused) {
  if (!waiting_since_ms_) {
    waiting_since_ms_ = refused.now_ms;
  }
  const auto waited = refused.now_ms - *waiting_since_ms_;
  if (wait_noticed_ || waited < options_.wait_notice.count() || !options_.on_notice) {
    return;
  }
  wait_noticed_ = true;
  const int mine = static_cast<int>(held_.size());
  options_.on_notice(
      "waiting " + std::to_string(waited / 1000) +
      " s for a permit of the shared limit (--shared-limit): " + std::to_string(refused.held) +
      " of " + std::to_string(refused.limit) + " in flight on the key, " + std::to_string(mine) +
      " of them this worker's; workers waiting are served in turn");
}

permit_answer permit_client::acquire() {
  std::lock_guard lock(mutex_);
  permit_answer answer;
  const auto permit = next_;
  if (!degraded_) {
    // An adaptive limit is read inside the acquire step: every process checks the same value.
    const lease_limit limit =
        options_.adaptive ? lease_limit(*options_.adaptive) : lease_limit(shared_limit_now());
    auto got = store_->acquire(lease_id(permit), limit, options_.lease,
                               waiter{options_.process_id, options_.queue_ttl});
    if (got.ok()) {
      if (got->quota_reset_ms) {
        answer.quota_reset_ms = got->quota_reset_ms;
        answer.retry_in = millis{1000};  // for a caller that keeps asking (no quota stop)
        return answer;
      }
      if (!got->granted) {
        note_waiting(*got);
        answer.retry_in = std::min(options_.retry, std::max(millis{1}, got->retry_in));
        return answer;
      }
      waiting_since_ms_.reset();
      wait_noticed_ = false;
      if (options_.pacing) {
        // The lease first, then the pacing slot: a slot is only spent on a submit that starts.
        const auto paced = store_->pace(options_.pacing->first, options_.pacing->second);
        if (!paced.ok() || !paced->allowed) {
          ++next_;  // the refused lease's id is never reused
          if (const auto back = store_->release(lease_id(permit)); !back.ok()) {
            degrade(back);
            orphans_.push_back(lease_id(permit));
          }
          if (!paced.ok()) {
            degrade(paced.status());
          }
          answer.retry_in = paced.ok() ? std::max(millis{1}, paced->retry_in) : options_.retry;
          return answer;
        }
      }
      if (options_.adaptive && shared_limit_now() != got->limit) {
        limit_ = got->limit;  // changed by another process since this one last looked
      }
      ++next_;
      held_[permit] = held_permit{got->now_ms, got->held >= got->limit, true};
      granted_share_ = static_cast<int>(held_.size());
      answer.permit = permit;
      return answer;
    }
    degrade(got.status());
  }
  // Degraded: a local permit within the share.
  if (static_cast<int>(held_.size()) >= share_locked()) {
    answer.retry_in = options_.retry;
    return answer;
  }
  ++next_;
  held_[permit] = held_permit{0, false};
  answer.permit = permit;
  return answer;
}

void permit_client::release(std::uint64_t permit) {
  std::lock_guard lock(mutex_);
  const auto it = held_.find(permit);
  if (it == held_.end()) {
    return;
  }
  const bool in_store = it->second.in_store;
  held_.erase(it);
  if (!in_store) {
    return;
  }
  if (!degraded_) {
    const auto done = store_->release(lease_id(permit));
    if (done.ok()) {
      return;
    }
    degrade(done);
  }
  orphans_.push_back(lease_id(permit));
}

void permit_client::on_accepted(std::uint64_t permit, bool grow) {
  std::lock_guard lock(mutex_);
  const auto it = held_.find(permit);
  if (!options_.adaptive || degraded_ || it == held_.end() || !it->second.saturated) {
    return;
  }
  if (auto r = store_->limit_increase(*options_.adaptive, it->second.acquired_ms, grow); r.ok()) {
    limit_ = r->limit;
  } else {
    degrade(r.status());
  }
}

void permit_client::on_dynamic_429(std::uint64_t permit) {
  std::lock_guard lock(mutex_);
  const auto it = held_.find(permit);
  if (!options_.adaptive || degraded_ || it == held_.end()) {
    return;
  }
  if (auto r = store_->limit_decrease(*options_.adaptive, it->second.acquired_ms); r.ok()) {
    limit_ = r->limit;
  } else {
    degrade(r.status());
  }
}

void permit_client::on_quota(std::int64_t reset_ms) {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    if (auto s = store_->quota_stop(reset_ms); !s.ok()) {
      degrade(s);
    }
  }
}

void permit_client::on_circuit_open(std::int64_t until_ms) {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    if (auto s = store_->circuit_open(until_ms); !s.ok()) {
      degrade(s);
    }
  }
}

void permit_client::on_circuit_close() {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    if (auto s = store_->circuit_close(); !s.ok()) {
      degrade(s);
    }
  }
}

circuit_answer permit_client::circuit() {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    // A probe whose process died is taken over after a lease time, as a permit would be.
    if (auto got = store_->circuit(options_.process_id, options_.lease); got.ok()) {
      return *got;
    } else {
      degrade(got.status());
    }
  }
  return circuit_answer{};
}

void permit_client::on_ratelimit(const ratelimit_figures& figures, std::int64_t until_ms) {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    if (auto s = store_->ratelimit_record(figures, until_ms); !s.ok()) {
      degrade(s);
    }
  }
}

ratelimit_figures permit_client::ratelimit() {
  std::lock_guard lock(mutex_);
  if (!degraded_) {
    if (auto got = store_->ratelimit(); got.ok()) {
      return *got;
    } else {
      degrade(got.status());
    }
  }
  return ratelimit_figures{};
}

void permit_client::tick() {
  std::lock_guard lock(mutex_);
  if (stop_ && thread_.joinable()) {
    return;
  }
  std::vector<std::string> ids;
  for (const auto& [permit, entry] : held_) {
    ids.push_back(lease_id(permit));
  }
  auto seen = store_->heartbeat(options_.process_id, 3 * options_.heartbeat);
  if (!seen.ok()) {
    degrade(seen.status());
    return;
  }
  processes_ = std::max(1, *seen);
  if (degraded_) {
    // The store answers again: record every permit still held, then rejoin.
    if (auto adopted = store_->adopt(ids, options_.lease); !adopted.ok()) {
      return;
    }
    degraded_ = false;
    for (auto& [permit, entry] : held_) {
      entry.in_store = true;
    }
    for (const auto& id : orphans_) {
      if (!store_->release(id).ok()) {
        break;  // it expires by itself
      }
    }
    orphans_.clear();
    if (options_.on_notice) {
      options_.on_notice("shared limit answers again; rejoined with " + std::to_string(ids.size()) +
                         " permit(s) in flight");
    }
  } else if (!ids.empty()) {
    auto renewed = store_->renew(ids, options_.lease);
    if (!renewed.ok()) {
      degrade(renewed.status());
      return;
    }
    lost_ += static_cast<int>(ids.size()) - *renewed;
  }
  if (options_.adaptive) {
    if (auto current = store_->limit(*options_.adaptive); current.ok()) {
      limit_ = current->limit;
    }
  }
}

bool permit_client::degraded() const {
  std::lock_guard lock(mutex_);
  return degraded_;
}

int permit_client::share() const {
  std::lock_guard lock(mutex_);
  return share_locked();
}

int permit_client::in_flight() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(held_.size());
}

int permit_client::processes_seen() const {
  std::lock_guard lock(mutex_);
  return processes_;
}

double permit_client::current_limit() const {
  std::lock_guard lock(mutex_);
  return limit_;
}

int permit_client::lost_leases() const {
  std::lock_guard lock(mutex_);
  return lost_;
}

}  // namespace zbatch::shared_limit
