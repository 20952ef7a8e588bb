#pragma once
/// What the Markdown and HTML reports both say: the metrics of the comparison table, the winner
/// of each metric and the plain-language findings, all computed from one validated results
/// document. Pure functions; the text is plain (callers escape it for their format).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

enum class metric_unit { seconds, percent, count, ratio };

/// One metric of a strategy summary.
struct metric_def {
  const char* label;  ///< Column title, e.g. "p95 latency".
  const char* path;   ///< Path in the strategy summary, e.g. "latency_ms.p95".
  bool higher_is_better;
  metric_unit unit;
};

/// The metrics of the comparison table and the winners list, in display order.
const std::vector<metric_def>& summary_metrics();

/// `value` formatted for `unit` ("18.0 s", "75%", "6", "1.25"); "n/a" for nullopt.
std::string format_metric(std::optional<double> value, metric_unit unit);

/// The best strategy (or tied strategies) of one metric; empty names when no strategy has a
/// value.
struct metric_winner {
  metric_def metric;
  std::vector<std::string> names;
  std::optional<double> value;
};
std::vector<metric_winner> winners(const nlohmann::json& results);

/// Sentences such as "concurrent lost 2 of 4 images to 429 (dynamic)." and a recommendation.
std::vector<std::string> findings(const nlohmann::json& results);

}  // namespace zbatch::reports
