// The scenario runner end to end: determinism in virtual time, sim vs http agreement, the bound
// and efficiency of a scenario computed by hand, and the CLI's exit codes for thresholds and bad
// input.

#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_api/server.hpp"
#include "reports/terminal.hpp"
#include "scenarios/profile.hpp"
#include "scenarios/runner.hpp"
#include "scenarios/scenario.hpp"
#include "tests/fakes/header_flood.hpp"

namespace zbatch::scenarios {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

/// The `ideal` profile made exact: no queueing, 3 s per image, no response delay, and `cap`
/// tasks in flight per key (0: none; above it every submit is refused, no luck involved).
json exact_profile(int cap) {
  return json{{"name", "ideal"},
              {"overrides",
               {{"generation", {{"queue", {{"kind", "fixed"}, {"ms", 0}}}}},
                {"throttle", {{"in_flight_cap", cap}}}}}};
}

scenario exact_scenario(int cap, int images, json strategies, json thresholds = json::array()) {
  return parse_scenario(json{{"version", 1},
                             {"name", "exact"},
                             {"profile", exact_profile(cap)},
                             {"workload", {{"batches", 1}, {"images_per_batch", images}}},
                             {"strategies", std::move(strategies)},
                             {"repetitions", 1},
                             {"seed", 5},
                             {"thresholds", std::move(thresholds)}},
                        "exact.json")
      .value();
}

const ordered_json& strategy(const ordered_json& results, const std::string& name) {
  for (const auto& s : results["strategies"]) {
    if (s["name"] == name) {
      return s;
    }
  }
  throw std::runtime_error("no strategy " + name);
}

// A new user's check: a threshold on a reference the run would not have failed after the whole
// run with "measured -" (exit 1). Refused before anything plays (exit 2).
TEST(runner, a_threshold_on_a_reference_the_run_lacks_is_refused_before_it_plays) {
  const auto clairvoyant = exact_scenario(1, 2, json::array({"serial"}),
                                          json::array({"serial.efficiency_vs_clairvoyant > 0.5"}));
  const auto refused = run_scenario(clairvoyant, run_options{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), status_code::invalid_argument);
  EXPECT_NE(refused.status().message().find("needs the clairvoyant reference"), std::string::npos)
      << refused.status().message();
  // Named like every other error of the file: FILE (the name here: no file) and field.
  EXPECT_EQ(refused.status().message().rfind("exact: thresholds[0]: ", 0), 0)
      << refused.status().message();
  const auto regret =
      exact_scenario(1, 2, json::array({"serial"}), json::array({"serial.regret_ms < 1000"}));
  run_options without;
  without.hindsight = false;
  const auto no_grid = run_scenario(regret, without);
  ASSERT_FALSE(no_grid.ok());
  EXPECT_NE(no_grid.status().message().find("needs the hindsight grid, which this run does not "
                                            "play (--no-hindsight)"),
            std::string::npos)
      << no_grid.status().message();
  EXPECT_EQ(no_grid.status().message().rfind("exact: thresholds[0]: ", 0), 0)
      << no_grid.status().message();
}

TEST(runner, sim_results_are_byte_identical_for_the_same_file_and_seed) {
  // flaky: random faults, retries and jitter, so any nondeterminism would show.
  const auto s = load_scenario(fs::path(ZBATCH_SCENARIO_DIR) / "flaky.json").value();
  run_options options;
  options.repetitions = 2;
  const auto first = run_scenario(s, options).value().dump(2);
  const auto second = run_scenario(s, options).value().dump(2);
  EXPECT_EQ(first, second);
  options.threads = 1;  // Sequential runs must give the same bytes as the worker threads.
  EXPECT_EQ(run_scenario(s, options).value().dump(2), first);
  options.seed = s.seed + 100;  // ...and another seed a different run (the check can fail).
  EXPECT_NE(run_scenario(s, options).value().dump(2), first);
}

/// 20 images under `adaptive`, 1 s each, no cap; 30 % of submits are reset after the task was
/// created (faults.transport_after_accept): the service charged them, the client never saw them
/// accepted.
scenario lost_answers_scenario() {
  auto profile = exact_profile(0);
  profile["overrides"]["faults"] = {{"submit", {{"reset", 0.3}}}};
  profile["overrides"]["generation"]["time"] = {{"kind", "fixed"}, {"ms", 1000}};
  return parse_scenario(json{{"version", 1},
                             {"name", "lost-answers"},
                             {"profile", profile},
                             {"workload", {{"batches", 1}, {"images_per_batch", 20}}},
                             {"strategies", {"adaptive"}},
                             {"repetitions", 1},
                             {"seed", 5}},
                        "lost-answers.json")
      .value();
}

// A new user's scenario of 10-minute images: every preset's 5-minute deadline gave up tasks it
// had paid for, and nothing said so. The results carry a warning naming the strategies and a
// deadline that fits; every report shows it after the recommendation.
TEST(runner, a_poll_deadline_shorter_than_the_images_is_warned_of) {
  auto profile = exact_profile(2);
  profile["overrides"]["generation"]["time"] = {{"kind", "fixed"}, {"ms", 600'000}};
  const auto s =
      parse_scenario(
          json{{"version", 1},
               {"name", "slow"},
               {"profile", profile},
               {"workload", {{"batches", 1}, {"images_per_batch", 2}}},
               {"strategies",
                {"serial", {{"label", "patient"}, {"spec", "adaptive,poll=1s:deadline=30m"}}}},
               {"repetitions", 1},
               {"seed", 5}},
          "slow.json")
          .value();
  run_options options;
  options.hindsight = false;
  const auto results = run_scenario(s, options).value();
  ASSERT_EQ(results["warnings"].size(), 1u) << results.dump(2);
  const auto warning = results["warnings"][0].get<std::string>();
  EXPECT_EQ(warning.rfind("serial: the poll deadline (at most 5 min) ends before a median image of "
                          "this workload is ready (10 min): tasks are given up after they were "
                          "paid; give the strategy a longer one (e.g. --strategy "
                          "'adaptive,poll=1s:deadline=20m')",
                          0),
            0u)
      << warning;
  EXPECT_NE(reports::terminal_table(results).find("Warning: serial: the poll deadline"),
            std::string::npos);
  // Deadlines that fit: no warning, and results as before.
  EXPECT_FALSE(
      run_scenario(exact_scenario(2, 2, {"serial"}), options).value().contains("warnings"));
}

// The cost figures are the service's count (the brief: "every figure of cost counts what the
// service charged, not only what zbatch saw").
// A new user's check: in http mode at time scale 0.01, two repetitions of adaptive on preview-4
// paused 100 s on a 429 read as the submit rate: the rate window (1 s) stayed 1 s of wall time.
// Every duration a strategy acts on follows the clock, the policy's constants included.
TEST(runner, http_mode_scales_every_duration_of_the_strategy) {
  const auto spec = actors::parse_strategy("adaptive").value();
  const auto scaled = scale_strategy(spec, 0.01);
  using actors::millis;
  EXPECT_EQ(scaled.inflight.rate_window, millis{10});
  EXPECT_EQ(scaled.poll.fit_min_gap, millis{3}) << "250 ms x 0.01, rounded";
  EXPECT_EQ(scaled.poll.hung.floor, millis{300});
  EXPECT_EQ(scaled.poll.interval, millis{10});
  EXPECT_EQ(scaled.retry.base, millis{5});
  EXPECT_EQ(scaled.circuit.open_for, millis{100});
}

TEST(runner, paid_submits_count_the_tasks_whose_answer_was_lost) {
  run_options options;
  options.hindsight = false;
  const auto results = run_scenario(lost_answers_scenario(), options).value();
  const auto& run = strategy(results, "adaptive")["runs"][0];
  const auto& submit = run["requests"]["submit"];
  ASSERT_TRUE(submit.contains("reset")) << "no answer was lost: no test";
  const auto created = submit["200"].get<std::int64_t>() + submit["reset"].get<std::int64_t>();
  EXPECT_EQ(run["submits"], created);
  EXPECT_LT(run["delivered"].get<std::int64_t>(), created)
      << "the lost ones were paid, undelivered";
}

// A new user's check: five built-in scenarios failed in http mode ("poll.interval: value 2ms is
// out of range"): their time scale puts adaptive's 1 s interval under the knob's 10 ms floor.
// The scaled spec is the runner's, not the user's: it is not held to the knobs' ranges.
TEST(runner, http_mode_plays_a_time_scale_that_takes_durations_under_the_knobs_ranges) {
  const auto s = exact_scenario(1, 2, json::array({"adaptive"}));
  run_options options;
  options.hindsight = false;
  options.mode = run_mode::http;
  options.time_scale = 0.002;  // adaptive's 1 s poll interval: 2 ms; its 30 s hung floor: 60 ms
  const auto results = run_scenario(s, options);
  ASSERT_TRUE(results.ok()) << results.status().message();
  EXPECT_EQ(strategy(*results, "adaptive")["runs"][0]["delivered"], 2);
}

// The same count from a mock already running (`--mode http --base-url`): the runner reads its
// /admin/stats `tasks.created` after the run (add_mock_stats), not the answers it saw.
TEST(runner, paid_submits_from_a_running_mock_are_its_tasks_created) {
  const auto s = lost_answers_scenario();
  mock::server server(scale_config(resolve_profile(s).value(), 0.05), 7);
  run_options options;
  options.hindsight = false;
  options.mode = run_mode::http;
  options.time_scale = 0.05;
  options.base_url = server.base_url();
  const auto results = run_scenario(s, options).value();
  const auto& run = strategy(results, "adaptive")["runs"][0];
  const auto& submit = run["requests"]["submit"];
  ASSERT_TRUE(submit.contains("reset")) << "no answer was lost: no test; " << submit.dump();
  const auto created = server.mock_model().stats()["tasks"]["created"].get<std::int64_t>();
  EXPECT_EQ(run["submits"], created);
  EXPECT_GT(created, submit["200"].get<std::int64_t>()) << "a reset after the task was created";
}

/// The new user's live repro, made fast: 10 images against a mock (live mode, `--base-url`)
/// that resets 40 % of submits after charging 2 credits for the task, under a strategy that
/// resubmits a lost answer (as `retry` does) up to 2 times.
scenario charged_resets_scenario() {
  auto profile = exact_profile(0);
  profile["overrides"]["faults"] = {{"submit", {{"reset", 0.4}}}, {"transport_after_accept", true}};
  profile["overrides"]["generation"]["time"] = {{"kind", "fixed"}, {"ms", 20}};
  profile["overrides"]["throttle"]["quota"] = {
      {"enabled", true}, {"daily_credits", 1000}, {"cost_per_task", 2}};
  return parse_scenario(
             json{{"version", 1},
                  {"name", "charged-resets"},
                  {"profile", profile},
                  {"workload", {{"batches", 1}, {"images_per_batch", 10}}},
                  {"strategies",
                   {{{"label", "resubmits"},
                     {"spec",
                      "retry,inflight=4,retry=2:const:base=10ms:cap=10ms,poll=20ms:x1:cap=20ms"}}}},
                  {"repetitions", 1},
                  {"seed", 3},
                  {"live", {{"max_images", 10}}}},
             "charged-resets.json")
      .value();
}

/// A live run of charged_resets_scenario against a mock on loopback; its results and the mock's
/// stats after it.
std::pair<ordered_json, json> live_run_against_charged_resets() {
  const auto s = charged_resets_scenario();
  mock::server server(resolve_profile(s).value(), 11);
  run_options options;
  options.mode = run_mode::live;
  options.allow_cost = true;
  options.api_key = "ms-test-key";
  options.base_url = server.base_url();
  auto results = run_scenario(s, options);
  if (!results.ok()) {
    throw std::runtime_error(results.status().message());
  }
  return {*std::move(results), server.mock_model().stats()};
}

// The new user's repro: live mode said "submits 5, 1.00 per image, 10 credits" while the mock had
// created 8 tasks and charged 16 credits; the lost answers were counted nowhere.
TEST(runner, a_live_run_counts_its_possibly_paid_submits_and_the_high_end_covers_the_charge) {
  const auto [results, stats] = live_run_against_charged_resets();
  const auto created = stats["tasks"]["created"].get<std::int64_t>();
  const auto& run = strategy(results, "resubmits")["runs"][0];
  const auto accepted = run["submits"].get<std::int64_t>();
  ASSERT_GT(created, accepted) << "no charged answer was lost: no test";
  EXPECT_GE(accepted + run.value("submits_possibly_paid", std::int64_t{0}), created);
  const auto delivered = run["delivered"].get<double>();
  ASSERT_GT(delivered, 0);
  EXPECT_GE(run.value("submits_per_image_high", 0.0) * delivered, created - 0.01);
  const double charged = stats["credits"]["used"].get<double>();
  EXPECT_GE(run.value("credits_used_high", 0.0), charged - 1e-9);
  EXPECT_LT(run["credits_used"].get<double>(), charged) << "the low end: what was seen accepted";
}

// The same repro: "a run would spend at most 10 credits" before a run charged 16.
TEST(runner, the_live_cost_estimate_bounds_what_the_run_was_charged) {
  const auto s = charged_resets_scenario();
  run_options options;
  const double estimate = live_cost_estimate(s, options).value();
  const auto [results, stats] = live_run_against_charged_resets();
  const double charged = stats["credits"]["used"].get<double>();
  ASSERT_GT(charged, 10 * 2) << "no resubmit was charged: no test";
  EXPECT_GE(estimate, charged);
  EXPECT_DOUBLE_EQ(estimate, 10 * 3 * 2) << "10 images x (1 + 2 resubmits) x 2 credits";
}

// The hindsight-best's "at most 1.05 paid submits per delivered image" counts possibly paid
// submits: here 30 % of submits are reset before the task was created, so the mock charges one
// task per delivered image, but the client cannot know that a lost answer hid no task.
TEST(runner, the_hindsight_submit_budget_counts_possibly_paid_submits) {
  auto profile = exact_profile(0);
  profile["overrides"]["faults"] = {{"submit", {{"reset", 0.3}}},
                                    {"transport_after_accept", false}};
  profile["overrides"]["generation"]["time"] = {{"kind", "fixed"}, {"ms", 1000}};
  const auto s = parse_scenario(json{{"version", 1},
                                     {"name", "uncharged-resets"},
                                     {"profile", profile},
                                     {"workload", {{"batches", 1}, {"images_per_batch", 20}}},
                                     {"strategies", {"serial"}},
                                     {"repetitions", 1},
                                     {"seed", 5}},
                                "uncharged-resets.json")
                     .value();
  const auto results = run_scenario(s, run_options{}).value();
  const auto& hindsight = results["hindsight"];
  const auto& best = hindsight["best"];
  ASSERT_TRUE(best.is_object()) << hindsight.dump();
  EXPECT_DOUBLE_EQ(best["submits_per_image"].get<double>(), 1.0) << "the mock's count";
  ASSERT_GT(best.value("submits_per_image_high", 0.0), 1.05) << "nothing possibly paid: no test";
  EXPECT_GE(hindsight["max_submits_per_image"].get<double>(),
            best["submits_per_image_high"].get<double>());
  EXPECT_NE(hindsight["relaxed"].dump().find("submits_per_image"), std::string::npos)
      << "no entry met 1.05 counting possibly paid submits: the budget is raised and named";
}

TEST(runner, bound_and_efficiency_of_serial_and_retry_under_a_cap_of_1_by_hand) {
  const auto s = exact_scenario(1, 4, json::array({"serial", "retry"}));
  const auto results = run_scenario(s, run_options{}).value();
  // Bound: one slot, 4 images of 3 s each, back to back.
  EXPECT_EQ(results["bound"]["makespan_ms"], 12000);
  // serial: each image takes 3 s (polls at 1, 2, 3 s), then the preset waits 2 s before the
  // next submit: 4 × 3 s + 3 × 2 s = 18 s, so efficiency = 12 / 18.
  const auto& serial = strategy(results, "serial");
  EXPECT_EQ(serial["success_rate"], 1.0);
  EXPECT_EQ(serial["makespan_ms"], 18000);
  EXPECT_EQ(serial["efficiency"], 0.667);
  EXPECT_EQ(serial["latency_ms"]["p50"], 8000);  // All queued at 0; the 2nd ends at 3+2+3 s.
  EXPECT_EQ(serial["submits_per_image"], 1.0);
  // retry: serial without the gap, so it meets the bound exactly.
  const auto& retry = strategy(results, "retry");
  EXPECT_EQ(retry["makespan_ms"], 12000);
  EXPECT_EQ(retry["efficiency"], 1.0);
  EXPECT_EQ(retry["requests"]["poll"]["200"], 12.0);  // 3 polls per image.
}

TEST(runner, large_scenarios_keep_at_most_1000_image_records) {
  const auto s = exact_scenario(0, 1500, json::array({"concurrent"}));
  const auto results = run_scenario(s, run_options{}).value();
  const auto& concurrent = strategy(results, "concurrent");
  EXPECT_EQ(concurrent["delivered"], 1500.0);            // Metrics use every image...
  EXPECT_EQ(concurrent["image_records"].size(), 1000u);  // ...the records only the first 1000.
  EXPECT_EQ(concurrent["image_records_omitted"], 500);
  EXPECT_FALSE(concurrent["image_records"][999]["trace"].empty());
}

TEST(runner, sim_and_http_agree_on_a_fixed_latency_scenario) {
  // No cap, fixed 3 s, no faults: serial takes 4 × 3 + 3 × 2 = 18 s, bounded (2 in flight)
  // 2 × 3 = 6 s in virtual time. Over loopback at time scale 0.1 both deliver everything and are
  // never faster than virtual time (less 10 ms for rounding). How much slower is a speed figure,
  // measured by bench/sim_vs_http.sh, not asserted here (house rule: no wall-clock bounds).
  const auto s = exact_scenario(0, 4, json::array({"serial", "bounded"}));
  // Timing only: no hindsight grid (28 more sim runs before the http ones; under ASan they leave
  // the process slower for the measured runs).
  run_options quick;
  quick.hindsight = false;
  const auto sim = run_scenario(s, quick).value();
  run_options http = quick;
  http.mode = run_mode::http;
  http.time_scale = 0.1;
  const auto real = run_scenario(s, http).value();
  for (const char* name : {"serial", "bounded"}) {
    SCOPED_TRACE(name);
    const double virtual_ms = strategy(sim, name)["makespan_ms"].get<double>();
    const double wall_ms = strategy(real, name)["makespan_ms"].get<double>();
    EXPECT_EQ(strategy(sim, name)["success_rate"], 1.0);
    EXPECT_EQ(strategy(real, name)["success_rate"], 1.0);
    EXPECT_GE(wall_ms, virtual_ms - 10);
  }
  EXPECT_EQ(strategy(sim, "serial")["makespan_ms"], 18000);
  EXPECT_EQ(strategy(sim, "bounded")["makespan_ms"], 6000);
}

// ---- the CLI --------------------------------------------------------------------------------

class cli_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("zbatch-runner-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const json& document) {
    const auto path = dir_ / name;
    std::ofstream(path) << document.dump(2);
    return path;
  }

  /// Runs `[ENV] zbatch scenario run FILE --out DIR --quiet [OPTIONS]`; returns the exit code,
  /// keeps stderr.
  int run(const fs::path& file, const std::string& options = {}, const std::string& env = {}) {
    const auto command = env + " '" + ZBATCH_BIN + "' scenario run '" + file.string() +
                         "' --out '" + (dir_ / "out").string() + "' --quiet " + options + " > '" +
                         (dir_ / "stdout").string() + "' 2> '" + (dir_ / "stderr").string() + "'";
    const int status = std::system(command.c_str());
    std::ifstream in(dir_ / "stderr");
    std::stringstream text;
    text << in.rdbuf();
    stderr_ = text.str();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static json document(json thresholds) {
    return json{{"version", 1},
                {"name", "exact"},
                {"profile", exact_profile(1)},
                {"workload", {{"batches", 1}, {"images_per_batch", 2}}},
                {"strategies", {"serial"}},
                {"seed", 3},
                {"thresholds", std::move(thresholds)}};
  }

  fs::path dir_;
  std::string stderr_;
};

TEST_F(cli_test, passing_thresholds_exit_0_and_write_results) {
  // serial, 2 images: 3 + 2 + 3 = 8 s.
  const auto file =
      write("pass.json", document({"serial.success_rate >= 0.99", "serial.makespan_ms <= 8000"}));
  EXPECT_EQ(run(file), 0) << stderr_;
  const auto results = json::parse(std::ifstream(dir_ / "out" / "results.json"));
  EXPECT_EQ(results["thresholds"][1]["passed"], true);
  EXPECT_EQ(results["strategies"][0]["makespan_ms"], 8000);
  // --quiet: the table only, no progress lines and no "wrote FILE" lines.
  std::stringstream out;
  out << std::ifstream(dir_ / "stdout").rdbuf();
  EXPECT_EQ(out.str().find("wrote "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("serial"), std::string::npos) << out.str();
  EXPECT_EQ(stderr_, "");
}

/// Two clients of 3 images each on one key, over loopback at a time scale of 0.1: 5 s tasks
/// (500 ms scaled), so the clients' first tasks overlap even when a loaded machine starts the
/// second client a second after the first.
json two_clients_document() {
  auto profile = exact_profile(1);
  profile["overrides"]["generation"]["time"] = {{"kind", "fixed"}, {"ms", 5000}};
  return json{{"version", 1},
              {"name", "two-clients"},
              {"profile", profile},
              {"workload", {{"batches", 2}, {"images_per_batch", 3}}},
              {"clients", 2},
              {"strategies", {"retry"}},
              {"http", {{"time_scale", 0.1}}},
              {"seed", 3}};
}

TEST_F(cli_test, http_mode_with_clients_compares_a_redis_shared_limit_with_independent_ones) {
  const auto file = write("two.json", two_clients_document());
  ASSERT_EQ(run(file, "--mode http --no-hindsight"), 0) << stderr_;
  const auto results = json::parse(std::ifstream(dir_ / "out" / "results.json"));
  EXPECT_EQ(results["mode"], "http");
  EXPECT_EQ(results["clients"], 2);
  const auto& shared = results["strategies"][0];
  // One task in flight at the key, refused above it: shared, no submit is refused; independent,
  // both clients start at once with a task each, so one of the two is refused.
  EXPECT_EQ(shared["delivered"], 6);
  EXPECT_EQ(shared["http_429"]["dynamic"], 0);
  EXPECT_GT(shared["independent"]["http_429"]["dynamic"].get<double>(), 0);
  std::stringstream out;
  out << std::ifstream(dir_ / "stdout").rdbuf();
  EXPECT_NE(out.str().find("2 clients on one API key: one shared limiter vs independent limiters"),
            std::string::npos)
      << out.str();
}

// A new user's check: a directory at DIR/results.json was found after the run played (exit 3,
// "filesystem error: cannot rename", the table never printed). Refused before it plays.
TEST_F(cli_test, a_directory_where_results_go_exits_2_before_the_run_plays) {
  const auto file = write("pass.json", document(json::array()));
  fs::create_directories(dir_ / "out" / "report.md");
  EXPECT_EQ(run(file, "--no-hindsight"), 2);
  EXPECT_NE(stderr_.find((dir_ / "out" / "report.md").string() +
                         " is not a regular file, so the run's results could not be written "
                         "there; move it away or choose another --out"),
            std::string::npos)
      << stderr_;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));
}

TEST_F(cli_test, http_mode_with_clients_and_no_redis_server_exits_2_before_any_run) {
  const auto file = write("two.json", two_clients_document());
  EXPECT_EQ(run(file, "--mode http", "ZBATCH_REDIS_SERVER=/nonexistent/redis-server"), 2);
  EXPECT_NE(stderr_.find("two.json: clients: 2 clients in http mode share their limit through a "
                         "redis-server on 127.0.0.1: ZBATCH_REDIS_SERVER=/nonexistent/redis-server "
                         "is not an executable redis-server"),
            std::string::npos)
      << stderr_;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));
}

