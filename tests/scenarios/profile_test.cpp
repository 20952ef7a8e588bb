#include "scenarios/profile.hpp"

#include <filesystem>

#include <gtest/gtest.h>

namespace zbatch::scenarios {
namespace {

TEST(profile, every_builtin_scenario_loads_and_resolves) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ZBATCH_SCENARIO_DIR)) {
    if (entry.path().extension() != ".json") {
      continue;
    }
    SCOPED_TRACE(entry.path().string());
    const auto s = load_scenario(entry.path()).value();
    EXPECT_EQ(s.name + ".json", entry.path().filename().string());
    const auto config = resolve_profile(s).value();
    const auto limits = limits_from_config(config);
    EXPECT_GT(limits.image_ms(protocol::image_size{}), 0);
    ++count;
  }
  EXPECT_EQ(count, 12);
}

TEST(profile, overrides_merge_over_the_shipped_profile) {
  auto s = parse_scenario(nlohmann::json::parse(R"({"version": 1, "name": "t",
      "profile": {"name": "modelscope-free",
                  "overrides": {"throttle": {"quota": {"enabled": false}}}},
      "strategies": ["serial"]})"),
                          "t.json")
               .value();
  const auto config = resolve_profile(s).value();
  EXPECT_FALSE(config.throttle.quota.enabled);
  EXPECT_EQ(config.throttle.in_flight_cap, 1);  // kept from the profile
}

TEST(profile, bad_overrides_name_the_scenario_and_field) {
  auto s = parse_scenario(nlohmann::json::parse(R"({"version": 1, "name": "t",
      "profile": {"name": "modelscope-free",
                  "overrides": {"throttle": {"in_flight_cap": -3}}},
      "strategies": ["serial"]})"),
                          "t.json")
               .value();
  s.file = "t.json";
  const std::string what = resolve_profile(s).status().message();
  EXPECT_NE(what.find("t.json"), std::string::npos) << what;
  EXPECT_NE(what.find("throttle.in_flight_cap"), std::string::npos) << what;
  s.profile.name = "nonesuch";
  s.profile.overrides = nullptr;
  {
    EXPECT_NE(resolve_profile(s).status().message().find("\"nonesuch\" is not a shipped profile"),
              std::string::npos);
  }
}

/// A one-strategy scenario on the shipped profile `profile`.
scenario scenario_on(const std::string& profile) {
  return parse_scenario(nlohmann::json{{"version", 1},
                                       {"name", "t"},
                                       {"profile", profile},
                                       {"strategies", nlohmann::json::array({"serial"})}},
                        "t.json")
      .value();
}

// The bound for the free tier, worked by hand: 4 images, one slot guaranteed; each image takes
// the median queue time (100..1500 uniform → 800 ms) + Z-Image-Turbo's measured median at 1024²
// (5800 ms, the catalogue) + three median response delays of 40 ms = 6720 ms; one at a time →
// 26880 ms. The token bucket (1/s, burst 8) never binds here.
TEST(profile, free_tier_bound_by_hand) {
  const auto s = scenario_on("modelscope-free");
  const auto limits = limits_from_config(resolve_profile(s).value());
  EXPECT_EQ(limits.in_flight_cap, 1);
  EXPECT_DOUBLE_EQ(limits.image_ms(protocol::image_size{}), 6720);
  const auto bound = compute_bound(plan_images(s.workload, 1), limits);
  EXPECT_DOUBLE_EQ(bound.makespan_ms, 26880);
  // 2048² lies past the last point (1440², 12 s): the 1024²..1440² slope in log-log,
  // ln(12000/5800) / ln(1440²/1024²) = 1.0663, gives 12000 × (2048²/1440²)^1.0663 = 25432.8.
  EXPECT_NEAR(limits.image_ms(protocol::image_size{2048, 2048}), 800 + 25432.8 + 120, 0.1);
}

TEST(profile, exponent_profiles_scale_one_time_by_pixels) {
  const auto s = scenario_on("ideal");
  const auto config = resolve_profile(s).value();
  ASSERT_EQ(config.generation.size_latency, "exponent");
  const auto limits = limits_from_config(config);
  // Queue 100 + generation 3000 at 1024², four times the pixels at size_exponent 1.0: 12000.
  EXPECT_DOUBLE_EQ(limits.image_ms(protocol::image_size{1024, 1024}), 3100);
  EXPECT_DOUBLE_EQ(limits.image_ms(protocol::image_size{2048, 2048}), 12100);
}

TEST(profile, scaling_compresses_the_catalogue_latency_too) {
  const auto s = scenario_on("modelscope-free");
  const auto config = resolve_profile(s).value();
  const auto scaled = limits_from_config(scale_config(config, 0.01));
  EXPECT_NEAR(scaled.image_ms(protocol::image_size{}), 67.2, 1e-9);
}

TEST(profile, scaling_compresses_time_and_speeds_up_rates) {
  const auto s = scenario_on("brownout");
  const auto config = resolve_profile(s).value();
  const auto scaled = scale_config(config, 0.01);
  EXPECT_DOUBLE_EQ(scaled.generation.time.median_ms, config.generation.time.median_ms * 0.01);
  EXPECT_DOUBLE_EQ(scaled.faults.outages.at(0).from_s, config.faults.outages.at(0).from_s * 0.01);
  EXPECT_DOUBLE_EQ(scaled.throttle.rate.per_second, config.throttle.rate.per_second * 100);
}

}  // namespace
}  // namespace zbatch::scenarios
