// The recommendation (issue 13, section 4): printed right after the terminal table and at the top
// of the Markdown and HTML reports (issue 16); it names the strategy, by how much it wins,
// whether that is beyond the noise across repetitions (preferring the cheaper and politer one
// when it is not), and the hindsight-best with adaptive's distance from it.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reports/render.hpp"
#include "reports/summary.hpp"
#include "reports/terminal.hpp"
#include "tests/reports/test_util.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;
using testing::five_repetitions;
using testing::read_fixture;

std::string joined(const std::vector<std::string>& sentences) {
  std::string out;
  for (const auto& s : sentences) {
    out += s + "\n";
  }
  return out;
}

void set_runs(json& strategy, const std::vector<double>& makespans) {
  double sum = 0;
  for (std::size_t i = 0; i < makespans.size(); ++i) {
    strategy["runs"][i]["makespan_ms"] = makespans[i];
    sum += makespans[i];
  }
  strategy["makespan_ms"] = sum / static_cast<double>(makespans.size());
}

/// results-mixed.json with 5 repetitions (testable), serial's makespans `serial` against
/// adaptive's 6.0/6.6/6.3/6.3/6.3 s: a test finds them alike.
json alike_in_five(const std::vector<double>& serial) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  set_runs(results["strategies"][0], serial);
  return results;
}

TEST(recommendation, names_the_winner_and_why_its_lead_is_beyond_the_noise) {
  // results-mixed.json: adaptive 6.0/6.6/6.3 s, serial 12.0/12.4/12.8 s, both deliver all.
  const auto five = joined(recommendation(five_repetitions(read_fixture("results-mixed.json"))));
  EXPECT_NE(five.find("Recommendation: adaptive, the fastest strategy that delivered every "
                      "deliverable image: 6.3 s against 12.4 s for serial (49% less time), a "
                      "difference larger than the noise (Mann-Whitney p = 0.008 over 5 and 5 "
                      "repetitions)."),
            std::string::npos)
      << five;
  // 3 and 3 repetitions are too few for a test: the faster mean stays the best estimate, its
  // lead called untested, never "cannot be told apart" (a new user's check on off-peak: retry
  // recommended over adaptive, 3× faster in every repetition, for being cheaper).
  const auto text = joined(recommendation(read_fixture("results-mixed.json")));
  EXPECT_NE(text.find("Recommendation: adaptive, the fastest strategy that delivered every "
                      "deliverable image: 6.3 s against 12.4 s for serial (49% less time), a lead "
                      "untested with 3 repetitions each (every repetition of adaptive was faster "
                      "than every one of serial; --repeat 4 or more allows a test)."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("told apart"), std::string::npos) << text;
  EXPECT_EQ(text.find("distinguishable"), std::string::npos) << text;
  const auto found = joined(key_findings(read_fixture("results-mixed.json")));
  EXPECT_NE(found.find("adaptive delivered 4 of 4 images in 6.3 s (1.05× the bound of 6.0 s), 49% "
                       "less time than serial (12.4 s), the next strategy as complete; a lead "
                       "untested with 3 repetitions each"),
            std::string::npos)
      << found;
}

// A new user's check: with every submit refused, "Recommendation: concurrent, the fastest
// strategy that delivered the most deliverable images (0%)" (failing at once is fast).
TEST(recommendation, none_when_no_strategy_delivered_anything) {
  auto results = read_fixture("results-mixed.json");
  for (auto& strategy : results["strategies"]) {
    strategy["success_rate"] = 0.0;
    strategy["deliverable_success_rate"] = 0.0;
  }
  const auto text = joined(recommendation(results));
  EXPECT_EQ(text, "No recommendation: none of the 3 strategies delivered an image.\n") << text;
}

// A new user's check on hung-tail: "the only strategy that delivered the most deliverable
// images" read as a contradiction.
TEST(recommendation, a_lone_leader_short_of_every_image_is_said_plainly) {
  auto results = read_fixture("results-mixed.json");
  results["strategies"][0]["success_rate"] = 0.5;    // serial
  results["strategies"][2]["success_rate"] = 0.999;  // adaptive
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: adaptive, which delivered more deliverable images than any "
                      "other (99.9%, in 6.3 s)."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("the only strategy that delivered the most"), std::string::npos) << text;
}

