#pragma once
/// GoogleTest fixture for virtual-time runs: an actor system on CAF's test coordinator, the mock's
/// model in process on a clock adapted from it, and the sim backend actor around the model.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/coordinator.hpp"
#include "mock_api/config.hpp"
#include "mock_api/model.hpp"
#include "sim/backend.hpp"
#include "sim/driver.hpp"

namespace zbatch::sim::testing {

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

/// Fixed 3 s generation, no queueing, no delays: every figure in these tests is exact.
inline mock::mock_config exact_config(int in_flight_cap) {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(0);
  config.generation.time = mock::latency_spec::fixed(3000);
  config.response_delay = mock::latency_spec::fixed(0);
  config.throttle.in_flight_cap = in_flight_cap;
  return config;
}

inline std::vector<actors::image_job> jobs(int count) {
  std::vector<actors::image_job> out;
  for (int i = 0; i < count; ++i) {
    actors::image_job job;
    job.request.prompt = "a lighthouse at dusk";
    job.request.seed = 1000 + i;
    job.request.size = protocol::image_size{1024, 1024};
    out.push_back(std::move(job));
  }
  return out;
}

class sim_test : public ::testing::Test {
 protected:
  sim_test() : system_(testing_config(cfg_)), scheduler_(testing_scheduler(system_)) {}

  ~sim_test() override {
    if (backend_) {
      caf::anon_send_exit(backend_, caf::exit_reason::user_shutdown);
    }
    run_until_idle(scheduler_, 1'000'000);
  }

  /// Builds the model and the backend; call once per test.
  void start_mock(mock::mock_config config, std::uint64_t seed = 7) {
    config.ids.reproducible = true;  // as the scenario runner's sim mode: same seed, same ids
    model_ = std::make_shared<mock::model>(std::move(config),
                                           std::make_shared<actor_clock_adapter>(system_), seed);
    counts_ = std::make_shared<request_counts>();
    backend_ = spawn_sim_backend(system_, model_, sim_backend_options{}, counts_);
  }

  actors::batch_result run(const std::string& strategy, int images, std::uint64_t seed = 1,
                           std::optional<actors::millis> cancel_at = {},
                           actors::progress_callback on_progress = {}) {
    actors::batch_request request;
    request.jobs = jobs(images);
    request.strategy = actors::parse_strategy(strategy).value();
    request.seed = seed;
    auto result = run_batch_sim(system_, std::move(request), backend_, std::move(on_progress),
                                cancel_at, 10'000'000);
    EXPECT_TRUE(result.has_value()) << "the batch did not finish";
    return result ? std::move(*result) : actors::batch_result{};
  }

  caf::actor_system_config cfg_;
  caf::actor_system system_;
  caf::scheduler::test_coordinator& scheduler_;
  std::shared_ptr<mock::model> model_;
  std::shared_ptr<request_counts> counts_;
  actors::backend_actor backend_;
};

inline int count_failed(const actors::batch_result& result, protocol::error_class kind) {
  int n = 0;
  for (const auto& image : result.images) {
    n += (!image.delivered && image.error == kind) ? 1 : 0;
  }
  return n;
}

}  // namespace zbatch::sim::testing
