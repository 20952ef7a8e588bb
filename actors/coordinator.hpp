#pragma once
/// The batch coordinator: takes a batch (image jobs with arrival offsets, a strategy, a seed),
/// owns every image's state, hands attempts to a pool of image workers under the permits of the
/// key's limiter actor (limiter_actor.hpp, asked for every start), decides retries, and returns
/// per-image results with a timestamped trace each. A worker carries up to 64 attempts at once; the
/// pool grows with the attempts in flight.
///
/// Lifecycle: `spawn_batch` starts the coordinator at once; it ends by itself when every image is
/// delivered or failed, or on `cancel_batch` (in-flight attempts are abandoned, images not yet
/// finished are reported `cancelled`); either way it calls `on_done` once with the result and
/// stops its workers (and the limiter actor it spawned for itself, if any) before it quits, so
/// no actor it spawned outlives it (a poll a cancelled attempt had scheduled may still reach the
/// backend once: free, never a submit). Time is the actor system's clock: wall time normally,
/// virtual time under CAF's test coordinator (see sim/).
/// Callbacks run on the coordinator's thread; `batch_runner` wraps all this for blocking callers.

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/backend_actor.hpp"
#include "actors/permit_gate.hpp"
#include "actors/strategy.hpp"
#include "protocol/errors.hpp"
#include "protocol/messages.hpp"

