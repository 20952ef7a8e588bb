#include "actors/image_worker.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>

#include "client/image_probe.hpp"

namespace zbatch::actors {

std::int64_t ms_since(time_point start, time_point now) {
  return std::chrono::duration_cast<millis>(now - start).count();
}

namespace {

protocol::api_error backend_failure(const caf::error& error) {
  protocol::api_error out;
  out.kind = protocol::error_class::server_transport;
  out.message = "backend actor failed: " + caf::to_string(error);
  return out;
}

// A worker carries many attempts at once (keyed by image index: an image has at most one attempt
// running). Each attempt has exactly one thing outstanding at any time (a backend request, a
// timer or the journal ack), so the worker never blocks and a handful of workers serve any
// number of attempts: one actor per attempt cost ~1.5 KB each and 100,000 of them for an
// unbounded batch.

/// A running attempt. Small on purpose (an unbounded batch holds one per image); the outcome
/// fields of attempt_report are filled only when it ends.
struct attempt {
  std::uint32_t serial = 0;  ///< Tells this attempt's timers from a finished one's.
  std::uint32_t index = 0;
  int polls = 0;
  int downloads = 0;
  int poll_429_dynamic = 0;
  int poll_429_quota = 0;
  int download_failures = 0;  ///< Consecutive failed downloads of a SUCCEEDed task.
  int refused_polls = 0;      ///< Consecutive polls answered with an HTTP 4xx (poll_refused).
  bool succeeded = false;     ///< The task SUCCEEDed: it is paid, whatever happens next.
  /// Why the last poll failed (empty once a poll is answered): a deadline after failed polls
  /// says so rather than "still running" (issue 17 item 9).
  std::string last_poll_error;
  /// The last task_status answered when it is none the protocol doc lists (e.g. "CANCELED"):
  /// read as running, as the doc says, and named at the deadline.
  std::string unknown_status;
  /// A poll of this attempt failed (reset, hang, 5xx, garbled): the time to SUCCEED then says
  /// more about the transport than about the service's load, so it is no latency sample for
  /// the adaptive limit (the fault soak: hung polls drove it from ~90 to 8-14 in flight).
  bool poll_failed = false;
  std::optional<duration> task_latency;
  std::optional<duration> run_latency;
  std::string task_id;
  std::string url;
  /// The task's output_images: a failed download tries the next one (rotating with each
  /// failure), not only the first (a new user's check: a dead first URL left a paid image
  /// undelivered on every rerun while the second one worked).
  std::vector<std::string> urls;
  std::vector<trace_event> trace;
  time_point submitted_at;
  time_point accepted_at;
  time_point deadline;
  /// A task of an earlier attempt given up as hung: polled in turn with `task_id` until either
  /// SUCCEEDs (that one is taken) or it ends otherwise (then it is dropped). At most two tasks.
  std::string other_task;
  bool poll_other = false;  ///< The next poll goes to `other_task`.
  bool own_start = true;    ///< `task_id` was accepted in this attempt (its latency is a sample).
  duration interval{0};
};

struct worker_state {
  std::shared_ptr<const batch_context> ctx;
  caf::actor coordinator;
  std::uint32_t id = 0;
  std::uint32_t next_serial = 0;
  std::unordered_map<std::uint32_t, attempt> attempts;
};

using worker_actor = caf::stateful_actor<worker_state>;

/// Failed downloads in a row after which the task is polled again for a fresh image URL.
constexpr int downloads_per_poll = 3;

/// The running attempt of `index` when it is still the one numbered `serial`.
attempt* find_attempt(worker_actor* self, std::uint32_t index, std::uint32_t serial) {
  auto it = self->state.attempts.find(index);
  return it != self->state.attempts.end() && it->second.serial == serial ? &it->second : nullptr;
}

void note(worker_actor* self, attempt& at, trace_kind kind, std::string detail) {
  const auto& ctx = *self->state.ctx;
  if (ctx.trace && at.index < ctx.trace_limit) {
    at.trace.push_back(trace_event{ms_since(ctx.start, now_of(self)), kind, std::move(detail)});
  }
}

void note_error(worker_actor* self, attempt& at, const protocol::api_error& error) {
  if (error.kind == protocol::error_class::dynamic_429) {
    note(self, at, trace_kind::http_429, "dynamic");
  } else if (error.kind == protocol::error_class::quota_429) {
    note(self, at, trace_kind::http_429, "quota");
  } else {
    note(self, at, trace_kind::error, error.describe());
  }
}

/// Ends the attempt: `report` carries the outcome, the attempt adds its counts and trace.
void finish_attempt(worker_actor* self, attempt& at, attempt_report report) {
  auto& st = self->state;
  const auto index = at.index;
  report.worker = st.id;
  report.index = index;
  report.polls = at.polls;
  report.downloads = at.downloads;
  report.poll_429_dynamic = at.poll_429_dynamic;
  report.poll_429_quota = at.poll_429_quota;
  report.task_latency = at.task_latency;
  report.run_latency = at.run_latency;
  report.task_succeeded = at.succeeded;
  report.task_id = std::move(at.task_id);
  report.trace = std::move(at.trace);
  self->send(st.coordinator, std::move(report));
  st.attempts.erase(index);
}

void fail_attempt(worker_actor* self, attempt& at, protocol::api_error error,
                  bool submit_failed = false) {
  attempt_report report;
  report.error = std::move(error);
  report.submit_failed = submit_failed;
  finish_attempt(self, at, std::move(report));
}

void start_poll(worker_actor* self, attempt& at, duration delay);

/// The batch's latencies as the coordinator last published them (per unit of size).
latency_summary seen_latencies(const batch_context& ctx) {
  latency_summary out;
  out.samples = static_cast<std::size_t>(ctx.latency_samples.load(std::memory_order_relaxed));
  out.hung_quantile = millis{ctx.latency_hung_ms.load(std::memory_order_relaxed)};
  out.p10 = millis{ctx.latency_p10_ms.load(std::memory_order_relaxed)};
  out.p90 = millis{ctx.latency_p90_ms.load(std::memory_order_relaxed)};
  return out;
}

double weight_of(worker_actor* self, const attempt& at) {
  return size_weight((*self->state.ctx->jobs)[at.index].request.size);
}

/// How long after acceptance this attempt's task is given up as hung (actors/hung_policy.hpp),
/// or nullopt: the policy is off or waits for latencies, or the task was resumed (its start is
/// unknown).
std::optional<millis> hung_after(worker_actor* self, const attempt& at) {
  if (!at.own_start) {
    return std::nullopt;
  }
  const auto& ctx = *self->state.ctx;
  return hung_give_up(ctx.spec.poll, seen_latencies(ctx), weight_of(self, at));
}

/// When a running task is given up as hung, if that is before the fixed deadline.
std::optional<time_point> hung_at(worker_actor* self, const attempt& at) {
  const auto after = hung_after(self, at);
  if (!after) {
    return std::nullopt;
  }
  const auto when = at.accepted_at + *after;
  return when < at.deadline ? std::optional<time_point>(when) : std::nullopt;
}

/// The wait before the next poll of `at`: fitted to the batch's latencies while they are known
/// and `at` is before their p90 (actors/hung_policy.hpp), else the current interval (the spec's,
/// or the fitted gap once fitted), which grows by the spec's factor up to its cap.
duration next_poll_wait(worker_actor* self, attempt& at, time_point now) {
  const auto& ctx = *self->state.ctx;
  const auto fit = fitted_polls(ctx.spec.poll, seen_latencies(ctx), weight_of(self, at));
  const auto since = now - at.accepted_at;
  if (fit && since < fit->until) {
    at.interval = fit->every;  // Past the p90, the spec's growth goes on from the fitted gap.
    return since < fit->from ? duration{fit->from - since} : duration{fit->every};
  }
  const auto wait = at.interval;
  const auto& poll = ctx.spec.poll;
  const auto grown = std::chrono::duration_cast<duration>(at.interval * poll.factor);
  at.interval = std::min<duration>(grown, poll.cap);
  return wait;
}

void schedule_poll(worker_actor* self, attempt& at) {
  const auto now = now_of(self);
  auto next = std::min(now + next_poll_wait(self, at, now), at.deadline);
  if (const auto hung = hung_at(self, at)) {
    next = std::min(next, std::max(now, *hung));
  }
  start_poll(self, at, next - now);
}

void keep_polling(worker_actor* self, attempt& at) {
  const auto now = now_of(self);
  if (const auto hung = hung_at(self, at); hung && now >= *hung) {
    // Still RUNNING/PENDING (a SUCCEEDed task never gets here: it is downloading). The
    // coordinator decides whether a second, paid submit is worth it (retry_policy.hpp).
    protocol::api_error error;
    error.kind = protocol::error_class::deadline;
    error.message = "task " + at.task_id + " still running " +
                    std::to_string(ms_since(at.accepted_at, now)) +
                    " ms after acceptance: given up as hung (" +
                    std::to_string(hung_after(self, at).value_or(millis{0}).count()) +
                    " ms from the latencies seen)";
    note(self, at, trace_kind::error, error.describe());
    attempt_report report;
    report.error = std::move(error);
    report.hung = true;
    finish_attempt(self, at, std::move(report));
    return;
  }
  if (now >= at.deadline) {
    protocol::api_error error;
    error.kind = protocol::error_class::deadline;
    const auto limit = std::to_string(self->state.ctx->spec.poll.deadline.count()) + " ms";
    error.message = at.last_poll_error.empty()
                        ? "task " + at.task_id + " still running at the poll deadline (" + limit +
                              (at.unknown_status.empty()
                                   ? std::string(")")
                                   : "; its last status, " + at.unknown_status +
                                         ", is none the protocol lists, so it was read as running)")
                        : "task " + at.task_id +
                              ": no valid poll answer before the poll deadline (" + limit +
                              "); the last one: " + at.last_poll_error;
    note(self, at, trace_kind::error, error.describe());
    fail_attempt(self, at, std::move(error));
    return;
  }
  schedule_poll(self, at);
}

void start_polling(worker_actor* self, attempt& at) {
  at.accepted_at = now_of(self);
  at.deadline = at.accepted_at + self->state.ctx->spec.poll.deadline;
  at.interval = self->state.ctx->spec.poll.interval;
  schedule_poll(self, at);
}

void start_download(worker_actor* self, attempt& at, duration delay);
void retry_download(worker_actor* self, attempt& at, const protocol::api_error& error);

/// Polls answered with an HTTP 4xx in a row after which the attempt ends with its task kept.
constexpr int max_refused_polls = 3;

/// A poll answered with an HTTP 4xx (401, 403, 404, an HTML page...). The service answers a
/// known task 200 and an unknown one 200 FAILED (protocol doc, "Flow" 2), so this is not the
/// task's end: a gateway's or auth cache's hiccup, or a key refused since the submit. The task
/// is paid, so it is never given up as failed (the rerun would pay again): a few such answers
/// are polled past; then the attempt ends `cancelled` with its task id, which the journal keeps
/// and the next run polls (a 401 or 403 also stops the batch: coordinator's batch_fatal).
void poll_refused(worker_actor* self, attempt& at, const protocol::api_error& error) {
  if (at.own_start && protocol::is_task_unknown(error)) {
    // This run's submit was accepted, so the service's "Task not found" is its lag, not the
    // task's end: polled until the deadline (a new user's check: six such answers after the
    // submit made every rerun pay for one more task).
    keep_polling(self, at);
    return;
  }
  if (++at.refused_polls < max_refused_polls) {
    keep_polling(self, at);
    return;
  }
  auto out = error;
  out.kind = protocol::error_class::cancelled;
  const bool unknown = protocol::is_task_unknown(error);
  // Unknown: an earlier run's task (this run's own are polled past above); the coordinator
  // submits the image again and says so.
  out.message =
      "polling stopped after " + std::to_string(max_refused_polls) +
      " answers in a row like HTTP " + std::to_string(error.http_status) + " (" + error.message +
      "); " +
      (unknown ? "the service does not know task " + at.task_id
               : "task " + at.task_id + " is kept: the next run polls it, paying nothing");
  attempt_report report;
  report.error = std::move(out);
  report.task_kept = true;
  report.task_unknown = unknown;
  finish_attempt(self, at, std::move(report));
}

void on_polled(worker_actor* self, attempt& at, poll_outcome& outcome) {
  if (!outcome.ok()) {
    const auto& error = outcome.error();
    note_error(self, at, error);
    at.last_poll_error = error.describe();
    at.poll_failed = true;
    if (error.kind == protocol::error_class::dynamic_429) {
      ++at.poll_429_dynamic;
    } else if (error.kind == protocol::error_class::quota_429) {
      ++at.poll_429_quota;
    }
    if (at.succeeded) {
      retry_download(self, at, error);  // A re-poll for a fresh URL: the task is paid.
      return;
    }
    // The codec reports a FAILED task as its class (moderation, task_failed): the task is over.
    if (error.kind == protocol::error_class::moderation ||
        error.kind == protocol::error_class::task_failed) {
      fail_attempt(self, at, error);
    } else if (error.kind == protocol::error_class::request_error) {
      poll_refused(self, at, error);
    } else {
      // The task may still finish: a failed poll never ends the attempt before its deadline.
      keep_polling(self, at);
    }
    return;
  }
  const auto& task = outcome.value();
  at.last_poll_error.clear();
  at.refused_polls = 0;
  at.unknown_status =
      task.status == protocol::task_status::unknown ? task.raw_status : std::string();
  note(self, at, trace_kind::poll,
       task.raw_status.empty() ? std::string(protocol::to_string(task.status)) : task.raw_status);
  if (task.status == protocol::task_status::succeed) {
    if (!at.succeeded) {
      if (!at.poll_failed) {
        at.task_latency = now_of(self) - at.submitted_at;
      }
      if (at.own_start) {
        at.run_latency = now_of(self) - at.accepted_at;
      }
    }
    at.succeeded = true;
    at.other_task.clear();  // The other task, if any, is left to run: this one is taken.
    if (task.output_images.empty()) {
      protocol::api_error error;
      error.kind = protocol::error_class::malformed;
      error.message = "task " + at.task_id + " SUCCEED without output_images";
      error.request_id = task.request_id;
      note(self, at, trace_kind::error, error.describe());
      retry_download(self, at, error);
      return;
    }
    at.urls = task.output_images;
    at.url = at.urls[static_cast<std::size_t>(at.download_failures) % at.urls.size()];
    start_download(self, at, duration{0});
  } else if (task.status == protocol::task_status::failed) {
    if (!at.poll_failed) {
      at.task_latency = now_of(self) - at.submitted_at;
    }
    auto error =
        protocol::classify_task_failure(task.error_code, task.error_message, task.request_id);
    note(self, at, trace_kind::error, error.describe());
    fail_attempt(self, at, std::move(error));
  } else {
    keep_polling(self, at);
  }
}

/// Sends `request` to the backend `delay` from now and hands the outcome (a CAF-level failure
/// becomes a transport error) to `handler` if the attempt is still the same one by then.
///
/// A later request is scheduled on the actor clock as the request message itself, with its
/// response handler registered now: the same as a timer message to this worker that then sends
/// the request, one message fewer per poll (the largest part of a simulated run is messaging).
/// This uses CAF's low-level members (`new_request_id`, `add_multiplexed_response_handler`) on
/// purpose: measured with bench/sim_scale.sh when introduced (commit 3f61208), 100,000 images x
/// 6 strategies went from 8.05 to 7.4 s CPU with byte-identical results.
template <class Outcome, class... Ts, class Handler>
void ask_backend(worker_actor* self, const attempt& at, duration delay, Handler handler,
                 Ts&&... request) {
  const auto index = at.index;
  const auto serial = at.serial;
  auto on_outcome = [self, index, serial, handler](Outcome& outcome) {
    if (auto* current = find_attempt(self, index, serial)) {
      handler(self, *current, outcome);
    }
  };
  auto on_failure = [self, index, serial, handler](caf::error& error) {
    if (auto* current = find_attempt(self, index, serial)) {
      Outcome outcome{backend_failure(error)};
      handler(self, *current, outcome);
    }
  };
  const auto& backend = self->state.ctx->backend;
  if (delay.count() <= 0) {
    self->request(backend, caf::infinite, std::forward<Ts>(request)...)
        .then(std::move(on_outcome), std::move(on_failure));
    return;
  }
  const auto id = self->new_request_id(caf::message_priority::normal);
  auto& clock = self->clock();
  clock.schedule_message(
      clock.now() + delay, caf::actor_cast<caf::strong_actor_ptr>(backend),
      caf::make_mailbox_element(self->ctrl(), id, {}, std::forward<Ts>(request)...));
  self->add_multiplexed_response_handler(
      id.response_id(), caf::behavior{std::move(on_outcome), std::move(on_failure)});
}

/// A poll of the older, hung task beside the new one: if it SUCCEEDs first, it is taken (it is
/// paid as well); if it ends otherwise it is dropped; the new task is polled on either way.
void on_polled_other(worker_actor* self, attempt& at, poll_outcome& outcome) {
  if (!outcome.ok()) {
    const auto& error = outcome.error();
    note_error(self, at, error);
    if (error.kind == protocol::error_class::dynamic_429) {
      ++at.poll_429_dynamic;
    } else if (error.kind == protocol::error_class::quota_429) {
      ++at.poll_429_quota;
    } else if (error.kind == protocol::error_class::request_error ||
               error.kind == protocol::error_class::moderation ||
               error.kind == protocol::error_class::task_failed) {
      at.other_task.clear();
    }
    keep_polling(self, at);
    return;
  }
  const auto& task = outcome.value();
  if (task.status == protocol::task_status::succeed) {
    note(self, at, trace_kind::poll, "earlier task " + at.other_task + " SUCCEED: taken");
    std::swap(at.task_id, at.other_task);
    at.own_start = false;  // Its latency started in an earlier attempt: no hung sample.
    on_polled(self, at, outcome);
    return;
  }
  note(self, at, trace_kind::poll,
       "earlier task " + at.other_task + " " + std::string(protocol::to_string(task.status)));
  if (task.status == protocol::task_status::failed) {
    at.other_task.clear();
  }
  keep_polling(self, at);
}

void start_poll(worker_actor* self, attempt& at, duration delay) {
  ++at.polls;
  // With an older task beside the new one, polls alternate between the two: the same poll rate
  // as one task, each polled at half of it.
  if (!at.other_task.empty() && (at.poll_other = !at.poll_other)) {
    ask_backend<poll_outcome>(self, at, delay, on_polled_other, poll_atom::value, at.other_task);
    return;
  }
  ask_backend<poll_outcome>(self, at, delay, on_polled, poll_atom::value, at.task_id);
}

/// Why downloaded bytes are not the image that was asked for, or nullopt when they are: a PNG,
/// JPEG or WebP (by signature) of the requested size, when the request fixed one and the batch
/// checks sizes. A uniformly smaller image of the same shape is accepted: the service clamps
/// oversized requests silently (protocol doc, "Measured generation times").
std::optional<std::string> image_problem(const client::downloaded_image& image,
                                         const protocol::submit_request& request, bool check_size) {
  const auto info = image.info ? image.info : client::probe_image(image.bytes);
  if (!info) {
    return "not an image (" + std::to_string(image.bytes.size()) + " bytes" +
           (image.content_type.empty() ? "" : ", " + image.content_type) + ")";
  }
  if (!info->complete) {
    // Cut short on the way (a relay, a proxy, a dropped connection with a matching length):
    // delivered, it would be trusted by every rerun. The download is retried.
    return "an incomplete " + std::string(client::to_string(info->format)) + " (" +
           std::to_string(image.bytes.size()) + " bytes: the file ends before the format does)";
  }
  if (!check_size || !request.size) {
    return std::nullopt;
  }
  const auto& want = *request.size;
  const bool exact = info->width == want.width && info->height == want.height;
  const bool clamped =
      info->width < want.width && static_cast<std::int64_t>(info->width) * want.height ==
                                      static_cast<std::int64_t>(info->height) * want.width;
  if (exact || clamped) {
    return std::nullopt;
  }
  return "a " + std::to_string(info->width) + "x" + std::to_string(info->height) +
         " image, not the " + want.to_string() + " asked for";
}

/// The wait before download try `n` (1-based) of a SUCCEEDed task: the poll interval doubled
/// per failure, capped at the poll cap. No jitter: downloads go to an object store, not to the
/// rate-limited API.
duration download_wait(const poll_spec& poll, int n) {
  const auto wait = poll.interval * (std::int64_t{1} << std::min(n - 1, 16));
  return std::min<duration>(wait, std::max(poll.cap, poll.interval));
}

/// A SUCCEEDed task's image could not be had: try again, every few failures after polling the
/// task for a fresh URL, until the attempt's deadline. Never a resubmit: the task is paid.
void retry_download(worker_actor* self, attempt& at, const protocol::api_error& error) {
  const auto now = now_of(self);
  if (now >= at.deadline) {
    protocol::api_error out;
    out.kind = protocol::error_class::deadline;
    out.message = "task " + at.task_id +
                  " SUCCEEDED (paid) but its image was not downloaded by the deadline; kept "
                  "pending for the next run. Last failure: " +
                  error.describe();
    note(self, at, trace_kind::error, out.describe());
    fail_attempt(self, at, std::move(out));
    return;
  }
  ++at.download_failures;
  const auto delay =
      std::min(download_wait(self->state.ctx->spec.poll, at.download_failures), at.deadline - now);
  if (at.download_failures == 1) {
    // A new user's check: an empty image or an empty output_images was tried again for a minute
    // and more without a line saying so.
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(at.deadline - now);
    self->send(self->state.coordinator, download_trouble_atom::value, at.index,
               "task " + at.task_id + " SUCCEEDED (paid), but its image could not be had (" +
                   error.describe() + "); trying again for up to " + std::to_string(left.count()) +
                   " s, asking the task for a fresh link every " +
                   std::to_string(downloads_per_poll) + " failures, never paying again");
  }
  // No link yet, a refused or expired one (4xx), or repeated failures: the task may hand out a
  // fresh URL.
  if (at.url.empty() || error.kind == protocol::error_class::request_error ||
      at.download_failures % downloads_per_poll == 0) {
    start_poll(self, at, delay);  // its SUCCEED picks the URL after the one that failed
  } else {
    if (!at.urls.empty()) {
      at.url = at.urls[static_cast<std::size_t>(at.download_failures) % at.urls.size()];
    }
    start_download(self, at, delay);
  }
}

void on_downloaded(worker_actor* self, attempt& at, download_outcome& outcome) {
  if (outcome.ok()) {
    auto& image = outcome.value();
    const auto& request = (*self->state.ctx->jobs)[at.index].request;
    const auto problem = image_problem(image, request, self->state.ctx->check_image_size);
    if (!problem) {
      note(self, at, trace_kind::download, std::to_string(image.bytes.size()) + " bytes");
      attempt_report report;
      report.delivered = true;
      report.bytes_size = image.bytes.size();
      report.content_type = image.content_type;
      if (self->state.ctx->keep_bytes) {
        report.bytes = std::move(image.bytes);
      }
      finish_attempt(self, at, std::move(report));
      return;
    }
    protocol::api_error error;
    error.kind = protocol::error_class::malformed;
    error.message = "download of task " + at.task_id + " from " + at.url + ": " + *problem;
    note_error(self, at, error);
    retry_download(self, at, error);
    return;
  }
  note_error(self, at, outcome.error());
  retry_download(self, at, outcome.error());
}

void start_download(worker_actor* self, attempt& at, duration delay) {
  ++at.downloads;
  ask_backend<download_outcome>(self, at, delay, on_downloaded, download_atom::value, at.url);
}

void on_submitted(worker_actor* self, attempt& at, submit_outcome& outcome) {
  auto& st = self->state;
  if (!outcome.ok()) {
    note_error(self, at, outcome.error());
    fail_attempt(self, at, outcome.error(), /*submit_failed=*/true);
    return;
  }
  at.task_id = outcome.value().task_id;
  note(self, at, trace_kind::accepted, "task " + at.task_id);
  if (outcome.value().ratelimit) {
    self->send(st.coordinator, ratelimit_atom::value, at.index, *outcome.value().ratelimit);
  }
  self->send(st.coordinator, accepted_atom::value, st.id, at.index);
  if (st.ctx->ack_accepted) {
    // The coordinator journals the task id first; polling starts on its ack.
    self->send(st.coordinator, journal_atom::value, st.id, at.index, at.task_id);
    return;
  }
  start_polling(self, at);
}

attempt& begin_attempt(worker_actor* self, std::uint32_t index) {
  auto& st = self->state;
  auto& at = st.attempts[index];
  at = attempt{};
  at.serial = st.next_serial++;
  at.index = index;
  at.submitted_at = now_of(self);
  return at;
}

caf::behavior image_worker(worker_actor* self, std::shared_ptr<const batch_context> ctx,
                           caf::actor coordinator, std::uint32_t id) {
  self->state.ctx = std::move(ctx);
  self->state.coordinator = std::move(coordinator);
  self->state.id = id;
  return {
      [self](run_atom, std::uint32_t index) {
        auto& at = begin_attempt(self, index);
        note(self, at, trace_kind::submit, "");
        ask_backend<submit_outcome>(self, at, duration{0}, on_submitted, submit_atom::value,
                                    (*self->state.ctx->jobs)[index].request);
      },
      [self](rerun_atom, std::uint32_t index, std::string& old_task) {
        // A knowing second submit after a hung give-up: the old task is polled beside it.
        auto& at = begin_attempt(self, index);
        at.other_task = std::move(old_task);
        note(self, at, trace_kind::submit, "beside hung task " + at.other_task);
        ask_backend<submit_outcome>(self, at, duration{0}, on_submitted, submit_atom::value,
                                    (*self->state.ctx->jobs)[index].request);
      },
      [self](resume_atom, std::uint32_t index) {
        // A task from an earlier run: poll it at once, no submit (and no cost).
        auto& at = begin_attempt(self, index);
        at.task_id = (*self->state.ctx->jobs)[index].resume_task_id;
        note(self, at, trace_kind::accepted, "resumed task " + at.task_id);
        at.own_start = false;  // Started in an earlier run: no latency sample, no hung give-up.
        at.accepted_at = at.submitted_at;
        at.deadline = at.submitted_at + self->state.ctx->spec.poll.deadline;
        at.interval = self->state.ctx->spec.poll.interval;
        start_poll(self, at, duration{0});
      },
      [self](ack_atom, std::uint32_t index) {
        auto it = self->state.attempts.find(index);
        if (it != self->state.attempts.end()) {
          start_polling(self, it->second);
        }
      },
      [self](duplicate_atom, std::uint32_t index, const std::string& holder) {
        auto it = self->state.attempts.find(index);
        if (it == self->state.attempts.end()) {
          return;
        }
        auto& at = it->second;
        protocol::api_error error;
        error.kind = protocol::error_class::server_transport;
        error.ambiguous = true;
        error.message = "the submit's answer named task " + at.task_id + ", which " + holder +
                        " holds: this submit's own task (possibly paid) is unknown";
        at.task_id.clear();  // not this image's: never polled, journaled or resumed for it
        fail_attempt(self, at, std::move(error), /*submit_failed=*/true);
      },
  };
}

}  // namespace

caf::actor spawn_image_worker(caf::event_based_actor* coordinator,
                              std::shared_ptr<const batch_context> ctx, std::uint32_t id) {
  return coordinator->spawn<caf::linked>(image_worker, std::move(ctx),
                                         caf::actor_cast<caf::actor>(coordinator), id);
}

}  // namespace zbatch::actors
