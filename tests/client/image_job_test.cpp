// The single-image flow against a scripted backend and a fake clock: no sockets, no waiting.
#include "client/image_job.hpp"

#include <deque>
#include <vector>

#include <gtest/gtest.h>

#include "client/codec.hpp"
#include "client/digest.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;
using std::chrono::milliseconds;

/// Time moves only when the job sleeps; every sleep is recorded.
class fake_clock final : public job_clock {
 public:
  time_point now() override { return now_; }
  void sleep_for(milliseconds duration) override {
    sleeps.push_back(duration.count());
    now_ += duration;
  }
  std::int64_t elapsed_ms() const {
    return std::chrono::duration_cast<milliseconds>(now_ - time_point{}).count();
  }
  std::vector<std::int64_t> sleeps;

 private:
  time_point now_{};
};

protocol::api_error failure(error_class kind, bool ambiguous = false) {
  protocol::api_error error;
  error.kind = kind;
  error.message = std::string(protocol::to_string(kind));
  error.ambiguous = ambiguous;
  return error;
}

protocol::task_state state(protocol::task_status status, std::string url = {}) {
  protocol::task_state out;
  out.task_id = "t";
  out.status = status;
  out.raw_status = std::string(protocol::to_string(status));
  if (!url.empty()) {
    out.output_images.push_back(url);
  }
  return out;
}

/// Answers from scripts; once a script runs out its last answer repeats.
class scripted_backend final : public backend {
 public:
  std::deque<result<protocol::submit_accepted>> submits;
  std::deque<result<protocol::task_state>> polls;
  std::deque<result<downloaded_image>> downloads;
  int submit_calls = 0;
  int poll_calls = 0;
  int download_calls = 0;
  std::string downloaded_url;

  result<protocol::submit_accepted> submit(const protocol::submit_request&) override {
    ++submit_calls;
    return next(submits);
  }
  result<protocol::task_state> poll(const std::string&) override {
    ++poll_calls;
    return next(polls);
  }
  result<downloaded_image> download(const std::string& url) override {
    ++download_calls;
    downloaded_url = url;
    return next(downloads);
  }

 private:
  template <class T>
  static T next(std::deque<T>& script) {
    T out = script.front();
    if (script.size() > 1) {
      script.pop_front();
    }
    return out;
  }
};

protocol::submit_accepted accepted() { return {"t", "r"}; }

protocol::submit_request request() {
  protocol::submit_request out;
  out.prompt = "p";
  out.seed = 11;
  return out;
}

job_options fast_options() {
  job_options options;
  options.poll_interval = milliseconds{100};
  options.max_poll_interval = milliseconds{100};
  options.deadline = milliseconds{10'000};
  options.submit_retry_delay = milliseconds{50};
  return options;
}

TEST(ImageJob, HappyPath) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {state(protocol::task_status::pending), state(protocol::task_status::running),
               state(protocol::task_status::succeed, "http://img/x.png")};
  api.downloads = {downloaded_image{"abc", "image/png"}};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_FALSE(record.error);
  EXPECT_EQ(record.seed, 11);
  EXPECT_EQ(record.task_id, "t");
  EXPECT_EQ(record.image, "abc");
  EXPECT_EQ(record.bytes, 3);
  EXPECT_EQ(record.content_type, "image/png");
  EXPECT_EQ(record.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(record.attempts, 1);
  EXPECT_EQ(record.polls, 3);
  EXPECT_EQ(record.last_status, "SUCCEED");
  EXPECT_EQ(record.latency_ms, 300);
  EXPECT_EQ(api.downloaded_url, "http://img/x.png");
}

TEST(ImageJob, PollBackoffUpToTheCap) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {state(protocol::task_status::running), state(protocol::task_status::running),
               state(protocol::task_status::running), state(protocol::task_status::running),
               state(protocol::task_status::succeed, "u")};
  api.downloads = {downloaded_image{"x", ""}};
  auto options = fast_options();
  options.poll_backoff = 2.0;
  options.max_poll_interval = milliseconds{500};
  fake_clock clock;
  auto record = run_image_job(api, request(), options, clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_EQ(clock.sleeps, (std::vector<std::int64_t>{100, 200, 400, 500, 500}));
}

TEST(ImageJob, TransientPollFailuresKeepPolling) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {failure(error_class::server_transport), failure(error_class::malformed),
               failure(error_class::dynamic_429), state(protocol::task_status::succeed, "u")};
  api.downloads = {downloaded_image{"x", ""}};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_EQ(record.polls, 4);
  EXPECT_EQ(api.submit_calls, 1);
}

TEST(ImageJob, RetryAfterOnAPollStretchesTheWait) {
  scripted_backend api;
  api.submits = {accepted()};
  auto limited = failure(error_class::dynamic_429);
  limited.retry_after_ms = 2000;
  api.polls = {limited, state(protocol::task_status::succeed, "u")};
  api.downloads = {downloaded_image{"x", ""}};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_EQ(clock.sleeps, (std::vector<std::int64_t>{100, 2000}));
}

