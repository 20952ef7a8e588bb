#include "client/image_job.hpp"

#include <algorithm>
#include <thread>

#include "client/digest.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;
using std::chrono::milliseconds;

milliseconds until(job_clock::time_point deadline, job_clock::time_point now) {
  return std::max(milliseconds{0}, std::chrono::duration_cast<milliseconds>(deadline - now));
}

/// A submit the service certainly did not act on, and that may succeed later.
bool submit_worth_retrying(const protocol::api_error& error) {
  return !error.ambiguous &&
         (error.kind == error_class::dynamic_429 || error.kind == error_class::server_transport);
}

/// A poll failure that says nothing about the task itself: keep polling.
bool poll_transient(const protocol::api_error& error) {
  return error.kind == error_class::dynamic_429 || error.kind == error_class::server_transport ||
         error.kind == error_class::malformed;
}

protocol::api_error deadline_error(const std::string& task_id, const std::string& status,
                                   milliseconds deadline) {
  protocol::api_error error;
  error.kind = error_class::deadline;
  error.message = "task " + task_id + " still " + (status.empty() ? "unpolled" : status) +
                  " after the " + std::to_string(deadline.count()) + " ms deadline";
  return error;
}

}  // namespace

job_clock::time_point wall_clock::now() { return std::chrono::steady_clock::now(); }

void wall_clock::sleep_for(milliseconds duration) { std::this_thread::sleep_for(duration); }

std::string job_options::check() const {
  if (poll_interval.count() < 1 || poll_interval.count() > 600'000) {
    return "poll interval must be 1..600000 ms";
  }
  if (!(poll_backoff >= 1.0 && poll_backoff <= 10.0)) {
    return "poll backoff must be 1..10";
  }
  if (max_poll_interval < poll_interval) {
    return "max poll interval must be at least the poll interval";
  }
  if (deadline.count() < 1 || deadline.count() > 86'400'000) {
    return "deadline must be 1 ms..24 h";
  }
  if (max_submit_attempts < 1 || max_submit_attempts > 100) {
    return "submit attempts must be 1..100";
  }
  if (max_download_attempts < 1 || max_download_attempts > 100) {
    return "download attempts must be 1..100";
  }
  return {};
}

image_record run_image_job(backend& api, const protocol::submit_request& request,
                           const job_options& options, job_clock& clock) {
  image_record record;
  record.seed = request.seed.value_or(-1);
  const auto start = clock.now();
  const auto deadline_at = start + options.deadline;
  auto finish = [&](std::optional<protocol::api_error> error) {
    record.error = std::move(error);
    record.delivered = !record.error.has_value();
    record.latency_ms = std::chrono::duration_cast<milliseconds>(clock.now() - start).count();
    return record;
  };

  // Submit, retrying only refusals that cannot have created a task.
  milliseconds retry_delay = options.submit_retry_delay;
  while (true) {
    ++record.attempts;
    auto accepted = api.submit(request);
    if (accepted) {
      record.task_id = accepted.value().task_id;
      break;
    }
    const auto& error = accepted.error();
    auto wait = error.retry_after_ms ? milliseconds{*error.retry_after_ms} : retry_delay;
    if (!submit_worth_retrying(error) || record.attempts >= options.max_submit_attempts ||
        wait >= until(deadline_at, clock.now())) {
      return finish(error);
    }
    clock.sleep_for(wait);
    retry_delay *= 2;
  }

  // Poll until SUCCEED/FAILED or the deadline; never resubmit.
  std::string image_url;
  milliseconds wait = options.poll_interval;
  while (image_url.empty()) {
    const auto left = until(deadline_at, clock.now());
    if (left.count() == 0) {
      return finish(deadline_error(record.task_id, record.last_status, options.deadline));
    }
    clock.sleep_for(std::min(wait, left));
    ++record.polls;
    auto state = api.poll(record.task_id);
    auto next = std::chrono::duration_cast<milliseconds>(wait * options.poll_backoff);
    wait = std::min(next, options.max_poll_interval);
    if (!state) {
      const auto& error = state.error();
      if (error.kind == error_class::moderation || error.kind == error_class::task_failed) {
        record.last_status = "FAILED";
      }
      if (!poll_transient(error)) {
        return finish(error);
      }
      if (error.retry_after_ms) {
        wait = std::max(wait, milliseconds{*error.retry_after_ms});
      }
      continue;
    }
    record.last_status = state.value().raw_status;
    if (state.value().status == protocol::task_status::succeed) {
      image_url = state.value().output_images.front();
    }
  }

  // Download at once: how long the URL lives is unknown.
  for (int attempt = 1;; ++attempt) {
    auto image = api.download(image_url);
    if (image) {
      record.content_type = image.value().content_type;
      record.image = std::move(image).value().bytes;
      record.bytes = static_cast<std::int64_t>(record.image.size());
      record.sha256 = sha256_hex(record.image);
      return finish(std::nullopt);
    }
    const auto& error = image.error();
    if (!protocol::is_retryable(error.kind) || attempt >= options.max_download_attempts ||
        options.poll_interval >= until(deadline_at, clock.now())) {
      return finish(error);
    }
    clock.sleep_for(options.poll_interval);
  }
}

}  // namespace zbatch::client
