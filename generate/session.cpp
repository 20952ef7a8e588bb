#include "generate/session.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "client/atomic_file.hpp"
#include "client/digest.hpp"
#include "protocol/errors.hpp"

namespace zbatch::generate {

using nlohmann::json;
using system_time = std::chrono::system_clock::time_point;

struct session::image_state {
  bool done_before = false;  ///< Delivered in an earlier run and its file still matches.
  std::string resume_task_id;
  bool ran = false;  ///< Part of this run's batch and finished in it.
  bool delivered = false;
  std::string task_id;
  std::string file;
  std::string sha256;
  std::int64_t bytes = 0;
  std::optional<std::int64_t> latency_ms;
  std::string error_class;
  std::string message;
  int attempts = 0;
  bool resumed = false;
  bool ended_ambiguous = false;  ///< Its last submit's answer may hide a paid task.
  /// A submit of this run lost its answer and no task id came after: the rerun holds it (its
  /// last error may be another, e.g. the cancel of a halted batch).
  bool lost_answer = false;
  bool refused_before = false;  ///< An earlier run's task was refused for moderation (settled).
  /// Held, not submitted: its latest submit in an earlier run lost its answer (possibly paid).
  bool held_answer_lost = false;
  /// Delivered before, its file since gone or altered: its re-download must have these bytes.
  std::string journaled_sha256;
  json earlier;  ///< Its entry in the previous manifest, if any (done_before images).
  system_time finished_at;
  std::optional<std::int64_t> retry_after_ms;
};

namespace {

/// Every backend the batch's pool made, so that the batch's end can abort the calls still in
/// progress: a hung request would otherwise hold the exit (and the manifest) for its whole
/// time-out (issue 17 item 7: measured 26 s past the grace period). Thread-safe.
class backend_registry {
 public:
  void add(client::backend* backend) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.insert(backend);
    if (aborted_) {
      backend->abort();
    }
  }
  void remove(client::backend* backend) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(backend);
  }
  void abort_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
    for (auto* backend : live_) {
      backend->abort();
    }
  }

 private:
  std::mutex mutex_;
  std::set<client::backend*> live_;
  bool aborted_ = false;
};

/// A backend that registers itself while it lives (see backend_registry).
class tracked_backend final : public client::backend {
 public:
  tracked_backend(std::unique_ptr<client::backend> inner, std::shared_ptr<backend_registry> live)
      : inner_(std::move(inner)), live_(std::move(live)) {
    live_->add(inner_.get());
  }
  ~tracked_backend() override { live_->remove(inner_.get()); }
  client::result<protocol::submit_accepted> submit(
      const protocol::submit_request& request) override {
    return inner_->submit(request);
  }
  client::result<protocol::task_state> poll(const std::string& task_id) override {
    return inner_->poll(task_id);
  }
  client::result<client::downloaded_image> download(const std::string& url) override {
    return inner_->download(url);
  }
  void abort() override { inner_->abort(); }

 private:
  std::unique_ptr<client::backend> inner_;
  std::shared_ptr<backend_registry> live_;
};

/// Redraws the progress bar every `bar_refresh` from its own thread while it lives.
class bar_ticker {
 public:
  static constexpr std::chrono::milliseconds bar_refresh{250};

  explicit bar_ticker(progress_renderer& progress)
      : thread_([this, &progress] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (!stop_.wait_for(lock, bar_refresh, [this] { return over_; })) {
            progress.tick();
          }
        }) {}
  bar_ticker(const bar_ticker&) = delete;
  bar_ticker& operator=(const bar_ticker&) = delete;
  ~bar_ticker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      over_ = true;
    }
    stop_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable stop_;
  bool over_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The error class of a re-download whose bytes differ from the journaled ones: not written,
/// the image stays pending (the next run polls the same task again, free).
constexpr const char* integrity_class = "integrity";

/// Failures after which the task may still be running or was never created: the journal keeps
/// the image's last state (a known task is polled again on the next run; none is resubmitted).
/// An image whose last submit was ambiguous (a garbled 200 as much as a gateway's 504) is never
/// settled: a paid task may exist.
bool settled_failure(const std::string& error_class, bool ended_ambiguous) {
  return !ended_ambiguous && error_class != "cancelled" && error_class != "deadline" &&
         error_class != "server_transport" && error_class != "dynamic_429" &&
         error_class != "quota_429" && error_class != integrity_class;
}

/// The journal says delivered and the file is there with the journaled sha256.
bool delivered_file_intact(const std::filesystem::path& dir, const journaled_image& j) {
  if (j.last != journaled_image::state::delivered || j.file.empty()) {
    return false;
  }
  const auto path = dir / j.file;
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) &&
         client::sha256_hex(read_file(path)) == j.sha256;
}

/// Replaces `path` with `bytes` (client::write_file_atomic), unless `faults` fails the write:
/// then nothing is replaced. Throws std::system_error naming the path.
void write_file(const std::filesystem::path& path, std::string_view bytes,
                const fault_hook& faults) {
  if (faults) {
    if (const auto fault = faults(path, bytes)) {
      throw std::system_error(fault->error, std::generic_category(),
                              "cannot write " + path.string());
    }
  }
  client::write_file_atomic(path, bytes);
}

/// From the delivering attempt's start (its submit, or the resumed task's first poll).
std::int64_t latency_of(const actors::image_result& result) {
  return result.finished_at_ms - result.last_start_ms;
}

}  // namespace

