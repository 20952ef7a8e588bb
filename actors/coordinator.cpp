#include "actors/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/hung_policy.hpp"
#include "actors/image_worker.hpp"
#include "actors/limiter_actor.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/retry_budget.hpp"
#include "actors/retry_policy.hpp"

namespace zbatch::actors {

namespace {

using wake_atom = caf::atom_constant<caf::atom("zb_wake")>;
using drain_atom = caf::atom_constant<caf::atom("zb_drain")>;
using give_up_atom = caf::atom_constant<caf::atom("zb_giveup")>;

/// How long a cancelled batch waits for the answers of submits already sent (so accepted task
/// ids are journaled); a little more than a loaded service takes to answer a submit.
constexpr millis submit_answer_wait{10'000};

}  // namespace

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

// ---- batch coordinator --------------------------------------------------------------------------

/// The coordinator's control data per image; its result lives in coordinator_state::results.
struct image_state {
  bool running = false;
  bool finished = false;
  bool saturated = false;
  int level = 0;  ///< Attempts running right after this one started (itself included).
  time_point submitted_at;
  image_retry_state retry;    ///< What the retry decision reads and updates.
  bool submit_out = false;    ///< A submit was sent and its answer has not come back yet.
  bool deferred_out = false;  ///< The retry the budget deferred was let out; its attempt not ended.
  std::optional<std::uint64_t> permit;  ///< The permit_gate's permit of the running attempt.
};

struct coordinator_state {
  /// Task id -> the image holding it (resumed or journaled): two submits answered with one
  /// id are caught (holder_of). Filled on the first journaled id.
  std::unordered_map<std::string, std::uint32_t> task_holders;
  bool task_holders_filled = false;
  std::shared_ptr<batch_context> ctx;
  batch_callbacks callbacks;
  /// The key's limiter actor (limiter_actor.hpp): every start is asked of it, every attempt's
  /// end told to it.
  caf::actor limiter;
  bool own_limiter = false;  ///< Spawned for this batch alone: stopped with it.
  /// Nothing more starts for the quota (this batch stopped, or the limiter said the key did).
  bool quota_stopped = false;
  bool asking = false;  ///< A limiter_acquire is out (the coordinator awaits its answer).
  /// Starts to ask for next (1..max_starts_per_ask): twice the last when all were granted, one
  /// more than granted when not. Peeking the queue costs per image, and a limit of one asked
  /// for 256 at every turn: most of a 100,000-image sim run (bench/sim_scale.sh).
  int ask_limit = 1;
  retry_budget budget{budget_spec{}};  ///< The batch's retry budget (gRFC A6).
  jitter_rng rng;
  latency_window latencies;  ///< Accepted -> SUCCEED, for the hung give-up (bounded).
  std::vector<image_state> images;
  std::vector<image_result> results;  ///< By job index; moved out whole at the end.
  using entry = std::pair<time_point, std::uint32_t>;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> pending;
  /// Retries the budget refused, oldest first, each with its earliest start (retry_policy.hpp).
  std::deque<entry> deferred;
  std::size_t deferred_out = 0;  ///< Images with image_state::deferred_out.
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
  std::optional<protocol::ratelimit_state> last_ratelimit;
  bool probing = false;                ///< batch_request::probe_first, until the probes' answers.
  std::set<std::string> probe_models;  ///< batch_request::probe_models not answered yet.
  std::optional<int> quota_cap;        ///< Submits (charged_submits) allowed in all today.
  /// Submits that may have cost a call: those sent, less those refused for free (a 429 or a
  /// 4xx creates no task; whether the service counts them is unknown, and if it does its next
  /// answer's headers or a quota 429 stop the batch, both free). What the quota caps count.
  int charged_submits = 0;
  /// Per model (image_request::model): submits that may have cost a call (as charged_submits),
  /// submits accepted, submits allowed in all
  /// today (batch_request::model_quota_submits, then the probes' answers), and the models the
  /// service reported at 0 calls left (their images stop, the other models go on).
  std::map<std::string, int> submits_by_model;
  std::map<std::string, int> accepted_by_model;
  std::map<std::string, int> model_caps;
  std::set<std::string> stopped_models;
  bool several_models = false;  ///< The jobs name more than one model.
  bool submit_capped = false;
  /// When the last progress event went out: attempts that end without finishing an image (a
  /// 429, an acceptance) announce too, at most once a second, so a bar shows in-flight tasks
  /// and 429s before the first image ends (a new user's check).
  std::optional<time_point> last_published;
  bool draining = false;
  std::optional<protocol::api_error> halted;  ///< See batch_result::halted_by.
  int unsent_in_a_row = 0;       ///< Failures without a connection since the last answer.
  int unknown_429_in_a_row = 0;  ///< Unknown-text 429s since the last accepted submit.
  bool told_unsent = false;      ///< The "cannot reach" notice went out.
  /// Cancelled, but waiting for the answers of submits already sent: an accepted task id is
  /// journaled before the batch ends (issue "money under interruption").
  bool cancelling = false;
  std::size_t submits_out = 0;  ///< Images with image_state::submit_out.
};

using coordinator_actor = caf::stateful_actor<coordinator_state>;

const std::string& model_of(const coordinator_state& st, std::uint32_t index) {
  return (*st.ctx->jobs)[index].request.model;
}

/// Why the next submit of `index` must not leave for its model's quota, or empty: the service
/// said the model has no call left today, or the plan's submits for the model are spent.
std::string model_quota_stop(const coordinator_state& st, std::uint32_t index, int more = 0) {
  const auto& model = model_of(st, index);
  if (st.stopped_models.count(model) != 0) {
    return "not submitted: no calls left today for " + model;
  }
  const auto cap = st.model_caps.find(model);
  if (cap == st.model_caps.end()) {
    return {};
  }
  const auto sent = st.submits_by_model.find(model);
  const int submits = sent == st.submits_by_model.end() ? 0 : sent->second;
  return submits + more >= cap->second ? "not submitted: beyond the calls left today for " + model
                                       : std::string();
}

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
  st.last_published = now;
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

/// The attempt of a deferred retry that was let out has ended (or never will start).
void end_deferred(coordinator_actor* self, std::uint32_t index) {
  auto& st = self->state;
  if (st.images[index].deferred_out) {
    st.images[index].deferred_out = false;
    --st.deferred_out;
  }
}

void fail_image(coordinator_actor* self, std::uint32_t index, const protocol::api_error& error,
                time_point now) {
  end_deferred(self, index);
  auto& result = self->state.results[index];
  result.delivered = false;
  result.error = error.kind;
  result.message = error.describe();
  result.ended_ambiguous = error.ambiguous;
  result.retry_after_ms = error.retry_after_ms;
  record(
      self, index,
      error.kind == protocol::error_class::cancelled ? trace_kind::cancelled : trace_kind::failed,
      std::string(protocol::to_string(error.kind)), now);
  finish_image(self, index, now);
}

/// The attempt of `index` ended at `now`: its permit returns to the limiter, with what the
/// shared store hears about it first.
void release_permit(coordinator_actor* self, std::uint32_t index, time_point now, bool dynamic_429,
                    bool server_failure) {
  auto& st = self->state;
  auto& image = st.images[index];
  self->send(st.limiter, limiter_release{now, image.permit, dynamic_429, server_failure});
  image.permit.reset();
}

/// The coordinator stops for the quota; `tell_store`: see limiter_quota.
void stop_for_quota(coordinator_actor* self, std::optional<millis> retry_after = std::nullopt,
                    bool tell_store = false) {
  auto& st = self->state;
  st.quota_stopped = true;
  self->send(st.limiter, limiter_quota{retry_after, tell_store});
}

void end_batch(coordinator_actor* self, time_point now, const limiter_figures& figures);

/// The batch is decided: the limiter gets back what this batch still holds and answers the
/// final figures, then the result goes out (end_batch).
void finish_batch(coordinator_actor* self, time_point now) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  st.done = true;
  self->request(st.limiter, caf::infinite, leave_atom::value)
      .await([self, now](const limiter_figures& figures) { end_batch(self, now, figures); },
             [self, now](const caf::error&) { end_batch(self, now, limiter_figures{}); });
}

void end_batch(coordinator_actor* self, time_point now, const limiter_figures& figures) {
  auto& st = self->state;
  if (st.own_limiter) {
    self->send_exit(st.limiter, caf::exit_reason::user_shutdown);
  }
  batch_result result;
  result.cancelled = st.cancelled;
  result.quota_exhausted = st.quota_exhausted;
  result.last_ratelimit = st.last_ratelimit;
  result.submit_capped = st.submit_capped;
  result.drained = st.draining;
  result.final_limit = figures.limit;
  result.halted_by = st.halted;
  result.counters = st.counters;
  result.counters.circuit_openings = figures.circuit_openings;
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
    st.workers.push_back(spawn_image_worker(self, st.ctx, fresh));
    st.load.push_back(0);
    st.open.insert(fresh);
  }
  const auto worker = *st.open.begin();
  if (++st.load[worker] == attempts_per_worker) {
    st.open.erase(st.open.begin());
  }
  return worker;
}

