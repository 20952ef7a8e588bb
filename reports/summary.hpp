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

/// Sentences such as "concurrent lost 2 of 4 images to 429 (dynamic)." and a recommendation.
std::vector<std::string> findings(const nlohmann::json& results);

}  // namespace zbatch::reports
