#pragma once
// The circuit and rate-limit figure rules of store.hpp, asserted the same way on the in-memory
// store (memory_store_test.cpp) and on the Redis store's Lua scripts (redis_store_test.cpp).
// `a` and `b` are two processes' handles on one key; `now_ms` is the store's clock at the call
// (neither test moves it during the checks).

#include <gtest/gtest.h>

#include "shared_limit/store.hpp"

namespace zbatch::shared_limit::test_rules {

inline void circuit_is_shared_with_one_probe(store& a, store& b, std::int64_t now_ms) {
  using state = circuit_answer::state;
  EXPECT_EQ(a.circuit("a", millis{5000})->now, state::closed);
  ASSERT_TRUE(a.circuit_open(now_ms + 60'000).ok());
  ASSERT_TRUE(b.circuit_open(now_ms + 30'000).ok());  // an earlier opening does not shorten it
  const auto seen = b.circuit("b", millis{5000});
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->now, state::open);
  EXPECT_EQ(seen->until_ms, now_ms + 60'000);
  EXPECT_FALSE(seen->probe);
  // A circuit whose time is up is half-open: one probe, the first to ask.
  ASSERT_TRUE(a.circuit_close().ok());
  ASSERT_TRUE(a.circuit_open(now_ms - 1).ok());
  EXPECT_TRUE(b.circuit("b", millis{60'000})->probe);
  const auto other = a.circuit("a", millis{60'000});
  EXPECT_EQ(other->now, state::half_open);
  EXPECT_FALSE(other->probe);
  EXPECT_TRUE(b.circuit("b", millis{60'000})->probe);  // still b's
  // The probe failed: open again, the probe dropped; it succeeded: closed for everyone.
  ASSERT_TRUE(b.circuit_open(now_ms + 10'000).ok());
  EXPECT_EQ(a.circuit("a", millis{60'000})->now, state::open);
  ASSERT_TRUE(b.circuit_close().ok());
  EXPECT_EQ(a.circuit("a", millis{60'000})->now, state::closed);
}

inline void ratelimit_figures_keep_the_lowest_until_the_reset(store& a, store& b,
                                                              std::int64_t now_ms) {
  EXPECT_FALSE(a.ratelimit()->account_remaining.has_value());
  ASSERT_TRUE(a.ratelimit_record({50, 20}, now_ms + 60'000).ok());
  // A slower answer from another process carries older, higher figures: the lowest stays.
  ASSERT_TRUE(b.ratelimit_record({60, std::nullopt}, now_ms + 60'000).ok());
  auto seen = b.ratelimit();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->account_remaining, 50);
  EXPECT_EQ(seen->model_remaining, 20);
  ASSERT_TRUE(b.ratelimit_record({std::nullopt, 0}, now_ms + 60'000).ok());
  seen = a.ratelimit();
  EXPECT_EQ(seen->account_remaining, 50);
  EXPECT_EQ(seen->model_remaining, 0);
}

}  // namespace zbatch::shared_limit::test_rules
