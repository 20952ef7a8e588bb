#include "actors/coordinator.hpp"

#include <algorithm>
#include <memory>
#include <queue>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/rate_limiter.hpp"

namespace zbatch::actors {

namespace {

using run_atom = caf::atom_constant<caf::atom("zb_run")>;
using wake_atom = caf::atom_constant<caf::atom("zb_wake")>;
using accepted_atom = caf::atom_constant<caf::atom("zb_accept")>;
// Resume hook: poll a known task; journaling hook: accepted with its id, and the acknowledgement.
using resume_atom = caf::atom_constant<caf::atom("zb_resume")>;
using journal_atom = caf::atom_constant<caf::atom("zb_journl")>;
using ack_atom = caf::atom_constant<caf::atom("zb_ack")>;
using drain_atom = caf::atom_constant<caf::atom("zb_drain")>;

}  // namespace

/// Shared, read-only after spawn: the jobs and the strategy every worker needs.
struct batch_context {
  std::shared_ptr<const std::vector<image_job>> jobs;
  strategy_spec spec;
  backend_actor backend;
  time_point start;
  bool trace = true;
  std::size_t trace_limit = static_cast<std::size_t>(-1);  ///< Traced jobs: index below this.
  bool keep_bytes = false;
  bool ack_accepted = false;  ///< Workers wait for the coordinator's ack before the first poll.
  int max_submits = 0;
};

/// What a worker reports when an attempt ends (delivered or failed), with its trace.
struct attempt_report {
  std::uint32_t worker = 0;
  std::uint32_t index = 0;
  bool delivered = false;
  bool submit_failed = false;  ///< The error came from the submit: no task was created.
  protocol::api_error error;
  int polls = 0;
  int downloads = 0;
  int poll_429_dynamic = 0;
  int poll_429_quota = 0;
  std::optional<duration> task_latency;  ///< Submit to terminal task state.
  std::string task_id;
  std::string bytes;
  std::size_t bytes_size = 0;
  std::string content_type;
  std::vector<trace_event> trace;
};

}  // namespace zbatch::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::attempt_report)

