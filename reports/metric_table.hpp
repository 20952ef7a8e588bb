#pragma once
/// The one list of the metrics strategies are compared by. Three views read it: the reports'
/// strategy table and winner per metric (report.md, report.html), the compare step's verdicts
/// and Markdown (`zbatch report compare`, the CI gate) and the table `zbatch scenario run` prints.
/// A row says where the value is (a path in a strategy summary of results.json, the same in each
/// of its `runs[]`), its names, whether higher or lower is better, and its unit, which picks the
/// formatter of each view.
///
/// Adding a metric is one row in metric_table.cpp, once the runner writes the value into every
/// run and strategy summary (scenarios/metrics.cpp, docs/results-schema.md). A metric that only
/// some scenarios have (e.g. efficiency vs the clairvoyant, only where the limit is a schedule)
/// takes `if_present`: the tables leave its column out when no strategy has a value.
///
/// Why here: `reports` depends only on nlohmann_json and every view lives in it (the terminal
/// table is a rendering of results.json like the others); the runner only writes the values.
/// Constant data and pure functions; safe from any thread.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

/// What a value is; each view formats a unit its own way (see `format_metric`). The order of
/// this enum and of `metric_view` indexes the number styles in metric_table.cpp.
enum class metric_unit {
  percent,       ///< A ratio 0..1 read as a percentage (success rate, efficiency).
  milliseconds,  ///< A duration, shown in seconds.
  count,         ///< Events per run; a mean over repetitions may be fractional.
  ratio,         ///< A plain ratio, e.g. submits per delivered image.
};

/// The places a metric is shown.
enum class metric_view {
  report,    ///< report.md and report.html: strategy table and winner per metric.
  compare,   ///< `zbatch report compare`: one verdict per strategy and metric.
  terminal,  ///< The fixed-width table `zbatch scenario run` prints.
};

/// Bits of `metric::views`.
enum : unsigned {
  in_report = 1u << 0,
  in_compare = 1u << 1,
  in_terminal = 1u << 2,
  in_all_views = in_report | in_compare | in_terminal,
  /// Not a view: the reports' and the terminal's tables show the metric only when some strategy
  /// of the results has a value for it.
  if_present = 1u << 3,
};

/// One row of the table.
struct metric {
  const char* path;    ///< In a strategy summary and each of its runs, e.g. "latency_ms.p95".
  const char* label;   ///< Name in the reports and the compare step, e.g. "p95 latency".
  const char* column;  ///< Terminal column title, e.g. "p95 s".
  bool higher_is_better;
  metric_unit unit;
  /// Place in the reports' tables, ascending (they put efficiency third); the compare step and
  /// the terminal keep the table's order. A new row takes the next free number, or one in a gap.
  int report_rank;
  unsigned views;  ///< in_* bits.
  /// Where a view kept its own name or format since before the table (nullptr, nullopt: none).
  const char* compare_label;
  std::optional<metric_unit> terminal_unit;

  // A constructor, not an aggregate, so rows may leave out the trailing fields.
  metric(const char* path, const char* label, const char* column, bool higher_is_better,
         metric_unit unit, int report_rank, unsigned views = in_all_views,
         const char* compare_label = nullptr,
         std::optional<metric_unit> terminal_unit = std::nullopt)
      : path(path),
        label(label),
        column(column),
        higher_is_better(higher_is_better),
        unit(unit),
        report_rank(report_rank),
        views(views),
        compare_label(compare_label),
        terminal_unit(terminal_unit) {}
};

/// Every metric, in the compare step's (and the terminal's) order.
const std::vector<metric>& metric_table();

/// The metrics `view` shows, in its order.
std::vector<metric> metrics_in(metric_view view);

/// The metrics `view` shows for these results (a strategy summary array under "strategies"):
/// `metrics_in(view)` without the `if_present` ones no strategy has a value for.
std::vector<metric> metrics_in(metric_view view, const nlohmann::json& results);

/// The row of `path` ("latency_ms.p95"); nullptr for a path the table does not list.
const metric* find_metric(const std::string& path);

/// The metric's name in `view`: its label, compare label or column title.
std::string name_in(const metric& m, metric_view view);

/// Whether the metric at `path` measures delivered images (the latency percentiles, the time to
/// the first image): it has no value when nothing was delivered.
bool needs_delivery(const std::string& path);

/// Whether a strategy summary or run delivered no image (`delivered` is 0).
bool delivered_nothing(const nlohmann::json& strategy_or_run);

/// Whether the results come from a profile without a quota: no strategy was charged a credit
/// although some delivered images (a quota charges every delivered image). The reports then show
/// "credits used" as n/a rather than a 0 that reads as free.
bool without_quota(const nlohmann::json& results);

/// The metric's value in a strategy summary or one of its runs; nullopt when null or absent, and
/// for a metric that `needs_delivery` when nothing was delivered (the runner writes 0 there).
std::optional<double> metric_value(const metric& m, const nlohmann::json& strategy_or_run);

/// `value` as `view` shows it. Reports: "75%", "18.0 s", "1.5", "1.25"; compare: "75%",
/// "18.012 s", "1.5", "1.25" (up to 3 decimals); terminal: "75.0%", "18.0", "1.5", "1.25"
/// (fixed decimals, the unit in the column title). No value: "n/a", or "-" in the terminal.
std::string format_metric(const metric& m, std::optional<double> value, metric_view view);

/// What a table cell of `view` shows for the metric of one strategy: `no_images` ("–") for a
/// metric that needs delivery when nothing was delivered, `no_quota_cell` ("n/a") for credits
/// when `without_quota(results)`, else `format_metric` of its value.
std::string metric_cell(const metric& m, const nlohmann::json& strategy,
                        const nlohmann::json& results, metric_view view);
inline constexpr const char* no_images = "–";  // An en dash.
inline constexpr const char* no_quota_cell = "n/a";

}  // namespace zbatch::reports
