#include "generate/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <utility>
#include <vector>

namespace zbatch::generate {

using nlohmann::json;

std::string format_duration(std::int64_t ms) {
  const std::int64_t s = std::max<std::int64_t>(0, ms) / 1000;
  std::ostringstream out;
  if (s >= 3600) {
    out << s / 3600 << "h" << std::setw(2) << std::setfill('0') << (s % 3600) / 60 << "m";
  } else if (s >= 60) {
    out << s / 60 << "m" << std::setw(2) << std::setfill('0') << s % 60 << "s";
  } else {
    out << s << "s";
  }
  return out.str();
}

std::size_t terminal_width(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr) {
    const long parsed = std::strtol(columns, nullptr, 10);
    if (parsed > 0 && parsed < 10000) {
      return static_cast<std::size_t>(parsed);
    }
  }
  return 80;
}

namespace {

/// One field of the bar line: its full and short text and when it goes (a higher `drop` goes
/// first; 0 never goes).
struct bar_field {
  std::string full;
  std::string brief;
  int drop = 0;
};

constexpr int drop_graphic = 7;  ///< The [####....] graphic's place in the drop order.
constexpr std::size_t graphic_min = 10;
constexpr std::size_t graphic_max = 24;

std::string one_decimal(double value) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << value;
  return out.str();
}

}  // namespace

std::string render_bar_line(const bar_view& v, std::size_t width) {
  const std::string count = std::to_string(v.done) + "/" + std::to_string(v.total);
  // Display order; `drop` gives the order in which fields go when the line is too long:
  // elapsed (9), images per minute (8), the graphic (7), retries (6), 429s (5), in flight (4),
  // pending (3), failed (2), ETA (1); done/total (0) stays.
  std::vector<bar_field> fields;
  fields.push_back({count + " done", count, 0});
  if (v.failed > 0) {
    fields.push_back({std::to_string(v.failed) + " failed", std::to_string(v.failed) + " fail", 2});
  }
  if (v.pending > 0) {
    fields.push_back(
        {std::to_string(v.pending) + " pending", std::to_string(v.pending) + " pend", 3});
  }
  const std::string elapsed = format_duration(v.elapsed_ms);
  if (!v.have_figures) {
    fields.push_back({elapsed + " elapsed", elapsed, 9});
  } else {
    fields.push_back(
        {std::to_string(v.in_flight) + " in flight", std::to_string(v.in_flight) + " run", 4});
    const std::string rate = one_decimal(v.per_minute);
    fields.push_back({rate + " img/min", rate + "/min", 8});
    fields.push_back({elapsed + " elapsed", elapsed, 9});
    const bool open = v.done + v.failed + v.pending < v.total;
    if (!v.eta_ms) {
      fields.push_back({"ETA -", "ETA -", 1});
    } else if (*v.eta_ms >= 1000) {
      const std::string eta = "ETA " + format_duration(*v.eta_ms);
      fields.push_back({eta, eta, 1});
    } else if (open) {
      // The estimate ran out but images are still open: no "ETA 0s" while a task still runs.
      fields.push_back({"finishing", "finishing", 1});
    }
    fields.push_back(
        {"429s " + std::to_string(v.http_429), "429:" + std::to_string(v.http_429), 5});
    fields.push_back(
        {"retries " + std::to_string(v.retries), "retry:" + std::to_string(v.retries), 6});
  }
  const std::size_t done_or_over = std::min(v.total, v.done + v.failed + v.pending);
  for (int keep = 9; keep >= 0; --keep) {
    for (const bool brief : {false, true}) {
      std::string text;
      for (const auto& field : fields) {
        if (field.drop <= keep) {
          text += (text.empty() ? "" : ", ") + (brief ? field.brief : field.full);
        }
      }
      if (keep >= drop_graphic) {
        // "[" graphic "] " text: the graphic takes what is left, between its bounds.
        if (text.size() + 3 + graphic_min > width) {
          continue;
        }
        const std::size_t g = std::min(graphic_max, width - text.size() - 3);
        const std::size_t filled = v.total == 0 ? g : g * done_or_over / v.total;
        return "[" + std::string(filled, '#') + std::string(g - filled, '.') + "] " + text;
      }
      if (text.size() <= width) {
        return text;
      }
    }
  }
  return count.substr(0, width);
}

namespace {

/// "class: message", without saying the class twice when the message already starts with it
/// (messages are api_error::describe(): "deadline: task ...").
std::string class_and_message(const std::string& error_class, const std::string& message) {
  if (message.rfind(error_class, 0) == 0) {
    return message;
  }
  return error_class + ": " + message;
}

}  // namespace

