#pragma once
/// One run of a production batch: plans it against the journal (skip delivered images whose
/// file still matches its sha256, poll known tasks again, submit the rest), runs it on the batch
/// coordinator, writes every delivered image atomically as it arrives, journals each accepted
/// task before it is polled and each settled outcome, and rewrites `manifest.json` (manifest.hpp)
/// atomically at the end, whether the batch completed, hit the submit cap or the quota, or was
/// interrupted. Before the first submit it plans the submits against the calls left today
/// (quota_plan.hpp: the journal's rate-limit figures, or the probe's answer) and prints the plan.
///
/// Lifecycle: `create` (opens the journal: fails when the directory holds a batch with other
/// options or a damaged journal), `run` once (blocking; owns its actor system), `interrupt` from
/// any thread (e.g. a SIGINT watcher): the first call stops new attempts and gives running ones
/// `grace`, then cancels them; their task ids stay journaled for the next run.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "actors/strategy.hpp"
#include "generate/inputs.hpp"
#include "generate/journal.hpp"
#include "generate/manifest.hpp"
#include "generate/progress.hpp"
#include "generate/quota_plan.hpp"

namespace zbatch::generate {

struct session_config {
  std::vector<image_spec> images;
  nlohmann::json options;  ///< The journal header's options (see inputs.hpp); never the key.
  std::filesystem::path out_dir;
  actors::strategy_spec strategy;
  /// The strategy as the start line names it (preset name or the spec as typed, shortened);
  /// empty: the full compact spec.
  std::string strategy_label;
  int max_submits = 0;  ///< 0 = no cap.
  /// Submit again images the journal says the service refused for moderation. Off by default:
  /// the service refused that prompt and seed once (and charged for it); a rerun would most
  /// likely pay for the same refusal (issue 17, "money under interruption").
  bool retry_moderated = false;
  /// Submit again images whose latest submit lost its answer in an earlier run (the service may
  /// have created and charged a task nobody can find: journaled_image::answer_lost). Off by
  /// default: such an image is held pending, as an ambiguous submit is never resubmitted
  /// blindly (issue 13); a strategy with `ambiguous=resubmit` has chosen to, as within a run.
  bool resubmit_possibly_paid = false;
  std::chrono::milliseconds grace{30000};
  std::string endpoint;  ///< Shown and written to the manifest (a base URL; never the key).
  /// The base URL alone: the journal's rate-limit figures are kept per base URL (another
  /// endpoint is another service's count). Empty for a dry run of the bundled mock (none
  /// started; the plan's JSON `endpoint` is null).
  std::string base_url;
  /// Make what fits in the calls left today and leave the rest pending until the reset; without
  /// it a batch that does not fit stops before its first submit (or after the probe's answer:
  /// generate/quota_plan.hpp).
  bool fit_quota = false;
  /// Print the plan and send nothing; the journal is read, never written.
  bool dry_run = false;
  int connections = 16;  ///< Blocking HTTP connections (detached I/O actors).
  /// False for the bundled mock (`--mock`): a new one each run, which knows no task of an earlier
  /// run, so a journaled task is submitted again (paid, in the mock's figures) instead of polled.
  bool tasks_outlive_run = true;
  std::uint64_t seed = 0;
  /// In-flight permits shared with other processes (`--shared-limit`, shared_gate.hpp); none:
  /// this process's rate limiter alone.
  std::shared_ptr<actors::permit_gate> permits;
  /// Fails chosen writes of the journal, the images and the manifest, for tests of disk faults
  /// (journal.hpp); none in production.
  fault_hook faults;
};

/// Why a run ended; the CLI maps each to its exit code. `halted`: an answer stopped every
/// further submit (a wrong key, an unknown model, a service that cannot be reached, unknown
/// 429 texts); nothing more was sent after it.
/// `held`: every image left is held because its submit lost its answer (possibly paid:
/// session_config::resubmit_possibly_paid); `failures` covers any other image left.
/// `unfinished`: nothing failed for good, but images are pending after their last attempt (the
/// strategy's retries for 429s or time-outs ran out): a rerun tries them again.
enum class stop_reason {
  complete,
  failures,
  submit_cap,
  quota,
  interrupted,
  halted,
  held,
  unfinished
};

/// The manifest's spelling of a stop reason: "complete", "failures", "submit_cap", "quota",
/// "interrupted", "halted", "held", "unfinished".
const char* to_string(stop_reason reason);

struct session_outcome {
  stop_reason reason = stop_reason::complete;
  std::size_t total = 0;
  std::size_t delivered = 0;  ///< All runs.
  std::size_t delivered_before = 0;
  std::size_t failed = 0;     ///< Settled failures (not worth retrying by this strategy).
  std::size_t pending = 0;    ///< Neither delivered nor failed: a rerun finishes them.
  std::size_t remaining = 0;  ///< Not delivered (failed + pending): what a rerun would still try.
  int submit_requests = 0;    ///< Submit attempts in this run (a refused connect included).
  int accepted_this_run = 0;  ///< Of them, accepted (tasks created in this run).
  int submits_paid = 0;       ///< Accepted submits (tasks created) over all runs.
  /// Of them, tasks that ended FAILED for a system reason (not moderation): the service
  /// refunds those (protocol doc, "Rate limits and cost"), so it charged about the difference.
  int submits_refunded = 0;
  /// Submits over all runs whose answer was lost (time-out, dropped connection, a gateway's
  /// 5xx): the service may have charged them; paid is between submits_paid and the sum.
  int submits_possibly_paid = 0;
  /// Pending images whose latest submit lost its answer (this run's, or held from an earlier
  /// one): a rerun submits them only with session_config::resubmit_possibly_paid.
  std::size_t answer_lost = 0;
  /// Pending images whose latest task was accepted (paid) and not delivered yet: a rerun polls
  /// it, so paid-per-delivered figures of a stopped run are "so far".
  std::size_t pending_tasks = 0;
  /// Pending images ran in this run, by the error class their last attempt ended with
  /// ("dynamic_429", "deadline", ...), in class order: what `unfinished` says.
  std::map<std::string, std::size_t> pending_by_class;
  std::string halted_by;  ///< With stop_reason::halted: the answer that stopped the batch.
  /// The halt was a submit answered with a redirect (3xx, not followed): whether the server
  /// made a task before redirecting is unknown, so "nothing was paid" cannot be said.
  bool halted_by_redirect = false;
  std::optional<std::string> quota_reset;       ///< ISO 8601 UTC, when the quota stopped the run.
  std::optional<std::string> quota_reset_utc8;  ///< The same moment in UTC+8, "YYYY-MM-DD HH:MM".
  bool quota_reset_from_service = false;        ///< From Retry-After rather than assumed.
  /// From the shared store: the service's Retry-After to another process on the key.
  bool quota_reset_from_peer = false;
  /// The quota stop came from a Retry-After longer than a batch waits on a 429 whose text is
  /// not the quota's: the service asked to wait; nothing says the day's calls are spent.
  bool stopped_by_retry_after = false;
  std::filesystem::path manifest;
  std::vector<std::int64_t> latencies_ms;  ///< Of the images delivered in this run.
  /// The last quota plan: before the first submit, or after the probe's answer.
  std::optional<quota_plan> quota;
  bool dry_run = false;  ///< Nothing was sent or written (session_config::dry_run).
};

/// Next midnight of UTC+8 after `now`, the documented working assumption for the daily reset.
std::chrono::system_clock::time_point next_quota_reset(std::chrono::system_clock::time_point now);
/// "2025-01-31T16:00:00Z".
std::string iso_utc(std::chrono::system_clock::time_point at);

class session {
 public:
  /// Opens the journal in `config.out_dir` (read-only with `dry_run`); fails as journal::open
  /// does.
  static result<std::unique_ptr<session>> create(session_config config,
                                                 progress_renderer& progress);
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  /// Runs the batch to its end (blocking); with `dry_run`, only plans it. A batch whose quota
  /// plan says stop sends no submit (journaled tasks are still polled, free) and ends with
  /// stop_reason::quota. Fails (internal) when the
  /// journal or an image cannot be written (disk full): the images and manifest written so far stay
  /// valid. Exceptions of the layers underneath (the backend factory, the actor system) propagate.
  result<session_outcome> run(const actors::backend_factory& factory);

