// The bar redraws between events (tick) and only while a batch runs; the other styles never tick.

#include <chrono>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "generate/progress.hpp"

namespace zbatch::generate {
namespace {

/// Wide enough for every field (the renderer's own width source would read the test's stdout).
progress_options wide() {
  progress_options options;
  options.width = [] { return std::size_t{201}; };
  return options;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(progress_tick, the_bar_is_drawn_before_the_first_image_finishes) {
  std::ostringstream out;
  progress_renderer bar(out, progress_style::bar);
  bar.configure(wide());
  EXPECT_TRUE(bar.ticks());
  bar.tick();  // Not started: nothing to draw.
  EXPECT_EQ(out.str(), "");
  bar.start(3, 1, 0, 2, "http://127.0.0.1:1", "adaptive");
  bar.tick();
  const auto text = out.str();
  EXPECT_NE(text.find("1/3 done, 0s elapsed"), std::string::npos) << text;
  EXPECT_EQ(text.find("in flight"), std::string::npos) << "no event yet, so no figures: " << text;
}

TEST(progress_tick, a_tick_redraws_the_last_event_with_its_eta_counted_down) {
  std::ostringstream out;
  auto now = std::chrono::steady_clock::time_point{};  // a clock the test moves
  progress_renderer bar(out, progress_style::bar, [&now] { return now; });
  bar.configure(wide());
  bar.start(4, 0, 0, 4, "e", "s");
  now += std::chrono::seconds(10);
  actors::progress_event event;
  event.total = 4;
  event.delivered = 1;
  event.in_flight = 2;
  event.eta_ms = 90'000;
  bar.progress(event);
  EXPECT_NE(out.str().find("10s elapsed, ETA 1m30s"), std::string::npos) << out.str();
  now += std::chrono::seconds(31);
  bar.tick();
  EXPECT_NE(out.str().find("41s elapsed, ETA 59s"), std::string::npos) << out.str();
  now += std::chrono::minutes(5);  // later than the estimate: never "ETA 0s" while images run
  bar.tick();
  const auto text = out.str();
  EXPECT_NE(text.find("5m41s elapsed, finishing"), std::string::npos) << text;
  EXPECT_EQ(text.find("ETA 0s"), std::string::npos) << text;
  EXPECT_EQ(count_of(text, "\r\x1b[K["), 3u) << "one draw per event and per tick: " << text;
  EXPECT_EQ(count_of(text, "1/4 done, 2 in flight"), 3u) << text;
}

TEST(progress_tick, a_notice_keeps_a_ticked_bar_under_it) {
  std::ostringstream out;
  progress_renderer bar(out, progress_style::bar);
  bar.start(2, 0, 0, 2, "e", "s");
  bar.tick();
  bar.notice("interrupt", "stopping");
  const auto text = out.str();
  const auto notice = text.find("stopping\n");
  ASSERT_NE(notice, std::string::npos) << text;
  EXPECT_NE(text.find("0/2 done", notice), std::string::npos) << "redrawn below: " << text;
}

TEST(progress_tick, no_tick_after_the_summary_or_in_other_styles) {
  std::ostringstream out;
  progress_renderer bar(out, progress_style::bar);
  bar.start(1, 0, 0, 1, "e", "s");
  bar.summary(nlohmann::json::object(), "done\n");
  const auto before = out.str();
  bar.tick();
  EXPECT_EQ(out.str(), before);

  for (const auto style : {progress_style::lines, progress_style::json}) {
    std::ostringstream plain;
    progress_renderer renderer(plain, style);
    EXPECT_FALSE(renderer.ticks());
    renderer.start(1, 0, 0, 1, "e", "s");
    const auto started = plain.str();
    renderer.tick();
    EXPECT_EQ(plain.str(), started);
  }
}

TEST(progress_counts, failed_and_pending_are_counted_apart_and_unstarted_images_stay_quiet) {
  std::ostringstream out;
  progress_renderer lines(out, progress_style::lines);
  lines.start(4, 0, 0, 4, "e", "s");
  lines.failed(0, 7, "moderation", "moderation: inappropriate content");
  lines.pending(1, 8, "deadline", "deadline: task t-2 still running", "t-2", true);
  EXPECT_NE(out.str().find("  #0 seed 7  FAILED"), std::string::npos)
      << "the 0-based index of the file name: " << out.str();
  lines.pending(2, 9, "cancelled", "cancelled: not started", "", false);
  const auto text = out.str();
  EXPECT_NE(text.find("FAILED     moderation: inappropriate content"), std::string::npos) << text;
  EXPECT_EQ(text.find("moderation: moderation"), std::string::npos) << "the class once: " << text;
  EXPECT_NE(text.find("PENDING    deadline: task t-2 still running (task t-2 journaled"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("not started"), std::string::npos) << text;

  std::ostringstream bar_out;
  progress_renderer bar(bar_out, progress_style::bar);
  bar.configure(wide());
  bar.start(4, 0, 0, 4, "e", "s");
  bar.failed(0, 7, "moderation", "m");
  bar.pending(1, 8, "cancelled", "c", "", false);
  bar.pending(2, 9, "cancelled", "c", "", false);
  bar.tick();
  EXPECT_NE(bar_out.str().find("0/4 done, 1 failed, 2 pending"), std::string::npos)
      << bar_out.str();
}

bar_view busy_view() {
  bar_view v;
  v.done = 1234;
  v.total = 10000;
  v.failed = 12;
  v.pending = 3;
  v.have_figures = true;
  v.in_flight = 17;
  v.per_minute = 123.4;
  v.elapsed_ms = 3'723'000;
  v.eta_ms = 7'380'000;
  v.http_429 = 321;
  v.retries = 45;
  return v;
}

TEST(bar_width, no_line_is_longer_than_the_width_and_the_key_fields_stay_where_they_fit) {
  bar_view early;
  early.total = 6;
  bar_view finishing = busy_view();
  finishing.eta_ms = 0;
  for (const std::size_t width : {40u, 60u, 80u, 120u, 200u}) {
    for (const auto& view : {busy_view(), early, finishing}) {
      const auto line = render_bar_line(view, width);
      EXPECT_LE(line.size(), width) << line;
      const auto count = std::to_string(view.done) + "/" + std::to_string(view.total);
      EXPECT_NE(line.find(count), std::string::npos) << width << ": " << line;
      EXPECT_EQ(line.find("ETA 0s"), std::string::npos) << line;
    }
    const auto line = render_bar_line(busy_view(), width);
    // The ETA is the last field to go: it fits at every width tested.
    EXPECT_NE(line.find("ETA 2h03m"), std::string::npos) << width << ": " << line;
    EXPECT_NE(line.find("12 fail"), std::string::npos) << width << ": " << line;
    if (width >= 60) {
      EXPECT_NE(line.find("429"), std::string::npos) << width << ": " << line;
      EXPECT_NE(line.find("17 "), std::string::npos) << "in flight: " << width << ": " << line;
    }
    if (width >= 80) {
      EXPECT_NE(line.find("retr"), std::string::npos) << width << ": " << line;
      EXPECT_NE(line.find("["), std::string::npos) << "the graphic: " << width << ": " << line;
    }
    if (width >= 200) {
      EXPECT_NE(line.find("1234/10000 done, 12 failed, 3 pending, 17 in flight, 123.4 img/min, "
                          "1h02m elapsed, ETA 2h03m, 429s 321, retries 45"),
                std::string::npos)
          << line;
    }
    EXPECT_NE(render_bar_line(finishing, width).find("finishing"), std::string::npos)
        << width << ": " << render_bar_line(finishing, width);
  }
  EXPECT_EQ(render_bar_line(busy_view(), 5), "1234/");  // narrower than the count: cut, not wrapped
}

TEST(bar_width, the_renderer_asks_the_width_at_every_redraw) {
  std::ostringstream out;
  std::size_t columns = 200;
  progress_renderer bar(out, progress_style::bar);
  progress_options options;
  options.width = [&columns] { return columns; };
  bar.configure(options);
  bar.start(10000, 0, 0, 10000, "e", "s");
  auto event = actors::progress_event{};
  event.delivered = 1234;
  event.in_flight = 17;
  event.eta_ms = 7'380'000;
  event.http_429 = 321;
  event.retries = 45;
  for (const std::size_t width : {200u, 40u, 60u, 80u, 120u}) {
    columns = width;  // a resize between redraws
    out.str("");
    bar.progress(event);
    const auto text = out.str();
    ASSERT_EQ(text.rfind("\r\x1b[K", 0), 0u) << text;
    const auto line = text.substr(4);
    EXPECT_LT(line.size(), width) << "one column left free: " << line;
    EXPECT_NE(line.find("1234/10000"), std::string::npos) << line;
  }
}

TEST(plain_lines, 429s_and_retries_are_named_as_they_grow_at_most_once_a_second_per_kind) {
  std::ostringstream out;
  auto now = std::chrono::steady_clock::time_point{};
  progress_renderer lines(out, progress_style::lines, [&now] { return now; });
  lines.start(12, 0, 0, 12, "e", "s");
  actors::progress_event event;
  event.total = 12;
  event.http_429 = 1;
  lines.progress(event);
  EXPECT_NE(out.str().find("rate limited: 1 HTTP 429 answer(s) so far (+1)"), std::string::npos)
      << out.str();
  event.http_429 = 3;
  event.retries = 2;
  now += std::chrono::milliseconds(400);
  lines.progress(event);  // the 429 line waits out its second; retries are a kind of their own
  EXPECT_EQ(count_of(out.str(), "rate limited"), 1u) << out.str();
  EXPECT_NE(out.str().find("retries: 2 so far (+2)"), std::string::npos) << out.str();
  event.http_429 = 4;
  now += std::chrono::milliseconds(700);
  lines.progress(event);
  EXPECT_NE(out.str().find("rate limited: 4 HTTP 429 answer(s) so far (+3)"), std::string::npos)
      << "aggregated: " << out.str();
  EXPECT_EQ(count_of(out.str(), "retries:"), 1u) << "unchanged, no line: " << out.str();
  event.http_429 = 5;
  event.retries = 3;
  now += std::chrono::milliseconds(10);
  lines.progress(event);
  lines.summary(nlohmann::json::object(), "done\n");
  const auto text = out.str();
  EXPECT_NE(text.find("rate limited: 5 HTTP 429 answer(s) so far (+1)"), std::string::npos)
      << "what grew since the last line is said before the summary: " << text;
  EXPECT_NE(text.find("retries: 3 so far (+1)\ndone"), std::string::npos) << text;
}

TEST(plain_lines, quiet_prints_only_failures_the_interrupt_and_the_summary) {
  std::ostringstream out;
  progress_renderer lines(out, progress_style::lines);
  progress_options options;
  options.quiet = true;
  lines.configure(options);
  lines.start(3, 0, 0, 3, "e", "s");
  lines.accepted(0, 7, "t-1");
  lines.delivered(0, 7, "0-7.png", 10, 100);
  lines.pending(1, 8, "deadline", "d", "t-2", true);
  lines.notice("quota", "stopped by the quota");
  actors::progress_event event;
  event.http_429 = 3;
  lines.progress(event);
  lines.failed(2, 9, "moderation", "refused");
  lines.notice("interrupt", "interrupted");
  lines.summary(nlohmann::json::object(), "delivered 1/3\n");
  EXPECT_EQ(out.str(), "  #2 seed 9  FAILED     moderation: refused\ninterrupted\ndelivered 1/3\n");
}

TEST(plain_lines, the_start_line_names_the_strategy_shortly_unless_verbose) {
  const std::string spec(300, 'x');
  std::ostringstream out;
  progress_renderer lines(out, progress_style::lines);
  lines.start(2, 0, 0, 2, "e", spec, 0, "adaptive");
  EXPECT_NE(out.str().find("strategy adaptive"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("#0..#1"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find(spec), std::string::npos) << out.str();

  std::ostringstream verbose_out;
  progress_renderer verbose(verbose_out, progress_style::lines);
  progress_options options;
  options.verbose = true;
  verbose.configure(options);
  verbose.start(2, 0, 0, 2, "e", spec, 0, "adaptive");
  EXPECT_NE(verbose_out.str().find(spec), std::string::npos) << verbose_out.str();
}

TEST(bar_colour, only_when_asked) {
  for (const bool colour : {false, true}) {
    std::ostringstream out;
    progress_renderer bar(out, progress_style::bar);
    auto options = wide();
    options.colour = colour;
    bar.configure(options);
    bar.start(1, 0, 0, 1, "e", "s");
    bar.failed(0, 1, "moderation", "no");
    EXPECT_EQ(out.str().find("\x1b[31mFAILED\x1b[0m") != std::string::npos, colour) << out.str();
  }
}

}  // namespace
}  // namespace zbatch::generate