std::chrono::system_clock::time_point next_quota_reset(system_time now) {
  using namespace std::chrono;
  const auto offset = hours(8);
  const auto local = floor<seconds>(now) + offset;
  const auto day = floor<hours>(local.time_since_epoch()).count() / 24;
  const system_time next_local_midnight{hours((day + 1) * 24)};
  return time_point_cast<system_clock::duration>(next_local_midnight - offset);
}

std::string iso_utc(system_time at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

session::session(session_config config, progress_renderer& progress)
    : config_(std::move(config)), progress_(progress) {}

namespace {

/// Something other than a file (a directory, say) at `path`: failed_precondition naming it and
/// `advice`. Nothing there, or a file, is fine.
status refuse_non_file(const std::filesystem::path& path, const std::string& advice) {
  std::error_code ec;
  const auto kind = std::filesystem::status(path, ec).type();
  if (kind == std::filesystem::file_type::not_found || kind == std::filesystem::file_type::none ||
      kind == std::filesystem::file_type::regular) {
    return ok_status();
  }
  return failed_precondition_error(path.string() + ": is not a regular file; " + advice);
}

}  // namespace

result<std::unique_ptr<session>> session::create(session_config config,
                                                 progress_renderer& progress) {
  // Refused before anything is sent: the manifest could not be written at the end (a new
  // user's check: a directory there failed with "basic_filebuf::underflow ..." naming no file),
  // nor an image after its task was paid (another check: found only then). An image's name
  // takes its extension from the downloaded bytes, so each one it may take is checked.
  ZBATCH_RETURN_IF_ERROR(refuse_non_file(
      config.out_dir / "manifest.json", "move it away (zbatch writes the batch's manifest there)"));
  for (const auto& image : config.images) {
    for (const char* extension : {"png", "jpg", "webp", "bin"}) {
      ZBATCH_RETURN_IF_ERROR(refuse_non_file(
          config.out_dir / image_file_name(image, extension),
          "image " + std::to_string(image.index) +
              " would be written there after its task was paid; move it away and rerun"));
    }
  }
  std::unique_ptr<session> out(new session(std::move(config), progress));
  auto opened =
      out->config_.dry_run
          ? journal::read_only(out->config_.out_dir, out->config_.options)
          : journal::open(out->config_.out_dir, out->config_.options, out->config_.faults);
  if (!opened.ok()) {
    return opened.status();
  }
  out->journal_ = *std::move(opened);
  const auto count = out->config_.images.size();
  for (const auto& [index, image] : out->journal_->images()) {
    // The header matched this batch, so an index outside it is damage (a new user's check: a
    // delivered line edited to index 99 of 5 passed silently).
    if (index < 0 || static_cast<std::size_t>(index) >= count) {
      return data_loss_error(out->journal_->path().string() + ": a line names image index " +
                             std::to_string(index) + ", not one of this batch's " +
                             std::to_string(count) + " images (0.." + std::to_string(count - 1) +
                             "): the journal is damaged");
    }
  }
  return out;
}

session::~session() = default;

void session::interrupt() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (interrupted_) {
    return;
  }
  interrupted_ = true;
  if (runner_ != nullptr) {
    runner_->drain(config_.grace);
  }
}

void session::stop_with(std::string why) { cancel_keeping(fatal_, std::move(why)); }

void session::halt_with(std::string why) { cancel_keeping(halt_, std::move(why)); }

/// Keeps the first reason in `slot` (fatal_ or halt_) and cancels the batch, or marks it to be
/// cancelled when it starts.
void session::cancel_keeping(std::string& slot, std::string why) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (slot.empty()) {
    slot = std::move(why);
  }
  if (runner_ != nullptr) {
    runner_->cancel();
  } else {
    cancel_pending_ = true;
  }
}

void session::on_accepted(std::size_t job, const std::string& task_id) {
  const auto index = job_image_[job];
  const auto& image = config_.images[index];
  const auto seed = image.request.seed.value_or(0);
  if (const auto written = journal_->record_submitted(static_cast<int>(index), seed, task_id);
      !written.ok()) {
    stop_with(written.message());
    return;
  }
  progress_.accepted(index, seed, task_id);
  ++accepted_shown_;
  lost_in_a_row_ = 0;
  if (plan_after_accept_) {
    show_plan(*plan_after_accept_, true);
    plan_after_accept_.reset();
  }
}

/// Every submit answer lost (a gateway that closes after forwarding, a 204, a header too long
/// to read) made each image a paid task zbatch cannot find: a new user's server charged 20 of
/// 20 and none was delivered. Lost answers in a row with no acceptance between stop the batch:
/// 3 before any acceptance in this run (the service has not answered once), else 5 (a flaky
/// gateway's few in a row stay a retry matter). What is in flight ends as it would.
void session::halt_on_lost_answer(const protocol::api_error& error) {
  const int limit = accepted_shown_ == 0 ? 3 : 5;
  if (++lost_in_a_row_ != limit) {  // once: the cancel is under way
    return;
  }
  halt_with("the answers to " + std::to_string(lost_in_a_row_) +
            " submits in a row were lost (the request was sent, no usable answer came; the "
            "last: " +
            error.describe() +
            "): each may be a task the service created and charged, so no more are sent; "
            "rerun when the service answers again (these images stay pending, possibly paid)");
}