  /// Thread-safe; the first call starts the graceful drain (later calls do nothing).
  void interrupt();

  const journal& batch_journal() const { return *journal_; }

 private:
  session(session_config config, progress_renderer& progress);
  struct image_state;
  struct batch_plan;

  // The steps of `run`, in order.
  batch_plan plan_against_journal(const std::map<std::size_t, nlohmann::json>& earlier);
  bool resubmit_lost_answers() const;
  void hold_answer_lost(image_state& st);
  void notice_lost_answers(const batch_plan& plan);
  actors::batch_result run_batch(std::vector<actors::image_job> jobs,
                                 const actors::backend_factory& factory);
  void tally(session_outcome& outcome) const;
  status decide_stop_reason(const actors::batch_result* result, session_outcome& outcome);
  void quota_reset(session_outcome& outcome) const;
  std::optional<system_time> store_quota_reset() const;
  quota_plan plan_quota_now();
  quota_plan replan(system_time now, const std::map<std::string, int>& accepted, bool probed);
  quota_figures figures_for(const std::string& model, system_time now) const;
  actors::quota_caps on_probe_answer(const std::string& model,
                                     const std::optional<protocol::ratelimit_state>& limits,
                                     const std::map<std::string, int>& accepted, bool last);
  /// `after_probe`: the plan of the submits still needed, from the probes' answers.
  void show_plan(const quota_plan& plan, bool after_probe);
  const std::string& batch_model() const;
  void write_manifest(const session_outcome& outcome, const actors::batch_result* result) const;

