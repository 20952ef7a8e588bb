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

std::string format_report(metric_unit unit, double value) {
  switch (unit) {
    case metric_unit::percent:
      return format_percent(value);
    case metric_unit::milliseconds:
      return format_seconds(value);
    case metric_unit::count:
      return format_decimal(value, 1);
    case metric_unit::ratio:
      return format_decimal(value, 2);
  }
  return "?";
}

// Up to 3 decimals: a PR comment shows small changes.
std::string format_compare(metric_unit unit, double value) {
  switch (unit) {
    case metric_unit::percent:
      return format_percent(value);
    case metric_unit::milliseconds:
      return format_decimal(value / 1000.0, 3) + " s";
    case metric_unit::count:
    case metric_unit::ratio:
      return format_decimal(value, 3);
  }
  return "?";
}

// Fixed decimals so the columns line up; the unit of a duration is in the column title.
std::string format_terminal(metric_unit unit, double value) {
  switch (unit) {
    case metric_unit::percent:
      return format_fixed(value * 100.0, 1) + "%";
    case metric_unit::milliseconds:
      return format_fixed(value / 1000.0, 1);
    case metric_unit::count:
      return format_fixed(value, 1);
    case metric_unit::ratio:
      return format_fixed(value, 2);
  }
  return "?";
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

std::optional<double> metric_value(const metric& m, const nlohmann::json& strategy_or_run) {
  return number_at(strategy_or_run, m.path);
}

std::string format_metric(const metric& m, std::optional<double> value, metric_view view) {
  if (!value) {
    return view == metric_view::terminal ? "-" : "n/a";
  }
  switch (view) {
    case metric_view::report:
      return format_report(m.unit, *value);
    case metric_view::compare:
      return format_compare(m.unit, *value);
    case metric_view::terminal:
      return format_terminal(m.terminal_unit.value_or(m.unit), *value);
  }
  return "?";
}

}  // namespace zbatch::reports