void start_attempt(coordinator_actor* self, std::uint32_t index, time_point now,
                   const limiter_start& granted) {
  auto& st = self->state;
  auto& image = st.images[index];
  auto& result = st.results[index];
  image.running = true;
  image.permit = granted.permit;
  image.saturated = granted.saturated;
  image.level = granted.level;
  image.submitted_at = now;
  result.last_start_ms = ms_since(st.ctx->start, now);
  const bool resume = !result.resumed && !(*st.ctx->jobs)[index].resume_task_id.empty();
  if (resume) {
    result.resumed = true;  // Polls a known task: no submit, no cost.
    result.task_id = (*st.ctx->jobs)[index].resume_task_id;
  } else {
    ++result.attempts;
    ++st.counters.submits;
    ++st.charged_submits;
    ++st.submits_by_model[model_of(st, index)];
    image.submit_out = true;
    ++st.submits_out;
  }
  ++st.running;
  st.counters.max_in_flight = std::max<int>(st.counters.max_in_flight, st.running);
  record(self, index, trace_kind::permit, "", now);
  const auto worker = pick_worker(self);
  if (resume) {
    self->send(st.workers[worker], resume_atom::value, index);
  } else if (!image.retry.hung_task.empty()) {
    self->send(st.workers[worker], rerun_atom::value, index, std::move(image.retry.hung_task));
    image.retry.hung_task.clear();
  } else {
    self->send(st.workers[worker], run_atom::value, index);
  }
}

/// Starts what the strategy allows now. `announce`: an image just finished; its progress event
/// goes out after the starts it made room for, so `in_flight` counts them.
void cancel(coordinator_actor* self);

