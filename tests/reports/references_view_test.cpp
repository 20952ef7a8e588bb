// The references beside the bound in every view: the terminal, Markdown, HTML and CSV show the
// hindsight-best and clairvoyant and the figures against them when the results carry them (and
// nothing new when they do not), and the compare step fails when a strategy's regret grows.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "reports/compare.hpp"
#include "reports/render.hpp"
#include "reports/terminal.hpp"
#include "tests/reports/test_util.hpp"
#include "tests/reports/xml_check.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;
using testing::parse_xml;
using testing::read_fixture;

/// results-mixed.json (serial 12.4 s, concurrent 3.2 s, adaptive 6.3 s; three repetitions) as a
/// run with the grid and a schedule would write it: the hindsight-best took 5.0 s in every
/// repetition, the clairvoyant 4.0 s.
json with_references() {
  auto results = read_fixture("results-mixed.json");
  results["hindsight"] = {{"rule", "…"},
                          {"success_floor", 0.995},
                          {"max_submits_per_image", 1.05},
                          {"max_429_per_image", 1.0},
                          {"relaxed", json::array()},
                          {"best",
                           {{"name", "static-2-b100ms-p250ms"},
                            {"makespan_ms", 5000},
                            {"spec", "inflight=2,pace=none"},
                            {"runs_makespan_ms", {5000, 5000, 5000}}}},
                          {"grid", json::array({json::object(), json::object()})}};
  results["clairvoyant"] = {{"makespan_ms", 4000}, {"explanation", "as the schedule allows"}};
  for (auto& strategy : results["strategies"]) {
    auto fill = [](json& m) {
      const double makespan = m["makespan_ms"].get<double>();
      const double success = m["success_rate"].get<double>();
      m["deliverable_success_rate"] = success;
      m["dynamic_429_per_image"] = 0.5;
      m["efficiency_vs_hindsight"] = success * std::min(1.0, 5000 / makespan);
      m["efficiency_vs_clairvoyant"] = success * std::min(1.0, 4000 / makespan);
      m["regret_ms"] = makespan - 5000;
    };
    fill(strategy);
    for (auto& run : strategy["runs"]) {
      fill(run);
    }
  }
  return results;
}