  std::map<std::string, std::string> held_tasks() const;
  actors::batch_request batch_request(std::vector<actors::image_job> jobs) const;
  actors::batch_callbacks callbacks();
  void attach(actors::batch_runner& runner);
  void detach();
  static image_status status_of(const image_state& st);
  manifest_image manifest_entry(std::size_t index) const;

  void on_accepted(std::size_t job, const std::string& task_id);
  void on_image(actors::image_result& result);
  static bool matches_journal(image_state& st, const actors::image_result& result);
  void stop_with(std::string why);  ///< A fatal local error: cancel the batch.

  session_config config_;
  progress_renderer& progress_;
  std::unique_ptr<journal> journal_;
  std::vector<image_state> states_;
  std::vector<std::size_t> job_image_;  ///< Job index -> image index.
  long long needed_submits_ = 0;        ///< Jobs that submit (not resumed) in this run.
  std::size_t held_answer_lost_ = 0;    ///< Images held, not submitted (answer lost).
  std::size_t resumed_tasks_ = 0;       ///< Jobs that poll a journaled task, unpaid.
  /// The same per model, in the order the models first appear in the batch.
  std::vector<std::pair<std::string, long long>> needed_by_model_;
  /// The probes' answers so far, by model (empty figures: an answer without headers).
  std::map<std::string, quota_figures> probe_figures_;
  /// When this session was made: journaled figures seen before it are an earlier run's.
  system_time created_at_ = std::chrono::system_clock::now();
  std::optional<quota_plan> quota_;  ///< The plan before the run, then after the probe.
  /// Acceptances shown so far, and the probes' plan held back until the acceptance line of the
  /// answer it follows is shown (the headers reach the session before the acceptance does).
  long long accepted_shown_ = 0;
  /// Submits that lost their answer since the last acceptance (halt_on_lost_answer).
  int lost_in_a_row_ = 0;
  /// Delivered images by the sha256 of their bytes (this run's and earlier runs').
  std::unordered_map<std::string, std::size_t> delivered_sha_;
  bool bytes_are_its_own(image_state& st, std::size_t index, const std::string& sha256);
  void halt_on_lost_answer(const protocol::api_error& error);
  /// Cancels the batch as a halt (stop reason `halted`, the manifest written), not a failure.
  void halt_with(std::string why);
  void cancel_keeping(std::string& slot, std::string why);
  std::optional<quota_plan> plan_after_accept_;
  std::mutex mutex_;  ///< Guards runner_ and the flags below.
  actors::batch_runner* runner_ = nullptr;
  bool interrupted_ = false;
  bool cancel_pending_ = false;
  std::string fatal_;
  std::string halt_;  ///< Why the session itself halted the batch (halt_with).
};

}  // namespace zbatch::generate