progress_renderer::progress_renderer(std::ostream& out, progress_style style, clock_fn now)
    : out_(out), style_(style), now_(std::move(now)), start_(now_()) {}

void progress_renderer::emit_json(json event) {
  event["t_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(now_() - start_).count();
  out_ << event.dump() << "\n" << std::flush;
}

void progress_renderer::line(const std::string& text) {
  if (style_ == progress_style::bar && bar_drawn_) {
    out_ << "\r\x1b[K";
  }
  const bool redraw = style_ == progress_style::bar && bar_drawn_;
  out_ << text << "\n";
  if (redraw) {
    draw_bar();
  }
  out_ << std::flush;
}

void progress_renderer::draw_bar() {
  const auto now = now_();
  const auto ms = [](auto duration) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  };
  bar_view view;
  view.done = done_before_ + last_.delivered;
  view.total = total_;
  view.failed = failed_;
  view.pending = pending_;
  view.elapsed_ms = ms(now - start_);
  view.have_figures = have_last_;
  if (have_last_) {
    view.in_flight = last_.in_flight;
    view.per_minute = view.elapsed_ms > 0 ? last_.delivered * 60000.0 / view.elapsed_ms : 0.0;
    if (last_.eta_ms) {
      // The ETA of the last event, counted down since it came.
      view.eta_ms = std::max<std::int64_t>(0, *last_.eta_ms - ms(now - last_at_));
    }
    view.http_429 = last_.http_429;
    view.retries = last_.retries;
  }
  // One column is left free: a line that fills the last column makes some terminals wrap.
  const std::size_t columns = options_.width ? options_.width() : terminal_width(STDOUT_FILENO);
  out_ << "\r\x1b[K" << render_bar_line(view, columns > 1 ? columns - 1 : 1) << std::flush;
  bar_drawn_ = true;
}

void progress_renderer::configure(progress_options options) {
  std::lock_guard<std::mutex> lock(mutex_);
  options_ = std::move(options);
}

std::string progress_renderer::mark(const std::string& word, const char* colour) const {
  if (!options_.colour || style_ != progress_style::bar) {
    return word;
  }
  return std::string("\x1b[") + colour + "m" + word + "\x1b[0m";
}

void progress_renderer::report_trouble(bool force) {
  if (style_ != progress_style::lines || options_.quiet || !have_last_) {
    return;
  }
  const auto now = now_();
  const auto due = [&](const std::optional<std::chrono::steady_clock::time_point>& at) {
    return force || !at || now - *at >= std::chrono::seconds(1);
  };
  if (last_.http_429 > shown_429_ && due(shown_429_at_)) {
    line("  rate limited: " + std::to_string(last_.http_429) + " HTTP 429 answer(s) so far (+" +
         std::to_string(last_.http_429 - shown_429_) + ")");
    shown_429_ = last_.http_429;
    shown_429_at_ = now;
  }
  if (last_.retries > shown_retries_ && due(shown_retries_at_)) {
    line("  retries: " + std::to_string(last_.retries) + " so far (+" +
         std::to_string(last_.retries - shown_retries_) + ")");
    shown_retries_ = last_.retries;
    shown_retries_at_ = now;
  }
}

void progress_renderer::start(std::size_t total, std::size_t done_before, std::size_t resumed,
                              std::size_t fresh, const std::string& endpoint,
                              const std::string& strategy, std::size_t refused_before,
                              const std::string& strategy_label) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = total;
  done_before_ = done_before;
  start_ = now_();
  started_ = true;
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "start"},
                   {"total", total},
                   {"done_before", done_before},
                   {"resumed", resumed},
                   {"to_submit", fresh},
                   {"refused_before", refused_before},
                   {"endpoint", endpoint},
                   {"strategy", strategy}});
    return;
  }
  if (options_.quiet) {
    return;
  }
  std::ostringstream text;
  text << "zbatch generate: " << total << " image(s)";
  if (total > 1) {
    text << " (#0..#" << total - 1 << ", as in the file names)";
  }
  text << " against " << endpoint << ", strategy ";
  if (options_.verbose || strategy_label.empty()) {
    text << strategy;
  } else {
    text << strategy_label;
  }
  if (done_before > 0 || resumed > 0 || refused_before > 0) {
    text << "; resuming: " << done_before << " already delivered, " << resumed
         << " task(s) to poll again, " << fresh << " to submit";
    if (refused_before > 0) {
      text << ", " << refused_before
           << " refused for moderation before (not paid again; --retry-moderated submits them)";
    }
  }
  line(text.str());
}

