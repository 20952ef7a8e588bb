// The throttle on its own: a state machine driven by the times passed in, so every assertion is
// exact (token counts, credits, day boundaries, the very draws of the "load" refusals).
#include "mock_api/throttle.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_api/rng.hpp"
#include "protocol/messages.hpp"

namespace zbatch::mock {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t seed = 7;
const std::string label = "key-0000cafe";
const std::string model_id = "Tongyi-MAI/Z-Image-Turbo";

throttle make(const throttle_config& config) { return throttle(config, rng(seed, 3)); }

/// A throttle with the quota on: `credits` a day at 2 a task, first reset at 100 s.
throttle_config quota_config(double credits) {
  throttle_config config;
  config.quota.enabled = true;
  config.quota.daily_credits = credits;
  config.quota.cost_per_task = 2;
  config.quota.first_reset_s = 100.0;
  return config;
}

TEST(throttle_bucket, starts_full_takes_one_token_a_request_and_refills_at_the_rate) {
  throttle_config config;
  config.rate.enabled = true;
  config.rate.burst = 3;
  config.rate.per_second = 2;
  auto t = make(config);
  auto& key = t.settle(label, 10s);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.admit_submit(key, 10s), std::nullopt) << i;
  }
  EXPECT_EQ(key.tokens, 0.0);
  EXPECT_EQ(t.admit_submit(key, 10s), refusal::rate);
  EXPECT_EQ(t.admit_submit(key, 10'250ms), refusal::rate);  // 0.5 token
  EXPECT_EQ(key.tokens, 0.5);
  EXPECT_EQ(t.admit_submit(key, 10'500ms), std::nullopt);  // 0.5 + 0.5 = 1
  EXPECT_EQ(key.tokens, 0.0);
  t.settle(label, 1000s);
  EXPECT_EQ(t.admit_submit(key, 1000s), std::nullopt);  // refilled, capped at the burst
  EXPECT_EQ(key.tokens, 2.0);
}

TEST(throttle_bucket, polls_take_tokens_only_with_scope_all) {
  throttle_config config;
  config.rate.enabled = true;
  config.rate.burst = 1;
  config.rate.per_second = 1;
  auto submits_only = make(config);
  auto& a = submits_only.settle(label, 0s);
  EXPECT_EQ(submits_only.admit_request(a, 0s), std::nullopt);
  EXPECT_EQ(submits_only.admit_request(a, 0s), std::nullopt);
  EXPECT_FALSE(a.bucket_started);

  config.rate.scope = "all";
  auto all = make(config);
  auto& b = all.settle(label, 0s);
  EXPECT_EQ(all.admit_request(b, 0s), std::nullopt);
  EXPECT_EQ(all.admit_request(b, 0s), refusal::rate);
  EXPECT_EQ(all.admit_submit(b, 0s), refusal::rate);  // polls and submits share the bucket
  EXPECT_EQ(all.admit_submit(b, 1s), std::nullopt);
}

TEST(throttle_quota, charges_at_accept_and_refuses_the_task_that_would_overspend) {
  auto t = make(quota_config(6));
  auto& key = t.settle_submit(label, 0s);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(t.admit_submit(key, 0s), std::nullopt) << i;
    t.accept(key, {5s, true, false, {}});
  }
  EXPECT_EQ(key.used, 6.0);
  EXPECT_EQ(key.accepted, 3u);
  EXPECT_EQ(key.submits, 1u);
  EXPECT_EQ(t.credits_charged(), 6.0);
  EXPECT_EQ(t.admit_submit(key, 0s), refusal::quota);
}

TEST(throttle_quota, the_day_rolls_over_at_the_first_reset_then_every_24_hours) {
  auto t = make(quota_config(2));
  EXPECT_EQ(t.day_index(0s), 0);
  EXPECT_EQ(t.day_index(99'999'999us), 0);
  EXPECT_EQ(t.day_index(100s), 1);
  EXPECT_EQ(t.day_index(86'499s), 1);
  EXPECT_EQ(t.day_index(86'500s), 2);
  EXPECT_EQ(t.seconds_to_reset(40s), 60.0);
  EXPECT_EQ(t.seconds_to_reset(100s), 86'400.0);
  EXPECT_EQ(t.seconds_to_reset(86'490s), 10.0);

  auto& key = t.settle(label, 50s);
  t.accept(key, {60s, true, false, {}});
  EXPECT_EQ(t.admit_submit(key, 99s), refusal::quota);
  t.settle(label, 100s);
  EXPECT_EQ(key.day, 1);
  EXPECT_EQ(key.used, 0.0);
  EXPECT_EQ(t.admit_submit(key, 100s), std::nullopt);
}

TEST(throttle_quota, resets_at_local_midnight_of_the_utc_offset) {
  auto config = quota_config(2);
  config.quota.first_reset_s.reset();
  config.quota.reset_utc_offset_hours = 8;
  auto t = make(config);
  // Origin 1970-01-01 00:00 UTC = 08:00 at UTC+8: midnight there is 16 h later.
  EXPECT_EQ(t.seconds_to_reset(0s), 57'600.0);
  EXPECT_EQ(t.day_index(57'599s), 0);
  EXPECT_EQ(t.day_index(57'600s), 1);
  t.set_clock_origin_unix(86'400 - 8 * 3600 - 30);  // 30 s before midnight at UTC+8
  EXPECT_EQ(t.seconds_to_reset(0s), 30.0);
  EXPECT_EQ(t.day_index(30s), 1);
}

TEST(throttle_quota, refunds_a_system_failure_when_it_fails_and_only_for_its_own_day) {
  auto t = make(quota_config(4));
  auto& key = t.settle(label, 10s);
  t.accept(key, {20s, true, true, {}});   // refunded at 20 s, same day
  t.accept(key, {150s, true, true, {}});  // refunded at 150 s, after the reset at 100 s
  EXPECT_EQ(key.used, 4.0);
  EXPECT_EQ(key.refunds.size(), 2u);
  t.settle(label, 19s);
  EXPECT_EQ(key.used, 4.0);
  EXPECT_EQ(t.credits_refunded(), 0.0);
  t.settle(label, 20s);
  EXPECT_EQ(key.used, 2.0);
  EXPECT_EQ(t.credits_refunded(), 2.0);
  t.settle(label, 120s);  // the new day starts from zero
  EXPECT_EQ(key.used, 0.0);
  t.accept(key, {130s, true, false, {}});
  t.settle(label, 150s);  // yesterday's refund: counted, but leaves today's charge alone
  EXPECT_EQ(key.used, 2.0);
  EXPECT_EQ(t.credits_refunded(), 4.0);
  EXPECT_TRUE(key.refunds.empty());
}

TEST(throttle_quota, no_refund_when_the_quota_does_not_refund_system_failures) {
  auto config = quota_config(4);
  config.quota.refund_system_failures = false;
  auto t = make(config);
  auto& key = t.settle(label, 0s);
  t.accept(key, {20s, true, true, {}});
  t.settle(label, 30s);
  EXPECT_EQ(key.used, 2.0);
  EXPECT_EQ(t.credits_refunded(), 0.0);
}

TEST(throttle_cap, off_refuses_above_the_cap_until_a_slot_frees_at_its_done_time) {
  throttle_config config;
  config.in_flight_cap = 1;
  auto t = make(config);
  auto& key = t.settle(label, 0s);
  EXPECT_EQ(t.admit_submit(key, 0s), std::nullopt);
  t.accept(key, {10s, true, false, {}});
  t.accept(key, {5s, false, false, {}});  // never ends: holds no slot
  EXPECT_EQ(t.in_flight(), 1u);
  t.settle(label, 9'999'999us);
  EXPECT_EQ(t.admit_submit(key, 9'999'999us), refusal::dynamic);
  t.settle(label, 10s);
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.admit_submit(key, 10s), std::nullopt);
}

TEST(throttle_cap, slots_free_in_completion_order) {
  auto t = make(throttle_config{});
  auto& key = t.settle(label, 0s);
  t.accept(key, {30s, true, false, {}});
  t.accept(key, {10s, true, false, {}});
  t.accept(key, {20s, true, false, {}});
  EXPECT_EQ(key.in_flight, (std::deque<duration>{10s, 20s, 30s}));
  t.settle(label, 20s);
  EXPECT_EQ(key.in_flight, (std::deque<duration>{30s}));
}

TEST(throttle_cap, schedule_allows_the_windows_extra_capacity_in_every_period) {
  throttle_config config;
  config.in_flight_cap = 1;
  config.dynamic.mode = "schedule";
  config.dynamic.schedule = {{0, 100, 2}};  // 2 extra in the first 100 s of every 1000 s
  config.dynamic.schedule_period_s = 1000;
  auto t = make(config);
  auto& key = t.settle(label, 50s);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(t.admit_submit(key, 50s), std::nullopt) << i;
    t.accept(key, {500s, true, false, {}});
  }
  EXPECT_EQ(t.admit_submit(key, 50s), refusal::dynamic);
  EXPECT_EQ(t.admit_submit(key, 150s), refusal::dynamic);
  t.settle(label, 600s);  // all done; outside the window only the cap is left
  EXPECT_EQ(t.admit_submit(key, 600s), std::nullopt);
  t.accept(key, {5000s, true, false, {}});
  EXPECT_EQ(t.admit_submit(key, 600s), refusal::dynamic);
  EXPECT_EQ(t.admit_submit(key, 1050s), std::nullopt);  // the next period's window
}

TEST(throttle_cap, load_refuses_with_the_configured_probability_one_draw_each) {
  throttle_config config;
  config.in_flight_cap = 1;
  config.dynamic.mode = "load";
  config.dynamic.base_probability = 0.3;
  config.dynamic.per_task_probability = 0.2;
  config.dynamic.per_global_task_probability = 0.05;
  config.dynamic.max_probability = 0.9;
  auto t = make(config);
  rng expected(seed, 3);  // the same stream: the test predicts every decision
  auto& other = t.settle("key-other", 0s);
  t.accept(other, {1000s, true, false, {}});  // one task in flight elsewhere
  auto& key = t.settle(label, 0s);
  EXPECT_EQ(t.admit_submit(key, 0s), std::nullopt);  // below the cap: no draw
  t.accept(key, {1000s, true, false, {}});
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    const double above = static_cast<double>(key.in_flight.size() - 1);
    const double global = static_cast<double>(t.in_flight());
    const double p = std::min(0.9, 0.3 + 0.2 * above + 0.05 * global);
    const bool refuse = expected.uniform() < p;
    const auto decision = t.admit_submit(key, 0s);
    ASSERT_EQ(decision == refusal::dynamic, refuse) << i;
    if (!decision) {
      t.accept(key, {1000s, true, false, {}});
    }
    refused += refuse;
  }
  EXPECT_GT(refused, 20);  // the probability climbs to 0.9 within a few accepts
  EXPECT_LT(refused, 40);
}

TEST(throttle_answers, rate_limit_headers_state_the_days_tasks) {
  auto config = quota_config(7);
  config.ratelimit_headers = true;
  auto t = make(config);
  auto& key = t.settle(label, 0s);
  t.accept(key, {5s, true, false, {}});
  const auto tasks = t.daily_tasks(key);
  ASSERT_TRUE(tasks);
  EXPECT_EQ(tasks->limit, 3);
  EXPECT_EQ(tasks->remaining, 2);
  protocol::wire_response response;
  t.add_ratelimit_headers(response, key);
  EXPECT_EQ(response.headers.get("modelscope-ratelimit-requests-limit"), "3");
  EXPECT_EQ(response.headers.get("modelscope-ratelimit-requests-remaining"), "2");
  EXPECT_EQ(response.headers.get("modelscope-ratelimit-model-requests-limit"), "3");
  EXPECT_EQ(response.headers.get("modelscope-ratelimit-model-requests-remaining"), "2");

  config.ratelimit_headers = false;
  t.configure(config);
  protocol::wire_response quiet;
  t.add_ratelimit_headers(quiet, key);
  EXPECT_TRUE(quiet.headers.fields().empty());
  EXPECT_EQ(key.used, 2.0);  // a live config change keeps the key's standing
}

TEST(throttle_answers, refusals_carry_the_services_texts_and_retry_after) {
  auto config = quota_config(2);
  config.retry_after_header = true;
  config.retry_after_s = 5;
  auto t = make(config);
  const auto dynamic = t.refusal_answer(refusal::dynamic, model_id, "rid", 40s);
  EXPECT_EQ(dynamic.status, 429);
  EXPECT_EQ(dynamic.body,
            protocol::error_body(429, protocol::texts::dynamic_rate_limit(model_id), "rid"));
  EXPECT_EQ(dynamic.headers.get("Retry-After"), "5");
  const auto quota = t.refusal_answer(refusal::quota, model_id, "rid", 39'500ms);
  EXPECT_EQ(quota.body, protocol::error_body(429, protocol::texts::daily_quota(model_id), "rid"));
  EXPECT_EQ(quota.headers.get("Retry-After"), "61");  // ceil(60.5 s to the reset)

  config.body_shape = "openai";
  config.quota.message = "request_limit";
  config.retry_after_header = false;
  t.configure(config);
  const auto openai = t.refusal_answer(refusal::quota, model_id, "rid", 0s);
  EXPECT_EQ(openai.body, protocol::openai_error_body(protocol::texts::request_limit_exceeded));
  EXPECT_FALSE(openai.headers.has("Retry-After"));
}

TEST(throttle_reset, forgets_keys_and_credit_totals) {
  auto t = make(quota_config(10));
  auto& key = t.settle(label, 0s);
  t.accept(key, {1s, true, true, {}});
  t.settle_all(2s);
  EXPECT_EQ(t.credits_charged(), 2.0);
  EXPECT_EQ(t.credits_refunded(), 2.0);
  t.reset(rng(seed, 3));
  EXPECT_TRUE(t.keys().empty());
  EXPECT_EQ(t.credits_charged(), 0.0);
  EXPECT_EQ(t.credits_refunded(), 0.0);
  EXPECT_EQ(t.in_flight(), 0u);
}

}  // namespace
}  // namespace zbatch::mock
