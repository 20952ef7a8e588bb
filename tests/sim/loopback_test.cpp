// The same behaviours once more over loopback: the actors on the real scheduler, detached I/O
// actors each with its own client::http_backend, against the mock server on 127.0.0.1:0. Times
// are shortened (1 s generation, 50 ms polls) and only outcomes are asserted, never speed.

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/coordinator.hpp"
#include "client/http_backend.hpp"
#include "mock_api/server.hpp"

namespace zbatch::actors {
namespace {

mock::mock_config loopback_config(int in_flight_cap) {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(0);
  config.generation.time = mock::latency_spec::fixed(1000);
  config.throttle.in_flight_cap = in_flight_cap;
  return config;
}

class loopback_test : public ::testing::Test {
 protected:
  loopback_test() : system_(quiet(cfg_)) {}
  ~loopback_test() override {
    if (backend_) {
      caf::anon_send_exit(backend_, caf::exit_reason::user_shutdown);
    }
  }

  static caf::actor_system_config& quiet(caf::actor_system_config& cfg) {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  void start(mock::mock_config config) {
    server_ = std::make_unique<mock::server>(std::move(config), 5);
    const std::string base = server_->base_url();
    backend_ = spawn_blocking_backend(
        system_,
        [base] {
          client::http_options options;
          options.base_url = base;
          options.api_key = "loopback-key";
          options.read_timeout = std::chrono::milliseconds(5000);
          auto made = client::http_backend::create(options);
          EXPECT_TRUE(made.ok()) << made.status().message();
          return std::unique_ptr<client::backend>(made.ok() ? *std::move(made) : nullptr);
        },
        8);
  }

  batch_result run(const std::string& strategy, int images) {
    batch_request request;
    for (int i = 0; i < images; ++i) {
      image_job job;
      job.request.prompt = "a lighthouse at dusk";
      job.request.seed = 100 + i;
      job.request.size = protocol::image_size{512, 512};
      request.jobs.push_back(job);
    }
    request.strategy = parse_strategy(strategy).value();
    return run_batch(system_, std::move(request), backend_);
  }

  caf::actor_system_config cfg_;
  caf::actor_system system_;
  std::unique_ptr<mock::server> server_;
  backend_actor backend_;
};

int failed_as(const batch_result& result, protocol::error_class kind) {
  int n = 0;
  for (const auto& image : result.images) {
    n += (!image.delivered && image.error == kind) ? 1 : 0;
  }
  return n;
}

TEST_F(loopback_test, serial_delivers_every_image_one_at_a_time) {
  start(loopback_config(1));
  const auto result = run("serial,pace=gap:100ms,poll=50ms:cap=50ms", 3);
  EXPECT_EQ(result.delivered(), 3u);
  EXPECT_EQ(result.counters.max_in_flight, 1);
  EXPECT_EQ(result.counters.http_429_dynamic, 0);
  for (const auto& image : result.images) {
    EXPECT_GT(image.bytes_size, 0u);
  }
}

TEST_F(loopback_test, bounded_2_under_a_cap_of_2_sees_no_429) {
  start(loopback_config(2));
  const auto result = run("bounded,poll=50ms:cap=50ms", 4);
  EXPECT_EQ(result.delivered(), 4u);
  EXPECT_EQ(result.counters.http_429_dynamic, 0);
  EXPECT_EQ(result.counters.max_in_flight, 2);
}

TEST_F(loopback_test, concurrent_loses_images_to_429_and_retry_recovers_them) {
  start(loopback_config(1));
  const auto lost = run("concurrent,poll=50ms:cap=50ms", 4);
  EXPECT_EQ(lost.delivered(), 1u);
  EXPECT_EQ(failed_as(lost, protocol::error_class::dynamic_429), 3);
  const auto recovered = run("retry,poll=50ms:cap=50ms", 4);
  EXPECT_EQ(recovered.delivered(), 4u);
}

TEST_F(loopback_test, adaptive_delivers_under_an_unknown_cap) {
  start(loopback_config(2));
  const auto result = run("adaptive,poll=50ms:cap=50ms", 8);
  EXPECT_EQ(result.delivered(), 8u);
  EXPECT_EQ(result.counters.accepted, 8);
}

TEST_F(loopback_test, a_quota_stop_leaves_correct_partial_results) {
  auto config = loopback_config(0);
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = 6;
  config.throttle.quota.cost_per_task = 2;
  start(config);
  const auto result = run("adaptive,poll=50ms:cap=50ms", 6);
  EXPECT_TRUE(result.quota_exhausted);
  EXPECT_EQ(result.delivered(), 3u);
  EXPECT_EQ(failed_as(result, protocol::error_class::quota_429), 3);
}

TEST_F(loopback_test, cancellation_returns_partial_results) {
  start(loopback_config(1));
  batch_request request;
  for (int i = 0; i < 4; ++i) {
    image_job job;
    job.request.prompt = "p";
    job.request.seed = i;
    request.jobs.push_back(job);
  }
  request.strategy = parse_strategy("serial,poll=50ms:cap=50ms").value();
  batch_runner runner(system_, std::move(request), backend_);
  runner.cancel();
  const auto result = runner.wait();
  EXPECT_TRUE(result.cancelled);
  EXPECT_GE(failed_as(result, protocol::error_class::cancelled), 3);
}

}  // namespace
}  // namespace zbatch::actors
