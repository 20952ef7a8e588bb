#include "actors/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace zbatch::actors {
namespace {

const time_point t0{};

time_point at_ms(long ms) { return t0 + std::chrono::milliseconds(ms); }

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

TEST(rate_limiter, budget_follows_grpc_throttling) {
  rate_limiter limiter(parse_strategy("budget=10:0.1").value(), t0);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    limiter.budget().on_failure();
    allowed += limiter.budget().allows_retry() ? 1 : 0;
  }
  EXPECT_EQ(allowed, 4);
  for (int i = 0; i < 10; ++i) {
    limiter.budget().on_success();
  }
  EXPECT_DOUBLE_EQ(limiter.budget().tokens(), 1.0);
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