/// Issue 17: a task delivered before and downloaded again (its file was removed or altered) must
/// give the bytes journaled then; different bytes (another image behind the same task id, a
/// host that changed it) are not written over the record. Sets the pending error when not.
bool session::matches_journal(image_state& st, const actors::image_result& result) {
  if (st.journaled_sha256.empty()) {
    return true;
  }
  const auto now = client::sha256_hex(result.bytes);
  if (now == st.journaled_sha256) {
    return true;
  }
  st.error_class = integrity_class;
  st.message = "task " + st.task_id +
               "'s image, downloaded again, differs from the one delivered "
               "before (sha256 " +
               st.journaled_sha256.substr(0, 12) + "... journaled, " + now.substr(0, 12) +
               "... now): not written, the image stays pending; to generate "
               "it anew, use another --out directory";
  return false;
}

/// A new user's gateway answered every task with the first one's image URL: three seeds were
/// "delivered" with one picture. Two different requests (another seed, prompt, size, ...) never
/// give the same bytes, so the later one is held, not written: its task is paid, and a rerun
/// polls it again. Sets the pending error when held.
bool session::bytes_are_its_own(image_state& st, std::size_t index, const std::string& sha256) {
  const auto [at, added] = delivered_sha_.emplace(sha256, index);
  if (added || at->second == index ||
      protocol::to_json(config_.images[at->second].request) ==
          protocol::to_json(config_.images[index].request)) {
    return true;
  }
  const auto& other = config_.images[at->second];
  st.error_class = integrity_class;
  st.message = "task " + st.task_id + "'s image is byte for byte image #" +
               std::to_string(other.index) + "'s (seed " +
               std::to_string(other.request.seed.value_or(0)) +
               ", another request): the service answered two tasks with one image; not "
               "written, the image stays pending (its task is paid: a rerun polls it again)";
  return false;
}

void session::on_image(actors::image_result& result) {
  const auto index = job_image_[result.index];
  const auto& image = config_.images[index];
  auto& st = states_[index];
  const auto seed = image.request.seed.value_or(0);
  st.ran = true;
  st.finished_at = std::chrono::system_clock::now();
  st.attempts = result.attempts;
  st.resumed = result.resumed;
  st.retry_after_ms = result.retry_after_ms;
  if (!result.task_id.empty()) {
    st.task_id = result.task_id;
  }
  if (result.ambiguous_submits > 0) {
    if (const auto written = journal_->record_possibly_paid(
            static_cast<int>(index), result.ambiguous_submits, result.message);
        !written.ok()) {
      stop_with(written.message());
    }
  }
  if (result.delivered && (!matches_journal(st, result) ||
                           !bytes_are_its_own(st, index, client::sha256_hex(result.bytes)))) {
    progress_.pending(index, seed, st.error_class, st.message, st.task_id, true);
    return;
  }
  if (result.delivered) {
    st.file = image_file_name(image, image_extension(result.bytes));
    status written;
    try {
      // The client's file helpers throw (std::system_error naming the step and the path).
      write_file(config_.out_dir / st.file, result.bytes, config_.faults);
      st.sha256 = client::sha256_hex(result.bytes);
      st.bytes = static_cast<std::int64_t>(result.bytes.size());
    } catch (const std::exception& e) {
      written = internal_error(e.what());
    }
    if (written.ok()) {
      written = journal_->record_delivered(static_cast<int>(index), st.task_id, st.file, st.sha256,
                                           st.bytes);
    }
    if (!written.ok()) {
      st.file.clear();
      st.error_class = "local";
      st.message = written.message();
      stop_with(written.message());
      return;
    }
    st.delivered = true;
    // A task an earlier run submitted: its submit time is not journaled, and this run's first
    // poll is no start (a new user's check: "delivered 0.1 s" skewed the latency summary).
    if (!(result.resumed && result.attempts == 0)) {
      st.latency_ms = latency_of(result);
    }
    std::string().swap(result.bytes);  // On disk now.
    progress_.delivered(index, seed, st.file, static_cast<std::size_t>(st.bytes), st.latency_ms);
    return;
  }
  st.error_class = result.error ? std::string(protocol::to_string(*result.error)) : "unknown";
  st.message = result.message;
  st.ended_ambiguous = result.ended_ambiguous;
  st.lost_answer = result.ambiguous_submits > 0 && st.task_id.empty();
  const bool settled = settled_failure(st.error_class, st.ended_ambiguous);
  if (settled) {
    if (const auto written = journal_->record_failed(static_cast<int>(index), st.task_id,
                                                     st.error_class, st.message, st.attempts);
        !written.ok()) {
      stop_with(written.message());
    }
  }
  if (settled) {
    progress_.failed(index, seed, st.error_class, st.message);
  } else {
    // An image never started (the batch stopped first) has nothing worth a line of its own.
    const bool started = result.attempts > 0 || result.resumed;
    progress_.pending(index, seed, st.error_class, st.message, st.task_id, started);
  }
}

