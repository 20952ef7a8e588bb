#pragma once
/// Progress output of `zbatch generate`: one renderer, three styles. `bar` redraws a single line
/// in place (for a terminal: done/total, in flight, images per minute, ETA, 429s, retries) and
/// prints failures and notices above it; `lines` prints one plain line per event (for logs and
/// pipes); `json` prints one JSON object per line per event (machine-readable; the `event` field
/// names it: start, accepted, delivered, failed, pending, progress, notice, summary).
///
/// Thread-safe: events may come from the coordinator's thread, a signal watcher and the main
/// thread; a mutex orders them. Never given the API key.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/coordinator.hpp"

namespace zbatch::generate {

enum class progress_style { bar, lines, json };

class progress_renderer {
 public:
  /// Reads the time from `now` (the steady clock; tests pass their own).
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
  progress_renderer(
      std::ostream& out, progress_style style,
      clock_fn now = [] { return std::chrono::steady_clock::now(); });

  /// The batch starts: `total` images, `done_before` delivered in earlier runs, `resumed` tasks
  /// to poll again, `fresh` to submit, `refused_before` refused for moderation in earlier runs
  /// (not submitted again).
  void start(std::size_t total, std::size_t done_before, std::size_t resumed, std::size_t fresh,
             const std::string& endpoint, const std::string& strategy,
             std::size_t refused_before = 0);
  void accepted(std::size_t index, std::int64_t seed, const std::string& task_id);
  void delivered(std::size_t index, std::int64_t seed, const std::string& file, std::size_t bytes,
                 std::int64_t latency_ms);
  /// A settled failure: a rerun with the same strategy would meet it again (moderation, a
  /// refused request, failures past the retries).
  void failed(std::size_t index, std::int64_t seed, const std::string& error_class,
              const std::string& message);
  /// An image left for the next run (interrupted, stopped, a task still running or not yet
  /// downloaded at its deadline); `task_id` is its journaled task, if any. Counted always,
  /// printed only when `announce` (an image that never started gets no line of its own).
  void pending(std::size_t index, std::int64_t seed, const std::string& error_class,
               const std::string& message, const std::string& task_id, bool announce);
  void progress(const actors::progress_event& event);
  /// Redraws the bar (elapsed time, ETA counting down) between events; the bar style only, and
  /// only between `start` and `summary`. Images take seconds, so a bar drawn on events alone
  /// would stand still.
  void tick();
  /// True for the bar style: the only one `tick` draws.
  bool ticks() const { return style_ == progress_style::bar; }
  /// A sentence for the user (quota stop, interruption, ...); `kind` labels it in JSON.
  void notice(const std::string& kind, const std::string& text);
  /// The final summary; `fields` go into the JSON event, `text` is printed otherwise.
  void summary(const nlohmann::json& fields, const std::string& text);

 private:
  void emit_json(nlohmann::json event);
  void line(const std::string& text);  ///< Prints above the bar (clears and redraws it).
  void draw_bar();

  std::mutex mutex_;
  std::ostream& out_;
  progress_style style_;
  clock_fn now_;
  std::chrono::steady_clock::time_point start_;
  std::size_t total_ = 0;
  std::size_t done_before_ = 0;
  std::chrono::steady_clock::time_point last_at_;  ///< When `last_` arrived.
  actors::progress_event last_;
  bool have_last_ = false;
  std::size_t failed_ = 0;   ///< Settled failures of this run (failed calls).
  std::size_t pending_ = 0;  ///< Images left for the next run (pending calls).
  bool started_ = false;     ///< Between start and summary.
  bool bar_drawn_ = false;
};

/// "1m05s", "42s", "2h03m".
std::string format_duration(std::int64_t ms);

}  // namespace zbatch::generate
