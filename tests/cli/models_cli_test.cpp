// `zbatch generate --batch` with lines that name their model, `loras` and `image_url`, against a
// mock started here: two models in one batch, and a line that breaks its model's rules refused
// before anything is sent.

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mock_api/server.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch {
namespace {

using test::read_all;

mock::mock_config models_config() {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(10);
  config.generation.time = mock::latency_spec::fixed(50);
  // The per-model daily figures (2,000 / 500 / 200) the journal must keep apart.
  config.throttle.daily_limits.enabled = true;
  config.throttle.ratelimit_headers = true;
  return config;
}

class BatchModels : public ::testing::Test {
 protected:
  void SetUp() override {
    mock::server_options options;
    options.threads = 8;
    server_ = std::make_unique<mock::server>(models_config(), 3, options);
  }

  test::run_result generate(const std::filesystem::path& batch, const std::filesystem::path& out) {
    auto run = test::run_to_end(ZBATCH_EXE,
                                {"generate", "--base-url", server_->base_url(), "--batch",
                                 batch.string(), "--poll-interval-ms", "20", "--out", out.string()},
                                "");
    EXPECT_NE(run.exit_code, -1) << "cannot start " << ZBATCH_EXE;
    return run;
  }

  std::unique_ptr<mock::server> server_;
};

TEST_F(BatchModels, TwoModelsInOneBatch) {
  test::temp_dir dir;
  const auto batch = dir.path() / "b.jsonl";
  std::ofstream(batch)
      << R"({"prompt": "a fox", "seed": 1, "size": "768x512"})"
         "\n"
      << R"({"prompt": "a heron", "seed": 2, "size": "1664x64", "model": "Qwen/Qwen-Image", )"
         R"("loras": {"a/ink": 0.5, "b/wash": 0.5}})"
         "\n"
      << R"({"prompt": "make it night", "seed": 3, "size": "512x512", )"
         R"("model": "Qwen/Qwen-Image-Edit", "image_url": "https://example.com/in.png"})"
         "\n";
  const auto out = dir.path() / "out";
  auto run = generate(batch, out);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto manifest = nlohmann::json::parse(read_all(out / "manifest.json"));
  ASSERT_EQ(manifest["images"].size(), 3u);
  EXPECT_EQ(manifest["delivered"], 3);
  EXPECT_EQ(manifest["images"][0]["model"], "Tongyi-MAI/Z-Image-Turbo");
  EXPECT_EQ(manifest["images"][1]["model"], "Qwen/Qwen-Image");
  EXPECT_EQ(manifest["images"][1]["loras"]["a/ink"], 0.5);
  EXPECT_EQ(manifest["images"][2]["model"], "Qwen/Qwen-Image-Edit");
  EXPECT_EQ(manifest["images"][2]["image_url"], "https://example.com/in.png");
  // The journal's options name the model of each image that is not the batch's.
  std::ifstream journal(out / "journal.jsonl");
  std::string first;
  std::getline(journal, first);
  const auto options = nlohmann::json::parse(first)["options"];
  EXPECT_EQ(options["model"], "Tongyi-MAI/Z-Image-Turbo");
  EXPECT_FALSE(options["images"]["0"].contains("model"));
  EXPECT_EQ(options["images"]["1"]["model"], "Qwen/Qwen-Image");
  EXPECT_EQ(options["images"]["2"]["model"], "Qwen/Qwen-Image-Edit");
  // Each answer's rate-limit figures are journaled under the model of the submit that drew
  // them (issue 14's planning reads them per model): the mock counts every model's day apart,
  // so each model's remaining is its limit less one.
  std::map<std::string, nlohmann::json> figures;
  for (std::string line; std::getline(journal, line);) {
    const auto event = nlohmann::json::parse(line);
    if (event.value("event", "") == "ratelimit") {
      figures[event.value("model", "")] = event;
    }
  }
  ASSERT_EQ(figures.size(), 3u);
  for (const auto& [model, event] : figures) {
    ASSERT_TRUE(event.contains("model_limit")) << event;
    EXPECT_EQ(event["model_remaining"].get<long long>(), event["model_limit"].get<long long>() - 1)
        << model;
  }
  EXPECT_EQ(figures["Tongyi-MAI/Z-Image-Turbo"]["model_limit"], 500);
  EXPECT_EQ(figures["Qwen/Qwen-Image"]["model_limit"], 200);
  // The mock made each with its model: one accepted submit per image.
  const auto stats = server_->mock_model().stats();
  EXPECT_EQ(stats["requests"]["submit"].value("200", 0), 3);
  // A rerun resumes: the same inputs, nothing submitted again.
  auto again = generate(batch, out);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(server_->mock_model().stats()["requests"]["submit"].value("200", 0), 3);
}

TEST_F(BatchModels, ALineOutsideItsModelsRulesIsRefusedBeforeAnythingIsSent) {
  struct bad_line {
    std::string line;
    std::vector<std::string> expected;
  };
  const std::vector<bad_line> cases{
      {R"({"prompt": "p", "size": "2048x1024", "model": "Qwen/Qwen-Image"})",
       {"b.jsonl:2", "size", "for Qwen/Qwen-Image (allowed 64..1664)"}},
      {R"({"prompt": "p", "aspect": "16:9", "base_size": 1280, "model": "black-forest-labs/FLUX.2-dev"})",
       {"b.jsonl:2", "base_size", "allowed 64..1024"}},
      {R"({"prompt": "p", "loras": "a/lora"})",
       {"b.jsonl:2", "loras", "not taken by Tongyi-MAI/Z-Image-Turbo"}},
      {R"({"prompt": "p", "model": "Qwen/Qwen-Image-Edit"})",
       {"b.jsonl:2", "image_url", "required for Qwen/Qwen-Image-Edit"}},
      {R"({"prompt": "p", "model": "Qwen/Qwen-Image", "loras": {"a": 0.7, "b": 0.7}})",
       {"b.jsonl:2", "loras", "sum of 1.0"}},
  };
  for (const auto& c : cases) {
    test::temp_dir dir;
    const auto batch = dir.path() / "b.jsonl";
    std::ofstream(batch) << R"({"prompt": "fine", "seed": 1})"
                            "\n"
                         << c.line << "\n";
    auto run = generate(batch, dir.path() / "out");
    EXPECT_EQ(run.exit_code, 2) << c.line << "\n" << run.out << run.err;
    for (const auto& text : c.expected) {
      EXPECT_NE(run.err.find(text), std::string::npos) << text << " in: " << run.err;
    }
  }
  EXPECT_EQ(server_->mock_model().stats()["requests"].count("submit"), 0u);
}

}  // namespace
}  // namespace zbatch
