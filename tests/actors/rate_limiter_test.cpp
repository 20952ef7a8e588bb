#include "actors/rate_limiter.hpp"

#include "actors/retry_budget.hpp"

#include <gtest/gtest.h>

#include "tests/actors/time_points.hpp"

namespace zbatch::actors {
namespace {

using test::at_ms;
using test::t0;

TEST(rate_limiter, fixed_limit_blocks_until_a_release) {
  rate_limiter limiter(parse_strategy("inflight=2").value(), t0);
  EXPECT_EQ(limiter.next_start(t0), t0);
  limiter.on_start(t0);
  EXPECT_TRUE(limiter.on_start(t0));  // took the last permit
  EXPECT_FALSE(limiter.next_start(t0).has_value());
  limiter.on_release(at_ms(10));
  EXPECT_EQ(limiter.next_start(at_ms(10)), at_ms(10));
}

TEST(rate_limiter, gap_rests_a_permit_after_its_image) {
  rate_limiter limiter(preset("serial").value(), t0);
  limiter.on_start(t0);
  limiter.on_release(at_ms(3000));
  EXPECT_EQ(limiter.next_start(at_ms(3000)), at_ms(5000));
  EXPECT_EQ(limiter.next_start(at_ms(5000)), at_ms(5000));
}

TEST(rate_limiter, spacing_separates_submits) {
  rate_limiter limiter(parse_strategy("pace=spacing:500ms").value(), t0);
  limiter.on_start(t0);
  EXPECT_EQ(limiter.next_start(at_ms(100)), at_ms(500));
}

TEST(rate_limiter, token_bucket_allows_a_burst_then_the_rate) {
  rate_limiter limiter(parse_strategy("pace=token:2/s:burst=3").value(), t0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(limiter.next_start(t0), t0);
    limiter.on_start(t0);
  }
  const auto next = limiter.next_start(t0);
  ASSERT_TRUE(next.has_value());
  EXPECT_GE(*next, at_ms(500));
  EXPECT_LE(*next, at_ms(501));
}

TEST(rate_limiter, aimd_slow_starts_then_decreases_once_per_round_trip) {
  rate_limiter limiter(parse_strategy("inflight=aimd:init=2:min=1:max=10:beta=0.5").value(), t0);
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  limiter.on_start(t0);
  const bool saturated = limiter.on_start(t0);
  EXPECT_TRUE(saturated);
  limiter.on_accepted(t0, false);  // not at the limit: no evidence for more
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  limiter.on_accepted(t0, saturated);  // slow start: +1 per acceptance
  EXPECT_DOUBLE_EQ(limiter.limit(), 3);
  limiter.on_accepted(t0, saturated);
  EXPECT_DOUBLE_EQ(limiter.limit(), 4);
  // Two 429s for submits made before the first decrease: one decrease only.
  limiter.on_dynamic_429(at_ms(100), at_ms(50), std::nullopt);
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  limiter.on_dynamic_429(at_ms(110), at_ms(60), std::nullopt);
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  // After a decrease, growth is additive: +1/limit per acceptance at the limit.
  limiter.on_accepted(at_ms(150), true);
  EXPECT_DOUBLE_EQ(limiter.limit(), 2.5);
  limiter.on_accepted(at_ms(50), true);  // made before the decrease: ignored
  EXPECT_DOUBLE_EQ(limiter.limit(), 2.5);
  // A submit made after the decrease speaks for the new limit.
  limiter.on_dynamic_429(at_ms(300), at_ms(200), std::nullopt);
  EXPECT_DOUBLE_EQ(limiter.limit(), 1.25);
  limiter.on_dynamic_429(at_ms(500), at_ms(400), std::nullopt);
  EXPECT_DOUBLE_EQ(limiter.limit(), 1);  // floored at min
}

// The latency signal (inflight.lat): a task far slower than the median of the recent ones is
// congestion; a heavy tail is not. Task times on the free tier are lognormal (p99 3x the median),
// so the fastest task seen is about a third of the median and "3x the fastest" was crossed by
// about half of all tasks: the limit shrank at random (issue 13, the step scenario's step up).
TEST(rate_limiter, the_latency_signal_reads_the_median_of_recent_tasks_not_the_fastest) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=4:min=1:max=10:beta=0.5:lat=3:strikes=2").value(), t0);
  // A heavy-tailed start: one fast task, then seven around the median of 3 s.
  const int seen[] = {1000, 3000, 2800, 3200, 3000, 2900, 3100, 3000};
  for (int i = 0; i < 8; ++i) {
    limiter.on_success(at_ms(100 * i), std::chrono::milliseconds(seen[i]));
  }
  EXPECT_DOUBLE_EQ(limiter.limit(), 4) << "fewer than 8 tasks seen: no signal yet";
  // 4.5 s is 4.5x the fastest, but 1.5x the median: the tail, not congestion.
  limiter.on_success(at_ms(1000), std::chrono::milliseconds(4500));
  EXPECT_DOUBLE_EQ(limiter.limit(), 4);
  // 9.5 s is over 3x the median of 3 s: the service queues.
  limiter.on_success(at_ms(1100), std::chrono::milliseconds(9500));
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
}

TEST(rate_limiter, the_latency_signal_is_off_at_lat_0) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=4:min=1:max=10:beta=0.5:lat=0:strikes=2").value(), t0);
  for (int i = 0; i < 8; ++i) {
    limiter.on_success(at_ms(100 * i), std::chrono::milliseconds(1000));
  }
  limiter.on_success(at_ms(1000), std::chrono::milliseconds(60000));
  EXPECT_DOUBLE_EQ(limiter.limit(), 4);
}

