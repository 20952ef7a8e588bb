#include "generate/session.hpp"

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
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
  json earlier;  ///< Its entry in the previous manifest, if any (done_before images).
  system_time finished_at;
  std::optional<std::int64_t> retry_after_ms;
};

namespace {

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

/// Failures after which the task may still be running or was never created: the journal keeps
/// the image's last state (a known task is polled again on the next run; none is resubmitted).
bool settled_failure(const std::string& error_class) {
  return error_class != "cancelled" && error_class != "deadline" &&
         error_class != "server_transport" && error_class != "dynamic_429" &&
         error_class != "quota_429";
}

std::int64_t latency_of(const actors::image_result& result) {
  std::int64_t from = result.queued_at_ms;
  for (const auto& event : result.trace) {
    if (event.kind == actors::trace_kind::submit ||
        (event.kind == actors::trace_kind::accepted && result.resumed && event.t_ms >= from)) {
      from = event.t_ms;
    }
  }
  return result.finished_at_ms - from;
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
    : config_(std::move(config)), progress_(progress) {
  journal_ = std::make_unique<journal>(config_.out_dir, config_.options);
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

void session::stop_with(std::string why) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fatal_.empty()) {
    fatal_ = std::move(why);
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
  try {
    journal_->record_submitted(static_cast<int>(index), seed, task_id);
  } catch (const journal_error& e) {
    stop_with(e.what());
    return;
  }
  progress_.accepted(index, seed, task_id);
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
    try {
      journal_->record_possibly_paid(static_cast<int>(index), result.ambiguous_submits,
                                     result.message);
    } catch (const journal_error& e) {
      stop_with(e.what());
    }
  }
  if (result.delivered) {
    st.file = image_file_name(image, image_extension(result.bytes));
    try {
      client::write_file_atomic(config_.out_dir / st.file, result.bytes);
      st.sha256 = client::sha256_hex(result.bytes);
      st.bytes = static_cast<std::int64_t>(result.bytes.size());
      journal_->record_delivered(static_cast<int>(index), st.task_id, st.file, st.sha256, st.bytes);
    } catch (const std::exception& e) {
      st.file.clear();
      st.error_class = "local";
      st.message = e.what();
      stop_with(e.what());
      return;
    }
    st.delivered = true;
    st.latency_ms = latency_of(result);
    std::string().swap(result.bytes);  // On disk now.
    progress_.delivered(index, seed, st.file, static_cast<std::size_t>(st.bytes), *st.latency_ms);
    return;
  }
  st.error_class = result.error ? std::string(protocol::to_string(*result.error)) : "unknown";
  st.message = result.message;
  const bool settled = settled_failure(st.error_class);
  try {
    if (settled) {
      journal_->record_failed(static_cast<int>(index), st.task_id, st.error_class, st.message,
                              st.attempts);
    }
  } catch (const journal_error& e) {
    stop_with(e.what());
  }
  if (settled) {
    progress_.failed(index, seed, st.error_class, st.message);
  } else {
    // An image never started (the batch stopped first) has nothing worth a line of its own.
    const bool started = result.attempts > 0 || result.resumed;
    progress_.pending(index, seed, st.error_class, st.message, st.task_id, started);
  }
}

session_outcome session::run(const actors::backend_factory& factory) {
  session_outcome outcome;
  outcome.total = config_.images.size();
  outcome.manifest = config_.out_dir / "manifest.json";
  states_.assign(config_.images.size(), image_state{});

  // Earlier manifest entries keep the latencies of images delivered before.
  std::map<std::size_t, json> earlier;
  {
    const auto text = read_file(outcome.manifest);
    const auto old = json::parse(text, nullptr, false);
    if (!old.is_discarded() && old.is_object() && old.contains("images") &&
        old["images"].is_array()) {
      for (const auto& entry : old["images"]) {
        if (entry.is_object() && entry.contains("index") && entry["index"].is_number_unsigned()) {
          earlier[entry["index"].get<std::size_t>()] = entry;
        }
      }
    }
  }

  // Plan against the journal.
  std::vector<actors::image_job> jobs;
  std::size_t resumed = 0;
  const auto& known = journal_->images();
  for (std::size_t index = 0; index < config_.images.size(); ++index) {
    auto& st = states_[index];
    const auto it = known.find(static_cast<int>(index));
    if (it != known.end()) {
      const auto& j = it->second;
      st.task_id = j.task_id;
      if (j.last == journaled_image::state::delivered) {
        const auto path = config_.out_dir / j.file;
        std::error_code ec;
        if (!j.file.empty() && std::filesystem::is_regular_file(path, ec) &&
            client::sha256_hex(read_file(path)) == j.sha256) {
          st.done_before = true;
          st.delivered = true;
          st.file = j.file;
          st.sha256 = j.sha256;
          st.bytes = j.bytes;
          if (auto e = earlier.find(index);
              e != earlier.end() && e->second.value("sha256", "") == j.sha256) {
            st.earlier = e->second;
          }
          continue;
        }
      }
      // Submitted (or delivered but the file is gone or altered): poll that task again.
      if ((j.last == journaled_image::state::submitted ||
           j.last == journaled_image::state::delivered) &&
          !j.task_id.empty()) {
        st.resume_task_id = j.task_id;
        ++resumed;
      }
    }
    actors::image_job job;
    job.request = config_.images[index].request;
    job.resume_task_id = st.resume_task_id;
    job_image_.push_back(index);
    jobs.push_back(std::move(job));
  }
  for (const auto& st : states_) {
    outcome.delivered_before += st.done_before ? 1 : 0;
  }
  progress_.start(outcome.total, outcome.delivered_before, resumed, jobs.size() - resumed,
                  config_.endpoint, actors::to_compact(config_.strategy));

  std::optional<actors::batch_result> result;
  if (!jobs.empty()) {
    caf::actor_system_config cfg;
    cfg.set("logger.verbosity", caf::atom("quiet"));
    caf::actor_system system(cfg);
    auto backend = actors::spawn_blocking_backend(system, factory, config_.connections);
    actors::batch_request request;
    request.jobs = std::move(jobs);
    request.strategy = config_.strategy;
    request.seed = config_.seed;
    request.keep_bytes = true;
    request.max_submits = config_.max_submits;
    request.check_image_size = true;
    actors::batch_callbacks callbacks;
    callbacks.on_notice = [this](const std::string& kind, const std::string& text) {
      progress_.notice(
          kind, kind == "unreachable" ? "cannot reach " + config_.endpoint + ": " + text : text);
    };
    callbacks.on_accepted = [this](std::size_t job, const std::string& task_id) {
      on_accepted(job, task_id);
    };
    callbacks.on_image = [this](actors::image_result& image) { on_image(image); };
    callbacks.on_progress = [this](const actors::progress_event& event) {
      progress_.progress(event);
    };
    actors::batch_runner runner(system, std::move(request), backend, std::move(callbacks));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      runner_ = &runner;
      if (cancel_pending_) {
        runner.cancel();
      } else if (interrupted_) {
        runner.drain(config_.grace);
      }
    }
    std::optional<bar_ticker> ticker;
    if (progress_.ticks()) {
      ticker.emplace(progress_);  // the bar moves between events until the batch is over
    }
    auto done = runner.wait();
    ticker.reset();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      runner_ = nullptr;
    }
    caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
    result = std::move(done);
    outcome.submit_requests = result->counters.submits;
  }

  // Tally over every image of the batch, earlier runs included.
  for (std::size_t index = 0; index < states_.size(); ++index) {
    const auto& st = states_[index];
    if (st.delivered) {
      ++outcome.delivered;
      if (st.latency_ms) {
        outcome.latencies_ms.push_back(*st.latency_ms);
      }
    } else if (st.ran && settled_failure(st.error_class)) {
      ++outcome.failed;
    }
  }
  outcome.remaining = outcome.total - outcome.delivered;
  outcome.pending = outcome.remaining - outcome.failed;
  for (const auto& item : journal_->images()) {
    outcome.submits_paid += item.second.submits;
    outcome.submits_possibly_paid += item.second.possibly_paid;
  }
  std::string stopped = "complete";
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!fatal_.empty()) {
      throw std::runtime_error(fatal_);
    }
    if (interrupted_) {
      outcome.reason = stop_reason::interrupted;
      stopped = "interrupted";
    }
  }
  if (outcome.reason != stop_reason::interrupted) {
    if (result && result->halted_by) {
      outcome.reason = stop_reason::halted;
      outcome.halted_by = result->halted_by->describe();
      stopped = "halted";
    } else if (result && result->quota_exhausted) {
      outcome.reason = stop_reason::quota;
      stopped = "quota";
    } else if (result && result->submit_capped) {
      outcome.reason = stop_reason::submit_cap;
      stopped = "submit_cap";
    } else if (outcome.remaining > 0) {
      outcome.reason = stop_reason::failures;
      stopped = "failures";
    }
  }
  if (result && result->quota_exhausted) {
    std::optional<system_time> reset;
    for (const auto& st : states_) {
      if (st.ran && st.error_class == "quota_429" && st.retry_after_ms) {
        const auto at = st.finished_at + std::chrono::milliseconds(*st.retry_after_ms);
        reset = reset ? std::max(*reset, at) : at;
      }
    }
    outcome.quota_reset_from_service = reset.has_value();
    outcome.quota_reset =
        iso_utc(reset ? *reset : next_quota_reset(std::chrono::system_clock::now()));
  }
  client::write_file_atomic(outcome.manifest,
                            manifest(outcome, result ? &*result : nullptr, stopped).dump(2) + "\n");
  return outcome;
}

