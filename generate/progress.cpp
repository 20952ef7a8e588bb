#include "generate/progress.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <utility>

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
  const std::size_t done = done_before_ + last_.delivered;
  const auto now = now_();
  const auto ms = [](auto duration) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  };
  const auto elapsed = ms(now - start_);
  constexpr int width = 24;
  const std::size_t over = done + failed_ + pending_;
  const int filled = total_ == 0 ? width : static_cast<int>(width * over / total_);
  std::ostringstream bar;
  bar << "\r\x1b[K[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done
      << "/" << total_ << " done";
  if (failed_ > 0) {
    bar << ", " << failed_ << " failed";
  }
  if (pending_ > 0) {
    bar << ", " << pending_ << " pending";
  }
  if (!have_last_) {
    bar << ", " << format_duration(elapsed) << " elapsed";
  } else {
    // The ETA of the last event, counted down since it came.
    std::string eta = "-";
    if (last_.eta_ms) {
      eta = format_duration(std::max<std::int64_t>(0, *last_.eta_ms - ms(now - last_at_)));
    }
    bar << ", " << last_.in_flight << " in flight, " << std::fixed << std::setprecision(1)
        << (elapsed > 0 ? last_.delivered * 60000.0 / elapsed : 0.0) << " img/min, "
        << format_duration(elapsed) << " elapsed, ETA " << eta << ", 429s " << last_.http_429
        << ", retries " << last_.retries;
  }
  out_ << bar.str() << std::flush;
  bar_drawn_ = true;
}

void progress_renderer::start(std::size_t total, std::size_t done_before, std::size_t resumed,
                              std::size_t fresh, const std::string& endpoint,
                              const std::string& strategy, std::size_t refused_before) {
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
  std::ostringstream text;
  text << "zbatch generate: " << total << " image(s) against " << endpoint << ", strategy "
       << strategy;
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

void progress_renderer::accepted(std::size_t index, std::int64_t seed, const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "accepted"}, {"index", index}, {"seed", seed}, {"task_id", task_id}});
  } else if (style_ == progress_style::lines) {
    line("  [" + std::to_string(index + 1) + "/" + std::to_string(total_) + "] seed " +
         std::to_string(seed) + "  accepted   task " + task_id);
  }
}

void progress_renderer::delivered(std::size_t index, std::int64_t seed, const std::string& file,
                                  std::size_t bytes, std::int64_t latency_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "delivered"},
                   {"index", index},
                   {"seed", seed},
                   {"file", file},
                   {"bytes", bytes},
                   {"latency_ms", latency_ms}});
  } else if (style_ == progress_style::lines) {
    std::ostringstream text;
    text << "  [" << index + 1 << "/" << total_ << "] seed " << seed << "  delivered  "
         << std::fixed << std::setprecision(1) << latency_ms / 1000.0 << " s  " << file << " ("
         << bytes << " bytes)";
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
  line("  [" + std::to_string(index + 1) + "/" + std::to_string(total_) + "] seed " +
       std::to_string(seed) + "  FAILED     " + class_and_message(error_class, message));
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
  line("  [" + std::to_string(index + 1) + "/" + std::to_string(total_) + "] seed " +
       std::to_string(seed) + "  PENDING    " + class_and_message(error_class, message) +
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
  } else if (style_ == progress_style::bar) {
    draw_bar();
  }
}

void progress_renderer::tick() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::bar && started_) {
    draw_bar();
  }
}

void progress_renderer::notice(const std::string& kind, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    emit_json(json{{"event", "notice"}, {"kind", kind}, {"message", text}});
    return;
  }
  line(text);
}

void progress_renderer::summary(const json& fields, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (style_ == progress_style::json) {
    auto event = fields;
    event["event"] = "summary";
    emit_json(std::move(event));
    return;
  }
  if (style_ == progress_style::bar && bar_drawn_) {
    out_ << "\n";
    bar_drawn_ = false;
  }
  have_last_ = false;
  started_ = false;
  out_ << text << std::flush;
}

}  // namespace zbatch::generate