/// Lets deferred retries out into `pending` (retry_policy.hpp): while the budget allows a retry
/// with one token kept back per deferred retry already out, or one when none is out; all of them
/// when the batch stops submitting, so pump ends them as it ends the rest.
void release_deferred(coordinator_actor* self, time_point now) {
  auto& st = self->state;
  const bool stopping = st.quota_stopped || st.halted || st.draining;
  while (!st.deferred.empty()) {
    if (!stopping && st.deferred_out > 0 &&
        !st.budget.allows_retry(static_cast<double>(st.deferred_out))) {
      return;
    }
    const auto [at, index] = st.deferred.front();
    st.deferred.pop_front();
    st.images[index].deferred_out = true;
    ++st.deferred_out;
    st.pending.emplace(std::max(at, now), index);
  }
}

void pump_end(coordinator_actor* self, time_point now, bool announce);
void on_limiter_answer(coordinator_actor* self, time_point now, const limiter_answer& answer,
                       bool announce);

/// Starts asked of the limiter at most per pump turn (a bound on the queue peeked per turn).
constexpr int max_starts_per_ask = 256;

/// How many images from the top of the queue would start now, one after the other, if the
/// limiter allowed them all: the pump's own checks, with the submits they would make (the top
/// one passed them already). The queue is left as it was.
int startable(coordinator_actor* self, time_point now) {
  auto& st = self->state;
  std::vector<coordinator_state::entry> peeked;
  int submits = st.charged_submits;
  std::size_t submits_out = st.submits_out;
  std::map<std::string, int> submits_by_model;  // the peeked ones' (model_caps)
  while (!st.pending.empty() && static_cast<int>(peeked.size()) < st.ask_limit) {
    const auto [at, index] = st.pending.top();
    const bool needs_submit =
        st.results[index].resumed || (*st.ctx->jobs)[index].resume_task_id.empty();
    const auto& model = model_of(st, index);
    if (at > now ||
        (needs_submit && ((st.quota_cap && submits >= *st.quota_cap) ||
                          (st.ctx->max_submits > 0 && submits >= st.ctx->max_submits) ||
                          (st.probing && submits_out > 0) ||
                          !model_quota_stop(st, index, submits_by_model[model]).empty()))) {
      break;
    }
    if (needs_submit) {
      ++submits;
      ++submits_out;
      ++submits_by_model[model];
    }
    peeked.push_back(st.pending.top());
    st.pending.pop();
  }
  for (const auto& entry : peeked) {
    st.pending.push(entry);
  }
  return static_cast<int>(peeked.size());
}