namespace {

/// The submits a plan allows from now on, over all and per model (none: no cap).
actors::quota_caps caps_of(const quota_plan& plan) {
  const auto clamp = [](long long n) {
    return static_cast<int>(std::min<long long>(n, 1'000'000'000));
  };
  actors::quota_caps caps;
  if (plan.decision == quota_decision::fit || plan.decision == quota_decision::stop) {
    caps.submits = clamp(plan.allowed.value_or(0));
  }
  for (const auto& m : plan.models) {
    if (m.allowed) {
      caps.models[m.model] = clamp(*m.allowed);
    }
  }
  return caps;
}

}  // namespace

struct session::batch_plan {
  std::vector<actors::image_job> jobs;  ///< Every image not delivered before, in index order.
  std::size_t delivered_before = 0;
  std::size_t refused_before = 0;  ///< Moderated in an earlier run: settled, not in `jobs`.
  /// Images whose latest submit lost its answer in an earlier run, submitted again because the
  /// user or the strategy chose to (the held ones are session::held_answer_lost_).
  std::size_t resubmitting_lost = 0;
  /// Journaled tasks a new bundled mock cannot know (session_config::tasks_outlive_run false):
  /// submitted again, in `jobs` as submits.
  std::size_t tasks_forgotten = 0;
};

const char* to_string(stop_reason reason) {
  switch (reason) {
    case stop_reason::complete:
      return "complete";
    case stop_reason::failures:
      return "failures";
    case stop_reason::submit_cap:
      return "submit_cap";
    case stop_reason::quota:
      return "quota";
    case stop_reason::interrupted:
      return "interrupted";
    case stop_reason::halted:
      return "halted";
    case stop_reason::held:
      return "held";
    case stop_reason::unfinished:
      return "unfinished";
  }
  return "complete";
}

result<session_outcome> session::run(const actors::backend_factory& factory) {
  session_outcome outcome;
  outcome.total = config_.images.size();
  outcome.manifest = config_.out_dir / "manifest.json";
  states_.assign(config_.images.size(), image_state{});
  auto plan = plan_against_journal(earlier_manifest_entries(outcome.manifest));
  outcome.delivered_before = plan.delivered_before;
  quota_ = plan_quota_now();
  show_plan(*quota_, false);
  outcome.quota = quota_;
  if (config_.dry_run) {
    outcome.dry_run = true;
    tally(outcome);
    return outcome;
  }
  progress_.start(outcome.total, outcome.delivered_before, resumed_tasks_,
                  plan.jobs.size() - resumed_tasks_, config_.endpoint,
                  actors::to_compact(config_.strategy), plan.refused_before,
                  config_.strategy_label);
  notice_lost_answers(plan);
  if (plan.tasks_forgotten > 0) {
    progress_.notice("mock_forgets_tasks",
                     std::to_string(plan.tasks_forgotten) +
                         " journaled task(s) are unknown to this run's bundled mock (it keeps no "
                         "task past its run): they are submitted again, not polled");
  }
  std::optional<actors::batch_result> result;
  if (!plan.jobs.empty()) {
    result = run_batch(std::move(plan.jobs), factory);
    outcome.submit_requests = result->counters.submits;
    outcome.accepted_this_run = result->counters.accepted;
  }
  tally(outcome);
  ZBATCH_RETURN_IF_ERROR(decide_stop_reason(result ? &*result : nullptr, outcome));
  if (result && result->quota_exhausted) {
    quota_reset(outcome);
  }
  outcome.quota = quota_;
  write_manifest(outcome, result ? &*result : nullptr);
  return outcome;
}

/// `entry[key]` when it is a string, else "": a manifest written by an interrupted run holds
/// nulls for what it did not know (json::value() throws on them: a rerun after a second Ctrl-C
/// failed with "type must be string, but is null").
namespace {
std::string string_field(const json& entry, const char* key) {
  const auto it = entry.find(key);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

/// Skips images delivered before whose file still matches its sha256 (keeping their earlier
/// manifest entry for its latency), resumes journaled tasks, submits the rest.
session::batch_plan session::plan_against_journal(const std::map<std::size_t, json>& earlier) {
  batch_plan plan;
  const auto& known = journal_->images();
  for (std::size_t index = 0; index < config_.images.size(); ++index) {
    auto& st = states_[index];
    if (const auto it = known.find(static_cast<int>(index)); it != known.end()) {
      const auto& j = it->second;
      st.task_id = j.task_id;
      if (j.last == journaled_image::state::delivered) {
        st.journaled_sha256 = j.sha256;
        delivered_sha_.emplace(j.sha256, index);
      }
      if (delivered_file_intact(config_.out_dir, j)) {
        st.done_before = true;
        st.delivered = true;
        st.file = j.file;
        st.sha256 = j.sha256;
        st.bytes = j.bytes;
        if (auto e = earlier.find(index);
            e != earlier.end() && string_field(e->second, "sha256") == j.sha256) {
          st.earlier = e->second;
        }
        ++plan.delivered_before;
        continue;
      }
      if (j.last == journaled_image::state::failed && j.error_class == "moderation" &&
          !config_.retry_moderated) {
        // Settled for good: the service refused this prompt and seed (and charged for it).
        st.refused_before = true;
        st.error_class = j.error_class;
        st.message = j.message;
        ++plan.refused_before;
        continue;
      }
      // Submitted (or delivered but the file is gone or altered): poll that task again.
      const bool had_task = (j.last == journaled_image::state::submitted ||
                             j.last == journaled_image::state::delivered) &&
                            !j.task_id.empty();
      if (had_task && config_.tasks_outlive_run) {
        st.resume_task_id = j.task_id;
        ++resumed_tasks_;
      } else if (had_task) {
        ++plan.tasks_forgotten;  // The bundled mock is new: a submit, planned and counted as one.
      } else if (j.answer_lost) {
        if (!resubmit_lost_answers()) {
          hold_answer_lost(st);
          ++held_answer_lost_;
          continue;
        }
        ++plan.resubmitting_lost;
      }
    }
    actors::image_job job;
    job.request = config_.images[index].request;
    job.resume_task_id = st.resume_task_id;
    if (job.resume_task_id.empty()) {
      ++needed_submits_;
      const auto& model = job.request.model;
      auto it = std::find_if(needed_by_model_.begin(), needed_by_model_.end(),
                             [&model](const auto& m) { return m.first == model; });
      if (it == needed_by_model_.end()) {
        it = needed_by_model_.insert(needed_by_model_.end(), {model, 0});
      }
      ++it->second;
    }
    job_image_.push_back(index);
    plan.jobs.push_back(std::move(job));
  }
  return plan;
}

bool session::resubmit_lost_answers() const {
  return config_.resubmit_possibly_paid || config_.strategy.retry.resubmit_ambiguous;
}

void session::hold_answer_lost(image_state& st) {
  st.held_answer_lost = true;
  st.error_class = "answer_lost";
  st.message =
      "held: an earlier run's submit lost its answer, so the service may have created (and "
      "charged) a task zbatch cannot find; --resubmit-possibly-paid submits it again";
}

/// Says before the first submit what a rerun does with images whose submit lost its answer.
void session::notice_lost_answers(const batch_plan& plan) {
  if (held_answer_lost_ > 0) {
    progress_.notice("answer_lost_held",
                     std::to_string(held_answer_lost_) +
                         " image(s) held, not submitted: an earlier run's submit for each lost "
                         "its answer, so the service may have created (and charged) a task "
                         "zbatch cannot find; --resubmit-possibly-paid submits them again "
                         "(each may then be paid twice)");
  }
  if (plan.resubmitting_lost > 0) {
    progress_.notice(
        "answer_lost_resubmitted",
        std::to_string(plan.resubmitting_lost) +
            " image(s) whose earlier submit lost its answer (possibly paid) are submitted "
            "again, as " +
            (config_.resubmit_possibly_paid ? std::string("--resubmit-possibly-paid")
                                            : std::string("the strategy's ambiguous=resubmit")) +
            " says: each may be paid twice");
  }
}

actors::batch_result session::run_batch(std::vector<actors::image_job> jobs,
                                        const actors::backend_factory& factory) {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system(cfg);
  auto live = std::make_shared<backend_registry>();
  auto tracked = [factory, live]() -> std::unique_ptr<client::backend> {
    return std::make_unique<tracked_backend>(factory(), live);
  };
  auto backend = actors::spawn_blocking_backend(system, tracked, config_.connections);
  actors::batch_runner runner(system, batch_request(std::move(jobs)), backend, callbacks());
  attach(runner);
  std::optional<bar_ticker> ticker;
  if (progress_.ticks()) {
    ticker.emplace(progress_);  // the bar moves between events until the batch is over
  }
  auto done = runner.wait();
  ticker.reset();
  if (plan_after_accept_) {  // The acceptance was never shown (its journal record failed).
    show_plan(*plan_after_accept_, true);
    plan_after_accept_.reset();
  }
  detach();
  live->abort_all();  // The batch is over: nothing in flight can change its result.
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  return done;
}

/// The journaled task ids of images this run does not play (delivered or settled before), so a
/// submit answered with one is caught as another image's (a new user's check: a rerun's
/// resubmit answered with a delivered image's id delivered that image's bytes again).
std::map<std::string, std::string> session::held_tasks() const {
  std::set<std::size_t> playing(job_image_.begin(), job_image_.end());
  std::map<std::string, std::string> out;
  for (const auto& [index, j] : journal_->images()) {
    const auto image = static_cast<std::size_t>(index);
    if (j.task_id.empty() || playing.count(image) > 0 || image >= config_.images.size()) {
      continue;
    }
    const auto& seed = config_.images[image].request.seed;
    out.emplace(j.task_id, "image #" + std::to_string(image) +
                               (seed ? " (seed " + std::to_string(*seed) + ")" : "") +
                               " of an earlier run");
  }
  return out;
}

actors::batch_request session::batch_request(std::vector<actors::image_job> jobs) const {
  actors::batch_request request;
  request.jobs = std::move(jobs);
  request.strategy = config_.strategy;
  request.seed = config_.seed;
  request.keep_bytes = true;
  // No per-image trace: it grows with every poll (issue 17: 10,000 tasks RUNNING forever grew
  // memory by ~65 bytes a poll); what the manifest needs is in image_result's fields.
  request.trace = false;
  request.max_submits = config_.max_submits;
  request.held_tasks = held_tasks();
  request.probe_first = quota_ && quota_->decision == quota_decision::probe;
  if (request.probe_first) {
    const auto models = quota_->probe_models();
    request.probe_models.insert(models.begin(), models.end());
  }
  // Stop is fit with nothing allowed: no submit, but journaled tasks are still polled (free).
  if (quota_) {
    auto caps = caps_of(*quota_);
    request.quota_submits = caps.submits;
    request.model_quota_submits = std::move(caps.models);
  }
  request.check_image_size = true;
  request.permits = config_.permits;
  return request;
}

actors::batch_callbacks session::callbacks() {
  actors::batch_callbacks callbacks;
  callbacks.on_notice = [this](const std::string& kind, const std::string& text) {
    progress_.notice(
        kind, kind == "unreachable" ? "cannot reach " + config_.endpoint + ": " + text : text);
  };
  callbacks.on_accepted = [this](std::size_t job, const std::string& task_id) {
    on_accepted(job, task_id);
  };
  callbacks.on_submitting = [this](std::size_t job) {
    {
      // A halt is under way (its cancel is a message the coordinator has yet to read): this
      // submit must not leave (a new user's check: a fourth paid after "3 in a row").
      std::lock_guard<std::mutex> lock(mutex_);
      if (!halt_.empty()) {
        return false;
      }
    }
    const auto written = journal_->record_submitting(static_cast<int>(job_image_[job]));
    if (!written.ok()) {
      stop_with(written.message());  // and the submit is not sent: nothing would record it
    }
    return written.ok();
  };
  callbacks.on_submit_refused = [this](std::size_t job, const protocol::api_error& error) {
    // Not written: the submit stays open, counted as possibly paid on load (the safe side).
    (void)journal_->record_refused(static_cast<int>(job_image_[job]),
                                   std::string(protocol::to_string(error.kind)), error.http_status,
                                   error.message);
  };
  callbacks.on_submit_lost = [this](std::size_t, const protocol::api_error& error) {
    halt_on_lost_answer(error);
  };
  callbacks.on_task_failed = [this](std::size_t job, const std::string& task_id) {
    // Not written: the task stays counted as paid (the safe side of the figure).
    (void)journal_->record_task_failed(static_cast<int>(job_image_[job]), task_id);
  };
  callbacks.on_ratelimit = [this](std::size_t job, const protocol::ratelimit_state& limits) {
    const auto seen = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    // Not synced (journal.hpp): losing it costs the next run a probe, nothing more.
    // Under the model of the submit that drew them: a batch may name several (batch lines).
    const auto& model = config_.images[job_image_[job]].request.model;
    (void)journal_->record_ratelimit(config_.base_url, model,
                                     {limits.account_limit, limits.account_remaining,
                                      limits.model_limit, limits.model_remaining},
                                     seen);
  };
  callbacks.on_probe_answer = [this](const std::string& model,
                                     const std::optional<protocol::ratelimit_state>& limits,
                                     const std::map<std::string, int>& accepted, bool last) {
    return on_probe_answer(model, limits, accepted, last);
  };
  callbacks.on_image = [this](actors::image_result& image) { on_image(image); };
  callbacks.on_progress = [this](const actors::progress_event& event) {
    progress_.progress(event);
  };
  return callbacks;
}

void session::attach(actors::batch_runner& runner) {
  std::lock_guard<std::mutex> lock(mutex_);
  runner_ = &runner;
  // A fatal error or an interrupt that came before the runner existed applies now.
  if (cancel_pending_) {
    runner.cancel();
  } else if (interrupted_) {
    runner.drain(config_.grace);
  }
}

void session::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  runner_ = nullptr;
}

image_status session::status_of(const image_state& st) {
  if (st.delivered) {
    return image_status::delivered;
  }
  if (st.refused_before) {
    return image_status::failed;
  }
  return st.ran && settled_failure(st.error_class, st.ended_ambiguous) ? image_status::failed
                                                                       : image_status::pending;
}

/// Counts over every image of the batch, earlier runs included.
void session::tally(session_outcome& outcome) const {
  for (const auto& st : states_) {
    const auto status = status_of(st);
    if (status == image_status::delivered) {
      ++outcome.delivered;
      if (st.latency_ms) {
        outcome.latencies_ms.push_back(*st.latency_ms);
      }
    } else if (status == image_status::failed) {
      ++outcome.failed;
    } else if (st.held_answer_lost || (st.ran && (st.ended_ambiguous || st.lost_answer))) {
      ++outcome.answer_lost;
    } else if (st.ran && !st.error_class.empty()) {
      ++outcome.pending_by_class[st.error_class];
    }
  }
  for (const auto& [index, j] : journal_->images()) {
    const auto at = static_cast<std::size_t>(index);
    if (at < states_.size() && status_of(states_[at]) == image_status::pending &&
        j.last == journaled_image::state::submitted && !j.task_id.empty()) {
      ++outcome.pending_tasks;
    }
  }
  outcome.remaining = outcome.total - outcome.delivered;
  outcome.pending = outcome.remaining - outcome.failed;
  for (const auto& item : journal_->images()) {
    outcome.submits_paid += item.second.submits;
    outcome.submits_possibly_paid += item.second.possibly_paid;
    outcome.submits_refunded += item.second.refunded;
  }
}

/// An interrupt wins over what the batch reported (unless everything was delivered); a fatal
/// local error is returned instead.
status session::decide_stop_reason(const actors::batch_result* result, session_outcome& outcome) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!fatal_.empty()) {
      return internal_error(fatal_);
    }
    // An interrupt that came when every image was already delivered took nothing away: the
    // batch is complete (exit 0), not interrupted.
    if (interrupted_ && outcome.delivered < outcome.total) {
      outcome.reason = stop_reason::interrupted;
      return ok_status();
    }
  }
  if (outcome.remaining == 0) {
    // Every image is delivered: a quota stop or a halt after the last submit took nothing
    // away (the last answer's "0 calls left" made a complete batch exit 4).
    return ok_status();
  }
  std::string halt;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    halt = halt_;
  }
  if (!halt.empty()) {
    outcome.reason = stop_reason::halted;
    outcome.halted_by = halt;
  } else if (result && result->halted_by) {
    outcome.reason = stop_reason::halted;
    outcome.halted_by = result->halted_by->describe();
    const auto status = result->halted_by->http_status;
    outcome.halted_by_redirect = status >= 300 && status < 400;
  } else if (result && result->quota_exhausted) {
    outcome.reason = stop_reason::quota;
    if (!config_.dry_run && result->counters.http_429_quota > 0) {
      // The service refused for the quota (not the plan's own stop): figures seen before may
      // say calls are left. Not written: the rerun plans from those (its probe is free anyway).
      (void)journal_->record_quota_refused(config_.base_url,
                                           std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    }
  } else if (result && result->submit_capped) {
    outcome.reason = stop_reason::submit_cap;
  } else if (outcome.remaining > 0) {
    // Only held images left: "failures" with failed 0 read as a contradiction (a new user's
    // check); the summary says how to release them.
    outcome.reason = outcome.failed > 0                       ? stop_reason::failures
                     : outcome.pending == outcome.answer_lost ? stop_reason::held
                                                              : stop_reason::unfinished;
  }
  return ok_status();
}

