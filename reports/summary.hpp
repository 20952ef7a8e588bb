#pragma once
/// What the Markdown and HTML reports both say besides the strategy table (whose metrics are the
/// report view of reports/metric_table.hpp): the winner of each metric and the plain-language
/// findings, all computed from one validated results document. Pure functions; the text is
/// plain (callers escape it for their format).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/metric_table.hpp"

namespace zbatch::reports {

/// The best strategy (or tied strategies) of one metric; empty names when no strategy has a
/// value. One per metric of the report view, in its order. Only strategies within 0.5 point of
/// the best deliverable success (success rate for results without it) can win a metric other
/// than the success rates: losing images makes a strategy look fast and cheap (`winner_rule`).
/// Credits have no winner when `without_quota(results)`: `note` says so.
struct metric_winner {
  reports::metric metric;
  std::vector<std::string> names;
  std::optional<double> value;
  std::string note;  ///< Shown instead of names when set, e.g. "no quota in this profile".
};
std::vector<metric_winner> winners(const nlohmann::json& results);

/// The winner cell: the names joined by ", ", "N strategies tie" for more than `max_listed`
/// names (so a table of many ties keeps its width), the note, or "n/a".
std::string winner_text(const metric_winner& w, std::size_t max_listed = 3);

/// The sentence under the winner table that states who may win: "Only strategies within 0.5
/// point of the best deliverable success (100%) can win the other metrics ...".
std::string winner_rule(const nlohmann::json& results);

/// A reference the strategies are measured against besides the bound: the hindsight-best static
/// strategy or the clairvoyant (docs/results-schema.md).
struct reference_line {
  std::string name;    ///< "hindsight-best" or "clairvoyant".
  double makespan_ms;  ///< Its (mean) makespan.
  std::string detail;  ///< E.g. "static-4-b100ms-p250ms, the best of 28 static strategies ...".
  std::string spec;    ///< The hindsight-best's compact spec; empty for the clairvoyant.
};
/// The references the results carry, hindsight-best first; empty for none.
std::vector<reference_line> reference_lines(const nlohmann::json& results);

/// The recommendation, in sentences: the strategy to run (the most deliverable images within
/// 0.5%, then within the hindsight rule's politeness budgets when another as complete met them,
/// then the shortest mean makespan), by how much it beats the runner-up and whether
/// that difference is larger than the noise across repetitions (two-sided Mann-Whitney U on the
/// runs' makespans, exact for small samples, p < 0.05). When a test finds the two alike it says
/// so and prefers the cheaper, then politer one (paid submits, then dynamic 429s per delivered
/// image); with repetitions too few for a test at 5% (under 4 each) the faster stays the pick and
/// its lead is called untested, with the repetitions a test needs. Then the
/// hindsight-best configuration and how far `adaptive` is from it, when the results carry them.
/// Tolerates missing fields (the terminal table prints unvalidated results); empty when no strategy
/// has a makespan.
/// The run's warnings (results.json `warnings`, e.g. a poll deadline shorter than the images),
/// each "Warning: ..."; none in files without them.
std::vector<std::string> run_warnings(const nlohmann::json& results);

std::vector<std::string> recommendation(const nlohmann::json& results);

/// The notes under the strategy table: what "–" means, when a strategy delivered nothing, and
/// why credits show n/a, when the profile has no quota (`without_quota`).
std::vector<std::string> table_notes(const nlohmann::json& results);

/// The findings the reports lead with, under the strategy table: at most three sentences, the
/// recommended strategy's result and lead over the runner-up, what the others lose against it
/// (images, time, HTTP 429s, paid submits, credits when the profile has a quota), and how far
/// `adaptive` is from the hindsight-best (when the results carry both). Empty when no strategy
/// has a makespan.
std::vector<std::string> key_findings(const nlohmann::json& results);

/// The details lower down, one fact per sentence and strategy, such as "concurrent lost 2 of 4
/// images to 429 (dynamic)."; then the number of failed thresholds. The recommendation is not
/// repeated (it opens the reports).
std::vector<std::string> findings(const nlohmann::json& results);

}  // namespace zbatch::reports
