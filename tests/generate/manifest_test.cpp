// manifest.json as built from its input: the exact JSON for one image delivered, failed, pending
// with its task, possibly paid, halted, and delivered in an earlier run; reading entries back.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "generate/manifest.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch::generate {
namespace {

using nlohmann::json;

/// "a fox" with seed 7 at the default size, as `--prompt "a fox" --seed 7` gives it.
image_spec fox() {
  image_spec spec;
  spec.request.model = "m";
  spec.request.prompt = "a fox";
  spec.request.seed = 7;
  spec.request.size = protocol::image_size{};
  return spec;
}

/// One image of one prompt, run with the serial strategy; the batch's counts are the test's.
manifest_input one_image(manifest_image image) {
  manifest_input in;
  in.options = options_json({image.spec}, false, 1);
  in.endpoint = "http://127.0.0.1:9";
  in.strategy = "serial";
  in.images = {std::move(image)};
  return in;
}

/// What every one-prompt manifest of `one_image` holds; each test adds its counts and entry.
json expected_top(const std::string& fields) {
  auto out = json::parse(R"({
    "version": 2, "model": "m", "endpoint": "http://127.0.0.1:9", "strategy": "serial",
    "max_submits": 0, "total": 1, "runs": 1, "quota_resets_at": null,
    "quota_resets_at_utc8": null, "halted_by": null,
    "prompt": "a fox", "count": 1, "base_seed": 7, "size": "1024x1024"})");
  out.update(json::parse(fields));
  return out;
}

actors::batch_counters counters(int submits, int accepted, int polls, int downloads) {
  actors::batch_counters c;
  c.submits = submits;
  c.accepted = accepted;
  c.polls = polls;
  c.downloads = downloads;
  return c;
}

TEST(manifest, an_image_delivered_in_this_run) {
  manifest_image image;
  image.spec = fox();
  image.status = image_status::delivered;
  image.run = image_run::this_run;
  image.task_id = "task-1";
  image.file = "0-7.png";
  image.sha256 = "ab12";
  image.bytes = 42;
  image.latency_ms = 1500;
  image.attempts = 1;
  image.submits = 1;
  auto in = one_image(image);
  in.stopped = "complete";
  in.delivered = 1;
  in.submits_paid = 1;
  auto run = counters(1, 1, 3, 1);
  run.http_429_dynamic = 1;
  run.http_429_quota = 1;
  run.retries = 2;
  in.this_run = manifest_run{run, 2000};

  EXPECT_EQ(manifest_json(in).dump(), expected_top(R"({
    "stopped": "complete", "delivered": 1, "failed": 0, "remaining": 0, "pending": 0,
    "submits_paid": 1, "submits_possibly_paid": 0, "submits_refunded": 0, "submits_per_delivered_image": 1.0,
    "images": [{"index": 0, "model": "m", "prompt": "a fox", "seed": 7, "size": "1024x1024",
                "task_id": "task-1", "file": "0-7.png", "bytes": 42, "sha256": "ab12",
                "latency_ms": 1500, "status": "delivered", "error_class": null,
                "message": null, "attempts": 1, "submits": 1, "possibly_paid": 0,
                "run": "this"}],
    "this_run": {"submit_requests": 1, "accepted": 1, "polls": 3, "downloads": 1,
                 "http_429": 2, "retries": 2, "hung_resubmits": 0, "makespan_ms": 2000}})")
                                          .dump());
}

TEST(manifest, a_failed_image_shows_its_class_and_no_file) {
  manifest_image image;
  image.spec = fox();
  image.status = image_status::failed;
  image.run = image_run::this_run;
  image.task_id = "task-1";
  image.file = "left-over.png";  // never written for an image that was not delivered
  image.error_class = "moderation";
  image.message = "inappropriate content";
  image.attempts = 1;
  image.submits = 1;
  auto in = one_image(image);
  in.stopped = "failures";
  in.failed = 1;
  in.remaining = 1;
  in.submits_paid = 1;
  in.this_run = manifest_run{counters(1, 1, 2, 0), 800};

  EXPECT_EQ(manifest_json(in).dump(), expected_top(R"({
    "stopped": "failures", "delivered": 0, "failed": 1, "remaining": 1, "pending": 0,
    "submits_paid": 1, "submits_possibly_paid": 0, "submits_refunded": 0, "submits_per_delivered_image": null,
    "images": [{"index": 0, "model": "m", "prompt": "a fox", "seed": 7, "size": "1024x1024",
                "task_id": "task-1", "file": null, "bytes": null, "sha256": null,
                "latency_ms": null, "status": "failed", "error_class": "moderation",
                "message": "inappropriate content", "attempts": 1, "submits": 1,
                "possibly_paid": 0, "run": "this"}],
    "this_run": {"submit_requests": 1, "accepted": 1, "polls": 2, "downloads": 0,
                 "http_429": 0, "retries": 0, "hung_resubmits": 0, "makespan_ms": 800}})")
                                          .dump());
}

