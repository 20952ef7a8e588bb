// `zbatch generate` as a production tool, end to end against the mock on loopback: kill -9 and
// resume without paying twice, the quota stop and its resume, SIGINT, the submit cap, batch
// files, and the API key appearing nowhere.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/digest.hpp"
#include "mock_api/server.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/png_check.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_all;

constexpr const char* prompt = "a lighthouse in fog";

mock::mock_config config_with(int generation_ms) {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(10);
  config.generation.time = mock::latency_spec::fixed(generation_ms);
  return config;
}

/// Journal lines with this event, and the image indices they name.
std::set<int> journaled(const fs::path& dir, const std::string& event) {
  std::set<int> out;
  std::ifstream in(dir / "journal.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto item = json::parse(line, nullptr, false);
    if (!item.is_discarded() && item.value("event", "") == event) {
      out.insert(item.value("index", -1));
    }
  }
  return out;
}

std::size_t count_submitted(const fs::path& dir) {
  std::ifstream in(dir / "journal.jsonl");
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    n += line.find("\"event\":\"submitted\"") != std::string::npos ? 1 : 0;
  }
  return n;
}

/// Every delivered entry's file exists, matches its sha256 and size and is a valid PNG; returns
/// the number of delivered entries.
int check_delivered(const fs::path& dir, const json& manifest) {
  int delivered = 0;
  for (const auto& entry : manifest["images"]) {
    if (entry["status"] != "delivered") {
      continue;
    }
    ++delivered;
    const auto bytes = read_all(dir / entry["file"].get<std::string>());
    EXPECT_EQ(entry["sha256"], client::sha256_hex(bytes)) << entry.dump();
    EXPECT_EQ(entry["bytes"], bytes.size());
    auto png = test::check_png(bytes);
    EXPECT_TRUE(png.ok) << png.problem;
  }
  return delivered;
}

std::size_t png_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& item : fs::directory_iterator(dir)) {
    n += item.path().extension() == ".png" ? 1 : 0;
  }
  return n;
}

class production : public ::testing::Test {
 protected:
  void start(mock::mock_config config) {
    mock::server_options options;
    options.threads = 16;
    server_ = std::make_unique<mock::server>(std::move(config), 5, options);
  }

  std::vector<std::string> args(int count, const std::string& strategy,
                                std::vector<std::string> extra = {}) const {
    std::vector<std::string> out{"generate",
                                 "--base-url",
                                 server_->base_url(),
                                 "--prompt",
                                 prompt,
                                 "--count",
                                 std::to_string(count),
                                 "--seed",
                                 "100",
                                 "--strategy",
                                 strategy,
                                 "--out",
                                 out_.string()};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  std::uint64_t paid_for(int index) const {
    return server_->mock_model().submits_for(prompt, 100 + index, protocol::image_size{});
  }

  /// Tasks the mock created for images 0..count-1.
  std::uint64_t created(int count) const {
    std::uint64_t n = 0;
    for (int index = 0; index < count; ++index) {
      n += paid_for(index);
    }
    return n;
  }

  /// Starts zbatch, sends `signal` once the mock has created 3 tasks, 2 of them with answers
  /// still on the way (the mock delays its answers): the first is the quota plan's probe, sent
  /// alone and journaled before the others leave. Returns the exit code.
  int signal_before_the_answers(const std::vector<std::string>& a, int signal) {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    EXPECT_TRUE(test::wait_for([&] { return created(6) >= 3; })) << c.out();
    EXPECT_EQ(count_submitted(out_), 1u) << "the answers were meant to be still on the way";
    c.signal(signal);
    return c.wait();
  }

  json manifest() const { return json::parse(read_all(out_ / "manifest.json")); }

  /// Runs zbatch to its end in its own io directory.
  int run(const std::vector<std::string>& a, std::string* out = nullptr,
          const std::string& key = {}) {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path(), key);
    EXPECT_TRUE(c.started());
    const int code = c.wait();
    if (out != nullptr) {
      *out = c.out() + c.err();
    }
    return code;
  }

  test::temp_dir dir_;
  fs::path out_ = dir_.path() / "out";
  std::unique_ptr<mock::server> server_;
};

