// The rate-limiter actor under CAF's test coordinator: probe actors play coordinators (join,
// acquire, release, leave), so every answer and every push is observed in a fixed order.
#include "actors/limiter_actor.hpp"

#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/shared_permits.hpp"
#include "shared_limit/memory_store.hpp"
#include "shared_limit/permit_client.hpp"
#include "tests/actors/time_points.hpp"

namespace zbatch::actors {
namespace {

using verdict = limiter_answer::verdict;

using test::at_ms;
using test::t0;

/// What a probe saw from the limiter.
struct probe_log {
  std::vector<limiter_answer> answers;
  std::optional<limiter_figures> figures;
  int wakes = 0;
};

/// A stand-in coordinator: forwards what the test sends it to the limiter, as a coordinator
/// would (tells, or requests whose answers it logs).
caf::behavior probe(caf::event_based_actor* self, caf::actor limiter,
                    std::shared_ptr<probe_log> log) {
  auto ignore = [](const caf::error&) {};
  return {
      [=](const limiter_join& hello) { self->send(limiter, hello); },
      [=](const limiter_acquire& ask) {
        self->request(limiter, caf::infinite, ask)
            .then([=](const limiter_answer& answer) { log->answers.push_back(answer); }, ignore);
      },
      [=](const limiter_release& ended) { self->send(limiter, ended); },
      [=](const limiter_accepted& ok) { self->send(limiter, ok); },
      [=](const limiter_429& refused) { self->send(limiter, refused); },
      [=](const limiter_success& ok) { self->send(limiter, ok); },
      [=](leave_atom) {
        self->request(limiter, caf::infinite, leave_atom::value)
            .then([=](const limiter_figures& figures) { log->figures = figures; }, ignore);
      },
      [=](limiter_wake_atom) { ++log->wakes; },
  };
}

class limiter_actor_test : public ::testing::Test {
 protected:
  limiter_actor_test() : system_(config(cfg_)), sched_(scheduler(system_)) {}
  ~limiter_actor_test() override {
    for (const auto& actor : spawned_) {
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    }
    sched_.run();
  }

  static caf::actor_system_config& config(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }
  static caf::scheduler::test_coordinator& scheduler(caf::actor_system& system) {
    return dynamic_cast<caf::scheduler::test_coordinator&>(system.scheduler());
  }

  caf::actor limiter(limiter_options options = {}) {
    spawned_.push_back(spawn_limiter(system_, std::move(options)));
    return spawned_.back();
  }

  /// A probe on `limiter` that joined with `strategy`.
  caf::actor coordinator(const caf::actor& limiter, const std::string& strategy,
                         std::shared_ptr<probe_log> log) {
    auto actor = system_.spawn(probe, limiter, std::move(log));
    spawned_.push_back(actor);
    tell(actor, limiter_join{parse_strategy(strategy).value(), t0});
    return actor;
  }

  template <class... Ts>
  void tell(const caf::actor& to, Ts&&... xs) {
    caf::anon_send(to, std::forward<Ts>(xs)...);
    sched_.run();
  }

  /// Asks for `count` starts at `now` and returns the answer.
  limiter_answer acquire(const caf::actor& who, probe_log& log, time_point now, int count = 1) {
    const auto before = log.answers.size();
    tell(who, limiter_acquire{now, count});
    EXPECT_EQ(log.answers.size(), before + 1) << "no answer";
    return log.answers.empty() ? limiter_answer{} : log.answers.back();
  }