TEST(manifest, a_pending_image_keeps_its_task_for_the_rerun) {
  manifest_image image;
  image.spec = fox();
  image.status = image_status::pending;
  image.run = image_run::this_run;
  image.task_id = "task-1";
  image.error_class = "deadline";
  image.message = "deadline: task task-1 still running at the poll deadline (2000 ms)";
  image.attempts = 1;
  image.submits = 1;
  auto in = one_image(image);
  in.stopped = "failures";
  in.remaining = 1;
  in.pending = 1;
  in.submits_paid = 1;
  in.this_run = manifest_run{counters(1, 1, 5, 0), 2000};

  EXPECT_EQ(manifest_json(in).dump(), expected_top(R"j({
    "stopped": "failures", "delivered": 0, "failed": 0, "remaining": 1, "pending": 1,
    "submits_paid": 1, "submits_possibly_paid": 0, "submits_refunded": 0, "submits_per_delivered_image": null,
    "images": [{"index": 0, "model": "m", "prompt": "a fox", "seed": 7, "size": "1024x1024",
                "task_id": "task-1", "file": null, "bytes": null, "sha256": null,
                "latency_ms": null, "status": "pending", "error_class": "deadline",
                "message": "deadline: task task-1 still running at the poll deadline (2000 ms)",
                "attempts": 1, "submits": 1, "possibly_paid": 0, "run": "this"}],
    "this_run": {"submit_requests": 1, "accepted": 1, "polls": 5, "downloads": 0,
                 "http_429": 0, "retries": 0, "hung_resubmits": 0, "makespan_ms": 2000}})j")
                                          .dump());
}

TEST(manifest, a_submit_whose_answer_was_lost_is_possibly_paid_without_a_task) {
  manifest_image image;
  image.spec = fox();
  image.status = image_status::pending;
  image.run = image_run::this_run;
  image.error_class = "server_transport";
  image.message = "HTTP 504";
  image.attempts = 1;
  image.possibly_paid = 1;
  auto in = one_image(image);
  in.stopped = "failures";
  in.remaining = 1;
  in.pending = 1;
  in.submits_possibly_paid = 1;
  in.this_run = manifest_run{counters(1, 0, 0, 0), 300};

  EXPECT_EQ(manifest_json(in).dump(), expected_top(R"({
    "stopped": "failures", "delivered": 0, "failed": 0, "remaining": 1, "pending": 1,
    "submits_paid": 0, "submits_possibly_paid": 1, "submits_refunded": 0, "submits_per_delivered_image": null,
    "images": [{"index": 0, "model": "m", "prompt": "a fox", "seed": 7, "size": "1024x1024",
                "task_id": null, "file": null, "bytes": null, "sha256": null,
                "latency_ms": null, "status": "pending", "error_class": "server_transport",
                "message": "HTTP 504", "attempts": 1, "submits": 0, "possibly_paid": 1,
                "run": "this"}],
    "this_run": {"submit_requests": 1, "accepted": 0, "polls": 0, "downloads": 0,
                 "http_429": 0, "retries": 0, "hung_resubmits": 0, "makespan_ms": 300}})")
                                          .dump());
}