class kill_nine : public production, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(kill_nine, then_a_rerun_delivers_all_20_without_paying_twice_for_journaled_tasks) {
  const std::size_t kill_after = GetParam();
  start(config_with(400));
  const auto a = args(20, "bounded,inflight=4,poll=50ms");
  {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    ASSERT_TRUE(c.started());
    ASSERT_TRUE(test::wait_for([&] { return count_submitted(out_) >= kill_after; }))
        << c.out() << c.err();
    c.signal(SIGKILL);
    EXPECT_EQ(c.wait(), 128 + SIGKILL);
  }
  const auto tasks_journaled = journaled(out_, "submitted");
  ASSERT_GE(tasks_journaled.size(), kill_after);
  std::string log;
  // A submit the kill left open may be paid: the rerun holds its image (error_class
  // answer_lost, possibly paid), and only a rerun told so submits it again.
  const int code = run(a, &log);
  if (code != 0) {
    ASSERT_EQ(code, 1) << log;
    EXPECT_NE(log.find("held, not submitted"), std::string::npos) << log;
    const auto held = manifest();  // kept: the loop reads into it
    for (const auto& image : held["images"]) {
      if (image["status"] != "delivered") {
        EXPECT_EQ(image["error_class"], "answer_lost") << image.dump();
        EXPECT_GE(image["possibly_paid"], 1) << image.dump();
      }
    }
    auto a_resubmit = a;
    a_resubmit.push_back("--resubmit-possibly-paid");
    ASSERT_EQ(run(a_resubmit, &log), 0) << log;
  }
  const auto m = manifest();
  EXPECT_EQ(m["delivered"], 20);
  EXPECT_EQ(m["remaining"], 0);
  ASSERT_EQ(m["images"].size(), 20u);
  EXPECT_EQ(check_delivered(out_, m), 20);
  EXPECT_EQ(png_files(out_), 20u);
  for (const int index : tasks_journaled) {
    EXPECT_EQ(paid_for(index), 1u) << "image " << index << " was journaled and paid again";
  }
  for (int index = 0; index < 20; ++index) {
    EXPECT_GE(paid_for(index), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(at_several_points, kill_nine, ::testing::Values(1u, 7u, 14u, 20u));

TEST_F(production, a_quota_stop_exits_4_and_a_rerun_after_the_reset_finishes) {
  auto config = config_with(100);
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = 10;  // 5 images at 2 credits each
  config.throttle.quota.cost_per_task = 2;
  start(config);
  const auto a = args(8, "adaptive", {"--poll-interval-ms", "50"});
  std::string log;
  ASSERT_EQ(run(a, &log), 4) << log;
  EXPECT_NE(log.find("quota exhausted: 3 image(s) remain"), std::string::npos) << log;
  EXPECT_NE(log.find("the quota resets at "), std::string::npos) << log;
  EXPECT_NE(log.find("assumed: midnight UTC+8"), std::string::npos) << log;
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 5);
  EXPECT_EQ(m["remaining"], 3);
  EXPECT_TRUE(m["quota_resets_at"].is_string());
  EXPECT_EQ(check_delivered(out_, m), 5);

  // The day's credits come back (a new quota), and the same command finishes the batch.
  config.throttle.quota.daily_credits = 100;
  server_->mock_model().replace_config(config);
  ASSERT_EQ(run(a, &log), 0) << log;
  m = manifest();
  EXPECT_EQ(m["delivered"], 8);
  EXPECT_EQ(check_delivered(out_, m), 8);
  EXPECT_EQ(m["submits_paid"], 8);
  EXPECT_EQ(m["submits_per_delivered_image"], 1.0);
  for (int index = 0; index < 8; ++index) {
    EXPECT_EQ(paid_for(index), 1u) << index;
  }
}

// Issue 14: once a submit's answer says either remaining count is 0, nothing more is submitted
// (not even by a strategy that keeps going after a quota 429), and the batch stops as the quota
// stop does: exit 4, the rest pending with the reset time. The journal's figures said 4 calls
// were left, but another client of the key spent 2 of them since: the answers correct the plan.
TEST_F(production, no_submit_once_the_rate_limit_headers_say_0_and_exit_4) {
  auto config = config_with(100);
  config.throttle.ratelimit_headers = true;
  config.throttle.daily_limits.enabled = true;
  config.throttle.daily_limits.models = {{"Tongyi-MAI/Z-Image-Turbo", 5}};
  start(config);
  std::string log;
  const auto a = args(5, "bounded,inflight=1,quota=continue,poll=50ms");
  auto first = a;
  first.insert(first.end(), {"--max-submits", "1"});
  ASSERT_EQ(run(first, &log), 3) << log;  // journals 4 calls left
  auto other = args(2, "bounded,inflight=1,poll=50ms");
  other[std::find(other.begin(), other.end(), "--out") - other.begin() + 1] =
      (dir_.path() / "other").string();
  ASSERT_EQ(run(other, &log), 0) << log;  // another run on the key spends 2 of them
  ASSERT_EQ(run(a, &log), 4) << log;
  EXPECT_NE(log.find("calls left today: 4"), std::string::npos) << log;
  EXPECT_NE(log.find("quota exhausted: 2 image(s) remain"), std::string::npos) << log;
  EXPECT_NE(log.find("model-requests-remaining: 0"), std::string::npos) << log;
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_EQ(m["delivered"], 3);
  EXPECT_EQ(check_delivered(out_, m), 3);
  const auto stats = server_->mock_model().stats();
  EXPECT_EQ(stats["requests"]["submit"].value("200", 0), 5);
  EXPECT_FALSE(stats["requests"]["submit"].contains("429")) << "a submit was sent at 0";
}

// An empty 200 to a submit may hide a created, charged task (the mock creates it first): the
// image stays pending as possibly paid and is not submitted again.
TEST_F(production, an_empty_200_on_submit_is_never_resubmitted_blindly) {
  auto config = config_with(100);
  config.faults.submit.empty_200 = 1.0;
  start(config);
  std::string log;
  // adaptive: ambiguous=fail (the `retry` preset resubmits ambiguous answers knowingly).
  EXPECT_EQ(run(args(1, "adaptive", {"--poll-interval-ms", "50"}), &log), 1) << log;
  const auto m = manifest();
  EXPECT_EQ(m["pending"], 1) << m.dump();
  EXPECT_EQ(m["submits_possibly_paid"], 1) << m.dump();
  EXPECT_EQ(paid_for(0), 1u) << "resubmitted after an empty 200";
}

// "has no provider supported" as a 429 stops the batch after the first answer (no backing off
// into a model that cannot be served).
TEST_F(production, no_provider_stops_the_batch_after_the_first_answer) {
  auto config = config_with(100);
  config.faults.submit.no_provider_429 = 1.0;
  start(config);
  std::string log;
  EXPECT_EQ(run(args(3, "adaptive", {"--poll-interval-ms", "50"}), &log), 1) << log;
  EXPECT_NE(log.find("has no provider supported"), std::string::npos) << log;
  const auto stats = server_->mock_model().stats();
  EXPECT_EQ(stats["requests"]["submit"].value("429", 0), 1) << stats["requests"].dump();
}

TEST_F(production, a_quota_reset_time_from_the_service_is_reported_as_such) {
  auto config = config_with(50);
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = 2;
  config.throttle.retry_after_header = true;
  start(config);
  std::string log;
  ASSERT_EQ(run(args(3, "bounded,inflight=1,quota=stop,poll=50ms"), &log), 4) << log;
  EXPECT_NE(log.find(", as the service said)"), std::string::npos) << log;
  EXPECT_NE(log.find("2 image(s) remain"), std::string::npos) << log;
}

TEST_F(production, first_sigint_lets_in_flight_tasks_finish_and_exits_130) {
  start(config_with(1500));
  const auto a = args(6, "bounded,inflight=3,poll=50ms", {"--grace-s", "30"});
  {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    ASSERT_TRUE(test::wait_for([&] { return count_submitted(out_) >= 3; })) << c.out();
    c.signal(SIGINT);
    EXPECT_EQ(c.wait(), 130) << c.out() << c.err();
    // The tasks in flight finished in the grace period: none is left to say "journaled" of.
    EXPECT_NE(c.out().find("interrupted: 3 image(s) remain; rerun the same command to go on"),
              std::string::npos)
        << c.out();
  }
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "interrupted");
  EXPECT_EQ(m["delivered"], 3);
  EXPECT_EQ(check_delivered(out_, m), 3);
  std::string log;
  ASSERT_EQ(run(a, &log), 0) << log;
  EXPECT_EQ(check_delivered(out_, manifest()), 6);
  for (int index = 0; index < 6; ++index) {
    EXPECT_EQ(paid_for(index), 1u) << index;
  }
}

TEST_F(production, sigint_with_no_grace_journals_in_flight_tasks_for_the_rerun) {
  start(config_with(2000));
  const auto a = args(6, "bounded,inflight=3,poll=50ms", {"--grace-s", "0"});
  {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    ASSERT_TRUE(test::wait_for([&] { return count_submitted(out_) >= 3; })) << c.out();
    c.signal(SIGINT);
    EXPECT_EQ(c.wait(), 130) << c.out() << c.err();
  }
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "interrupted");
  int pending_with_task = 0;
  for (const auto& entry : m["images"]) {
    if (entry["status"] == "pending" && entry["task_id"].is_string()) {
      ++pending_with_task;
    }
  }
  EXPECT_EQ(pending_with_task + m["delivered"].get<int>(), 3);
  std::string log;
  ASSERT_EQ(run(a, &log), 0) << log;
  EXPECT_EQ(check_delivered(out_, manifest()), 6);
  for (int index = 0; index < 6; ++index) {
    EXPECT_EQ(paid_for(index), 1u) << index;
  }
}