// A new user's check on flaky: "retry, 98.3% in 649.1 s" said nothing of adaptive's 93.6% in
// 56.2 s, nor whether the lead was beyond the noise.
TEST(recommendation, a_lone_leader_is_set_against_the_next_with_its_time_and_noise) {
  auto results = read_fixture("results-mixed.json");
  results["strategies"][0]["success_rate"] = 0.5;  // serial
  results["strategies"][1]["success_rate"] = 0.9;  // concurrent, 3.2 s
  results["strategies"][2]["success_rate"] = 1.0;  // adaptive, 6.3 s
  for (auto& run : results["strategies"][1]["runs"]) {
    run["success_rate"] = 0.9;
  }
  for (auto& run : results["strategies"][2]["runs"]) {
    run["success_rate"] = 0.95;
  }
  results["strategies"][2]["success_rate"] = 0.95;
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("The next, concurrent, delivered 90% in 3.2 s (2.0× faster); every "
                      "repetition of adaptive delivered more than every one of concurrent; 3 and "
                      "3 repetitions are too few for a test at 5%."),
            std::string::npos)
      << text;
}

// The recommendation shares the gate's Mann-Whitney test: success rates full of ties (a new
// user's preview-4 check) get the exact permutation p = 0.079, not the approximation's 0.041
// that called the lead larger than the noise.
TEST(recommendation, tied_success_rates_get_the_exact_p) {
  auto results = read_fixture("results-mixed.json");
  const std::vector<std::vector<double>> rates = {
      {.25, .25, .25, .25, .25}, {.25, .25, .5, .5, .25}, {.5, .75, .75, .5, .5}};
  for (std::size_t i = 0; i < rates.size(); ++i) {
    auto& s = results["strategies"][i];
    while (s["runs"].size() < 5) {
      s["runs"].push_back(s["runs"][0]);
    }
    double sum = 0;
    for (std::size_t r = 0; r < 5; ++r) {
      s["runs"][r]["success_rate"] = rates[i][r];
      sum += rates[i][r];
    }
    s["success_rate"] = sum / 5;
  }
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("a lead within the noise (Mann-Whitney p = 0.079 over 5 and 5 repetitions)"),
            std::string::npos)
      << text;
}

// One repetition: no test; the faster is the pick, its lead untested (it read "a difference
// larger than the noise (one repetition: a difference under 5% counts as noise)").
TEST(recommendation, one_repetition_says_its_gap_is_not_tested) {
  auto results = read_fixture("results-mixed.json");
  for (auto& s : results["strategies"]) {
    s["runs"] = json::array({s["runs"][0]});
    s["success_rate"] = 1.0;
  }
  set_runs(results["strategies"][1], {3000});  // concurrent
  set_runs(results["strategies"][2], {6000});  // adaptive
  results["strategies"][1]["makespan_ms"] = 3000;
  results["strategies"][2]["makespan_ms"] = 6000;
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: concurrent, the fastest strategy that delivered every "
                      "deliverable image: 3.0 s against 6.0 s for adaptive (50% less time), a lead "
                      "untested with one repetition each (--repeat 4 or more allows a test)."),
            std::string::npos)
      << text;
}

TEST(recommendation, uses_the_mann_whitney_test_when_repetitions_allow_it) {
  auto results = read_fixture("results-mixed.json");
  for (auto& s : results["strategies"]) {
    while (s["runs"].size() < 5) {
      s["runs"].push_back(s["runs"][0]);
    }
  }
  set_runs(results["strategies"][0], {12000, 12400, 12800, 12100, 12300});
  set_runs(results["strategies"][2], {6000, 6600, 6300, 6100, 6200});
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("a difference larger than the noise (Mann-Whitney p = 0.008 over 5 and 5 "
                      "repetitions)"),
            std::string::npos)
      << text;
}

