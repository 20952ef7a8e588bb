// An outage (every submit answered 503 for two minutes) against strategies with and without the
// circuit breaker, in virtual time.
#include "sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

class outage_test : public sim_test {
 protected:
  /// 3 s images, no cap, every submit refused with 503 from t = 0 to t = 120 s.
  static mock::mock_config outage_config() {
    auto config = exact_config(0);
    mock::outage_window outage;
    outage.from_s = 0;
    outage.to_s = 120;
    outage.status = 503;
    config.faults.outages.push_back(outage);
    return config;
  }
};

// With the circuit breaker on, refused submits cost nothing and the open circuit paces the
// probes, so images wait the outage out instead of failing when their retries run out.
TEST_F(outage_test, the_circuit_rides_out_an_outage_without_losing_images) {
  start_mock(outage_config());
  const auto result =
      run("inflight=4,retry=2:exp:base=500ms:cap=2s:jitter=full,budget=10:0.1,circuit=3:10s,"
          "poll=1s:deadline=5m",
          8);
  EXPECT_EQ(result.delivered(), 8u);
  EXPECT_GE(result.makespan_ms, 120'000);
  EXPECT_GE(result.counters.circuit_openings, 1);
}

// The same retries without a circuit: each image gives up after its two retries.
TEST_F(outage_test, without_the_circuit_images_fail_when_retries_run_out) {
  start_mock(outage_config());
  const auto result =
      run("inflight=4,retry=2:exp:base=500ms:cap=2s:jitter=full,poll=1s:deadline=5m", 8);
  EXPECT_EQ(result.delivered(), 0u);
  EXPECT_EQ(count_failed(result, protocol::error_class::server_transport), 8);
}

// The wait is bounded: an outage longer than the poll deadline still ends the batch.
TEST_F(outage_test, an_endless_outage_still_ends_the_batch) {
  auto config = outage_config();
  config.faults.outages.front().to_s = 100'000;
  start_mock(config);
  const auto result = run("inflight=2,retry=1:const:base=1s,circuit=2:10s,poll=1s:deadline=60s", 3);
  EXPECT_EQ(result.delivered(), 0u);
  EXPECT_EQ(count_failed(result, protocol::error_class::server_transport), 3);
  EXPECT_LT(result.makespan_ms, 200'000);
}

}  // namespace
}  // namespace zbatch::sim::testing
