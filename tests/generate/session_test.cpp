// A session run in process against the scripted fake service (tests/fakes) on 127.0.0.1: the
// files it writes, the journal's lines and the manifest, and reruns into the same directory
// (images delivered before are kept, a journaled task is polled again and paid nothing).
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <gtest/gtest.h>

#include "client/digest.hpp"
#include "client/http_backend.hpp"
#include "generate/session.hpp"
#include "tests/client/temp_dir.hpp"
#include "tests/fakes/fake_service.hpp"

namespace zbatch::generate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<json> journal_lines(const fs::path& dir) {
  std::vector<json> out;
  std::ifstream in(dir / "journal.jsonl");
  for (std::string line; std::getline(in, line);) {
    out.push_back(json::parse(line));
  }
  return out;
}

/// The journal's lines of one event kind, by image index.
std::multimap<int, json> events(const std::vector<json>& lines, const std::string& kind) {
  std::multimap<int, json> out;
  for (const auto& line : lines) {
    if (line.value("event", "") == kind) {
      out.emplace(line["index"].get<int>(), line);
    }
  }
  return out;
}

class session_test : public ::testing::Test {
 protected:
  /// `--prompt "a fox" --count N --seed 7 --poll-interval-ms 20` against the fake.
  session_config config(int count) const {
    protocol::submit_request request;
    request.prompt = "a fox";
    request.size = protocol::image_size{};
    session_config out;
    out.images = prompt_images(request, count, 7).value();
    out.options = options_json(out.images, false, count);
    out.out_dir = out_;
    out.strategy = actors::parse_strategy("adaptive").value();
    out.strategy.poll.interval = std::chrono::milliseconds(20);
    out.strategy.poll.deadline = std::chrono::seconds(30);  // bounded even when a test fails
    out.endpoint = fake_.base_url();
    out.connections = 4;
    out.seed = 1;
    return out;
  }

  actors::backend_factory factory() const {
    client::http_options options;
    options.base_url = fake_.base_url();
    options.api_key = "test-key";
    return [options]() -> std::unique_ptr<client::backend> {
      auto backend = client::http_backend::create(options);
      if (!backend.ok()) {
        throw std::runtime_error(backend.status().message());
      }
      return *std::move(backend);
    };
  }

  /// Runs one session to its end; its progress (JSON lines) goes to `progress_`.
  session_outcome run(const session_config& c) {
    progress_.str("");
    progress_renderer progress(progress_, progress_style::json);
    auto s = session::create(c, progress).value();
    return s->run(factory()).value();
  }

  json manifest() const { return json::parse(read_all(out_ / "manifest.json")); }

  test::fake::service fake_;
  test::temp_dir dir_;
  fs::path out_ = dir_.path() / "out";
  std::ostringstream progress_;
};

