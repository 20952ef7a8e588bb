#include "scenarios/workload.hpp"

#include <gtest/gtest.h>

namespace zbatch::scenarios {
namespace {

api_limits limits(int cap, double rate, double burst, double image_ms) {
  api_limits out;
  out.in_flight_cap = cap;
  out.submit_rate_per_s = rate;
  out.submit_burst = burst;
  out.image_ms = [image_ms](const protocol::image_size&) { return image_ms; };
  return out;
}

workload_spec workload(int batches, int per_batch, arrival_spec arrival = {}) {
  workload_spec w;
  w.batches = batches;
  w.images_per_batch = per_batch;
  w.prompts = {"p0", "p1"};
  w.sizes = {protocol::image_size{1024, 1024}, protocol::image_size{512, 512}};
  w.arrival = arrival;
  return w;
}

TEST(workload, plan_assigns_prompts_seeds_sizes_and_arrivals) {
  auto w = workload(3, 2, {arrival_kind::fixed_rate, 2.0});
  w.seed_base = 7;
  const auto images = plan_images(w, 1);
  ASSERT_EQ(images.size(), 6u);
  EXPECT_EQ(images[2].batch, 1);
  EXPECT_EQ(images[2].prompt, "p1");
  EXPECT_EQ(images[3].seed, 8);
  EXPECT_EQ(images[3].size.to_string(), "512x512");
  EXPECT_EQ(images[0].arrival_ms, 0);
  EXPECT_EQ(images[2].arrival_ms, 500);
  EXPECT_EQ(images[5].arrival_ms, 1000);
}

TEST(workload, poisson_arrivals_are_seeded) {
  const auto w = workload(200, 1, {arrival_kind::poisson, 10.0});
  const auto a = plan_images(w, 5);
  const auto b = plan_images(w, 5);
  const auto c = plan_images(w, 6);
  EXPECT_EQ(a.back().arrival_ms, b.back().arrival_ms);
  EXPECT_NE(a.back().arrival_ms, c.back().arrival_ms);
  // 199 gaps of mean 100 ms: the total is within a generous band around 19.9 s.
  EXPECT_GT(a.back().arrival_ms, 14000);
  EXPECT_LT(a.back().arrival_ms, 26000);
}

// Worked by hand: 4 images at once, one slot, 3 s each → 12 s; two slots → 6 s.
TEST(workload, bound_with_in_flight_cap) {
  const auto images = plan_images(workload(1, 4), 1);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits(1, 0, 1, 3000)).makespan_ms, 12000);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits(2, 0, 1, 3000)).makespan_ms, 6000);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits(0, 0, 1, 3000)).makespan_ms, 3000);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits(3, 0, 1, 3000)).makespan_ms, 6000);
}

// 4 images at once, 1 submit per second with a burst of 2, no cap: starts at 0, 0, 1 s, 2 s.
TEST(workload, bound_with_token_bucket) {
  const auto images = plan_images(workload(1, 4), 1);
  const auto bound = compute_bound(images, limits(0, 1.0, 2, 3000));
  EXPECT_DOUBLE_EQ(bound.makespan_ms, 5000);
  EXPECT_NE(bound.explanation.find("submits at 1/s (burst 2)"), std::string::npos);
}

// A new user's check: half the images at another size read as the first size's only, and one
// image as "1 images".
TEST(workload, bound_explanation_names_every_size_and_counts_one_image) {
  auto limits_by_size = limits(1, 0, 1, 0);
  limits_by_size.image_ms = [](const protocol::image_size& size) {
    return size.width == 1024 ? 6720.0 : 2620.0;
  };
  const auto both = compute_bound(plan_images(workload(1, 4), 1), limits_by_size);
  EXPECT_NE(both.explanation.find("4 images; at most 1 in flight; 6720 ms per 1024x1024 image, "
                                  "2620 ms per 512x512 image (median)"),
            std::string::npos)
      << both.explanation;
  const auto one = compute_bound(plan_images(workload(1, 1), 1), limits_by_size);
  EXPECT_EQ(one.explanation.rfind("1 image; at most 1 in flight", 0), 0u) << one.explanation;
}

// Arrivals every 10 s with 3 s images: the last arrival dominates.
TEST(workload, bound_with_arrivals) {
  const auto images = plan_images(workload(3, 1, {arrival_kind::fixed_rate, 0.1}), 1);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits(1, 0, 1, 3000)).makespan_ms, 23000);
}

}  // namespace
}  // namespace zbatch::scenarios
