// `zbatch generate` end to end: the bundled mock, a mock started here, every bad-usage path.

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/digest.hpp"
#include "mock_api/server.hpp"
#include "tests/cli/process.hpp"
#include "tests/cli/run_zbatch.hpp"
#include "tests/client/png_check.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch {
namespace {

using test::read_all;

using test::run_result;

using test::run_zbatch;

mock::mock_config fast_config() {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(10);
  config.generation.time = mock::latency_spec::fixed(50);
  return config;
}

void expect_manifest_matches_files(const std::filesystem::path& dir, int count,
                                   std::int64_t first_seed) {
  auto manifest = nlohmann::json::parse(read_all(dir / "manifest.json"));
  ASSERT_EQ(manifest["images"].size(), static_cast<std::size_t>(count));
  EXPECT_EQ(manifest["delivered"], count);
  EXPECT_EQ(manifest["failed"], 0);
  for (int i = 0; i < count; ++i) {
    const auto& entry = manifest["images"][i];
    EXPECT_EQ(entry["index"], i);
    EXPECT_EQ(entry["seed"], first_seed + i);
    EXPECT_EQ(entry["status"], "delivered");
    EXPECT_TRUE(entry["error_class"].is_null());
    EXPECT_TRUE(entry["task_id"].is_string());
    EXPECT_TRUE(entry["latency_ms"].is_number_integer());
    const auto file = entry["file"].get<std::string>();
    EXPECT_EQ(file, std::to_string(i) + "-" + std::to_string(first_seed + i) + ".png");
    const auto bytes = read_all(dir / file);
    EXPECT_EQ(entry["bytes"], bytes.size());
    EXPECT_EQ(entry["sha256"], client::sha256_hex(bytes));
    auto png = test::check_png(bytes);
    EXPECT_TRUE(png.ok) << png.problem;
  }
}

/// `zbatch generate --mock` of two images into `out`, delivered; returns its arguments for a
/// rerun into the same directory.
std::vector<std::string> two_foxes_delivered(const std::filesystem::path& out) {
  std::vector<std::string> args = {"generate", "--mock", "--prompt", "a red fox", "--count",
                                   "2",        "--seed", "5",        "--out",     out.string()};
  const auto first = run_zbatch(args);
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  return args;
}

// A new user's check: after deleting a delivered image, the rerun with --mock said "nothing to
// submit" and then paid a submit: the new mock knows no task of the earlier run. It says so.
TEST(GenerateCli, ARerunWithTheBundledMockSaysItsJournaledTasksAreSubmittedAgain) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto args = two_foxes_delivered(out);
  std::filesystem::remove(out / "0-5.png");
  const auto run = run_zbatch(args);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("1 journaled task(s) are unknown to this run's bundled mock (it keeps no "
                         "task past its run): they are submitted again, not polled"),
            std::string::npos)
      << run.out;
  // And the plan counts it as the paid submit it is (it said "nothing to submit").
  EXPECT_NE(run.out.find("plan: 1 image(s) to submit (1 paid submit(s)"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("0 task(s) to poll again, 1 to submit"), std::string::npos) << run.out;
}

// A new user's check: after a second Ctrl-C the manifest on disk was an older run's, with null
// fields for images a later run delivered; the rerun died on "type must be string, but is null".
TEST(GenerateCli, ARerunReadsAManifestWithNullFields) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto args = two_foxes_delivered(out);
  auto manifest = nlohmann::json::parse(read_all(out / "manifest.json"));
  for (auto& image : manifest["images"]) {
    image["sha256"] = nullptr;
    image["task_id"] = nullptr;
  }
  std::ofstream(out / "manifest.json") << manifest.dump(2);
  const auto run = run_zbatch(args);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.err.find("type must be"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("delivered 2/2"), std::string::npos) << run.out;
}

