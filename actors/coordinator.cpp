#include "actors/coordinator.hpp"

#include <algorithm>
#include <memory>
#include <queue>
#include <stdexcept>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/rate_limiter.hpp"

namespace zbatch::actors {

namespace {

using run_atom = caf::atom_constant<caf::atom("zb_run")>;
using tick_atom = caf::atom_constant<caf::atom("zb_tick")>;
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
  std::vector<image_job> jobs;
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

struct worker_state {
  std::shared_ptr<const batch_context> ctx;
  caf::actor coordinator;
  std::uint32_t id = 0;
  attempt_report report;
  time_point submitted_at;
  time_point deadline;
  duration interval{0};
  bool downloading = false;
  std::string url;
  int download_tries = 0;
};

using worker_actor = caf::stateful_actor<worker_state>;

constexpr int max_download_tries = 3;

time_point now_of(const caf::local_actor* self) { return self->clock().now(); }

void note(worker_actor* self, trace_kind kind, std::string detail) {
  auto& st = self->state;
  if (st.ctx->trace && st.report.index < st.ctx->trace_limit) {
    st.report.trace.push_back(
        trace_event{ms_since(st.ctx->start, now_of(self)), kind, std::move(detail)});
  }
}

void note_error(worker_actor* self, const protocol::api_error& error) {
  if (error.kind == protocol::error_class::dynamic_429) {
    note(self, trace_kind::http_429, "dynamic");
  } else if (error.kind == protocol::error_class::quota_429) {
    note(self, trace_kind::http_429, "quota");
  } else {
    note(self, trace_kind::error, error.describe());
  }
}

void finish_attempt(worker_actor* self) {
  auto& st = self->state;
  st.downloading = false;
  self->send(st.coordinator, std::move(st.report));
  st.report = attempt_report{};
}

void fail_attempt(worker_actor* self, protocol::api_error error) {
  self->state.report.error = std::move(error);
  finish_attempt(self);
}

void schedule_poll(worker_actor* self) {
  auto& st = self->state;
  const auto now = now_of(self);
  const auto at = std::min(now + st.interval, st.deadline);
  self->delayed_send(self, at - now, tick_atom::value);
  const auto& poll = st.ctx->spec.poll;
  const auto grown = std::chrono::duration_cast<duration>(st.interval * poll.factor);
  st.interval = std::min<duration>(grown, poll.cap);
}

void keep_polling(worker_actor* self) {
  auto& st = self->state;
  if (now_of(self) >= st.deadline) {
    protocol::api_error error;
    error.kind = protocol::error_class::deadline;
    error.message = "task " + st.report.task_id + " still running at the poll deadline (" +
                    std::to_string(st.ctx->spec.poll.deadline.count()) + " ms)";
    note(self, trace_kind::error, error.describe());
    fail_attempt(self, std::move(error));
    return;
  }
  schedule_poll(self);
}

void start_download(worker_actor* self);

void on_polled(worker_actor* self, poll_outcome& outcome) {
  auto& st = self->state;
  if (!outcome.ok()) {
    const auto& error = outcome.error();
    note_error(self, error);
    if (error.kind == protocol::error_class::dynamic_429) {
      ++st.report.poll_429_dynamic;
    } else if (error.kind == protocol::error_class::quota_429) {
      ++st.report.poll_429_quota;
    }
    // The codec reports a FAILED task as its class (moderation, task_failed): the task is over.
    if (error.kind == protocol::error_class::request_error ||
        error.kind == protocol::error_class::moderation ||
        error.kind == protocol::error_class::task_failed) {
      fail_attempt(self, error);
    } else {
      // The task may still finish: a failed poll never ends the attempt before its deadline.
      keep_polling(self);
    }
    return;
  }
  const auto& task = outcome.value();
  note(self, trace_kind::poll,
       task.raw_status.empty() ? std::string(protocol::to_string(task.status)) : task.raw_status);
  if (task.status == protocol::task_status::succeed) {
    st.report.task_latency = now_of(self) - st.submitted_at;
    if (task.output_images.empty()) {
      protocol::api_error error;
      error.kind = protocol::error_class::malformed;
      error.message = "task SUCCEED without output_images";
      error.request_id = task.request_id;
      note(self, trace_kind::error, error.describe());
      fail_attempt(self, std::move(error));
      return;
    }
    st.url = task.output_images.front();
    start_download(self);
  } else if (task.status == protocol::task_status::failed) {
    st.report.task_latency = now_of(self) - st.submitted_at;
    auto error =
        protocol::classify_task_failure(task.error_code, task.error_message, task.request_id);
    note(self, trace_kind::error, error.describe());
    fail_attempt(self, std::move(error));
  } else {
    keep_polling(self);
  }
}

void start_poll(worker_actor* self) {
  auto& st = self->state;
  ++st.report.polls;
  self->request(st.ctx->backend, caf::infinite, poll_atom::value, st.report.task_id)
      .then([self](poll_outcome& outcome) { on_polled(self, outcome); },
            [self](caf::error& error) {
              poll_outcome outcome{backend_failure(error)};
              on_polled(self, outcome);
            });
}

void on_downloaded(worker_actor* self, download_outcome& outcome) {
  auto& st = self->state;
  if (outcome.ok()) {
    auto& image = outcome.value();
    note(self, trace_kind::download, std::to_string(image.bytes.size()) + " bytes");
    st.report.delivered = true;
    st.report.bytes_size = image.bytes.size();
    st.report.content_type = image.content_type;
    if (st.ctx->keep_bytes) {
      st.report.bytes = std::move(image.bytes);
    }
    finish_attempt(self);
    return;
  }
  note_error(self, outcome.error());
  if (st.download_tries >= max_download_tries ||
      outcome.error().kind == protocol::error_class::request_error) {
    fail_attempt(self, outcome.error());
    return;
  }
  // Downloads cost nothing: try again after a poll interval rather than resubmitting.
  self->delayed_send(self, st.ctx->spec.poll.interval, tick_atom::value);
}

void start_download(worker_actor* self) {
  auto& st = self->state;
  st.downloading = true;
  ++st.download_tries;
  ++st.report.downloads;
  self->request(st.ctx->backend, caf::infinite, download_atom::value, st.url)
      .then([self](download_outcome& outcome) { on_downloaded(self, outcome); },
            [self](caf::error& error) {
              download_outcome outcome{backend_failure(error)};
              on_downloaded(self, outcome);
            });
}

void on_submitted(worker_actor* self, submit_outcome& outcome) {
  auto& st = self->state;
  if (!outcome.ok()) {
    note_error(self, outcome.error());
    st.report.submit_failed = true;
    fail_attempt(self, outcome.error());
    return;
  }
  st.report.task_id = outcome.value().task_id;
  note(self, trace_kind::accepted, "task " + st.report.task_id);
  self->send(st.coordinator, accepted_atom::value, st.id, st.report.index);
  if (st.ctx->ack_accepted) {
    // The coordinator journals the task id first; polling starts on its ack.
    self->send(st.coordinator, journal_atom::value, st.id, st.report.index, st.report.task_id);
    return;
  }
  const auto now = now_of(self);
  st.deadline = now + st.ctx->spec.poll.deadline;
  st.interval = st.ctx->spec.poll.interval;
  schedule_poll(self);
}

caf::behavior image_worker(worker_actor* self, std::shared_ptr<const batch_context> ctx,
                           caf::actor coordinator, std::uint32_t id) {
  self->state.ctx = std::move(ctx);
  self->state.coordinator = std::move(coordinator);
  self->state.id = id;
  return {
      [self](run_atom, std::uint32_t index) {
        auto& st = self->state;
        st.report = attempt_report{};
        st.report.worker = st.id;
        st.report.index = index;
        st.download_tries = 0;
        st.downloading = false;
        st.submitted_at = now_of(self);
        note(self, trace_kind::submit, "");
        self->request(st.ctx->backend, caf::infinite, submit_atom::value,
                      st.ctx->jobs[index].request)
            .then([self](submit_outcome& outcome) { on_submitted(self, outcome); },
                  [self](caf::error& error) {
                    submit_outcome outcome{backend_failure(error)};
                    on_submitted(self, outcome);
                  });
      },
      [self](resume_atom, std::uint32_t index) {
        // A task from an earlier run: poll it at once, no submit (and no cost).
        auto& st = self->state;
        st.report = attempt_report{};
        st.report.worker = st.id;
        st.report.index = index;
        st.report.task_id = st.ctx->jobs[index].resume_task_id;
        st.download_tries = 0;
        st.downloading = false;
        st.submitted_at = now_of(self);
        note(self, trace_kind::accepted, "resumed task " + st.report.task_id);
        st.deadline = st.submitted_at + st.ctx->spec.poll.deadline;
        st.interval = st.ctx->spec.poll.interval;
        start_poll(self);
      },
      [self](ack_atom) {
        auto& st = self->state;
        st.deadline = now_of(self) + st.ctx->spec.poll.deadline;
        st.interval = st.ctx->spec.poll.interval;
        schedule_poll(self);
      },
      [self](tick_atom) {
        if (self->state.downloading) {
          start_download(self);
        } else {
          start_poll(self);
        }
      },
  };
}

// ---- batch coordinator --------------------------------------------------------------------------

struct image_state {
  bool running = false;
  bool finished = false;
  int error_retries = 0;
  int retries_429 = 0;
  millis last_wait{0};
  bool saturated = false;
  time_point submitted_at;
  /// When this image first met a server failure it could not retry (see on_attempt_failed).
  std::optional<time_point> outage_since;
  image_result result;
};

struct coordinator_state {
  std::shared_ptr<batch_context> ctx;
  batch_callbacks callbacks;
  std::optional<rate_limiter> limiter;
  jitter_rng rng;
  std::vector<image_state> images;
  using entry = std::pair<time_point, std::uint32_t>;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> pending;
  std::vector<caf::actor> workers;
  std::vector<std::uint32_t> idle;
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

void record(coordinator_actor* self, image_state& image, trace_kind kind, std::string detail,
            time_point at) {
  if (self->state.ctx->trace && image.result.index < self->state.ctx->trace_limit) {
    image.result.trace.push_back(
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
  image.finished = true;
  image.result.finished_at_ms = ms_since(st.ctx->start, now);
  ++st.finished;
  if (image.result.delivered) {
    ++st.delivered;
  } else {
    ++st.failed;
  }
  if (st.callbacks.on_image) {
    st.callbacks.on_image(image.result);
  }
}

void fail_image(coordinator_actor* self, std::uint32_t index, const protocol::api_error& error,
                time_point now) {
  auto& image = self->state.images[index];
  image.result.delivered = false;
  image.result.error = error.kind;
  image.result.message = error.describe();
  image.result.retry_after_ms = error.retry_after_ms;
  record(
      self, image,
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
  result.images.reserve(st.images.size());
  std::int64_t makespan = st.cancelled ? ms_since(st.ctx->start, now) : 0;
  for (auto& image : st.images) {
    makespan = std::max(makespan, image.result.finished_at_ms);
    result.images.push_back(std::move(image.result));
  }
  result.makespan_ms = makespan;
  publish(self, now, true);
  std::vector<image_state>().swap(st.images);  // Moved out: free it before on_done runs.
  // Workers hold no state worth keeping once the batch is decided; nothing they started may
  // outlive the batch (their pending backend answers are dropped with them).
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

void start_attempt(coordinator_actor* self, std::uint32_t index, time_point now) {
  auto& st = self->state;
  auto& image = st.images[index];
  image.running = true;
  image.saturated = st.limiter->on_start(now);
  image.submitted_at = now;
  const bool resume = !image.result.resumed && !st.ctx->jobs[index].resume_task_id.empty();
  if (resume) {
    image.result.resumed = true;  // Polls a known task: no submit, no cost.
    image.result.task_id = st.ctx->jobs[index].resume_task_id;
  } else {
    ++image.result.attempts;
    ++st.counters.submits;
  }
  ++st.running;
  st.counters.max_in_flight = std::max<int>(st.counters.max_in_flight, st.running);
  record(self, image, trace_kind::permit, "", now);
  std::uint32_t worker = 0;
  if (st.idle.empty()) {
    worker = static_cast<std::uint32_t>(st.workers.size());
    st.workers.push_back(
        self->spawn<caf::linked>(image_worker, st.ctx, caf::actor_cast<caf::actor>(self), worker));
  } else {
    worker = st.idle.back();
    st.idle.pop_back();
  }
  if (resume) {
    self->send(st.workers[worker], resume_atom::value, index);
  } else {
    self->send(st.workers[worker], run_atom::value, index);
  }
}

void pump(coordinator_actor* self) {
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
        (st.images[index].result.resumed || st.ctx->jobs[index].resume_task_id.empty())) {
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
  if (st.finished == st.images.size()) {
    finish_batch(self, now);
  }
}

void on_attempt_failed(coordinator_actor* self, std::uint32_t index, attempt_report& report,
                       time_point now) {
  auto& st = self->state;
  auto& image = st.images[index];
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
      ++image.result.http_429;
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
      ++image.result.http_429;
      if (spec.stop_on_quota) {
        st.limiter->on_quota();
        st.quota_exhausted = true;
      }
      break;
    case protocol::error_class::server_transport:
      st.limiter->on_server_failure(now);
      if (error.ambiguous) {
        ++st.counters.ambiguous_submits;
        image.result.ambiguous = true;
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
  ++image.result.retries;
  ++st.counters.retries;
  record(self, image, trace_kind::retry, std::to_string(wait->count()) + "ms", now);
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
  image.running = false;
  --st.running;
  st.idle.push_back(report.worker);
  st.limiter->on_release(now);
  st.counters.polls += report.polls;
  st.counters.downloads += report.downloads;
  st.counters.http_429_dynamic += report.poll_429_dynamic;
  st.counters.http_429_quota += report.poll_429_quota;
  image.result.http_429 += report.poll_429_dynamic + report.poll_429_quota;
  if (!report.task_id.empty()) {
    image.result.task_id = report.task_id;
  }
  if (st.ctx->trace) {
    auto& trace = image.result.trace;
    trace.insert(trace.end(), std::make_move_iterator(report.trace.begin()),
                 std::make_move_iterator(report.trace.end()));
  }
  if (report.delivered) {
    st.limiter->on_success(image.submitted_at, report.task_latency);
    st.limiter->budget_success();
    image.result.delivered = true;
    image.result.error.reset();
    image.result.message.clear();
    image.result.bytes_size = report.bytes_size;
    image.result.bytes = std::move(report.bytes);
    image.result.content_type = std::move(report.content_type);
    record(self, image, trace_kind::delivered, std::to_string(report.bytes_size) + " bytes", now);
    finish_image(self, index, now);
  } else {
    if (!report.submit_failed && report.error.kind != protocol::error_class::server_transport) {
      // The service answered the submit: it is reachable, whatever became of the task.
      st.limiter->on_success(image.submitted_at, std::nullopt);
    }
    if (image.result.resumed && image.result.attempts == 0 &&
        report.error.kind != protocol::error_class::task_failed &&
        report.error.kind != protocol::error_class::moderation) {
      // The earlier run's task is unknown here or never finished: the image's first submit
      // follows at once (a FAILED task instead goes through the strategy like any failure).
      record(self, image, trace_kind::retry, "resume failed: " + report.error.describe(), now);
      st.pending.emplace(now, index);
    } else {
      on_attempt_failed(self, index, report, now);
    }
    if (image.finished) {
      image.result.message = report.error.describe();
    }
  }
  if (image.finished) {
    publish(self, now, false);
  }
  pump(self);
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
  st.images.resize(ctx->jobs.size());
  for (std::uint32_t index = 0; index < ctx->jobs.size(); ++index) {
    auto& image = st.images[index];
    const auto& job = ctx->jobs[index];
    image.result.index = index;
    image.result.batch = job.batch;
    image.result.queued_at_ms = job.arrival.count();
    record(self, image, trace_kind::queued, "", ctx->start + job.arrival);
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
        st.images[index].result.task_id = task_id;
        if (st.callbacks.on_accepted) {
          st.callbacks.on_accepted(index, task_id);
        }
        self->send(st.workers[worker], ack_atom::value);
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
  ctx->jobs = std::move(request.jobs);
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
