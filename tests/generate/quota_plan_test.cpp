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

// A new user's check: a quota 429 without headers stopped a run, and the rerun planned from the
// figures seen before it ("98 left, fits 2 of 2") and sent 2 submits at once. A journaled quota
// stop newer than the figures makes them unknown until the reset: the first submit goes alone.
TEST(quota_plan, a_quota_stop_after_the_figures_makes_them_unknown_until_the_reset) {
  std::map<std::string, journaled_ratelimit> kept;
  auto& at = kept["https://x"];
  at.account = journaled_allowance{2000, 1990, unix_ms(noon)};
  at.models["m"] = journaled_allowance{500, 98, unix_ms(noon)};
  at.quota_refused_at_ms = unix_ms(noon + minutes(5));
  const auto figures = figures_from_journal(kept, "https://x", "m", noon + minutes(6));
  EXPECT_FALSE(figures.remaining());
  EXPECT_EQ(figures.quota_refused_at, noon + minutes(5));
  const auto plan = plan_quota(2, figures, false, false, noon + minutes(6), "m");
  EXPECT_EQ(plan.decision, quota_decision::probe);
  EXPECT_NE(describe(plan, "m").find("unknown (an earlier run stopped for the quota at "),
            std::string::npos)
      << describe(plan, "m");
  // Figures newer than the stop are the service's word again; so is a count of 0.
  at.models["m"].seen_at_ms = unix_ms(noon + minutes(7));
  EXPECT_EQ(figures_from_journal(kept, "https://x", "m", noon + minutes(8)).remaining(), 98);
  at.models["m"] = journaled_allowance{500, 0, unix_ms(noon)};
  EXPECT_EQ(figures_from_journal(kept, "https://x", "m", noon + minutes(8)).remaining(), 0);
  // After the reset the stop is forgotten with the counts.
  EXPECT_FALSE(figures_from_journal(kept, "https://x", "m", noon + hours(5)).quota_refused_at);
}

model_quota share(std::string model, long long needed, std::optional<long long> remaining,
                  std::optional<long long> limit) {
  model_quota m;
  m.model = std::move(model);
  m.needed = needed;
  m.remaining = remaining;
  m.limit = limit;
  return m;
}

quota_figures account(long long remaining, long long limit = 2000) {
  quota_figures f;
  f.account_limit = limit;
  f.account_remaining = remaining;
  f.seen_at = noon;
  return f;
}

// Several models: each against its own count, all of them against the account's.
TEST(quota_plan_models, each_model_fits_in_its_own_count_and_fit_quota_caps_the_short_one) {
  const std::vector<model_quota> two{share("a", 5, 3, 10), share("b", 2, 150, 200)};
  const auto stop = plan_models(two, account(1900), false, false, noon);
  EXPECT_EQ(stop.decision, quota_decision::stop);
  EXPECT_EQ(stop.needed, 7);
  EXPECT_EQ(stop.allowed, 0);
  EXPECT_FALSE(stop.over_daily_limit);  // a's 5 exceed its 3 left, not its daily 10
  const auto fit = plan_models(two, account(1900), true, false, noon);
  ASSERT_EQ(fit.decision, quota_decision::fit);
  EXPECT_EQ(fit.allowed, 5);  // a: 3 of 5, b: 2 of 2
  ASSERT_EQ(fit.models.size(), 2u);
  EXPECT_EQ(fit.models[0].allowed, 3);
  EXPECT_FALSE(fit.models[1].allowed) << "b fits in its own count: no cap of its own";
  const auto text = describe(fit, "");
  EXPECT_NE(text.find("a 3/10 for 5 image(s), fits 3"), std::string::npos) << text;
  EXPECT_NE(text.find("b 150/200 for 2 image(s), fits 2"), std::string::npos) << text;
  EXPECT_NE(text.find("account 1900/2000"), std::string::npos) << text;
  EXPECT_NE(text.find("fits: 5 of 7"), std::string::npos) << text;
  // Everything within its count: go.
  EXPECT_EQ(plan_models({share("a", 3, 3, 10), share("b", 2, 150, 200)}, account(1900), false,
                        false, noon)
                .decision,
            quota_decision::go);
}

TEST(quota_plan_models, the_account_caps_the_sum_when_every_model_fits_alone) {
  const std::vector<model_quota> two{share("a", 5, 10, 500), share("b", 5, 10, 200)};
  EXPECT_EQ(plan_models(two, account(6), false, false, noon).decision, quota_decision::stop);
  const auto fit = plan_models(two, account(6), true, false, noon);
  ASSERT_EQ(fit.decision, quota_decision::fit);
  EXPECT_EQ(fit.allowed, 6);
  EXPECT_FALSE(fit.models[0].allowed);
  EXPECT_FALSE(fit.models[1].allowed);
  // A day's account limit below the batch: never in one day.
  const auto over = plan_models(two, account(2000, 9), false, false, noon);
  EXPECT_EQ(over.decision, quota_decision::stop);
  EXPECT_TRUE(over.over_daily_limit);
}