json session::manifest(const session_outcome& outcome, const actors::batch_result* result,
                       const std::string& stopped) const {
  json images = json::array();
  const auto& known = journal_->images();
  for (std::size_t index = 0; index < config_.images.size(); ++index) {
    const auto& spec = config_.images[index];
    const auto& st = states_[index];
    const auto j = known.find(static_cast<int>(index));
    const int submits = j == known.end() ? 0 : j->second.submits;
    const int possibly_paid = j == known.end() ? 0 : j->second.possibly_paid;
    json entry{
        {"index", index},
        {"prompt", spec.request.prompt},
        {"seed", spec.request.seed ? json(*spec.request.seed) : json()},
        {"size", spec.request.size ? json(spec.request.size->to_string()) : json()},
        {"task_id", st.task_id.empty() ? json() : json(st.task_id)},
        {"file", st.delivered ? json(st.file) : json()},
        {"bytes", st.delivered ? json(st.bytes) : json()},
        {"sha256", st.delivered ? json(st.sha256) : json()},
        {"latency_ms", st.latency_ms ? json(*st.latency_ms) : json()},
        {"status", st.delivered                                  ? "delivered"
                   : (st.ran && settled_failure(st.error_class)) ? "failed"
                                                                 : "pending"},
        {"error_class", st.delivered || st.error_class.empty() ? json() : json(st.error_class)},
        {"message", st.delivered || st.message.empty() ? json() : json(st.message)},
        {"attempts", st.attempts},
        {"submits", submits},
        {"possibly_paid", possibly_paid},
        {"run", st.done_before ? "earlier" : (st.ran ? "this" : "none")},
    };
    if (spec.line > 0) {
      entry["line"] = spec.line;
    }
    if (spec.request.negative_prompt) {
      entry["negative_prompt"] = *spec.request.negative_prompt;
    }
    if (spec.request.steps) {
      entry["steps"] = *spec.request.steps;
    }
    if (spec.request.guidance) {
      entry["guidance"] = *spec.request.guidance;
    }
    if (st.done_before && st.earlier.is_object()) {
      entry["latency_ms"] = st.earlier.value("latency_ms", json());
      entry["attempts"] = st.earlier.value("attempts", json(0));
    }
    images.push_back(std::move(entry));
  }
  json out{
      {"version", 2},
      {"model", config_.images.empty() ? "" : config_.images.front().request.model},
      {"endpoint", config_.endpoint},
      {"strategy", actors::to_compact(config_.strategy)},
      {"max_submits", config_.max_submits},
      {"stopped", stopped},
      {"total", outcome.total},
      {"delivered", outcome.delivered},
      {"failed", outcome.failed},
      {"remaining", outcome.remaining},
      {"pending", outcome.pending},
      {"submits_paid", outcome.submits_paid},
      {"submits_possibly_paid", outcome.submits_possibly_paid},
      {"halted_by", outcome.halted_by.empty() ? json() : json(outcome.halted_by)},
      {"submits_per_delivered_image", outcome.delivered == 0
                                          ? json()
                                          : json(static_cast<double>(outcome.submits_paid) /
                                                 static_cast<double>(outcome.delivered))},
      {"runs", journal_->previous_runs() + 1},
      {"quota_resets_at", outcome.quota_reset ? json(*outcome.quota_reset) : json()},
      {"images", images},
  };
  if (result != nullptr) {
    out["this_run"] =
        json{{"submit_requests", result->counters.submits},
             {"accepted", result->counters.accepted},
             {"polls", result->counters.polls},
             {"downloads", result->counters.downloads},
             {"http_429", result->counters.http_429_dynamic + result->counters.http_429_quota},
             {"retries", result->counters.retries},
             {"makespan_ms", result->makespan_ms}};
  }
  // One prompt: its options as given (the seed of the first variant as base_seed).
  const auto& options = config_.options;
  if (options.value("mode", "") == "prompt") {
    out["prompt"] = options.value("prompt", "");
    out["count"] = options.value("count", 0);
    out["base_seed"] = options.value("seed", json());
    out["size"] = options.value("size", json());
  }
  return out;
}

}  // namespace zbatch::generate
