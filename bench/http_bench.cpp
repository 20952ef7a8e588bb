// Client throughput in http mode (issue 5, "Performance"): images per second through the whole
// client (coordinator, image workers, the blocking backend pool over 64 keep-alive connections)
// against the mock in process on `ideal` with zero queueing and generation time, so only the
// client and the loopback round trips count. Every image does submit → (10 ms) → poll →
// download, the same prompt and seed so the mock renders its PNG once and serves it from cache.
//
// Peer in the same run: `BM_http_raw_threads`, 64 threads each driving its own blocking
// `client::http_backend` through the same submit → poll → download loop, with no actors: the
// ratio shows what the actor layer costs. Target: >= 2,500 images/s for BM_http_actors. The
// whole-program comparison with a Python (httpx, asyncio) peer is bench/compare.sh.
// Client and server share the process and its two cores, so both figures are floors.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "client/http_backend.hpp"
#include "mock_api/config.hpp"
#include "mock_api/server.hpp"

namespace {

constexpr int connections = 64;
constexpr auto poll_interval = std::chrono::milliseconds(10);

/// One mock for the whole process: `ideal` without queueing or generation time.
zbatch::mock::server& shared_mock() {
  static zbatch::mock::server mock = [] {
    auto config = zbatch::mock::load_config("ideal", std::nullopt).value();
    config.generation.queue = zbatch::mock::latency_spec::fixed(0);
    config.generation.time = zbatch::mock::latency_spec::fixed(0);
    zbatch::mock::server_options options;
    options.threads = 2 * connections;
    return zbatch::mock::server(config, 1, options);
  }();
  return mock;
}

std::unique_ptr<zbatch::client::backend> make_backend() {
  zbatch::client::http_options http;
  http.base_url = shared_mock().base_url();
  http.api_key = "bench";
  return zbatch::client::http_backend::create(http).value();
}

zbatch::protocol::submit_request image_request() {
  zbatch::protocol::submit_request request;
  request.prompt = "A seamless geometric pattern, two colors";
  request.seed = 1000;
  request.size = zbatch::protocol::image_size{1024, 1024};
  return request;
}

void BM_http_actors(benchmark::State& state) {
  const int images = static_cast<int>(state.range(0));
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system(cfg);
  auto backend = zbatch::actors::spawn_blocking_backend(system, make_backend, connections);
  for (auto _ : state) {
    zbatch::actors::batch_request request;
    request.jobs.resize(static_cast<std::size_t>(images));
    for (auto& job : request.jobs) {
      job.request = image_request();
    }
    request.strategy = zbatch::actors::parse_strategy("bounded,inflight=64,poll=10ms").value();
    request.trace = false;
    auto result = zbatch::actors::run_batch(system, std::move(request), backend);
    if (result.delivered() != static_cast<std::size_t>(images)) {
      state.SkipWithError("not every image was delivered");
      break;
    }
  }
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  state.SetItemsProcessed(state.iterations() * images);
}

void BM_http_raw_threads(benchmark::State& state) {
  const int images = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<zbatch::client::backend>> backends;
  for (int i = 0; i < connections; ++i) {
    backends.push_back(make_backend());
  }
  for (auto _ : state) {
    std::atomic<int> next{0};
    std::atomic<int> delivered{0};
    std::vector<std::thread> threads;
    for (auto& backend : backends) {
      threads.emplace_back([&, b = backend.get()] {
        const auto request = image_request();
        while (next.fetch_add(1) < images) {
          auto accepted = b->submit(request);
          if (!accepted) {
            continue;
          }
          std::this_thread::sleep_for(poll_interval);
          auto task = b->poll(accepted.value().task_id);
          while (task && !task.value().terminal()) {
            std::this_thread::sleep_for(poll_interval);
            task = b->poll(accepted.value().task_id);
          }
          if (task && !task.value().output_images.empty() &&
              b->download(task.value().output_images.front())) {
            delivered.fetch_add(1);
          }
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    if (delivered.load() != images) {
      state.SkipWithError("not every image was delivered");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * images);
}

}  // namespace

BENCHMARK(BM_http_actors)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_http_raw_threads)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