void pump(coordinator_actor* self, bool announce = false) {
  auto& st = self->state;
  if (st.done || st.cancelling || st.asking) {
    // Cancelling: every image not waiting for its submit's answer is already failed; nothing
    // may start (a wake set before the cancel still arrives). Asking: the limiter's answer
    // pumps again.
    return;
  }
  const auto now = now_of(self);
  release_deferred(self, now);
  while (!st.pending.empty()) {
    const auto [at, index] = st.pending.top();
    if (st.quota_stopped) {
      // Stop submitting: everything not yet started fails as quota without costing anything.
      st.pending.pop();
      protocol::api_error error;
      error.kind = protocol::error_class::quota_429;
      error.message = "not submitted: the quota is exhausted";
      fail_image(self, index, error, now);
      continue;
    }
    if (st.halted) {
      st.pending.pop();
      protocol::api_error error;
      error.kind = protocol::error_class::cancelled;
      // A journaled task waiting for its poll was not submitted either way: say what it was.
      const auto& resume = (*st.ctx->jobs)[index].resume_task_id;
      const bool would_poll = !st.results[index].resumed && !resume.empty();
      error.message = (would_poll ? "not polled (task " + resume + " is kept for the next run)"
                                  : std::string("not submitted")) +
                      ": the batch stopped after " + st.halted->describe();
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
    const bool needs_submit =
        st.results[index].resumed || (*st.ctx->jobs)[index].resume_task_id.empty();
    if (needs_submit) {
      if (auto why = model_quota_stop(st, index); !why.empty()) {
        // This model's calls are spent (or planned away): pending until the reset; the other
        // models' images go on.
        st.pending.pop();
        st.quota_exhausted = true;
        protocol::api_error error;
        error.kind = protocol::error_class::quota_429;
        error.message = std::move(why);
        fail_image(self, index, error, now);
        continue;
      }
    }
    if (needs_submit && st.quota_cap && st.charged_submits >= *st.quota_cap) {
      // Beyond the calls left today (the quota plan): pending for the run after the reset.
      st.pending.pop();
      st.quota_exhausted = true;
      protocol::api_error error;
      error.kind = protocol::error_class::quota_429;
      error.message = "not submitted: beyond the calls left today";
      fail_image(self, index, error, now);
      continue;
    }
    if (st.ctx->max_submits > 0 && st.counters.submits >= st.ctx->max_submits && needs_submit) {
      st.pending.pop();
      st.submit_capped = true;
      protocol::api_error error;
      error.kind = protocol::error_class::cancelled;
      // An image refused (a 429) before the cap was reached was submitted: "again" says so.
      error.message =
          std::string(st.results[index].attempts > 0 ? "not submitted again" : "not submitted") +
          ": submit cap reached (" + std::to_string(st.ctx->max_submits) + " submits)";
      fail_image(self, index, error, now);
      continue;
    }
    if (at > now) {
      schedule_wake(self, at, now);
      break;
    }
    if (needs_submit && st.probing && st.submits_out > 0) {
      break;  // The probe's answer pumps again.
    }
    // The limiter decides, for every image that could start now; awaiting its answer keeps
    // every other message behind it, so the batch sees its events in the order a synchronous
    // call gave them.
    st.asking = true;
    self->request(st.limiter, caf::infinite, limiter_acquire{now, startable(self, now)})
        .await(
            [self, now, announce](const limiter_answer& answer) {
              self->state.asking = false;
              on_limiter_answer(self, now, answer, announce);
            },
            [self](const caf::error&) {
              // No limiter, no start: the batch ends with what it has.
              self->state.asking = false;
              cancel(self);
            });
    return;
  }
  pump_end(self, now, announce);
}

/// The end of a pump turn: nothing more starts now.
void pump_end(coordinator_actor* self, time_point now, bool announce) {
  auto& st = self->state;
  if (announce) {
    publish(self, now, false);
  }
  if (st.finished == st.images.size()) {
    finish_batch(self, now);
  }
}

void notify(coordinator_actor* self, const std::string& kind, const std::string& text) {
  if (self->state.callbacks.on_notice) {
    self->state.callbacks.on_notice(kind, text);
  }
}

void stop_model(coordinator_actor* self, const std::string& model);

/// A quota 429 whose headers put the model at 0 and not the account: only that model stops.
bool model_quota_only(const protocol::api_error& error) {
  const auto& limits = error.ratelimit;
  return limits && limits->model_remaining && *limits->model_remaining == 0 &&
         !(limits->account_remaining && *limits->account_remaining == 0);
}

/// Stops every model of `models` this batch did not know was out of calls (stop_model) and
/// says whether there was one.
bool stop_exhausted_models(coordinator_actor* self, const std::vector<std::string>& models) {
  bool stopped = false;
  for (const auto& model : models) {
    if (self->state.stopped_models.count(model) == 0) {
      stop_model(self, model);
      stopped = true;
    }
  }
  return stopped;
}

/// The limiter's answer for the images at the top of the queue (unchanged while awaited): the
/// granted ones start in queue order, then the verdict on the next one applies.
void on_limiter_answer(coordinator_actor* self, time_point now, const limiter_answer& answer,
                       bool announce) {
  auto& st = self->state;
  // All granted: more may be free (a "start" verdict asks again at once, so asking for fewer
  // changes no start, only how many turns they take).
  st.ask_limit = answer.what == limiter_answer::verdict::start
                     ? std::min(max_starts_per_ask, 2 * st.ask_limit)
                     : static_cast<int>(answer.starts.size()) + 1;
  if (stop_exhausted_models(self, answer.exhausted_models)) {
    // Another process found a model out of calls: the granted starts may be its images. They
    // go back unused, and the next turn fails that model's images before asking again.
    for (const auto& start : answer.starts) {
      self->send(st.limiter, limiter_release{now, start.permit, false, false});
    }
    pump(self, announce);
    return;
  }
  for (std::size_t i = 0; i < answer.starts.size(); ++i) {
    const auto index = st.pending.top().second;
    const bool submit = st.results[index].resumed || (*st.ctx->jobs)[index].resume_task_id.empty();
    if (submit && st.callbacks.on_submitting && !st.callbacks.on_submitting(index)) {
      // The write-ahead record failed: this submit must not leave (see batch_callbacks); it
      // and the starts granted after it go back unused.
      for (; i < answer.starts.size(); ++i) {
        self->send(st.limiter, limiter_release{now, answer.starts[i].permit, false, false});
      }
      cancel(self);
      return;
    }
    st.pending.pop();
    start_attempt(self, index, now, answer.starts[i]);
  }
  using verdict = limiter_answer::verdict;
  switch (answer.what) {
    case verdict::quota_stopped:
      // The key met the quota (here or in another batch or process): the next turn fails the
      // rest.
      st.quota_stopped = true;
      st.quota_exhausted = true;
      pump(self, announce);
      return;
    case verdict::wait_until:
      schedule_wake(self, answer.at, now);
      pump_end(self, now, announce);
      return;
    case verdict::wait_release:
      pump_end(self, now, announce);  // A running attempt's end will pump again.
      return;
    case verdict::start:
      pump(self, announce);  // All granted: the next images in the queue.
      return;
  }
}

/// The limiter's and counters' share of a failure; the retry decision is retry_policy's.
void observe_failure(coordinator_actor* self, std::uint32_t index, const protocol::api_error& error,
                     time_point now) {
  auto& st = self->state;
  auto& result = st.results[index];
  switch (error.kind) {
    case protocol::error_class::dynamic_429: {
      ++st.counters.http_429_dynamic;
      ++result.http_429;
      std::optional<millis> hint;
      if (error.retry_after_ms) {
        hint = millis{*error.retry_after_ms};
      }
      self->send(st.limiter,
                 limiter_429{now, st.images[index].submitted_at, hint, st.images[index].level});
      break;
    }
    case protocol::error_class::quota_429:
      ++st.counters.http_429_quota;
      ++result.http_429;
      if (st.ctx->spec.stop_on_quota && model_quota_only(error)) {
        stop_model(self, model_of(st, index));
      } else if (st.ctx->spec.stop_on_quota) {
        std::optional<millis> hint;
        if (error.retry_after_ms) {
          hint = millis{*error.retry_after_ms};
        }
        stop_for_quota(self, hint, true);
        st.quota_exhausted = true;
      }
      break;
    case protocol::error_class::server_transport:
      self->send(st.limiter, limiter_server_failure{now});
      break;
    default:
      break;
  }
  // Only a submit's answer can be ambiguous (a lost answer, a gateway's 5xx, a garbled 200).
  if (error.ambiguous) {
    ++st.counters.ambiguous_submits;
    result.ambiguous = true;
    ++result.ambiguous_submits;
  }
}

/// A probe's answer came (see batch_request::probe_first): the submit of `index`, answered with
/// `limits` (none: accepted without headers). With probe_models, only the first answer for each
/// of them counts; without, the first answer of any submit. `accepted`: this answer accepted it.
void end_probe(coordinator_actor* self, std::uint32_t index,
               const std::optional<protocol::ratelimit_state>& limits, bool accepted) {
  auto& st = self->state;
  const auto& model = model_of(st, index);
  if (!st.probing || (!st.ctx->probe_models.empty() && st.probe_models.erase(model) == 0)) {
    return;
  }
  st.probing = !st.probe_models.empty();
  if (!st.callbacks.on_probe_answer) {
    return;
  }
  auto accepted_by_model = st.accepted_by_model;
  if (accepted) {
    ++accepted_by_model[model];  // The worker sends the headers before the acceptance.
  }
  const auto caps = st.callbacks.on_probe_answer(model, limits, accepted_by_model, !st.probing);
  if (caps.submits) {
    st.quota_cap = st.charged_submits + std::max(0, *caps.submits);
  }
  for (const auto& [name, allowed] : caps.models) {
    st.model_caps[name] = st.submits_by_model[name] + std::max(0, allowed);
  }
}

/// The service reports no call left today for `model`: its images stop (pending until the
/// reset), the other models' go on.
void stop_model(coordinator_actor* self, const std::string& model) {
  auto& st = self->state;
  st.quota_exhausted = true;
  if (st.stopped_models.insert(model).second) {
    notify(self, "quota",
           "the service reports no calls left today for model " + model +
               " (modelscope-ratelimit-model-requests-remaining: 0); submitting no more of its "
               "images" +
               (st.several_models ? std::string(", the other models' images go on") : ""));
  }
}

/// A submit answer's rate-limit headers. Once the account's remaining count is 0 nothing more is
/// submitted today, whatever the strategy: a submit could only draw the quota 429 (protocol doc,
/// "What newer public material adds"). Stops like a quota 429 with stop_on_quota: what runs
/// finishes, what waits fails quota_429 unsent, and `zbatch generate` exits 4 with the reset.
/// The model's count at 0 (the account's above 0) stops that model's submits only.
/// `accepted`: the answer accepted the submit (else it refused it); `index`: the submit's job.
void observe_ratelimit(coordinator_actor* self, const protocol::ratelimit_state& limits,
                       bool accepted, std::uint32_t index) {
  auto& st = self->state;
  st.last_ratelimit = limits;
  if (st.callbacks.on_ratelimit) {
    st.callbacks.on_ratelimit(index, limits);
  }
  self->send(st.limiter, limiter_ratelimit{limits, model_of(st, index)});
  end_probe(self, index, limits, accepted);
  if (!limits.exhausted() || st.quota_stopped) {
    return;
  }
  if (!(limits.account_remaining && *limits.account_remaining == 0)) {
    stop_model(self, model_of(st, index));
    return;
  }
  stop_for_quota(self);
  st.quota_exhausted = true;
  notify(self, "quota",
         "the service reports no calls left today for this account "
         "(modelscope-ratelimit-requests-remaining: 0); submitting no more");
}

/// Stops every further submit: what is running finishes, what waits fails `cancelled`.
void halt(coordinator_actor* self, const protocol::api_error& error) {
  if (!self->state.halted) {
    self->state.halted = error;
  }
}

/// An answer no other image can get past: wrong key or account (401, 403; also the 401 "bind
/// your Alibaba Cloud account"), unknown model or path (404 on a submit), a redirected submit
/// (the base URL moved: codec's api_call_failure), a model with "no
/// provider supported" (400 or 429; protocol doc, "What newer public material adds").
/// Polls of a paid task refused 401 or 403 (the worker's poll_refused) say the same of the key.
bool batch_fatal(const attempt_report& report) {
  const auto status = report.error.http_status;
  if (!report.submit_failed) {
    return report.error.kind == protocol::error_class::cancelled &&
           (status == 401 || status == 403);
  }
  return report.error.kind == protocol::error_class::request_error &&
         (status == 401 || status == 403 || status == 404 || (status >= 300 && status < 400) ||
          protocol::is_no_provider_message(report.error.message));
}

/// The batch-level reading of a failure, before the image's retry decision: fatal answers,
/// an unreachable service, unknown 429 texts and Retry-After hints longer than a batch waits.
/// `error` may be rewritten (a too-long Retry-After becomes a quota stop).
void screen_failure(coordinator_actor* self, const attempt_report& report,
                    protocol::api_error& error) {
  auto& st = self->state;
  if (report.submit_failed && error.ratelimit) {
    observe_ratelimit(self, *error.ratelimit, false, report.index);
  }
  st.unsent_in_a_row = error.unsent ? st.unsent_in_a_row + 1 : 0;
  if (error.unsent && !st.told_unsent) {
    st.told_unsent = true;
    notify(self, "unreachable", error.message);
  }
  if (error.unsent && st.counters.accepted == 0 && st.unsent_in_a_row >= max_unsent_in_a_row) {
    halt(self, error);
  }
  if (batch_fatal(report)) {
    halt(self, error);
  }
  if (error.unknown_429 && ++st.unknown_429_in_a_row >= max_unknown_429_in_a_row) {
    halt(self, error);
  }
  const bool is_429 = error.kind == protocol::error_class::dynamic_429 ||
                      error.kind == protocol::error_class::quota_429;
  if (!is_429 || !error.retry_after_ms) {
    return;
  }
  const millis hint{*error.retry_after_ms};
  if (hint > max_retry_after) {
    // Never a silent hour: stop like the quota, with the service's own time for the reset.
    error.kind = protocol::error_class::quota_429;
    error.message += " (Retry-After " + std::to_string(hint.count() / 1000) +
                     " s is longer than a batch waits; stopping until then)";
    stop_for_quota(self);
    st.quota_exhausted = true;
  } else if (hint >= notice_retry_after &&
             !(error.kind == protocol::error_class::quota_429 && st.ctx->spec.stop_on_quota)) {
    // A quota 429 that stops the batch waits for nothing (a new user's check: "waiting", then
    // the stop at once).
    notify(self, "retry_after",
           "the service asked to wait " + std::to_string(hint.count() / 1000) +
               " s (Retry-After); waiting");
  }
}

void on_attempt_failed(coordinator_actor* self, std::uint32_t index, attempt_report& report,
                       time_point now) {
  auto& st = self->state;
  screen_failure(self, report, report.error);
  st.images[index].retry.task_succeeded |= report.task_succeeded;
  if (report.hung) {
    st.images[index].retry.hung_task = report.task_id;
  }
  observe_failure(self, index, report.error, now);
  if (st.halted) {
    fail_image(self, index, report.error, now);
    return;
  }
  const auto decision =
      decide_retry(st.ctx->spec, report.error, st.images[index].retry, st.budget, now, st.rng);
  if (!decision.retry()) {
    fail_image(self, index, report.error, now);
    return;
  }
  auto& result = st.results[index];
  ++result.retries;
  ++st.counters.retries;
  if (decision.deferred) {
    ++st.counters.budget_deferrals;
    record(self, index, trace_kind::retry,
           std::to_string(decision.wait->count()) + "ms, deferred by the retry budget", now);
    st.deferred.emplace_back(now + *decision.wait, index);
    return;
  }
  if (report.hung) {
    ++st.counters.hung_resubmits;
    record(self, index, trace_kind::retry,
           "0ms: hung task " + report.task_id + " kept, resubmitting (paid)", now);
  } else {
    record(self, index, trace_kind::retry, std::to_string(decision.wait->count()) + "ms", now);
  }
  st.pending.emplace(now + *decision.wait, index);
}

/// The submit of `index` was answered (accepted or not).
void submit_answered(coordinator_actor* self, std::uint32_t index) {
  auto& st = self->state;
  if (st.images[index].submit_out) {
    st.images[index].submit_out = false;
    --st.submits_out;
  }
}

/// While cancelling: the image whose submit answer just came (and was journaled) ends now;
/// the batch ends with the last one.
void settle_cancelled(coordinator_actor* self, std::uint32_t index, const std::string& why) {
  auto& st = self->state;
  const auto now = now_of(self);
  if (!st.images[index].finished) {
    protocol::api_error error;
    error.kind = protocol::error_class::cancelled;
    error.message = why;
    fail_image(self, index, error, now);
  }
  if (st.submits_out == 0) {
    st.running = 0;
    finish_batch(self, now);
  }
}

/// The image, other than job `index`, whose task is `task_id` (an earlier run's, resumed, or
/// journaled by this run), named for a message; nullopt if none, and then `index` holds it
/// from now on.
std::optional<std::string> holder_of(coordinator_state& st, std::uint32_t index,
                                     const std::string& task_id) {
  if (const auto held = st.ctx->held_tasks.find(task_id); held != st.ctx->held_tasks.end()) {
    return held->second;
  }
  if (!st.task_holders_filled) {
    st.task_holders_filled = true;
    const auto& jobs = *st.ctx->jobs;
    for (std::uint32_t job = 0; job < jobs.size(); ++job) {
      if (!jobs[job].resume_task_id.empty()) {
        st.task_holders.emplace(jobs[job].resume_task_id, job);
      }
    }
  }
  const auto [it, inserted] = st.task_holders.emplace(task_id, index);
  if (inserted || it->second == index) {
    return std::nullopt;
  }
  // Named by seed: job numbers are not the user's image numbers on a rerun.
  const auto& seed = (*st.ctx->jobs)[it->second].request.seed;
  return "another image of the batch" +
         (seed ? " (seed " + std::to_string(*seed) + ")" : std::string());
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
  if (image.submit_out && report.submit_failed && !report.error.ambiguous) {
    --st.charged_submits;  // Refused for free: no call the quota plan counted.
    --st.submits_by_model[model_of(st, index)];
    if (st.callbacks.on_submit_refused) {
      st.callbacks.on_submit_refused(index, report.error);
    }
  }
  if (report.submit_failed && report.error.ambiguous && st.callbacks.on_submit_lost) {
    st.callbacks.on_submit_lost(index, report.error);
  }
  if (report.error.kind == protocol::error_class::task_failed && !report.task_id.empty() &&
      st.callbacks.on_task_failed) {
    st.callbacks.on_task_failed(index, report.task_id);
  }
  submit_answered(self, index);
  if (st.cancelling) {
    if (!image.finished && report.submit_failed && report.error.ambiguous) {
      ++result.ambiguous_submits;
    }
    settle_cancelled(self, index, "the batch was cancelled; " + report.error.describe());
    return;
  }
  image.running = false;
  --st.running;
  end_deferred(self, index);
  if (st.load[report.worker]-- == attempts_per_worker) {
    st.open.insert(report.worker);
  }
  release_permit(self, index, now,
                 !report.delivered && report.error.kind == protocol::error_class::dynamic_429,
                 !report.delivered && report.error.kind == protocol::error_class::server_transport);
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
  if (report.run_latency) {
    // A new latency moves the hung give-up time and the fitted polls every worker reads at its
    // next poll.
    // Kept per unit of size: a 2048² image takes about 4 times a 1024² one (hung_policy.hpp).
    const auto weight = size_weight((*st.ctx->jobs)[index].request.size);
    st.latencies.add(millis{static_cast<std::int64_t>(std::llround(
        static_cast<double>(std::chrono::duration_cast<millis>(*report.run_latency).count()) /
        weight))});
    const auto seen = summarize(st.ctx->spec.poll, st.latencies);
    st.ctx->latency_hung_ms.store(seen.hung_quantile.count(), std::memory_order_relaxed);
    st.ctx->latency_p10_ms.store(seen.p10.count(), std::memory_order_relaxed);
    st.ctx->latency_p90_ms.store(seen.p90.count(), std::memory_order_relaxed);
    st.ctx->latency_samples.store(static_cast<std::int64_t>(seen.samples),
                                  std::memory_order_relaxed);
  }
  if (report.delivered) {
    self->send(st.limiter, limiter_success{image.submitted_at, report.task_latency});
    st.budget.on_success();
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
      self->send(st.limiter, limiter_success{image.submitted_at, std::nullopt});
    }
    if (result.resumed && result.attempts == 0 && !report.task_succeeded && !st.halted &&
        (!report.task_kept || report.task_unknown) &&
        report.error.kind != protocol::error_class::task_failed &&
        report.error.kind != protocol::error_class::moderation) {
      // The earlier run's task is unknown here or never finished: the image's first submit
      // follows at once (a FAILED task instead goes through the strategy like any failure). A
      // task kept on refused polls (a gateway's page, 401/403) stays kept: polled next run.
      record(self, index, trace_kind::retry, "resume failed: " + report.error.describe(), now);
      notify(self, "resubmit",
             "an earlier run's task " + report.task_id + " cannot be had (" +
                 report.error.describe() + "): its image is submitted again, a new paid task");
      st.pending.emplace(now, index);
    } else {
      on_attempt_failed(self, index, report, now);
    }
    if (image.finished) {
      result.message = report.error.describe();
    }
  }
  const bool progress_due =
      !st.last_published || now - *st.last_published >= std::chrono::seconds(1);
  pump(self, image.finished || progress_due);
}