namespace zbatch::actors {

std::string_view to_string(trace_kind kind) {
  switch (kind) {
    case trace_kind::queued:
      return "queued";
    case trace_kind::permit:
      return "permit";
    case trace_kind::submit:
      return "submit";
    case trace_kind::accepted:
      return "accepted";
    case trace_kind::poll:
      return "poll";
    case trace_kind::http_429:
      return "429";
    case trace_kind::error:
      return "error";
    case trace_kind::retry:
      return "retry";
    case trace_kind::download:
      return "download";
    case trace_kind::delivered:
      return "delivered";
    case trace_kind::failed:
      return "failed";
    case trace_kind::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::size_t batch_result::delivered() const {
  return static_cast<std::size_t>(std::count_if(images.begin(), images.end(),
                                                [](const image_result& x) { return x.delivered; }));
}

namespace {

std::int64_t ms_since(time_point start, time_point now) {
  return std::chrono::duration_cast<millis>(now - start).count();
}

protocol::api_error backend_failure(const caf::error& error) {
  protocol::api_error out;
  out.kind = protocol::error_class::server_transport;
  out.message = "backend actor failed: " + caf::to_string(error);
  return out;
}

// ---- image worker -------------------------------------------------------------------------------
//
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
  int download_tries = 0;
  std::optional<duration> task_latency;
  std::string task_id;
  std::string url;
  std::vector<trace_event> trace;
  time_point submitted_at;
  time_point deadline;
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

constexpr int max_download_tries = 3;

time_point now_of(const caf::local_actor* self) { return self->clock().now(); }

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

void schedule_poll(worker_actor* self, attempt& at) {
  const auto now = now_of(self);
  start_poll(self, at, std::min(now + at.interval, at.deadline) - now);
  const auto& poll = self->state.ctx->spec.poll;
  const auto grown = std::chrono::duration_cast<duration>(at.interval * poll.factor);
  at.interval = std::min<duration>(grown, poll.cap);
}

void keep_polling(worker_actor* self, attempt& at) {
  if (now_of(self) >= at.deadline) {
    protocol::api_error error;
    error.kind = protocol::error_class::deadline;
    error.message = "task " + at.task_id + " still running at the poll deadline (" +
                    std::to_string(self->state.ctx->spec.poll.deadline.count()) + " ms)";
    note(self, at, trace_kind::error, error.describe());
    fail_attempt(self, at, std::move(error));
    return;
  }
  schedule_poll(self, at);
}

void start_polling(worker_actor* self, attempt& at) {
  at.deadline = now_of(self) + self->state.ctx->spec.poll.deadline;
  at.interval = self->state.ctx->spec.poll.interval;
  schedule_poll(self, at);
}

void start_download(worker_actor* self, attempt& at, duration delay);

void on_polled(worker_actor* self, attempt& at, poll_outcome& outcome) {
  if (!outcome.ok()) {
    const auto& error = outcome.error();
    note_error(self, at, error);
    if (error.kind == protocol::error_class::dynamic_429) {
      ++at.poll_429_dynamic;
    } else if (error.kind == protocol::error_class::quota_429) {
      ++at.poll_429_quota;
    }
    // The codec reports a FAILED task as its class (moderation, task_failed): the task is over.
    if (error.kind == protocol::error_class::request_error ||
        error.kind == protocol::error_class::moderation ||
        error.kind == protocol::error_class::task_failed) {
      fail_attempt(self, at, error);
    } else {
      // The task may still finish: a failed poll never ends the attempt before its deadline.
      keep_polling(self, at);
    }
    return;
  }
  const auto& task = outcome.value();
  note(self, at, trace_kind::poll,
       task.raw_status.empty() ? std::string(protocol::to_string(task.status)) : task.raw_status);
  if (task.status == protocol::task_status::succeed) {
    at.task_latency = now_of(self) - at.submitted_at;
    if (task.output_images.empty()) {
      protocol::api_error error;
      error.kind = protocol::error_class::malformed;
      error.message = "task SUCCEED without output_images";
      error.request_id = task.request_id;
      note(self, at, trace_kind::error, error.describe());
      fail_attempt(self, at, std::move(error));
      return;
    }
    at.url = task.output_images.front();
    start_download(self, at, duration{0});
  } else if (task.status == protocol::task_status::failed) {
    at.task_latency = now_of(self) - at.submitted_at;
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

void start_poll(worker_actor* self, attempt& at, duration delay) {
  ++at.polls;
  ask_backend<poll_outcome>(self, at, delay, on_polled, poll_atom::value, at.task_id);
}

void on_downloaded(worker_actor* self, attempt& at, download_outcome& outcome) {
  if (outcome.ok()) {
    auto& image = outcome.value();
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
  note_error(self, at, outcome.error());
  if (at.download_tries >= max_download_tries ||
      outcome.error().kind == protocol::error_class::request_error) {
    fail_attempt(self, at, outcome.error());
    return;
  }
  // Downloads cost nothing: try again after a poll interval rather than resubmitting.
  start_download(self, at, self->state.ctx->spec.poll.interval);
}

void start_download(worker_actor* self, attempt& at, duration delay) {
  ++at.download_tries;
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
      [self](resume_atom, std::uint32_t index) {
        // A task from an earlier run: poll it at once, no submit (and no cost).
        auto& at = begin_attempt(self, index);
        at.task_id = (*self->state.ctx->jobs)[index].resume_task_id;
        note(self, at, trace_kind::accepted, "resumed task " + at.task_id);
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
  };
}

// ---- batch coordinator --------------------------------------------------------------------------

/// The coordinator's control data per image; its result lives in coordinator_state::results.
struct image_state {
  bool running = false;
  bool finished = false;
  bool saturated = false;
  int error_retries = 0;
  int retries_429 = 0;
  millis last_wait{0};
  time_point submitted_at;
  /// When this image first met a server failure it could not retry (see on_attempt_failed).
  std::optional<time_point> outage_since;
};

struct coordinator_state {
  std::shared_ptr<batch_context> ctx;
  batch_callbacks callbacks;
  std::optional<rate_limiter> limiter;
  jitter_rng rng;
  std::vector<image_state> images;
  std::vector<image_result> results;  ///< By job index; moved out whole at the end.
  using entry = std::pair<time_point, std::uint32_t>;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> pending;
  std::vector<caf::actor> workers;
  std::vector<std::uint32_t> load;  ///< Running attempts per worker.
  std::set<std::uint32_t> open;     ///< Workers with fewer than attempts_per_worker.
  std::size_t running = 0;
  std::size_t finished = 0;
  std::size_t delivered = 0;
  std::size_t failed = 0;
  batch_counters counters;
  std::optional<time_point> next_wake;
  std::vector<caf::actor> subscribers;
  bool done = false;
  bool cancelled = false;
  bool quota_exhausted = false;
  bool submit_capped = false;
  bool draining = false;
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

/// Attempts one worker carries at most; more running attempts spread over more workers (and
/// the scheduler's threads).
constexpr std::uint32_t attempts_per_worker = 64;

void record(coordinator_actor* self, std::uint32_t index, trace_kind kind, std::string detail,
            time_point at) {
  if (self->state.ctx->trace && index < self->state.ctx->trace_limit) {
    self->state.results[index].trace.push_back(
        trace_event{ms_since(self->state.ctx->start, at), kind, std::move(detail)});
  }
}

void publish(coordinator_actor* self, time_point now, bool final) {
  auto& st = self->state;
  if (!st.callbacks.on_progress && st.subscribers.empty()) {
    return;
  }
  progress_event event;
  event.total = st.images.size();
  event.delivered = st.delivered;
  event.failed = st.failed;
  event.in_flight = st.running;
  event.queued = st.images.size() - st.finished - st.running;
  event.http_429 = st.counters.http_429_dynamic + st.counters.http_429_quota;
  event.retries = st.counters.retries;
  event.elapsed_ms = ms_since(st.ctx->start, now);
  if (st.finished > 0) {
    const double per_image = static_cast<double>(event.elapsed_ms) / st.finished;
    event.eta_ms = static_cast<std::int64_t>(per_image * (st.images.size() - st.finished));
  }
  event.final = final;
  if (st.callbacks.on_progress) {
    st.callbacks.on_progress(event);
  }
  for (const auto& subscriber : st.subscribers) {
    self->send(subscriber, event);
  }
}

void finish_image(coordinator_actor* self, std::uint32_t index, time_point now) {
  auto& st = self->state;
  auto& image = st.images[index];
  auto& result = st.results[index];
  image.finished = true;
  result.finished_at_ms = ms_since(st.ctx->start, now);
  ++st.finished;
  if (result.delivered) {
    ++st.delivered;
  } else {
    ++st.failed;
  }
  if (st.callbacks.on_image) {
    st.callbacks.on_image(result);
  }
}

void fail_image(coordinator_actor* self, std::uint32_t index, const protocol::api_error& error,
                time_point now) {
  auto& result = self->state.results[index];
  result.delivered = false;
  result.error = error.kind;
  result.message = error.describe();
  result.retry_after_ms = error.retry_after_ms;
  record(
      self, index,
      error.kind == protocol::error_class::cancelled ? trace_kind::cancelled : trace_kind::failed,
      std::string(protocol::to_string(error.kind)), now);
  finish_image(self, index, now);
}

void finish_batch(coordinator_actor* self, time_point now) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  st.done = true;
  batch_result result;
  result.cancelled = st.cancelled;
  result.quota_exhausted = st.quota_exhausted;
  result.submit_capped = st.submit_capped;
  result.drained = st.draining;
  result.final_limit = st.limiter->limit();
  result.counters = st.counters;
  result.counters.circuit_openings = st.limiter->circuit_openings();
  std::int64_t makespan = st.cancelled ? ms_since(st.ctx->start, now) : 0;
  for (const auto& image : st.results) {
    makespan = std::max(makespan, image.finished_at_ms);
  }
  result.images = std::move(st.results);
  result.makespan_ms = makespan;
  publish(self, now, true);
  std::vector<image_state>().swap(st.images);  // Free it before on_done runs.
  // Workers hold no state worth keeping once the batch is decided; their pending backend
  // answers are dropped with them. A poll or download already scheduled for a cancelled
  // attempt still reaches the backend when due (CAF 0.17 cannot unschedule one): at most one
  // free, idempotent request per attempt, never a submit (submits are never scheduled).
  for (const auto& worker : st.workers) {
    self->send_exit(worker, caf::exit_reason::user_shutdown);
  }
  st.workers.clear();
  if (st.callbacks.on_done) {
    st.callbacks.on_done(std::move(result));
  }
  self->quit();
}

void schedule_wake(coordinator_actor* self, time_point at, time_point now) {
  auto& st = self->state;
  if (st.next_wake && *st.next_wake <= at) {
    return;
  }
  st.next_wake = at;
  self->delayed_send(self, at - now, wake_atom::value,
                     static_cast<std::int64_t>(at.time_since_epoch().count()));
}

/// The lowest-numbered worker with room, else a new one. Filling workers in order keeps
/// attempts started together in one mailbox, so the backend sees them in the order they started.
std::uint32_t pick_worker(coordinator_actor* self) {
  auto& st = self->state;
  if (st.open.empty()) {
    const auto fresh = static_cast<std::uint32_t>(st.workers.size());
    st.workers.push_back(
        self->spawn<caf::linked>(image_worker, st.ctx, caf::actor_cast<caf::actor>(self), fresh));
    st.load.push_back(0);
    st.open.insert(fresh);
  }
  const auto worker = *st.open.begin();
  if (++st.load[worker] == attempts_per_worker) {
    st.open.erase(st.open.begin());
  }
  return worker;
}

void start_attempt(coordinator_actor* self, std::uint32_t index, time_point now) {
  auto& st = self->state;
  auto& image = st.images[index];
  auto& result = st.results[index];
  image.running = true;
  image.saturated = st.limiter->on_start(now);
  image.submitted_at = now;
  const bool resume = !result.resumed && !(*st.ctx->jobs)[index].resume_task_id.empty();
  if (resume) {
    result.resumed = true;  // Polls a known task: no submit, no cost.
    result.task_id = (*st.ctx->jobs)[index].resume_task_id;
  } else {
    ++result.attempts;
    ++st.counters.submits;
  }
  ++st.running;
  st.counters.max_in_flight = std::max<int>(st.counters.max_in_flight, st.running);
  record(self, index, trace_kind::permit, "", now);
  const auto worker = pick_worker(self);
  if (resume) {
    self->send(st.workers[worker], resume_atom::value, index);
  } else {
    self->send(st.workers[worker], run_atom::value, index);
  }
}

/// Starts what the strategy allows now. `announce`: an image just finished; its progress event
/// goes out after the starts it made room for, so `in_flight` counts them.
void pump(coordinator_actor* self, bool announce = false) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  const auto now = now_of(self);
  while (!st.pending.empty()) {
    const auto [at, index] = st.pending.top();
    if (st.limiter->quota_stopped()) {
      // Stop submitting: everything not yet started fails as quota without costing anything.
      st.pending.pop();
      protocol::api_error error;
      error.kind = protocol::error_class::quota_429;
      error.message = "not submitted: the quota is exhausted";
      fail_image(self, index, error, now);
      continue;
    }
    if (st.draining) {
      st.pending.pop();
      protocol::api_error error;
      error.kind = protocol::error_class::cancelled;
      error.message = "not started: the batch is winding down";
      fail_image(self, index, error, now);
      continue;
    }
    if (st.ctx->max_submits > 0 && st.counters.submits >= st.ctx->max_submits &&
        (st.results[index].resumed || (*st.ctx->jobs)[index].resume_task_id.empty())) {
      st.pending.pop();
      st.submit_capped = true;
      protocol::api_error error;
      error.kind = protocol::error_class::cancelled;
      error.message =
          "not submitted: submit cap reached (" + std::to_string(st.ctx->max_submits) + " submits)";
      fail_image(self, index, error, now);
      continue;
    }
    if (at > now) {
      schedule_wake(self, at, now);
      break;
    }
    const auto next = st.limiter->next_start(now);
    if (!next) {
      break;  // A running attempt's end will pump again.
    }
    if (*next > now) {
      schedule_wake(self, *next, now);
      break;
    }
    st.pending.pop();
    start_attempt(self, index, now);
  }
  if (announce) {
    publish(self, now, false);
  }
  if (st.finished == st.images.size()) {
    finish_batch(self, now);
  }
}

void on_attempt_failed(coordinator_actor* self, std::uint32_t index, attempt_report& report,
                       time_point now) {
  auto& st = self->state;
  auto& image = st.images[index];
  auto& result = st.results[index];
  const auto& spec = st.ctx->spec;
  const auto& error = report.error;
  std::optional<millis> hint;
  if (error.retry_after_ms) {
    hint = millis{*error.retry_after_ms};
  }
  std::optional<millis> wait;
  bool error_retry = protocol::is_retryable(error.kind);
  switch (error.kind) {
    case protocol::error_class::dynamic_429:
      ++st.counters.http_429_dynamic;
      ++result.http_429;
      st.limiter->on_dynamic_429(now, image.submitted_at, hint);
      if (image.retries_429 < spec.retry.max_429_retries) {
        // A 429 slows the whole batch (the limiter) and is retried without using the image's
        // error retries, up to its own cap.
        wait = backoff_delay(spec.retry, image.retries_429, image.last_wait, st.rng);
        ++image.retries_429;
        error_retry = false;
      }
      break;
    case protocol::error_class::quota_429:
      ++st.counters.http_429_quota;
      ++result.http_429;
      if (spec.stop_on_quota) {
        st.limiter->on_quota();
        st.quota_exhausted = true;
      }
      break;
    case protocol::error_class::server_transport:
      st.limiter->on_server_failure(now);
      if (error.ambiguous) {
        ++st.counters.ambiguous_submits;
        result.ambiguous = true;
        // The submit may have created (and charged) a task: resubmitting may pay twice.
        error_retry = error_retry && spec.retry.resubmit_ambiguous;
      }
      break;
    default:
      break;
  }
  if (error_retry) {
    if (error.kind != protocol::error_class::dynamic_429) {
      st.limiter->budget_failure();
    }
    if (image.error_retries < spec.retry.max_retries && st.limiter->retry_allowed()) {
      wait = backoff_delay(spec.retry, image.error_retries, image.last_wait, st.rng);
      ++image.error_retries;
    }
  }
  if (!wait && error.kind == protocol::error_class::server_transport && !error.ambiguous &&
      spec.circuit.enabled) {
    // The service refused the request, so it cost nothing, and the open circuit already paces
    // the probing: ride out an outage instead of failing the image once its retries (or the
    // budget) are spent, for up to one poll deadline from the first unretried failure.
    if (!image.outage_since) {
      image.outage_since = now;
    }
    if (now - *image.outage_since < spec.poll.deadline) {
      wait = std::max(spec.circuit.open_for,
                      backoff_delay(spec.retry, image.error_retries, image.last_wait, st.rng));
    }
  }
  if (!wait) {
    fail_image(self, index, error, now);
    return;
  }
  if (hint && spec.retry.honour_retry_after) {
    wait = std::max(*wait, *hint);
  }
  image.last_wait = *wait;
  ++result.retries;
  ++st.counters.retries;
  record(self, index, trace_kind::retry, std::to_string(wait->count()) + "ms", now);
  st.pending.emplace(now + *wait, index);
}

void on_report(coordinator_actor* self, attempt_report& report) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  const auto now = now_of(self);
  const auto index = report.index;
  auto& image = st.images[index];
  auto& result = st.results[index];
  image.running = false;
  --st.running;
  if (st.load[report.worker]-- == attempts_per_worker) {
    st.open.insert(report.worker);
  }
  st.limiter->on_release(now);
  st.counters.polls += report.polls;
  st.counters.downloads += report.downloads;
  st.counters.http_429_dynamic += report.poll_429_dynamic;
  st.counters.http_429_quota += report.poll_429_quota;
  result.http_429 += report.poll_429_dynamic + report.poll_429_quota;
  if (!report.task_id.empty()) {
    result.task_id = report.task_id;
  }
  if (st.ctx->trace) {
    auto& trace = result.trace;
    trace.insert(trace.end(), std::make_move_iterator(report.trace.begin()),
                 std::make_move_iterator(report.trace.end()));
  }
  if (report.delivered) {
    st.limiter->on_success(image.submitted_at, report.task_latency);
    st.limiter->budget_success();
    result.delivered = true;
    result.error.reset();
    result.message.clear();
    result.bytes_size = report.bytes_size;
    result.bytes = std::move(report.bytes);
    result.content_type = std::move(report.content_type);
    record(self, index, trace_kind::delivered, std::to_string(report.bytes_size) + " bytes", now);
    finish_image(self, index, now);
  } else {
    if (!report.submit_failed && report.error.kind != protocol::error_class::server_transport) {
      // The service answered the submit: it is reachable, whatever became of the task.
      st.limiter->on_success(image.submitted_at, std::nullopt);
    }
    if (result.resumed && result.attempts == 0 &&
        report.error.kind != protocol::error_class::task_failed &&
        report.error.kind != protocol::error_class::moderation) {
      // The earlier run's task is unknown here or never finished: the image's first submit
      // follows at once (a FAILED task instead goes through the strategy like any failure).
      record(self, index, trace_kind::retry, "resume failed: " + report.error.describe(), now);
      st.pending.emplace(now, index);
    } else {
      on_attempt_failed(self, index, report, now);
    }
    if (image.finished) {
      result.message = report.error.describe();
    }
  }
  pump(self, image.finished);
}

void cancel(coordinator_actor* self) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  const auto now = now_of(self);
  st.cancelled = true;
  protocol::api_error error;
  error.kind = protocol::error_class::cancelled;
  error.message = "the batch was cancelled";
  for (std::uint32_t index = 0; index < st.images.size(); ++index) {
    if (!st.images[index].finished) {
      fail_image(self, index, error, now);
    }
  }
  finish_batch(self, now);
}

caf::behavior batch_coordinator(coordinator_actor* self, std::shared_ptr<batch_context> ctx,
                                batch_callbacks callbacks, std::uint64_t seed) {
  auto& st = self->state;
  ctx->start = now_of(self);
  st.ctx = ctx;
  st.callbacks = std::move(callbacks);
  st.limiter.emplace(ctx->spec, ctx->start);
  st.rng = jitter_rng(seed);
  st.images.resize(ctx->jobs->size());
  st.results.resize(ctx->jobs->size());
  for (std::uint32_t index = 0; index < ctx->jobs->size(); ++index) {
    auto& result = st.results[index];
    const auto& job = (*ctx->jobs)[index];
    result.index = index;
    result.batch = job.batch;
    result.queued_at_ms = job.arrival.count();
    record(self, index, trace_kind::queued, "", ctx->start + job.arrival);
    st.pending.emplace(ctx->start + job.arrival, index);
  }
  // The first pump runs as a message so the spawner gets the handle before any callback.
  self->send(self, wake_atom::value, std::int64_t{0});
  return {
      [self](wake_atom, std::int64_t stamp) {
        auto& st = self->state;
        if (st.next_wake && st.next_wake->time_since_epoch().count() == stamp) {
          st.next_wake.reset();
        }
        pump(self);
      },
      [self](accepted_atom, std::uint32_t, std::uint32_t index) {
        auto& st = self->state;
        if (st.done) {
          return;
        }
        ++st.counters.accepted;
        const auto& image = st.images[index];
        st.limiter->on_accepted(image.submitted_at, image.saturated);
        pump(self);
      },
      [self](journal_atom, std::uint32_t worker, std::uint32_t index, std::string& task_id) {
        auto& st = self->state;
        if (st.done) {
          return;
        }
        // Known at once, so an attempt cancelled later still names its task (for a resume).
        st.results[index].task_id = task_id;
        if (st.callbacks.on_accepted) {
          st.callbacks.on_accepted(index, task_id);
        }
        self->send(st.workers[worker], ack_atom::value, index);
      },
      [self](drain_atom, std::int64_t grace_ms) {
        auto& st = self->state;
        if (st.done || st.draining) {
          return;
        }
        st.draining = true;
        // Running attempts get the grace period; whatever is left then is cancelled.
        self->delayed_send(self, millis{grace_ms}, cancel_atom::value);
        pump(self);
      },
      [self](attempt_report& report) { on_report(self, report); },
      [self](cancel_atom) { cancel(self); },
      [self](subscribe_atom, caf::actor subscriber) {
        self->state.subscribers.push_back(std::move(subscriber));
      },
  };
}

}  // namespace

caf::actor spawn_batch(caf::actor_system& system, batch_request request, backend_actor backend,
                       batch_callbacks callbacks) {
  validate(request.strategy);
  if (!backend) {
    throw std::invalid_argument("spawn_batch: no backend actor");
  }
  auto ctx = std::make_shared<batch_context>();
  if (request.shared_jobs && !request.jobs.empty()) {
    throw std::invalid_argument("spawn_batch: both jobs and shared_jobs are set");
  }
  ctx->jobs = request.shared_jobs
                  ? std::move(request.shared_jobs)
                  : std::make_shared<const std::vector<image_job>>(std::move(request.jobs));
  ctx->spec = std::move(request.strategy);
  ctx->backend = std::move(backend);
  ctx->trace = request.trace;
  ctx->trace_limit = request.trace_limit;
  ctx->keep_bytes = request.keep_bytes;
  ctx->ack_accepted = static_cast<bool>(callbacks.on_accepted);
  ctx->max_submits = request.max_submits;
  return system.spawn(batch_coordinator, std::move(ctx), std::move(callbacks), request.seed);
}

void cancel_batch(const caf::actor& coordinator) {
  caf::anon_send(coordinator, cancel_atom::value);
}

void drain_batch(const caf::actor& coordinator, millis grace) {
  caf::anon_send(coordinator, drain_atom::value, static_cast<std::int64_t>(grace.count()));
}

batch_runner::batch_runner(caf::actor_system& system, batch_request request, backend_actor backend,
                           progress_callback on_progress) {
  auto promise = std::make_shared<std::promise<batch_result>>();
  result_ = promise->get_future();
  batch_callbacks callbacks;
  callbacks.on_progress = std::move(on_progress);
  callbacks.on_done = [promise](batch_result result) { promise->set_value(std::move(result)); };
  coordinator_ = spawn_batch(system, std::move(request), std::move(backend), std::move(callbacks));
}

batch_runner::batch_runner(caf::actor_system& system, batch_request request, backend_actor backend,
                           batch_callbacks callbacks) {
  auto promise = std::make_shared<std::promise<batch_result>>();
  result_ = promise->get_future();
  callbacks.on_done = [promise](batch_result result) { promise->set_value(std::move(result)); };
  coordinator_ = spawn_batch(system, std::move(request), std::move(backend), std::move(callbacks));
}

batch_runner::~batch_runner() {
  if (!taken_ && result_.valid()) {
    cancel();
    result_.wait();
  }
}

void batch_runner::cancel() { cancel_batch(coordinator_); }

void batch_runner::drain(millis grace) { drain_batch(coordinator_, grace); }

batch_result batch_runner::wait() {
  taken_ = true;
  return result_.get();
}

batch_result run_batch(caf::actor_system& system, batch_request request, backend_actor backend,
                       progress_callback on_progress) {
  batch_runner runner(system, std::move(request), std::move(backend), std::move(on_progress));
  return runner.wait();
}

}  // namespace zbatch::actors
