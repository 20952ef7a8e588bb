// The references beside the bound, in virtual time: the hindsight grid and its pick rule, the
// clairvoyant makespan under a schedule computed by hand, the figures each run gets against
// them, and a tiny scenario whose hindsight-best entry is known in advance.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reports/metric_table.hpp"
#include "scenarios/metrics.hpp"
#include "scenarios/profile.hpp"
#include "scenarios/references.hpp"
#include "scenarios/runner.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/workload.hpp"

namespace zbatch::scenarios {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// ---- the grid ------------------------------------------------------------------------------

TEST(hindsight_grid, has_28_static_entries_with_the_adaptive_presets_other_knobs) {
  const auto& grid = hindsight_grid();
  ASSERT_EQ(grid.size(), 28u);
  const auto adaptive = actors::preset("adaptive").value();
  std::vector<int> limits;
  for (const auto& entry : grid) {
    const auto& spec = entry.spec;
    EXPECT_FALSE(spec.inflight.adaptive) << entry.name;
    limits.push_back(spec.inflight.limit);
    EXPECT_EQ(spec.retry.max_retries, adaptive.retry.max_retries) << entry.name;
    EXPECT_EQ(spec.retry.max_429_retries, adaptive.retry.max_429_retries) << entry.name;
    EXPECT_EQ(spec.retry.jitter, actors::jitter_kind::full) << entry.name;
    EXPECT_EQ(spec.retry.resubmit_ambiguous, adaptive.retry.resubmit_ambiguous) << entry.name;
    EXPECT_EQ(spec.budget.enabled, adaptive.budget.enabled) << entry.name;
    EXPECT_EQ(spec.circuit.enabled, adaptive.circuit.enabled) << entry.name;
    EXPECT_EQ(spec.poll.deadline, adaptive.poll.deadline) << entry.name;
    EXPECT_EQ(spec.poll.factor, adaptive.poll.factor) << entry.name;
    EXPECT_EQ(spec.stop_on_quota, adaptive.stop_on_quota) << entry.name;
    EXPECT_EQ(spec.pacing.type, actors::pacing_spec::kind::none) << entry.name;
  }
  // Four entries (2 backoffs × 2 poll intervals) per in-flight limit, lowest first.
  const std::vector<int> expected_limits = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4,
                                            4, 4, 6, 6, 6, 6, 8, 8, 8, 8, 0, 0, 0, 0};
  EXPECT_EQ(limits, expected_limits);
  EXPECT_EQ(grid[0].name, "static-1-b100ms-p250ms");
  EXPECT_EQ(grid[0].spec.retry.base, actors::millis(100));
  EXPECT_EQ(grid[0].spec.poll.interval, actors::millis(250));
  EXPECT_EQ(grid[3].name, "static-1-b1s-p1s");
  EXPECT_EQ(grid[3].spec.retry.base, actors::millis(1000));
  EXPECT_EQ(grid[3].spec.poll.interval, actors::millis(1000));
  EXPECT_EQ(grid[27].name, "static-unbounded-b1s-p1s");
}

// ---- the pick ------------------------------------------------------------------------------

entry_figures figures(double makespan, double success, double submits, double per_429) {
  return {makespan, success, submits, per_429};
}

TEST(hindsight_pick, the_fastest_entry_within_the_success_and_both_budgets) {
  const std::vector<entry_figures> entries = {
      figures(20000, 1.0, 1.0, 0.0),   // slow, fine
      figures(9000, 0.996, 1.0, 0.5),  // within half a point of the best success: eligible
      figures(8000, 0.99, 1.0, 0.0),   // fast but loses too much
      figures(7000, 1.0, 1.2, 0.0),    // pays too much
      figures(6000, 1.0, 1.0, 2.5),    // impolite
  };
  const auto pick = pick_hindsight_best(entries, hindsight_rules{});
  ASSERT_TRUE(pick.best);
  EXPECT_EQ(*pick.best, 1u);
  EXPECT_DOUBLE_EQ(pick.success_floor, 0.995);
  EXPECT_TRUE(pick.relaxed.empty());
  EXPECT_EQ(pick.verdicts,
            (std::vector<std::string>{"eligible", "best", "success", "submits", "429s"}));
}