namespace zbatch::actors {

using cancel_atom = caf::atom_constant<caf::atom("zb_cancel")>;
using subscribe_atom = caf::atom_constant<caf::atom("zb_subscr")>;

/// One image to make. `arrival` is its offset from the batch start (open-loop workloads); 0 for
/// all-at-once batches.
struct image_job {
  protocol::submit_request request;
  millis arrival{0};
  int batch = 0;  ///< Free label carried into the result (e.g. the workload's batch number).
  /// A task accepted in an earlier run (resume): the image's first attempt polls this task
  /// instead of submitting (no new cost); if it turns out FAILED or unknown, the image goes back
  /// to the strategy like any failed attempt.
  std::string resume_task_id;
};

/// Trace event kinds, named as in docs/results-schema.md.
enum class trace_kind {
  queued,
  permit,
  submit,
  accepted,
  poll,
  http_429,
  error,
  retry,
  download,
  delivered,
  failed,
  cancelled
};
/// "queued", ..., "429" for http_429, ...
std::string_view to_string(trace_kind kind);

struct trace_event {
  std::int64_t t_ms = 0;  ///< Since the batch start.
  trace_kind kind = trace_kind::queued;
  std::string detail;
};

/// The outcome of one image.
struct image_result {
  std::size_t index = 0;
  int batch = 0;
  bool delivered = false;
  std::optional<protocol::error_class> error;  ///< Set when not delivered.
  std::string message;                         ///< The last error's description.
  int attempts = 0;                            ///< Submits made (each may cost credits).
  int retries = 0;                             ///< Resubmits after a failed attempt (error or 429).
  int http_429 = 0;           ///< 429 answers seen by this image (submits and polls).
  bool ambiguous = false;     ///< An ambiguous submit failure happened to this image.
  int ambiguous_submits = 0;  ///< Submits of this image whose answer was lost (possibly paid).
  /// The last error was an ambiguous submit: a paid task may exist, so the image is not settled
  /// (a rerun or a knowing resubmit decides), whatever the error's class.
  bool ended_ambiguous = false;
  std::int64_t queued_at_ms = 0;
  /// When the last attempt started (its submit was sent, or a resumed task's polling began): the
  /// start of the latency a user waited for the image, known without a trace.
  std::int64_t last_start_ms = 0;
  std::int64_t finished_at_ms = 0;
  std::string task_id;   ///< Task of the delivering (or last accepted) attempt.
  bool resumed = false;  ///< The first attempt polled `image_job::resume_task_id` (no submit).
  std::optional<std::int64_t> retry_after_ms;  ///< The last error's Retry-After hint, if any.
  std::size_t bytes_size = 0;
  std::string bytes;  ///< The image itself when the request asked to keep bytes.
  std::string content_type;
  std::vector<trace_event> trace;
};

struct batch_counters {
  int submits = 0;
  int accepted = 0;
  int polls = 0;
  int downloads = 0;
  int http_429_dynamic = 0;
  int http_429_quota = 0;
  int retries = 0;
  int ambiguous_submits = 0;
  /// Knowing second submits after a hung give-up (also in `submits` and `retries`: each is paid).
  int hung_resubmits = 0;
  /// Retries the retry budget refused and deferred (also in `retries`; retry_policy.hpp).
  int budget_deferrals = 0;
  int circuit_openings = 0;
  int max_in_flight = 0;  ///< Most attempts ever running at once.
};

struct batch_result {
  std::vector<image_result> images;  ///< In job order.
  std::int64_t makespan_ms = 0;      ///< Batch start to the last image's end.
  bool cancelled = false;
  /// Submissions stopped for the quota: a quota 429 (stop_on_quota), a Retry-After longer than
  /// a batch waits, a submit answer whose rate-limit headers left no call for today, or the
  /// plan's caps (quota_submits, model_quota_submits). A model at 0 (the account above 0) stops
  /// only that model's images; the others go on, and this is set all the same.
  bool quota_exhausted = false;
  /// The rate-limit headers of the last submit answer that carried them (for planning).
  std::optional<protocol::ratelimit_state> last_ratelimit;
  bool submit_capped = false;  ///< `max_submits` kept images from being (re)submitted.
  bool drained = false;        ///< `drain_batch` stopped new attempts.
  double final_limit = 0;      ///< The in-flight limit at the end (0 = unbounded).
  /// The answer that stopped every further submit when it was not the quota: a batch-fatal
  /// answer (401, 403, 404 on submit), a service unreachable before anything was accepted, or
  /// a run of 429s whose text is neither known rate-limit nor known quota text.
  std::optional<protocol::api_error> halted_by;
  batch_counters counters;
  std::size_t delivered() const;
  std::size_t failed() const { return images.size() - delivered(); }
};

/// Published to subscribers on every image that finishes (and once more, `final`, at the end).
struct progress_event {
  std::size_t total = 0;
  std::size_t delivered = 0;
  std::size_t failed = 0;
  std::size_t in_flight = 0;
  std::size_t queued = 0;  ///< Arrived or waiting for a retry, not running.
  int http_429 = 0;
  int retries = 0;
  std::int64_t elapsed_ms = 0;
  std::optional<std::int64_t> eta_ms;  ///< From the throughput so far; none before any finish.
  bool final = false;
};

using progress_callback = std::function<void(const progress_event&)>;

struct batch_request {
  std::vector<image_job> jobs;
  /// Used instead of `jobs` when set: runs of one workload (one per strategy, say) share one
  /// read-only copy rather than each holding its own (100,000 jobs are tens of megabytes).
  std::shared_ptr<const std::vector<image_job>> shared_jobs;
  strategy_spec strategy;  ///< Validated again at spawn (throws strategy_error).
  /// The strategy's durations were multiplied by this (a scenario's http mode compresses the
  /// clock): below 1 they may fall under the knobs' ranges (a 1 s poll interval at 0.002 is
  /// 2 ms), so the spawn then skips the range check; the caller checked the unscaled spec.
  double clock_scale = 1.0;
  std::uint64_t seed = 0;   ///< Seeds the jitter RNG: the same seed gives the same waits.
  bool keep_bytes = false;  ///< Keep each image's bytes in its result (the CLI writes files).
  bool trace = true;        ///< Record per-image traces.
  /// With `trace`, only jobs whose index is below this get a trace (the scenario runner keeps
  /// traces for the first images only; tracing 100,000 images would be most of a run's memory).
  std::size_t trace_limit = static_cast<std::size_t>(-1);
  /// Most submit requests to send (answered or not, so accepted tasks never exceed it); 0 =
  /// no cap. Images that would need another submit fail `cancelled`, "submit cap reached".
  int max_submits = 0;
  /// Submits the calls left today allow (issue 14, planning; generate/quota_plan.hpp); none: no
  /// such cap. Images that would need another submit fail `quota_429` unsent and the result has
  /// `quota_exhausted` set, so the caller reports the quota stop with its reset time.
  std::optional<int> quota_submits;
  /// The same per model (image_request::model): the submits of that model the model's calls
  /// left today allow. A model absent here is capped by nothing of its own.
  std::map<std::string, int> model_quota_submits;
  /// Send the first submit alone and hold every other submit until its answer (the probe whose
  /// rate-limit headers say what is left today); `batch_callbacks::on_probe_answer` then sets
  /// `quota_submits`. A submit that got no answer (transport failure) leaves the next one the
  /// probe. Resumed tasks (polls, free) start meanwhile, unless queued behind a held submit.
  bool probe_first = false;
  /// With `probe_first`: the models whose figures are unknown, one probe each. Each model's
  /// first submitting job goes ahead of the queue and submits go one at a time until every one
  /// of them has answered with its headers (or an acceptance without any); empty: the batch's
  /// first submit is the one probe.
  std::set<std::string> probe_models;
  /// Downloads must have the requested size (see image_worker.cpp); off for the simulator,
  /// whose placeholder images carry no size.
  bool check_image_size = false;
  /// Task ids images outside `jobs` hold (an earlier run's, journaled), each with how to name
  /// that image: a submit answered with one is another image's task, not this one's
  /// (duplicate_atom), as one held by a job is.
  std::map<std::string, std::string> held_tasks;
  /// The rate-limiter actor of the API key in this process (limiter_actor.hpp), shared with
  /// the other batches of the process; none: `spawn_batch` spawns one for this batch alone
  /// (over `permits` when set) and stops it when the batch ends.
  caf::actor limiter;
  /// Without `limiter`: in-flight permits shared with other processes (permit_gate.hpp), the
  /// store behind the batch's own limiter actor; none: the in-process store, as always. Not
  /// with `limiter` (that actor has its store).
  std::shared_ptr<permit_gate> permits;
};

/// Limits of the batch-level stops (protocol doc; issue "never pay twice").
/// A Retry-After longer than this on any 429 stops the batch (like the quota) instead of waiting.
inline constexpr millis max_retry_after{300'000};
/// A Retry-After at least this long is announced (on_notice) before it is waited out.
inline constexpr millis notice_retry_after{30'000};
/// Failures in a row without a connection, with nothing accepted yet, that stop the batch.
inline constexpr int max_unsent_in_a_row = 3;
/// 429s in a row whose text is unknown (neither rate-limit nor quota) that stop the batch.
inline constexpr int max_unknown_429_in_a_row = 5;

/// What a probe's answer allows from now on (batch_callbacks::on_probe_answer).
struct quota_caps {
  std::optional<int> submits;         ///< Further submits over all models; none: no cap.
  std::map<std::string, int> models;  ///< Further submits per model; a model absent: no cap.
};

struct batch_callbacks {
  progress_callback on_progress;              ///< Optional.
  std::function<void(batch_result)> on_done;  ///< Called exactly once.
  /// Optional. A submit was accepted: (job index, task id). When set, the worker waits until
  /// this returned before it polls the task, so a journal written here is on disk before the
  /// task is waited on. Not called for resumed tasks.
  std::function<void(std::size_t, const std::string&)> on_accepted;
  /// Optional. A submit of (job index) is about to leave: called on the coordinator's thread
  /// before the worker is told to send it, so a journal written here is on disk first (the
  /// write-ahead record that keeps a crash in flight counted as possibly paid). Returning false
  /// (the record could not be written) keeps the submit from leaving and cancels the batch, as
  /// `cancel_batch` does: a task nothing could record would be paid for again by a rerun.
  std::function<bool(std::size_t)> on_submitting;
  /// Optional. A submit of (job index) was refused for free (an answer that created no task),
  /// with the refusal.
  std::function<void(std::size_t, const protocol::api_error&)> on_submit_refused;
  /// Optional. A submit of (job index) lost its answer (it left; no usable answer came: the
  /// task may exist and be paid), with the error; once per such attempt.
  std::function<void(std::size_t, const protocol::api_error&)> on_submit_lost;
  /// Optional. An accepted task of (job index, task id) ended FAILED for a system reason (not
  /// moderation): the service refunds such tasks (protocol doc, "Rate limits and cost").
  std::function<void(std::size_t, const std::string&)> on_task_failed;
  /// Optional. Something the user should know at once, as (kind, text): "unreachable" (text:
  /// the transport failure; the caller knows the URL), "retry_after", "download" (a paid task's
  /// image could not be had yet; a sentence). Called on the coordinator's thread.
  std::function<void(const std::string&, const std::string&)> on_notice;
  /// Optional. A submit answer carried rate-limit headers (each one, in arrival order), as
  /// (job index, headers): the job names the model whose figures they are (the headers do not).
  std::function<void(std::size_t, const protocol::ratelimit_state&)> on_ratelimit;
  /// Optional, with `batch_request::probe_first`. A probe's answer came (one per model of
  /// `batch_request::probe_models`, else one): its model, its rate-limit headers (none when it
  /// carried none), the submits accepted so far by model (this answer included) and whether it
  /// was the last probe. Returns the further submits allowed today, over all and per model.
  std::function<quota_caps(const std::string&, const std::optional<protocol::ratelimit_state>&,
                           const std::map<std::string, int>&, bool)>
      on_probe_answer;
  /// Optional. An image finished (delivered, failed or cancelled); the callee may move `bytes`
  /// out (e.g. after writing the file). Called before the progress event of that image.
  std::function<void(image_result&)> on_image;
};

/// Spawns the coordinator; the batch starts at once. Throws std::invalid_argument (a programming
/// error) for a spec that does not validate, an empty backend handle, both `jobs` and
/// `shared_jobs` set, or both `limiter` and `permits` set.
/// Actors that send `(subscribe_atom, actor)` receive `progress_event` messages.
caf::actor spawn_batch(caf::actor_system& system, batch_request request, backend_actor backend,
                       batch_callbacks callbacks);

/// Asks a coordinator to stop: in-flight work is abandoned and the result so far is delivered.
void cancel_batch(const caf::actor& coordinator);

/// Asks a coordinator to wind down gracefully: no new attempt starts (queued images and retries
/// fail `cancelled`), running attempts may finish within `grace`, then the rest is cancelled as
/// by `cancel_batch`. The result has `drained` set.
void drain_batch(const caf::actor& coordinator, millis grace);

/// A batch run for blocking callers (the CLI): start, optionally cancel from any thread (e.g. a
/// signal handler's watcher), wait for the result.
class batch_runner {
 public:
  batch_runner(caf::actor_system& system, batch_request request, backend_actor backend,
               progress_callback on_progress = {});
  /// With every callback; `callbacks.on_done` is replaced (the result comes from `wait`).
  batch_runner(caf::actor_system& system, batch_request request, backend_actor backend,
               batch_callbacks callbacks);
  batch_runner(const batch_runner&) = delete;
  batch_runner& operator=(const batch_runner&) = delete;
  ~batch_runner();  ///< Cancels and waits when the result was never taken.
  void cancel();
  void drain(millis grace);  ///< See drain_batch; callable from any thread.
  batch_result wait();       ///< Blocks until the coordinator is done; call at most once.

 private:
  caf::actor coordinator_;
  std::future<batch_result> result_;
  bool taken_ = false;
};

/// Runs a batch to the end and returns its result (blocking; not for the testing scheduler).
batch_result run_batch(caf::actor_system& system, batch_request request, backend_actor backend,
                       progress_callback on_progress = {});

}  // namespace zbatch::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::progress_event)