void cancel(coordinator_actor* self) {
  auto& st = self->state;
  if (st.done) {
    return;
  }
  const auto now = now_of(self);
  if (st.cancelling) {
    return;
  }
  st.cancelled = true;
  protocol::api_error error;
  error.kind = protocol::error_class::cancelled;
  error.message = "the batch was cancelled";
  for (std::uint32_t index = 0; index < st.images.size(); ++index) {
    if (!st.images[index].finished && !st.images[index].submit_out) {
      fail_image(self, index, error, now);
    }
  }
  if (st.submits_out == 0) {
    st.running = 0;  // Abandoned with their workers: the final progress shows none in flight.
    finish_batch(self, now);
    return;
  }
  // A submit already sent may be accepted (and charged): wait for its answer so the task id is
  // journaled, for at most `submit_answer_wait`; what is still unanswered then is possibly paid.
  st.cancelling = true;
  self->delayed_send(self, submit_answer_wait, give_up_atom::value);
}

/// The submits still unanswered when cancelling gave up on them: possibly paid.
void give_up_submits(coordinator_actor* self) {
  auto& st = self->state;
  if (st.done || !st.cancelling) {
    return;
  }
  for (std::uint32_t index = 0; index < st.images.size(); ++index) {
    if (st.images[index].submit_out) {
      ++st.results[index].ambiguous_submits;
      submit_answered(self, index);
      settle_cancelled(self, index,
                       "the batch was cancelled before the submit was answered (possibly paid)");
    }
  }
}

