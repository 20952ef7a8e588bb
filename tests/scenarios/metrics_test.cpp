#include "scenarios/metrics.hpp"

#include <gtest/gtest.h>

namespace zbatch::scenarios {
namespace {

image_record delivered(int index, std::int64_t queued, std::int64_t finished) {
  image_record r;
  r.index = index;
  r.delivered = true;
  r.attempts = 1;
  r.queued_at_ms = queued;
  r.finished_at_ms = finished;
  return r;
}

run_record sample_run() {
  run_record run;
  run.seed = 9;
  run.images = {delivered(0, 0, 3000), delivered(1, 0, 6000), delivered(2, 0, 9000)};
  image_record lost;
  lost.index = 3;
  lost.error_class = "dynamic_429";
  lost.message = "We have to rate limit you";
  lost.attempts = 1;
  lost.finished_at_ms = 10;
  run.images.push_back(lost);
  run.requests["submit"] = {{"200", 3}, {"429", 1}};
  run.requests["poll"] = {{"200", 9}};
  run.requests["download"] = {{"200", 3}};
  run.http_429_dynamic = 1;
  run.submits = 3;
  run.credits_used = 3;
  run.makespan_ms = 9000;
  return run;
}

TEST(metrics, percentile_is_nearest_rank) {
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(percentile({5, 1, 3, 2, 4}, 50), 3);
  EXPECT_DOUBLE_EQ(percentile({5, 1, 3, 2, 4}, 90), 5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 25), 1);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 26), 2);
}

TEST(metrics, one_run) {
  const auto m = compute_metrics(sample_run(), 0, 6000);
  EXPECT_EQ(m["delivered"], 3);
  EXPECT_EQ(m["failed"], 1);
  EXPECT_EQ(m["failed_by_reason"]["dynamic_429"], 1);
  EXPECT_DOUBLE_EQ(m["success_rate"].get<double>(), 0.75);
  EXPECT_EQ(m["time_to_first_image_ms"], 3000);
  EXPECT_DOUBLE_EQ(m["latency_ms"]["p50"].get<double>(), 6000);
  EXPECT_DOUBLE_EQ(m["latency_ms"]["max"].get<double>(), 9000);
  EXPECT_EQ(m["requests"]["submit"]["429"], 1);
  EXPECT_EQ(m["requests"]["total"], 16);
  EXPECT_EQ(m["http_429"]["total"], 1);
  EXPECT_DOUBLE_EQ(m["submits_per_image"].get<double>(), 1.0);
  // 3 of 4 delivered in 9 s against a 6 s bound: 0.75 × 6/9.
  EXPECT_DOUBLE_EQ(m["efficiency"].get<double>(), 0.5);
}

// A lost answer may hide a charged task: the cost is a range, the high end counting it paid.
TEST(metrics, possibly_paid_submits_make_the_cost_a_range) {
  auto run = sample_run();
  run.submits = 3;  // live mode: what was seen accepted
  run.submits_accepted = 3;
  run.submits_possibly_paid = 2;
  run.credits_used = 6;
  run.credits_per_submit = 2;
  const auto m = compute_metrics(run, 0, 6000);
  EXPECT_EQ(m["submits_possibly_paid"], 2);
  EXPECT_DOUBLE_EQ(m["submits_per_image"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["submits_per_image_high"].get<double>(), 1.667) << "5 of 3, rounded";
  EXPECT_DOUBLE_EQ(m["credits_used_high"].get<double>(), 10.0);
  const auto summary = summarize("s", "serial", {run, sample_run()}, 6000.0);
  EXPECT_DOUBLE_EQ(summary["submits_possibly_paid"].get<double>(), 1.0);
}

// Where the mock counted the tasks (sim, http), a lost answer it never charged widens the range
// above its count; nothing lost: the two ends are the same figure.
TEST(metrics, the_high_end_is_never_below_what_the_service_counted) {
  auto run = sample_run();
  run.submits = 4;  // the mock created 4 tasks
  run.submits_accepted = 3;
  run.submits_possibly_paid = 0;
  const auto m = compute_metrics(run, 0, 6000);
  EXPECT_EQ(m["submits_per_image_high"], m["submits_per_image"]);
  EXPECT_EQ(m["credits_used_high"], m["credits_used"]);
}

TEST(metrics, nothing_delivered_has_null_cost_per_image) {
  run_record run;
  image_record lost;
  lost.error_class = "quota_429";
  run.images = {lost};
  run.makespan_ms = 100;
  const auto m = compute_metrics(run, 0, 50);
  EXPECT_TRUE(m["submits_per_image"].is_null());
  EXPECT_TRUE(m["time_to_first_image_ms"].is_null());
  EXPECT_DOUBLE_EQ(m["success_rate"].get<double>(), 0.0);
}

TEST(metrics, summary_means_and_spread_over_repetitions) {
  auto a = sample_run();
  auto b = sample_run();
  b.makespan_ms = 11000;
  const auto s = summarize("bounded", "inflight=2", {a, b}, 6000);
  EXPECT_EQ(s["name"], "bounded");
  EXPECT_DOUBLE_EQ(s["makespan_ms"].get<double>(), 10000);
  EXPECT_DOUBLE_EQ(s["spread"]["makespan_ms"]["min"].get<double>(), 9000);
  EXPECT_DOUBLE_EQ(s["spread"]["makespan_ms"]["max"].get<double>(), 11000);
  EXPECT_NEAR(s["spread"]["makespan_ms"]["stddev"].get<double>(), 1414.214, 0.001);
  EXPECT_EQ(s["runs"].size(), 2u);
  EXPECT_EQ(s["image_records"].size(), 4u);
  EXPECT_EQ(s["image_records"][3]["status"], "failed");
  EXPECT_EQ(s["image_records"][3]["error_class"], "dynamic_429");
  // Keys come in the documented order, so sim results are byte-identical run after run.
  EXPECT_EQ(s.begin().key(), "name");
  EXPECT_EQ(s.dump(), summarize("bounded", "inflight=2", {a, b}, 6000).dump());
}

}  // namespace
}  // namespace zbatch::scenarios