// Issue 17 item 6: Ctrl-C with no grace while submits are accepted but their answers are still on
// the way (a 600 ms answer delay): every task the service created reaches the journal before the
// process exits, so the rerun pays for none of them again.
TEST_F(production, sigint_with_no_grace_journals_submits_answered_after_the_interrupt) {
  auto config = config_with(2000);
  config.response_delay = mock::latency_spec::fixed(600);
  start(config);
  const auto a = args(6, "bounded,inflight=3,poll=50ms", {"--grace-s", "0"});
  EXPECT_EQ(signal_before_the_answers(a, SIGINT), 130);
  EXPECT_EQ(count_submitted(out_), created(6)) << "a created task was not journaled";
  std::string log;
  ASSERT_EQ(run(a, &log), 0) << log;
  EXPECT_EQ(check_delivered(out_, manifest()), 6);
  for (int index = 0; index < 6; ++index) {
    EXPECT_EQ(paid_for(index), 1u) << index;
  }
}

// Issue 17: kill -9 while accepted submits' answers are still on the way (600 ms answer delay).
// The tasks the service created in the killed run are unknown to the journal, but their submits
// were written ahead, so the finished batch's cost figures (paid + possibly paid) are never
// below what the service charged.
TEST_F(production, kill_9_with_answers_on_the_way_leaves_them_counted_as_possibly_paid) {
  auto config = config_with(500);
  config.response_delay = mock::latency_spec::fixed(600);
  start(config);
  const auto a = args(6, "bounded,inflight=3,poll=50ms");
  signal_before_the_answers(a, SIGKILL);
  std::string log;
  // The killed run's open submits may be paid: the rerun holds their images, submits the rest.
  ASSERT_EQ(run(a, &log), 1) << log;
  EXPECT_NE(log.find("held, not submitted"), std::string::npos) << log;
  EXPECT_LT(check_delivered(out_, manifest()), 6);
  auto a_resubmit = a;
  a_resubmit.push_back("--resubmit-possibly-paid");
  ASSERT_EQ(run(a_resubmit, &log), 0) << log;
  EXPECT_EQ(check_delivered(out_, manifest()), 6);
  const auto m = manifest();
  EXPECT_GE(created(6), 8u) << "the killed run's tasks were paid for and lost";
  EXPECT_GE(
      m["submits_paid"].get<std::uint64_t>() + m["submits_possibly_paid"].get<std::uint64_t>(),
      created(6))
      << m.dump();
  EXPECT_EQ(m["submits_paid"], 6);
}