// A new user's check on preview-4: "retry is the cheaper and politer" of two that paid the same.
TEST(recommendation, a_pick_as_cheap_but_politer_is_called_politer_only) {
  auto results = alike_in_five({6100, 6500, 6400, 6300, 6350});
  for (auto& s : results["strategies"]) {
    s["submits_per_image"] = 1.0;
    s["dynamic_429_per_image"] = s["name"] == "serial" ? 0.0 : 0.5;
  }
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("serial is the politer, as cheap (1.00 paid submits and 0.00 dynamic 429s "
                      "per delivered image against 1.00 paid submits and 0.50"),
            std::string::npos)
      << text;
  // The key finding agrees (a new user's check: "as fast as adaptive within the noise and
  // cheaper" under that recommendation).
  const auto found = joined(key_findings(results));
  EXPECT_NE(found.find("; adaptive (6.3 s) is not distinguishable from it, and serial is the "
                       "politer, as cheap (1.00 paid submits"),
            std::string::npos)
      << found;
  EXPECT_EQ(found.find("and cheaper"), std::string::npos) << found;
}

TEST(recommendation, prefers_the_cheaper_of_two_it_cannot_tell_apart) {
  // serial now as fast as adaptive within the noise, and cheaper (1.00 against 1.08 submits).
  const auto results = alike_in_five({6100, 6500, 6400, 6300, 6350});
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: serial. adaptive (6.3 s) and serial (6.3 s) both delivered "
                      "every deliverable image and are not distinguishable (Mann-Whitney p = "
                      "0.587 over 5 and 5 repetitions); serial is the cheaper (1.00 paid "
                      "submits and "
                      "- dynamic 429s per delivered image against 1.08 paid submits"),
            std::string::npos)
      << text;
}

// A new user's check: "Recommendation: bounded-3", a scenario's label that `zbatch generate
// --strategy bounded-3` refuses. A pick that is no preset says how to run it.
TEST(recommendation, a_labelled_pick_says_how_to_run_it) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  const auto preset = joined(recommendation(results));
  EXPECT_NE(preset.find("Recommendation: adaptive, the fastest"), std::string::npos) << preset;
  EXPECT_EQ(preset.find("--strategy"), std::string::npos) << preset;
  results["strategies"][2]["name"] = "bounded-3";
  results["strategies"][2]["spec"] = "inflight=3,pace=none";
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: bounded-3 (--strategy 'inflight=3,pace=none'), the "
                      "fastest strategy"),
            std::string::npos)
      << text;
}

// A pick that resubmits after a lost submit answer was recommended without a word that in
// production such an image may be paid twice (the sim charges only what the mock created).
TEST(recommendation, a_pick_that_resubmits_ambiguous_submits_says_it_may_pay_twice) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  const std::string warning =
      " adaptive resubmits an image whose submit answer was lost (ambiguous=resubmit): in "
      "production that image may be paid twice (zbatch generate holds it by default).";
  EXPECT_EQ(joined(recommendation(results)).find("ambiguous=resubmit"), std::string::npos);
  results["strategies"][2]["spec"] = "inflight=1,ambiguous=resubmit";
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("repetitions)." + warning + "\n"), std::string::npos) << text;
  // Not for a pick that holds such an image, whoever else resubmits.
  results["strategies"][2]["spec"] = "inflight=1,ambiguous=fail";
  results["strategies"][0]["spec"] = "inflight=1,ambiguous=resubmit";
  EXPECT_EQ(joined(recommendation(results)).find("ambiguous=resubmit"), std::string::npos);
}