TEST(quota_plan_models, a_model_without_figures_is_probed_alone_unless_what_is_known_refuses) {
  // b has no count for today (another model's answer gave the account's): b's probe decides.
  const std::vector<model_quota> fits{share("a", 3, 10, 500), share("b", 4, std::nullopt, 200)};
  const auto probe = plan_models(fits, account(1900), false, false, noon);
  EXPECT_EQ(probe.decision, quota_decision::probe);
  EXPECT_EQ(probe.probe_models(), std::vector<std::string>{"b"});
  EXPECT_NE(describe(probe, "").find("one probe per model"), std::string::npos);
  // Both unknown: one probe each, in the batch's order.
  const auto both =
      plan_models({share("a", 3, std::nullopt, 500), share("b", 4, std::nullopt, 200)},
                  quota_figures{}, false, false, noon);
  EXPECT_EQ(both.probe_models(), (std::vector<std::string>{"a", "b"}));
  // A model with nothing left to make is not listed ("for 0 image(s), fits 0").
  const auto done_a = plan_models({share("a", 0, 10, 500), share("b", 4, 10, 200)}, account(1900),
                                  false, false, noon);
  EXPECT_EQ(describe(done_a, "").find("a 10/500"), std::string::npos) << describe(done_a, "");
  EXPECT_NE(describe(done_a, "").find("per model: b 10/200 for 4 image(s)"), std::string::npos)
      << describe(done_a, "");
  // Unknown counts are said in words ("account ?; a ?/500" read as typos).
  EXPECT_NE(describe(both, "").find("account unknown; per model: a unknown of 500"),
            std::string::npos)
      << describe(both, "");
  // a is known short: without --fit-quota nothing goes, not even b's probe.
  const std::vector<model_quota> short_a{share("a", 11, 10, 500), share("b", 4, std::nullopt, 200)};
  EXPECT_EQ(plan_models(short_a, account(1900), false, false, noon).decision, quota_decision::stop);
  // With it, b is probed and a is capped at its 10 meanwhile.
  const auto fit = plan_models(short_a, account(1900), true, false, noon);
  EXPECT_EQ(fit.decision, quota_decision::probe);
  EXPECT_EQ(fit.models[0].allowed, 10);
  EXPECT_FALSE(fit.models[1].allowed);
  // After every probe, a model whose answer had no headers is no cap: go on its known parts.
  EXPECT_EQ(plan_models(fits, account(1900), false, true, noon).decision, quota_decision::go);
}

TEST(quota_plan_models, more_images_of_a_model_than_its_daily_limit_never_start_blind) {
  // Yesterday's figures: counts unknown, b's limit known (100) and below its 101 images.
  auto b = share("b", 101, std::nullopt, 100);
  b.expired = true;
  quota_figures stale;
  stale.account_limit = 2000;
  stale.expired = true;
  const auto stop = plan_models({share("a", 2, std::nullopt, 500), b}, stale, false, false, noon);
  EXPECT_EQ(stop.decision, quota_decision::stop);
  EXPECT_TRUE(stop.over_daily_limit);
  EXPECT_FALSE(stop.models[0].over_daily_limit);
  EXPECT_TRUE(stop.models[1].over_daily_limit);
  EXPECT_NE(describe(stop, "").find("more than its daily limit"), std::string::npos)
      << describe(stop, "");
  // --fit-quota: the probes find out how much of it fits today.
  EXPECT_EQ(plan_models({share("a", 2, std::nullopt, 500), b}, stale, true, false, noon).decision,
            quota_decision::probe);
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

TEST_F(journal_figures, answers_journaled_out_of_order_keep_the_days_lowest_count) {
  // 2026-12-06 12:00 and 15:00 UTC are one quota day (2026-12-06 20:00 / 23:00 UTC+8); 17:00 UTC
  // is 01:00 UTC+8 of the next day, after the reset.
  constexpr std::int64_t noon = 1'796'558'400'000;
  constexpr std::int64_t hour = 3'600'000;
  {
    auto j = journal::open(dir_, options()).value();
    // Two concurrent submits: the answer saying 5 left was journaled before the one saying 6.
    ASSERT_TRUE(j->record_ratelimit("https://x", "m", {2000, 1995, 500, 5}, noon).ok());
    ASSERT_TRUE(j->record_ratelimit("https://x", "m", {2000, 1996, 500, 6}, noon + 1).ok());
  }
  {
    auto j = journal::open(dir_, options()).value();
    const auto& at = j->ratelimits().at("https://x");
    EXPECT_EQ(at.account->remaining, 1995);
    EXPECT_EQ(at.models.at("m").remaining, 5);
    EXPECT_EQ(at.models.at("m").seen_at_ms, noon + 1);
    ASSERT_TRUE(j->record_ratelimit("https://x", "m", {2000, 1996, 500, 9}, noon + 3 * hour).ok());
  }
  {
    // 9 at 15:00 UTC is still that day's: 5 stays.
    auto j = journal::open(dir_, options()).value();
    EXPECT_EQ(j->ratelimits().at("https://x").models.at("m").remaining, 5);
    ASSERT_TRUE(
        j->record_ratelimit("https://x", "m", {2000, 1999, 500, 499}, noon + 5 * hour).ok());
  }
  // 499 at 17:00 UTC is the next day's, after the reset: it replaces the old day's figure.
  auto j = journal::open(dir_, options()).value();
  const auto& at = j->ratelimits().at("https://x");
  EXPECT_EQ(at.models.at("m").remaining, 499);
  EXPECT_EQ(at.account->remaining, 1999);
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