TEST_F(session_test, delivers_every_image_to_its_file_journals_it_and_lists_it) {
  const auto outcome = run(config(3));
  EXPECT_EQ(outcome.reason, stop_reason::complete) << progress_.str();
  EXPECT_EQ(outcome.total, 3u);
  EXPECT_EQ(outcome.delivered, 3u);
  EXPECT_EQ(outcome.failed + outcome.pending + outcome.remaining, 0u);
  EXPECT_EQ(outcome.submit_requests, 3);
  EXPECT_EQ(outcome.submits_paid, 3);
  EXPECT_EQ(outcome.latencies_ms.size(), 3u);
  EXPECT_EQ(outcome.manifest, out_ / "manifest.json");
  EXPECT_EQ(fake_.tasks_created(), 3);

  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "complete");
  EXPECT_EQ(m["runs"], 1);
  EXPECT_EQ(m["delivered"], 3);
  EXPECT_EQ(m["submits_paid"], 3);
  EXPECT_EQ(m["endpoint"], fake_.base_url());
  EXPECT_EQ(m["base_seed"], 7);
  EXPECT_EQ(m["this_run"]["submit_requests"], 3);
  const auto lines = journal_lines(out_);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front()["event"], "header");
  EXPECT_EQ(lines.front()["options"], config(3).options);
  const auto submitted = events(lines, "submitted");
  const auto delivered = events(lines, "delivered");
  ASSERT_EQ(submitted.size(), 3u);
  ASSERT_EQ(delivered.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const auto& image = m["images"][i];
    const auto task = image["task_id"].get<std::string>();
    const auto file = std::to_string(i) + "-" + std::to_string(7 + i) + ".png";
    EXPECT_EQ(image["status"], "delivered");
    EXPECT_EQ(image["run"], "this");
    EXPECT_EQ(image["seed"], 7 + i);
    EXPECT_EQ(image["file"], file);
    EXPECT_EQ(image["submits"], 1);
    EXPECT_TRUE(image["latency_ms"].is_number_integer());
    const auto bytes = read_all(out_ / file);
    EXPECT_EQ(bytes, fake_.image_of(task));
    EXPECT_EQ(image["sha256"], client::sha256_hex(bytes));
    EXPECT_EQ(image["bytes"], bytes.size());
    // The task was journaled before it was waited on, the file after it was written.
    EXPECT_EQ(submitted.find(i)->second["task_id"], task);
    EXPECT_EQ(submitted.find(i)->second["seed"], 7 + i);
    const auto& done = delivered.find(i)->second;
    EXPECT_EQ(done["task_id"], task);
    EXPECT_EQ(done["file"], file);
    EXPECT_EQ(done["sha256"], image["sha256"]);
  }

  // A rerun finds everything delivered: it sends nothing and keeps the measured latencies.
  const auto again = run(config(3));
  EXPECT_EQ(again.reason, stop_reason::complete) << progress_.str();
  EXPECT_EQ(again.delivered_before, 3u);
  EXPECT_EQ(again.delivered, 3u);
  EXPECT_EQ(again.submit_requests, 0);
  EXPECT_EQ(again.submits_paid, 3);
  EXPECT_TRUE(again.latencies_ms.empty()) << "none measured in this run";
  EXPECT_EQ(fake_.tasks_created(), 3);
  EXPECT_EQ(fake_.polls() + fake_.downloads(),
            m["this_run"]["polls"].get<int>() + m["this_run"]["downloads"].get<int>())
      << "the rerun sent no request at all";
  const auto rerun = manifest();
  EXPECT_EQ(rerun["runs"], 2);
  EXPECT_FALSE(rerun.contains("this_run"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rerun["images"][i]["run"], "earlier");
    EXPECT_EQ(rerun["images"][i]["latency_ms"], m["images"][i]["latency_ms"]);
    EXPECT_EQ(rerun["images"][i]["attempts"], m["images"][i]["attempts"]);
  }
  const auto after = journal_lines(out_);
  ASSERT_EQ(after.size(), lines.size() + 1);
  EXPECT_EQ(after.back()["event"], "header");
}

TEST_F(session_test, an_interrupt_when_everything_is_delivered_is_a_complete_batch) {
  ASSERT_EQ(run(config(2)).reason, stop_reason::complete) << progress_.str();
  progress_renderer progress(progress_, progress_style::json);
  auto s = session::create(config(2), progress).value();
  s->interrupt();  // Ctrl-C with nothing left to do: nothing is lost, so exit 0, not 130
  const auto outcome = s->run(factory()).value();
  EXPECT_EQ(outcome.reason, stop_reason::complete);
  EXPECT_EQ(outcome.delivered, 2u);
}

