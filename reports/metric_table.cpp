#include "reports/metric_table.hpp"

#include <algorithm>

#include "reports/results.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

constexpr bool higher = true;
constexpr bool lower = false;
constexpr auto percent = metric_unit::percent;
constexpr auto milliseconds = metric_unit::milliseconds;
constexpr auto count = metric_unit::count;
constexpr auto ratio = metric_unit::ratio;

// How a view writes a unit: the value's decimals, whether trailing zeros go ("1.5" rather than
// "1.50"), and what follows the number.
struct number_style {
  int decimals;
  bool trim_zeros;
  const char* suffix;
};

// [view][unit], in the enums' order (percent, milliseconds, count, ratio). The compare step
// shows up to 3 decimals so a PR comment shows small changes; the terminal fixed decimals so
// its columns line up, with the unit of a duration in the column title.
constexpr number_style styles[3][4] = {
    /* report   */ {{1, true, "%"}, {1, false, " s"}, {1, true, ""}, {2, true, ""}},
    /* compare  */ {{1, true, "%"}, {3, true, " s"}, {3, true, ""}, {3, true, ""}},
    /* terminal */ {{1, false, "%"}, {1, false, ""}, {1, false, ""}, {2, false, ""}},
};

// Percentages and seconds are what readers see of ratios and milliseconds.
double shown(metric_unit unit, double value) {
  switch (unit) {
    case metric_unit::percent:
      return value * 100.0;
    case metric_unit::milliseconds:
      return value / 1000.0;
    case metric_unit::count:
    case metric_unit::ratio:
      return value;
  }
  return value;
}

unsigned view_bit(metric_view view) {
  switch (view) {
    case metric_view::report:
      return in_report;
    case metric_view::compare:
      return in_compare;
    case metric_view::terminal:
      return in_terminal;
  }
  return 0;
}

}  // namespace

const std::vector<metric>& metric_table() {
  // clang-format off
  static const std::vector<metric> table = {
    // path                     label                  column         better  unit          report rank
    {"success_rate",           "success rate",        "success",     higher, percent,      10},
    // Of the images not refused by moderation (a refusal is a correct final outcome).
    {"deliverable_success_rate", "deliverable success", "deliv.",    higher, percent,      15,
     in_all_views | if_present},
    {"makespan_ms",            "makespan",            "makespan s",  lower,  milliseconds, 20},
    {"latency_ms.p50",         "p50 latency",         "p50 s",       lower,  milliseconds, 50},
    {"latency_ms.p95",         "p95 latency",         "p95 s",       lower,  milliseconds, 60},
    {"latency_ms.p99",         "p99 latency",         "p99 s",       lower,  milliseconds, 70},
    {"time_to_first_image_ms", "time to first image", "first s",     lower,  milliseconds, 40},
    {"submits_per_image",      "submits per image",   "submits/img", lower,  ratio,        100},
    {"http_429.total",         "HTTP 429",            "429s",        lower,  count,        80,
     in_all_views, "HTTP 429 total"},
    {"retries",                "retries",             "retries",     lower,  count,        90},
    // The terminal shows the ratio (README's table), the reports a percentage.
    {"efficiency",             "efficiency vs bound", "efficiency",  higher, percent,      30,
     in_all_views, "efficiency", ratio},
    // Against the references beside the bound (scenarios/references.hpp); the gate fails when a
    // strategy's regret grows.
    {"efficiency_vs_hindsight", "efficiency vs hindsight-best", "eff. hind.", higher, percent, 32,
     in_all_views | if_present, nullptr, ratio},
    {"efficiency_vs_clairvoyant", "efficiency vs clairvoyant", "eff. clairv.", higher, percent, 34,
     in_all_views | if_present, nullptr, ratio},
    {"regret_ms",              "regret vs hindsight-best", "regret s", lower, milliseconds, 36,
     in_all_views | if_present},
    // The politeness budget's figure; the terminal already shows the 429 total.
    {"dynamic_429_per_image",  "dynamic 429s per image", "429/img",  lower,  ratio,        105,
     in_report | in_compare | if_present},
    // In the reports only: the gate does not judge it and the runner does not print it.
    {"credits_used",           "credits used",        "credits",     lower,  count,        110,
     in_report},
  };
  // clang-format on
  return table;
}

