// The command line's input rules: the options as typed become a checked session config, or an
// error naming the option and what is allowed (the texts `zbatch generate` prints).
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "generate/cli_inputs.hpp"
#include "generate/journal.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch::generate {
namespace {

using nlohmann::json;

class cli_inputs_test : public ::testing::Test {
 protected:
  /// --prompt "a fox" --out DIR/out, plus what a test sets.
  cli_inputs fox() const {
    cli_inputs in;
    in.prompt = "a fox";
    in.out = (dir_.path() / "out").string();
    return in;
  }

  /// The error's text, or "" when the inputs pass.
  static std::string error_of(const cli_inputs& in) {
    return session_config_from(in).status().message();
  }

  test::temp_dir dir_;
};

TEST_F(cli_inputs_test, one_prompt_gives_count_variants_with_consecutive_seeds) {
  auto in = fox();
  in.count = "3";
  in.seed = "7";
  in.aspect = "16:9";
  in.base_size = "1536";
  in.negative_given = true;  // an empty --negative-prompt is still sent
  in.steps = "9";
  in.guidance = "3.5";
  const auto config = session_config_from(in).value();
  ASSERT_EQ(config.images.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& request = config.images[i].request;
    EXPECT_EQ(config.images[i].index, i);
    EXPECT_EQ(request.seed, static_cast<std::int64_t>(7 + i));
    EXPECT_EQ(request.prompt, "a fox");
    EXPECT_EQ(request.model, protocol::default_model);
    EXPECT_EQ(request.size->to_string(), "1536x864");
    EXPECT_EQ(request.negative_prompt, "");
    EXPECT_EQ(request.steps, 9);
    EXPECT_EQ(request.guidance, 3.5);
  }
  EXPECT_EQ(config.options, options_json(config.images, false, 3));
  EXPECT_EQ(config.out_dir, dir_.path() / "out");
}

TEST_F(cli_inputs_test, defaults_are_those_of_the_help) {
  const auto config = session_config_from(fox()).value();
  ASSERT_EQ(config.images.size(), 1u);
  EXPECT_EQ(config.images[0].request.size->to_string(), "1024x1024");
  EXPECT_FALSE(config.images[0].request.negative_prompt);
  EXPECT_EQ(actors::to_compact(config.strategy),
            actors::to_compact(actors::parse_strategy("adaptive").value()));
  EXPECT_EQ(config.max_submits, 0);
  EXPECT_EQ(config.grace, std::chrono::seconds(30));
  EXPECT_EQ(config.connections, 16);
  EXPECT_TRUE(config.endpoint.empty()) << "the caller's";
}

TEST_F(cli_inputs_test, a_rerun_without_seed_keeps_the_random_seed_of_the_first_run) {
  auto in = fox();
  in.count = "2";
  const auto first = session_config_from(in).value();
  const auto seed = *first.images[0].request.seed;
  EXPECT_GE(seed, 0);
  EXPECT_LE(seed, protocol::max_seed - 1);
  ASSERT_TRUE(journal::open(first.out_dir, first.options).ok());
  const auto again = session_config_from(in).value();
  EXPECT_EQ(again.images[0].request.seed, seed);
  EXPECT_EQ(again.options, first.options);
}

TEST_F(cli_inputs_test, poll_overrides_apply_to_the_strategy) {
  auto in = fox();
  in.strategy = "serial";
  in.poll_interval_ms = "5000";
  in.deadline_s = "60";
  in.max_submits = "12";
  in.grace_s = "0";
  in.connections = "2";
  const auto config = session_config_from(in).value();
  EXPECT_EQ(config.strategy.poll.interval, std::chrono::milliseconds(5000));
  EXPECT_GE(config.strategy.poll.cap, config.strategy.poll.interval) << "cap raised to fit";
  EXPECT_EQ(config.strategy.poll.deadline, std::chrono::seconds(60));
  EXPECT_EQ(config.max_submits, 12);
  EXPECT_EQ(config.grace, std::chrono::seconds(0));
  EXPECT_EQ(config.connections, 2);
}

TEST_F(cli_inputs_test, a_poll_interval_given_turns_the_fitted_polls_off) {
  // The user chose how often to poll: adaptive's fitted polls (every 250 ms or more once 5 tasks
  // finished) would poll more often than asked.
  auto in = fox();
  EXPECT_EQ(session_config_from(in).value().strategy.poll.fit, 8) << "adaptive's default";
  in.poll_interval_ms = "5000";
  const auto config = session_config_from(in).value();
  EXPECT_EQ(config.strategy.poll.fit, 0);
  EXPECT_NE(config.strategy_label.find("(fitted polls off)"), std::string::npos)
      << config.strategy_label << ": the start line says so";
}

TEST_F(cli_inputs_test, a_batch_file_takes_its_images_from_its_lines) {
  auto in = fox();
  in.prompt.clear();
  in.batch = (dir_.path() / "batch.jsonl").string();
  std::ofstream(in.batch) << R"({"prompt": "a", "seed": 3})"
                          << "\n"
                          << R"({"prompt": "b", "count": 2, "seed": 9})"
                          << "\n";
  const auto config = session_config_from(in).value();
  ASSERT_EQ(config.images.size(), 3u);
  EXPECT_EQ(config.images[2].request.prompt, "b");
  EXPECT_EQ(config.images[2].request.seed, 10);
  EXPECT_EQ(config.options.value("mode", ""), "batch");
}

TEST_F(cli_inputs_test, bad_inputs_name_the_option_and_what_is_allowed) {
  struct bad {
    void (*set)(cli_inputs&);
    std::string error;
  };
  const bad cases[] = {
      {[](cli_inputs& in) { in.out.clear(); },
       "--out is required: the directory for the images and manifest.json"},
      {[](cli_inputs& in) { in.prompt.clear(); },
       "--prompt (a non-empty string) or --batch FILE.jsonl is required"},
      {[](cli_inputs& in) { in.count = "0"; },
       "--count must be an integer from 1 to 1000 (got \"0\")"},
      {[](cli_inputs& in) { in.count = "2x"; },
       "--count must be an integer from 1 to 1000 (got \"2x\")"},
      {[](cli_inputs& in) { in.steps = "101"; },
       "--steps must be an integer from 1 to 100 (got \"101\")"},
      {[](cli_inputs& in) { in.guidance = "abc"; },
       "--guidance must be a number from 1.5 to 20 (got \"abc\")"},
      {[](cli_inputs& in) { in.guidance = "3.5x"; },
       "--guidance must be a number from 1.5 to 20 (got \"3.5x\")"},
      {[](cli_inputs& in) {
         in.size = "1024x1024";
         in.aspect = "1:1";
       },
       "--size and --aspect are mutually exclusive: give one of them"},
      {[](cli_inputs& in) { in.base_size = "1024"; },
       "--base-size needs --aspect (allowed 1:1, 9:16, 16:9)"},
      {[](cli_inputs& in) {
         in.aspect = "16:9";
         in.base_size = "4096";
       },
       "--base-size must be an integer from 512 to 2048 (got \"4096\")"},
      {[](cli_inputs& in) { in.seed = "-1"; },
       "--seed must be an integer from 0 to 2147483647 (got \"-1\")"},
      {[](cli_inputs& in) {
         in.count = "2";
         in.seed = "2147483647";
       },
       "--seed 2147483647 with --count 2 would use seeds above 2147483647 (allowed --seed "
       "0..2147483646 for this count)"},
      {[](cli_inputs& in) { in.poll_interval_ms = "5"; },
       "--poll-interval-ms must be an integer from 10 to 600000 (got \"5\")"},
      {[](cli_inputs& in) { in.deadline_s = "0"; },
       "--deadline-s must be an integer from 1 to 86400 (got \"0\")"},
      {[](cli_inputs& in) { in.max_submits = "-1"; },
       "--max-submits must be an integer from 0 to 1000000 (got \"-1\")"},
      {[](cli_inputs& in) { in.grace_s = "99999"; },
       "--grace-s must be an integer from 0 to 3600 (got \"99999\")"},
      {[](cli_inputs& in) { in.connections = "0"; },
       "--connections must be an integer from 1 to 256 (got \"0\")"},
      {[](cli_inputs& in) { in.batch = "b.jsonl"; },
       "--batch and --prompt are mutually exclusive: with --batch, put prompt on each line of the "
       "batch file"},
      {[](cli_inputs& in) {
         in.prompt.clear();
         in.batch = "b.jsonl";
         in.guidance = "2";
       },
       "--batch and --guidance are mutually exclusive: with --batch, put guidance on each line "
       "of the batch file"},
  };
  for (const auto& c : cases) {
    auto in = fox();
    c.set(in);
    EXPECT_EQ(error_of(in), c.error);
  }
}

TEST_F(cli_inputs_test, errors_from_the_protocol_and_the_strategy_name_their_option) {
  auto in = fox();
  in.size = "100x100";
  EXPECT_EQ(error_of(in).rfind("--size: ", 0), 0u) << error_of(in);
  in = fox();
  in.prompt = std::string(2000, 'a');
  EXPECT_EQ(error_of(in).rfind("--prompt: ", 0), 0u) << error_of(in);
  in = fox();
  in.strategy = "nope";
  const auto strategy = error_of(in);
  EXPECT_EQ(strategy.rfind("--strategy: ", 0), 0u) << strategy;
  const std::string presets = "serial, concurrent, bounded, retry, token-bucket, adaptive";
  const auto listed = strategy.find(presets);
  EXPECT_NE(listed, std::string::npos) << strategy;
  EXPECT_EQ(strategy.find(presets, listed + 1), std::string::npos) << "listed twice: " << strategy;
  in.strategy = "bounded,inflight=0";  // a spec's error: no preset list
  EXPECT_EQ(error_of(in).find("presets"), std::string::npos) << error_of(in);
}

TEST_F(cli_inputs_test, out_must_be_a_directory) {
  auto in = fox();
  const auto file = dir_.path() / "a-file";
  std::ofstream(file) << "x";
  in.out = file.string();
  EXPECT_EQ(error_of(in), "--out " + file.string() + " exists and is not a directory");
}

TEST(cli_inputs, allowed_lists_read_as_in_the_help) {
  EXPECT_EQ(allowed_list({}), "");
  EXPECT_EQ(allowed_list({"1:1"}), "1:1");
  EXPECT_EQ(allowed_list({"1:1", "9:16", "16:9"}), "1:1, 9:16, 16:9");
}

}  // namespace
}  // namespace zbatch::generate