/// The quota reset the shared store holds (another process's stop), unless it is the assumed
/// midnight UTC+8 (that process had no time from the service either).
std::optional<system_time> session::store_quota_reset() const {
  const auto ms = config_.permits ? config_.permits->quota_reset_seen() : std::nullopt;
  if (!ms) {
    return std::nullopt;
  }
  const system_time at{std::chrono::milliseconds(*ms)};
  const auto assumed = next_quota_reset(std::chrono::system_clock::now());
  return std::chrono::abs(at - assumed) > std::chrono::minutes(1) ? std::optional(at)
                                                                  : std::nullopt;
}

/// The latest reset a quota 429's Retry-After named (this process's, else another's on the
/// shared key), else the plan's, else the assumed next midnight UTC+8.
void session::quota_reset(session_outcome& outcome) const {
  std::optional<system_time> reset;
  for (const auto& st : states_) {
    // A Retry-After of 0 or a date already past names no reset (a new user's check: "resets
    // at <now>, as the service said" under "try again tomorrow"): the assumed one applies.
    if (st.ran && st.error_class == "quota_429" && st.retry_after_ms && *st.retry_after_ms > 0) {
      const auto at = st.finished_at + std::chrono::milliseconds(*st.retry_after_ms);
      reset = reset ? std::max(*reset, at) : at;
      // A rate-limit text with a Retry-After longer than a batch waits, not the quota's.
      outcome.stopped_by_retry_after |= !protocol::is_quota_message(st.message);
    }
  }
  outcome.quota_reset_from_service = reset.has_value();
  if (const auto shared = store_quota_reset(); !reset && shared) {
    // Another process on the key met the quota (a new user's check: this one said "assumed:
    // midnight UTC+8" and 17 h where the service had said 50 s to the other).
    reset = shared;
    outcome.quota_reset_from_peer = true;
  }
  if (!reset && quota_ &&
      (quota_->decision == quota_decision::fit || quota_->decision == quota_decision::stop)) {
    reset = quota_->resets_at;  // The plan's: the reset after the figures it used were seen.
  }
  const auto at = reset ? *reset : next_quota_reset(std::chrono::system_clock::now());
  outcome.quota_reset = iso_utc(at);
  outcome.quota_reset_utc8 = utc8_text(at);
}

