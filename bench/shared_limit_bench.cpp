// Permit overhead of the shared limit on loopback (issue 15: ≤ 1 ms at p99): one acquire + one
// release through the Redis store (two EVALSHA round trips) and through the permit client (the
// same plus its lock), against a reference measured in the same run: one plain PING round trip
// on the same kind of connection. Each benchmark reports p50 and p99 per iteration (µs) as
// counters besides Google Benchmark's mean. Starts its own redis-server on a free loopback port
// (tests/shared_limit/redis_server.hpp) and stops it at the end.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include "shared_limit/permit_client.hpp"
#include "shared_limit/redis_store.hpp"
#include "tests/shared_limit/redis_server.hpp"

namespace {

using namespace zbatch::shared_limit;

zbatch::test::redis_server* server = nullptr;

std::unique_ptr<redis_store> connect() {
  redis_config config;
  config.port = server->port();
  auto store = redis_store::connect(config, "zbatch:bench");
  if (!store.ok()) {
    std::cerr << store.status().to_string() << "\n";
    std::exit(1);
  }
  return *std::move(store);
}

/// Times each iteration of `body` and adds p50/p99 (µs) counters.
template <class F>
void timed(benchmark::State& state, F&& body) {
  std::vector<double> us;
  us.reserve(1 << 16);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  }
}

void BM_ping_reference(benchmark::State& state) {
  auto store = connect();
  timed(state, [&] { benchmark::DoNotOptimize(store->ping().ok()); });
}
BENCHMARK(BM_ping_reference)->UseRealTime();

void BM_store_acquire_release(benchmark::State& state) {
  auto store = connect();
  timed(state, [&] {
    auto answer = store->acquire("bench:1", 100, millis{10'000});
    benchmark::DoNotOptimize(answer.ok());
    (void)store->release("bench:1");
  });
}
BENCHMARK(BM_store_acquire_release)->UseRealTime();

void BM_permit_client_acquire_release(benchmark::State& state) {
  permit_options options;
  options.limit = 100;
  permit_client client(connect(), options);
  timed(state, [&] {
    const auto answer = client.acquire();
    if (answer.permit) {
      client.release(*answer.permit);
    }
  });
}
BENCHMARK(BM_permit_client_acquire_release)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  zbatch::test::redis_server redis;
  if (const auto why = redis.start(); !why.empty()) {
    std::cerr << "shared_limit_bench: " << why << "\n";
    return 1;
  }
  server = &redis;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