// A new user's check: a strategy at 99.7% was "the fastest strategy that delivered every
// deliverable image", and the findings called it "as complete" without a word of its loss.
TEST(recommendation, a_pick_that_lost_images_within_the_tolerance_says_so) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  results["strategies"][2]["success_rate"] = 0.997;  // adaptive, 6.3 s
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: adaptive, the fastest strategy that delivered within 0.5% "
                      "of the most deliverable images (adaptive 99.7%, serial 100%): 6.3 s "
                      "against 12.4 s for serial"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("every deliverable image"), std::string::npos) << text;
  const auto found = joined(key_findings(results));
  EXPECT_NE(found.find("the next strategy as complete (within 0.5% of its images: adaptive "
                       "delivered 99.7% of deliverable images, serial 100%)"),
            std::string::npos)
      << found;
}

// A new user's check: with 10 calls left for 2000 images, concurrent (3 images, 0.2%) was
// recommended over strategies that delivered 10 (0.5%): 0.5 point was the whole range.
TEST(recommendation, complete_enough_is_a_share_of_the_best_not_points) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  results["strategies"][0]["success_rate"] = 0.005;   // serial, 12.4 s
  results["strategies"][1]["success_rate"] = 0.0015;  // concurrent, 3.2 s
  results["strategies"][2]["success_rate"] = 0.005;   // adaptive, 6.3 s
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: adaptive, the fastest strategy that delivered the most "
                      "deliverable images (0.5%)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("Recommendation: concurrent"), std::string::npos) << text;
}

// A new user's check: when the fastest stays the pick, its costs were set against its own
// ("bounded3 is as cheap and polite (1.01 ... 0.00 ... against 1.01 ... 0.00 ...)", adaptive
// had 0.63 dynamic 429s per image).
TEST(recommendation, the_fastest_kept_is_set_against_the_runner_up_not_itself) {
  auto results = alike_in_five({6100, 6500, 6400, 6300, 6350});  // serial, as fast within noise
  for (auto& s : results["strategies"]) {
    s["submits_per_image"] = 1.0;
    s["dynamic_429_per_image"] = s["name"] == "serial" ? 0.63 : 0.0;
  }
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("; adaptive is the faster, and the politer, as cheap (1.00 paid submits and "
                      "0.00 dynamic 429s per delivered image against 1.00 paid submits and 0.63 "
                      "dynamic 429s per delivered image)."),
            std::string::npos)
      << text;
  // A tie of the means is no "faster" (a new user's check: five strategies at 6.8 s).
  set_runs(results["strategies"][0], {6000, 6600, 6300, 6300, 6300});  // serial, listed first
  results["strategies"][0]["dynamic_429_per_image"] = 0.0;
  results["strategies"][2]["dynamic_429_per_image"] = 0.63;
  const auto tie = joined(recommendation(results));
  EXPECT_NE(tie.find("; serial is as fast, and the politer, as cheap ("), std::string::npos) << tie;
}

TEST(recommendation, names_the_hindsight_best_and_adaptives_distance) {
  auto results = read_fixture("results-mixed.json");
  results["hindsight"]["best"] =
      json{{"name", "static-2-b100ms-p250ms"}, {"makespan_ms", 5000}, {"spec", "inflight=2"}};
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Hindsight-best: static-2-b100ms-p250ms (inflight=2), 5.0 s; adaptive took "
                      "1.26× as long (6.3 s, 100% of deliverable images)."),
            std::string::npos)
      << text;
  // A new user's check: in http mode regret held the sockets' overhead, and nothing said so.
  results["mode"] = "http";
  const auto http = joined(recommendation(results));
  EXPECT_NE(http.find("100% of deliverable images); the grid plays in virtual time, the rows here "
                      "in http mode, so their regret includes the sockets' overhead."),
            std::string::npos)
      << http;
  EXPECT_NE(reference_lines(results).front().detail.find("the rows here in http mode"),
            std::string::npos);
}

TEST(recommendation, follows_the_terminal_table_and_opens_the_html_report) {
  const auto results = five_repetitions(read_fixture("results-mixed.json"));
  const auto text = terminal_table(results);
  const auto table_end = text.find("adaptive  ");
  const auto advice = text.find("Recommendation: adaptive");
  ASSERT_NE(advice, std::string::npos) << text;
  EXPECT_GT(advice, table_end);
  const auto thresholds = text.find("thresholds:");
  if (thresholds != std::string::npos) {
    EXPECT_LT(advice, thresholds);
  }
  const auto html = render_html(results).value();
  const auto first = html.find("Recommendation: adaptive");
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(first, html.find("<h2>"));
  EXPECT_GT(first, html.find("<h1>"));
}