TEST_F(cli_test, http_mode_against_a_base_url_answering_without_end_exits_3_naming_the_url) {
  // The mock's first admin call (/admin/stats, the check that it is up) answered with a body
  // that never ends: cut off at the admin calls' 64 MiB cap (client/mock_admin.hpp) instead of
  // read until memory runs out; no run starts.
  const std::uint64_t flood_bytes = std::uint64_t{256} << 20;
  test::fake::header_flood endless(test::fake::header_flood::shape::endless_body, flood_bytes);
  const auto file = write("pass.json", document(json::array()));
  EXPECT_EQ(run(file, "--mode http --no-hindsight --base-url " + endless.url()), 3);
  EXPECT_NE(stderr_.find(
                "zbatch scenario: GET " + endless.url() +
                "/admin/stats: answer larger than 67108864 bytes (64 MiB) (is it a zbatch mock on "
                "loopback?)"),
            std::string::npos)
      << stderr_;
  ASSERT_TRUE(endless.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_EQ(endless.connections_cut(), 1) << "zbatch closed the connection, not the fake";
  EXPECT_LT(endless.most_on_one_connection(), flood_bytes / 2);
  EXPECT_FALSE(fs::exists(dir_ / "out")) << "a failed run leaves no empty --out behind";
}

TEST_F(cli_test, a_mock_that_is_down_is_found_before_the_hindsight_grid_plays) {
  const auto file = write("pass.json", document(json::array()));
  const auto command = "'" + std::string(ZBATCH_BIN) + "' scenario run '" + file.string() +
                       "' --out '" + (dir_ / "out").string() +
                       "' --mode http --base-url http://127.0.0.1:1 > '" +
                       (dir_ / "stdout").string() + "' 2> '" + (dir_ / "stderr").string() + "'";
  const int status = std::system(command.c_str());
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 3);
  const auto text = [this](const char* name) {
    std::stringstream in;
    in << std::ifstream(dir_ / name).rdbuf();  // an empty file leaves `in` empty, not failed
    return in.str();
  };
  EXPECT_EQ(text("stdout").find("hindsight grid"), std::string::npos) << text("stdout");
  EXPECT_NE(text("stderr").find("GET http://127.0.0.1:1/admin/stats: could not connect"),
            std::string::npos)
      << text("stderr");
}

