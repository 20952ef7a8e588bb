#include "reports/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "reports/results.hpp"
#include "reports/stats.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

// Values equal after the schema's 3-decimal rounding count as ties.
bool same(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(a)); }

std::string plural(double count, const std::string& one, const std::string& many) {
  return format_decimal(count, 1) + " " + (same(count, 1) ? one : many);
}

std::string reason_text(const std::string& key) {
  static const std::map<std::string, std::string> texts = {
      {"dynamic_429", "429 (dynamic)"},
      {"quota_429", "429 (quota)"},
      {"server_transport", "server or transport errors"},
      {"request_error", "request errors"},
      {"moderation", "moderation"},
      {"task_failed", "failed tasks"},
      {"malformed", "malformed responses"},
      {"deadline", "the deadline"},
      {"cancelled", "cancellation"}};
  auto it = texts.find(key);
  return it == texts.end() ? key : it->second;
}

std::string join(const std::vector<std::string>& parts, const std::string& last_separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == parts.size()) ? last_separator : ", ";
    }
    out += parts[i];
  }
  return out;
}

}  // namespace

std::vector<metric_winner> winners(const nlohmann::json& results) {
  std::vector<metric_winner> out;
  for (const auto& metric : metrics_in(metric_view::report, results)) {
    metric_winner w{metric, {}, std::nullopt};
    for (const auto& strategy : results["strategies"]) {
      auto value = metric_value(metric, strategy);
      if (!value) {
        continue;
      }
      std::string name = strategy["name"].get<std::string>();
      // A fast strategy that lost images is not a fair winner: say so next to its name.
      const double rate = strategy["success_rate"].get<double>();
      if (std::string(metric.path) != "success_rate" && rate < 1.0 - 1e-9) {
        name += " (delivered " + format_percent(rate) + ")";
      }
      if (!w.value || same(*value, *w.value)) {
        if (!w.value) {
          w.value = value;
        }
        w.names.push_back(name);
      } else if (metric.higher_is_better ? *value > *w.value : *value < *w.value) {
        w.value = value;
        w.names = {name};
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<reference_line> reference_lines(const nlohmann::json& results) {
  std::vector<reference_line> out;
  const json& hindsight = results.value("hindsight", json());
  if (hindsight.is_object() && hindsight.value("best", json()).is_object()) {
    const json& best = hindsight["best"];
    std::string detail = best["name"].get<std::string>() + ", the fastest of " +
                         std::to_string(hindsight.value("grid", json::array()).size()) +
                         " static strategies on the same seeds within the success, submit and "
                         "429 budgets";
    if (!hindsight.value("relaxed", json::array()).empty()) {
      std::vector<std::string> raised;
      for (const auto& name : hindsight["relaxed"]) {
        const std::string key = name.get<std::string>() == "submits_per_image"
                                    ? "max_submits_per_image"
                                    : "max_429_per_image";
        raised.push_back(name.get<std::string>() + " to " +
                         format_decimal(hindsight.value(key, 0.0), 3));
      }
      detail += " (no entry met every budget; raised " + join(raised, " and ") + ")";
    }
    out.push_back(
        {"hindsight-best", best["makespan_ms"].get<double>(), detail, best.value("spec", "")});
  }
  const json& clairvoyant = results.value("clairvoyant", json());
  if (clairvoyant.is_object()) {
    out.push_back({"clairvoyant", clairvoyant["makespan_ms"].get<double>(),
                   clairvoyant.value("explanation", ""), ""});
  }
  return out;
}

namespace {

/// What the recommendation reads of one strategy; absent figures are worst.
struct candidate {
  std::string name;
  double success = 0;   ///< Deliverable success (success rate when the results have none).
  double makespan = 0;  ///< Mean, ms.
  double submits = std::numeric_limits<double>::infinity();  ///< Paid submits per image.
  double per_429 = std::numeric_limits<double>::infinity();  ///< Dynamic 429s per image.
  std::vector<double> runs;                                  ///< Makespan of each repetition.
};

std::vector<candidate> candidates(const json& results) {
  std::vector<candidate> out;
  if (!results.contains("strategies") || !results["strategies"].is_array()) {
    return out;
  }
  for (const auto& s : results["strategies"]) {
    auto makespan = number_at(s, "makespan_ms");
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !makespan) {
      continue;
    }
    candidate c;
    c.name = s["name"].get<std::string>();
    c.makespan = *makespan;
    c.success = number_at(s, "deliverable_success_rate")
                    .value_or(number_at(s, "success_rate").value_or(0.0));
    c.submits = number_at(s, "submits_per_image").value_or(c.submits);
    c.per_429 = number_at(s, "dynamic_429_per_image").value_or(c.per_429);
    if (s.contains("runs") && s["runs"].is_array()) {
      for (const auto& run : s["runs"]) {
        if (auto ms = number_at(run, "makespan_ms")) {
          c.runs.push_back(*ms);
        }
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// Whether a's and b's makespans differ by more than the noise, and the sentence saying so.
std::pair<bool, std::string> beyond_noise(const candidate& a, const candidate& b) {
  if (a.runs.size() >= 2 && b.runs.size() >= 2) {
    const auto test = mann_whitney_u(a.runs, b.runs);
    const std::string p = "Mann-Whitney p = " + format_fixed(test.p_value, 3) + " over " +
                          std::to_string(a.runs.size()) + " and " + std::to_string(b.runs.size()) +
                          " repetitions";
    if (test.p_value < 0.05) {
      return {true, p};
    }
    if (min_attainable_p(a.runs.size(), b.runs.size()) >= 0.05) {
      // Too few repetitions for any test at 5%: runs that do not overlap at all (and means 5%
      // apart) are the most the samples can show.
      const bool apart = *std::max_element(a.runs.begin(), a.runs.end()) <
                             *std::min_element(b.runs.begin(), b.runs.end()) &&
                         a.makespan < 0.95 * b.makespan;
      return {apart, std::string(apart ? "every" : "not every") + " repetition of " + a.name +
                         " was faster than every one of " + b.name + "; " +
                         std::to_string(a.runs.size()) + " and " + std::to_string(b.runs.size()) +
                         " repetitions are too few for a test at 5%"};
    }
    return {false, p};
  }
  const double gap = std::fabs(a.makespan - b.makespan) / std::max(1.0, b.makespan);
  return {gap >= 0.05, "one repetition: a difference under 5% counts as noise"};
}

std::string cost_text(const candidate& c) {
  std::string out = std::isfinite(c.submits) ? format_fixed(c.submits, 2) : "-";
  out += " paid submits and ";
  out += std::isfinite(c.per_429) ? format_fixed(c.per_429, 2) : "-";
  return out + " dynamic 429s per delivered image";
}

}  // namespace

std::vector<std::string> recommendation(const nlohmann::json& results) {
  std::vector<std::string> out;
  auto all = candidates(results);
  if (all.empty()) {
    return out;
  }
  double most = 0;
  for (const auto& c : all) {
    most = std::max(most, c.success);
  }
  // The most complete (within 0.5 point), fastest first.
  std::vector<candidate> complete;
  for (const auto& c : all) {
    if (c.success >= most - 0.005 - 1e-9) {
      complete.push_back(c);
    }
  }
  std::stable_sort(complete.begin(), complete.end(),
                   [](const candidate& a, const candidate& b) { return a.makespan < b.makespan; });
  candidate pick = complete.front();
  std::string sentence;
  const std::string delivered = same(most, 1.0) ? "delivered every deliverable image"
                                                : "delivered the most deliverable images (" +
                                                      format_percent(pick.success) + ")";
  if (complete.size() == 1) {
    sentence = "Recommendation: " + pick.name + ", the only strategy that " + delivered + " (" +
               format_seconds(pick.makespan) + ").";
    out.push_back(sentence);
  } else {
    const candidate& runner = complete[1];
    const auto [distinct, why] = beyond_noise(pick, runner);
    if (distinct) {
      out.push_back("Recommendation: " + pick.name + ", the fastest strategy that " + delivered +
                    ": " + format_seconds(pick.makespan) + " against " +
                    format_seconds(runner.makespan) + " for " + runner.name + " (" +
                    format_decimal(100.0 * (1.0 - pick.makespan / runner.makespan), 0) +
                    "% less time), a difference larger than the noise (" + why + ").");
    } else {
      // Not distinguishable: the cheaper, then politer one.
      const bool runner_better =
          runner.submits < pick.submits - 1e-9 ||
          (same(runner.submits, pick.submits) && runner.per_429 < pick.per_429 - 1e-9);
      const candidate faster = pick;
      if (runner_better) {
        pick = runner;
      }
      out.push_back("Recommendation: " + pick.name + ". " + faster.name + " (" +
                    format_seconds(faster.makespan) + ") and " + runner.name + " (" +
                    format_seconds(runner.makespan) + ") both " + delivered +
                    " and are not distinguishable (" + why + "); " + pick.name +
                    " is the cheaper and politer (" + cost_text(pick) + ").");
    }
  }
  // The yardstick: the best static strategy in hindsight, and adaptive against it.
  const json& hindsight = results.value("hindsight", json());
  if (hindsight.is_object() && hindsight.value("best", json()).is_object()) {
    const json& best = hindsight["best"];
    auto best_ms = number_at(best, "makespan_ms");
    if (best_ms && best.contains("name") && best["name"].is_string()) {
      std::string line = "Hindsight-best: " + best["name"].get<std::string>();
      if (best.contains("spec") && best["spec"].is_string()) {
        line += " (" + best["spec"].get<std::string>() + ")";
      }
      line += ", " + format_seconds(*best_ms);
      auto it = std::find_if(all.begin(), all.end(),
                             [](const candidate& c) { return c.name == "adaptive"; });
      if (it != all.end() && *best_ms > 0) {
        line += "; adaptive took " + format_fixed(it->makespan / *best_ms, 2) + "× as long (" +
                format_seconds(it->makespan) + ", " + format_percent(it->success) +
                " of deliverable images)";
      }
      out.push_back(line + ".");
    }
  }
  return out;
}

std::vector<std::string> findings(const nlohmann::json& results) {
  std::vector<std::string> out;
  const double bound = results["bound"]["makespan_ms"].get<double>();
  const int repetitions = static_cast<int>(results["strategies"][0]["runs"].size());
  const std::string mean_note =
      repetitions > 1 ? " (mean of " + std::to_string(repetitions) + " repetitions)" : "";
  for (const auto& s : results["strategies"]) {
    const std::string name = s["name"].get<std::string>();
    const double images = s["images"].get<double>();
    const double failed = s["failed"].get<double>();
    std::string sentence = name;
    if (failed > 0) {
      sentence +=
          " lost " + format_decimal(failed, 1) + " of " + format_decimal(images, 0) + " images";
      std::vector<std::string> reasons;
      if (s.contains("failed_by_reason")) {
        for (const auto& item : s["failed_by_reason"].items()) {
          if (item.value().is_number() && item.value().get<double>() > 0) {
            std::string reason = reason_text(item.key());
            if (!same(item.value().get<double>(), failed)) {
              reason = format_decimal(item.value().get<double>(), 1) + " to " + reason;
            }
            reasons.push_back(reason);
          }
        }
      }
      if (reasons.size() == 1 && reasons[0].find(" to ") == std::string::npos) {
        sentence += " to " + reasons[0];
      } else if (!reasons.empty()) {
        sentence += " (" + join(reasons, " and ") + ")";
      }
    } else {
      sentence += " delivered all " + format_decimal(images, 0) + " images";
    }
    const double makespan = s["makespan_ms"].get<double>();
    sentence += "; it took " + format_seconds(makespan) + mean_note;
    if (bound > 0) {
      const double ratio = makespan / bound;
      if (ratio < 0.95 && failed > 0) {
        sentence += ", under the bound of " + format_seconds(bound) +
                    " only because failed images end early";
      } else if (ratio < 1.05) {
        sentence += ", within 5% of the bound of " + format_seconds(bound);
      } else {
        sentence += ", " + format_fixed(ratio, 1) + "× the bound of " + format_seconds(bound);
      }
    }
    if (auto regret = number_at(s, "regret_ms")) {
      // The hindsight-best's mean makespan, from the mean regret.
      const double best = makespan - *regret;
      if (best > 0 && std::fabs(*regret) <= 0.05 * best) {
        sentence += ", within 5% of the hindsight-best's " + format_seconds(best);
      } else if (best > 0) {
        sentence += ", " + format_fixed(makespan / best, 2) + "× the hindsight-best's " +
                    format_seconds(best);
      }
    }
    sentence += ".";
    out.push_back(sentence);

    const double http_429 = s["http_429"]["total"].get<double>();
    const double retries = s["retries"].get<double>();
    if (http_429 > 0 || retries > 0) {
      std::string detail = name + " met " + plural(http_429, "HTTP 429", "HTTP 429s");
      if (http_429 > 0) {
        detail += " (" + format_decimal(s["http_429"]["dynamic"].get<double>(), 1) + " dynamic, " +
                  format_decimal(s["http_429"]["quota"].get<double>(), 1) + " quota)";
      }
      detail += " and retried " + plural(retries, "time", "times");
      auto per_image = number_at(s, "submits_per_image");
      if (per_image && *per_image > 1.0) {
        detail += ", submitting " + format_decimal(*per_image, 2) + " times per delivered image";
      }
      out.push_back(detail + ".");
    }
    if (s.contains("spread") && s["spread"].contains("makespan_ms")) {
      auto mean = number_at(s["spread"]["makespan_ms"], "mean");
      auto stddev = number_at(s["spread"]["makespan_ms"], "stddev");
      if (mean && stddev && *mean > 0 && *stddev / *mean > 0.1) {
        out.push_back(name + "'s makespan varied by ±" +
                      format_decimal(100.0 * *stddev / *mean, 0) +
                      "% (one standard deviation) across repetitions.");
      }
    }
  }

  for (auto& sentence : recommendation(results)) {
    out.push_back(std::move(sentence));
  }
  if (results.contains("thresholds")) {
    std::size_t failed = 0;
    for (const auto& t : results["thresholds"]) {
      failed += t["passed"].get<bool>() ? 0 : 1;
    }
    if (failed > 0) {
      out.push_back(std::to_string(failed) + " of " + std::to_string(results["thresholds"].size()) +
                    " thresholds failed.");
    }
  }
  return out;
}

}  // namespace zbatch::reports