TEST(key_findings, at_most_three_sentences_of_winner_losses_and_adaptive_distance) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  auto text = key_findings(results);
  ASSERT_EQ(text.size(), 2u);  // No hindsight-best: no third sentence.
  EXPECT_EQ(text[0],
            "adaptive delivered 4 of 4 images in 6.3 s (1.05× the bound of 6.0 s), 49% less "
            "time than serial (12.4 s), the next strategy as complete.");
  EXPECT_EQ(text[1],
            "Against adaptive (1.3 HTTP 429s, 1.08 submits per delivered image, 1.08 credits per "
            "delivered image): concurrent lost 1.7 of 4 images and met 1.7 HTTP 429s; serial took "
            "12.4 s (2.0× as long).");
  // Many losers: four named, the rest counted; still three sentences with the hindsight-best.
  const auto concurrent = results["strategies"][1];
  for (int i = 0; i < 5; ++i) {
    auto copy = concurrent;
    copy["name"] = "lossy-" + std::to_string(i);
    results["strategies"].push_back(copy);
  }
  results["hindsight"]["best"] = json{{"name", "static-2"}, {"makespan_ms", 6200}};
  text = key_findings(results);
  ASSERT_EQ(text.size(), 3u);
  // The worst first: the lossy ones; serial (slower, lost nothing) is the runner-up, the closest
  // to the pick, so it is named last rather than counted (a new user's check on hung-tail).
  EXPECT_NE(text[1].find("): concurrent lost 1.7 of 4 images and met 1.7 HTTP 429s; lossy-0 "),
            std::string::npos)
      << text[1];
  EXPECT_NE(text[1].find("; serial took 12.4 s (2.0× as long); 3 more strategies in the details."),
            std::string::npos)
      << text[1];
  EXPECT_EQ(text[1].find("lossy-2"), std::string::npos) << text[1];
  EXPECT_EQ(text[2],
            "adaptive took 6.3 s, within 5% of the hindsight-best static-2 (6.2 s), with 100% of "
            "deliverable images.");
}

// A new user's check on hung-tail: the lone leader's closest competitor (retry, 93.3%) was
// counted among "1 more strategy in the details" while four farther ones were named.
TEST(key_findings, a_lone_leaders_runner_up_is_always_named) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  results["strategies"][0]["success_rate"] = 0.9;  // serial: the next most
  results["strategies"][0]["failed"] = 0.4;
  const auto concurrent = results["strategies"][1];
  for (int i = 0; i < 3; ++i) {
    auto copy = concurrent;
    copy["name"] = "lossy-" + std::to_string(i);
    results["strategies"].push_back(copy);
  }
  const auto text = key_findings(results);
  ASSERT_GE(text.size(), 2u);
  EXPECT_NE(text[1].find("; serial lost 0.4 of 4 images"), std::string::npos) << text[1];
  EXPECT_NE(text[1].find("; 1 more strategy in the details."), std::string::npos) << text[1];
}