caf::behavior batch_coordinator(coordinator_actor* self, std::shared_ptr<batch_context> ctx,
                                batch_callbacks callbacks, std::uint64_t seed, caf::actor limiter,
                                bool own_limiter) {
  auto& st = self->state;
  ctx->start = now_of(self);
  st.ctx = ctx;
  st.callbacks = std::move(callbacks);
  st.limiter = std::move(limiter);
  st.budget = retry_budget(ctx->spec.budget);
  st.own_limiter = own_limiter;
  self->send(st.limiter, limiter_join{ctx->spec, ctx->start, static_cast<int>(ctx->jobs->size())});
  st.probing = ctx->probe_first;
  st.probe_models = ctx->probe_models;
  st.quota_cap = ctx->quota_submits;
  st.model_caps = ctx->model_quota_submits;
  st.rng = jitter_rng(seed);
  st.images.resize(ctx->jobs->size());
  st.results.resize(ctx->jobs->size());
  auto ahead = ctx->probe_first ? ctx->probe_models : std::set<std::string>{};
  for (std::uint32_t index = 0; index < ctx->jobs->size(); ++index) {
    auto& result = st.results[index];
    const auto& job = (*ctx->jobs)[index];
    st.several_models = st.several_models || job.request.model != ctx->jobs->front().request.model;
    result.index = index;
    result.batch = job.batch;
    result.queued_at_ms = job.arrival.count();
    record(self, index, trace_kind::queued, "", ctx->start + job.arrival);
    auto at = ctx->start + job.arrival;
    if (job.resume_task_id.empty() && ahead.erase(job.request.model) != 0) {
      at -= std::chrono::nanoseconds(1);  // A model's probe goes ahead of the queue.
    }
    st.pending.emplace(at, index);
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
      [self](ratelimit_atom, std::uint32_t index, protocol::ratelimit_state& limits) {
        if (!self->state.done) {
          observe_ratelimit(self, limits, true, index);
        }
      },
      [self](download_trouble_atom, std::uint32_t, const std::string& text) {
        if (!self->state.done) {
          notify(self, "download", text);
        }
      },
      [self](accepted_atom, std::uint32_t, std::uint32_t index) {
        auto& st = self->state;
        if (st.done) {
          return;
        }
        ++st.counters.accepted;
        ++st.accepted_by_model[model_of(st, index)];
        st.unknown_429_in_a_row = 0;
        st.unsent_in_a_row = 0;
        if (st.cancelling) {
          if (!st.ctx->ack_accepted) {  // no journal step follows
            submit_answered(self, index);
            settle_cancelled(self, index, "the batch was cancelled after the task was accepted");
          }
          return;
        }
        if (!st.ctx->ack_accepted) {
          submit_answered(self, index);
        }
        // Else the submit stays out until its task id is journaled (journal_atom): a cancel in
        // between (the pump below may start a submit whose write-ahead record fails) then waits
        // for that record instead of finishing the batch and dropping a paid task's id.
        const auto& image = st.images[index];
        self->send(st.limiter, limiter_accepted{now_of(self), image.submitted_at, image.saturated,
                                                image.level, image.permit});
        // Still probing: the answer carried no headers.
        end_probe(self, index, std::nullopt, false);
        pump(self);
      },
      [self](journal_atom, std::uint32_t worker, std::uint32_t index, std::string& task_id) {
        auto& st = self->state;
        if (st.done) {
          return;
        }
        if (const auto holder = holder_of(st, index, task_id)) {
          // Two submits answered with one task id (a gateway's cache, a confused relay): the
          // second image would deliver the first one's bytes, and its own paid task is unknown.
          self->send(st.workers[worker], duplicate_atom::value, index, *holder);
          return;
        }
        // Known at once, so an attempt cancelled later still names its task (for a resume).
        st.results[index].task_id = task_id;
        if (st.callbacks.on_accepted) {
          st.callbacks.on_accepted(index, task_id);
        }
        if (st.cancelling) {
          // Journaled: the next run polls this task instead of paying for another.
          submit_answered(self, index);
          settle_cancelled(self, index,
                           "the batch was cancelled; task " + task_id + " is journaled");
          return;
        }
        submit_answered(self, index);
        self->send(st.workers[worker], ack_atom::value, index);
        pump(self);  // a submit held back behind this one (the next model's probe) may go now
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
      [self](limiter_wake_atom) { pump(self); },
      [self](cancel_atom) { cancel(self); },
      [self](give_up_atom) { give_up_submits(self); },
      [self](subscribe_atom, caf::actor subscriber) {
        self->state.subscribers.push_back(std::move(subscriber));
      },
  };
}

}  // namespace

