// Batches of one process sharing the key's limiter actor (limiter_actor.hpp) in virtual time,
// against a mock that refuses (429) any task above its in-flight cap.
#include <gtest/gtest.h>

#include "actors/limiter_actor.hpp"
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

}  // namespace
}  // namespace zbatch::sim::testing
