// Batches of one process sharing the key's limiter actor (limiter_actor.hpp) in virtual time,
// against a mock that refuses (429) any task above its in-flight cap.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "actors/limiter_actor.hpp"
#include "actors/shared_permits.hpp"
#include "shared_limit/memory_store.hpp"
#include "shared_limit/permit_client.hpp"
#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

class limiter_sharing_test : public sim_test {
 protected:
  /// Two batches of 4 images, `bounded` (2 in flight) each, at once; `shared`: one limiter actor
  /// serves both (one process), else each has its own (two processes, each believing it owns
  /// the key).
  std::vector<std::optional<actors::batch_result>> two_batches(bool shared) {
    caf::actor limiter;
    if (shared) {
      limiter = actors::spawn_limiter(system_);
    }
    std::vector<actors::batch_request> requests;
    for (int c = 0; c < 2; ++c) {
      actors::batch_request request;
      request.jobs = jobs(4);
      request.strategy = actors::parse_strategy("bounded").value();
      request.seed = 1 + static_cast<std::uint64_t>(c);
      request.limiter = limiter;
      requests.push_back(std::move(request));
    }
    auto results = run_batches_sim(system_, std::move(requests), backend_, 10'000'000);
    if (limiter) {
      caf::anon_send_exit(limiter, caf::exit_reason::user_shutdown);
    }
    return results;
  }
};

TEST_F(limiter_sharing_test, two_batches_on_one_limiter_stay_under_its_limit_together) {
  start_mock(exact_config(2));
  const auto results = two_batches(true);
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->delivered(), 4u);
    EXPECT_EQ(result->counters.http_429_dynamic, 0);
  }
  EXPECT_EQ(counts_->submit.count("429"), 0u);
  // 8 images of 3 s, 2 at a time.
  EXPECT_EQ(std::max(results[0]->makespan_ms, results[1]->makespan_ms), 12000);
}

TEST_F(limiter_sharing_test, two_batches_with_a_limiter_each_exceed_the_cap) {
  start_mock(exact_config(2));
  const auto results = two_batches(false);
  int refused = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value());
    refused += result->counters.http_429_dynamic;
  }
  EXPECT_GT(refused, 0);  // the contrast the shared limiter removes
}

TEST_F(limiter_sharing_test, a_model_spent_in_one_process_stops_in_every_process_not_the_others) {
  // Two processes (a limiter actor each) sharing one store, 1 in flight across both; the key
  // allows one Qwen-Image call a day and plenty of Z-Image-Turbo ones; each batch has 2 of each.
  auto config = exact_config(0);
  config.throttle.daily_limits.enabled = true;
  config.throttle.daily_limits.models = {{"Tongyi-MAI/Z-Image-Turbo", 100}, {"Qwen/Qwen-Image", 1}};
  config.throttle.ratelimit_headers = true;
  start_mock(config);
  auto clock = std::make_shared<actor_clock_adapter>(system_);
  shared_limit::memory_store store(
      [clock] { return std::chrono::duration_cast<actors::millis>(clock->now()).count(); });
  std::vector<actors::batch_request> requests;
  for (int c = 0; c < 2; ++c) {
    actors::batch_request request;
    request.jobs = jobs(4);
    request.jobs[0].request.model = "Qwen/Qwen-Image";
    request.jobs[2].request.model = "Qwen/Qwen-Image";
    request.strategy = actors::parse_strategy("bounded,inflight=1").value();
    request.seed = 1 + static_cast<std::uint64_t>(c);
    auto options = actors::shared_permit_options(request.strategy);
    options.process_id = "p" + std::to_string(c);
    options.lease = actors::millis(86'400'000);  // no heartbeat in virtual time
    request.permits = actors::make_shared_permit_gate(
        std::make_unique<shared_limit::permit_client>(
            std::make_unique<shared_limit::memory_store>(store.share()), options),
        [](std::optional<actors::millis>) { return std::int64_t{1} << 40; }, actors::millis{1000});
    requests.push_back(std::move(request));
  }
  auto results = run_batches_sim(system_, std::move(requests), backend_, 10'000'000);
  int turbo = 0;
  int qwen = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.has_value());
    for (const auto& image : result->images) {
      const bool is_qwen = image.index == 0 || image.index == 2;
      (is_qwen ? qwen : turbo) += image.delivered ? 1 : 0;
      if (is_qwen && !image.delivered) {
        EXPECT_EQ(image.error, protocol::error_class::quota_429);
        EXPECT_EQ(image.attempts, 0) << image.message;  // stopped unsent
      }
    }
  }
  EXPECT_EQ(qwen, 1);   // the day's one call
  EXPECT_EQ(turbo, 4);  // the other model goes on in both processes
  // The other process learned the model's 0 from the store, not from a refused submit.
  EXPECT_EQ(counts_->submit.count("429"), 0u);
}

TEST_F(limiter_sharing_test, a_batch_given_a_limiter_takes_no_store_of_its_own) {
  start_mock(exact_config(2));
  actors::batch_request request;
  request.jobs = jobs(1);
  request.strategy = actors::parse_strategy("bounded").value();
  request.limiter = actors::spawn_limiter(system_);
  shared_limit::memory_store store([] { return std::int64_t{0}; });
  request.permits = actors::make_shared_permit_gate(
      std::make_unique<shared_limit::permit_client>(
          std::make_unique<shared_limit::memory_store>(store.share()),
          actors::shared_permit_options(request.strategy)),
      [](std::optional<actors::millis>) { return std::int64_t{0}; }, actors::millis{1000});
  // The store belongs to the limiter actor: a second one for this batch alone is a mistake.
  EXPECT_THROW(actors::spawn_batch(system_, request, backend_, {}), std::invalid_argument);
  caf::anon_send_exit(request.limiter, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace zbatch::sim::testing
