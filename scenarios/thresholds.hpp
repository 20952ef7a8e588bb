#pragma once
/// k6-style thresholds: `<strategy>.<metric path> <op> <number>`, e.g.
/// `adaptive.success_rate >= 0.99` or `adaptive.latency_ms.p95 < 9000`.
///
/// Parsed and checked against the scenario's strategy labels before a run; evaluated against
/// the strategy summaries of results.json after it. Pure functions.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::scenarios {

struct threshold {
  std::string expr;      ///< As written.
  std::string strategy;  ///< Label.
  std::vector<std::string>
      metric;      ///< Path inside the strategy summary, e.g. {"latency_ms","p95"}.
  std::string op;  ///< <, <=, >, >=, ==, !=
  double value = 0;
};

/// Parses one expression; fails (invalid_argument) saying what is wrong and what is allowed.
/// `independent.<metric>` names a figure of the strategy's run with independent limiters (the
/// row's `independent` object), allowed only when `compares_limiters` (a scenario with
/// `clients` > 1 and `limiter: "both"`), e.g. `adaptive.independent.dynamic_429_per_image > 2`.
result<threshold> parse_threshold(const std::string& expr,
                                  const std::vector<std::string>& strategy_labels,
                                  bool compares_limiters = false);

struct threshold_result {
  std::string expr;
  bool passed = false;
  std::optional<double> measured;  ///< nullopt when the metric has no value (e.g. no image).
};

/// Evaluates against `strategies` (the results.json array of strategy summaries).
threshold_result evaluate(const threshold& t, const nlohmann::ordered_json& strategies);

}  // namespace zbatch::scenarios