TEST(manifest, a_halted_batch_names_the_answer_that_stopped_it) {
  manifest_image image;
  image.spec = fox();
  image.status = image_status::pending;
  image.run = image_run::none;
  auto in = one_image(image);
  in.stopped = "halted";
  in.halted_by = "HTTP 401: unauthorized";
  in.remaining = 1;
  in.pending = 1;
  in.runs = 2;
  in.this_run = manifest_run{counters(1, 0, 0, 0), 50};

  EXPECT_EQ(manifest_json(in).dump(), expected_top(R"({
    "stopped": "halted", "halted_by": "HTTP 401: unauthorized", "runs": 2,
    "delivered": 0, "failed": 0, "remaining": 1, "pending": 1,
    "submits_paid": 0, "submits_possibly_paid": 0, "submits_refunded": 0, "submits_per_delivered_image": null,
    "images": [{"index": 0, "model": "m", "prompt": "a fox", "seed": 7, "size": "1024x1024",
                "task_id": null, "file": null, "bytes": null, "sha256": null,
                "latency_ms": null, "status": "pending", "error_class": null,
                "message": null, "attempts": 0, "submits": 0, "possibly_paid": 0,
                "run": "none"}],
    "this_run": {"submit_requests": 1, "accepted": 0, "polls": 0, "downloads": 0,
                 "http_429": 0, "retries": 0, "hung_resubmits": 0, "makespan_ms": 50}})")
                                          .dump());
}

TEST(manifest, a_batch_file_image_delivered_earlier_keeps_its_measured_latency) {
  manifest_image image;
  image.spec = fox();
  image.spec.line = 3;
  image.spec.request.negative_prompt = "people";
  image.spec.request.steps = 9;
  image.spec.request.guidance = 3.5;
  image.status = image_status::delivered;
  image.run = image_run::earlier;
  image.task_id = "task-1";
  image.file = "0-7.png";
  image.sha256 = "ab12";
  image.bytes = 42;
  image.submits = 1;
  image.earlier = json{{"latency_ms", 900}, {"attempts", 2}, {"sha256", "ab12"}};
  manifest_input in;
  in.options = options_json({image.spec}, true);
  in.endpoint = "http://127.0.0.1:9";
  in.strategy = "serial";
  in.images = {image};
  in.stopped = "complete";
  in.delivered = 1;
  in.submits_paid = 1;
  in.quota_reset = "2025-01-31T16:00:00Z";
  in.quota_reset_utc8 = "2025-02-01 00:00 UTC+8";

  // No batch ran (no this_run) and a batch file's manifest has no prompt-level fields.
  EXPECT_EQ(manifest_json(in).dump(), json::parse(R"({
    "version": 2, "model": "m", "endpoint": "http://127.0.0.1:9", "strategy": "serial",
    "max_submits": 0, "stopped": "complete", "total": 1, "delivered": 1, "failed": 0,
    "remaining": 0, "pending": 0, "submits_paid": 1, "submits_possibly_paid": 0, "submits_refunded": 0,
    "halted_by": null, "submits_per_delivered_image": 1.0, "runs": 1,
    "quota_resets_at": "2025-01-31T16:00:00Z", "quota_resets_at_utc8": "2025-02-01 00:00 UTC+8",
    "images": [{"index": 0, "line": 3, "model": "m", "prompt": "a fox", "negative_prompt": "people",
                "steps": 9, "guidance": 3.5, "seed": 7, "size": "1024x1024",
                "task_id": "task-1", "file": "0-7.png", "bytes": 42, "sha256": "ab12",
                "latency_ms": 900, "status": "delivered", "error_class": null,
                "message": null, "attempts": 2, "submits": 1, "possibly_paid": 0,
                "run": "earlier"}]})")
                                          .dump());
}

TEST(manifest, entries_are_read_back_by_index_and_a_damaged_file_gives_none) {
  test::temp_dir dir;
  const auto path = dir.path() / "manifest.json";
  EXPECT_TRUE(earlier_manifest_entries(path).empty()) << "no file yet";

  std::ofstream(path) << R"({"images": [{"index": 1, "latency_ms": 5}, {"index": -1}, 7,
                                        {"latency_ms": 6}, {"index": 0, "attempts": 2}]})";
  const auto entries = earlier_manifest_entries(path);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.at(0), json::parse(R"({"index": 0, "attempts": 2})"));
  EXPECT_EQ(entries.at(1), json::parse(R"({"index": 1, "latency_ms": 5})"));

  std::ofstream(path) << R"({"images": [{"index": 0)";
  EXPECT_TRUE(earlier_manifest_entries(path).empty()) << "torn";
  std::ofstream(path) << R"({"images": {"0": {}}})";
  EXPECT_TRUE(earlier_manifest_entries(path).empty()) << "not an array";
}

}  // namespace
}  // namespace zbatch::generate