TEST_F(cli_test, a_failed_run_removes_only_the_directories_it_created_and_only_when_empty) {
  const auto file = write("pass.json", document(json::array()));
  const auto silent = "--mode http --no-hindsight --base-url http://127.0.0.1:1";
  // --out nested two levels deep under dir_: both levels were created by the run, both go.
  const auto nested = dir_ / "a" / "b";
  const auto command = [&](const fs::path& out) {
    return "'" + std::string(ZBATCH_BIN) + "' scenario run '" + file.string() + "' --out '" +
           out.string() + "' --quiet " + silent + " > /dev/null 2>&1";
  };
  EXPECT_NE(std::system(command(nested).c_str()), 0);
  EXPECT_FALSE(fs::exists(dir_ / "a"));
  // An --out that was there before, with a user's file in it, is left as it was.
  fs::create_directories(dir_ / "mine");
  std::ofstream(dir_ / "mine" / "notes.txt") << "keep me";
  EXPECT_NE(std::system(command(dir_ / "mine").c_str()), 0);
  EXPECT_TRUE(fs::exists(dir_ / "mine" / "notes.txt"));
}

TEST_F(cli_test, an_option_the_mode_does_not_read_is_noted_not_silently_ignored) {
  const auto file = write("pass.json", document(json::array()));
  EXPECT_EQ(run(file, "--no-hindsight --time-scale 0.5 --max-images 3"), 0) << stderr_;
  EXPECT_NE(stderr_.find("zbatch scenario: note: --time-scale applies to --mode http only; "
                         "ignored in sim mode"),
            std::string::npos)
      << stderr_;
  EXPECT_NE(stderr_.find("note: --max-images applies to --mode live only; ignored in sim mode"),
            std::string::npos)
      << stderr_;
  EXPECT_EQ(stderr_.find("--threads"), std::string::npos) << "sim reads --threads: " << stderr_;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "results.json"));
}