TEST_F(production, a_second_sigint_exits_at_once_and_leaves_a_resumable_directory) {
  start(config_with(4000));
  const auto a = args(4, "bounded,inflight=4,poll=50ms", {"--grace-s", "600"});
  {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    ASSERT_TRUE(test::wait_for([&] { return count_submitted(out_) >= 4; })) << c.out();
    c.signal(SIGINT);
    ASSERT_TRUE(test::wait_for([&] {
      return c.out().find("interrupted: no new") != std::string::npos;
    })) << c.out();
    ASSERT_TRUE(c.signal_from_another_process(SIGINT));
    EXPECT_EQ(c.wait(), 130);
    // Not silent: it says it exits now and what is kept.
    EXPECT_NE(c.err().find("second Ctrl-C: exiting now"), std::string::npos) << c.err();
    EXPECT_NE(c.err().find("journal.jsonl"), std::string::npos) << c.err();
  }
  std::string log;
  ASSERT_EQ(run(a, &log), 0) << log;
  EXPECT_EQ(check_delivered(out_, manifest()), 4);
  for (int index = 0; index < 4; ++index) {
    EXPECT_EQ(paid_for(index), 1u) << index;
  }
}

// `timeout` sends its signal to the command and then to the command's process group: one
// request, delivered twice. It read as a second Ctrl-C (exit at once, no grace, on a first run
// no manifest); the same signal from the same sender within a second now counts once.
TEST_F(production, a_signal_sent_twice_at_once_by_one_process_is_one_request) {
  start(config_with(300));
  const auto a = args(8, "bounded,inflight=2,poll=50ms", {"--grace-s", "600"});
  test::temp_dir io;
  test::child c(ZBATCH_EXE, a, io.path());
  ASSERT_TRUE(test::wait_for([&] { return count_submitted(out_) >= 1; })) << c.out();
  c.signal(SIGTERM);
  ASSERT_TRUE(test::wait_for([&] {
    return c.out().find("interrupted: no new") != std::string::npos;
  })) << c.out();
  c.signal(SIGTERM);  // the echo, after the first was taken
  EXPECT_EQ(c.wait(), 130);
  EXPECT_EQ(c.err().find("second Ctrl-C"), std::string::npos) << c.err();
  // The grace period ran: the tasks in flight finished and the manifest says so.
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "interrupted") << m.dump();
  EXPECT_GE(m["delivered"], 1) << m.dump();
  EXPECT_LT(m["delivered"], 8) << m.dump();
}

