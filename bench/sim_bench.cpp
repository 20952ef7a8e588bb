// Virtual-time simulation throughput (issue 5, "Performance"): images simulated per second of
// wall time, for one sim run of the scenario runner's kind (actors on CAF's test coordinator,
// the mock's model in process) on the free tier's behaviour without its daily quota.
//
// Peers measured in the same run, so the figures compare on the same machine and load:
//  - traces on vs off (`/trace:1` vs `/trace:0`): what per-image traces cost;
//  - serial vs adaptive: the per-image cost of a strategy that polls on a growing interval,
//    retries and adapts, relative to the plain serial loop.
// items_per_second is the figure (images per second of wall time).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/coordinator.hpp"
#include "mock_api/config.hpp"
#include "mock_api/model.hpp"
#include "sim/backend.hpp"
#include "sim/driver.hpp"

namespace {

zbatch::mock::mock_config free_tier_without_quota() {
  auto config = zbatch::mock::load_config("modelscope-free", std::nullopt).value();
  config.throttle.quota.enabled = false;
  return config;
}

std::vector<zbatch::actors::image_job> jobs(int count) {
  std::vector<zbatch::actors::image_job> out(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto& job = out[static_cast<std::size_t>(i)];
    job.request.prompt = "A seamless geometric pattern, two colors";
    job.request.seed = 1000 + i;
    job.request.size = zbatch::protocol::image_size{1024, 1024};
  }
  return out;
}

/// One whole sim run (system, model, backend, batch) per iteration, as the runner does.
void BM_sim(benchmark::State& state, const std::string& strategy) {
  const int images = static_cast<int>(state.range(0));
  const bool trace = state.range(1) != 0;
  const auto config = free_tier_without_quota();
  std::int64_t simulated_ms = 0;
  for (auto _ : state) {
    caf::actor_system_config cfg;
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    caf::actor_system system(cfg);
    auto& scheduler = zbatch::sim::testing_scheduler(system);
    auto model = std::make_shared<zbatch::mock::model>(
        config, std::make_shared<zbatch::sim::actor_clock_adapter>(system), 1);
    model->set_placeholder_images(true);
    auto backend = zbatch::sim::spawn_sim_backend(system, model);
    zbatch::actors::batch_request request;
    request.jobs = jobs(images);
    request.strategy = zbatch::actors::parse_strategy(strategy).value();
    request.seed = 1;
    request.trace = trace;
    auto result = zbatch::sim::run_batch_sim(system, std::move(request), backend);
    caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
    zbatch::sim::run_until_idle(scheduler, 1'000'000);
    if (!result || result->delivered() == 0) {
      state.SkipWithError("the simulated batch did not deliver");
      return;
    }
    simulated_ms = result->makespan_ms;
    benchmark::DoNotOptimize(result->images.data());
  }
  state.SetItemsProcessed(state.iterations() * images);
  state.counters["virtual_s"] = static_cast<double>(simulated_ms) / 1000.0;
}

}  // namespace

BENCHMARK_CAPTURE(BM_sim, serial, std::string("serial"))
    ->ArgNames({"images", "trace"})
    ->Args({5000, 1})
    ->Args({5000, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sim, adaptive, std::string("adaptive"))
    ->ArgNames({"images", "trace"})
    ->Args({5000, 1})
    ->Args({5000, 0})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
