// Config validation: one test per kind of mistake, each error naming the source, the field path
// and what is allowed; the shipped profiles load and round-trip.
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "mock_api/config.hpp"

namespace zbatch::mock {
namespace {

std::string error_of(const std::string& text, const std::string& source = "my.json") {
  const auto parsed = parse_config(text, source);
  return parsed.ok() ? "(no error)" : parsed.status().message();
}

void expect_contains(const std::string& text, std::initializer_list<const char*> parts) {
  for (const char* part : parts) {
    EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
  }
}

TEST(mock_config, json_syntax_error_names_file_line_and_column) {
  const auto e = error_of("{\n  \"throttle\": {\n    \"in_flight_cap\": 1,\n  }\n}\n");
  expect_contains(e, {"my.json:4:", "not valid JSON"});
}

TEST(mock_config, unknown_field_is_rejected_with_its_path) {
  expect_contains(error_of(R"({"throttle": {"in_flight_capp": 1}})"),
                  {"my.json", "throttle.in_flight_capp", "unknown field", "in_flight_cap"});
  expect_contains(error_of(R"({"fautls": {}})"), {"my.json: fautls: unknown field", "faults"});
}

TEST(mock_config, wrong_type_names_the_expected_type) {
  expect_contains(error_of(R"({"throttle": {"in_flight_cap": "one"}})"),
                  {"throttle.in_flight_cap", "must be an integer", "allowed 0..1000000"});
  expect_contains(error_of(R"({"throttle": {"rate": {"enabled": "yes"}}})"),
                  {"throttle.rate.enabled", "true or false"});
  expect_contains(error_of(R"({"faults": 3})"), {"my.json: faults: must be a JSON object"});
}

TEST(mock_config, out_of_range_names_the_allowed_range) {
  expect_contains(error_of(R"({"throttle": {"in_flight_cap": -1}})"),
                  {"throttle.in_flight_cap", "out of range", "allowed 0..1000000"});
  expect_contains(error_of(R"({"faults": {"poll": {"http_500": 1.5}}})"),
                  {"faults.poll.http_500", "allowed 0..1"});
  expect_contains(error_of(R"({"throttle": {"quota": {"reset_utc_offset_hours": 20}}})"),
                  {"throttle.quota.reset_utc_offset_hours", "allowed -12..14"});
}

TEST(mock_config, unknown_choice_lists_the_allowed_values) {
  expect_contains(error_of(R"({"throttle": {"dynamic": {"mode": "sometimes"}}})"),
                  {"throttle.dynamic.mode", "\"off\", \"load\", \"schedule\""});
  expect_contains(error_of(R"({"generation": {"time": {"kind": "gaussian", "ms": 1}}})"),
                  {"generation.time.kind", "\"fixed\", \"uniform\", \"lognormal\""});
}

TEST(mock_config, missing_required_parameter_is_named) {
  expect_contains(error_of(R"({"generation": {"time": {"kind": "lognormal", "median_ms": 3000}}})"),
                  {"generation.time.p99_ms", "is required"});
  expect_contains(error_of(R"({"throttle": {"dynamic": {"mode": "schedule"}}})"),
                  {"throttle.dynamic.schedule", "required"});
}

TEST(mock_config, inconsistent_values_are_rejected) {
  expect_contains(
      error_of(
          R"({"generation": {"time": {"kind": "lognormal", "median_ms": 3000, "p99_ms": 100}}})"),
      {"generation.time.p99_ms", "must not be below median_ms"});
  expect_contains(error_of(R"({"response_delay": {"kind": "uniform", "min_ms": 5, "max_ms": 1}})"),
                  {"response_delay.max_ms", "min_ms"});
  expect_contains(error_of(R"({"faults": {"outages": [{"from_s": 10, "to_s": 5}]}})"),
                  {"faults.outages[0].to_s", "after from_s"});
}

TEST(mock_config, probabilities_summing_above_one_are_rejected) {
  expect_contains(error_of(R"({"faults": {"submit": {"http_500": 0.6, "reset": 0.6}}})"),
                  {"faults.submit", "summing to 1.2", "at most 1"});
  expect_contains(error_of(R"({"faults": {"task": {"moderation": 0.5, "system": 0.6}}})"),
                  {"faults.task", "at most 1"});
}

TEST(mock_config, bad_array_element_is_named_by_index) {
  expect_contains(error_of(R"({"models": ["Qwen/Qwen-Image", "a"]})"),
                  {"models[1]", "unknown value \"a\"", "Tongyi-MAI/Z-Image-Turbo"});
  expect_contains(
      error_of(
          R"({"throttle": {"dynamic": {"schedule": [{"from_s": 0, "to_s": 1, "capacity": -2}]}}})"),
      {"throttle.dynamic.schedule[0].capacity", "allowed 0..1000000"});
}

TEST(mock_config, unknown_profile_lists_the_shipped_ones) {
  const auto error = load_config("modelscope-paid", std::nullopt).status();
  EXPECT_FALSE(error.ok());
  expect_contains(error.message(),
                  {"modelscope-paid", "ideal", "modelscope-free", "flaky", "brownout"});
}

TEST(mock_config, unreadable_file_is_named) {
  const auto error = load_config("ideal", std::string("/nonexistent/mock.json")).status();
  EXPECT_FALSE(error.ok());
  expect_contains(error.message(), {"/nonexistent/mock.json", "cannot be read"});
}

TEST(mock_config, file_errors_name_the_file_and_the_file_extends_the_profile) {
  const std::string path = ::testing::TempDir() + "mock_config_test.json";
  { std::ofstream(path) << R"({"throttle": {"quota": {"daily_credits": 10}}})"; }
  const auto config = load_config("modelscope-free", path).value();
  EXPECT_EQ(config.throttle.quota.daily_credits, 10);
  EXPECT_TRUE(config.throttle.quota.enabled);  // kept from the profile
  EXPECT_EQ(config.throttle.in_flight_cap, 1);
  { std::ofstream(path) << "{\"throttle\": {\"quota\": {\"daily_credits\": -10}}}"; }
  const auto error = load_config("modelscope-free", path).status();
  EXPECT_FALSE(error.ok());
  expect_contains(error.message(), {path.c_str(), "throttle.quota.daily_credits"});
  std::remove(path.c_str());
}

// Issue 17 item 9: the file may give a latency another kind than the profile's (the whole
// latency is replaced, not merged field by field).
TEST(mock_config, the_file_can_change_a_latency_kind) {
  const std::string path = ::testing::TempDir() + "mock_config_kind_test.json";
  {
    std::ofstream(path) << R"({"generation": {"time": {"kind": "fixed", "ms": 350},
                                             "queue": 20},
                              "response_delay": {"kind": "uniform", "min_ms": 1, "max_ms": 2}})";
  }
  const auto config = load_config("modelscope-free", path);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->generation.time.type, latency_spec::kind::fixed);
  EXPECT_EQ(config->generation.time.ms, 350);
  EXPECT_EQ(config->generation.queue.type, latency_spec::kind::fixed);
  EXPECT_EQ(config->generation.queue.ms, 20);
  EXPECT_EQ(config->response_delay.type, latency_spec::kind::uniform);
  EXPECT_EQ(config->response_delay.max_ms, 2);
  std::remove(path.c_str());
}

