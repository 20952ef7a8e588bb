#include "scenarios/scenario.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace zbatch::scenarios {
namespace {

using nlohmann::json;

json minimal() {
  return json{{"version", 1},
              {"name", "t"},
              {"profile", "ideal"},
              {"strategies", json::array({"serial", "adaptive"})}};
}

std::string error_of(const json& document) {
  return parse_scenario(document, "t.json").status().message();
}

TEST(scenario, minimal_document_gets_defaults) {
  const auto s = parse_scenario(minimal(), "t.json").value();
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.profile.name, "ideal");
  EXPECT_EQ(s.workload.total_images(), 4);
  EXPECT_EQ(s.workload.sizes.at(0).to_string(), "1024x1024");
  ASSERT_EQ(s.strategies.size(), 2u);
  EXPECT_EQ(s.strategies[1].label, "adaptive");
  EXPECT_EQ(s.repetitions, 1);
}

TEST(scenario, full_document) {
  auto doc = minimal();
  doc["profile"] = {{"name", "modelscope-free"}, {"overrides", {{"seed", 3}}}};
  doc["workload"] = {{"batches", 3},
                     {"images_per_batch", 2},
                     {"sizes", {"512x512", "2048x1024"}},
                     {"arrival", {{"kind", "poisson"}, {"batches_per_second", 0.5}}}};
  doc["strategies"] = json::array({"serial", {{"label", "b4"}, {"spec", "inflight=4"}}});
  doc["repetitions"] = 5;
  doc["thresholds"] = {"b4.success_rate >= 0.9"};
  doc["http"] = {{"time_scale", 0.02}};
  const auto s = parse_scenario(doc, "t.json").value();
  EXPECT_EQ(s.workload.total_images(), 6);
  EXPECT_EQ(s.workload.arrival.kind, arrival_kind::poisson);
  EXPECT_EQ(s.strategies[1].label, "b4");
  EXPECT_EQ(s.strategies[1].spec, "inflight=4");
  EXPECT_EQ(s.profile.overrides["seed"], 3);
  EXPECT_DOUBLE_EQ(s.time_scale, 0.02);
}

TEST(scenario, errors_name_the_file_and_field_path) {
  auto doc = minimal();
  doc["workload"] = {{"images_per_batch", 0}};
  EXPECT_EQ(error_of(doc),
            "t.json: workload.images_per_batch: 0 is out of range (allowed 1..100000)");

  doc = minimal();
  doc["workload"] = {{"sizes", {"1024x1024", "100x100"}}};
  EXPECT_NE(error_of(doc).find("t.json: workload.sizes[1]: size \"100x100\": width 100 is out of "
                               "range (allowed 512..2048)"),
            std::string::npos);

  doc = minimal();
  doc["workload"] = {{"arrival", {{"kind", "sometimes"}}}};
  EXPECT_NE(error_of(doc).find("workload.arrival.kind: has an unknown value \"sometimes\" (allowed "
                               "\"all_at_once\", \"fixed_rate\", \"poisson\")"),
            std::string::npos);

  doc = minimal();
  doc["workload"] = {{"arrival", {{"kind", "fixed_rate"}}}};
  EXPECT_NE(error_of(doc).find("batches_per_second is required"), std::string::npos);

  // A new user's check: a rate the arrival ignores, and a prompt of nothing, were accepted.
  doc = minimal();
  doc["workload"] = {{"arrival", {{"kind", "all_at_once"}, {"batches_per_second", 2}}}};
  EXPECT_NE(error_of(doc).find("t.json: workload.arrival.batches_per_second: applies to "
                               "fixed_rate and poisson arrivals only"),
            std::string::npos)
      << error_of(doc);

  doc = minimal();
  doc["workload"] = {{"prompts", {"a cat", " \t "}}};
  EXPECT_NE(error_of(doc).find("t.json: workload.prompts[1]: is empty or only whitespace"),
            std::string::npos)
      << error_of(doc);
  doc["workload"] = {{"prompts", {"\xE3\x80\x80\xE3\x80\x80"}}};  // U+3000 twice
  EXPECT_NE(error_of(doc).find("t.json: workload.prompts[0]: is empty or only whitespace"),
            std::string::npos)
      << error_of(doc);

  doc = minimal();
  doc["workload"] = {{"prompts", {std::string(2500, 'a')}}};
  EXPECT_NE(error_of(doc).find("t.json: workload.prompts[0]: prompt is too long (2500 characters; "
                               "allowed fewer than 2000)"),
            std::string::npos)
      << error_of(doc);

  doc = minimal();
  doc["colour"] = "blue";
  EXPECT_NE(error_of(doc).find("t.json: colour: unknown field"), std::string::npos);

  doc = minimal();
  doc.erase("strategies");
  EXPECT_NE(error_of(doc).find("t.json: strategies: is required"), std::string::npos);

  doc = minimal();
  doc["strategies"] = json::array({"serial", "serial"});
  EXPECT_NE(error_of(doc).find("strategies[1]: label \"serial\" is used twice"), std::string::npos);

  doc = minimal();
  doc["version"] = 2;
  EXPECT_NE(error_of(doc).find("t.json: version: 2 is out of range (allowed 1..1)"),
            std::string::npos);

  doc = minimal();
  doc["repetitions"] = "three";
  EXPECT_NE(error_of(doc).find("repetitions: must be an integer"), std::string::npos);
}

