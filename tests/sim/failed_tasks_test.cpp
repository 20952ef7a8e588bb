// FAILED tasks in virtual time: the attempt ends at the first poll that sees FAILED, and the
// failure is classified (moderation is final, a system failure is worth a fresh submit for the
// strategies that retry). Regression guard: FAILED tasks used to be polled until the 300 s poll
// deadline and reported as `deadline`.

#include <gtest/gtest.h>

#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

using protocol::error_class;

class failed_tasks_test : public sim_test {};

/// Every task FAILS after the fixed 3 s: a poll at 1 s intervals sees it at exactly 3 s.
mock::mock_config failing(double moderation, double system) {
  auto config = exact_config(0);
  config.faults.task.moderation = moderation;
  config.faults.task.system = system;
  return config;
}

TEST_F(failed_tasks_test, moderation_ends_the_image_at_the_first_failed_poll_and_is_not_retried) {
  start_mock(failing(1.0, 0.0));
  const auto result = run("retry", 2);  // retry: serial, 2 retries on any retryable error.
  ASSERT_EQ(result.images.size(), 2u);
  EXPECT_EQ(result.delivered(), 0u);
  for (const auto& image : result.images) {
    EXPECT_EQ(image.error, error_class::moderation) << image.message;
    EXPECT_EQ(image.attempts, 1);
    EXPECT_EQ(image.retries, 0);
  }
  // Serial: each image's task fails at 3 s; the deadline bug made this 2 × 300 s.
  EXPECT_EQ(result.images[0].finished_at_ms, 3000);
  EXPECT_EQ(result.images[1].finished_at_ms, 6000);
  EXPECT_EQ(result.counters.polls, 6);  // 3 polls per task: 1 s and 2 s RUNNING, 3 s FAILED.
  EXPECT_EQ(result.counters.retries, 0);
}

TEST_F(failed_tasks_test, a_system_failure_is_resubmitted_by_retry) {
  start_mock(failing(0.0, 1.0));
  const auto result = run("retry", 1);
  ASSERT_EQ(result.images.size(), 1u);
  const auto& image = result.images[0];
  EXPECT_FALSE(image.delivered);
  EXPECT_EQ(image.error, error_class::task_failed) << image.message;
  EXPECT_EQ(image.attempts, 3);  // The first submit and the preset's 2 retries.
  EXPECT_EQ(image.retries, 2);
  // 3 s per attempt plus the linear waits of 1 s and 2 s between them.
  EXPECT_EQ(image.finished_at_ms, 3000 + 1000 + 3000 + 2000 + 3000);
  EXPECT_EQ(model_->submits_for("a lighthouse at dusk", 1000, protocol::image_size{1024, 1024}),
            3u);
}

TEST_F(failed_tasks_test, a_system_failure_is_resubmitted_by_adaptive) {
  start_mock(failing(0.0, 1.0));
  const auto result = run("adaptive", 1);
  ASSERT_EQ(result.images.size(), 1u);
  const auto& image = result.images[0];
  EXPECT_FALSE(image.delivered);
  EXPECT_EQ(image.error, error_class::task_failed) << image.message;
  EXPECT_EQ(image.attempts, 5);             // adaptive: up to 4 retries on retryable errors.
  EXPECT_LT(image.finished_at_ms, 60'000);  // Far from the 300 s poll deadline.
}

TEST_F(failed_tasks_test, strategies_without_retries_give_a_system_failure_up_at_once) {
  start_mock(failing(0.0, 1.0));
  const auto result = run("bounded", 2);
  for (const auto& image : result.images) {
    EXPECT_EQ(image.error, error_class::task_failed) << image.message;
    EXPECT_EQ(image.attempts, 1);
    EXPECT_EQ(image.finished_at_ms, 3000);  // Both in flight at once (bounded: 2).
  }
}

TEST_F(failed_tasks_test, a_failed_attempt_is_followed_by_a_fresh_submit) {
  // Half the tasks fail (system): every failure costs one more submit, up to the preset's two.
  start_mock(failing(0.0, 0.5));
  const auto result = run("retry", 8);
  int submits = 0;
  int recovered = 0;
  for (const auto& image : result.images) {
    submits += image.attempts;
    if (image.delivered) {
      recovered += image.attempts > 1 ? 1 : 0;
    } else {
      EXPECT_EQ(image.error, error_class::task_failed) << image.message;
      EXPECT_EQ(image.attempts, 3);
    }
  }
  EXPECT_GT(recovered, 0) << "the seed should make some image succeed on a resubmit";
  EXPECT_EQ(result.counters.accepted, submits);
  EXPECT_EQ(result.counters.retries, submits - 8);
}

}  // namespace
}  // namespace zbatch::sim::testing