namespace {

/// "  #3 seed 1003  " : the image as its file is named (3-1003.png).
std::string image_label(std::size_t index, std::int64_t seed) {
  return "  #" + std::to_string(index) + " seed " + std::to_string(seed) + "  ";
}

}  // namespace

bool progress_renderer::per_image_lines() const {
  return !options_.quiet &&
         (style_ == progress_style::lines || (style_ == progress_style::bar && options_.verbose));
}

void progress_renderer::accepted(std::size_t index, std::int64_t seed, const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "accepted"}, {"index", index}, {"seed", seed}, {"task_id", task_id}});
  } else if (per_image_lines()) {
    line(image_label(index, seed) + "accepted   task " + task_id);
  }
}

void progress_renderer::delivered(std::size_t index, std::int64_t seed, const std::string& file,
                                  std::size_t bytes, std::optional<std::int64_t> latency_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "delivered"},
                   {"index", index},
                   {"seed", seed},
                   {"file", file},
                   {"bytes", bytes},
                   {"latency_ms", latency_ms ? json(*latency_ms) : json()}});
  } else if (per_image_lines()) {
    std::ostringstream text;
    text << image_label(index, seed) << "delivered  " << std::fixed << std::setprecision(1);
    if (latency_ms) {
      text << *latency_ms / 1000.0 << " s  ";
    } else {
      text << "(a task of an earlier run)  ";
    }
    text << file << " (" << bytes << " bytes)";
    line(text.str());
  }
}

void progress_renderer::failed(std::size_t index, std::int64_t seed, const std::string& error_class,
                               const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failed_;
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "failed"},
                   {"index", index},
                   {"seed", seed},
                   {"error_class", error_class},
                   {"message", message}});
    return;
  }
  // A failure is an error: printed even with --quiet.
  line(image_label(index, seed) + mark("FAILED", "31") + "     " +
       class_and_message(error_class, message));
}

void progress_renderer::pending(std::size_t index, std::int64_t seed,
                                const std::string& error_class, const std::string& message,
                                const std::string& task_id, bool announce) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++pending_;
  if (!announce) {
    return;
  }
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "pending"},
                   {"index", index},
                   {"seed", seed},
                   {"error_class", error_class},
                   {"message", message},
                   {"task_id", task_id.empty() ? json() : json(task_id)}});
    return;
  }
  if (options_.quiet) {
    return;  // Counted in the summary.
  }
  line(image_label(index, seed) + mark("PENDING", "33") + "    " +
       class_and_message(error_class, message) +
       (task_id.empty() ? "" : " (task " + task_id + " journaled for the next run)"));
}

void progress_renderer::progress(const actors::progress_event& event) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_ = event;
  last_at_ = now_();
  have_last_ = true;
  if (style_ == progress_style::json) {
    json out{{"event", "progress"},      {"done", done_before_ + event.delivered},
             {"failed", failed_},        {"pending", pending_},
             {"total", total_},          {"in_flight", event.in_flight},
             {"queued", event.queued},   {"http_429", event.http_429},
             {"retries", event.retries}, {"eta_ms", event.eta_ms ? json(*event.eta_ms) : json()},
             {"final", event.final}};
    emit_json(std::move(out));
  } else if (style_ == progress_style::bar && !options_.quiet) {
    draw_bar();
  } else {
    report_trouble(false);
  }
}

void progress_renderer::tick() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::bar && started_ && !options_.quiet) {
    draw_bar();
  }
}

void progress_renderer::notice(const std::string& kind, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "notice"}, {"kind", kind}, {"message", text}});
    return;
  }
  // --quiet keeps the answers to Ctrl-C (the user asked); the other notices reach the summary.
  if (options_.quiet && kind.rfind("interrupt", 0) != 0) {
    return;
  }
  line(text);
}

void progress_renderer::plan(const json& fields, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    auto event = fields;
    event["event"] = "plan";
    emit_json(std::move(event));
    return;
  }
  if (!options_.quiet) {
    line(text);
  }
}

void progress_renderer::summary(const json& fields, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    auto event = fields;
    event["event"] = "summary";
    emit_json(std::move(event));
    return;
  }
  report_trouble(true);
  if (style_ == progress_style::bar && bar_drawn_) {
    out_ << "\n";
    bar_drawn_ = false;
  }
  have_last_ = false;
  started_ = false;
  out_ << text << std::flush;
}

}  // namespace zbatch::generate