TEST(mock_config, shipped_profiles_load_and_round_trip) {
  ASSERT_EQ(profile_names().size(), 4u);
  for (const auto& name : profile_names()) {
    const auto config = load_config(name, std::nullopt).value();
    const auto again = config_from_json(to_json(config), "round trip").value();
    EXPECT_EQ(to_json(again), to_json(config)) << name;
  }
  const auto free = load_config("modelscope-free", std::nullopt).value();
  EXPECT_EQ(free.throttle.in_flight_cap, 1);
  EXPECT_EQ(free.throttle.dynamic.mode, "load");
  EXPECT_TRUE(free.throttle.quota.enabled);
  EXPECT_NEAR(free.throttle.quota.daily_credits / free.throttle.quota.cost_per_task, 125, 1);
  EXPECT_EQ(free.generation.time.type, latency_spec::kind::lognormal);
  EXPECT_FALSE(load_config("brownout", std::nullopt).value().faults.outages.empty());
}

TEST(mock_config, bare_number_latency_is_fixed_milliseconds) {
  const auto config = parse_config(R"({"response_delay": 100})", "x").value();
  EXPECT_EQ(config.response_delay.type, latency_spec::kind::fixed);
  EXPECT_EQ(config.response_delay.ms, 100);
}

}  // namespace
}  // namespace zbatch::mock