TEST_F(production, the_submit_cap_exits_3_and_is_never_exceeded) {
  start(config_with(50));
  std::string log;
  const auto a = args(4, "bounded,inflight=4,poll=50ms", {"--max-submits", "2"});
  ASSERT_EQ(run(a, &log), 3) << log;
  EXPECT_NE(log.find("submit cap reached (--max-submits 2): 2 image(s) remain"), std::string::npos)
      << log;
  auto m = manifest();
  EXPECT_EQ(m["stopped"], "submit_cap");
  EXPECT_EQ(m["delivered"], 2);
  std::uint64_t paid = 0;
  for (int index = 0; index < 4; ++index) {
    paid += paid_for(index);
  }
  EXPECT_EQ(paid, 2u);
  ASSERT_EQ(run(a, &log), 0) << log;  // The cap is per run: the rerun finishes.
  EXPECT_EQ(check_delivered(out_, manifest()), 4);
}

TEST_F(production, the_api_key_appears_in_no_output_and_no_file) {
  const std::string key = "zb-secret-KEY-3f9a1c77e2d4";
  auto config = config_with(50);
  config.faults.task.moderation = 0.3;
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = 8;
  start(config);
  std::vector<std::string> outputs;
  std::string log;
  run(args(6, "adaptive", {"--json", "--poll-interval-ms", "50"}), &log, key);
  outputs.push_back(log);
  const auto key_file = dir_.path() / "key";
  std::ofstream(key_file) << key << "\n";
  run(args(6, "adaptive", {"--poll-interval-ms", "50", "--api-key-file", key_file.string()}), &log);
  outputs.push_back(log);
  for (const auto& text : outputs) {
    EXPECT_EQ(text.find(key), std::string::npos) << text;
  }
  int files = 0;
  for (const auto& item : fs::recursive_directory_iterator(out_)) {
    if (item.is_regular_file()) {
      ++files;
      EXPECT_EQ(read_all(item.path()).find(key), std::string::npos) << item.path();
    }
  }
  EXPECT_GE(files, 3);  // journal, manifest, images
}

