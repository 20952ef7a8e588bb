// The bar redraws between events (tick) and only while a batch runs; the other styles never tick.

#include <chrono>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "generate/progress.hpp"

namespace zbatch::generate {
namespace {

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
  now += std::chrono::minutes(5);  // later than the estimate: the ETA stops at zero
  bar.tick();
  const auto text = out.str();
  EXPECT_NE(text.find("5m41s elapsed, ETA 0s"), std::string::npos) << text;
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
  bar.start(4, 0, 0, 4, "e", "s");
  bar.failed(0, 7, "moderation", "m");
  bar.pending(1, 8, "cancelled", "c", "", false);
  bar.pending(2, 9, "cancelled", "c", "", false);
  bar.tick();
  EXPECT_NE(bar_out.str().find("0/4 done, 1 failed, 2 pending"), std::string::npos)
      << bar_out.str();
}

}  // namespace
}  // namespace zbatch::generate
