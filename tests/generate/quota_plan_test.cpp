// The quota plan (generate/quota_plan.hpp) and the journal's rate-limit figures: what fits,
// when the journal's figures stop counting (the daily reset, 00:00 UTC+8), and a read-only
// journal that writes nothing.
#include "generate/quota_plan.hpp"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "generate/session.hpp"

namespace zbatch::generate {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

/// 2026-12-06 12:00 UTC (20:00 UTC+8): the next reset is 2026-12-06 16:00 UTC.
const system_time noon = system_time(seconds(1796558400));

std::int64_t unix_ms(system_time at) {
  return duration_cast<milliseconds>(at.time_since_epoch()).count();
}

quota_figures left(long long model_remaining, long long model_limit = 500) {
  quota_figures f;
  f.model_limit = model_limit;
  f.model_remaining = model_remaining;
  f.account_limit = 2000;
  f.account_remaining = 1900;
  f.seen_at = noon;
  return f;
}

TEST(quota_plan, what_fits_goes_what_does_not_stops_or_fits_with_the_flag) {
  auto go = plan_quota(10, left(10), false, false, noon);
  EXPECT_EQ(go.decision, quota_decision::go);
  auto stop = plan_quota(11, left(10), false, false, noon);
  EXPECT_EQ(stop.decision, quota_decision::stop);
  EXPECT_EQ(stop.allowed, 0);
  auto fit = plan_quota(11, left(10), true, false, noon);
  EXPECT_EQ(fit.decision, quota_decision::fit);
  EXPECT_EQ(fit.allowed, 10);
  // The account's count is the tighter one here.
  auto account = left(400);
  account.account_remaining = 3;
  EXPECT_EQ(plan_quota(4, account, true, false, noon).allowed, 3);
  EXPECT_EQ(plan_quota(0, left(0), false, false, noon).decision, quota_decision::go);
  EXPECT_EQ(iso_utc(go.resets_at), "2026-12-06T16:00:00Z");
  EXPECT_EQ(reset_text(go.resets_at), "2026-12-06T16:00:00Z (2026-12-07 00:00 UTC+8)");
}

TEST(quota_plan, nothing_known_probes_once_and_a_batch_over_a_known_limit_never_starts_blind) {
  EXPECT_EQ(plan_quota(5, quota_figures{}, false, false, noon).decision, quota_decision::probe);
  // After the probe an answer without headers leaves nothing to plan with: go.
  EXPECT_EQ(plan_quota(5, quota_figures{}, false, true, noon).decision, quota_decision::go);
  quota_figures expired;
  expired.model_limit = 500;
  expired.expired = true;
  auto over = plan_quota(501, expired, false, false, noon);
  EXPECT_EQ(over.decision, quota_decision::stop);
  EXPECT_TRUE(over.over_daily_limit);
  EXPECT_NE(describe(over, "m").find("never in one day"), std::string::npos) << describe(over, "m");
  // With --fit-quota the probe finds out how much of it fits today.
  EXPECT_EQ(plan_quota(501, expired, true, false, noon).decision, quota_decision::probe);
  EXPECT_EQ(plan_quota(500, expired, false, false, noon).decision, quota_decision::probe);
}

TEST(quota_plan, journal_figures_count_until_the_reset_after_they_were_seen) {
  std::map<std::string, journaled_ratelimit> kept;
  auto& at = kept["https://x"];
  at.account = journaled_allowance{2000, 1990, unix_ms(noon)};
  at.models["m"] = journaled_allowance{500, 7, unix_ms(noon)};
  at.models["other"] = journaled_allowance{200, 1, unix_ms(noon)};
  const auto before = figures_from_journal(kept, "https://x", "m", noon + hours(3));
  EXPECT_EQ(before.remaining(), 7);
  EXPECT_FALSE(before.expired);
  EXPECT_EQ(before.seen_at, noon);
  // 16:00 UTC is midnight UTC+8: after it the counts are unknown, the limits still known.
  const auto after = figures_from_journal(kept, "https://x", "m", noon + hours(4));
  EXPECT_FALSE(after.remaining());
  EXPECT_TRUE(after.expired);
  EXPECT_EQ(after.limit(), 500);
  EXPECT_NE(describe(plan_quota(3, after, false, false, noon + hours(4)), "m")
                .find("before the last daily reset"),
            std::string::npos);
  // Another endpoint is another service's count.
  EXPECT_FALSE(figures_from_journal(kept, "https://y", "m", noon).remaining());
}

class journal_figures : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zbatch_quota_" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  json options() const { return json{{"prompt", "a cat"}, {"count", 3}}; }
  fs::path dir_;
};

TEST_F(journal_figures, the_last_line_per_endpoint_and_model_survives_a_reopen) {
  {
    auto j = journal::open(dir_, options()).value();
    ASSERT_TRUE(j->record_ratelimit("https://x", "m", {2000, 1999, 500, 499}, 1000).ok());
    ASSERT_TRUE(j->record_ratelimit("https://x", "m", {2000, 1998, 500, 498}, 2000).ok());
    ASSERT_TRUE(j->record_ratelimit("https://x", "n", {2000, 1997, 200, 199}, 3000).ok());
  }
  auto j = journal::open(dir_, options()).value();
  const auto& at = j->ratelimits().at("https://x");
  EXPECT_EQ(at.account->remaining, 1997);
  EXPECT_EQ(at.account->seen_at_ms, 3000);
  EXPECT_EQ(at.models.at("m").remaining, 498);
  EXPECT_EQ(at.models.at("m").limit, 500);
  EXPECT_EQ(at.models.at("n").remaining, 199);
}

TEST_F(journal_figures, a_read_only_journal_writes_nothing) {
  {
    auto missing = journal::read_only(dir_, options());
    ASSERT_TRUE(missing.ok()) << missing.status().message();
    EXPECT_TRUE((*missing)->images().empty());
    EXPECT_FALSE(fs::exists(dir_)) << "a read-only journal created its directory";
    EXPECT_FALSE((*missing)->record_submitting(0).ok());
  }
  {
    auto j = journal::open(dir_, options()).value();
    ASSERT_TRUE(j->record_submitted(0, 1, "t").ok());
  }
  const auto size = fs::file_size(dir_ / "journal.jsonl");
  auto j = journal::read_only(dir_, options()).value();
  EXPECT_EQ(j->images().at(0).task_id, "t");
  EXPECT_EQ(j->previous_runs(), 1);
  EXPECT_EQ(fs::file_size(dir_ / "journal.jsonl"), size);
  // Other options are refused as by open.
  EXPECT_FALSE(journal::read_only(dir_, json{{"prompt", "a dog"}, {"count", 3}}).ok());
}

}  // namespace
}  // namespace zbatch::generate
