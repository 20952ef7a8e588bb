#pragma once
/// One image, start to finish: submit → poll until terminal or the deadline → download.
///
/// The flow `zbatch generate` runs for each variant (issue 2: one after another). It never
/// resubmits after a task was accepted (a second task would cost credits twice); it only retries
/// a submit the service certainly refused (dynamic 429, non-ambiguous transport/5xx) and keeps
/// polling through transient poll failures until the image's deadline. Time comes from an
/// injected `job_clock`, so tests drive it without waiting. Blocking; call from one thread per
/// backend.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "client/backend.hpp"

namespace zbatch::client {

/// The job's time source and its way to wait.
class job_clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~job_clock() = default;
  virtual time_point now() = 0;
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

/// std::chrono::steady_clock and std::this_thread::sleep_for.
class wall_clock final : public job_clock {
 public:
  time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
};

struct job_options {
  std::chrono::milliseconds poll_interval{1000};  ///< Wait before the first and next polls.
  double poll_backoff = 1.0;  ///< Each wait is the previous one times this (1 = fixed).
  std::chrono::milliseconds max_poll_interval{5000};  ///< Cap of the backed-off wait.
  std::chrono::milliseconds deadline{300'000};        ///< From the first submit to the image.
  int max_submit_attempts = 3;  ///< Submits the service certainly refused are retried.
  std::chrono::milliseconds submit_retry_delay{1000};  ///< Doubles per retry; Retry-After wins.
  int max_download_attempts = 3;

  /// An empty string when usable, otherwise a sentence naming the field and the allowed range.
  std::string check() const;
};

/// What happened to one image.
struct image_record {
  std::int64_t seed = 0;
  std::string task_id;  ///< Empty when no submit was accepted.
  std::string image;    ///< The downloaded bytes when delivered.
  std::string content_type;
  std::int64_t bytes = 0;       ///< Size of the downloaded image (kept when `image` is released).
  std::string sha256;           ///< Hex digest of `image`.
  std::int64_t latency_ms = 0;  ///< First submit to downloaded image (or to the failure).
  bool delivered = false;
  std::optional<protocol::api_error> error;  ///< Set when not delivered.
  std::string last_status;                   ///< Last task_status seen ("SUCCEED", ...).
  int attempts = 0;                          ///< Submit requests sent.
  int polls = 0;                             ///< Poll requests sent.
};

/// Runs one image. `request.seed` should be set (the CLI always sets it, so a rerun is
/// reproducible). Never throws for service failures: they end up in `error`.
image_record run_image_job(backend& api, const protocol::submit_request& request,
                           const job_options& options, job_clock& clock);

}  // namespace zbatch::client