caf::actor spawn_batch(caf::actor_system& system, batch_request request, backend_actor backend,
                       batch_callbacks callbacks) {
  // Preconditions of a spawn (programming errors, as CAF's own) stay exceptions: the callers
  // parse and validate the strategy first and report a bad one as a returned status.
  if (const auto checked = validate(request.strategy);
      !checked.ok() && request.clock_scale >= 1.0) {
    throw std::invalid_argument(checked.message());
  }
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
  ctx->probe_first = request.probe_first;
  ctx->quota_submits = request.quota_submits;
  ctx->model_quota_submits = std::move(request.model_quota_submits);
  ctx->probe_models = std::move(request.probe_models);
  ctx->check_image_size = request.check_image_size;
  ctx->held_tasks = std::move(request.held_tasks);
  if (request.limiter && request.permits) {
    throw std::invalid_argument("spawn_batch: permits belong to the limiter actor given");
  }
  // A batch without a limiter of its process gets one of its own, stopped with it.
  const bool own_limiter = !request.limiter;
  auto limiter = own_limiter ? spawn_limiter(system, limiter_options{std::move(request.permits)})
                             : std::move(request.limiter);
  return system.spawn(batch_coordinator, std::move(ctx), std::move(callbacks), request.seed,
                      std::move(limiter), own_limiter);
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