// A new user's check: with every submit refused, an entry that delivered nothing was "best",
// its budgets raised to no value (null in results.json), and the run and `report render` then
// aborted on them. No best (results-schema.md: null when no entry had a deliverable image).
TEST(hindsight_pick, nothing_delivered_anywhere_is_no_best_and_keeps_the_budgets) {
  const std::optional<double> none;
  const std::vector<entry_figures> entries = {{9000, 0.0, none, none}, {3000, 0.0, none, none}};
  const auto pick = pick_hindsight_best(entries, hindsight_rules{});
  EXPECT_FALSE(pick.best);
  EXPECT_TRUE(pick.relaxed.empty());
  EXPECT_DOUBLE_EQ(pick.max_submits_per_image, 1.05);
  EXPECT_DOUBLE_EQ(pick.max_429_per_image, 1.0);
  EXPECT_EQ(pick.verdicts, (std::vector<std::string>{"success", "success"}));
}

TEST(hindsight_pick, a_budget_no_entry_meets_rises_to_the_least_reached_plus_its_slack) {
  const std::vector<entry_figures> entries = {
      figures(9000, 1.0, 1.10, 0.0),
      figures(8000, 1.0, 1.14, 0.0),  // within 1.10 + 0.05: the faster one wins
      figures(7000, 1.0, 1.16, 0.0),  // beyond it
      figures(6000, 0.9, 1.00, 0.0),  // meets the budget but not the success floor
  };
  const auto pick = pick_hindsight_best(entries, hindsight_rules{});
  ASSERT_TRUE(pick.best);
  EXPECT_EQ(*pick.best, 1u);
  EXPECT_EQ(pick.relaxed, std::vector<std::string>{"submits_per_image"});
  EXPECT_DOUBLE_EQ(pick.max_submits_per_image, 1.15);
  EXPECT_DOUBLE_EQ(pick.max_429_per_image, 1.0);
  EXPECT_EQ(pick.verdicts[2], "submits");

  // The politeness budget the same way: the least reached plus the budget itself.
  const auto polite = pick_hindsight_best(
      {figures(9000, 1.0, 1.0, 2.0), figures(8000, 1.0, 1.0, 2.9), figures(7000, 1.0, 1.0, 3.5)},
      hindsight_rules{});
  ASSERT_TRUE(polite.best);
  EXPECT_EQ(*polite.best, 1u);
  EXPECT_DOUBLE_EQ(polite.max_429_per_image, 3.0);
}

TEST(hindsight_pick, the_politeness_budget_is_the_rules_and_ties_go_to_the_earlier_entry) {
  const std::vector<entry_figures> entries = {
      figures(8000, 1.0, 1.0, 1.5),
      figures(8000, 1.0, 1.0, 1.5),
      figures(5000, 1.0, 1.0, 3.0),
  };
  hindsight_rules rules;
  rules.max_429_per_image = 2.0;
  const auto pick = pick_hindsight_best(entries, rules);
  ASSERT_TRUE(pick.best);
  EXPECT_EQ(*pick.best, 0u);
  EXPECT_EQ(pick.verdicts[1], "eligible");
  EXPECT_EQ(pick.verdicts[2], "429s");
}

TEST(hindsight_pick, entries_without_a_deliverable_image_cannot_be_best) {
  entry_figures nothing;
  nothing.makespan_ms = 100;
  EXPECT_FALSE(pick_hindsight_best({nothing, nothing}, hindsight_rules{}).best);
  EXPECT_FALSE(pick_hindsight_best({}, hindsight_rules{}).best);
}

// ---- the clairvoyant -----------------------------------------------------------------------

std::vector<planned_image> images_at_once(int count) {
  std::vector<planned_image> out(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    out[static_cast<std::size_t>(i)].index = i;
    out[static_cast<std::size_t>(i)].size = protocol::image_size{1024, 1024};
  }
  return out;
}

api_limits step_limits() {
  api_limits limits;
  limits.in_flight_cap = 1;
  limits.image_ms = [](const protocol::image_size&) { return 3000.0; };
  limit_schedule schedule;
  schedule.base = 1;
  schedule.windows = {{6, 12, 3}};  // 4 in flight from 6 s to 12 s
  schedule.period_s = 86400;
  limits.schedule = schedule;
  return limits;
}

