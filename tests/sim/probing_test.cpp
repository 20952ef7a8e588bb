// The adaptive limit's probing in virtual time (issue 13): on a small batch a refused submit is
// retried after its short 429 backoff instead of waiting for a task to end, and refusals of the
// per-key submit rate do not close levels the service holds; a small batch lends its images'
// share of the 429 budget ahead of their acceptances; after a step up of the service's limit,
// slow start finds it again. Every run is seeded, so every figure is exact; the assertions leave
// room only for the choice of seeds.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

/// The free tier's dice without its other limits: one task in flight guaranteed, the second
/// refused with probability 0.5, a third always; tasks take exactly 3 s.
mock::mock_config coin_flip_config() {
  auto config = exact_config(1);
  config.throttle.dynamic.mode = "load";
  config.throttle.dynamic.base_probability = 0.5;
  config.throttle.dynamic.per_task_probability = 0.5;
  config.throttle.dynamic.max_probability = 1.0;
  return config;
}

/// Classic AIMD (x0.7 on every 429), the adaptive preset before inflight.strikes.
const std::string classic = "adaptive,inflight=aimd:init=1:min=1:max=256:beta=0.7:lat=3:strikes=0";

struct totals {
  std::int64_t makespan_ms = 0;
  int http_429 = 0;
  int submits = 0;
  std::size_t delivered = 0;
};

TEST_F(sim_test, adaptive_finds_the_second_slot_of_a_4_image_batch_within_a_task) {
  start_mock(coin_flip_config());
  constexpr int batches = 10;
  totals strikes, aimd;
  for (int i = 0; i < batches; ++i) {
    for (auto* sum : {&strikes, &aimd}) {
      const auto result = run(sum == &strikes ? std::string("adaptive") : classic, 4, 100 + i);
      sum->makespan_ms += result.makespan_ms;
      sum->http_429 += result.counters.http_429_dynamic;
      sum->submits += result.counters.submits;
      sum->delivered += result.delivered();
    }
  }
  EXPECT_EQ(strikes.delivered, 4u * batches);
  EXPECT_EQ(aimd.delivered, 4u * batches);
  // Two waves of 3 s are 6 s; a refused second submit used to wait for the first task (9 s).
  EXPECT_LE(strikes.makespan_ms, 8600 * batches);
  EXPECT_LT(strikes.makespan_ms, aimd.makespan_ms);
  EXPECT_LE(strikes.http_429, 4 * batches) << "more than one 429 per image";
}

/// The second slot is shut for the first half second, then open for good: the first two probes
/// of it are refused and close it.
mock::mock_config late_second_slot_config() {
  auto config = exact_config(1);
  config.throttle.dynamic.mode = "schedule";
  config.throttle.dynamic.schedule = {{0.5, 86400, 1}};
  return config;
}

TEST_F(sim_test, a_small_batch_reopens_a_closed_slot_on_its_planned_429_budget) {
  start_mock(late_second_slot_config());
  const auto result = run("adaptive", 5, 5);
  EXPECT_EQ(result.delivered(), 5u);
  EXPECT_EQ(result.counters.http_429_dynamic, 2) << "the slot was not closed: no test";
  EXPECT_GE(result.counters.max_in_flight, 2);
  // Two refusals against one acceptance spent the budget earned so far, not the 5 images' share:
  // the limit grows back at the next acceptance (3.3 s) and two waves of two finish at 9.9 s.
  // Earning it first kept one image alone until 6.6 s, and the fifth alone after: 13.2 s.
  EXPECT_LE(result.makespan_ms, 10500);
}

/// No in-flight cap at all, only the per-key submit rate (1 per second, a burst of 3): every 429
/// is the rate's, so the limit must not fall for it.
mock::mock_config rate_only_config() {
  auto config = exact_config(0);
  config.throttle.rate.enabled = true;
  config.throttle.rate.per_second = 2.0;
  config.throttle.rate.burst = 3.0;
  config.throttle.retry_after_header = false;  // as the free tier: no hint tells the 429s apart
  return config;
}

TEST_F(sim_test, rate_refusals_do_not_close_levels_the_service_holds) {
  start_mock(rate_only_config());
  const auto result = run("adaptive", 24, 3);
  start_mock(rate_only_config());
  const auto aimd = run(classic, 24, 3);
  EXPECT_EQ(result.delivered(), 24u);
  EXPECT_EQ(aimd.delivered(), 24u);
  EXPECT_GT(result.counters.http_429_dynamic, 0) << "the rate never refused: no test";
  // Every 429 here came within a second of an acceptance at a level as high: the rate's.
  EXPECT_GE(result.final_limit, result.counters.max_in_flight);
  EXPECT_LT(aimd.final_limit, aimd.counters.max_in_flight) << "classic AIMD shrinks for them";
}

/// One task in flight for the first 10 s, then four for good (the step scenario's step up).
mock::mock_config step_up_config() {
  auto config = exact_config(1);
  config.throttle.dynamic.mode = "schedule";
  config.throttle.dynamic.schedule = {{10, 86400, 3}};
  return config;
}

/// The first time (ms since the batch start) `target` accepted tasks were in flight at once, as
/// the client saw them (accepted to delivered or failed); -1 when never.
std::int64_t first_time_in_flight(const actors::batch_result& result, int target) {
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const auto& image : result.images) {
    for (const auto& event : image.trace) {
      if (event.kind == actors::trace_kind::accepted) {
        edges.emplace_back(event.t_ms, 1);
      } else if (event.kind == actors::trace_kind::delivered ||
                 event.kind == actors::trace_kind::failed) {
        edges.emplace_back(event.t_ms, -1);
      }
    }
  }
  std::sort(edges.begin(), edges.end());  // an end before a start at the same instant
  int in_flight = 0;
  for (const auto& [at, delta] : edges) {
    if ((in_flight += delta) >= target) {
      return at;
    }
  }
  return -1;
}

TEST_F(sim_test, after_a_step_up_a_level_refused_twice_over_is_found_again_by_slow_start) {
  start_mock(step_up_config());
  const auto result = run("adaptive", 30, 3);
  EXPECT_EQ(result.delivered(), 30u);
  EXPECT_GT(result.counters.http_429_dynamic, 3) << "level 2 was not closed before the step";
  // Tasks take 3 s; the step comes at 10 s and is seen at the first acceptance at level 2
  // after it. Slow start holds four at 13.2 s (makespan 36.4 s, 18 429s); one permit per round
  // after the early closures (before) took until 19.9 s, past 3 task durations (40.7 s, 15).
  const auto four_at = first_time_in_flight(result, 4);
  EXPECT_GE(four_at, 10000);
  EXPECT_LE(four_at, 10000 + 3 * 3000);
  EXPECT_LE(result.counters.http_429_dynamic, 30) << "more than one 429 per image";
}

}  // namespace
}  // namespace zbatch::sim::testing
