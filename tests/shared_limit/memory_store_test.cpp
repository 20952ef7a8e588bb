// The store's rules on the in-memory implementation with a hand-driven clock: leases, expiry,
// renewal, GCRA pacing, the shared adaptive limit (one decrease per round trip), the quota stop
// and process counting. The Redis store runs the same rules in Lua (redis_store_test.cpp).
#include <gtest/gtest.h>

#include "shared_limit/memory_store.hpp"
#include "tests/shared_limit/shared_rules.hpp"

namespace zbatch::shared_limit {
namespace {

struct fake_clock {
  std::int64_t now = 1'000'000;
  memory_store::clock fn() {
    return [this] { return now; };
  }
};

TEST(memory_store, grants_up_to_the_limit_then_says_when_the_first_lease_expires) {
  fake_clock clock;
  memory_store store(clock.fn());
  EXPECT_TRUE(store.acquire("a", 2, millis{1000})->granted);
  clock.now += 100;
  EXPECT_TRUE(store.acquire("b", 2, millis{1000})->granted);
  const auto denied = store.acquire("c", 2, millis{1000});
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->granted);
  EXPECT_EQ(denied->held, 2);
  EXPECT_EQ(denied->retry_in, millis{900});
  EXPECT_TRUE(store.release("a").ok());
  EXPECT_TRUE(store.acquire("c", 2, millis{1000})->granted);
  EXPECT_EQ(*store.max_held(), 2);
}

TEST(memory_store, an_unrenewed_lease_returns_its_permit_at_expiry_and_not_before) {
  fake_clock clock;
  memory_store killed(clock.fn());  // a process that stops renewing (killed)
  auto other = killed.share();
  ASSERT_TRUE(killed.acquire("dead:1", 1, millis{200})->granted);
  clock.now += 199;
  EXPECT_FALSE(other.acquire("live:1", 1, millis{200})->granted);
  clock.now += 1;
  EXPECT_TRUE(other.acquire("live:1", 1, millis{200})->granted);
  EXPECT_EQ(*other.held(), 1);
}

TEST(memory_store, renewal_keeps_a_lease_and_never_revives_an_expired_one) {
  fake_clock clock;
  memory_store store(clock.fn());
  ASSERT_TRUE(store.acquire("a", 1, millis{200})->granted);
  clock.now += 150;
  EXPECT_EQ(*store.renew({"a"}, millis{200}), 1);
  clock.now += 150;  // 300 ms after the acquire, 150 after the renewal
  EXPECT_FALSE(store.acquire("b", 1, millis{200})->granted);
  clock.now += 50;
  EXPECT_EQ(*store.renew({"a"}, millis{200}), 0);
  EXPECT_EQ(*store.held(), 0);
}

TEST(memory_store, gcra_paces_submits_across_handles) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  // 2 per second, bursts of 2: two at once, then one every 500 ms.
  EXPECT_TRUE(a.pace(2.0, 2)->allowed);
  EXPECT_TRUE(b.pace(2.0, 2)->allowed);
  const auto third = a.pace(2.0, 2);
  EXPECT_FALSE(third->allowed);
  EXPECT_EQ(third->retry_in, millis{500});
  clock.now += 500;
  EXPECT_TRUE(b.pace(2.0, 2)->allowed);
  EXPECT_FALSE(a.pace(2.0, 2)->allowed);
}

TEST(memory_store, the_adaptive_limit_decreases_once_per_round_trip_across_processes) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  const aimd_params p{4, 1, 16, 0.5};
  const auto submitted = clock.now;  // both submits went out before any 429
  clock.now += 10;
  EXPECT_TRUE(a.limit_decrease(p, submitted)->changed);
  clock.now += 10;
  const auto second = b.limit_decrease(p, submitted);
  EXPECT_FALSE(second->changed);
  EXPECT_DOUBLE_EQ(second->limit, 2.0);
  // A submit made after the decrease speaks about the new limit.
  clock.now += 10;
  EXPECT_TRUE(b.limit_decrease(p, clock.now - 5)->changed);
  EXPECT_DOUBLE_EQ(a.limit(p)->limit, 1.0);
  // Additive increase after a decrease: +1/limit.
  EXPECT_DOUBLE_EQ(a.limit_increase(p, clock.now, true)->limit, 2.0);
  EXPECT_DOUBLE_EQ(a.limit_increase(p, clock.now, true)->limit, 2.5);
}

TEST(memory_store, strikes_drop_the_shared_limit_to_the_level_below) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  clock.now += 10;
  test_rules::strikes_drop_the_shared_limit_to_the_level_below(a, b, clock.now - 5);
}