TEST(references_view, the_terminal_names_the_references_and_adds_their_columns) {
  const auto text = terminal_table(with_references());
  EXPECT_NE(text.find("hindsight-best: 5.0 s (static-2-b100ms-p250ms, the fastest of 2 static "
                      "strategies on the same seeds within the success, submit and 429 "
                      "budgets)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("clairvoyant: 4.0 s (as the schedule allows)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eff. hind.  eff. clairv.  regret s\n"), std::string::npos) << text;
  // adaptive: 6.3 s against 5.0 s: 0.79 (×1.0 success), against 4.0 s 0.63, regret 1.3 s.
  EXPECT_NE(text.find("0.79          0.63       1.3\n"), std::string::npos) << text;
}

TEST(references_view, results_without_references_show_no_new_column) {
  const auto text = terminal_table(read_fixture("results-mixed.json"));
  EXPECT_EQ(text.find("regret"), std::string::npos);
  EXPECT_EQ(text.find("hindsight"), std::string::npos);
  EXPECT_EQ(render_markdown(read_fixture("results-mixed.json")).value().find("hindsight"),
            std::string::npos);
}

TEST(references_view, a_raised_budget_is_named) {
  auto results = with_references();
  results["hindsight"]["relaxed"] = {"submits_per_image"};
  results["hindsight"]["max_submits_per_image"] = 1.18;
  const auto text = terminal_table(results);
  EXPECT_NE(text.find("(no entry met every budget; raised submits_per_image to 1.18)"),
            std::string::npos)
      << text;
}

TEST(references_view, markdown_names_the_hindsight_best_spec_and_adds_the_columns) {
  const auto md = render_markdown(with_references()).value();
  EXPECT_NE(md.find("Reference **hindsight-best**: 5.0 s (static-2-b100ms-p250ms, the fastest of "
                    "2 static strategies"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find(": `inflight=2,pace=none`."), std::string::npos) << md;
  EXPECT_NE(md.find("Reference **clairvoyant**: 4.0 s (as the schedule allows)."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| regret vs hindsight-best |"), std::string::npos) << md;
  // The findings say how far each strategy is from the hindsight-best.
  EXPECT_NE(md.find("1.26× the hindsight-best's 5.0 s"), std::string::npos) << md;
}

TEST(references_view, html_marks_the_references_and_charts_efficiency_against_hindsight) {
  const auto root = parse_xml(render_html(with_references()).value());
  const auto makespan = root->find_all([](const testing::xml_node& n) {
    return n.name == "svg" && n.attribute("data-chart") == "makespan";
  });
  ASSERT_EQ(makespan.size(), 1u);
  const std::string text = makespan[0]->all_text();
  EXPECT_NE(text.find("bound 6.0 s"), std::string::npos) << text;
  EXPECT_NE(text.find("hindsight-best 5.0 s"), std::string::npos) << text;
  EXPECT_NE(text.find("clairvoyant 4.0 s"), std::string::npos) << text;
  const auto hindsight = root->find_all([](const testing::xml_node& n) {
    return n.name == "svg" && n.attribute("data-chart") == "efficiency-hindsight";
  });
  EXPECT_EQ(hindsight.size(), 1u);
  EXPECT_NE(root->all_text().find("Reference hindsight-best: 5.0 s"), std::string::npos);
}

TEST(references_view, csv_has_the_figures_against_the_references) {
  const auto csv = render_csv(with_references()).value();
  const auto header = csv.substr(0, csv.find("\r\n"));
  EXPECT_NE(header.find(",deliverable_success_rate,dynamic_429_per_image,efficiency_vs_hindsight,"
                        "efficiency_vs_clairvoyant,regret_ms,hindsight_best"),
            std::string::npos)
      << header;
  // Every row names what it is measured against (a new user's check: only the other formats
  // did).
  const auto row = csv.substr(csv.find("\r\n") + 2);
  // Then the high end of the cost, empty for a file written before it existed.
  EXPECT_EQ(row.substr(0, row.find("\r\n")).substr(row.find("\r\n") - 26),
            ",static-2-b100ms-p250ms,,,")
      << row;
  // Without references the columns are there and empty (a null is an empty field).
  const auto plain = render_csv(read_fixture("results-mixed.json")).value();
  const auto first_row = plain.substr(plain.find("\r\n") + 2);
  EXPECT_EQ(first_row.substr(first_row.find("\r\n") - 5, 5), ",,,,,");
}

TEST(references_view, compare_fails_when_a_strategys_regret_grows) {
  const auto base = with_references();
  auto head = base;
  // adaptive's regret from 1.3 s to 1.7 s (+31%), nothing else changed.
  head["strategies"][2]["regret_ms"] = 1700;
  const auto c = compare_results(base, head).value();
  bool found = false;
  for (const auto& change : c.changes) {
    if (change.strategy == "adaptive" && change.metric == "regret_ms") {
      found = true;
      EXPECT_EQ(change.result, verdict::regression);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(c.regressions(), 1);
}

// A new user's check: a faster hindsight-best in head made every strategy's regret and
// efficiency against it "regress" (8 regressions, adaptive's although its makespan improved).
TEST(references_view, compare_does_not_judge_figures_against_a_reference_that_moved) {
  const auto base = with_references();
  auto head = base;
  head["hindsight"]["best"]["name"] = "static-3-b1s-p250ms";
  head["hindsight"]["best"]["makespan_ms"] = 3000;
  head["clairvoyant"]["makespan_ms"] = 2500;
  for (auto& strategy : head["strategies"]) {
    const double makespan = strategy["makespan_ms"].get<double>();
    strategy["regret_ms"] = makespan - 3000;
    strategy["efficiency_vs_hindsight"] = std::min(1.0, 3000 / makespan);
    strategy["efficiency_vs_clairvoyant"] = std::min(1.0, 2500 / makespan);
    for (auto& run : strategy["runs"]) {
      run["regret_ms"] = run["makespan_ms"].get<double>() - 3000;
    }
  }
  const auto c = compare_results(base, head, {}, "base.json", "head.json").value();
  EXPECT_EQ(c.regressions(), 0);
  for (const auto& change : c.changes) {
    EXPECT_NE(change.metric, "regret_ms");
    EXPECT_NE(change.metric, "efficiency_vs_hindsight");
    EXPECT_NE(change.metric, "efficiency_vs_clairvoyant");
  }
  std::string notes;
  for (const auto& note : c.notes) {
    notes += note + "\n";
  }
  EXPECT_NE(notes.find("The hindsight-best moved: base.json has \"static-2-b100ms-p250ms\", "
                       "head.json has \"static-3-b1s-p250ms\""),
            std::string::npos)
      << notes;
  EXPECT_NE(notes.find("The clairvoyant's makespan moved: 4.0 s in base.json, 2.5 s in head.json"),
            std::string::npos)
      << notes;
  // The same reference in both: the figures against it are judged as before.
  head["hindsight"] = base["hindsight"];
  head["clairvoyant"] = base["clairvoyant"];
  EXPECT_GT(compare_results(base, head).value().regressions(), 0);
}

TEST(references_view, compare_skips_a_metric_neither_file_has) {
  auto base = read_fixture("results-mixed.json");
  const auto c = compare_results(base, base).value();
  for (const auto& change : c.changes) {
    EXPECT_NE(change.metric, "regret_ms");
    EXPECT_NE(change.metric, "efficiency_vs_clairvoyant");
  }
  // One side has them for no strategy (its run had no references, e.g. --no-hindsight): not
  // compared, and said so; an unchanged run made 15 regressions of it (a new user's check).
  const auto head = with_references();
  const auto one_sided = compare_results(head, base).value();
  EXPECT_EQ(one_sided.regressions(), 0);
  for (const auto& change : one_sided.changes) {
    EXPECT_NE(change.metric, "regret_ms");
  }
  bool noted = false;
  for (const auto& note : one_sided.notes) {
    noted = noted || note.find("not compared") != std::string::npos;
  }
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace zbatch::reports