const std::string& session::batch_model() const {
  // The batch's one model, or none when batch lines name several: then the plan shows the
  // account's figures and each model's (quota_plan.hpp, plan_models).
  static const std::string none;
  if (config_.images.empty()) {
    return none;
  }
  const auto& first = config_.images.front().request.model;
  for (const auto& image : config_.images) {
    if (image.request.model != first) {
      return none;
    }
  }
  return first;
}

/// From the journal's figures for this endpoint and each model, as valid now.
quota_plan session::plan_quota_now() { return replan(std::chrono::system_clock::now(), {}, false); }

/// A model's figures: its probe's answer in this run, else the journal's as valid at `now`.
quota_figures session::figures_for(const std::string& model, system_time now) const {
  if (const auto it = probe_figures_.find(model); it != probe_figures_.end()) {
    return it->second;
  }
  auto f = figures_from_journal(journal_->ratelimits(), config_.base_url, model, now);
  if (f.seen_at && *f.seen_at < created_at_ && f.remaining() && *f.remaining() <= 0) {
    // An earlier run saw no call left today, but daily limits move (protocol doc): the first
    // submit asks again, alone; a quota 429 costs nothing (a new user's check: after the limit
    // was raised, every rerun said "fits: 0" and sent nothing until the reset).
    f.account_remaining.reset();
    f.model_remaining.reset();
    f.zero_seen_at = f.seen_at;
  }
  return f;
}