TEST_F(production, a_batch_file_runs_and_a_changed_one_is_refused_naming_the_field) {
  start(config_with(50));
  const auto file = dir_.path() / "batch.jsonl";
  std::ofstream(file) << R"({"prompt": "a", "count": 2, "seed": 5, "aspect": "16:9"})"
                      << "\n\n"
                      << R"({"prompt": "b", "size": "512x512", "negative_prompt": "fog"})"
                      << "\n";
  const std::vector<std::string> a{"generate", "--base-url",  server_->base_url(),
                                   "--batch",  file.string(), "--json",
                                   "--out",    out_.string()};
  std::string log;
  ASSERT_EQ(run(a, &log), 0) << log;
  auto m = manifest();
  ASSERT_EQ(m["images"].size(), 3u);
  EXPECT_EQ(m["images"][0]["seed"], 5);
  EXPECT_EQ(m["images"][1]["seed"], 6);
  EXPECT_EQ(m["images"][1]["size"], "1024x576");
  EXPECT_EQ(m["images"][2]["line"], 3);
  EXPECT_EQ(m["images"][2]["size"], "512x512");
  EXPECT_EQ(check_delivered(out_, m), 3);
  // Every stdout line is a JSON event.
  std::istringstream lines(log.substr(0, log.find("zbatch generate:")));
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  }
  std::ofstream(file) << R"({"prompt": "a", "count": 2, "seed": 5, "aspect": "16:9"})"
                      << "\n\n"
                      << R"({"prompt": "b", "size": "768x512", "negative_prompt": "fog"})"
                      << "\n";
  ASSERT_EQ(run(a, &log), 2) << log;
  EXPECT_NE(log.find("images.2.size"), std::string::npos) << log;
}

TEST_F(production, bad_batch_lines_exit_2_naming_file_line_and_field) {
  start(config_with(50));
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {R"({"prompt": "a", "sise": "1"})", {":1: sise: unknown field", "negative_prompt"}},
      {R"({"prompt": "a", "seed": -3})", {":1: seed:", "0..2147483647"}},
      {"{\"prompt\": \"a\"}\nnot json", {":2:2: not valid JSON", "one object per line"}},
      {"[\"a red fox\"]", {":1: not a JSON object"}},
      {R"({"prompt": "a", "count": 1E400})", {":1:26: count: the number 1E400 is too large"}},
      {R"({"prompt": "a", "size": "1024x1024", "aspect": "1:1"})", {"mutually exclusive"}},
      {R"({"count": 2})", {":1: prompt: is required"}},
      {R"({"prompt": "a", "steps": 0})", {"steps:", "1..100"}},
      {R"({"prompt": "a", "guidance": 50})", {"guidance"}},
      {R"({"prompt": "a", "count": 1001})", {"count:", "1..1000"}},
      {R"({"prompt": "a", "size": "100x100"})", {"size:", "512..2048"}},
      {"", {"holds no image"}},
  };
  for (const auto& [text, expected] : cases) {
    const auto file = dir_.path() / "bad.jsonl";
    std::ofstream(file) << text << "\n";
    std::string log;
    EXPECT_EQ(run({"generate", "--base-url", server_->base_url(), "--batch", file.string(), "--out",
                   out_.string()},
                  &log),
              2)
        << text;
    EXPECT_NE(log.find(file.string()), std::string::npos) << log;
    for (const auto& piece : expected) {
      EXPECT_NE(log.find(piece), std::string::npos) << text << "\n" << log;
    }
    EXPECT_FALSE(fs::exists(out_));
  }
  EXPECT_EQ(server_->mock_model().stats()["tasks"]["created"], 0);
}

}  // namespace
}  // namespace zbatch
