#include "scenarios/thresholds.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

namespace zbatch::scenarios {
namespace {

// The metrics a threshold may name (the numeric leaves of a strategy summary).
const std::set<std::string>& known_metrics() {
  static const std::set<std::string> metrics{"success_rate",
                                             "delivered",
                                             "failed",
                                             "makespan_ms",
                                             "time_to_first_image_ms",
                                             "latency_ms.p50",
                                             "latency_ms.p90",
                                             "latency_ms.p95",
                                             "latency_ms.p99",
                                             "latency_ms.max",
                                             "requests.total",
                                             "http_429.dynamic",
                                             "http_429.quota",
                                             "http_429.total",
                                             "retries",
                                             "submits",
                                             "submits_per_image",
                                             "credits_used",
                                             "efficiency",
                                             "deliverable_success_rate",
                                             "dynamic_429_per_image",
                                             "efficiency_vs_hindsight",
                                             "efficiency_vs_clairvoyant",
                                             "regret_ms",
                                             "failed_by_reason.dynamic_429",
                                             "failed_by_reason.quota_429",
                                             "failed_by_reason.server_transport",
                                             "failed_by_reason.request_error",
                                             "failed_by_reason.moderation",
                                             "failed_by_reason.task_failed",
                                             "failed_by_reason.malformed",
                                             "failed_by_reason.deadline",
                                             "failed_by_reason.cancelled"};
  return metrics;
}

}  // namespace

result<threshold> parse_threshold(const std::string& expr,
                                  const std::vector<std::string>& strategy_labels,
                                  bool compares_limiters) {
  static const std::regex pattern(
      R"(^\s*([A-Za-z0-9_-]+)\.([A-Za-z0-9_.]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)\s*$)");
  std::smatch match;
  auto fail = [&](const std::string& why) {
    return invalid_argument_error("threshold \"" + expr + "\": " + why);
  };
  if (!std::regex_match(expr, match, pattern)) {
    return fail("expected <strategy>.<metric> <op> <number>, op one of < <= > >= == !=");
  }
  threshold out;
  out.expr = expr;
  out.strategy = match[1];
  if (std::find(strategy_labels.begin(), strategy_labels.end(), out.strategy) ==
      strategy_labels.end()) {
    std::string list;
    for (const auto& label : strategy_labels) {
      list += (list.empty() ? "" : ", ") + label;
    }
    return fail("no strategy labelled \"" + out.strategy + "\" (allowed: " + list + ")");
  }
  const std::string metric = match[2];
  static const std::string independent = "independent.";
  const bool of_independent = metric.rfind(independent, 0) == 0;
  if (of_independent && !compares_limiters) {
    return fail("\"" + metric +
                "\" names a run with independent limiters, which only a scenario with clients > 1 "
                "and limiter \"both\" has");
  }
  if (known_metrics().count(of_independent ? metric.substr(independent.size()) : metric) == 0) {
    std::string list;
    for (const auto& name : known_metrics()) {
      list += (list.empty() ? "" : ", ") + name;
    }
    return fail("unknown metric \"" + metric + "\" (allowed: " + list +
                ", each also as independent.<metric> where limiters are compared)");
  }
  std::size_t start = 0;
  for (auto dot = metric.find('.');; dot = metric.find('.', start)) {
    out.metric.push_back(metric.substr(start, dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  out.op = match[3];
  // strtod, not stod: a number beyond a double's range is the user's error, not an exception.
  const std::string number = match[4];
  errno = 0;
  out.value = std::strtod(number.c_str(), nullptr);
  if (errno == ERANGE) {
    return fail("the number " + number +
                " is beyond what a double holds (allowed magnitudes 1e-307..1e308, or 0)");
  }
  return out;
}

threshold_result evaluate(const threshold& t, const nlohmann::ordered_json& strategies) {
  threshold_result out;
  out.expr = t.expr;
  for (const auto& strategy : strategies) {
    if (strategy.value("name", "") != t.strategy) {
      continue;
    }
    const nlohmann::ordered_json* node = &strategy;
    for (const auto& key : t.metric) {
      if (!node->is_object() || !node->contains(key)) {
        node = nullptr;
        break;
      }
      node = &(*node)[key];
    }
    if (node == nullptr || !node->is_number()) {
      return out;  // No value (e.g. latency of a strategy that delivered nothing): fails.
    }
    const double v = node->get<double>();
    out.measured = v;
    if (t.op == "<") {
      out.passed = v < t.value;
    } else if (t.op == "<=") {
      out.passed = v <= t.value;
    } else if (t.op == ">") {
      out.passed = v > t.value;
    } else if (t.op == ">=") {
      out.passed = v >= t.value;
    } else if (t.op == "==") {
      out.passed = std::fabs(v - t.value) < 1e-9;
    } else {
      out.passed = std::fabs(v - t.value) >= 1e-9;
    }
    return out;
  }
  return out;
}

}  // namespace zbatch::scenarios