TEST_F(cli_test, live_mode_without_an_image_cap_says_how_to_set_one) {
  const auto file = write("pass.json", document(json::array()));
  // Refused before any request (and before the key is read): the base URL is never contacted.
  EXPECT_EQ(run(file, "--mode live --allow-cost --no-hindsight --base-url http://127.0.0.1:1"), 2)
      << stderr_;
  EXPECT_NE(stderr_.find("live mode needs a hard cap on the images it may pay for: set "
                         "--max-images N (1..1000) or the scenario's live.max_images (this "
                         "workload has 2 images per run)"),
            std::string::npos)
      << stderr_;
  EXPECT_EQ(stderr_.find("cap of 0"), std::string::npos) << stderr_;
}

// A new user's check: live mode named one refusal per run (the cost, then the cap, then the key).
TEST_F(cli_test, live_mode_names_every_refusal_at_once) {
  const auto file = write("pass.json", document(json::array()));
  EXPECT_EQ(run(file, "--mode live --no-hindsight --base-url http://127.0.0.1:1"), 2) << stderr_;
  EXPECT_NE(stderr_.find("add --allow-cost to accept an estimated"), std::string::npos) << stderr_;
  EXPECT_NE(stderr_.find("live mode needs a hard cap on the images it may pay for"),
            std::string::npos)
      << stderr_;
}