std::vector<metric> metrics_in(metric_view view) {
  std::vector<metric> out;
  for (const auto& m : metric_table()) {
    if ((m.views & view_bit(view)) != 0) {
      out.push_back(m);
    }
  }
  if (view == metric_view::report) {
    std::stable_sort(out.begin(), out.end(), [](const metric& a, const metric& b) {
      return a.report_rank < b.report_rank;
    });
  }
  return out;
}

std::vector<metric> metrics_in(metric_view view, const nlohmann::json& results) {
  std::vector<metric> out;
  for (const auto& m : metrics_in(view)) {
    bool shown = (m.views & if_present) == 0;
    for (const auto& strategy : results["strategies"]) {
      shown = shown || metric_value(m, strategy).has_value();
    }
    if (shown) {
      out.push_back(m);
    }
  }
  return out;
}

const metric* find_metric(const std::string& path) {
  for (const auto& m : metric_table()) {
    if (path == m.path) {
      return &m;
    }
  }
  return nullptr;
}

std::string name_in(const metric& m, metric_view view) {
  switch (view) {
    case metric_view::report:
      return m.label;
    case metric_view::compare:
      return m.compare_label != nullptr ? m.compare_label : m.label;
    case metric_view::terminal:
      return m.column;
  }
  return m.label;
}

bool needs_delivery(const std::string& path) {
  return path.rfind("latency_ms.", 0) == 0 || path == "time_to_first_image_ms";
}

bool delivered_nothing(const nlohmann::json& strategy_or_run) {
  auto delivered = number_at(strategy_or_run, "delivered");
  return delivered && *delivered <= 0;
}

bool without_quota(const nlohmann::json& results) {
  if (!results.contains("strategies") || !results["strategies"].is_array()) {
    return false;
  }
  bool delivered = false;
  for (const auto& s : results["strategies"]) {
    if (number_at(s, "credits_used").value_or(0) > 0) {
      return false;
    }
    delivered = delivered || number_at(s, "delivered").value_or(0) > 0;
  }
  return delivered;
}

std::optional<double> metric_value(const metric& m, const nlohmann::json& strategy_or_run) {
  if (needs_delivery(m.path) && delivered_nothing(strategy_or_run)) {
    return std::nullopt;
  }
  return number_at(strategy_or_run, m.path);
}

std::string format_metric(const metric& m, std::optional<double> value, metric_view view) {
  if (!value) {
    return view == metric_view::terminal ? "-" : "n/a";
  }
  const metric_unit unit =
      view == metric_view::terminal ? m.terminal_unit.value_or(m.unit) : m.unit;
  const number_style& style = styles[static_cast<int>(view)][static_cast<int>(unit)];
  const double number = shown(unit, *value);
  return (style.trim_zeros ? format_decimal(number, style.decimals)
                           : format_fixed(number, style.decimals)) +
         style.suffix;
}

std::string metric_cell(const metric& m, const nlohmann::json& strategy,
                        const nlohmann::json& results, metric_view view) {
  if (needs_delivery(m.path) && delivered_nothing(strategy)) {
    return no_images;
  }
  if (std::string(m.path) == "credits_used" && without_quota(results)) {
    return no_quota_cell;
  }
  const std::string cell = format_metric(m, metric_value(m, strategy), view);
  // A paid figure with possibly paid submits is a range: the service charged somewhere between.
  const std::string path = m.path;
  if (path == "submits_per_image" || path == "credits_used") {
    const auto low = metric_value(m, strategy);
    const auto high = number_at(strategy, path + "_high");
    if (low && high && *high > *low + 0.0005) {
      return cell + (view == metric_view::terminal ? "-" : " to ") + format_metric(m, high, view);
    }
  }
  return cell;
}

}  // namespace zbatch::reports
