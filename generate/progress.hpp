#pragma once
/// Progress output of `zbatch generate`: one renderer, three styles. `bar` redraws a single line
/// in place (for a terminal: done/total, in flight, images per minute, ETA, 429s, retries) and
/// prints failures and notices above it; the line is fitted to the terminal's width, read again
/// at every redraw, by dropping the least important fields first (`render_bar_line`). `lines`
/// prints one plain line per event (for logs and pipes), including rate-limited lines naming the
/// 429s and retries as they grow; `json` prints one JSON object per line per event
/// (machine-readable; the `event` field names it: start, accepted, delivered, failed, pending,
/// progress, notice, plan, summary). Images are named by their 0-based index everywhere (`#3`), as
/// in the file names (`3-<seed>.png`) and the JSON.
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

/// What the bar line shows; `render_bar_line` fits it to a width.
struct bar_view {
  std::size_t done = 0;
  std::size_t total = 0;
  std::size_t failed = 0;
  std::size_t pending = 0;
  bool have_figures = false;  ///< False before the first progress event: count and elapsed only.
  std::size_t in_flight = 0;
  double per_minute = 0;
  std::int64_t elapsed_ms = 0;
  std::optional<std::int64_t> eta_ms;  ///< Remaining, counted down; none before an estimate.
  int http_429 = 0;
  int retries = 0;
};

/// The bar line (no control characters) in at most `width` columns, never more: the least
/// important fields go first (elapsed, images per minute, the bar graphic, retries, 429s, in
/// flight, pending, failed, ETA), labels shorten before a field is dropped, and done/total is
/// cut only when nothing else is left. An ETA that ran out while images are still open reads
/// "finishing", never "ETA 0s".
std::string render_bar_line(const bar_view& view, std::size_t width);

/// The columns of the terminal on `fd` (ioctl TIOCGWINSZ), else $COLUMNS, else 80.
std::size_t terminal_width(int fd);

/// How much the renderer says, and where the bar's width comes from.
struct progress_options {
  bool quiet = false;    ///< Only failures, Ctrl-C acknowledgements and the summary.
  bool verbose = false;  ///< The full strategy spec, and per-image lines above the bar too.
  bool colour = false;   ///< Colour FAILED/PENDING (the bar style only; the CLI honours NO_COLOR).
  /// Columns available to the bar, asked at every redraw (default: terminal_width(stdout)).
  std::function<std::size_t()> width;
};

class progress_renderer {
 public:
  /// Reads the time from `now` (the steady clock; tests pass their own).
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
  progress_renderer(
      std::ostream& out, progress_style style,
      clock_fn now = [] { return std::chrono::steady_clock::now(); });

  /// Before `start`: quiet/verbose, colour, the width source.
  void configure(progress_options options);

  /// The batch starts: `total` images, `done_before` delivered in earlier runs, `resumed` tasks
  /// to poll again, `fresh` to submit, `refused_before` refused for moderation in earlier runs
  /// (not submitted again). `strategy` is the full spec (JSON, --verbose); `strategy_label` the
  /// short form the start line shows otherwise (empty: `strategy`).
  void start(std::size_t total, std::size_t done_before, std::size_t resumed, std::size_t fresh,
             const std::string& endpoint, const std::string& strategy,
             std::size_t refused_before = 0, const std::string& strategy_label = {});
  void accepted(std::size_t index, std::int64_t seed, const std::string& task_id);
  /// `latency_ms`: none for a task an earlier run submitted (its submit time is not journaled).
  void delivered(std::size_t index, std::int64_t seed, const std::string& file, std::size_t bytes,
                 std::optional<std::int64_t> latency_ms);
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
  /// The quota plan (generate/quota_plan.hpp) before the first submit or after the probe's
  /// answer: `fields` go into a JSON `plan` event, `text` is printed otherwise (not with
  /// --quiet: a stop it causes is in the summary).
  void plan(const nlohmann::json& fields, const std::string& text);
  /// The final summary; `fields` go into the JSON event, `text` is printed otherwise.
  void summary(const nlohmann::json& fields, const std::string& text);

 private:
  void emit_json(nlohmann::json event);
  void line(const std::string& text);  ///< Prints above the bar (clears and redraws it).
  void draw_bar();
  /// The lines style: one line per kind when its count grew, at most one a second per kind
  /// (`force`: whatever grew since the last line, at the summary).
  void report_trouble(bool force);
  std::string mark(const std::string& word, const char* colour) const;
  bool per_image_lines() const;  ///< accepted/delivered lines: lines style, or bar + verbose.

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
  progress_options options_;
  /// The lines style's trouble lines: the count last printed and when, per kind.
  int shown_429_ = 0;
  int shown_retries_ = 0;
  std::optional<std::chrono::steady_clock::time_point> shown_429_at_;
  std::optional<std::chrono::steady_clock::time_point> shown_retries_at_;
};

/// "1m05s", "42s", "2h03m".
std::string format_duration(std::int64_t ms);

}  // namespace zbatch::generate
