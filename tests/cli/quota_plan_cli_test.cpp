// `zbatch generate`'s quota planning end to end against the mock on loopback (issue 14,
// "Planning"): the rate-limit figures journaled and reused by the next run, --dry-run sending
// nothing, a batch larger than what is left stopping before any submit, --fit-quota making what
// fits and a rerun after the reset finishing it without paying twice, and --endpoint. Batches
// of two models: the plan names both, one probe each, --fit-quota per model, and a model at 0
// calls left mid-batch stopping only its own submits.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mock_api/server.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_all;

constexpr const char* model_id = "Tongyi-MAI/Z-Image-Turbo";
constexpr const char* qwen_id = "Qwen/Qwen-Image";

/// Instant images, the four rate-limit headers, `model_limit` calls a day for the model.
mock::mock_config limited(long long model_limit) {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(10);
  config.generation.time = mock::latency_spec::fixed(30);
  config.throttle.ratelimit_headers = true;
  config.throttle.daily_limits.enabled = true;
  config.throttle.daily_limits.models = {{model_id, model_limit}};
  return config;
}

/// Both models limited: `turbo_limit` and `qwen_limit` calls a day.
mock::mock_config two_limited(long long turbo_limit, long long qwen_limit) {
  auto config = limited(turbo_limit);
  config.throttle.daily_limits.models[qwen_id] = qwen_limit;
  return config;
}

/// A --batch file of `turbo` Z-Image-Turbo lines and `qwen` Qwen-Image lines, alternating while
/// both last; `tag` keeps prompts apart from another file's.
fs::path two_model_batch(const fs::path& dir, int turbo, int qwen, const std::string& tag) {
  const auto path = dir / (tag + ".jsonl");
  std::ofstream out(path);
  for (int i = 0; i < std::max(turbo, qwen); ++i) {
    if (i < turbo) {
      out << json{{"prompt", tag + " harbour " + std::to_string(i)}, {"seed", i}}.dump() << "\n";
    }
    if (i < qwen) {
      out << json{{"prompt", tag + " heron " + std::to_string(i)},
                  {"seed", 100 + i},
                  {"size", "512x512"},
                  {"model", qwen_id}}
                 .dump()
          << "\n";
    }
  }
  return path;
}

/// The journal's `ratelimit` lines.
std::vector<json> ratelimit_lines(const fs::path& dir) {
  std::vector<json> out;
  std::ifstream in(dir / "journal.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto item = json::parse(line, nullptr, false);
    if (!item.is_discarded() && item.value("event", "") == "ratelimit") {
      out.push_back(std::move(item));
    }
  }
  return out;
}

/// Moves every journaled rate-limit figure `hours` into the past: the next run sees them as a
/// run a day later would (the daily reset has passed since they were seen).
void age_figures(const fs::path& dir, int hours) {
  std::ifstream in(dir / "journal.jsonl");
  std::ostringstream rewritten;
  std::string line;
  while (std::getline(in, line)) {
    auto item = json::parse(line);
    if (item.value("event", "") == "ratelimit") {
      item["seen_at_ms"] = item["seen_at_ms"].get<std::int64_t>() - hours * 3'600'000LL;
    }
    rewritten << item.dump() << "\n";
  }
  in.close();
  std::ofstream(dir / "journal.jsonl", std::ios::trunc) << rewritten.str();
}

class quota_plan_cli : public ::testing::Test {
 protected:
  void start(mock::mock_config config) {
    mock::server_options options;
    options.threads = 8;
    server_ = std::make_unique<mock::server>(std::move(config), 7, options);
  }