// A new user's check: a live run whose every connection was refused exited 1 (a threshold
// failed on a table of nothing), as if the strategies had been measured.
TEST_F(cli_test, live_mode_that_reaches_no_service_exits_3_naming_the_url) {
  const auto file = write("pass.json", document({"serial.success_rate >= 0.99"}));
  std::ofstream(dir_ / "key") << "ms-not-a-real-key\n";
  const auto options = "--mode live --allow-cost --max-images 2 --no-hindsight --api-key-file '" +
                       (dir_ / "key").string() + "' --base-url http://127.0.0.1:1";
  EXPECT_EQ(run(file, options), 3) << stderr_;
  EXPECT_NE(stderr_.find("live mode: no request reached http://127.0.0.1:1 ("), std::string::npos)
      << stderr_;
  EXPECT_NE(stderr_.find("nothing was sent or paid"), std::string::npos) << stderr_;
  EXPECT_EQ(stderr_.find("ms-not-a-real-key"), std::string::npos) << "the key is never printed";
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));
}

// A new user's check: a run without --report into an --out holding an earlier run's reports
// left them beside the new results.json (report.md of another scenario, junit.xml read by CI).
TEST_F(cli_test, a_run_without_report_removes_an_earlier_runs_reports) {
  const auto file = write("pass.json", document(json::array()));
  ASSERT_EQ(run(file, "--no-hindsight --report"), 0) << stderr_;
  ASSERT_TRUE(fs::exists(dir_ / "out" / "junit.xml"));
  std::ofstream(dir_ / "out" / "notes.txt") << "mine";
  EXPECT_EQ(run(file, "--no-hindsight"), 0) << stderr_;
  for (const char* name : {"report.md", "report.html", "results.csv", "junit.xml"}) {
    EXPECT_FALSE(fs::exists(dir_ / "out" / name)) << name;
  }
  EXPECT_TRUE(fs::exists(dir_ / "out" / "results.json"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "notes.txt")) << "only the report files go";
  EXPECT_NE(stderr_.find("note: removed report.md, report.html, results.csv, junit.xml of an "
                         "earlier run from "),
            std::string::npos)
      << stderr_;
}

