#pragma once
/// The image worker: runs attempts (submit or resume, poll, download) for the batch coordinator
/// and reports each attempt's end with its counts and trace. Internal to actors/: the coordinator
/// (coordinator.cpp) is its only user, and the types here are the messages between them.
///
/// Lifecycle: the coordinator spawns workers linked to itself as attempts need them (up to 64
/// attempts per worker) and sends them an exit message when the batch is decided. A worker never
/// blocks: each attempt has exactly one thing outstanding (a backend request, a timer or the
/// journal ack). Runs on CAF's scheduler like any event-based actor.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/fwd.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/strategy.hpp"
#include "protocol/errors.hpp"

namespace zbatch::actors {

/// The actor clock's now: virtual under the test coordinator, steady otherwise.
inline time_point now_of(const caf::local_actor* self) { return self->clock().now(); }

/// Coordinator -> worker: start an attempt at image `index` (submit).
using run_atom = caf::atom_constant<caf::atom("zb_run")>;
/// Coordinator -> worker: poll the image's task from an earlier run instead of submitting.
using resume_atom = caf::atom_constant<caf::atom("zb_resume")>;
/// Worker -> coordinator: the rate-limit headers of an accepted submit's answer, sent just before
/// its `accepted_atom` so the coordinator knows the calls left before it starts anything more.
using ratelimit_atom = caf::atom_constant<caf::atom("zb_rlimit")>;
/// Coordinator -> worker: submit image `index` again after a hung give-up on task `old`, and keep
/// polling `old` beside the new task (whichever SUCCEEDs first is taken).
using rerun_atom = caf::atom_constant<caf::atom("zb_rerun")>;
/// Worker -> coordinator: a SUCCEEDed task's image could not be had (`std::string` says why);
/// sent once per attempt, at its first failure, since the tries that follow may last until the
/// poll deadline with nothing else to show for them.
using download_trouble_atom = caf::atom_constant<caf::atom("zb_dltrbl")>;
/// Worker -> coordinator: a submit was accepted (the limiter's signal).
using accepted_atom = caf::atom_constant<caf::atom("zb_accept")>;
/// Worker -> coordinator: journal this task id; coordinator -> worker: `ack_atom` once it is.
using journal_atom = caf::atom_constant<caf::atom("zb_journl")>;
using ack_atom = caf::atom_constant<caf::atom("zb_ack")>;
/// Coordinator -> worker, instead of `ack_atom`: the submit's answer named a task another image
/// of the batch holds (`std::string` says which), so this submit's own task is unknown: the
/// attempt ends as an ambiguous submit (possibly paid), never polling the other image's task.
using duplicate_atom = caf::atom_constant<caf::atom("zb_dupid")>;

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
  bool probe_first = false;                        ///< See batch_request::probe_first.
  std::optional<int> quota_submits;                ///< See batch_request::quota_submits.
  std::map<std::string, int> model_quota_submits;  ///< See batch_request::model_quota_submits.
  std::set<std::string> probe_models;              ///< See batch_request::probe_models.
  /// Downloads must match the requested size (production batches; the simulator's placeholder
  /// images carry no size).
  bool check_image_size = false;
  std::map<std::string, std::string> held_tasks;  ///< See batch_request::held_tasks.
  /// The batch's task latencies per unit of size (actors/hung_policy.hpp `latency_summary`),
  /// from which each worker derives its task's hung give-up and fitted polls. Written by the
  /// coordinator as latencies arrive, read by the workers at each poll (atomic: they may run on
  /// other threads; in virtual time all run on one). A read between two writes may mix two
  /// consecutive summaries: each gives a valid give-up and schedule.
  mutable std::atomic<std::int64_t> latency_samples{0};
  mutable std::atomic<std::int64_t> latency_hung_ms{0};
  mutable std::atomic<std::int64_t> latency_p10_ms{0};
  mutable std::atomic<std::int64_t> latency_p90_ms{0};
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
  /// Accepted to SUCCEED seen, for the hung give-up's latencies (not for a resumed task or an
  /// older task that won the race: their start is not this attempt's).
  std::optional<duration> run_latency;
  bool hung = false;  ///< Given up as hung: `task_id` was still RUNNING/PENDING (error deadline).
  bool task_succeeded = false;  ///< The task SUCCEEDed (paid) even if its image was not had.
  /// Polling stopped on refused polls (401, 403, 404 pages), not on the task's end: the task
  /// (`task_id`) is kept for the next run to poll, never replaced by a new, paid submit.
  bool task_kept = false;
  /// With `task_kept`: the last refusal was the service's own 404 "Task not found" (its JSON,
  /// not a gateway's page): on a rerun the journaled task is unknown there, so the image gets
  /// one fresh, paid submit (coordinator), said as such.
  bool task_unknown = false;
  std::string task_id;
  std::string bytes;
  std::size_t bytes_size = 0;
  std::string content_type;
  std::vector<trace_event> trace;
};

/// Milliseconds from `start` to `now`.
std::int64_t ms_since(time_point start, time_point now);

/// Spawns worker number `id`, linked to `coordinator`; its attempts report there.
caf::actor spawn_image_worker(caf::event_based_actor* coordinator,
                              std::shared_ptr<const batch_context> ctx, std::uint32_t id);

}  // namespace zbatch::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::attempt_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::protocol::ratelimit_state)