  /// `generate --batch`, one attempt at a time (each answer is in before the next submit).
  std::vector<std::string> batch_args(const fs::path& batch, const fs::path& out,
                                      std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"generate",
                               "--base-url",
                               server_->base_url(),
                               "--batch",
                               batch.string(),
                               "--strategy",
                               "bounded,inflight=1,poll=20ms",
                               "--out",
                               out.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  /// Tasks the mock created today per model, over every key.
  std::map<std::string, long long> calls_by_model() {
    std::map<std::string, long long> out;
    const auto stats = server_->mock_model().stats();  // kept: the loop reads into it
    for (const auto& [key, figures] : stats["keys"].items()) {
      for (const auto& [model, calls] : figures["calls_today_by_model"].items()) {
        out[model] += calls.get<long long>();
      }
    }
    return out;
  }
  /// Submits the mock refused for the quota (a submit sent past a count at 0).
  long long quota_refusals() {
    return server_->mock_model().stats()["rate_limited"].value("quota", 0LL);
  }

  std::vector<std::string> args(int count, std::vector<std::string> extra = {}) const {
    std::vector<std::string> out{"generate",
                                 "--base-url",
                                 server_->base_url(),
                                 "--prompt",
                                 "a quiet harbour",
                                 "--count",
                                 std::to_string(count),
                                 "--seed",
                                 "500",
                                 "--strategy",
                                 "bounded,inflight=2,poll=20ms",
                                 "--out",
                                 out_.string()};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  int run(const std::vector<std::string>& a, std::string* log) {
    auto result = test::run_to_end(ZBATCH_EXE, a, {});
    *log = result.out + result.err;
    return result.exit_code;
  }

  /// Submit answers the mock sent, by status ("200", "429", ...).
  json submits() { return server_->mock_model().stats()["requests"]["submit"]; }
  int submits_total() {
    int n = 0;
    const auto by_status = submits();
    for (auto it = by_status.begin(); by_status.is_object() && it != by_status.end(); ++it) {
      n += it.value().get<int>();
    }
    return n;
  }
  json manifest() const { return json::parse(read_all(out_ / "manifest.json")); }

  test::temp_dir dir_;
  fs::path out_ = dir_.path() / "out";
  std::unique_ptr<mock::server> server_;
};

// The first run journals what every submit answer said; the next run (dry or real) plans from
// it without sending anything first; --dry-run sends no request at all and writes nothing.
TEST_F(quota_plan_cli, figures_are_journaled_and_plan_the_rerun_and_dry_run_sends_nothing) {
  start(limited(10));
  std::string log;
  ASSERT_EQ(run(args(5, {"--max-submits", "2"}), &log), 3) << log;
  EXPECT_NE(log.find("the first submit goes alone"), std::string::npos) << log;
  const auto lines = ratelimit_lines(out_);
  ASSERT_EQ(lines.size(), 2u) << read_all(out_ / "journal.jsonl");
  EXPECT_EQ(lines.back()["model"], model_id);
  EXPECT_EQ(lines.back()["endpoint"], server_->base_url());
  EXPECT_EQ(lines.back()["model_limit"], 10);
  EXPECT_EQ(lines.back()["model_remaining"], 8);
  EXPECT_EQ(lines.back()["account_remaining"], 1998);

  const auto requests_before = server_->mock_model().stats()["requests"];
  const auto journal_before = read_all(out_ / "journal.jsonl");
  const auto manifest_before = read_all(out_ / "manifest.json");
  ASSERT_EQ(run(args(5, {"--dry-run"}), &log), 0) << log;
  EXPECT_NE(log.find("calls left today: 8"), std::string::npos) << log;
  EXPECT_NE(log.find("fits: 3 of 3"), std::string::npos) << log;
  EXPECT_NE(log.find("3 paid submit(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("UTC+8"), std::string::npos) << log;
  EXPECT_NE(log.find("dry run: nothing was sent"), std::string::npos) << log;
  EXPECT_EQ(server_->mock_model().stats()["requests"], requests_before) << "the dry run sent";
  EXPECT_EQ(read_all(out_ / "journal.jsonl"), journal_before);
  EXPECT_EQ(read_all(out_ / "manifest.json"), manifest_before);

  ASSERT_EQ(run(args(5), &log), 0) << log;
  EXPECT_NE(log.find("calls left today: 8"), std::string::npos) << log;
  EXPECT_EQ(log.find("the first submit goes alone"), std::string::npos) << log;
  EXPECT_EQ(manifest()["delivered"], 5);
  EXPECT_EQ(submits()["200"], 5);
  EXPECT_EQ(ratelimit_lines(out_).back()["model_remaining"], 5);
}

// A new user's check: the probe's answer printed a second "plan: 0 image(s) to submit" for
// --count 1. It is one line saying what the answer said about the rest.
TEST_F(quota_plan_cli, the_probes_answer_is_said_once_not_as_a_second_plan) {
  start(limited(10));
  std::string log;
  ASSERT_EQ(run(args(1), &log), 0) << log;
  const auto count = [&log](const std::string& text) {
    std::size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("plan: "), 1u) << log;
  EXPECT_EQ(count("after the first answer: nothing more to submit; calls left today: 9 ("), 1u)
      << log;
  EXPECT_EQ(log.find("0 image(s) to submit"), std::string::npos) << log;
  EXPECT_EQ(log.find("fits: 0 of 0"), std::string::npos) << log;

  // A rerun of the finished batch: no "plan: 0 image(s) to submit ... fits: 0 of 0".
  ASSERT_EQ(run(args(1), &log), 0) << log;
  EXPECT_EQ(count("plan: nothing to submit (every image was settled in earlier runs); calls left "
                  "today: 9 ("),
            1u)
      << log;
  EXPECT_EQ(log.find("0 image(s) to submit"), std::string::npos) << log;
  EXPECT_EQ(log.find("fits: 0 of 0"), std::string::npos) << log;

  fs::remove_all(out_);
  ASSERT_EQ(run(args(4), &log), 0) << log;
  EXPECT_EQ(count("plan: 4 image(s) to submit"), 1u) << log;
  EXPECT_EQ(count("after the first answer: 3 more image(s) to submit; calls left today: 8 ("), 1u)
      << log;
  EXPECT_EQ(count("fits: 3 of 3"), 1u) << log;
  // A new user's check: the line said what the answer meant before the answer itself was shown.
  const auto accepted_line = log.find("accepted   task ");
  ASSERT_NE(accepted_line, std::string::npos) << log;
  EXPECT_LT(accepted_line, log.find("after the first answer: ")) << log;
}

// No figures yet: the first submit is the probe; its answer says 9 calls are left for the 11
// images still to make, so nothing more is sent (exit 4). The rerun knows the figures from the
// journal and stops before any submit.
TEST_F(quota_plan_cli, a_batch_larger_than_what_is_left_stops_before_any_submit) {
  start(limited(10));
  std::string log;
  ASSERT_EQ(run(args(12), &log), 4) << log;
  EXPECT_EQ(submits_total(), 1) << submits().dump();
  EXPECT_NE(log.find("does not fit"), std::string::npos) << log;
  // 12 images against a daily limit of 10: the same command after the reset stops again, so
  // the advice is --fit-quota, not "rerun the same command after that to finish".
  EXPECT_NE(log.find("larger than the daily limit, so rerun with --fit-quota"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("rerun the same command after that"), std::string::npos) << log;
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 1);
  EXPECT_EQ(m["pending"], 11);

  // A dry run says what the real run would submit under the plan (it said "11 would be
  // submitted" beside "does not fit: nothing more is submitted").
  ASSERT_EQ(run(args(12, {"--dry-run"}), &log), 0) << log;
  EXPECT_NE(log.find("0 of 11 image(s) would be submitted (they do not fit"), std::string::npos)
      << log;
  ASSERT_EQ(run(args(12, {"--dry-run", "--fit-quota"}), &log), 0) << log;
  EXPECT_NE(log.find("9 of 11 image(s) would be submitted (what fits today"), std::string::npos)
      << log;

  ASSERT_EQ(run(args(12), &log), 4) << log;
  EXPECT_EQ(submits_total(), 1) << "the rerun submitted: " << submits().dump();
  EXPECT_NE(log.find("calls left today: 9"), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was submitted"), std::string::npos) << log;
  m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["pending"], 11);
  EXPECT_TRUE(m["quota_resets_at"].is_string()) << m.dump();
  EXPECT_TRUE(m["quota_resets_at_utc8"].is_string()) << m.dump();
}

// A new user's check: with no call left today the advice was "--fit-quota to make what fits
// now", where nothing fits. It says to wait for the reset.
TEST_F(quota_plan_cli, with_no_call_left_the_advice_is_the_reset_not_fit_quota) {
  start(limited(2));
  std::string log;
  ASSERT_EQ(run(args(2), &log), 0) << log;
  out_ = dir_.path() / "second";
  ASSERT_EQ(run(args(3), &log), 4) << log;
  EXPECT_NE(log.find("no call is left today: rerun the same command after the reset"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("nothing was submitted (the service refused the probe)"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("to make what fits now"), std::string::npos) << log;
}

// --fit-quota makes exactly what fits today (5 calls for 8 images), leaves the rest pending with
// the reset time; after the reset (the mock's new day, the journal's figures a day old) the same
// command makes the 3 left and nothing twice.
TEST_F(quota_plan_cli, fit_quota_makes_what_fits_and_the_rerun_after_the_reset_completes_it) {
  start(limited(5));
  std::string log;
  ASSERT_EQ(run(args(8, {"--fit-quota"}), &log), 4) << log;
  EXPECT_NE(log.find("fits: 4 of 7"), std::string::npos) << log;
  EXPECT_EQ(submits()["200"], 5) << submits().dump();
  EXPECT_FALSE(submits().contains("429")) << "a submit went past the calls left";
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 5);
  EXPECT_EQ(m["pending"], 3);
  EXPECT_EQ(m["failed"], 0);
  EXPECT_TRUE(m["quota_resets_at"].is_string()) << m.dump();
  EXPECT_NE(m["quota_resets_at_utc8"].get<std::string>().find(" 00:00 UTC+8"), std::string::npos);
  EXPECT_NE(log.find("the quota resets at"), std::string::npos) << log;

  server_->mock_model().reset();  // the service's new day
  age_figures(out_, 25);
  ASSERT_EQ(run(args(8, {"--fit-quota"}), &log), 0) << log;
  EXPECT_NE(log.find("before the last daily reset"), std::string::npos) << log;
  EXPECT_EQ(submits()["200"], 3) << submits().dump();
  m = manifest();
  EXPECT_EQ(m["delivered"], 8);
  EXPECT_EQ(m["submits_paid"], 8);
  EXPECT_EQ(m["stopped"], "complete");
}

// A new user's check: the service raised the daily limit after a run saw no call left, and every
// rerun said "fits: 0" and sent nothing until the reset. Daily limits move (protocol doc): the
// rerun's first submit asks again, alone, and the rest follow its answer.
TEST_F(quota_plan_cli, a_limit_raised_after_an_earlier_run_saw_zero_is_asked_again) {
  start(limited(5));
  std::string log;
  ASSERT_EQ(run(args(8, {"--fit-quota"}), &log), 4) << log;
  EXPECT_EQ(manifest()["delivered"], 5);
  server_->mock_model().replace_config(limited(10));  // the same day, a higher limit
  ASSERT_EQ(run(args(8, {"--fit-quota"}), &log), 0) << log;
  EXPECT_NE(log.find("an earlier run saw no call left at "), std::string::npos) << log;
  EXPECT_NE(log.find("daily limits move, so the service is asked again"), std::string::npos) << log;
  const auto m = manifest();
  EXPECT_EQ(m["delivered"], 8);
  EXPECT_EQ(m["submits_paid"], 8);
  EXPECT_EQ(calls_by_model()[model_id], 8) << "nothing paid twice";
  EXPECT_EQ(quota_refusals(), 0);
}

// A dynamic 429 creates no task (the mock counts no call for it): --fit-quota's cap counts the
// submits that may have cost a call, so refusals on the way do not leave calls unused. Counting
// every submit sent, this run stopped after 2 or 3 images with calls left (exit 4).
TEST_F(quota_plan_cli, fit_quota_does_not_count_refused_submits_as_calls) {
  auto config = limited(5);
  config.throttle.in_flight_cap = 1;  // "off": every submit above one in flight gets a 429
  start(config);
  auto a = args(8, {"--fit-quota"});
  *(std::find(a.begin(), a.end(), "--strategy") + 1) =
      "bounded,inflight=3,r429=50,retry=4:exp:base=10ms:cap=40ms,poll=20ms";
  std::string log;
  ASSERT_EQ(run(a, &log), 4) << log;
  EXPECT_GT(submits().value("429", 0), 0) << "meant to draw refusals: " << submits().dump();
  EXPECT_EQ(submits()["200"], 5) << submits().dump();
  EXPECT_EQ(quota_refusals(), 0) << "a submit went past the calls left";
  const auto m = manifest();
  EXPECT_EQ(m["delivered"], 5) << log;
  EXPECT_EQ(m["pending"], 3);
}

// Two models, Qwen-Image with 3 calls a day for its 5 images: one probe per model (each alone),
// the plan names both; without --fit-quota nothing more is sent (exit 4); with it, in a fresh
// directory, exactly Qwen's 3 are made and its 2 others stay pending, Turbo's 4 all made; the
// plan event (--json) has each model's figures; --dry-run shows them from the journal.
TEST_F(quota_plan_cli, two_models_are_planned_each_on_its_own_count) {
  start(two_limited(20, 3));
  const auto batch = two_model_batch(dir_.path(), 4, 5, "a");
  std::string log;
  ASSERT_EQ(run(batch_args(batch, out_), &log), 4) << log;
  EXPECT_EQ(submits_total(), 2) << "more than the two probes: " << submits().dump();
  EXPECT_EQ(calls_by_model(), (std::map<std::string, long long>{{model_id, 1}, {qwen_id, 1}}));
  EXPECT_NE(log.find("one probe per model"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(model_id) + " 19/20 for 3 image(s)"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(qwen_id) + " 2/3 for 4 image(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("does not fit"), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was submitted after the probes"), std::string::npos) << log;
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 2);
  EXPECT_EQ(m["pending"], 7);
  // The dry run plans both from the journal and sends nothing.
  ASSERT_EQ(run(batch_args(batch, out_, {"--dry-run"}), &log), 0) << log;
  EXPECT_NE(log.find(std::string(model_id) + " 19/20 for 3 image(s), fits 3"), std::string::npos)
      << log;
  EXPECT_NE(log.find(std::string(qwen_id) + " 2/3 for 4 image(s), more than its daily limit"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("probe"), std::string::npos) << log;
  EXPECT_EQ(submits_total(), 2) << submits().dump();

  server_->mock_model().reset();
  const auto fresh = dir_.path() / "fit";
  ASSERT_EQ(run(batch_args(batch, fresh, {"--fit-quota", "--json"}), &log), 4) << log;
  EXPECT_EQ(calls_by_model(), (std::map<std::string, long long>{{model_id, 4}, {qwen_id, 3}}));
  EXPECT_EQ(quota_refusals(), 0) << "a submit went past a model's calls left";
  // The plan after the probes, as an event: each model's figures and what fits of it.
  json plan;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    auto event = json::parse(line, nullptr, false);
    if (!event.is_discarded() && event.value("event", "") == "plan") {
      plan = event;
    }
  }
  ASSERT_TRUE(plan.contains("models")) << log;
  EXPECT_EQ(plan["decision"], "fit");
  ASSERT_EQ(plan["models"].size(), 2u) << plan;
  EXPECT_EQ(plan["models"][0]["model"], model_id);
  EXPECT_EQ(plan["models"][0]["remaining"], 19);
  EXPECT_EQ(plan["models"][0]["fits"], 3);
  EXPECT_EQ(plan["models"][1]["model"], qwen_id);
  EXPECT_EQ(plan["models"][1]["remaining"], 2);
  EXPECT_EQ(plan["models"][1]["needed_submits"], 4);
  EXPECT_EQ(plan["models"][1]["fits"], 2);
  EXPECT_EQ(plan["models"][1]["allowed"], 2);
  EXPECT_TRUE(plan["models"][0]["allowed"].is_null()) << "Turbo fits in its own count";
  m = json::parse(read_all(fresh / "manifest.json"));
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 7);
  EXPECT_EQ(m["pending"], 2);
  EXPECT_TRUE(m["quota_resets_at"].is_string()) << m.dump();
  for (const auto& image : m["images"]) {
    if (image["status"] != "delivered") {
      EXPECT_EQ(image["model"], qwen_id) << image;
      EXPECT_EQ(image["error_class"], "quota_429") << image;
    }
  }
}

// The next model's probe waits for the previous probe's answer (and its journal record), not
// for its image: a new user's check saw Qwen-Image's probe wait a whole generation time.
TEST_F(quota_plan_cli, the_next_models_probe_follows_the_first_probes_answer_not_its_image) {
  auto config = two_limited(20, 10);
  config.generation.time = mock::latency_spec::fixed(500);  // an image far slower than an answer
  start(config);
  const auto batch = two_model_batch(dir_.path(), 1, 1, "p");
  std::string log;
  const std::vector<std::string> args{"generate",
                                      "--base-url",
                                      server_->base_url(),
                                      "--batch",
                                      batch.string(),
                                      "--strategy",
                                      "bounded,inflight=2,poll=20ms",
                                      "--out",
                                      out_.string(),
                                      "--json"};
  ASSERT_EQ(run(args, &log), 0) << log;
  int accepted_before_a_delivery = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const auto event = json::parse(line, nullptr, false);
    if (event.is_discarded()) {
      continue;
    }
    if (event.value("event", "") == "delivered") {
      break;
    }
    accepted_before_a_delivery += event.value("event", "") == "accepted" ? 1 : 0;
  }
  EXPECT_EQ(accepted_before_a_delivery, 2) << log;
  EXPECT_EQ(calls_by_model(), (std::map<std::string, long long>{{model_id, 1}, {qwen_id, 1}}));
  // The rerun of the finished batch has no model's share to show (it named a blank model).
  ASSERT_EQ(run(args, &log), 0) << log;
  const auto plan = json::parse(log.substr(0, log.find('\n')), nullptr, false);
  ASSERT_EQ(plan.value("event", ""), "plan") << log;
  EXPECT_EQ(plan["models"], json::array()) << plan;
  EXPECT_EQ(plan["needed_submits"], 0) << plan;
}

// The journal says Qwen-Image has 9 calls left, but another client of the key spends 7 of them:
// mid-batch the model reaches 0 and only its submits stop (nothing is sent for it after the
// answer that said 0); Turbo's images are all made; the run ends on the quota (exit 4).
TEST_F(quota_plan_cli, a_model_at_zero_mid_batch_stops_only_its_own_submits) {
  start(two_limited(20, 10));
  const auto batch = two_model_batch(dir_.path(), 4, 5, "a");
  std::string log;
  // The two probes only: the journal keeps both models' figures (Turbo 19, Qwen 9 left).
  ASSERT_EQ(run(batch_args(batch, out_, {"--max-submits", "2"}), &log), 3) << log;
  ASSERT_EQ(calls_by_model(), (std::map<std::string, long long>{{model_id, 1}, {qwen_id, 1}}));
  // Another client of the key (its own directory and journal) makes 7 Qwen images.
  ASSERT_EQ(run(batch_args(two_model_batch(dir_.path(), 0, 7, "b"), dir_.path() / "other"), &log),
            0)
      << log;
  ASSERT_EQ(calls_by_model()[qwen_id], 8);

  ASSERT_EQ(run(batch_args(batch, out_), &log), 4) << log;
  EXPECT_NE(log.find("calls left today: account"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(qwen_id) + " 9/10 for 4 image(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("no calls left today for model " + std::string(qwen_id)), std::string::npos)
      << log;
  EXPECT_NE(log.find("the other models' images go on"), std::string::npos) << log;
  EXPECT_EQ(calls_by_model(), (std::map<std::string, long long>{{model_id, 4}, {qwen_id, 10}}));
  EXPECT_EQ(quota_refusals(), 0) << "a Qwen submit was sent after its count said 0";
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 7);
  EXPECT_EQ(m["pending"], 2);
  int turbo_delivered = 0;
  for (const auto& image : m["images"]) {
    if (image["model"] == model_id) {
      turbo_delivered += image["status"] == "delivered" ? 1 : 0;
    } else if (image["status"] != "delivered") {
      EXPECT_EQ(image["error_class"], "quota_429") << image;
    }
  }
  EXPECT_EQ(turbo_delivered, 4);
  EXPECT_TRUE(m["quota_resets_at"].is_string()) << m.dump();
}

// The same with the account's count: another client spends it, and the answer that puts the
// account at 0 stops every model's submits (nothing sent after it).
TEST_F(quota_plan_cli, the_account_at_zero_mid_batch_stops_every_model) {
  auto config = two_limited(20, 10);
  config.throttle.daily_limits.account = 10;
  start(config);
  const auto batch = two_model_batch(dir_.path(), 4, 5, "a");
  std::string log;
  ASSERT_EQ(run(batch_args(batch, out_, {"--max-submits", "2"}), &log), 3) << log;
  // Another client of the key makes 6 Turbo images: 2 calls left on the account.
  ASSERT_EQ(run(batch_args(two_model_batch(dir_.path(), 6, 0, "b"), dir_.path() / "other"), &log),
            0)
      << log;

  ASSERT_EQ(run(batch_args(batch, out_), &log), 4) << log;
  EXPECT_NE(log.find("account 8/10"), std::string::npos) << log;
  EXPECT_NE(log.find("no calls left today for this account"), std::string::npos) << log;
  EXPECT_EQ(quota_refusals(), 0) << "a submit was sent after the account's count said 0";
  const auto calls = calls_by_model();
  EXPECT_EQ(calls.at(model_id) + calls.at(qwen_id), 10);
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 4);
  EXPECT_EQ(m["pending"], 5);
}

// --endpoint intl picks the international base URL; checked through --dry-run with a key file,
// which sends nothing anywhere. It excludes --base-url and --mock; an unknown name is refused.
TEST_F(quota_plan_cli, endpoint_names_the_international_base_url) {
  const auto key = dir_.path() / "key";
  std::ofstream(key) << "ms-endpoint-key\n";
  std::string log;
  const std::vector<std::string> base{"generate",   "--prompt", "p",          "--api-key-file",
                                      key.string(), "--out",    out_.string()};
  auto with = [&base](std::vector<std::string> extra) {
    auto out = base;
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  ASSERT_EQ(run(with({"--endpoint", "intl", "--dry-run"}), &log), 0) << log;
  EXPECT_NE(log.find("https://api-inference.modelscope.ai"), std::string::npos) << log;
  EXPECT_EQ(log.find("ms-endpoint-key"), std::string::npos);
  EXPECT_FALSE(fs::exists(out_)) << "a dry run wrote the output directory";
  ASSERT_EQ(run(with({"--dry-run"}), &log), 0) << log;
  EXPECT_NE(log.find("https://api-inference.modelscope.cn"), std::string::npos) << log;
  EXPECT_EQ(run(with({"--endpoint", "intl", "--base-url", "http://127.0.0.1:9"}), &log), 2);
  EXPECT_NE(log.find("mutually exclusive"), std::string::npos) << log;
  EXPECT_EQ(run(with({"--endpoint", "intll"}), &log), 2);
  EXPECT_NE(log.find("did you mean 'intl'"), std::string::npos) << log;
}

// A new user's check: --mock --dry-run exited 2 naming a --base-url the user never gave (the
// placeholder URL of the mock that a dry run does not start had port 0, which is refused).
TEST_F(quota_plan_cli, a_dry_run_with_the_bundled_mock_plans_without_starting_it) {
  std::string log;
  const std::vector<std::string> args{"generate", "--mock", "--dry-run",  "--prompt",
                                      "p",        "--out",  out_.string()};
  ASSERT_EQ(run(args, &log), 0) << log;
  EXPECT_NE(log.find("not started: --dry-run"), std::string::npos) << log;
  EXPECT_NE(log.find("dry run: nothing was sent"), std::string::npos) << log;
  EXPECT_EQ(log.find("--base-url"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(out_)) << "a dry run wrote the output directory";
}

}  // namespace
}  // namespace zbatch
