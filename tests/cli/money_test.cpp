// `zbatch generate` against a fake service that misbehaves the way public bug reports say the
// service and the gateways in front of it do (tests/fakes). Each test asserts what the user paid
// (the fake's own count of created tasks), what zbatch reported (manifest, summary), the exit
// code and the files: after a task is accepted nothing may cause a second submit, an answer that
// may hide a created task is never resubmitted blindly, and no paid image is lost.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "protocol/messages.hpp"
#include "protocol/ratelimit.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/png_check.hpp"
#include "tests/client/temp_dir.hpp"
#include "tests/fakes/fake_service.hpp"
#include "tests/fakes/header_flood.hpp"

namespace zbatch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_all;

class money : public ::testing::Test {
 protected:
  /// The default strategy, polled fast; `extra` adds or overrides options.
  std::vector<std::string> args(int count, std::vector<std::string> extra = {}) const {
    std::vector<std::string> out{"generate",
                                 "--base-url",
                                 fake_.base_url(),
                                 "--prompt",
                                 "a fox",
                                 "--count",
                                 std::to_string(count),
                                 "--seed",
                                 "7",
                                 "--poll-interval-ms",
                                 "20",
                                 "--out",
                                 out_.string()};
    // A bounded run even when a test fails; a test may set its own deadline.
    if (std::find(extra.begin(), extra.end(), "--deadline-s") == extra.end()) {
      extra.insert(extra.end(), {"--deadline-s", "30"});
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

  /// Runs zbatch to its end; its stdout and stderr go to `output_`.
  int run(const std::vector<std::string>& a) {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, a, io.path());
    EXPECT_TRUE(c.started());
    const int code = c.wait();
    output_ = c.out() + c.err();
    return code;
  }

  json manifest() const { return json::parse(read_all(out_ / "manifest.json")); }

  /// Files in the output directory other than the journal and the manifest.
  std::vector<fs::path> image_files() const {
    std::vector<fs::path> out;
    for (const auto& item : fs::directory_iterator(out_)) {
      const auto name = item.path().filename().string();
      if (name != "journal.jsonl" && name != "journal.lock" && name != "manifest.json") {
        out.push_back(item.path());
      }
    }
    return out;
  }

  /// The one delivered image is the fake's PNG of task "task-1".
  void expect_delivered_task_1() {
    const auto m = manifest();
    ASSERT_EQ(m["delivered"], 1) << m.dump(2);
    const auto& image = m["images"][0];
    EXPECT_EQ(image["status"], "delivered");
    EXPECT_EQ(image["task_id"], "task-1");
    EXPECT_EQ(read_all(out_ / image["file"].get<std::string>()), fake_.image_of("task-1"));
  }

  test::fake::service fake_;
  test::temp_dir dir_;
  fs::path out_ = dir_.path() / "out";
  std::string output_;
};

// ---- after a task SUCCEEDs it is paid
// ------------------------------------------------------------

TEST_F(money, a_redirected_image_is_followed_and_paid_once) {
  fake_.queue(test::fake::redirect_to_file(2));
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
  EXPECT_EQ(fake_.counts().downloads_with_authorization, 0);
}

// A new user's check: an image URL answering 200 with no bytes was tried again for a minute and
// more without a line saying so. The first failure of a paid task's download says what
// happens; the next try delivers, paying nothing more.
TEST_F(money, an_empty_image_is_announced_once_and_fetched_again_without_paying) {
  test::fake::image_behaviour empty;
  empty.reply = test::fake::answer{200, "image/png", ""};
  empty.reply_times = 2;
  fake_.queue(empty);
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
  const std::string notice = "task task-1 SUCCEEDED (paid), but its image could not be had (";
  const auto at = output_.find(notice);
  ASSERT_NE(at, std::string::npos) << output_;
  EXPECT_EQ(output_.find(notice, at + 1), std::string::npos) << "once per attempt: " << output_;
  EXPECT_NE(output_.find("empty body", at), std::string::npos) << output_;
  EXPECT_NE(output_.find("never paying again", at), std::string::npos) << output_;
}

// A stopped run's paid-per-delivered figure counts tasks a rerun will still deliver: it said
// "= 2.00 per delivered image" for a batch that will cost 1.00.
TEST_F(money, paid_per_delivered_image_of_a_stopped_run_is_so_far_and_says_why) {
  test::fake::image_behaviour elsewhere;
  elsewhere.url = "http://127.0.0.1:" + std::to_string(test::fake::closed_port()) + "/task-1.png";
  fake_.queue(elsewhere);
  EXPECT_EQ(run(args(2, {"--deadline-s", "2"})), 1) << output_;
  EXPECT_NE(output_.find("= 2.00 per delivered image so far (1 paid task(s) not delivered yet: a "
                         "rerun polls them, paying nothing)"),
            std::string::npos)
      << output_;
}

TEST_F(money, an_unreachable_image_host_leaves_the_image_pending_and_the_rerun_downloads_it) {
  const int port = test::fake::closed_port();
  test::fake::image_behaviour elsewhere;
  elsewhere.url = "http://127.0.0.1:" + std::to_string(port) + "/task-1.png";
  fake_.queue(elsewhere);
  EXPECT_EQ(run(args(1, {"--deadline-s", "2"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  auto m = manifest();
  EXPECT_EQ(m["delivered"], 0);
  EXPECT_EQ(m["pending"], 1);
  EXPECT_EQ(m["failed"], 0);
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_TRUE(image_files().empty());

  // The image host comes back: the rerun polls the journaled task and downloads, paying nothing.
  httplib::Server host;
  const auto png = fake_.image_of("task-1");
  host.Get("/task-1.png", [&png](const httplib::Request&, httplib::Response& response) {
    response.set_content(png, "image/png");
  });
  ASSERT_TRUE(host.bind_to_port("127.0.0.1", port));
  std::thread serving([&host] { host.listen_after_bind(); });
  const int code = run(args(1));
  host.stop();
  serving.join();
  EXPECT_EQ(code, 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

TEST_F(money, an_image_url_that_redirects_to_itself_leaves_the_image_pending_paid_once) {
  fake_.queue(test::fake::redirect_loop());
  EXPECT_EQ(run(args(1, {"--deadline-s", "2"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1) << "a loop on the image host is no reason to pay again";
  const auto m = manifest();
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_TRUE(image_files().empty());
  EXPECT_NE(output_.find("redirect loop"), std::string::npos) << output_;
  // Each try stops at the loop (two GETs), not after a run of hops.
  EXPECT_EQ(fake_.counts().images_served, 0);
}

TEST_F(money, an_image_host_sending_headers_without_end_costs_that_image_only) {
  // Task-2's image host answers with header lines without end (64 MiB if read whole): each try
  // is cut at the header cap and closed, the image stays pending (paid once, never resubmitted)
  // and task-1's image, delivered meanwhile, is in the manifest and on disk.
  test::fake::header_flood flood(test::fake::header_flood::shape::lines, std::uint64_t{64} << 20);
  test::fake::image_behaviour flooded;
  flooded.url = flood.url() + "/task-2.png";
  fake_.queue(test::fake::image_behaviour{});
  fake_.queue(flooded);
  EXPECT_EQ(run(args(2, {"--deadline-s", "3"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  const auto m = manifest();
  EXPECT_EQ(m["delivered"], 1) << m.dump(2);
  EXPECT_EQ(m["pending"], 1) << m.dump(2);
  for (const auto& image : m["images"]) {
    if (image["task_id"] == "task-1") {
      EXPECT_EQ(image["status"], "delivered");
      EXPECT_EQ(read_all(out_ / image["file"].get<std::string>()), fake_.image_of("task-1"));
    } else {
      EXPECT_EQ(image["status"], "pending") << image.dump();
    }
  }
  EXPECT_NE(output_.find("answer headers longer than"), std::string::npos) << output_;
  // zbatch closed every flooded connection itself, each after what the socket buffers hold.
  ASSERT_TRUE(flood.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_GE(flood.connections(), 1);
  EXPECT_EQ(flood.connections_cut(), flood.connections());
  EXPECT_LT(flood.most_on_one_connection(), std::uint64_t{32} << 20);
}

TEST_F(money, an_image_on_another_loopback_address_is_fetched_without_the_key) {
  // The image host is 127.0.0.2, the API 127.0.0.1: another origin, so another connection and
  // no Authorization header (the key stays with the API host).
  httplib::Server host;
  int gets = 0;
  int with_key = 0;
  std::mutex mutex;
  host.Get("/task-1.png", [&](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard<std::mutex> lock(mutex);
    ++gets;
    with_key += request.has_header("Authorization") ? 1 : 0;
    response.set_content(fake_.image_of("task-1"), "image/png");
  });
  const int port = host.bind_to_any_port("127.0.0.2");
  ASSERT_GT(port, 0) << "127.0.0.2 is loopback on Linux";
  std::thread serving([&host] { host.listen_after_bind(); });
  test::fake::image_behaviour elsewhere;
  elsewhere.url = "http://127.0.0.2:" + std::to_string(port) + "/task-1.png";
  fake_.queue(elsewhere);
  const int code = run(args(1));
  host.stop();
  serving.join();
  EXPECT_EQ(code, 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(gets, 1);
  EXPECT_EQ(with_key, 0);
}

TEST_F(money, a_full_disk_exits_1_naming_the_file_and_the_rerun_finishes_without_paying_again) {
  // A real write failure from the kernel, without mounting anything: the shell caps the size of
  // any file zbatch writes at 8 KiB (`ulimit -f`, in 512-byte blocks) and ignores SIGXFSZ, so
  // a write past it fails with EFBIG as a full disk fails with ENOSPC. The journal fits; the
  // images (1024x1024 PNGs) do not.
  std::vector<std::string> capped{"-c", "trap '' XFSZ; ulimit -f 16; exec \"$0\" \"$@\"",
                                  ZBATCH_EXE};
  const auto a = args(2, {"--strategy", "bounded,inflight=2"});
  capped.insert(capped.end(), a.begin(), a.end());
  test::temp_dir io;
  test::child c("/bin/sh", capped, io.path());
  ASSERT_TRUE(c.started());
  EXPECT_EQ(c.wait(), 1);
  output_ = c.out() + c.err();
  EXPECT_NE(output_.find("cannot write " + out_.string()), std::string::npos) << output_;
  EXPECT_NE(output_.find("File too large"), std::string::npos) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  for (const auto& file : image_files()) {
    EXPECT_EQ(file.string().find(".tmp."), std::string::npos) << "a temporary file was left";
  }
  // The disk is back: the journaled tasks are polled and downloaded, nothing is paid again.
  EXPECT_EQ(run(args(2, {"--strategy", "bounded,inflight=2"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  EXPECT_EQ(manifest()["delivered"], 2);
}

TEST_F(money, an_html_page_instead_of_the_image_is_never_delivered) {
  fake_.queue(test::fake::html_instead_of_image());
  EXPECT_EQ(run(args(1, {"--deadline-s", "2"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  const auto m = manifest();
  EXPECT_EQ(m["delivered"], 0);
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_TRUE(image_files().empty()) << "no .bin or other file for an HTML page";
  EXPECT_NE(output_.find("not a PNG, JPEG or WebP image"), std::string::npos) << output_;
}

// A new user's check: half a PNG with a matching Content-Length was delivered (exit 0) and
// trusted by every rerun. It is downloaded again from the same paid task.
TEST_F(money, an_image_cut_short_is_downloaded_again_never_delivered_half) {
  fake_.queue(test::fake::cut_image(2));
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(fake_.counts().images_served, 3);
  expect_delivered_task_1();  // the whole file, byte for byte
}

TEST_F(money, an_image_host_outage_is_ridden_out_without_a_second_task) {
  fake_.queue(test::fake::image_host_status(503, 4));
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

TEST_F(money, an_image_of_another_size_is_not_delivered) {
  test::fake::image_behaviour wrong;
  wrong.served_size = protocol::image_size{1024, 512};
  fake_.queue(wrong);
  EXPECT_EQ(run(args(1, {"--deadline-s", "2"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(manifest()["images"][0]["status"], "pending");
  EXPECT_TRUE(image_files().empty());
}

// A new user's check: one poll of a paid task answered 404 (an nginx page) or 401 ended the
// image as failed and the rerun paid for a second task. The service answers a known task 200.
TEST_F(money, a_poll_answered_404_once_is_polled_past_not_paid_again) {
  fake_.queue(test::fake::polls_refused(404, 1));
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

// A new user's check: polls answered with another task's body (a gateway or cache mixing
// answers up) delivered that task's image for every image, and the paid tasks were never fetched.
TEST_F(money, a_poll_answer_naming_another_task_is_polled_past_never_delivered) {
  fake_.queue(test::fake::task_behaviour{});  // task-1
  test::fake::task_behaviour mixed;           // task-2: its first polls answer task-1's body
  mixed.refusal =
      test::fake::answer{200,
                         "application/json",
                         R"({"task_id":"task-1","task_status":"SUCCEED","output_images":[")" +
                             fake_.base_url() + R"(/images/task-1.png"],"request_id":"r"})",
                         {}};
  mixed.refusals = 2;
  fake_.queue(mixed);
  EXPECT_EQ(run(args(2, {"--strategy", "serial"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  const auto m = manifest();
  ASSERT_EQ(m["delivered"], 2) << m.dump(2);
  const auto& second = m["images"][1];
  EXPECT_EQ(second["task_id"], "task-2");
  EXPECT_EQ(read_all(out_ / second["file"].get<std::string>()), fake_.image_of("task-2"))
      << "task-2's own image, not task-1's";
}

// A new user's gateway answered every task with the first task's image URL: seeds 7, 8 and 9
// were "delivered" as one picture. The later ones are held (their tasks are paid; a rerun
// polls them again), never written, never resubmitted.
TEST_F(money, one_image_answered_for_several_requests_is_delivered_once) {
  test::fake::image_behaviour first;
  first.url = fake_.base_url() + "/images/task-1.png";
  fake_.queue(test::fake::image_behaviour{});
  fake_.queue(first);
  fake_.queue(first);
  EXPECT_EQ(run(args(3, {"--strategy", "serial"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 3);
  auto m = manifest();
  EXPECT_EQ(m["delivered"], 1) << m.dump(2);
  for (int i : {1, 2}) {
    const auto& image = m["images"][i];
    EXPECT_EQ(image["status"], "pending") << m.dump(2);
    EXPECT_EQ(image["error_class"], "integrity");
    EXPECT_NE(image["message"].get<std::string>().find("image is byte for byte image #0's (seed "
                                                       "7, another request)"),
              std::string::npos)
        << image.dump();
  }
  EXPECT_EQ(image_files().size(), 1u);
  // The rerun polls the two tasks again (the gateway still answers so): nothing paid twice.
  EXPECT_EQ(run(args(3, {"--strategy", "serial"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 3);
  EXPECT_EQ(manifest()["images"][2]["error_class"], "integrity");
}

TEST_F(money, polls_refused_401_stop_the_batch_and_the_rerun_polls_the_task_unpaid) {
  fake_.queue(test::fake::polls_refused(401, 3));
  EXPECT_NE(run(args(2, {"--strategy", "serial"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1) << "the 401s stopped the batch before the second submit";
  auto m = manifest();
  EXPECT_EQ(m["images"][0]["status"], "pending") << m.dump(2);
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
  EXPECT_NE(output_.find("task task-1 is kept: the next run polls it"), std::string::npos)
      << output_;
  EXPECT_EQ(run(args(2, {"--strategy", "serial"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2) << "task-1 polled, only image 1 submitted";
  m = manifest();
  EXPECT_EQ(m["delivered"], 2) << m.dump(2);
  EXPECT_EQ(m["images"][0]["task_id"], "task-1");
}

// A new user's check: task ids are opaque text, and one holding '?', '#', '/' or a space was
// polled unencoded ("GET /v1/tasks/id?0": the server read task "id"), so the task looked unknown
// and the rerun paid for it again. Task 1 is left to the rerun (its polls refused 401).
TEST_F(money, task_ids_with_url_characters_are_polled_as_themselves_and_paid_once) {
  const std::string prefix = "a b?x=1#frag/../../%2F";
  fake_.set_task_id_prefix(prefix);
  fake_.queue(test::fake::polls_refused(401, 3));
  EXPECT_NE(run(args(2, {"--strategy", "serial"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1) << output_;
  EXPECT_EQ(manifest()["images"][0]["task_id"], prefix + "1");
  EXPECT_EQ(run(args(2, {"--strategy", "serial"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2) << "one paid task per image: " << output_;
  const auto m = manifest();
  ASSERT_EQ(m["delivered"], 2) << m.dump(2);
  for (int i : {0, 1}) {
    const auto& image = m["images"][i];
    const std::string id = prefix + std::to_string(i + 1);
    EXPECT_EQ(image["task_id"], id);
    EXPECT_EQ(read_all(out_ / image["file"].get<std::string>()), fake_.image_of(id));
  }
}

// A new user's check: a rerun whose journaled task was again answered 404 on polls dropped it
// and paid for a new one, after saying "the next run polls it, paying nothing".
TEST_F(money, a_kept_task_refused_again_on_the_rerun_is_kept_again_not_paid_twice) {
  fake_.queue(test::fake::polls_refused(404, 6));
  EXPECT_NE(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_NE(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1) << "the rerun paid for a new task: " << output_;
  EXPECT_NE(output_.find("task task-1 is kept: the next run polls it"), std::string::npos)
      << output_;
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

// A new user's check: two submits answered with one task id were both "delivered" with the
// first image's bytes, and the second submit's own task (charged) was never named.
TEST_F(money, a_submit_answered_with_another_images_task_id_is_possibly_paid_not_delivered) {
  fake_.queue(test::fake::submit_behaviour{});  // task-1, answered as it is
  test::fake::submit_behaviour same_id;         // task-2 created, answered as task-1
  same_id.reply =
      test::fake::answer{200,
                         "application/json",
                         R"({"task_id":"task-1","request_id":"r","task_status":"SUCCEED"})",
                         {}};
  fake_.queue(same_id);
  EXPECT_EQ(run(args(2, {"--strategy", "serial"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  EXPECT_EQ(fake_.submits_received(), 2) << "never resubmitted blindly";
  const auto m = manifest();
  EXPECT_EQ(m["images"][0]["status"], "delivered");
  EXPECT_EQ(m["images"][1]["status"], "pending") << m.dump(2);
  EXPECT_EQ(m["images"][1]["possibly_paid"], 1);
  EXPECT_EQ(m["submits_possibly_paid"], 1);
  EXPECT_NE(output_.find("the submit's answer named task task-1, which another image of the "
                         "batch (seed "),
            std::string::npos)
      << output_;
  // A new user's check: the rerun's knowing resubmit, answered with the task of the image the
  // first run delivered, delivered that image's bytes again.
  fake_.queue(same_id);
  EXPECT_EQ(run(args(2, {"--strategy", "serial", "--resubmit-possibly-paid"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 3);
  const auto again = manifest();
  EXPECT_EQ(again["images"][1]["status"], "pending") << again.dump(2);
  EXPECT_NE(output_.find("which image #0 (seed "), std::string::npos) << output_;
  EXPECT_NE(output_.find(") of an earlier run holds"), std::string::npos) << output_;
}

// A new user's check: only output_images[0] was ever tried; a dead first URL left the paid
// image undelivered on every rerun while the second URL worked.
TEST_F(money, a_dead_first_image_url_is_passed_over_for_the_next) {
  test::fake::task_behaviour two_urls;
  two_urls.terminal = test::fake::answer{
      200,
      "application/json",
      R"({"task_id":"task-1","task_status":"SUCCEED","request_id":"r","output_images":[")" +
          fake_.base_url() + R"(/images/gone.png",")" + fake_.base_url() +
          R"(/images/task-1.png"]})",
      {}};
  fake_.queue(two_urls);
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

// A new user's check: the service's own "Task not found" for the first polls of a task just
// accepted (its lag) stopped polling after 3, and every rerun then paid for one more task.
TEST_F(money, the_services_task_not_found_just_after_acceptance_is_polled_past) {
  test::fake::task_behaviour lagging;
  lagging.refusal = test::fake::answer{
      404, "application/json", protocol::error_body(404, "Task not found: task-1", "r"), {}};
  lagging.refusals = 5;
  fake_.queue(lagging);
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  expect_delivered_task_1();
}

// ---- answers that may hide a created task ------------------------------------------------------

TEST_F(money, a_gateway_504_after_the_task_was_created_is_possibly_paid_never_resubmitted) {
  for (const bool html : {false, true}) {
    SCOPED_TRACE(html ? "HTML page" : "JSON body");
    test::temp_dir other;
    out_ = other.path() / "out";
    const int before = fake_.tasks_created();
    fake_.queue(test::fake::gateway_after_create(504, html));
    EXPECT_EQ(run(args(1)), 1) << output_;
    EXPECT_EQ(fake_.tasks_created() - before, 1);
    const auto m = manifest();
    EXPECT_EQ(m["submits_paid"], 0);
    EXPECT_EQ(m["submits_possibly_paid"], 1);
    EXPECT_EQ(m["images"][0]["status"], "pending");
    EXPECT_EQ(m["images"][0]["possibly_paid"], 1);
    EXPECT_NE(output_.find("possibly paid"), std::string::npos) << output_;
  }
  EXPECT_EQ(fake_.submits_received(), 2);
}

// A new user's check: a relay's OpenAI-shaped 500 after the task was created was resubmitted
// (3 tasks charged for 2 images, "1.00 per delivered image"); then the same error inside a 200.
TEST_F(money, a_relays_error_after_create_is_possibly_paid_never_resubmitted) {
  for (int status : {500, 200}) {
    test::temp_dir other;
    out_ = other.path() / "out";
    const int created = fake_.tasks_created();
    const int received = fake_.submits_received();
    fake_.queue(test::fake::relay_error_after_create(status));
    EXPECT_EQ(run(args(1)), 1) << status << output_;
    EXPECT_EQ(fake_.tasks_created() - created, 1);
    EXPECT_EQ(fake_.submits_received() - received, 1) << status;
    const auto m = manifest();
    EXPECT_EQ(m["submits_possibly_paid"], 1);
    EXPECT_EQ(m["images"][0]["status"], "pending");
    EXPECT_EQ(m["images"][0]["possibly_paid"], 1);
  }
}

TEST_F(money, a_dropped_or_garbled_submit_answer_after_the_task_was_created_is_possibly_paid) {
  // The connection closes after the headers; a 200 whose body is cut JSON without a task id.
  for (const auto& behaviour :
       {test::fake::drop_after_create(), test::fake::garbled_after_create()}) {
    test::temp_dir other;
    out_ = other.path() / "out";
    const int created = fake_.tasks_created();
    const int received = fake_.submits_received();
    fake_.queue(behaviour);
    EXPECT_EQ(run(args(1)), 1) << output_;
    EXPECT_EQ(fake_.tasks_created() - created, 1);
    EXPECT_EQ(fake_.submits_received() - received, 1) << "never resubmitted blindly";
    const auto m = manifest();
    EXPECT_EQ(m["submits_paid"], 0);
    EXPECT_EQ(m["submits_possibly_paid"], 1);
    EXPECT_EQ(m["images"][0]["status"], "pending");
  }
}

// A new user's server answered no submit usefully (it closed every connection after reading
// the body, having charged): zbatch paid for all 20 images and delivered none. Lost answers in
// a row stop the batch: 3 before any acceptance, else 5.
TEST_F(money, submit_answers_lost_in_a_row_stop_the_batch_before_paying_for_every_image) {
  for (int i = 0; i < 20; ++i) {
    fake_.queue(test::fake::drop_after_create());
  }
  EXPECT_EQ(run(args(20, {"--strategy", "bounded,inflight=1"})), 1) << output_;
  // The third lost answer stops the batch: nothing more leaves (a fourth did, before).
  EXPECT_EQ(fake_.tasks_created(), 3) << output_;
  EXPECT_NE(output_.find("the answers to 3 submits in a row were lost"), std::string::npos)
      << output_;
  const auto m = manifest();
  EXPECT_EQ(m["submits_possibly_paid"], fake_.tasks_created()) << "every one counted";
  EXPECT_EQ(m["submits_paid"], 0);
  EXPECT_EQ(m["stopped"], "halted") << m.dump(2);
  // The in-flight one the halt cancelled is held by the rerun too, and said to be.
  EXPECT_NE(output_.find(std::to_string(fake_.tasks_created()) +
                         " image(s) pending because a submit lost its answer"),
            std::string::npos)
      << output_;
}

// A strategy that resubmits a lost answer (ambiguous=resubmit) loses one per attempt: each
// counts, so the first image's attempts stop the batch, not every image's.
TEST_F(money, lost_answers_of_resubmitting_strategies_count_each_attempt) {
  for (int i = 0; i < 40; ++i) {
    fake_.queue(test::fake::drop_after_create());
  }
  EXPECT_EQ(run(args(8, {"--strategy", "retry"})), 1) << output_;
  EXPECT_LE(fake_.tasks_created(), 6) << output_;
  EXPECT_NE(output_.find("submits in a row were lost"), std::string::npos) << output_;
  EXPECT_EQ(manifest()["submits_possibly_paid"], fake_.tasks_created());
  // The summary says what the rerun does under this strategy (it said "holds them", and the
  // rerun paid again).
  EXPECT_NE(output_.find("so a rerun submits them again, as the strategy's ambiguous=resubmit "
                         "says (each may then be paid twice)"),
            std::string::npos)
      << output_;
}

// After an acceptance the service has answered once: a few lost in a row are a flaky gateway's,
// and only the fifth stops the batch.
TEST_F(money, after_an_acceptance_five_lost_answers_in_a_row_stop_the_batch) {
  fake_.queue(test::fake::submit_behaviour{});  // answered: the task is accepted
  for (int i = 0; i < 20; ++i) {
    fake_.queue(test::fake::drop_after_create());
  }
  EXPECT_EQ(run(args(20, {"--strategy", "bounded,inflight=1"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 6) << output_;
  EXPECT_NE(output_.find("the answers to 5 submits in a row were lost"), std::string::npos)
      << output_;
  EXPECT_EQ(manifest()["submits_possibly_paid"], fake_.tasks_created() - 1);
}

// A submit whose answer never comes (the service created the task, the gateway holds the
// connection) when Ctrl-C ends the batch with no grace: after waiting for the answer the submit
// counts as possibly paid, and it was never sent again.
TEST_F(money, a_submit_answer_that_never_comes_is_possibly_paid_never_resubmitted) {
  fake_.queue(test::fake::hang_after_create());
  {
    test::temp_dir io;
    test::child c(ZBATCH_EXE, args(1, {"--grace-s", "0"}), io.path());
    ASSERT_TRUE(test::wait_for([&] { return fake_.tasks_created() == 1; })) << c.out();
    c.signal(SIGINT);
    EXPECT_EQ(c.wait(), 130) << c.out() << c.err();
  }
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(fake_.submits_received(), 1) << "never resubmitted blindly";
  const auto m = manifest();
  EXPECT_EQ(m["submits_paid"], 0);
  EXPECT_EQ(m["submits_possibly_paid"], 1) << m.dump(2);
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["possibly_paid"], 1);
}

// The rerun is where a lost answer used to be resubmitted blindly: the journal knew the submit
// may be paid, the rerun sent it again without a word. Now it holds the image until asked.
TEST_F(money, a_rerun_holds_an_image_whose_submit_lost_its_answer_unless_asked) {
  fake_.queue(test::fake::gateway_after_create(504, false));
  EXPECT_EQ(run(args(2)), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  EXPECT_NE(output_.find("1 image(s) pending because a submit lost its answer"), std::string::npos)
      << output_;

  // The rerun submits nothing: the one image left may already be paid.
  EXPECT_EQ(run(args(2)), 1) << output_;
  EXPECT_EQ(fake_.submits_received(), 2) << "resubmitted blindly";
  EXPECT_NE(output_.find("1 image(s) held, not submitted"), std::string::npos) << output_;
  EXPECT_NE(output_.find("plan: nothing to submit (1 image(s) held: their submit lost its "
                         "answer)"),
            std::string::npos)
      << output_;
  auto m = manifest();
  EXPECT_EQ(m["delivered"], 1);
  EXPECT_EQ(m["pending"], 1);
  EXPECT_EQ(m["stopped"], "held");  // it read "failures" with failed 0
  EXPECT_EQ(m["submits_possibly_paid"], 1);
  EXPECT_EQ(m["images"][0]["status"], "pending");
  EXPECT_EQ(m["images"][0]["possibly_paid"], 1);

  // Asked for, it is submitted once more and said to be possibly paid twice.
  EXPECT_EQ(run(args(2, {"--resubmit-possibly-paid"})), 0) << output_;
  EXPECT_EQ(fake_.submits_received(), 3);
  EXPECT_NE(output_.find("submitted again, as --resubmit-possibly-paid says"), std::string::npos)
      << output_;
  // What the service charged is 2 or 3 tasks for 2 images: the figure says both.
  EXPECT_NE(output_.find("paid submits over all runs 2 (+1 possibly paid: submits whose answer "
                         "was lost) = 1.00 to 1.50 per delivered image"),
            std::string::npos)
      << output_;
  m = manifest();
  EXPECT_EQ(m["delivered"], 2);
  EXPECT_EQ(m["submits_paid"], 2);
  EXPECT_EQ(m["submits_possibly_paid"], 1);
}

TEST_F(money, the_services_own_busy_answer_is_free_and_retried) {
  fake_.queue(test::fake::busy());
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(manifest()["submits_possibly_paid"], 0);
}

// ---- classification ----------------------------------------------------------------------------

TEST_F(money, moderation_sent_as_a_text_code_or_a_string_422_is_final) {
  fake_.queue(test::fake::moderated_text_code());
  fake_.queue(test::fake::moderated_string_422());
  EXPECT_EQ(run(args(2)), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  const auto m = manifest();
  EXPECT_EQ(m["failed"], 2);
  for (const auto& image : m["images"]) {
    EXPECT_EQ(image["status"], "failed");
    EXPECT_EQ(image["error_class"], "moderation");
  }
}

TEST_F(money, a_moderated_image_is_not_paid_again_on_a_rerun_unless_asked) {
  fake_.queue(test::fake::moderated_text_code());
  EXPECT_EQ(run(args(2)), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);

  // The rerun sends nothing: the refusal is settled in the journal.
  EXPECT_EQ(run(args(2)), 1) << output_;
  EXPECT_EQ(fake_.submits_received(), 2);
  EXPECT_NE(output_.find("1 refused for moderation before (not paid again"), std::string::npos)
      << output_;
  auto m = manifest();
  EXPECT_EQ(m["failed"], 1);
  EXPECT_EQ(m["delivered"], 1);
  EXPECT_EQ(m["submits_paid"], 2);
  EXPECT_EQ(m["images"][0]["status"], "failed");
  EXPECT_EQ(m["images"][0]["error_class"], "moderation");
  EXPECT_EQ(m["images"][0]["run"], "earlier");

  // Asked for, it is submitted (and paid) once more; this time the service delivers.
  EXPECT_EQ(run(args(2, {"--retry-moderated"})), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 3);
  m = manifest();
  EXPECT_EQ(m["delivered"], 2);
  EXPECT_EQ(m["submits_paid"], 3);
}

TEST_F(money, a_batch_fatal_answer_stops_the_batch_after_the_first) {
  fake_.set_default(test::fake::unauthorized());
  EXPECT_EQ(run(args(5)), 1) << output_;
  EXPECT_EQ(fake_.submits_received(), 1);
  EXPECT_EQ(fake_.tasks_created(), 0);
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "halted");
  EXPECT_EQ(m["delivered"], 0);
  EXPECT_NE(output_.find("bind your Alibaba Cloud account"), std::string::npos) << output_;
  // "Rerun the same command" cannot carry a changed input: the summary says where one goes.
  EXPECT_NE(output_.find("needs another --out directory: " + out_.string() +
                         " holds this batch, and nothing in it was paid"),
            std::string::npos)
      << output_;
}

// A new user's check: tasks the service FAILED for a system reason were summed as paid, though
// the service refunds them (protocol doc). Kept in the journal, so a rerun says the same.
TEST_F(money, a_task_failed_for_a_system_reason_is_counted_as_refunded) {
  fake_.queue(test::fake::task_fails("500", "Internal algorithm error"));
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
  const std::string said =
      "paid submits over all runs 2 (1 of them ended FAILED for a system reason, which the "
      "service refunds: about 1 charged)";
  EXPECT_NE(output_.find(said), std::string::npos) << output_;
  EXPECT_EQ(manifest()["submits_refunded"], 1);
  EXPECT_EQ(run(args(1)), 0) << output_;
  EXPECT_NE(output_.find(said), std::string::npos) << output_;
  EXPECT_EQ(fake_.tasks_created(), 2);
}

// A new user's check: a submit redirected (307) read "unexpected HTTP status 307" and was sent
// 10 times for 2 images. A redirect is not followed (a submit sent again may pay twice): the
// batch stops after the first, naming where it points.
// Another's: the summary then said "nothing in it was paid", though the server had made the
// task before redirecting; zbatch cannot know that, so it says only that no task id is held.
TEST_F(money, a_redirected_submit_stops_the_batch_naming_the_location) {
  test::fake::submit_behaviour moved;
  moved.creates_task = true;
  moved.reply =
      test::fake::answer{307,
                         "text/html",
                         "<html>Moved</html>",
                         {{"Location", "https://elsewhere.invalid/v1/images/generations"}}};
  fake_.set_default(moved);
  EXPECT_EQ(run(args(3)), 1) << output_;
  EXPECT_EQ(fake_.submits_received(), 1);
  EXPECT_EQ(manifest()["stopped"], "halted");
  EXPECT_NE(output_.find("HTTP 307 redirect to https://elsewhere.invalid/v1/images/generations: "
                         "API calls are not followed"),
            std::string::npos)
      << output_;
  EXPECT_EQ(fake_.tasks_created(), 1);
  EXPECT_EQ(output_.find("nothing in it was paid"), std::string::npos) << output_;
  EXPECT_NE(output_.find(out_.string() +
                         " holds this batch and no task id, so it can be deleted; whether the "
                         "server made a task before redirecting the submit, zbatch cannot know)"),
            std::string::npos)
      << output_;
}

TEST_F(money, unknown_429_texts_stop_the_batch_with_the_text_shown) {
  fake_.set_default(test::fake::rate_limited(test::fake::unknown_429_text()));
  EXPECT_EQ(run(args(2, {"--strategy", "adaptive,retry=4:exp:base=10ms:cap=20ms"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 0);
  EXPECT_EQ(fake_.submits_received(), 5);
  EXPECT_EQ(manifest()["stopped"], "halted");
  EXPECT_NE(output_.find(test::fake::unknown_429_text()), std::string::npos) << output_;
}

// A new user's check: a quota 429 with "Retry-After: 0" (or a date already past) read as
// "the quota resets at <now>, as the service said", under a text saying "tomorrow".
TEST_F(money, a_quota_429_with_a_retry_after_of_0_names_the_assumed_reset_not_now) {
  for (const char* after : {"0", "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    test::temp_dir other;
    out_ = other.path() / "out";
    fake_.set_default(test::fake::rate_limited(test::fake::quota_429_texts()[1], after));
    EXPECT_EQ(run(args(2)), 4) << output_;
    EXPECT_EQ(output_.find("as the service said"), std::string::npos) << after << output_;
    const auto m = manifest();
    EXPECT_EQ(m["stopped"], "quota");
    EXPECT_EQ(m["quota_resets_at"].get<std::string>().substr(11), "16:00:00Z")
        << "the assumed reset, midnight UTC+8: " << m.dump(2);
  }
}

// A new user's check: the quota's text under headers saying 900 calls remain was retried as the
// dynamic limit 25 times per image, then "unfinished": now bounded, then stopped with the text.
TEST_F(money, a_quota_text_under_headers_saying_calls_remain_stops_after_a_few_tries) {
  auto refusal = test::fake::rate_limited(test::fake::quota_429_texts()[1]);
  refusal.reply->headers.emplace_back(std::string(protocol::ratelimit::requests_limit), "1000");
  refusal.reply->headers.emplace_back(std::string(protocol::ratelimit::requests_remaining), "900");
  fake_.set_default(refusal);
  EXPECT_EQ(run(args(2, {"--strategy", "adaptive,retry=4:exp:base=10ms:cap=20ms"})), 1) << output_;
  EXPECT_EQ(fake_.tasks_created(), 0);
  EXPECT_EQ(fake_.submits_received(), 5) << "bounded like an unknown 429 text";
  EXPECT_EQ(manifest()["stopped"], "halted");
  EXPECT_NE(output_.find(test::fake::quota_429_texts()[1]), std::string::npos) << output_;
}

TEST_F(money, a_retry_after_longer_than_a_batch_waits_is_a_stop_with_the_services_time) {
  fake_.set_default(test::fake::rate_limited(test::fake::dynamic_429_text(), "7200"));
  EXPECT_EQ(run(args(2)), 4) << output_;
  EXPECT_EQ(fake_.tasks_created(), 0);
  EXPECT_EQ(fake_.submits_received(), 1);
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "quota");
  EXPECT_FALSE(m["quota_resets_at"].is_null());
  EXPECT_NE(output_.find("as the service said"), std::string::npos) << output_;
  // A rate-limit text, not the quota's: the service asked to wait (it read "quota exhausted").
  EXPECT_NE(output_.find("the service asked to wait (Retry-After longer than a batch waits): 2 "
                         "image(s) remain; it said to come back at "),
            std::string::npos)
      << output_;
  EXPECT_EQ(output_.find("quota exhausted"), std::string::npos) << output_;
  // --fit-quota cannot use calls the service just refused (a new user's check).
  EXPECT_EQ(output_.find("--fit-quota to make what fits now"), std::string::npos) << output_;
}

// A new user's check: "failed 0, pending 1", stopped "failures" and no word why, when a
// strategy that does not retry 429s left an image refused.
TEST_F(money, images_left_pending_by_the_strategys_retries_are_unfinished_and_said_why) {
  fake_.set_default(test::fake::rate_limited(test::fake::dynamic_429_text()));
  EXPECT_EQ(run(args(1, {"--strategy", "bounded,inflight=1"})), 1) << output_;
  EXPECT_EQ(manifest()["stopped"], "unfinished");
  EXPECT_NE(output_.find("unfinished: 1 image(s) pending after their last attempt (1 "
                         "dynamic_429): nothing failed for good; rerun the same command"),
            std::string::npos)
      << output_;
  EXPECT_EQ(fake_.tasks_created(), 0);
}

// A new user's check: after a quota 429 without rate-limit headers the rerun planned from the
// figures seen before it. The stop is journaled: the rerun's plan says so and probes alone.
TEST_F(money, a_rerun_after_a_quota_429_plans_from_the_stop_not_older_figures) {
  fake_.set_default(test::fake::rate_limited(test::fake::quota_429_texts().front()));
  EXPECT_EQ(run(args(2)), 4) << output_;
  EXPECT_EQ(run(args(2)), 4) << output_;
  EXPECT_NE(output_.find("calls left today: unknown (an earlier run stopped for the quota at "),
            std::string::npos)
      << output_;
  EXPECT_EQ(fake_.submits_received(), 2) << "one probe per run";
  EXPECT_EQ(fake_.tasks_created(), 0);
}

// ---- errors speak at once ----------------------------------------------------------------------

TEST_F(money, a_closed_port_is_named_at_once_and_stops_the_batch_unpaid) {
  const auto url = "http://127.0.0.1:" + std::to_string(test::fake::closed_port());
  auto a = args(3);
  a[2] = url;
  EXPECT_EQ(run(a), 1) << output_;
  EXPECT_NE(output_.find("cannot reach " + url), std::string::npos) << output_;
  const auto m = manifest();
  EXPECT_EQ(m["stopped"], "halted");
  EXPECT_EQ(m["submits_paid"], 0);
  EXPECT_EQ(m["pending"], 3);
  EXPECT_LE(m["this_run"]["submit_requests"].get<int>(), 3);
}

// ---- counts add up -----------------------------------------------------------------------------

TEST_F(money, summary_and_manifest_agree_on_every_count) {
  // Image 0's submit meets a gateway 502 after its task (task-1) was created; image 1's task
  // (task-2) is moderated; images 2 and 3 are delivered.
  fake_.queue(test::fake::gateway_after_create(502, true));
  fake_.queue(test::fake::task_behaviour{});
  fake_.queue(test::fake::moderated_text_code());
  EXPECT_EQ(run(args(4, {"--json"})), 1) << output_;
  const auto m = manifest();
  EXPECT_EQ(m["delivered"].get<int>() + m["failed"].get<int>() + m["pending"].get<int>(),
            m["total"].get<int>());
  EXPECT_EQ(m["remaining"].get<int>(), m["failed"].get<int>() + m["pending"].get<int>());
  json summary;
  for (std::size_t start = 0; start < output_.size();) {
    const auto end = output_.find('\n', start);
    const auto line = json::parse(output_.substr(start, end - start), nullptr, false);
    if (!line.is_discarded() && line.value("event", "") == "summary") {
      summary = line;
    }
    start = end == std::string::npos ? output_.size() : end + 1;
  }
  ASSERT_TRUE(summary.is_object()) << output_;
  for (const char* field :
       {"delivered", "failed", "pending", "remaining", "submits_paid", "submits_possibly_paid"}) {
    EXPECT_EQ(summary[field], m[field]) << field;
  }
  EXPECT_EQ(m["delivered"], 2);
  EXPECT_EQ(m["failed"], 1);
  EXPECT_EQ(m["pending"], 1);
  EXPECT_EQ(m["submits_paid"].get<int>() + m["submits_possibly_paid"].get<int>(),
            fake_.tasks_created());
}

}  // namespace
}  // namespace zbatch