// inflight.strikes (issue 13): one refusal at a level may be the service's dice; the second in a
// row closes the level, and the limit drops to the level below, not to a multiple of it.
TEST(rate_limiter, strikes_close_a_level_after_refusals_in_a_row) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=1:min=1:max=10:beta=0.5:lat=0:strikes=2").value(), t0);
  EXPECT_TRUE(limiter.on_start(t0));
  limiter.on_accepted(at_ms(40), t0, true, 1);  // slow start: level 1 taken, try 2
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  limiter.on_start(at_ms(40));  // level 2
  limiter.on_dynamic_429(at_ms(80), at_ms(40), std::nullopt, 2);
  limiter.on_release(at_ms(80));
  EXPECT_DOUBLE_EQ(limiter.limit(), 2) << "one refusal closed the level";
  EXPECT_EQ(limiter.next_start(at_ms(80)), at_ms(80)) << "the retry must not wait for a task";
  limiter.on_start(at_ms(300));  // the refused image again, after its short 429 backoff
  limiter.on_dynamic_429(at_ms(340), at_ms(300), std::nullopt, 2);
  limiter.on_release(at_ms(340));
  EXPECT_DOUBLE_EQ(limiter.limit(), 1);
  EXPECT_FALSE(limiter.next_start(at_ms(340)).has_value());
  EXPECT_EQ(limiter.rate_refusals(), 0);
}

TEST(rate_limiter, an_acceptance_between_refusals_keeps_the_level_open) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=3:min=1:max=10:beta=0.5:lat=0:strikes=2").value(), t0);
  limiter.on_dynamic_429(at_ms(2000), at_ms(1960), std::nullopt, 3);
  limiter.on_accepted(at_ms(2500), at_ms(2460), false, 3);
  limiter.on_dynamic_429(at_ms(4000), at_ms(3960), std::nullopt, 3);
  EXPECT_DOUBLE_EQ(limiter.limit(), 3) << "refusals not in a row closed the level";
  limiter.on_dynamic_429(at_ms(4500), at_ms(4460), std::nullopt, 3);
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
}