TEST(limit_schedule, reads_the_window_of_the_time_of_day_and_its_next_edge) {
  limit_schedule s;
  s.base = 1;
  s.windows = {{100, 200, 3}, {300, 400, 1}};
  s.period_s = 600;
  EXPECT_EQ(s.limit_at(0), 1);
  EXPECT_EQ(s.limit_at(100'000), 4);
  EXPECT_EQ(s.limit_at(199'999), 4);
  EXPECT_EQ(s.limit_at(200'000), 1);
  EXPECT_EQ(s.limit_at(350'000), 2);
  EXPECT_EQ(s.limit_at(700'000), 4);  // The next day.
  EXPECT_DOUBLE_EQ(s.next_change_ms(0), 100'000);
  EXPECT_DOUBLE_EQ(s.next_change_ms(100'000), 200'000);
  EXPECT_DOUBLE_EQ(s.next_change_ms(450'000), 600'000);
  EXPECT_DOUBLE_EQ(s.next_change_ms(650'000), 700'000);
}

TEST(clairvoyant, keeps_the_allowed_number_in_flight_through_a_step_by_hand) {
  // 12 images of 3 s: 0-3 s and 3-6 s one at a time; at 6 s the limit is 4: four run 6-9 s and
  // four 9-12 s; at 12 s it is 1 again: 12-15 s and 15-18 s. The bound (1 in flight) is 36 s.
  const auto images = images_at_once(12);
  const auto limits = step_limits();
  const auto clairvoyant = compute_clairvoyant(images, limits);
  ASSERT_TRUE(clairvoyant);
  EXPECT_DOUBLE_EQ(clairvoyant->makespan_ms, 18000);
  EXPECT_DOUBLE_EQ(compute_bound(images, limits).makespan_ms, 36000);
  EXPECT_NE(clairvoyant->explanation.find("1..4"), std::string::npos) << clairvoyant->explanation;
  // A window over the whole period: one limit at all times (a new user's check read "1..4 by
  // time" on off-peak, whose limit is 4 all day).
  auto all_day = step_limits();
  all_day.schedule->windows = {{0, 86400, 3}};
  const auto constant = compute_clairvoyant(images, all_day);
  ASSERT_TRUE(constant);
  EXPECT_NE(constant->explanation.find("allows (4 at all times)"), std::string::npos)
      << constant->explanation;
}

TEST(clairvoyant, waits_for_the_submit_rate_too) {
  // One submit per second, a bucket of 1: under a constant limit of 4 the starts are 0, 1, 2,
  // 3 s (then a slot frees at 3 s: 4, 5 s...). 6 images: the last starts at 5 s, done at 8 s.
  const auto images = images_at_once(6);
  auto limits = step_limits();
  limits.schedule->windows = {{0, 86400, 3}};
  limits.submit_rate_per_s = 1;
  limits.submit_burst = 1;
  const auto clairvoyant = compute_clairvoyant(images, limits);
  ASSERT_TRUE(clairvoyant);
  EXPECT_DOUBLE_EQ(clairvoyant->makespan_ms, 8000);
}

TEST(clairvoyant, needs_a_schedule) {
  auto limits = step_limits();
  limits.schedule.reset();
  EXPECT_FALSE(compute_clairvoyant(images_at_once(3), limits));
}

TEST(clairvoyant, reads_the_schedule_of_a_profile_in_schedule_mode_only) {
  mock::mock_config config;
  config.throttle.in_flight_cap = 1;
  config.throttle.dynamic.mode = "load";
  EXPECT_FALSE(limits_from_config(config).schedule);
  config.throttle.dynamic.mode = "schedule";
  config.throttle.dynamic.schedule = {{30, 90, 3}};
  config.throttle.dynamic.schedule_period_s = 600;
  const auto limits = limits_from_config(config);
  ASSERT_TRUE(limits.schedule);
  EXPECT_EQ(limits.schedule->base, 1);
  EXPECT_EQ(limits.schedule->limit_at(45'000), 4);
  EXPECT_DOUBLE_EQ(limits.schedule->period_s, 600);
}

// ---- figures against the references --------------------------------------------------------

run_record record(std::int64_t makespan, int delivered, int moderated, int refused_429) {
  run_record run;
  run.makespan_ms = makespan;
  for (int i = 0; i < delivered + moderated; ++i) {
    image_record image;
    image.index = i;
    image.delivered = i < delivered;
    image.error_class = i < delivered ? "" : "moderation";
    image.finished_at_ms = makespan;
    run.images.push_back(image);
  }
  run.http_429_dynamic = refused_429;
  run.submits = delivered + moderated;
  return run;
}

TEST(reference_figures, each_run_is_measured_against_the_references_of_its_repetition) {
  run_references refs;
  refs.bound_ms = 6000;
  refs.hindsight_ms = {8000, 10000};
  refs.clairvoyant_ms = 4000;
  // 3 of 4 delivered, 1 refused by moderation: every deliverable image came.
  const auto m = compute_metrics(record(12000, 3, 1, 6), 1, refs);
  EXPECT_EQ(m["deliverable_success_rate"], 1.0);
  EXPECT_EQ(m["dynamic_429_per_image"], 2.0);
  EXPECT_EQ(m["efficiency_vs_hindsight"], 0.625);   // 0.75 × 10 / 12
  EXPECT_EQ(m["efficiency_vs_clairvoyant"], 0.25);  // 0.75 × 4 / 12
  EXPECT_EQ(m["regret_ms"], 2000);                  // the second repetition's reference
  EXPECT_EQ(m["efficiency"], 0.375);                // 0.75 × 6 / 12, as before

  // Faster than the reference: efficiency 1 (times success), regret negative.
  const auto fast = compute_metrics(record(5000, 4, 0, 0), 0, refs);
  EXPECT_EQ(fast["efficiency_vs_hindsight"], 1.0);
  EXPECT_EQ(fast["regret_ms"], -3000);
}

TEST(reference_figures, are_null_without_the_reference) {
  const auto m = compute_metrics(record(12000, 0, 0, 3), 0, 6000.0);
  EXPECT_TRUE(m["deliverable_success_rate"].is_null());  // nothing was deliverable
  EXPECT_TRUE(m["dynamic_429_per_image"].is_null());     // nothing was delivered
  EXPECT_TRUE(m["efficiency_vs_hindsight"].is_null());
  EXPECT_TRUE(m["efficiency_vs_clairvoyant"].is_null());
  EXPECT_TRUE(m["regret_ms"].is_null());
}

TEST(reference_figures, summaries_average_them_after_the_existing_figures) {
  run_references refs;
  refs.bound_ms = 6000;
  refs.hindsight_ms = {8000, 10000};
  const auto s =
      summarize("x", "inflight=1", {record(12000, 4, 0, 0), record(11000, 4, 0, 2)}, refs);
  EXPECT_EQ(s["regret_ms"], 2500.0);
  EXPECT_EQ(s["dynamic_429_per_image"], 0.25);
  EXPECT_TRUE(s["efficiency_vs_clairvoyant"].is_null());
  EXPECT_EQ(s["spread"]["regret_ms"]["min"], 1000.0);
  // The new keys follow `efficiency`, so every key before them keeps its place.
  std::vector<std::string> keys;
  for (const auto& item : s.items()) {
    keys.push_back(item.key());
  }
  const auto at = std::find(keys.begin(), keys.end(), "efficiency");
  ASSERT_NE(at, keys.end());
  EXPECT_EQ(*(at + 1), "deliverable_success_rate");
  EXPECT_EQ(*(at + 5), "regret_ms");
  EXPECT_EQ(*(at + 6), "spread");
}

// ---- end to end in virtual time ------------------------------------------------------------

/// Exact times: no queueing, `image_ms` per image, no response delay, no rate limit; `cap` tasks
/// in flight and, with `step`, three more from 6 s to 12 s.
json exact_profile(int cap, bool step, int image_ms) {
  json throttle = {{"in_flight_cap", cap}, {"dynamic", {{"mode", "off"}}}};
  if (step) {
    throttle["dynamic"] = {{"mode", "schedule"},
                           {"schedule", {{{"from_s", 6}, {"to_s", 12}, {"capacity", 3}}}}};
  }
  return json{{"name", "ideal"},
              {"overrides",
               {{"generation",
                 {{"queue", {{"kind", "fixed"}, {"ms", 0}}},
                  {"time", {{"kind", "fixed"}, {"ms", image_ms}}}}},
                {"throttle", throttle}}}};
}

scenario tiny(int cap, bool step, int images, int image_ms) {
  return parse_scenario(json{{"version", 1},
                             {"name", "tiny"},
                             {"profile", exact_profile(cap, step, image_ms)},
                             {"workload", {{"batches", 1}, {"images_per_batch", images}}},
                             {"strategies", json::array({"serial", "bounded"})},
                             {"repetitions", 2},
                             {"seed", 3}},
                        "tiny.json")
      .value();
}

TEST(hindsight_run, picks_two_in_flight_polled_often_under_a_hard_cap_of_two) {
  // Above 2 in flight every submit is refused: 3 or more draw 429s (over the politeness budget
  // or slower), 1 takes twice as long, and polling from 250 ms (×1.1) sees a 1.5 s task end at
  // 1.53 s, polling from 1 s only at 2.1 s. Both backoffs tie without retries: the earlier
  // (short) one is picked.
  const auto results = run_scenario(tiny(2, false, 4, 1500), run_options{}).value();
  const auto& hindsight = results["hindsight"];
  ASSERT_TRUE(hindsight.is_object());
  EXPECT_EQ(hindsight["best"]["name"], "static-2-b100ms-p250ms");
  EXPECT_EQ(hindsight["grid"].size(), 28u);
  EXPECT_EQ(hindsight["best"]["runs_makespan_ms"].size(), 2u);
  EXPECT_TRUE(results["clairvoyant"].is_null());  // no schedule
  // bounded is 2 in flight too but polls every second (it sees each task end at 2 s): its regret
  // is what that costs.
  const auto& bounded = results["strategies"][1];
  const double best = hindsight["best"]["makespan_ms"].get<double>();
  EXPECT_GT(bounded["regret_ms"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(bounded["regret_ms"].get<double>(), bounded["makespan_ms"].get<double>() - best);
  EXPECT_EQ(bounded["runs"][0]["regret_ms"].get<std::int64_t>(),
            bounded["runs"][0]["makespan_ms"].get<std::int64_t>() -
                hindsight["best"]["runs_makespan_ms"][0].get<std::int64_t>());
}

TEST(hindsight_run, can_be_skipped_and_leaves_the_strategies_figures_unchanged) {
  const auto s = tiny(2, false, 4, 1500);
  run_options without;
  without.hindsight = false;
  auto plain = run_scenario(s, without).value();
  auto with = run_scenario(s, run_options{}).value();
  EXPECT_TRUE(plain["hindsight"].is_null());
  EXPECT_TRUE(plain["strategies"][0]["regret_ms"].is_null());
  // Apart from the figures against the hindsight-best, the strategies are the same bytes.
  for (auto* results : {&plain, &with}) {
    for (auto& strategy : (*results)["strategies"]) {
      strategy.erase("regret_ms");
      strategy.erase("efficiency_vs_hindsight");
      strategy["spread"].erase("regret_ms");
      for (auto& run : strategy["runs"]) {
        run.erase("regret_ms");
        run.erase("efficiency_vs_hindsight");
      }
    }
  }
  EXPECT_EQ(plain["strategies"].dump(), with["strategies"].dump());
}

TEST(hindsight_run, reports_the_clairvoyant_of_a_step_schedule) {
  // The step of the clairvoyant test above, played: 12 images of exactly 3 s (3 s of image
  // time: no response delay, no queue), so the clairvoyant is 18 s and the bound 36 s.
  const auto results = run_scenario(tiny(1, true, 12, 3000), run_options{}).value();
  EXPECT_EQ(results["bound"]["makespan_ms"], 36000);
  ASSERT_TRUE(results["clairvoyant"].is_object());
  EXPECT_EQ(results["clairvoyant"]["makespan_ms"], 18000);
  for (const auto& strategy : results["strategies"]) {
    for (const auto& run : strategy["runs"]) {
      const double makespan = run["makespan_ms"].get<double>();
      const double success = run["success_rate"].get<double>();
      if (success == 1.0) {
        EXPECT_GE(makespan, 18000) << strategy["name"];  // nobody delivers all faster
      }
      EXPECT_DOUBLE_EQ(run["efficiency_vs_clairvoyant"].get<double>(),
                       std::round(success * std::min(1.0, 18000 / makespan) * 1000) / 1000)
          << strategy["name"];
    }
  }
  // Every metric of the reports' table reads a number from these results (the reports' own
  // fixtures predate the references).
  const auto document = json::parse(results.dump());
  for (const auto& m : reports::metric_table()) {
    for (const auto& strategy : document["strategies"]) {
      EXPECT_TRUE(reports::metric_value(m, strategy)) << m.path << " " << strategy["name"];
      for (const auto& run : strategy["runs"]) {
        EXPECT_TRUE(reports::metric_value(m, run)) << m.path << " " << strategy["name"];
      }
    }
  }
}

TEST(scenario_file, reads_the_politeness_budget) {
  auto document = json{
      {"version", 1}, {"name", "p"}, {"profile", "ideal"}, {"strategies", json::array({"serial"})}};
  EXPECT_DOUBLE_EQ(parse_scenario(document, "p.json").value().max_429_per_image, 1.0);
  document["hindsight"] = {{"max_429_per_image", 2.5}};
  EXPECT_DOUBLE_EQ(parse_scenario(document, "p.json").value().max_429_per_image, 2.5);
  document["hindsight"] = {{"max_429_per_image", -1}};
  EXPECT_FALSE(parse_scenario(document, "p.json").ok());
  document["hindsight"] = {{"budget", 1}};
  EXPECT_FALSE(parse_scenario(document, "p.json").ok());
}

}  // namespace
}  // namespace zbatch::scenarios