TEST_F(session_test, a_rerun_polls_the_journaled_task_and_pays_nothing) {
  // The task's image lives on a host that is down during the first run.
  const int port = test::fake::closed_port();
  test::fake::image_behaviour elsewhere;
  elsewhere.url = "http://127.0.0.1:" + std::to_string(port) + "/task-1.png";
  fake_.queue(elsewhere);
  auto first = config(1);
  first.strategy.poll.deadline = std::chrono::seconds(1);
  const auto outcome = run(first);
  EXPECT_EQ(outcome.reason, stop_reason::unfinished) << progress_.str();  // nothing failed
  EXPECT_EQ(outcome.delivered, 0u);
  EXPECT_EQ(outcome.pending, 1u);
  EXPECT_EQ(outcome.failed, 0u);
  EXPECT_EQ(outcome.submits_paid, 1);
  EXPECT_EQ(fake_.tasks_created(), 1);
  auto m = manifest();
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_TRUE(m["images"][0]["file"].is_null());
  EXPECT_FALSE(fs::exists(out_ / "0-7.png"));
  auto lines = journal_lines(out_);
  EXPECT_EQ(events(lines, "submitted").size(), 1u);
  EXPECT_EQ(events(lines, "submitted").find(0)->second["task_id"], "task-1");
  EXPECT_TRUE(events(lines, "delivered").empty());
  EXPECT_TRUE(events(lines, "failed").empty()) << "a pending image is not settled";

  // The host comes back: a second session into the same directory polls task-1 and downloads.
  httplib::Server host;
  const auto png = fake_.image_of("task-1");
  host.Get("/task-1.png", [&png](const httplib::Request&, httplib::Response& response) {
    response.set_content(png, "image/png");
  });
  ASSERT_TRUE(host.bind_to_port("127.0.0.1", port));
  std::thread serving([&host] { host.listen_after_bind(); });
  const auto again = run(config(1));
  host.stop();
  serving.join();

  EXPECT_EQ(again.reason, stop_reason::complete) << progress_.str();
  EXPECT_EQ(again.delivered, 1u);
  EXPECT_EQ(again.delivered_before, 0u);
  EXPECT_EQ(again.submit_requests, 0);
  EXPECT_EQ(again.submits_paid, 1);
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(fake_.submits_received(), 1);
  EXPECT_EQ(read_all(out_ / "0-7.png"), png);
  m = manifest();
  EXPECT_EQ(m["runs"], 2);
  EXPECT_EQ(m["stopped"], "complete");
  EXPECT_EQ(m["submits_paid"], 1);
  EXPECT_EQ(m["this_run"]["submit_requests"], 0);
  EXPECT_EQ(m["images"][0]["status"], "delivered");
  EXPECT_EQ(m["images"][0]["run"], "this");
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_EQ(m["images"][0]["submits"], 1);
  // Its submit was the first run's, whose time the journal does not keep: no latency (a new
  // user's check: "delivered 0.1 s", the time from this run's first poll, skewed the summary).
  EXPECT_TRUE(m["images"][0]["latency_ms"].is_null()) << m.dump(2);
  EXPECT_TRUE(again.latencies_ms.empty());
  EXPECT_NE(progress_.str().find(R"("latency_ms":null)"), std::string::npos) << progress_.str();
  lines = journal_lines(out_);
  EXPECT_EQ(events(lines, "submitted").size(), 1u) << "no new task";
  ASSERT_EQ(events(lines, "delivered").size(), 1u);
  EXPECT_EQ(events(lines, "delivered").find(0)->second["task_id"], "task-1");
  EXPECT_NE(progress_.str().find(R"("resumed":1)"), std::string::npos) << progress_.str();
}

// Issue 17: an image delivered before whose file is gone is downloaded again from its journaled
// task; the bytes must be the journaled ones. Image 0's are (delivered again, nothing paid);
// image 1's journal line is altered to another sha256, as if another image now answered for its
// task: not written, pending with class `integrity`, nothing paid either.
TEST_F(session_test, a_re_download_must_match_the_journaled_sha256) {
  ASSERT_EQ(run(config(2)).delivered, 2u) << progress_.str();
  const std::string sha1 = manifest()["images"][1]["sha256"];
  std::string journal = read_all(out_ / "journal.jsonl");
  const auto at = journal.rfind(sha1);
  ASSERT_NE(at, std::string::npos);
  journal.replace(at, sha1.size(), std::string(sha1.size(), '0'));
  std::ofstream(out_ / "journal.jsonl", std::ios::binary | std::ios::trunc) << journal;
  const auto png0 = read_all(out_ / "0-7.png");
  fs::remove(out_ / "0-7.png");
  fs::remove(out_ / "1-8.png");

  const auto again = run(config(2));
  EXPECT_EQ(again.delivered, 1u) << progress_.str();
  EXPECT_EQ(again.pending, 1u);
  EXPECT_EQ(again.submit_requests, 0);
  EXPECT_EQ(fake_.tasks_created(), 2);
  EXPECT_EQ(read_all(out_ / "0-7.png"), png0);
  EXPECT_FALSE(fs::exists(out_ / "1-8.png"));
  const auto m = manifest();
  EXPECT_EQ(m["images"][0]["status"], "delivered");
  EXPECT_EQ(m["images"][1]["status"], "pending");
  EXPECT_EQ(m["images"][1]["error_class"], "integrity");
  EXPECT_NE(m["images"][1]["message"].get<std::string>().find("differs from the one delivered"),
            std::string::npos)
      << m["images"][1].dump();
}