// New users' checks: a directory where the manifest goes failed with "basic_filebuf::underflow
// error reading the file: Is a directory" (exit 1, no file named); a delivered line edited to
// index 99 of a 2-image batch passed silently.
TEST(GenerateCli, AManifestThatIsADirectoryOrAJournalIndexOutsideTheBatchExitsTwo) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto args = two_foxes_delivered(out);
  std::filesystem::remove(out / "manifest.json");
  std::filesystem::create_directory(out / "manifest.json");
  auto run = run_zbatch(args);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find((out / "manifest.json").string() + ": is not a regular file"),
            std::string::npos)
      << run.err;
  std::filesystem::remove(out / "manifest.json");

  std::string journal = read_all(out / "journal.jsonl");
  const auto found = journal.find("\"event\":\"delivered\"");
  ASSERT_NE(found, std::string::npos) << journal;
  const auto at = journal.rfind('\n', found) + 1;
  auto line = nlohmann::json::parse(journal.substr(at, journal.find('\n', at) - at));
  line["index"] = 99;
  std::ofstream(out / "journal.jsonl", std::ios::app) << line.dump() << "\n";
  run = run_zbatch(args);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("journal.jsonl: a line names image index 99, not one of this batch's 2 "
                         "images (0..1): the journal is damaged"),
            std::string::npos)
      << run.err;
}

// A new user's check: a directory where an image's file goes was found only when the image was
// written, after its task was paid. Refused before anything is sent or written.
TEST(GenerateCli, ADirectoryWhereAnImageGoesExitsTwoBeforeAnySubmit) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  std::filesystem::create_directories(out / "1-8.jpg");
  const auto run = run_zbatch({"generate", "--mock", "--prompt", "a fox", "--count", "2", "--seed",
                               "7", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find((out / "1-8.jpg").string() +
                         ": is not a regular file; image 1 would be written there after its task "
                         "was paid; move it away and rerun"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out / "journal.jsonl"));
}