// A new user's check: "adaptive" labelling a concurrent spec was reported as adaptive.
TEST_F(cli_test, a_preset_name_labelling_another_spec_is_refused) {
  auto doc = document(json::array());
  doc["strategies"] = {json{{"label", "adaptive"}, {"spec", "concurrent"}}};
  const auto file = write("shadow.json", doc);
  EXPECT_EQ(run(file, "--no-hindsight"), 2) << stderr_;
  EXPECT_NE(stderr_.find("shadow.json: strategies[0]: label \"adaptive\" is a preset's name, but "
                         "the spec is not that preset ("),
            std::string::npos)
      << stderr_;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));
  doc["strategies"] = {json{{"label", "Adaptive"}, {"spec", "concurrent"}}};
  EXPECT_EQ(run(write("shadow2.json", doc), "--no-hindsight"), 2) << stderr_;
  // The preset itself under its own name, and another label on any spec, stay fine.
  doc["strategies"] = {json{{"label", "adaptive"}, {"spec", "adaptive"}},
                       json{{"label", "fast"}, {"spec", "concurrent"}}};
  EXPECT_EQ(run(write("fine.json", doc), "--no-hindsight"), 0) << stderr_;
}

TEST_F(cli_test, a_failing_threshold_exits_1) {
  const auto file =
      write("fail.json", document({"serial.success_rate >= 0.99", "serial.makespan_ms < 8000"}));
  EXPECT_EQ(run(file), 1) << stderr_;
  const auto results = json::parse(std::ifstream(dir_ / "out" / "results.json"));
  EXPECT_EQ(results["thresholds"][0]["passed"], true);
  EXPECT_EQ(results["thresholds"][1]["passed"], false);
  EXPECT_EQ(results["thresholds"][1]["value"], 8000);
}

TEST_F(cli_test, bad_input_exits_2_naming_the_file_and_field) {
  auto bad = document(json::array());
  bad["workload"]["images_per_batch"] = 0;
  const auto file = write("bad.json", bad);
  EXPECT_EQ(run(file), 2);
  EXPECT_NE(stderr_.find("bad.json"), std::string::npos) << stderr_;
  EXPECT_NE(stderr_.find("workload.images_per_batch"), std::string::npos) << stderr_;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));

  const auto unknown_metric = write("metric.json", document({"serial.speed > 1"}));
  EXPECT_EQ(run(unknown_metric), 2);
  EXPECT_NE(stderr_.find("thresholds[0]"), std::string::npos) << stderr_;
}

// Issue 17: a file with only a version exited 3 with a raw library exception.
TEST_F(cli_test, a_missing_field_exits_2_naming_the_file_and_field) {
  const auto file = write("version-only.json", json{{"version", 1}});
  EXPECT_EQ(run(file), 2) << stderr_;
  EXPECT_NE(stderr_.find(file.string() + ": name: is required"), std::string::npos) << stderr_;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "results.json"));
}

}  // namespace
}  // namespace zbatch::scenarios