// A refusal at a level the service took less than `rate_window` ago is the per-key submit rate
// (the same 429 text): it closes nothing and pauses every start until a token is back.
TEST(rate_limiter, a_refusal_right_after_an_acceptance_at_its_level_is_the_rate) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=4:min=1:max=10:beta=0.5:lat=0:strikes=1").value(), t0);
  limiter.on_accepted(at_ms(1000), at_ms(960), false, 4);
  limiter.on_dynamic_429(at_ms(1500), at_ms(1460), std::nullopt, 3);
  EXPECT_DOUBLE_EQ(limiter.limit(), 4);
  EXPECT_EQ(limiter.rate_refusals(), 1);
  EXPECT_EQ(limiter.next_start(at_ms(1500)), at_ms(2500));
  // Level 5 was never taken: a capacity refusal, and one strike closes it here.
  limiter.on_dynamic_429(at_ms(1600), at_ms(1560), std::nullopt, 5);
  EXPECT_DOUBLE_EQ(limiter.limit(), 4);
  // Level 4, a second after its acceptance: capacity again (the service holds fewer now).
  limiter.on_dynamic_429(at_ms(2000), at_ms(1960), std::nullopt, 4);
  EXPECT_DOUBLE_EQ(limiter.limit(), 3);
  EXPECT_EQ(limiter.rate_refusals(), 1);
}

// The politeness budget: the limit grows only while dynamic 429s stay within one per accepted
// submit (issue 13's target), so probing stops where it costs more than it finds.
TEST(rate_limiter, strikes_grow_the_limit_only_within_the_429_budget) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=1:min=1:max=10:beta=0.5:lat=0:strikes=3").value(), t0);
  for (int i = 0; i < 2; ++i) {  // two capacity refusals at level 2 (no strike-out yet)
    limiter.on_dynamic_429(at_ms(100 + 10 * i), t0, std::nullopt, 2);
  }
  limiter.on_accepted(at_ms(200), at_ms(150), true, 1);  // 2 refused + 1 <= 0.95 x 2? no
  EXPECT_DOUBLE_EQ(limiter.limit(), 1);
  limiter.on_accepted(at_ms(300), at_ms(250), true, 1);  // 3 <= 0.95 x 3? no
  EXPECT_DOUBLE_EQ(limiter.limit(), 1);
  limiter.on_accepted(at_ms(400), at_ms(350), true, 1);  // 3 <= 0.95 x 4: yes, slow start
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
}

// A planned batch lends its next window's share of the budget ahead of its acceptances (a 4-image
// batch cannot earn it back before it is over), but never more than that window.
double limit_after_refusals(int planned_images, int refusals) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=1:min=1:max=10:beta=0.5:lat=0:strikes=3").value(), t0);
  if (planned_images > 0) {
    limiter.plan_batch(planned_images);
  }
  for (int i = 0; i < refusals; ++i) {  // capacity refusals at level 2
    limiter.on_dynamic_429(at_ms(100 + 10 * i), t0, std::nullopt, 2);
  }
  limiter.on_accepted(at_ms(500), at_ms(450), true, 1);  // saturated at limit 1: may grow
  return limiter.limit();
}

TEST(rate_limiter, a_planned_batch_lends_the_next_windows_429_budget) {
  // 2 refused + 1 <= 0.95 x (1 accepted + 1): no; with 2 images ahead (4 planned): yes.
  EXPECT_DOUBLE_EQ(limit_after_refusals(0, 2), 1);
  EXPECT_DOUBLE_EQ(limit_after_refusals(4, 2), 2);
  // The last image of a batch has nothing ahead to lend.
  EXPECT_DOUBLE_EQ(limit_after_refusals(1, 2), 1);
  // A long batch lends only the next window (limit 1 and one more: 2 images), not its share of
  // 1000 images: 4 refused + 1 <= 0.95 x (1 + 2)? no.
  EXPECT_DOUBLE_EQ(limit_after_refusals(1000, 2), 2);
  EXPECT_DOUBLE_EQ(limit_after_refusals(1000, 4), 1);
}

// A level refused twice over (two closures, no acceptance between) and then taken, higher than
// any taken before, says the service's limit rose: growth goes back to slow start (+1 per
// acceptance) until the next closure. One closure and an acceptance is the free tier's dice:
// growth stays additive.
double limit_after_a_step_up(int closures) {
  rate_limiter limiter(
      parse_strategy("inflight=aimd:init=1:min=1:max=10:beta=0.5:lat=0:strikes=2").value(), t0);
  limiter.plan_batch(100);
  limiter.on_accepted(at_ms(10), t0, true, 1);  // slow start: 1 -> 2
  long t = 100;
  for (int i = 0; i < 2 * closures; ++i, t += 100) {
    limiter.on_dynamic_429(at_ms(t + 1500), at_ms(t), std::nullopt, 2);
  }
  EXPECT_DOUBLE_EQ(limiter.limit(), 1);
  // Acceptances at level 1 earn the 429 budget back until the limit grows to 2 (+1/1).
  for (int i = 0; i < 10 && limiter.limit() < 2; ++i, t += 5000) {
    limiter.on_accepted(at_ms(t + 5000), at_ms(t + 4960), true, 1);
  }
  EXPECT_DOUBLE_EQ(limiter.limit(), 2);
  limiter.on_accepted(at_ms(t + 5000), at_ms(t + 4960), true, 2);  // the service takes level 2
  return limiter.limit();
}