// A new user's check: `{"prompt":"a","seed":1}` twice in a batch file made two paid tasks for one
// picture, and --dry-run said nothing. Refused before anything is sent or written, a rerun into
// a journaled directory too (its journal left as it was).
TEST(GenerateCli, TwoBatchLinesForTheSameImageExitTwoNamingBothLines) {
  test::temp_dir dir;
  const auto batch = dir.path() / "prompts.jsonl";
  const auto out = dir.path() / "out";
  std::ofstream(batch) << "{\"prompt\":\"a\",\"seed\":1}\n{\"prompt\":\"b\",\"seed\":1}\n";
  auto run = run_zbatch({"generate", "--mock", "--batch", batch.string(), "--out", out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto journal = read_all(out / "journal.jsonl");
  std::ofstream(batch, std::ios::app)
      << "{\"prompt\":\"a\",\"seed\":2}\n{\"prompt\":\"a\",\"seed\":1}\n";
  const std::string expected =
      batch.string() +
      ":4: the same image as line 1 (same prompt, seed 1, size and model): it would be paid "
      "twice for one picture; remove it or give it another seed";
  for (const auto& extra : {std::string("--dry-run"), std::string("--quiet")}) {
    run =
        run_zbatch({"generate", "--mock", "--batch", batch.string(), "--out", out.string(), extra});
    EXPECT_EQ(run.exit_code, 2) << extra << run.out << run.err;
    EXPECT_NE(run.err.find(expected), std::string::npos) << extra << run.err;
    EXPECT_EQ(read_all(out / "journal.jsonl"), journal) << extra;
  }
  const auto fresh = dir.path() / "fresh";
  run = run_zbatch({"generate", "--mock", "--batch", batch.string(), "--out", fresh.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find(expected), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(fresh));
}

// A new user's check: a key file whose key held a space was blamed on --base-url; a dry run with
// --shared-limit registered the process in Redis while saying nothing was written.
TEST(GenerateCli, AKeyWithASpaceNamesItsFileAndADryRunLeavesTheSharedLimitAlone) {
  test::temp_dir dir;
  const auto key_file = dir.path() / "key";
  std::ofstream(key_file) << "ms-two words\n";
  auto run =
      run_zbatch({"generate", "--prompt", "p", "--base-url", "https://192.0.2.1:9",
                  "--api-key-file", key_file.string(), "--out", (dir.path() / "out").string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--api-key-file: API key file " + key_file.string() +
                         ": the key on its first line contains whitespace"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("two words"), std::string::npos) << "never the key itself";
  EXPECT_EQ(run.err.find("--base-url"), std::string::npos) << run.err;
  // A directory given as the key file read as "is empty" (a new user's check).
  run = run_zbatch({"generate", "--prompt", "p", "--base-url", "https://192.0.2.1:9",
                    "--api-key-file", dir.path().string(), "--out", (dir.path() / "out").string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--api-key-file: API key file " + dir.path().string() +
                         " is a directory, not a regular file"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));

  run = run_zbatch({"generate", "--mock", "--prompt", "p", "--dry-run", "--shared-limit",
                    "redis://127.0.0.1:1", "--out", (dir.path() / "dry").string()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto all = run.out + run.err;
  EXPECT_NE(all.find("--shared-limit: not contacted by a dry run"), std::string::npos) << all;
  EXPECT_EQ(all.find("shared limit unreachable"), std::string::npos) << all;
}

TEST(GenerateCli, BundledMockEndToEnd) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  auto run =
      run_zbatch({"generate", "--mock", "--prompt", "a red fox in snow", "--count", "4", "--seed",
                  "1000", "--aspect", "16:9", "--poll-interval-ms", "100", "--out", out.string()},
                 "ms-real-key-must-not-leak");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("http://127.0.0.1:"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("delivered 4/4, failed 0"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("latency min/median/max"), std::string::npos) << run.out;
  // Plain lines number images as the file names and the manifest do (0-based).
  EXPECT_NE(run.out.find("  #0 seed 1000  delivered"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("0-1000.png"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("[1/4]"), std::string::npos) << run.out;
  expect_manifest_matches_files(out, 4, 1000);
  auto png = test::check_png(read_all(out / "0-1000.png"));
  EXPECT_EQ(png.width, 1024);
  EXPECT_EQ(png.height, 576);
  for (const auto& text : {run.out, run.err, read_all(out / "manifest.json")}) {
    EXPECT_EQ(text.find("ms-real-key-must-not-leak"), std::string::npos);
  }
}

class GenerateAgainstMock : public ::testing::Test {
 protected:
  void SetUp() override {
    mock::server_options options;
    options.threads = 8;
    server_ = std::make_unique<mock::server>(fast_config(), 3, options);
  }
  std::unique_ptr<mock::server> server_;
};

TEST_F(GenerateAgainstMock, RandomBaseSeedAndKeyFromFile) {
  test::temp_dir dir;
  const auto key_file = dir.path() / "key";
  std::ofstream(key_file) << "ms-file-key\n";
  const auto out = dir.path() / "out";
  auto run = run_zbatch({"generate", "--base-url", server_->base_url(), "--prompt", "p", "--count",
                         "2", "--size", "512x768", "--poll-interval-ms", "20", "--api-key-file",
                         key_file.string(), "--out", out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto manifest = nlohmann::json::parse(read_all(out / "manifest.json"));
  const auto seed = manifest["base_seed"].get<std::int64_t>();
  EXPECT_GE(seed, 0);
  EXPECT_LE(seed, 2147483646);
  expect_manifest_matches_files(out, 2, seed);
  EXPECT_EQ(run.out.find("ms-file-key"), std::string::npos);
}

TEST_F(GenerateAgainstMock, FailedImagesExitOneWithTheirClass) {
  auto config = fast_config();
  config.faults.task.moderation = 1.0;
  server_->mock_model().replace_config(config);
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  auto run = run_zbatch({"generate", "--base-url", server_->base_url(), "--prompt", "p", "--count",
                         "2", "--seed", "5", "--poll-interval-ms", "20", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("moderation"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("delivered 0/2, failed 2"), std::string::npos) << run.out;
  auto manifest = nlohmann::json::parse(read_all(out / "manifest.json"));
  EXPECT_EQ(manifest["images"][1]["error_class"], "moderation");
  EXPECT_EQ(manifest["images"][1]["status"], "failed");
}

TEST(GenerateCli, HelpListsTheOptions) {
  auto run = run_zbatch({"generate", "--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* option :
       {"--prompt", "--count", "--size", "--aspect", "--base-size", "--seed", "--base-url",
        "--poll-interval-ms", "--deadline-s", "--mock", "--out", "--batch", "--strategy",
        "--max-submits", "--grace-s", "--json", "--api-key-file"}) {
    EXPECT_NE(run.out.find(option), std::string::npos) << option;
  }
}

struct bad_usage {
  bad_usage(std::vector<std::string> a, std::vector<std::string> e, std::string k = {})
      : args(std::move(a)), expected(std::move(e)), key(std::move(k)) {}
  std::vector<std::string> args;      ///< After "generate"; --out is added.
  std::vector<std::string> expected;  ///< Substrings of stderr.
  std::string key;                    ///< MODELSCOPE_API_KEY, unset when empty.
};

TEST(GenerateCli, BadUsageExitsTwoNamingTheOption) {
  const std::string long_prompt(2000, 'a');
  const std::vector<bad_usage> cases{
      {{"--prompt", "p", "--count", "1", "--bogus"}, {"--bogus"}},
      {{"--count", "1"}, {"--prompt"}},
      {{"--prompt", "p", "--count", "1001"}, {"--count must be an integer from 1 to 1000"}},
      {{"--prompt", "p", "--count", "0"}, {"--count must be an integer from 1 to 1000", "\"0\""}},
      {{"--prompt", "p", "--count", "many"}, {"--count", "\"many\""}},
      {{"--prompt", "p", "--count", "1", "--size", "100x100"}, {"--size", "512..2048"}},
      {{"--prompt", "p", "--count", "1", "--size", "big"}, {"--size", "WIDTHxHEIGHT"}},
      {{"--prompt", "p", "--count", "1", "--size", "1024x1024", "--aspect", "1:1"},
       {"--size and --aspect are mutually exclusive"}},
      {{"--prompt", "p", "--count", "1", "--aspect", "4:3"}, {"--aspect", "1:1, 9:16, 16:9"}},
      {{"--prompt", "p", "--count", "1", "--aspect", "16:9", "--base-size", "800"},
       {"--aspect", "800x450", "512..2048"}},
      {{"--prompt", "p", "--count", "1", "--aspect", "16:9", "--base-size", "4096"},
       {"--base-size", "512 to 2048"}},
      {{"--prompt", "p", "--count", "1", "--base-size", "1024"}, {"--base-size needs --aspect"}},
      {{"--prompt", "p", "--count", "1", "--seed", "-1"}, {"--seed", "0 to 2147483647"}},
      {{"--prompt", "p", "--count", "2", "--seed", "2147483647"}, {"--seed", "0..2147483646"}},
      {{"--prompt", long_prompt, "--count", "1"}, {"--prompt", "2000"}},
      {{"--prompt", "", "--count", "1"}, {"--prompt", "required"}},
      {{"--prompt", "p", "--count", "1", "--poll-interval-ms", "5"},
       {"--poll-interval-ms", "10 to 600000"}},
      {{"--prompt", "p", "--count", "1", "--deadline-s", "0"}, {"--deadline-s", "1 to 86400"}},
      {{"--prompt", "p", "--count", "1", "--mock", "nope"}, {"--mock", "ideal"}},
      {{"--prompt", "p", "--count", "1", "--mock", "--base-url", "http://127.0.0.1:1"},
       {"--mock and --base-url are mutually exclusive"}},
      {{"--prompt", "p", "--count", "1", "--base-url", "not a url"}, {"--base-url"}},
      {{"--prompt", "p", "--count", "1", "--base-url", "http://example.com"},
       {"--base-url", "https"},
       "ms-key"},
      {{"--prompt", "p", "--count", "1", "--api-key-file", "/nonexistent/key"},
       {"--api-key-file", "/nonexistent/key"}},
      {{"--prompt", "p", "--strategy", "bounded,inflight=0"},
       {"--strategy", "inflight", "1..10000"}},
      {{"--prompt", "p", "--strategy", "nope"}, {"--strategy", "adaptive"}},
      {{"--prompt", "p", "--strategy", "retry=500"}, {"--strategy", "retry", "0..100"}},
      {{"--prompt", "p", "--max-submits", "-1"}, {"--max-submits", "0 to 1000000"}},
      {{"--prompt", "p", "--grace-s", "99999"}, {"--grace-s", "0 to 3600"}},
      {{"--prompt", "p", "--connections", "0"}, {"--connections", "1 to 256"}},
      {{"--prompt", "p", "--steps", "101"}, {"--steps", "1 to 100"}},
      {{"--prompt", "p", "--guidance", "30"}, {"--guidance", "1.5 to 20"}},
      {{"--batch", "/nonexistent/batch.jsonl"}, {"--batch", "/nonexistent/batch.jsonl"}},
      {{"--batch", "/nonexistent/batch.jsonl", "--prompt", "p"},
       {"--batch and --prompt are mutually exclusive"}},
      {{"--prompt", " \t  ", "--mock"}, {"--prompt holds only whitespace"}},
      {{"--prompt", "\xE3\x80\x80", "--mock"}, {"--prompt holds only whitespace"}},
      {{"--prompt", "a\xFF", "--mock"}, {"--prompt is not UTF-8 text"}},
      {{"--prompt", "a", "--negative-prompt", "n\xFF", "--mock", "--dry-run"},
       {"--negative-prompt is not UTF-8 text"}},
      {{"--batch", "/tmp", "--mock"}, {"--batch /tmp is a directory"}},
      {{"--prompt", "p", "--quiet", "--json"}, {"--json and --quiet cannot be used together"}},
      {{"--prompt", "p", "--config", "/nonexistent/zbatch.toml"}, {"/nonexistent/zbatch.toml"}},
  };
  for (const auto& c : cases) {
    test::temp_dir dir;
    const auto out = dir.path() / "out";
    auto args = c.args;
    args.insert(args.begin(), "generate");
    args.insert(args.end(), {"--out", out.string()});
    auto run = run_zbatch(args, c.key);
    const std::string label = c.args.back().substr(0, 40);
    EXPECT_EQ(run.exit_code, 2) << label << "\n" << run.out << run.err;
    for (const auto& text : c.expected) {
      EXPECT_NE(run.err.find(text), std::string::npos) << label << ": " << run.err;
    }
    EXPECT_FALSE(std::filesystem::exists(out)) << label;
  }
}

TEST(GenerateCli, OptionsFromAConfigFileAndQuietOutput) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.toml";
  std::ofstream(config) << "prompt = \"a red fox\"\ncount = 2\nseed = 500\n";
  auto run = run_zbatch({"generate", "--config", config.string(), "--mock", "--quiet",
                         "--poll-interval-ms", "50", "--out", out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_manifest_matches_files(out, 2, 500);
  // --quiet: the summary only (no start line, no per-image lines).
  EXPECT_EQ(run.out.rfind("delivered 2/2, failed 0", 0), 0u) << run.out;
  EXPECT_EQ(run.out.find("#0"), std::string::npos) << run.out;
}

// A new user's check: count = 1E400 in a config file was reported as "--count must be ...", as
// if typed. A value from the file names the file and its line; a typed one still the option.
TEST(GenerateCli, AMissingConfigFileNamesTheOption) {
  test::temp_dir dir;
  const auto missing = dir.path() / "none.toml";
  const auto run = run_zbatch(
      {"generate", "--config", missing.string(), "--mock", "--out", (dir.path() / "out").string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("zbatch generate: --config " + missing.string() + ": no such file"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
  // A directory exists but is no file to read.
  const auto folder = run_zbatch({"generate", "--config", dir.path().string(), "--mock", "--out",
                                  (dir.path() / "out").string()});
  EXPECT_EQ(folder.exit_code, 2) << folder.out << folder.err;
  EXPECT_NE(folder.err.find("--config " + dir.path().string() + ": the file cannot be read"),
            std::string::npos)
      << folder.err;
}

TEST(GenerateCli, AConfigFilesUnknownKeyOrSectionIsAnErrorNotSkipped) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.toml";
  std::ofstream(config) << "prompt = \"a red fox\"\ncuont = 4\nout = \"" << out.string() << "\"\n";
  auto run = run_zbatch({"generate", "--config", config.string(), "--mock"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(
      run.err.find("--config " + config.string() + ": unknown key 'cuont' (did you mean 'count'?)"),
      std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing was generated";
  std::ofstream(config) << "[generate]\nprompt = \"a red fox\"\nout = \"" << out.string() << "\"\n";
  run = run_zbatch({"generate", "--config", config.string(), "--mock"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + config.string() + ": section [generate] is not read"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// A new user's check: an unterminated quote was read as if closed (CLI11 drops the lone quote).
TEST(GenerateCli, AConfigValueWithAnUnclosedQuoteIsAnError) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.toml";
  std::ofstream(config) << "# a comment = \"\ncount = 1\nprompt = \"a red fox\nout = \""
                        << out.string() << "\"\n";
  const auto run = run_zbatch({"generate", "--config", config.string(), "--mock"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + config.string() +
                         ":3: the value of 'prompt' opens a \" it does not close"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing was generated";
}

// A new user's check: `prompt = a fox` in an INI file said "--prompt was given 2 values ...
// (prompt = "a fox" is from FILE)", quoting as one the value it called two.
TEST(GenerateCli, AnUnquotedConfigValueWithSpacesSaysToQuoteIt) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.ini";
  std::ofstream(config) << "prompt = a red fox\n";
  const auto run = run_zbatch(
      {"generate", "--config", config.string(), "--mock", "--out", out.string(), "--dry-run"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + config.string() +
                         ":1: the value of 'prompt' is not quoted, so it reads as 3 values (a "
                         "value with spaces or commas needs double quotes in a config file: "
                         "prompt = \"...\")"),
            std::string::npos)
      << run.err;
}

// A new user's check: a key on two lines (`count = 4`, `count = 8`) read as the value "4 8" and
// was blamed on quoting; `config = "x"` inside a config file said only "config: This option is
// not allowed in a configuration file", naming no file.
TEST(GenerateCli, AConfigKeyGivenTwiceOrNotAllowedNamesFileAndLine) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto twice = dir.path() / "twice.ini";
  std::ofstream(twice) << "count = 4\nprompt = \"a fox\"\ncount = 8\n";
  auto run = run_zbatch(
      {"generate", "--config", twice.string(), "--mock", "--out", out.string(), "--dry-run"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + twice.string() +
                         ":3: 'count' is given twice (first at line 1): keep one"),
            std::string::npos)
      << run.err;
  const auto nested = dir.path() / "nested.ini";
  std::ofstream(nested) << "prompt = \"a fox\"\nconfig = \"other.ini\"\n";
  run = run_zbatch(
      {"generate", "--config", nested.string(), "--mock", "--out", out.string(), "--dry-run"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + nested.string() +
                         ":2: 'config' cannot be set in a config file: give it on the command "
                         "line"),
            std::string::npos)
      << run.err;
}

// CLI11 2.1 cuts a config line at its first '#', inside quotes too: `prompt = "a #1 fox"` made
// and paid for an image of the prompt `"a` (a new user's check). Refused, nothing generated.
TEST(GenerateCli, AQuotedConfigValueHoldingAHashIsRefusedNotCut) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.ini";
  std::ofstream(config) << "count = 1 # one image\nprompt = \"a #1 fox\"\n";
  const auto run =
      run_zbatch({"generate", "--config", config.string(), "--mock", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--config " + config.string() +
                         ":2: the value of 'prompt' holds a '#', which this config reader takes "
                         "for a comment even inside quotes: move it to the command line "
                         "(--prompt)"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing was generated";
}

TEST(GenerateCli, AConfigFilesBadValueNamesTheFileAndKey) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  const auto config = dir.path() / "fox.toml";
  std::ofstream(config) << "prompt = \"a red fox\"\ncount = 1E400\nbatch = \"b.jsonl\"\n";
  auto run = run_zbatch({"generate", "--config", config.string(), "--mock", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  // batch from the file clashes with prompt from the file: the clash notes where batch was set.
  EXPECT_NE(run.err.find("--batch and --prompt are mutually exclusive"), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("(batch = b.jsonl is from " + config.string() + ")"), std::string::npos)
      << run.err;
  std::ofstream(config) << "prompt = \"a red fox\"\ncount = 1E400\n";
  run = run_zbatch({"generate", "--config", config.string(), "--mock", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("zbatch generate: " + config.string() +
                         ": count = 1E400: must be an integer from 1 to 1000\n"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("--count"), std::string::npos) << run.err;
  // Typed, the value overrides the file's and is blamed on the option.
  run = run_zbatch(
      {"generate", "--config", config.string(), "--mock", "--count", "0", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("--count must be an integer from 1 to 1000 (got \"0\")"),
            std::string::npos)
      << run.err;
  // A value CLI11 itself refuses while reading the file.
  std::ofstream(config) << "prompt = \"a red fox\"\nshared-limit = \"\"\n";
  run = run_zbatch({"generate", "--config", config.string(), "--mock", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find(config.string() + ": shared-limit = \"\": needs a URL"), std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(GenerateCli, OutMustBeADirectory) {
  test::temp_dir dir;
  const auto file = dir.path() / "a-file";
  std::ofstream(file) << "x";
  auto run = run_zbatch({"generate", "--prompt", "p", "--count", "1", "--base-url",
                         "http://127.0.0.1:1", "--out", file.string()});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("--out"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("not a directory"), std::string::npos) << run.err;
}

// A new user's check: a restarted run overlapping the one its killed wrapper left running paid
// twice for one image of four. While one run holds the directory's lock, another exits 2 naming
// it and sends nothing (the refusal comes before any request: the base URL never answers).
TEST(GenerateCli, ASecondRunInTheSameDirectoryExitsTwoNamingTheRunningOne) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  std::filesystem::create_directories(out);
  const int held = ::open((out / "journal.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::write(held, "4242\n", 5), 5);
  const auto key_file = dir.path() / "key";
  std::ofstream(key_file) << "ms-file-key\n";
  auto run =
      run_zbatch({"generate", "--prompt", "p", "--count", "1", "--base-url", "https://192.0.2.1:9",
                  "--api-key-file", key_file.string(), "--out", out.string()});
  ::close(held);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("another zbatch generate (pid 4242) is running in this directory"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(out / "journal.jsonl")) << "nothing read or written";
}

TEST(GenerateCli, RemoteHostWithoutKeyIsRefusedBeforeAnyRequest) {
  // 192.0.2.1 (TEST-NET-1) never answers: a request would hang for the connect time-out, a
  // refusal does not try. Either way no traffic leaves loopback when the check works.
  for (const char* url : {"https://192.0.2.1", "https://api-inference.modelscope.cn", ""}) {
    test::temp_dir dir;
    const auto out = dir.path() / "out";
    std::vector<std::string> args{"generate", "--prompt", "p",         "--count",
                                  "1",        "--out",    out.string()};
    if (*url != '\0') {
      args.insert(args.end(), {"--base-url", url});
    }
    auto run = run_zbatch(args);
    EXPECT_EQ(run.exit_code, 2) << url << run.out << run.err;
    EXPECT_NE(run.err.find("MODELSCOPE_API_KEY"), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "") << url;
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

// `generate --help`'s own example: a dry run sends nothing, so it needs no key (it exited 2
// asking for one, naming --base-url, which was not given).
TEST(GenerateCli, ADryRunNeedsNoKeyAndSaysTheRealRunDoes) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  auto run = run_zbatch(
      {"generate", "--prompt", "a red fox", "--count", "600", "--dry-run", "--out", out.string()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("600 image(s) would be submitted"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("no API key was given: the real run needs MODELSCOPE_API_KEY"),
            std::string::npos)
      << run.out;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// New users' checks: the dry run's summary event named a manifest it never wrote, and its plan
// event the endpoint "http://127.0.0.1:1" of a mock it never started.
TEST(GenerateCli, ADryRunsJsonSummaryNamesNoManifestNorAnEndpoint) {
  test::temp_dir dir;
  const auto out = dir.path() / "out";
  auto run = run_zbatch(
      {"generate", "--mock", "--prompt", "a fox", "--dry-run", "--json", "--out", out.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto lines = run.out;
  while (!lines.empty() && lines.back() == '\n') {
    lines.pop_back();
  }
  const auto last = lines.substr(lines.rfind('\n') + 1);  // one JSON object per line
  const auto summary = nlohmann::json::parse(last);
  EXPECT_EQ(summary["event"], "summary") << last;
  EXPECT_EQ(summary["dry_run"], true);
  EXPECT_TRUE(summary["manifest"].is_null()) << last;
  EXPECT_FALSE(std::filesystem::exists(out));
  const auto plan = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
  EXPECT_EQ(plan["event"], "plan") << lines;
  EXPECT_TRUE(plan["endpoint"].is_null()) << lines;
}

TEST(GenerateCli, NoArgumentsIsUsage) {
  EXPECT_EQ(run_zbatch({"generate"}).exit_code, 2);
  EXPECT_EQ(run_zbatch({}).exit_code, 2);
}

}  // namespace
}  // namespace zbatch