/// Accepts every submit; every poll blocks until abort() (a request the server never answers).
class hanging_backend final : public client::backend {
 public:
  /// `polling` is set (once, by whichever backend polls first) when a poll starts to hang.
  struct signal {
    std::once_flag once;
    std::promise<void> polling;
  };
  explicit hanging_backend(std::shared_ptr<signal> started) : started_(std::move(started)) {}
  client::result<protocol::submit_accepted> submit(const protocol::submit_request&) override {
    return protocol::submit_accepted{"task-1", "r-1", std::nullopt};
  }
  client::result<protocol::task_state> poll(const std::string&) override {
    std::call_once(started_->once, [this] { started_->polling.set_value(); });
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [this] { return aborted_; });
    protocol::api_error error;
    error.kind = protocol::error_class::cancelled;
    error.message = "aborted";
    return error;
  }
  client::result<client::downloaded_image> download(const std::string&) override {
    protocol::api_error error;
    error.kind = protocol::error_class::cancelled;
    return error;
  }
  void abort() override {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
    wake_.notify_all();
  }

 private:
  std::shared_ptr<signal> started_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool aborted_ = false;
};

// Issue 17 item 7: an interrupt with no grace ends the batch, and a request still hanging in the
// backend is aborted instead of holding the exit (and the manifest) for its whole time-out.
// Without the abort this test never ends (ctest's time-out fails it).
TEST_F(session_test, an_interrupt_does_not_wait_for_a_hanging_request) {
  auto c = config(1);
  c.grace = std::chrono::milliseconds(0);
  auto started = std::make_shared<hanging_backend::signal>();
  auto polling = started->polling.get_future();
  progress_renderer progress(progress_, progress_style::json);
  auto s = session::create(c, progress).value();
  std::thread interrupter([&] {
    polling.wait();
    s->interrupt();
  });
  const auto outcome = s->run([started]() -> std::unique_ptr<client::backend> {
    return std::make_unique<hanging_backend>(started);
  });
  interrupter.join();
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_EQ(outcome->reason, stop_reason::interrupted);
  EXPECT_EQ(manifest()["images"][0]["status"], "pending");
  EXPECT_EQ(manifest()["images"][0]["task_id"], "task-1");
}

// ---- disk faults (issue 17 item 8) -------------------------------------------------------------
//
// An injected writer (session_config::faults) fails chosen writes with the system's errors; the
// run must stop with an error naming the path and its cause (the CLI's exit 1), leave no file or
// journal line torn, send no submit it could not record, and a rerun with the disk back must
// complete, polling the journaled tasks instead of paying for them again.

class disk_fault_test : public session_test {
 protected:
  /// Three images, all submitted at once (so all three tasks exist before any image is written).
  session_config three_at_once(fault_hook faults) const {
    auto c = config(3);
    c.strategy = actors::parse_strategy("bounded,inflight=3,retry=none").value();
    c.strategy.poll.interval = std::chrono::milliseconds(20);
    c.strategy.poll.deadline = std::chrono::seconds(30);
    c.faults = std::move(faults);
    return c;
  }