namespace zbatch::mock {
namespace {

TEST(mock_config, catalogue_has_the_protocol_docs_models_by_default) {
  const mock_config config;
  for (const char* id : {"Tongyi-MAI/Z-Image-Turbo", "Qwen/Qwen-Image",
                         "black-forest-labs/FLUX.2-dev", "Qwen/Qwen-Image-Edit"}) {
    EXPECT_NE(config.accepted(id), nullptr) << id;
  }
  EXPECT_EQ(config.accepted("someone/else"), nullptr);
  EXPECT_EQ(config.primary_model(), "Tongyi-MAI/Z-Image-Turbo");
  EXPECT_EQ(config.accepted("Qwen/Qwen-Image")->max_side, 1664);
}

TEST(mock_config, catalogue_entries_change_and_extend) {
  const auto parsed = parse_config(R"({"catalogue": {
      "Qwen/Qwen-Image": {"max_side": 1328, "loras": false},
      "someone/New-Model": {"min_side": 256, "max_side": 768, "image_url": "list",
                            "max_image_urls": 2, "cost": 0.5,
                            "latency_ms": [{"side": 512, "ms": 900}]}}})",
                                   "my.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const auto* qwen = parsed->accepted("Qwen/Qwen-Image");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->max_side, 1328);
  EXPECT_EQ(qwen->min_side, 64);  // kept
  EXPECT_FALSE(qwen->loras);
  const auto* added = parsed->accepted("someone/New-Model");
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->image_url, protocol::image_url_kind::list);
  EXPECT_EQ(added->max_image_urls, 2);
  EXPECT_EQ(added->cost, 0.5);
  // Round trip through GET /admin/config's JSON.
  const auto again = config_from_json(to_json(*parsed), "again");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(to_json(*again), to_json(*parsed));
  // `models` narrows what is accepted.
  const auto narrowed = parse_config(R"({"models": ["Qwen/Qwen-Image"]})", "n");
  ASSERT_TRUE(narrowed.ok());
  EXPECT_EQ(narrowed->accepted("Tongyi-MAI/Z-Image-Turbo"), nullptr);
  EXPECT_EQ(narrowed->primary_model(), "Qwen/Qwen-Image");
}

TEST(mock_config, bad_catalogue_entries_name_file_field_and_range) {
  expect_contains(error_of(R"({"catalogue": {"Qwen/Qwen-Image": {"max_side": 0}}})"),
                  {"my.json", "catalogue.Qwen/Qwen-Image.max_side", "allowed 1..16384"});
  expect_contains(error_of(R"({"catalogue": {"Qwen/Qwen-Image": {"max_side": 32}}})"),
                  {"catalogue.Qwen/Qwen-Image.max_side", "must not be below min_side (64)"});
  expect_contains(error_of(R"({"catalogue": {"Qwen/Qwen-Image": {"image_url": "many"}}})"),
                  {"catalogue.Qwen/Qwen-Image.image_url", "\"none\", \"string\", \"list\""});
  expect_contains(error_of(R"({"catalogue": {"x/y": {"min_side": 64, "max_side": 512}}})"),
                  {"catalogue.x/y.latency_ms", "is required"});
  expect_contains(error_of(R"({"catalogue": {"x/y": {"max_side": 512, "latency_ms": []}}})"),
                  {"catalogue.x/y.min_side", "is required"});
  expect_contains(
      error_of(R"({"catalogue": {"Qwen/Qwen-Image": {"latency_ms": [{"side": 1024, "ms": 1},
                                                             {"side": 512, "ms": 2}]}}})"),
      {"catalogue.Qwen/Qwen-Image.latency_ms[1].side", "above the previous point's (1024)"});
  expect_contains(error_of(R"({"catalogue": {"Qwen/Qwen-Image": {"colour": 1}}})"),
                  {"catalogue.Qwen/Qwen-Image.colour", "unknown field"});
  expect_contains(error_of(R"({"images": {"format": "gif"}})"),
                  {"images.format", "\"png\", \"jpeg\""});
  expect_contains(error_of(R"({"generation": {"size_latency": "table"}})"),
                  {"generation.size_latency", "\"exponent\", \"catalogue\""});
}

}  // namespace
}  // namespace zbatch::mock