TEST(memory_store, slow_start_adds_one_per_saturated_acceptance_until_the_first_decrease) {
  fake_clock clock;
  memory_store store(clock.fn());
  const aimd_params p{1, 1, 3, 0.7};
  EXPECT_DOUBLE_EQ(store.limit_increase(p, clock.now, true)->limit, 2.0);
  EXPECT_DOUBLE_EQ(store.limit_increase(p, clock.now, true)->limit, 3.0);
  EXPECT_DOUBLE_EQ(store.limit_increase(p, clock.now, true)->limit, 3.0);  // max
}

TEST(memory_store, the_quota_stop_refuses_every_process_until_the_reset) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  ASSERT_TRUE(a.quota_stop(clock.now + 1000).ok());
  const auto refused = b.acquire("x", 10, millis{1000});
  EXPECT_FALSE(refused->granted);
  ASSERT_TRUE(refused->quota_reset_ms.has_value());
  EXPECT_EQ(*refused->quota_reset_ms, clock.now + 1000);
  EXPECT_EQ(*b.quota(), clock.now + 1000);
  clock.now += 1000;
  EXPECT_TRUE(b.acquire("x", 10, millis{1000})->granted);
  EXPECT_FALSE(b.quota()->has_value());
}

TEST(memory_store, heartbeats_count_live_processes) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  EXPECT_EQ(*a.heartbeat("p1", millis{300}), 1);
  EXPECT_EQ(*b.heartbeat("p2", millis{300}), 2);
  clock.now += 200;
  EXPECT_EQ(*b.heartbeat("p2", millis{300}), 2);
  clock.now += 100;  // p1 silent for 300 ms: gone
  EXPECT_EQ(*b.heartbeat("p2", millis{300}), 1);
}

TEST(memory_store, an_unreachable_store_fails_unavailable) {
  fake_clock clock;
  memory_store store(clock.fn());
  store.set_reachable(false);
  const auto r = store.acquire("a", 1, millis{100});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), status_code::unavailable);
}

TEST(key_namespace, is_a_hash_that_never_contains_the_key) {
  const auto ns = key_namespace("ms-secret-key-123");
  EXPECT_EQ(ns.size(), 7u + 16u);
  EXPECT_EQ(ns.find("secret"), std::string::npos);
  EXPECT_EQ(ns, key_namespace("ms-secret-key-123"));
  EXPECT_NE(ns, key_namespace("ms-secret-key-124"));
}

}  // namespace
}  // namespace zbatch::shared_limit

namespace zbatch::shared_limit {
namespace {

TEST(memory_store, the_circuit_is_shared_with_one_probe_when_half_open) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  test_rules::circuit_is_shared_with_one_probe(a, b, clock.now);
  // A probe whose process died is taken over once its time is up.
  ASSERT_TRUE(a.circuit_open(clock.now - 1).ok());
  EXPECT_TRUE(a.circuit("a", millis{1000})->probe);
  clock.now += 999;
  EXPECT_FALSE(b.circuit("b", millis{1000})->probe);
  clock.now += 1;
  EXPECT_TRUE(b.circuit("b", millis{1000})->probe);
}

TEST(memory_store, waiters_are_served_first_come_first_served) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  auto c = a.share();
  test_rules::waiters_are_served_first_come_first_served(a, b, c);
}

TEST(memory_store, a_waiter_that_stops_asking_loses_its_place_after_its_ttl) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  ASSERT_TRUE(a.acquire("a:1", 1, millis{60'000}, waiter{"a", millis{500}})->granted);
  EXPECT_FALSE(b.acquire("b:1", 1, millis{60'000}, waiter{"b", millis{500}})->granted);
  ASSERT_TRUE(a.release("a:1").ok());
  clock.now += 499;
  EXPECT_FALSE(a.acquire("a:2", 1, millis{60'000}, waiter{"a", millis{500}})->granted);
  clock.now += 1;  // b last asked 500 ms ago
  EXPECT_TRUE(a.acquire("a:3", 1, millis{60'000}, waiter{"a", millis{500}})->granted);
}

TEST(memory_store, rate_limit_figures_are_kept_per_model) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  test_rules::ratelimit_figures_are_kept_per_model(a, b, clock.now);
}

TEST(memory_store, rate_limit_figures_keep_the_lowest_until_the_reset) {
  fake_clock clock;
  memory_store a(clock.fn());
  auto b = a.share();
  test_rules::ratelimit_figures_keep_the_lowest_until_the_reset(a, b, clock.now);
  clock.now += 60'000;  // the reset: a new day's figures start unknown
  EXPECT_TRUE(a.ratelimit()->models.empty());
  a.set_reachable(false);
  EXPECT_EQ(a.ratelimit().status().code(), status_code::unavailable);
  EXPECT_EQ(b.circuit("b", millis{1}).status().code(), status_code::unavailable);
}

}  // namespace
}  // namespace zbatch::shared_limit
