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
/// value. One per metric of the report view, in its order.
struct metric_winner {
  reports::metric metric;
  std::vector<std::string> names;
  std::optional<double> value;
};
std::vector<metric_winner> winners(const nlohmann::json& results);

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
/// 0.5 point, then the shortest mean makespan), by how much it beats the runner-up and whether
/// that difference is larger than the noise across repetitions (two-sided Mann-Whitney U on the
/// runs' makespans, p < 0.05; a single run counts a difference under 5% as noise); when the two
/// cannot be told apart it says so and prefers the cheaper, then politer one (paid submits, then
/// dynamic 429s per delivered image). Then the hindsight-best configuration and how far
/// `adaptive` is from it, when the results carry them. Tolerates missing fields (the terminal
/// table prints unvalidated results); empty when no strategy has a makespan.
std::vector<std::string> recommendation(const nlohmann::json& results);

/// Sentences such as "concurrent lost 2 of 4 images to 429 (dynamic)."; the recommendation's
/// sentences come last.
std::vector<std::string> findings(const nlohmann::json& results);

}  // namespace zbatch::reports