/// A new user's check: "hammer, the fastest ..., a difference larger than the noise" at 14.4
/// dynamic 429s per delivered image, where the hindsight-best may draw 1.
TEST(recommendation, applies_the_hindsight_rules_politeness_budgets) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  for (auto& s : results["strategies"]) {
    s["submits_per_image"] = 1.0;
    s["dynamic_429_per_image"] = s["name"] == "adaptive" ? 14.4 : 0.0;
  }
  results["hindsight"] = json{{"max_submits_per_image", 1.05}, {"max_429_per_image", 1.0}};
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: serial, the only strategy within the politeness budgets "
                      "that delivered every deliverable image (12.4 s). Left out over the "
                      "hindsight rule's politeness budgets (a client that hammers a free service "
                      "risks its key): adaptive (6.3 s, 14.40 dynamic 429s per delivered image "
                      "against at most 1.00 (13.40 over))."),
            std::string::npos)
      << text;
  // The key findings and so both reports agree.
  const auto found = key_findings(results);
  EXPECT_EQ(found.at(0).rfind("serial delivered 4 of 4 images in 12.4 s", 0), 0u) << found[0];
  EXPECT_NE(found[0].find("the only strategy within the politeness budgets that delivered this "
                          "many. Left out over the hindsight rule's politeness budgets"),
            std::string::npos)
      << found[0];
  EXPECT_NE(render_markdown(results).value().find("**Recommendation: serial, the only strategy "
                                                  "within the politeness budgets"),
            std::string::npos);
  // None within the budgets: picked as before, and said to be over, by how much.
  results["strategies"][0]["dynamic_429_per_image"] = 2.0;  // serial
  const auto over = joined(recommendation(results));
  EXPECT_NE(over.find("Recommendation: adaptive, the fastest strategy that delivered every "
                      "deliverable image: 6.3 s against 12.4 s for serial"),
            std::string::npos)
      << over;
  EXPECT_NE(over.find(" adaptive is over the hindsight rule's politeness budget, and so is every "
                      "strategy that delivered as much: 14.40 dynamic 429s per delivered image "
                      "against at most 1.00 (13.40 over)."),
            std::string::npos)
      << over;
  EXPECT_NE(joined(key_findings(results)).find("adaptive is over the hindsight rule's"),
            std::string::npos);
  // The submits budget counts possibly paid submits, as the hindsight rule does: 1.00 accepted
  // but up to 1.20 paid is over 1.05.
  for (auto& s : results["strategies"]) {
    s["dynamic_429_per_image"] = 0.0;
  }
  results["strategies"][2]["submits_per_image_high"] = 1.2;  // adaptive
  const auto high = joined(recommendation(results));
  EXPECT_NE(high.find("Left out over the hindsight rule's politeness budgets (a client that "
                      "hammers a free service risks its key): adaptive (6.3 s, 1.20 paid submits "
                      "per delivered image (possibly paid counted) against at most 1.05 (0.15 "
                      "over))."),
            std::string::npos)
      << high;
}

/// A new user's check: with --no-hindsight (or live) the results carried no budget, so a
/// strategy at 14.4 dynamic 429s per image was recommended without a word. The scenario's own
/// budgets (results.json `budgets`) apply then.
TEST(recommendation, applies_the_scenarios_budgets_without_a_hindsight_grid) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  for (auto& s : results["strategies"]) {
    s["submits_per_image"] = 1.0;
    s["dynamic_429_per_image"] = s["name"] == "adaptive" ? 14.4 : 0.0;
  }
  results["hindsight"] = nullptr;
  results["budgets"] = json{{"max_submits_per_image", 1.05}, {"max_429_per_image", 1.0}};
  const auto text = joined(recommendation(results));
  EXPECT_NE(text.find("Recommendation: serial, the only strategy within the politeness budgets "
                      "that delivered every deliverable image (12.4 s). Left out over the "
                      "scenario's politeness budgets (a client that hammers a free service "
                      "risks its key): adaptive (6.3 s, 14.40 dynamic 429s per delivered image "
                      "against at most 1.00 (13.40 over))."),
            std::string::npos)
      << text;
  // The grid's budgets, raised where no entry met them, win over the scenario's.
  results["hindsight"] = json{{"max_submits_per_image", 1.05}, {"max_429_per_image", 20.0}};
  EXPECT_EQ(joined(recommendation(results)).find("Left out"), std::string::npos);
}

TEST(recommendation, tolerates_results_without_figures) {
  EXPECT_TRUE(recommendation(json::object()).empty());
  EXPECT_TRUE(recommendation(json{{"strategies", json::array({json{{"name", "x"}}})}}).empty());
}

}  // namespace
}  // namespace zbatch::reports