  caf::actor_system_config cfg_;
  caf::actor_system system_;
  caf::scheduler::test_coordinator& sched_;
  std::vector<caf::actor> spawned_;
};

/// The coordinator's old direct calls (its pump and start_attempt) for one start at `now`.
limiter_answer direct(rate_limiter& limiter, time_point now) {
  limiter_answer out;
  if (limiter.quota_stopped()) {
    out.what = verdict::quota_stopped;
    return out;
  }
  const auto next = limiter.next_start(now);
  if (!next) {
    return out;
  }
  if (*next > now) {
    out.what = verdict::wait_until;
    out.at = *next;
    return out;
  }
  out.what = verdict::start;
  out.starts.push_back({limiter.on_start(now), limiter.in_flight(), std::nullopt});
  return out;
}

void expect_same(const limiter_answer& got, const limiter_answer& want, long ms) {
  EXPECT_EQ(static_cast<int>(got.what), static_cast<int>(want.what)) << "at " << ms << " ms";
  if (want.what == verdict::wait_until) {
    EXPECT_EQ(got.at, want.at) << "at " << ms << " ms";
  }
  ASSERT_EQ(got.starts.size(), want.starts.size()) << "at " << ms << " ms";
  if (want.what == verdict::start) {
    EXPECT_EQ(got.starts[0].saturated, want.starts[0].saturated) << "at " << ms << " ms";
    EXPECT_EQ(got.starts[0].level, want.starts[0].level) << "at " << ms << " ms";
  }
}

TEST_F(limiter_actor_test, the_in_process_store_decides_as_the_direct_calls_did) {
  const std::string strategy =
      "inflight=aimd:init=2:min=1:max=6:beta=0.5,pace=spacing:200ms,circuit=2:1s";
  rate_limiter reference(parse_strategy(strategy).value(), t0);
  auto log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto coord = coordinator(lim, strategy, log);
  // A script of starts and outcomes at fixed times; each start is asked of both.
  auto start = [&](long ms) {
    const auto want = direct(reference, at_ms(ms));
    expect_same(acquire(coord, *log, at_ms(ms)), want, ms);
    return want;
  };
  // Attempts last 450 ms; every fifth draws a dynamic 429, every seventh a server failure.
  struct running {
    long started_ms;
    int n;
    limiter_start begun;
  };
  std::vector<running> out;
  auto end = [&](const running& r) {
    const auto started = at_ms(r.started_ms);
    const auto ended = at_ms(r.started_ms + 450);
    if (r.n % 5 == 3) {
      reference.on_release(ended);
      tell(coord, limiter_release{ended, std::nullopt, true, false});
      reference.on_dynamic_429(ended, started, std::nullopt, r.begun.level);
      tell(coord, limiter_429{ended, started, std::nullopt, r.begun.level});
    } else if (r.n % 7 == 5) {
      reference.on_release(ended);
      tell(coord, limiter_release{ended, std::nullopt, false, true});
      reference.on_server_failure(ended);
      tell(coord, limiter_server_failure{ended});
    } else {
      const auto accepted = at_ms(r.started_ms + 50);
      reference.on_accepted(accepted, started, r.begun.saturated, r.begun.level);
      tell(coord, limiter_accepted{accepted, started, r.begun.saturated, r.begun.level, {}});
      reference.on_release(ended);
      tell(coord, limiter_release{ended, std::nullopt, false, false});
      reference.on_success(started, std::chrono::milliseconds(400));
      tell(coord, limiter_success{started, std::chrono::milliseconds(400)});
    }
  };
  int decisions = 0;
  int starts = 0;
  std::map<verdict, int> seen;
  for (long ms = 0; ms <= 6000; ms += 100) {
    while (!out.empty() && out.front().started_ms + 450 <= ms) {
      end(out.front());
      out.erase(out.begin());
    }
    const auto answer = start(ms);
    ++decisions;
    ++seen[answer.what];
    if (answer.what == verdict::start) {
      out.push_back({ms, starts++, answer.starts[0]});
    }
  }
  EXPECT_EQ(decisions, 61);
  // The script reaches every kind of answer the pump reads.
  EXPECT_GT(seen[verdict::start], 0);
  EXPECT_GT(seen[verdict::wait_until], 0);
  EXPECT_GT(seen[verdict::wait_release], 0);
  tell(coord, leave_atom::value);
  ASSERT_TRUE(log->figures.has_value());
  EXPECT_DOUBLE_EQ(log->figures->limit, reference.limit());
  EXPECT_EQ(log->figures->circuit_openings, reference.circuit_openings());
}

TEST_F(limiter_actor_test, two_coordinators_never_hold_more_than_the_limit_together) {
  auto a_log = std::make_shared<probe_log>();
  auto b_log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto a = coordinator(lim, "inflight=3", a_log);
  const auto b = coordinator(lim, "inflight=3", b_log);
  int held = 0;
  for (int round = 0; round < 5; ++round) {
    held += acquire(a, *a_log, t0).what == verdict::start ? 1 : 0;
    held += acquire(b, *b_log, t0).what == verdict::start ? 1 : 0;
  }
  EXPECT_EQ(held, 3);
  EXPECT_EQ(acquire(b, *b_log, at_ms(1)).what, verdict::wait_release);
}

TEST_F(limiter_actor_test, one_ask_starts_a_burst_up_to_the_limit_and_says_why_it_stopped) {
  auto log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto coord = coordinator(lim, "inflight=3", log);
  const auto burst = acquire(coord, *log, t0, 5);
  EXPECT_EQ(burst.what, verdict::wait_release);
  ASSERT_EQ(burst.starts.size(), 3u);
  EXPECT_EQ(burst.starts[0].level, 1);
  EXPECT_EQ(burst.starts[2].level, 3);
  EXPECT_FALSE(burst.starts[1].saturated);
  EXPECT_TRUE(burst.starts[2].saturated);  // took the last permit
  tell(coord, limiter_release{at_ms(10), std::nullopt, false, false});
  const auto one = acquire(coord, *log, at_ms(10), 1);
  EXPECT_EQ(one.what, verdict::start);  // all asked for granted
  EXPECT_EQ(one.starts.size(), 1u);
}

TEST_F(limiter_actor_test, a_waiting_coordinator_is_woken_when_a_permit_returns) {
  auto a_log = std::make_shared<probe_log>();
  auto b_log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto a = coordinator(lim, "inflight=1", a_log);
  const auto b = coordinator(lim, "inflight=1", b_log);
  ASSERT_EQ(acquire(a, *a_log, t0).what, verdict::start);
  EXPECT_EQ(acquire(b, *b_log, t0).what, verdict::wait_release);
  EXPECT_EQ(b_log->wakes, 0);
  tell(a, limiter_release{at_ms(10), std::nullopt, false, false});
  EXPECT_EQ(b_log->wakes, 1);  // pushed, without b asking
  EXPECT_EQ(a_log->wakes, 0);  // a pumps on its own attempt's end, as before
  EXPECT_EQ(acquire(b, *b_log, at_ms(10)).what, verdict::start);
}

TEST_F(limiter_actor_test, leaving_returns_the_permits_a_coordinator_still_held) {
  auto a_log = std::make_shared<probe_log>();
  auto b_log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto a = coordinator(lim, "inflight=2", a_log);
  const auto b = coordinator(lim, "inflight=2", b_log);
  ASSERT_EQ(acquire(a, *a_log, t0).what, verdict::start);
  ASSERT_EQ(acquire(a, *a_log, t0).what, verdict::start);
  EXPECT_EQ(acquire(b, *b_log, t0).what, verdict::wait_release);
  tell(a, leave_atom::value);  // a batch cancelled with two attempts out
  ASSERT_TRUE(a_log->figures.has_value());
  EXPECT_DOUBLE_EQ(a_log->figures->limit, 2.0);
  EXPECT_EQ(b_log->wakes, 1);
  EXPECT_EQ(acquire(b, *b_log, at_ms(5)).what, verdict::start);
  EXPECT_EQ(acquire(b, *b_log, at_ms(5)).what, verdict::start);
  EXPECT_EQ(acquire(b, *b_log, at_ms(5)).what, verdict::wait_release);
}

TEST_F(limiter_actor_test, a_coordinator_that_dies_returns_its_permits) {
  auto a_log = std::make_shared<probe_log>();
  auto b_log = std::make_shared<probe_log>();
  const auto lim = limiter();
  const auto a = coordinator(lim, "inflight=1", a_log);
  const auto b = coordinator(lim, "inflight=1", b_log);
  ASSERT_EQ(acquire(a, *a_log, t0).what, verdict::start);
  EXPECT_EQ(acquire(b, *b_log, t0).what, verdict::wait_release);
  caf::anon_send_exit(a, caf::exit_reason::kill);
  sched_.run();
  EXPECT_EQ(b_log->wakes, 1);  // through the limiter's monitor
  EXPECT_EQ(acquire(b, *b_log, at_ms(1)).what, verdict::start);
}

TEST_F(limiter_actor_test, the_shared_store_grants_a_lease_and_takes_it_back_from_the_dead) {
  std::int64_t now_ms = 0;
  shared_limit::memory_store store([&now_ms] { return now_ms; });
  const auto spec = parse_strategy("inflight=1").value();
  auto options = shared_permit_options(spec);
  options.process_id = "test";
  auto client = std::make_unique<shared_limit::permit_client>(
      std::make_unique<shared_limit::memory_store>(store.share()), options);
  auto gate = make_shared_permit_gate(
      std::move(client),
      [&now_ms](std::optional<millis> after) { return now_ms + (after ? after->count() : 0); },
      spec.circuit.open_for);
  auto a_log = std::make_shared<probe_log>();
  auto b_log = std::make_shared<probe_log>();
  const auto lim = limiter({gate});
  const auto a = coordinator(lim, "inflight=1", a_log);
  const auto b = coordinator(lim, "inflight=1", b_log);
  const auto granted = acquire(a, *a_log, t0);
  ASSERT_EQ(granted.what, verdict::start);
  EXPECT_TRUE(granted.starts.at(0).permit.has_value());
  // b's own limiter has room; the store's one lease is a's: ask again later.
  EXPECT_EQ(acquire(b, *b_log, t0).what, verdict::wait_until);
  caf::anon_send_exit(a, caf::exit_reason::kill);
  sched_.run();
  const auto after = acquire(b, *b_log, at_ms(20));
  EXPECT_EQ(after.what, verdict::start);
  EXPECT_TRUE(after.starts.at(0).permit.has_value());
}

/// A coordinator on a shared adaptive limit (the in-memory store): `limit_after_an_acceptance`
/// is the key's limit after its one saturated acceptance, when it had drawn `refusals` capacity
/// 429s before (at level 2; nothing lent ahead).
class shared_adaptive_test : public limiter_actor_test {
 public:
  double limit_after_an_acceptance(int refusals) {
    std::int64_t now_ms = 0;
    shared_limit::memory_store store([&now_ms] { return now_ms; });
    const std::string strategy = "inflight=aimd:init=1:min=1:max=10:beta=0.5:lat=0:strikes=2";
    const auto spec = parse_strategy(strategy).value();
    auto options = shared_permit_options(spec);
    options.process_id = "test";
    auto gate = make_shared_permit_gate(
        std::make_unique<shared_limit::permit_client>(
            std::make_unique<shared_limit::memory_store>(store.share()), options),
        [&now_ms](std::optional<millis> after) { return now_ms + (after ? after->count() : 0); },
        spec.circuit.open_for);
    auto log = std::make_shared<probe_log>();
    const auto lim = limiter({gate});
    const auto a = coordinator(lim, strategy, log);
    const auto started = acquire(a, *log, t0);
    EXPECT_EQ(started.what, verdict::start);
    for (int i = 0; i < refusals; ++i) {
      tell(a, limiter_429{at_ms(10 + i), at_ms(5 + i), std::nullopt, 2});
    }
    tell(a, limiter_accepted{at_ms(40), t0, true, 1, started.starts.at(0).permit});
    return store.limit(*options.adaptive)->limit;
  }
};

// The key's adaptive limit grows on an acceptance only while the accepting coordinator's 429
// budget allows it (rate_limiter::may_grow), as its own limit does: else the shared limit would
// spend the politeness budget for every worker on the key.
TEST_F(shared_adaptive_test, the_shared_limit_grows_only_within_the_accepting_workers_429_budget) {
  EXPECT_DOUBLE_EQ(limit_after_an_acceptance(0), 2) << "slow start: +1";
  // 2 refused + 1 > 0.95 x (1 accepted + 1): the budget is spent.
  EXPECT_DOUBLE_EQ(limit_after_an_acceptance(2), 1);
}

}  // namespace
}  // namespace zbatch::actors
