#pragma once
// The circuit and rate-limit figure rules of store.hpp, asserted the same way on the in-memory
// store (memory_store_test.cpp) and on the Redis store's Lua scripts (redis_store_test.cpp).
// `a` and `b` are two processes' handles on one key; `now_ms` is the store's clock at the call
// (neither test moves it during the checks).

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "shared_limit/store.hpp"

namespace zbatch::shared_limit::test_rules {

/// aimd_params::strikes (issue 13's rule on the key): N refusals in a row across processes, no
/// acceptance at the limit between, drop the limit to the level below; a refusal of a submit made
/// before the last decrease is no strike; an acceptance that may not grow the limit still clears
/// the strikes.
inline void strikes_drop_the_shared_limit_to_the_level_below(store& a, store& b,
                                                             std::int64_t now_ms) {
  const aimd_params p{4, 1, 16, 0.5, 2};
  const auto later = now_ms + 60'000;  // a submit made after any decrease of this test
  const auto first = a.limit_decrease(p, now_ms);
  EXPECT_FALSE(first->changed) << "one refusal may be the dice";
  EXPECT_DOUBLE_EQ(first->limit, 4);
  EXPECT_TRUE(b.limit_decrease(p, now_ms)->changed);
  EXPECT_DOUBLE_EQ(a.limit(p)->limit, 3) << "the level below, not 4 x beta";
  EXPECT_FALSE(b.limit_decrease(p, later)->changed);
  const auto held = a.limit_increase(p, later, false);  // accepted; the 429 budget is spent
  EXPECT_FALSE(held->changed);
  EXPECT_DOUBLE_EQ(held->limit, 3);
  EXPECT_FALSE(a.limit_decrease(p, later)->changed) << "the acceptance cleared the strike";
  EXPECT_TRUE(b.limit_decrease(p, later)->changed);
  EXPECT_DOUBLE_EQ(a.limit_increase(p, later, true)->limit, 2.5);  // additive: +1/2
  EXPECT_FALSE(a.limit_decrease(p, later)->changed);
  EXPECT_FALSE(b.limit_decrease(p, now_ms - 1)->changed) << "a stale submit is no strike";
  EXPECT_DOUBLE_EQ(a.limit(p)->limit, 2.5);
  EXPECT_TRUE(b.limit_decrease(p, later)->changed);
  EXPECT_DOUBLE_EQ(a.limit(p)->limit, 1) << "2.5 takes 2 in flight: the level below is 1";
}

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

/// Figures of one answer: the account's and one model's.
inline ratelimit_figures figures(std::optional<std::int64_t> account, const std::string& model = {},
                                 std::int64_t model_remaining = -1) {
  ratelimit_figures out;
  out.account_remaining = account;
  if (model_remaining >= 0) {
    out.models[model] = model_remaining;
  }
  return out;
}

inline void ratelimit_figures_keep_the_lowest_until_the_reset(store& a, store& b,
                                                              std::int64_t now_ms) {
  EXPECT_FALSE(a.ratelimit()->account_remaining.has_value());
  EXPECT_TRUE(a.ratelimit()->models.empty());
  ASSERT_TRUE(a.ratelimit_record(figures(50, "m", 20), now_ms + 60'000).ok());
  // A slower answer from another process carries older, higher figures: the lowest stays.
  ASSERT_TRUE(b.ratelimit_record(figures(60), now_ms + 60'000).ok());
  auto seen = b.ratelimit();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->account_remaining, 50);
  EXPECT_EQ(seen->models, (std::map<std::string, std::int64_t>{{"m", 20}}));
  ASSERT_TRUE(b.ratelimit_record(figures(std::nullopt, "m", 0), now_ms + 60'000).ok());
  seen = a.ratelimit();
  EXPECT_EQ(seen->account_remaining, 50);
  EXPECT_EQ(seen->models.at("m"), 0);
}

/// Each model's figure is its own (issue 14: the model-requests headers count the answering
/// request's model): one model's 0 leaves another's count as it was, and every model keeps its
/// own lowest whichever process saw it.
inline void ratelimit_figures_are_kept_per_model(store& a, store& b, std::int64_t now_ms) {
  const std::string turbo = "Tongyi-MAI/Z-Image-Turbo";
  const std::string other = "MusePublic/489_ckpt_FLUX_1";
  ASSERT_TRUE(a.ratelimit_record(figures(90, turbo, 40), now_ms + 60'000).ok());
  ASSERT_TRUE(b.ratelimit_record(figures(89, other, 7), now_ms + 60'000).ok());
  ASSERT_TRUE(a.ratelimit_record(figures(88, other, 9), now_ms + 60'000).ok());  // older: kept 7
  ASSERT_TRUE(b.ratelimit_record(figures(87, turbo, 0), now_ms + 60'000).ok());
  const auto seen = a.ratelimit();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->account_remaining, 87);
  EXPECT_EQ(seen->models, (std::map<std::string, std::int64_t>{{turbo, 0}, {other, 7}}));
}

/// The queue for leases (store::acquire): a holder that frees a permit does not take it back
/// while another process waits; waiters are served in the order they first waited; an unnamed
/// caller lets every waiter go first; a waiter that stopped asking holds nobody back once its
/// place expires (ttl 0: at the next call).
inline void waiters_are_served_first_come_first_served(store& a, store& b, store& c) {
  const millis lease{60'000};
  const waiter qa{"a", millis{60'000}};
  const waiter qb{"b", millis{60'000}};
  const waiter qc{"c", millis{60'000}};
  ASSERT_TRUE(a.acquire("a:1", 1, lease, qa)->granted);
  EXPECT_FALSE(b.acquire("b:1", 1, lease, qb)->granted);  // b waits first...
  EXPECT_FALSE(c.acquire("c:1", 1, lease, qc)->granted);  // ...then c
  ASSERT_TRUE(a.release("a:1").ok());
  EXPECT_FALSE(a.acquire("a:2", 1, lease, qa)->granted) << "the holder took back what it freed";
  EXPECT_FALSE(c.acquire("c:2", 1, lease, qc)->granted) << "b waited longer";
  EXPECT_FALSE(a.acquire("a:3", 1, lease)->granted) << "an unnamed caller goes after waiters";
  EXPECT_TRUE(b.acquire("b:2", 1, lease, qb)->granted);
  ASSERT_TRUE(b.release("b:2").ok());
  EXPECT_TRUE(c.acquire("c:3", 1, lease, qc)->granted) << "c waited before a";
  ASSERT_TRUE(c.release("c:3").ok());
  EXPECT_TRUE(a.acquire("a:4", 1, lease, qa)->granted);
  // Two free permits and one waiter ahead: the second is anyone's.
  const waiter gone{"b", millis{0}};
  EXPECT_FALSE(b.acquire("b:3", 1, lease, gone)->granted);
  EXPECT_TRUE(c.acquire("c:4", 2, lease, qc)->granted) << "b's place expired at once";
  ASSERT_TRUE(a.release("a:4").ok());
  ASSERT_TRUE(c.release("c:4").ok());
  EXPECT_FALSE(b.acquire("b:4", 0, lease, qb)->granted);  // b waits again (a limit of 0)
  EXPECT_TRUE(c.acquire("c:5", 2, lease, qc)->granted) << "2 free, 1 waiter ahead";
  EXPECT_FALSE(a.acquire("a:5", 2, lease, qa)->granted) << "1 free, b ahead";
  EXPECT_TRUE(b.acquire("b:5", 2, lease, qb)->granted);
}

}  // namespace zbatch::shared_limit::test_rules
