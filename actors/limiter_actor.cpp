#include "actors/limiter_actor.hpp"

#include <map>
#include <set>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace zbatch::actors {
namespace {

/// One coordinator served by the limiter.
struct session {
  bool stop_on_quota = false;
  millis open_for{0};               ///< The strategy's circuit.open_for.
  std::optional<rate_limiter> own;  ///< The shared store: this coordinator's local limiter.
  int running = 0;                  ///< Starts granted and not yet released.
  bool waiting = false;             ///< Told `wait_release` since its last start.
  std::set<std::uint64_t> permits;  ///< The shared store's permits it holds.
};

struct limiter_state {
  std::shared_ptr<permit_gate> shared;
  std::optional<rate_limiter> key;  ///< The in-process store (built at the first join).
  std::map<caf::actor_addr, session> sessions;
  std::map<caf::actor_addr, caf::actor> handles;  ///< Whom to wake, by session.
};

using limiter_self = caf::stateful_actor<limiter_state>;

session* session_of(limiter_self* self) {
  const auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  const auto found = self->state.sessions.find(sender);
  return found == self->state.sessions.end() ? nullptr : &found->second;
}

rate_limiter& limiter_of(limiter_self* self, session& s) {
  return s.own ? *s.own : *self->state.key;
}

void join(limiter_self* self, limiter_join& hello) {
  auto& st = self->state;
  const auto sender = self->current_sender();
  if (!sender) {
    return;  // Only an actor can be served: its answers and its death need an address.
  }
  session s;
  s.stop_on_quota = hello.strategy.stop_on_quota;
  s.open_for = hello.strategy.circuit.open_for;
  if (st.shared) {
    s.own.emplace(hello.strategy, hello.start);
    s.own->plan_batch(hello.batch_images);
  } else if (!st.key) {
    st.key.emplace(hello.strategy, hello.start);
    st.key->plan_batch(hello.batch_images);
  } else {
    // Another batch on the key's one limiter: its politeness budget lends over both.
    st.key->plan_batch(st.key->planned_batch() + hello.batch_images);
  }
  const auto who = caf::actor_cast<caf::actor_addr>(sender);
  st.sessions.emplace(who, std::move(s));
  st.handles.emplace(who, caf::actor_cast<caf::actor>(sender));
  self->monitor(sender);
}

/// One start, in the order of the coordinator's old synchronous calls: its limiter, then the
/// shared permit (taken last, so only an attempt that starts now holds one). Appends a granted
/// start to `out.starts` and returns true, else sets `out.what` and returns false.
bool acquire_one(limiter_self* self, session& s, time_point now, limiter_answer& out) {
  using verdict = limiter_answer::verdict;
  auto& limiter = limiter_of(self, s);
  if (limiter.quota_stopped()) {
    out.what = verdict::quota_stopped;
    return false;
  }
  const auto next = limiter.next_start(now);
  if (!next) {
    s.waiting = true;
    out.what = verdict::wait_release;
    return false;
  }
  if (*next > now) {
    out.what = verdict::wait_until;
    out.at = *next;
    return false;
  }
  limiter_start start;
  if (const auto& gate = self->state.shared) {
    auto answer = gate->acquire();
    out.exhausted_models = std::move(answer.exhausted_models);
    if (answer.quota_reset_ms && s.stop_on_quota) {
      limiter.on_quota();  // another process met the quota
      out.what = verdict::quota_stopped;
      return false;
    }
    if (!answer.permit) {
      out.what = verdict::wait_until;
      out.at = now + answer.retry_in;
      return false;
    }
    start.permit = answer.permit;
    s.permits.insert(*answer.permit);
  }
  s.waiting = false;
  start.saturated = limiter.on_start(now);
  start.level = limiter.in_flight();
  ++s.running;
  out.starts.push_back(start);
  return true;
}

limiter_answer acquire(limiter_self* self, session& s, const limiter_acquire& ask) {
  limiter_answer out;
  out.what = limiter_answer::verdict::start;
  for (int i = 0; i < ask.count; ++i) {
    if (!acquire_one(self, s, ask.now, out)) {
      break;
    }
  }
  return out;
}

/// With the in-process store, one coordinator's event may free a start another one waits for:
/// every other waiting coordinator is told to ask again (the one whose event it was pumps on
/// its own, as it always did).
void wake_others(limiter_self* self, const caf::actor_addr& except) {
  auto& st = self->state;
  if (st.shared) {
    return;
  }
  for (auto& [who, s] : st.sessions) {
    if (s.waiting && who != except) {
      s.waiting = false;
      self->send(st.handles.at(who), limiter_wake_atom::value);
    }
  }
}

caf::actor_addr sender_of(limiter_self* self) {
  return caf::actor_cast<caf::actor_addr>(self->current_sender());
}

void release(limiter_self* self, session& s, const limiter_release& ended) {
  limiter_of(self, s).on_release(ended.now);
  --s.running;
  if (!ended.permit || s.permits.erase(*ended.permit) == 0) {
    return;
  }
  auto& gate = *self->state.shared;
  if (ended.dynamic_429) {
    gate.on_dynamic_429(*ended.permit);
  }
  if (ended.server_failure) {
    gate.on_server_failure(*ended.permit);
  }
  gate.release(*ended.permit);
}

/// Returns what a leaving (or dead) coordinator still holds and forgets it.
limiter_figures leave(limiter_self* self, const caf::actor_addr& who) {
  auto& st = self->state;
  limiter_figures out;
  const auto found = st.sessions.find(who);
  if (found == st.sessions.end()) {
    return out;
  }
  auto& s = found->second;
  auto& limiter = limiter_of(self, s);
  out.limit = limiter.limit();
  out.circuit_openings = limiter.circuit_openings();
  if (!s.own) {
    const auto now = self->clock().now();
    for (; s.running > 0; --s.running) {
      st.key->on_release(now);  // abandoned attempts: their permits return to the key
    }
  }
  for (const auto permit : s.permits) {
    st.shared->release(permit);
  }
  st.sessions.erase(found);
  st.handles.erase(who);
  self->demonitor(who);
  wake_others(self, who);
  return out;
}

void quota(limiter_self* self, session& s, const limiter_quota& stop) {
  limiter_of(self, s).on_quota();
  if (stop.tell_store && self->state.shared) {
    self->state.shared->on_quota(stop.retry_after);
  }
}

void server_failure(limiter_self* self, session& s, time_point now) {
  auto& limiter = limiter_of(self, s);
  const int openings = limiter.circuit_openings();
  limiter.on_server_failure(now);
  if (self->state.shared && limiter.circuit_openings() > openings) {
    self->state.shared->on_circuit_opened(s.open_for);
  }
}

caf::behavior limiter(limiter_self* self, limiter_options options) {
  self->state.shared = std::move(options.shared);
  self->set_down_handler([self](caf::down_msg& down) { leave(self, down.source); });
  // Every handler but join ignores a sender it does not serve (one that left, or never joined).
  return {
      [self](limiter_join& hello) { join(self, hello); },
      [self](const limiter_acquire& ask) {
        auto* s = session_of(self);
        return s ? acquire(self, *s, ask) : limiter_answer{};
      },
      [self](const limiter_release& ended) {
        if (auto* s = session_of(self)) {
          release(self, *s, ended);
          wake_others(self, sender_of(self));
        }
      },
      [self](const limiter_accepted& ok) {
        if (auto* s = session_of(self)) {
          auto& limiter = limiter_of(self, *s);
          limiter.on_accepted(ok.now, ok.submitted_at, ok.saturated, ok.level);
          if (ok.permit && self->state.shared) {
            self->state.shared->on_accepted(*ok.permit, limiter.may_grow());
          }
          wake_others(self, sender_of(self));  // an adaptive limit may have grown
        }
      },
      [self](const limiter_success& ok) {
        if (auto* s = session_of(self)) {
          limiter_of(self, *s).on_success(ok.submitted_at, ok.task_latency);
          wake_others(self, sender_of(self));  // a half-open circuit may have closed
        }
      },
      [self](const limiter_429& refused) {
        if (auto* s = session_of(self)) {
          limiter_of(self, *s).on_dynamic_429(refused.now, refused.submitted_at,
                                              refused.retry_after, refused.level);
        }
      },
      [self](const limiter_quota& stop) {
        if (auto* s = session_of(self)) {
          quota(self, *s, stop);
        }
      },
      [self](const limiter_server_failure& failed) {
        if (auto* s = session_of(self)) {
          server_failure(self, *s, failed.now);
        }
      },
      [self](const limiter_ratelimit& figures) {
        if (session_of(self) != nullptr && self->state.shared) {
          self->state.shared->on_ratelimit(figures.limits, figures.model);
        }
      },
      [self](leave_atom) { return leave(self, sender_of(self)); },
  };
}

}  // namespace

caf::actor spawn_limiter(caf::actor_system& system, limiter_options options) {
  return system.spawn(limiter, std::move(options));
}

}  // namespace zbatch::actors