/// The plan for the submits still needed (`accepted`: submits accepted so far, by model), on
/// each model's figures and the account's newest. `probed`: every probe has answered.
quota_plan session::replan(system_time now, const std::map<std::string, int>& accepted,
                           bool probed) {
  const auto still = [&accepted](const std::pair<std::string, long long>& m) {
    const auto it = accepted.find(m.first);
    return std::max<long long>(0, m.second - (it == accepted.end() ? 0 : it->second));
  };
  if (needed_by_model_.empty() && batch_model().empty()) {
    // Nothing left of a batch of several models: the account's figures, no model's share.
    return plan_models({}, figures_for("", now), config_.fit_quota, probed, now);
  }
  if (needed_by_model_.size() <= 1) {
    const auto model = needed_by_model_.empty() ? batch_model() : needed_by_model_.front().first;
    const long long needed = needed_by_model_.empty() ? 0 : still(needed_by_model_.front());
    return plan_quota(needed, figures_for(model, now), config_.fit_quota, probed, now, model);
  }
  std::vector<model_quota> models;
  quota_figures account;  // The newest answer's account figures (they count every model).
  for (const auto& m : needed_by_model_) {
    const auto f = figures_for(m.first, now);
    model_quota share;
    share.model = m.first;
    share.needed = still(m);
    share.limit = f.model_limit;
    share.remaining = f.model_remaining;
    share.expired = f.expired;
    models.push_back(std::move(share));
    const bool newer = f.seen_at && (!account.seen_at || *f.seen_at > *account.seen_at);
    if (newer || (!account.seen_at && !account.account_limit && f.account_limit)) {
      account.account_limit = f.account_limit;
      account.account_remaining = f.account_remaining;
      account.seen_at = f.seen_at;
    }
    account.expired = account.expired || f.expired;
  }
  return plan_models(std::move(models), account, config_.fit_quota, probed, now);
}