TEST(ImageJob, DeadlineNeverResubmits) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {state(protocol::task_status::running)};
  auto options = fast_options();
  options.deadline = milliseconds{1050};
  fake_clock clock;
  auto record = run_image_job(api, request(), options, clock);
  EXPECT_FALSE(record.delivered);
  ASSERT_TRUE(record.error);
  EXPECT_EQ(record.error->kind, error_class::deadline);
  EXPECT_NE(record.error->message.find("RUNNING"), std::string::npos);
  EXPECT_EQ(api.submit_calls, 1);
  EXPECT_EQ(record.attempts, 1);
  EXPECT_EQ(record.polls, 11);  // ten full waits and a last one cut to the deadline
  EXPECT_EQ(clock.elapsed_ms(), 1050);
  EXPECT_EQ(record.latency_ms, 1050);
  EXPECT_EQ(api.download_calls, 0);
}

TEST(ImageJob, FailedTaskEndsTheJobWithItsClass) {
  for (auto kind : {error_class::moderation, error_class::task_failed}) {
    scripted_backend api;
    api.submits = {accepted()};
    api.polls = {state(protocol::task_status::running), failure(kind)};
    fake_clock clock;
    auto record = run_image_job(api, request(), fast_options(), clock);
    ASSERT_TRUE(record.error);
    EXPECT_EQ(record.error->kind, kind);
    EXPECT_EQ(record.last_status, "FAILED");
    EXPECT_EQ(api.submit_calls, 1);  // a system failure is retryable, but not by this job
    EXPECT_EQ(record.polls, 2);
  }
}

TEST(ImageJob, FatalPollErrorStops) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {failure(error_class::request_error)};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  ASSERT_TRUE(record.error);
  EXPECT_EQ(record.error->kind, error_class::request_error);
  EXPECT_EQ(record.polls, 1);
}

TEST(ImageJob, CertainRefusalsAreResubmittedWithBackoff) {
  scripted_backend api;
  auto limited = failure(error_class::dynamic_429);
  api.submits = {limited, failure(error_class::server_transport), accepted()};
  api.polls = {state(protocol::task_status::succeed, "u")};
  api.downloads = {downloaded_image{"x", ""}};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_EQ(record.attempts, 3);
  EXPECT_EQ(clock.sleeps, (std::vector<std::int64_t>{50, 100, 100}));
}

TEST(ImageJob, SubmitRetryHonoursRetryAfterAndTheAttemptLimit) {
  scripted_backend api;
  auto limited = failure(error_class::dynamic_429);
  limited.retry_after_ms = 3000;
  api.submits = {limited};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  ASSERT_TRUE(record.error);
  EXPECT_EQ(record.error->kind, error_class::dynamic_429);
  EXPECT_EQ(record.attempts, 3);
  EXPECT_EQ(clock.sleeps, (std::vector<std::int64_t>{3000, 3000}));
}

TEST(ImageJob, AmbiguousOrFatalSubmitIsNotRepeated) {
  for (auto error :
       {failure(error_class::server_transport, /*ambiguous=*/true), failure(error_class::quota_429),
        failure(error_class::request_error), failure(error_class::malformed)}) {
    scripted_backend api;
    api.submits = {error};
    fake_clock clock;
    auto record = run_image_job(api, request(), fast_options(), clock);
    ASSERT_TRUE(record.error);
    EXPECT_EQ(record.error->kind, error.kind);
    EXPECT_EQ(record.error->ambiguous, error.ambiguous);
    EXPECT_EQ(api.submit_calls, 1) << protocol::to_string(error.kind);
    EXPECT_EQ(api.poll_calls, 0);
    EXPECT_TRUE(record.task_id.empty());
  }
}

TEST(ImageJob, SubmitRetryStopsAtTheDeadline) {
  scripted_backend api;
  api.submits = {failure(error_class::server_transport)};
  auto options = fast_options();
  options.max_submit_attempts = 100;
  options.deadline = milliseconds{1000};
  fake_clock clock;
  auto record = run_image_job(api, request(), options, clock);
  ASSERT_TRUE(record.error);
  EXPECT_LE(clock.elapsed_ms(), 1000);
  EXPECT_EQ(record.attempts, 5);  // waits of 50, 100, 200, 400; the next 800 would pass it
}

TEST(ImageJob, DownloadIsRetriedOnTransientFailures) {
  scripted_backend api;
  api.submits = {accepted()};
  api.polls = {state(protocol::task_status::succeed, "u")};
  api.downloads = {failure(error_class::server_transport), downloaded_image{"x", ""}};
  fake_clock clock;
  auto record = run_image_job(api, request(), fast_options(), clock);
  EXPECT_TRUE(record.delivered);
  EXPECT_EQ(api.download_calls, 2);

  scripted_backend gone;
  gone.submits = {accepted()};
  gone.polls = {state(protocol::task_status::succeed, "u")};
  gone.downloads = {failure(error_class::request_error)};
  auto lost = run_image_job(gone, request(), fast_options(), clock);
  ASSERT_TRUE(lost.error);
  EXPECT_EQ(lost.error->kind, error_class::request_error);
  EXPECT_EQ(gone.download_calls, 1);
}

TEST(JobOptions, CheckNamesTheField) {
  EXPECT_EQ(job_options{}.check(), "");
  auto options = job_options{};
  options.poll_interval = milliseconds{0};
  EXPECT_NE(options.check().find("poll interval"), std::string::npos);
  options = job_options{};
  options.poll_backoff = 0.5;
  EXPECT_NE(options.check().find("backoff"), std::string::npos);
  options = job_options{};
  options.deadline = milliseconds{0};
  EXPECT_NE(options.check().find("deadline"), std::string::npos);
}

}  // namespace
}  // namespace zbatch::client
