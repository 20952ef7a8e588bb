// What every `zbatch` command says about itself: --version, --help with examples and exit codes,
// parser errors in words, "did you mean", `zbatch strategy`, and README.md agreeing with --help
// (every option of a command's --help appears in its README section, and every option of the
// section's synopsis block appears in --help).

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/process.hpp"
#include "tests/cli/run_zbatch.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch {
namespace {

using test::run_result;

using test::run_zbatch;

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

/// Every --long-option in `text`.
std::set<std::string> long_options(const std::string& text) {
  static const std::regex option(R"((^|[^A-Za-z0-9-])(--[a-z][a-z0-9-]*))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), option);
       it != std::sregex_iterator(); ++it) {
    out.insert((*it)[2].str());
  }
  out.erase("--help");
  return out;
}

/// The README section under `heading` (up to the next level-2 heading).
std::string readme_section(const std::string& heading) {
  std::ifstream in(ZBATCH_README);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const auto start = text.find("\n" + heading + "\n");
  if (start == std::string::npos) {
    ADD_FAILURE() << "README.md has no section " << heading;
    return {};
  }
  const auto end = text.find("\n## ", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

/// The first ```sh block of a section: the synopsis.
std::string synopsis(const std::string& section) {
  const auto start = section.find("```sh\n");
  const auto end = section.find("```\n", start + 6);
  if (start == std::string::npos || end == std::string::npos) {
    ADD_FAILURE() << "no ```sh synopsis in: " << section.substr(0, 200);
    return {};
  }
  return section.substr(start + 6, end - start - 6);
}

const std::vector<std::vector<std::string>> every_help{
    {"--help"},
    {"generate", "--help"},
    {"mock", "--help"},
    {"scenario", "--help"},
    {"scenario", "run", "--help"},
    {"scenario", "list", "--help"},
    {"report", "--help"},
    {"report", "render", "--help"},
    {"report", "compare", "--help"},
    {"strategy", "--help"},
    {"strategy", "show", "--help"},
};

TEST(help, version_names_the_project_version) {
  const auto run = run_zbatch({"--version"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out.rfind("zbatch 0.", 0), 0u) << run.out;
}

TEST(help, every_help_shows_an_example_and_the_exit_codes) {
  for (const auto& args : every_help) {
    const auto run = run_zbatch(args);
    const std::string label = args.front() + " " + (args.size() > 2 ? args[1] : "");
    EXPECT_EQ(run.exit_code, 0) << label << run.err;
    EXPECT_TRUE(has(run.out, "Examples:\n  zbatch ")) << label << run.out;
    EXPECT_TRUE(has(run.out, "Exit codes:\n  0")) << label << run.out;
    EXPECT_TRUE(has(run.out, "\n  2    bad usage")) << label << run.out;
  }
  const auto generate = run_zbatch({"generate", "--help"}).out;
  for (const char* code : {"\n  1 ", "\n  3 ", "\n  4 ", "\n  130 "}) {
    EXPECT_TRUE(has(generate, code)) << code << generate;
  }
}

// A new user's check: `report render --help` listed compare's exit 1 (render never exits 1),
// `scenario list --help` run's.
TEST(help, each_subcommand_lists_only_its_own_exit_codes) {
  const auto render = run_zbatch({"report", "render", "--help"}).out;
  EXPECT_FALSE(has(render, "\n  1 ")) << render;
  const auto compare = run_zbatch({"report", "compare", "--help"}).out;
  EXPECT_TRUE(has(compare, "\n  1    report compare: a regression")) << compare;
  EXPECT_TRUE(has(run_zbatch({"report", "--help"}).out, "report compare: a regression"));
  const auto list = run_zbatch({"scenario", "list", "--help"}).out;
  EXPECT_FALSE(has(list, "\n  1 ") || has(list, "\n  3 ")) << list;
  EXPECT_TRUE(has(run_zbatch({"scenario", "run", "--help"}).out, "\n  1    scenario run"));
}

TEST(help, numeric_options_are_named_by_what_they_take) {
  const auto generate = run_zbatch({"generate", "--help"}).out;
  for (const char* shown : {"--count N", "--guidance NUMBER", "--grace-s SECONDS",
                            "--poll-interval-ms MS", "--size WxH", "--out DIR", "--batch FILE"}) {
    EXPECT_TRUE(has(generate, shown)) << shown << "\n" << generate;
  }
  for (const auto& args : every_help) {
    const auto run = run_zbatch(args);
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
      if (has(line, " TEXT")) {
        EXPECT_TRUE(has(line, "--prompt") || has(line, "--negative-prompt")) << line;
      }
      EXPECT_FALSE(has(line, " INT ") || has(line, " UINT ")) << line;
    }
  }
}

// A new user's check: http mode with several clients exited 2 for a missing redis-server that
// the help never mentioned.
TEST(help, scenario_run_says_http_mode_with_clients_needs_redis_server) {
  const auto run = run_zbatch({"scenario", "run", "--help"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // CLI11 wraps the description: compare without the line breaks and indentation.
  std::string flat;
  std::istringstream words(run.out);
  for (std::string word; words >> word;) {
    flat += (flat.empty() ? "" : " ") + word;
  }
  EXPECT_TRUE(has(flat,
                  "clients > 1 and a shared limiter also needs redis-server installed, "
                  "else exit 2"))
      << run.out;
}

TEST(help, parser_errors_are_sentences_naming_the_option) {
  struct error_case {
    std::vector<std::string> args;
    std::vector<std::string> expected;
  };
  const std::vector<error_case> cases{
      {{"generate", "--prompt", "p", "--count", "1", "--count", "2", "--out", "o"},
       {"--count was given 2 values", "give it once"}},
      {{"generate", "--prompt", "p", "--coutn", "2", "--out", "o"},
       {"unexpected argument", "--coutn", "did you mean '--count'?"}},
      {{"generate", "--prompt", "p", "--quiet", "--verbose", "--out", "o"},
       {"--quiet and --verbose cannot be used together"}},
      {{"scenario", "run", "preview-4", "--mode", "fast", "--out", "o"},
       {"--mode must be one of sim, http, live (got \"fast\")"}},
      {{"scenario", "run", "preview-4", "--repeat", "0", "--out", "o"},
       {"--repeat must be from 1 to 1000 (got \"0\")"}},
      // A new user's check: "--out : Invalid argument".
      {{"scenario", "run", "preview-4", "--out", ""},
       {"--out: empty: give the directory for results.json and the reports"}},
      // CLI11's text had printf padding ("0.000100 to 10.000000") and called "abc" out of range.
      {{"scenario", "run", "preview-4", "--time-scale", "abc", "--out", "o"},
       {"--time-scale must be a number from 0.0001 to 10 (got \"abc\")"}},
      // NaN passed CLI11's Range: sim ignored it, http failed inside (exit 3) on a retry base.
      {{"scenario", "run", "preview-4", "--time-scale", "nan", "--out", "o"},
       {"--time-scale must be from 0.0001 to 10 (got \"nan\")"}},
      {{"report", "compare", "a.json", "b.json", "--alpha", "NaN"},
       {"--alpha must be from 0.0001 to 0.5 (got \"NaN\")"}},
      {{"scenario", "run", "preview-4", "--repeat", "many", "--out", "o"},
       {"--repeat must be a whole number from 1 to 1000 (got \"many\")"}},
      // A negative seed used to wrap to 2^64-1; a scenario file refuses it the same way.
      {{"scenario", "run", "preview-4", "--seed", "-1", "--out", "o"},
       {"--seed must be from 0 to 9223372036854775807 (got \"-1\")"}},
      // The last repetition's seed passed 2^63-1 and was written to results.json.
      {{"scenario", "run", "preview-4", "--seed", "9223372036854775807", "--repeat", "2", "--out",
        "o"},
       {"the last repetition's seed would pass 2^63-1 (allowed 0..9223372036854775806 for 2 "
        "repetitions)"}},
      // The mock's seed said only "must be N", and -1 wrapped to 2^64-1 and started a mock.
      {{"mock", "--seed", "-1"}, {"--seed must be from 0 to 9223372036854775807 (got \"-1\")"}},
      {{"mock", "--seed", "1E400"},
       {"--seed must be from 0 to 9223372036854775807 (got \"1E400\")"}},
      // An unset "$REDIS_URL" must not run unshared.
      {{"generate", "--prompt", "p", "--out", "o", "--shared-limit", ""},
       {"--shared-limit: needs a URL, redis://HOST:PORT[/DB] (got \"\")"}},
      {{"genrate"}, {"unknown command 'genrate'", "did you mean 'generate'?"}},
      {{"scenario", "rnu"}, {"unknown subcommand 'rnu'", "did you mean 'run'?"}},
      {{"strategy", "show", "adaptiv"}, {"did you mean 'adaptive'?"}},
      {{"generate", "--prompt", "p", "--strategy", "bounded,infligt=2", "--out", "o"},
       {"did you mean 'inflight'?"}},
      {{"scenario", "run", "nosuch", "--out", "o"}, {"'nosuch'", "zbatch scenario list"}},
      {{"scenario", "run", "preview4", "--out", "o"},
       {"did you mean 'preview-4'?", "zbatch scenario list"}},
  };
  for (const auto& c : cases) {
    const auto run = run_zbatch(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.args.back() << run.err;
    for (const auto& text : c.expected) {
      EXPECT_TRUE(has(run.err, text)) << text << "\n" << run.err;
    }
    for (const char* raw : {"At Most", "required but received", "not expected:", "[json.exception",
                            "not in {", "not in range"}) {
      EXPECT_FALSE(has(run.err, raw)) << raw << "\n" << run.err;
    }
  }
}

TEST(help, strategy_show_prints_a_preset_in_words_and_as_its_spec) {
  const auto run = run_zbatch({"strategy", "show", "adaptive"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(has(run.out, "In words:\n  - Finds the number of tasks in flight")) << run.out;
  EXPECT_TRUE(has(run.out, "\n  inflight=aimd:init=1")) << "compact: " << run.out;
  EXPECT_TRUE(has(run.out, "\"name\": \"adaptive\"")) << "JSON: " << run.out;
  const auto custom = run_zbatch({"strategy", "show", "bounded,inflight=3", "--json"});
  ASSERT_EQ(custom.exit_code, 0) << custom.err;
  EXPECT_TRUE(has(custom.out, "\"inflight\": 3")) << custom.out;
  const auto list = run_zbatch({"strategy", "list"});
  EXPECT_EQ(list.exit_code, 0);
  for (const char* name : {"serial\n", "adaptive\n", "token-bucket\n"}) {
    EXPECT_TRUE(has(list.out, name)) << list.out;
  }
  // A new user's check: each preset's line was only its in-flight sentence, so serial and retry
  // read the same, and token-bucket was "every image is submitted at once" above its bucket.
  EXPECT_TRUE(has(list.out,
                  "token-bucket\n    No limit on tasks in flight: the pacing below "
                  "sets when each submits.\n    Token bucket: 0.5 submit(s) a second"))
      << list.out;
  EXPECT_TRUE(has(list.out, "serial\n    At most 1 task(s) in flight.\n    Rests 2 s")) << list.out;
  EXPECT_TRUE(has(list.out, "\n    Retries a failed image up to 2 time(s)")) << list.out;
  // retry is the one preset that may pay twice (ambiguous=resubmit): the list says so, once.
  const auto twice = list.out.find("Resubmits after a submit whose answer was lost");
  EXPECT_NE(twice, std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("Resubmits after", twice + 1), std::string::npos) << list.out;
  EXPECT_LT(list.out.find("\nretry\n"), twice) << list.out;
}

/// README.md and --help list the same options.
void expect_readme_agrees(const std::string& heading,
                          const std::vector<std::vector<std::string>>& helps) {
  const auto section = readme_section(heading);
  std::set<std::string> in_help;
  for (const auto& args : helps) {
    const auto run = run_zbatch(args);
    const auto options = long_options(run.out.substr(0, run.out.find("Examples:")));
    in_help.insert(options.begin(), options.end());
  }
  for (const auto& option : in_help) {
    EXPECT_TRUE(has(section, option))
        << option << " is in --help but not in README.md's " << heading;
  }
  for (const auto& option : long_options(synopsis(section))) {
    EXPECT_EQ(in_help.count(option), 1u)
        << option << " is in README.md's " << heading << " synopsis but not in --help";
  }
}

TEST(readme, agrees_with_the_help_of_every_command) {
  expect_readme_agrees("## `zbatch generate`", {{"generate", "--help"}});
  expect_readme_agrees("## `zbatch scenario` and `zbatch report`",
                       {{"scenario", "run", "--help"},
                        {"report", "render", "--help"},
                        {"report", "compare", "--help"}});
  expect_readme_agrees("## `zbatch mock`", {{"mock", "--help"}});
  expect_readme_agrees("## `zbatch strategy`", {{"strategy", "show", "--help"}});
}

}  // namespace
}  // namespace zbatch