void session::show_plan(const quota_plan& plan, bool after_probe) {
  const auto& f = plan.figures;
  const auto optional = [](const std::optional<long long>& v) { return v ? json(*v) : json(); };
  const char* decisions[] = {"go", "probe", "fit", "stop"};
  json models = json::array();
  for (const auto& m : plan.models) {
    models.push_back({{"model", m.model},
                      {"needed_submits", m.needed},
                      {"limit", optional(m.limit)},
                      {"remaining", optional(m.remaining)},
                      {"fits", m.fits()},
                      {"allowed", optional(m.allowed)},
                      {"over_daily_limit", m.over_daily_limit}});
  }
  json fields{
      {"needed_submits", plan.needed},
      {"after_probe", after_probe},
      {"decision", decisions[static_cast<int>(plan.decision)]},
      {"fits", plan.decision == quota_decision::go ? json(plan.needed)
                                                   : (plan.allowed ? json(*plan.allowed) : json())},
      {"calls_left", optional(f.remaining())},
      {"model", batch_model()},
      {"model_limit", optional(f.model_limit)},
      {"model_remaining", optional(f.model_remaining)},
      {"account_limit", optional(f.account_limit)},
      {"account_remaining", optional(f.account_remaining)},
      {"figures_seen_at", f.seen_at ? json(iso_utc(*f.seen_at)) : json()},
      {"figures_expired", f.expired},
      {"quota_resets_at", iso_utc(plan.resets_at)},
      {"quota_resets_at_utc8", utc8_text(plan.resets_at)},
      {"endpoint", config_.base_url.empty() ? json() : json(config_.base_url)},
      {"models", models}};
  progress_.plan(fields,
                 describe(plan, batch_model(), after_probe, held_answer_lost_, resumed_tasks_));
}

/// A probe's answer (actors::batch_request::probe_first): plans the submits still needed with
/// its figures; the plan is shown once every probe has answered (or when it says stop). Runs on
/// the coordinator's thread.
actors::quota_caps session::on_probe_answer(const std::string& model,
                                            const std::optional<protocol::ratelimit_state>& limits,
                                            const std::map<std::string, int>& accepted, bool last) {
  const auto now = std::chrono::system_clock::now();
  probe_figures_[model] = limits ? figures_from_answer(*limits, now) : quota_figures{};
  auto plan = replan(now, accepted, last);
  if (last || plan.decision == quota_decision::stop) {
    long long accepted_now = 0;
    for (const auto& [name, n] : accepted) {
      accepted_now += n;
    }
    // This answer accepted a task whose line is not shown yet: the plan follows that line.
    if (accepted_now > accepted_shown_) {
      plan_after_accept_ = plan;
    } else {
      show_plan(plan, true);
    }
  }
  quota_ = plan;
  return caps_of(plan);
}

void session::write_manifest(const session_outcome& outcome,
                             const actors::batch_result* result) const {
  manifest_input in;
  for (std::size_t index = 0; index < config_.images.size(); ++index) {
    in.images.push_back(manifest_entry(index));
  }
  in.options = config_.options;
  in.endpoint = config_.endpoint;
  in.strategy = actors::to_compact(config_.strategy);
  in.max_submits = config_.max_submits;
  in.stopped = to_string(outcome.reason);
  in.delivered = outcome.delivered;
  in.failed = outcome.failed;
  in.remaining = outcome.remaining;
  in.pending = outcome.pending;
  in.submits_paid = outcome.submits_paid;
  in.submits_possibly_paid = outcome.submits_possibly_paid;
  in.submits_refunded = outcome.submits_refunded;
  in.halted_by = outcome.halted_by;
  in.quota_reset = outcome.quota_reset;
  in.quota_reset_utc8 = outcome.quota_reset_utc8;
  in.runs = journal_->previous_runs() + 1;
  if (result != nullptr) {
    in.this_run = manifest_run{result->counters, result->makespan_ms};
  }
  write_file(outcome.manifest, manifest_json(in).dump(2) + "\n", config_.faults);
}

manifest_image session::manifest_entry(std::size_t index) const {
  const auto& st = states_[index];
  manifest_image out;
  out.spec = config_.images[index];
  out.status = status_of(st);
  out.run = st.done_before || st.refused_before ? image_run::earlier
                                                : (st.ran ? image_run::this_run : image_run::none);
  out.task_id = st.task_id;
  out.file = st.file;
  out.sha256 = st.sha256;
  out.bytes = st.bytes;
  out.latency_ms = st.latency_ms;
  out.error_class = st.error_class;
  out.message = st.message;
  out.attempts = st.attempts;
  if (const auto j = journal_->images().find(static_cast<int>(index));
      j != journal_->images().end()) {
    out.submits = j->second.submits;
    out.possibly_paid = j->second.possibly_paid;
  }
  out.earlier = st.earlier;
  return out;
}

}  // namespace zbatch::generate