TEST(rate_limiter, a_level_refused_twice_over_and_then_taken_resumes_slow_start) {
  EXPECT_DOUBLE_EQ(limit_after_a_step_up(1), 2.5) << "one closure: additive, +1/2";
  EXPECT_DOUBLE_EQ(limit_after_a_step_up(2), 3) << "two closures: slow start, +1";
  EXPECT_DOUBLE_EQ(limit_after_a_step_up(3), 3);
}

TEST(rate_limiter, retry_after_pauses_every_start) {
  rate_limiter limiter(preset("adaptive").value(), t0);
  limiter.on_dynamic_429(at_ms(100), t0, millis{5000});
  EXPECT_EQ(limiter.next_start(at_ms(200)), at_ms(5100));
}

TEST(rate_limiter, circuit_opens_after_threshold_and_probes_half_open) {
  rate_limiter limiter(parse_strategy("circuit=3:10s").value(), t0);
  for (int i = 0; i < 3; ++i) {
    limiter.on_server_failure(at_ms(i));
  }
  EXPECT_TRUE(limiter.circuit_open(at_ms(5)));
  EXPECT_EQ(limiter.next_start(at_ms(5)), at_ms(10002));
  EXPECT_EQ(limiter.next_start(at_ms(10002)), at_ms(10002));
  limiter.on_start(at_ms(10002));  // the probe
  EXPECT_FALSE(limiter.next_start(at_ms(10003)).has_value());
  limiter.on_accepted(at_ms(10002), false);
  EXPECT_EQ(limiter.next_start(at_ms(10003)), at_ms(10003));
}

TEST(retry_budget, follows_grpc_throttling) {
  retry_budget budget(parse_strategy("budget=10:0.1").value().budget);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    budget.on_failure();
    allowed += budget.allows_retry() ? 1 : 0;
  }
  EXPECT_EQ(allowed, 4);
  for (int i = 0; i < 10; ++i) {
    budget.on_success();
  }
  EXPECT_DOUBLE_EQ(budget.tokens(), 1.0);
}

TEST(backoff, shapes_and_caps) {
  jitter_rng rng(1);
  auto spec = parse_strategy("retry=5:exp:base=500ms:cap=3s:jitter=none").value().retry;
  EXPECT_EQ(backoff_delay(spec, 0, millis{0}, rng), millis{500});
  EXPECT_EQ(backoff_delay(spec, 2, millis{0}, rng), millis{2000});
  EXPECT_EQ(backoff_delay(spec, 5, millis{0}, rng), millis{3000});
  spec = preset("retry").value().retry;
  EXPECT_EQ(backoff_delay(spec, 0, millis{0}, rng), millis{1000});
  EXPECT_EQ(backoff_delay(spec, 1, millis{0}, rng), millis{2000});
  spec = parse_strategy("retry=5:exp:base=1s:cap=8s:jitter=full").value().retry;
  bool varied = false;
  for (int i = 0; i < 100; ++i) {
    const auto wait = backoff_delay(spec, 3, millis{0}, rng);
    EXPECT_GE(wait, millis{0});
    EXPECT_LE(wait, millis{8000});
    varied = varied || wait != backoff_delay(spec, 3, millis{0}, rng);
  }
  EXPECT_TRUE(varied);
  jitter_rng a(42);
  jitter_rng b(42);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(backoff_delay(spec, i, millis{0}, a), backoff_delay(spec, i, millis{0}, b));
  }
}

}  // namespace
}  // namespace zbatch::actors