// A new user's check: the range printed 2^31-1 minus images_per_batch, one short of the real
// rule, and did not say why it was not the README's 0..2^31-1.
TEST(scenario, seed_base_leaves_room_for_the_seeds_of_a_batch) {
  auto doc = minimal();
  doc["workload"] = {{"images_per_batch", 4}, {"seed_base", 2147483644}};
  const auto parsed = parse_scenario(doc, "t.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->workload.seed_base, 2147483644);
  doc["workload"]["seed_base"] = 2147483645;
  EXPECT_EQ(error_of(doc),
            "t.json: workload.seed_base: 2147483645 is out of range (allowed 0..2147483644 with "
            "images_per_batch 4: image i of a batch gets seed seed_base + i, at most "
            "2147483647)");
  doc["workload"]["seed_base"] = -1;
  EXPECT_EQ(error_of(doc),
            "t.json: workload.seed_base: -1 is out of range (allowed 0..2147483647)");
}

// A new user's check: seeds written 1e3 or 2.147483644e9 were refused as not integers.
TEST(scenario, whole_seeds_written_with_an_exponent_are_read) {
  auto doc = minimal();
  doc["seed"] = json::parse("1e3");
  doc["workload"] = {{"images_per_batch", 4}, {"seed_base", json::parse("2.147483644e9")}};
  const auto parsed = parse_scenario(doc, "t.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->seed, 1000u);
  EXPECT_EQ(parsed->workload.seed_base, 2147483644);
  doc["seed"] = json::parse("1.5e0");
  EXPECT_EQ(error_of(doc),
            "t.json: seed: must be an integer (allowed 0..9223372036854775807), got 1.5");
}

// Missing fields are named, not a library exception (issue 17: {"version": 1} exited 3).
TEST(scenario, missing_fields_name_the_file_and_field) {
  EXPECT_EQ(error_of(json{{"version", 1}}), "t.json: name: is required: a non-empty string");
  EXPECT_EQ(error_of(json::object()), "t.json: version: is required: an integer (allowed 1..1)");
  auto doc = minimal();
  doc["strategies"] = json::array({{{"label", "x"}}});
  EXPECT_EQ(error_of(doc),
            "t.json: strategies[0].spec: is required: a preset name, a compact spec string or a "
            "JSON strategy object");
  doc = minimal();
  doc["live"] = json::object();
  EXPECT_EQ(error_of(doc), "t.json: live.max_images: is required: an integer (allowed 1..1000)");
  doc = minimal();
  doc["workload"] = {{"arrival", json::object()}};
  EXPECT_NE(error_of(doc).find("t.json: workload.arrival.kind: is required: one of"),
            std::string::npos);
}

TEST(scenario, json_syntax_error_names_line_and_column) {
  const auto file = std::filesystem::temp_directory_path() / "zbatch_bad_scenario.json";
  {
    std::ofstream out(file);
    out << "{\n  \"version\": 1,\n  \"name\": oops\n}\n";
  }
  const auto error = load_scenario(file).status();
  EXPECT_NE(error.message().find(file.string() + ":3:"), std::string::npos) << error.message();
  std::filesystem::remove(file);
}

TEST(scenario, missing_file_is_named) {
  EXPECT_EQ(load_scenario("/nonexistent/zbatch.json").status().message(),
            "/nonexistent/zbatch.json: cannot be read (No such file or directory)");
}

}  // namespace
}  // namespace zbatch::scenarios