  /// Runs one session; the failure it ended with (empty when it did not fail).
  std::string run_failing(const session_config& c) {
    progress_.str("");
    progress_renderer progress(progress_, progress_style::json);
    auto s = session::create(c, progress).value();
    const auto ran = s->run(factory());
    return ran.ok() ? std::string{} : ran.status().message();
  }

  /// Every journal line parses (nothing torn), and the rerun with the disk back completes.
  void expect_a_rerun_completes(int tasks_expected) {
    for (const auto& line : journal_lines(out_)) {
      EXPECT_TRUE(line.is_object());  // journal_lines throws on a torn line
    }
    const auto again = run(config(3));
    EXPECT_EQ(again.reason, stop_reason::complete) << progress_.str();
    EXPECT_EQ(again.delivered, 3u);
    EXPECT_EQ(fake_.tasks_created(), tasks_expected);
    const auto m = manifest();
    for (int i = 0; i < 3; ++i) {
      const auto& image = m["images"][i];
      EXPECT_EQ(read_all(out_ / image["file"].get<std::string>()),
                fake_.image_of(image["task_id"].get<std::string>()));
    }
  }
};

TEST_F(disk_fault_test, the_output_directory_filling_up_stops_the_run_and_the_rerun_pays_nothing) {
  // The first image file is written; the disk is full from the second one on.
  std::atomic<int> images{0};
  auto full_after_one = [&images](const fs::path& path,
                                  std::string_view) -> std::optional<write_fault> {
    if (path.extension() == ".png" && ++images > 1) {
      return write_fault{0, ENOSPC};
    }
    return std::nullopt;
  };
  const auto why = run_failing(three_at_once(full_after_one));
  EXPECT_NE(why.find("cannot write " + out_.string()), std::string::npos) << why;
  EXPECT_NE(why.find("No space left on device"), std::string::npos) << why;
  EXPECT_EQ(fake_.tasks_created(), 3);
  EXPECT_FALSE(fs::exists(out_ / "manifest.json")) << "not written over a failed run";
  expect_a_rerun_completes(3);  // the journaled tasks are polled again, none is paid twice
}

TEST_F(disk_fault_test,
       a_journal_that_becomes_unwritable_stops_the_run_and_the_rerun_pays_nothing) {
  // The disk fills while the first `delivered` line is written: half of it gets out.
  auto full_at_delivered = [](const fs::path&,
                              std::string_view bytes) -> std::optional<write_fault> {
    if (bytes.find("\"event\":\"delivered\"") != std::string_view::npos) {
      return write_fault{bytes.size() / 2, ENOSPC};
    }
    return std::nullopt;
  };
  const auto why = run_failing(three_at_once(full_at_delivered));
  EXPECT_NE(why.find((out_ / "journal.jsonl").string() + ": write failed: No space left on device"),
            std::string::npos)
      << why;
  EXPECT_EQ(fake_.tasks_created(), 3);
  expect_a_rerun_completes(3);
}

TEST_F(disk_fault_test, no_submit_leaves_when_its_write_ahead_record_cannot_be_written) {
  // The second `submitting` line fails: that submit and the third must not be sent (a task that
  // nothing could record would be paid again by the rerun).
  int submitting = 0;
  auto full_at_second = [&submitting](const fs::path&,
                                      std::string_view bytes) -> std::optional<write_fault> {
    if (bytes.find("\"event\":\"submitting\"") != std::string_view::npos && ++submitting == 2) {
      return write_fault{0, ENOSPC};
    }
    return std::nullopt;
  };
  const auto why = run_failing(three_at_once(full_at_second));
  EXPECT_NE(why.find("journal.jsonl: write failed: No space left on device"), std::string::npos)
      << why;
  EXPECT_EQ(fake_.submits_received(), 1) << "only the submit whose record is on disk was sent";
  EXPECT_EQ(events(journal_lines(out_), "submitted").size(), 1u) << "its answer was journaled";
  expect_a_rerun_completes(3);  // image 0's task polled again; images 1 and 2 submitted once
}

}  // namespace
}  // namespace zbatch::generate
