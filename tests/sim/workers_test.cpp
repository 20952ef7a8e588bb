// Image workers carry many attempts each: a batch of any size runs on a handful of actors, the
// backend still sees requests in the order attempts started, and runs can share one job list.

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>
#include <caf/actor_registry.hpp>

#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

class workers_test : public sim_test {};

TEST_F(workers_test, an_unbounded_batch_runs_on_a_few_workers) {
  start_mock(exact_config(0));           // No cap: all 1,000 attempts run at once.
  model_->set_placeholder_images(true);  // 1,000 megapixel PNGs would be most of the test.
  std::size_t most_actors = 0;
  const auto result = run("inflight=unbounded", 1000, 1, {}, [&](const actors::progress_event&) {
    most_actors = std::max(most_actors, system_.registry().running());
  });
  EXPECT_EQ(result.delivered(), 1000u);
  EXPECT_EQ(result.counters.max_in_flight, 1000);
  // Coordinator, its limiter actor, backend and ceil(1000 / 64) = 16 workers; one actor per
  // attempt would be 1,000.
  EXPECT_GT(most_actors, 0u);
  EXPECT_LE(most_actors, 3u + 16u);
}

TEST_F(workers_test, the_backend_sees_submits_in_start_order) {
  // Two slots, no retries: exactly the first two attempts to reach the mock are accepted. With
  // 200 attempts over 4 workers, a round-robin hand-out would let image 64 in second.
  start_mock(exact_config(2));
  const auto result = run("inflight=unbounded", 200);
  ASSERT_EQ(result.images.size(), 200u);
  EXPECT_TRUE(result.images[0].delivered);
  EXPECT_TRUE(result.images[1].delivered);
  EXPECT_EQ(result.delivered(), 2u);
  EXPECT_EQ(count_failed(result, protocol::error_class::dynamic_429), 198);
}

TEST_F(workers_test, batches_can_share_one_job_list) {
  start_mock(exact_config(2));
  const auto shared = std::make_shared<const std::vector<actors::image_job>>(jobs(6));
  auto run_shared = [&] {
    actors::batch_request request;
    request.shared_jobs = shared;
    request.strategy = actors::parse_strategy("inflight=2").value();
    auto result = run_batch_sim(system_, std::move(request), backend_);
    EXPECT_TRUE(result.has_value());
    return result ? std::move(*result) : actors::batch_result{};
  };
  const auto first = run_shared();
  const auto second = run_shared();
  EXPECT_EQ(first.delivered(), 6u);
  EXPECT_EQ(second.delivered(), 6u);
  EXPECT_EQ(first.makespan_ms, 9000);  // 6 images, 2 at a time, 3 s each.
  EXPECT_EQ(second.makespan_ms, first.makespan_ms);
  EXPECT_EQ(shared->size(), 6u);  // Read, never consumed.
}

TEST_F(workers_test, jobs_and_shared_jobs_together_are_refused) {
  start_mock(exact_config(2));
  actors::batch_request request;
  request.jobs = jobs(1);
  request.shared_jobs = std::make_shared<const std::vector<actors::image_job>>(jobs(1));
  request.strategy = actors::parse_strategy("inflight=1").value();
  EXPECT_THROW(actors::spawn_batch(system_, std::move(request), backend_, {}),
               std::invalid_argument);
}

}  // namespace
}  // namespace zbatch::sim::testing
