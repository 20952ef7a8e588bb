// The retry decision on its own: each rule of actors/retry_policy.hpp with exact waits.
#include "actors/retry_policy.hpp"

#include <gtest/gtest.h>

#include "tests/actors/time_points.hpp"

namespace zbatch::actors {
namespace {

using protocol::error_class;

using test::at_ms;
using test::t0;

protocol::api_error failure(error_class kind, bool ambiguous = false) {
  protocol::api_error error;
  error.kind = kind;
  error.ambiguous = ambiguous;
  return error;
}

struct policy : ::testing::Test {
  // Constant backoff without jitter: every wait is exactly `base`.
  strategy_spec spec =
      parse_strategy("bounded,inflight=2,retry=2:const:base=100ms:jitter=none,r429=1").value();
  image_retry_state image;
  jitter_rng rng{7};

  retry_decision decide(const protocol::api_error& error, time_point now = t0) {
    retry_budget budget(spec.budget);
    return decide_retry(spec, error, image, budget, now, rng);
  }
};

TEST_F(policy, dynamic_429_uses_its_own_cap_then_an_error_retry) {
  EXPECT_EQ(decide(failure(error_class::dynamic_429)).wait, millis{100});
  EXPECT_EQ(image.retries_429, 1);
  EXPECT_EQ(image.error_retries, 0);
  EXPECT_EQ(decide(failure(error_class::dynamic_429)).wait, millis{100});
  EXPECT_EQ(image.retries_429, 1);
  EXPECT_EQ(image.error_retries, 1);
}

TEST_F(policy, error_retries_run_out) {
  EXPECT_TRUE(decide(failure(error_class::task_failed)).retry());
  EXPECT_TRUE(decide(failure(error_class::server_transport)).retry());
  EXPECT_FALSE(decide(failure(error_class::malformed)).retry());
  EXPECT_EQ(image.error_retries, 2);
}

TEST_F(policy, final_classes_never_retry) {
  for (auto kind : {error_class::quota_429, error_class::request_error, error_class::moderation,
                    error_class::deadline, error_class::cancelled}) {
    EXPECT_FALSE(decide(failure(kind)).retry()) << protocol::to_string(kind);
  }
  EXPECT_EQ(image.error_retries, 0);
}

TEST_F(policy, ambiguous_submit_is_resubmitted_only_knowingly) {
  // A lost answer or a gateway's 5xx (server_transport) and a garbled 200 (malformed) alike.
  for (auto kind : {error_class::server_transport, error_class::malformed}) {
    spec.retry.resubmit_ambiguous = false;
    EXPECT_FALSE(decide(failure(kind, true)).retry()) << protocol::to_string(kind);
    spec.retry.resubmit_ambiguous = true;
    EXPECT_TRUE(decide(failure(kind, true)).retry()) << protocol::to_string(kind);
  }
}

TEST_F(policy, budget_defers_retries_below_half_instead_of_failing_the_image) {
  spec.budget.enabled = true;
  spec.budget.max_tokens = 4;
  retry_budget budget(spec.budget);
  spec.retry.max_retries = 3;
  auto decision = decide_retry(spec, failure(error_class::task_failed), image, budget, t0, rng);
  EXPECT_TRUE(decision.retry());
  EXPECT_FALSE(decision.deferred);
  EXPECT_DOUBLE_EQ(budget.tokens(), 3.0);
  // At half: the retry is not refused for good, it waits its backoff and the budget.
  decision = decide_retry(spec, failure(error_class::task_failed), image, budget, t0, rng);
  EXPECT_EQ(decision.wait, millis{100});
  EXPECT_TRUE(decision.deferred);
  EXPECT_DOUBLE_EQ(budget.tokens(), 2.0);
  EXPECT_EQ(image.error_retries, 2);
  // A dynamic 429 past its own cap takes an error retry but charges no token; a success has
  // brought the tokens back above half, so it goes at once.
  image.retries_429 = spec.retry.max_429_retries;
  budget.on_success();
  decision = decide_retry(spec, failure(error_class::dynamic_429), image, budget, t0, rng);
  EXPECT_TRUE(decision.retry());
  EXPECT_FALSE(decision.deferred);
  EXPECT_DOUBLE_EQ(budget.tokens(), 2.1);
  // The image's own error retries still end it: a deferral is no extra retry.
  decision = decide_retry(spec, failure(error_class::malformed), image, budget, t0, rng);
  EXPECT_FALSE(decision.retry());
  EXPECT_EQ(image.error_retries, 3);
}

TEST_F(policy, a_deferred_retry_keeps_back_one_token_per_deferred_retry_out) {
  spec.budget.enabled = true;
  spec.budget.max_tokens = 10;
  retry_budget budget(spec.budget);
  for (int i = 0; i < 3; ++i) {
    budget.on_failure();
  }
  EXPECT_TRUE(budget.allows_retry());     // 7 > 5
  EXPECT_TRUE(budget.allows_retry(1.0));  // 6 > 5
  EXPECT_FALSE(budget.allows_retry(2.0));
}

TEST_F(policy, with_a_circuit_a_refused_server_failure_is_ridden_out_not_deferred) {
  spec = parse_strategy("retry=3:const:base=100ms:jitter=none,budget=2:0.1,circuit=3:2s").value();
  retry_budget budget(spec.budget);
  auto decision =
      decide_retry(spec, failure(error_class::server_transport), image, budget, at_ms(10), rng);
  EXPECT_EQ(decision.wait, millis{2000});  // the ride-out waits for the circuit, for all images
  EXPECT_FALSE(decision.deferred);
  EXPECT_EQ(image.outage_since, at_ms(10));
  EXPECT_EQ(image.error_retries, 0);
  // A FAILED task is no outage: deferred.
  decision = decide_retry(spec, failure(error_class::task_failed), image, budget, at_ms(20), rng);
  EXPECT_TRUE(decision.deferred);
  EXPECT_EQ(decision.wait, millis{100});
}

TEST_F(policy, outage_is_ridden_out_for_one_poll_deadline_when_the_circuit_is_on) {
  spec = parse_strategy("retry=0:jitter=none,circuit=3:2s,poll=1s:x1:cap=5s:deadline=60s").value();
  EXPECT_EQ(decide(failure(error_class::server_transport), at_ms(1000)).wait, millis{2000});
  EXPECT_EQ(image.outage_since, at_ms(1000));
  EXPECT_TRUE(decide(failure(error_class::server_transport), at_ms(60999)).retry());
  EXPECT_FALSE(decide(failure(error_class::server_transport), at_ms(61000)).retry());
  // Never for an ambiguous failure: that request may have been charged.
  image = {};
  EXPECT_FALSE(decide(failure(error_class::server_transport, true), at_ms(1000)).retry());
}

TEST_F(policy, retry_after_lengthens_the_wait_when_honoured) {
  auto error = failure(error_class::dynamic_429);
  error.retry_after_ms = 5000;
  EXPECT_EQ(decide(error).wait, millis{5000});
  EXPECT_EQ(image.last_wait, millis{5000});
  spec.retry.honour_retry_after = false;
  image = {};
  EXPECT_EQ(decide(error).wait, millis{100});
}

TEST_F(policy, an_image_whose_task_succeeded_is_never_submitted_again) {
  image.task_succeeded = true;
  spec.retry.resubmit_ambiguous = true;
  spec.circuit.enabled = true;
  for (auto kind :
       {error_class::server_transport, error_class::malformed, error_class::deadline,
        error_class::request_error, error_class::dynamic_429, error_class::task_failed}) {
    EXPECT_FALSE(decide(failure(kind)).retry()) << protocol::to_string(kind);
  }
  EXPECT_EQ(image.error_retries, 0);
  EXPECT_EQ(image.retries_429, 0);
}

}  // namespace
}  // namespace zbatch::actors
