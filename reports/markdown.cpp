#include <string>

#include "reports/limiters.hpp"
#include "reports/metric_table.hpp"
#include "reports/render.hpp"
#include "reports/results.hpp"
#include "reports/summary.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {

result<std::string> render_markdown(const nlohmann::json& results) {
  ZBATCH_RETURN_IF_ERROR(validate_results(results, "results"));
  const auto& scenario = results["scenario"];
  const auto& strategies = results["strategies"];
  std::string out = "# Scenario " + markdown_escape(scenario["name"].get<std::string>()) + "\n\n";
  // The answer first: the recommendation, then one table, then at most three findings; the
  // winners and the per-strategy facts follow under Details.
  for (const auto& sentence : recommendation(results)) {
    out += "**" + markdown_escape(sentence) + "**\n\n";
  }
  for (const auto& warning : run_warnings(results)) {
    out += "> ⚠️ " + markdown_escape(warning) + "\n\n";
  }
  if (scenario.contains("description") && scenario["description"].is_string() &&
      !scenario["description"].get<std::string>().empty()) {
    out += markdown_escape(scenario["description"].get<std::string>()) + "\n\n";
  }
  std::string profile = "unknown";
  if (results.contains("profile") && results["profile"].is_object() &&
      results["profile"].contains("name") && results["profile"]["name"].is_string()) {
    profile = results["profile"]["name"].get<std::string>();
  }
  out += "Mode **" + markdown_escape(results["mode"].get<std::string>()) + "**, seed " +
         results["seed"].dump() + ", " + std::to_string(strategies[0]["runs"].size()) +
         " repetition(s), profile " + markdown_escape(profile) +
         ". Bound: " + format_seconds(results["bound"]["makespan_ms"].get<double>());
  if (results["bound"].contains("explanation") && results["bound"]["explanation"].is_string()) {
    out += " (" + markdown_escape(results["bound"]["explanation"].get<std::string>()) + ")";
  }
  out += ". Times are scenario time; values are means over repetitions.\n\n";
  for (const auto& reference : reference_lines(results)) {
    out += "Reference **" + reference.name + "**: " + format_seconds(reference.makespan_ms) + " (" +
           markdown_escape(reference.detail) + ")";
    out += reference.spec.empty() ? ".\n\n" : ": `" + reference.spec + "`.\n\n";
  }

  const auto metrics = metrics_in(metric_view::report, results);
  out += "## Summary\n\n| Strategy | Delivered";
  for (const auto& metric : metrics) {
    out += " | " + name_in(metric, metric_view::report);
  }
  out += " |\n|---|---:";
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    out += "|---:";
  }
  out += "|\n";
  for (const auto& s : strategies) {
    out += "| " + markdown_escape(s["name"].get<std::string>()) + " | " +
           format_decimal(s["delivered"].get<double>(), 1) + "/" +
           format_decimal(s["images"].get<double>(), 0);
    for (const auto& metric : metrics) {
      out += " | " + metric_cell(metric, s, results, metric_view::report);
    }
    out += " |\n";
  }
  for (const auto& note : table_notes(results)) {
    out += "\n" + markdown_escape(note) + "\n";
  }
  out += "\n";
  for (const auto& sentence : key_findings(results)) {
    out += "- " + markdown_escape(sentence) + "\n";
  }

  if (const auto limiters = limiter_comparison(results)) {
    out += "\n## " + markdown_escape(limiters->title) + "\n\n|";
    for (const auto& column : limiters->header) {
      out += " " + markdown_escape(column) + " |";
    }
    out += "\n|---|";
    for (std::size_t i = 1; i < limiters->header.size(); ++i) {
      out += "---:|";
    }
    out += "\n";
    for (const auto& row : limiters->rows) {
      out += "|";
      for (const auto& cell : row) {
        out += " " + markdown_escape(cell) + " |";
      }
      out += "\n";
    }
    out += "\n" + markdown_escape(limiters->note) + "\n";
  }

  out += "\n## Details\n\n### Winner per metric\n\n| Metric | Best | Value |\n|---|---|---:|\n";
  for (const auto& w : winners(results)) {
    out += "| " + name_in(w.metric, metric_view::report) +
           (w.metric.higher_is_better ? " (higher is better)" : " (lower is better)") + " | " +
           markdown_escape(winner_text(w)) + " | " +
           format_metric(w.metric, w.value, metric_view::report) + " |\n";
  }
  out += "\n" + markdown_escape(winner_rule(results)) + "\n";

  out += "\n### Per strategy\n\n";
  for (const auto& sentence : findings(results)) {
    out += "- " + markdown_escape(sentence) + "\n";
  }

  if (results.contains("thresholds") && !results["thresholds"].empty()) {
    out += "\n## Thresholds\n\n| Threshold | Measured | Result |\n|---|---:|---|\n";
    for (const auto& t : results["thresholds"]) {
      out += "| " + markdown_escape(t["expr"].get<std::string>()) + " | " +
             (t["value"].is_number() ? format_decimal(t["value"].get<double>(), 3) : "no value") +
             " | " + (t["passed"].get<bool>() ? "pass" : "**FAIL**") + " |\n";
    }
  }
  return out;
}

}  // namespace zbatch::reports
