#include "reports/terminal.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include "reports/limiters.hpp"
#include "reports/metric_table.hpp"
#include "reports/summary.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

// A number with fixed decimals, or "-" when it is null or absent.
std::string fixed_or_dash(const json& value, int decimals) {
  return value.is_number() ? format_fixed(value.get<double>(), decimals) : "-";
}

std::string header(const json& results) {
  std::ostringstream out;
  out << "scenario " << results["scenario"]["name"].get<std::string>() << " ("
      << results["mode"].get<std::string>() << ", seed " << results["seed"] << ", "
      << results["repetitions"] << " repetition" << (results["repetitions"] == 1 ? "" : "s")
      << ")\n";
  const json& makespan_ms = results["bound"]["makespan_ms"];
  out << "bound: "
      << (makespan_ms.is_number() ? format_fixed(makespan_ms.get<double>() / 1000.0, 1) : "-")
      << " s (" << results["bound"]["explanation"].get<std::string>() << ")\n";
  for (const auto& reference : reference_lines(results)) {
    out << reference.name << ": " << format_fixed(reference.makespan_ms / 1000.0, 1) << " s ("
        << reference.detail << ")\n";
  }
  out << "\n";
  return out.str();
}

// Characters on screen of UTF-8 text (the "–" of no images is one character in three bytes).
std::size_t columns(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The first column left-aligned, the others right-aligned, two spaces apart.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], columns(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(widths[c] - columns(row[c]), ' ');
      out += c == 0 ? row[c] + pad : "  " + pad + row[c];
    }
    out += "\n";
  }
  return out;
}

std::string strategy_rows(const json& results) {
  const auto metrics = metrics_in(metric_view::terminal, results);
  std::vector<std::vector<std::string>> rows(1, {"strategy"});
  for (const auto& m : metrics) {
    rows.front().push_back(name_in(m, metric_view::terminal));
  }
  for (const auto& s : results["strategies"]) {
    std::vector<std::string> row{s["name"].get<std::string>()};
    for (const auto& m : metrics) {
      row.push_back(metric_cell(m, s, results, metric_view::terminal));
    }
    rows.push_back(std::move(row));
  }
  std::string notes;
  for (const auto& note : table_notes(results)) {
    // The terminal does not show credits: only the "no images" and clients notes concern it.
    if (note.rfind(no_images, 0) == 0 || note.rfind("Each row:", 0) == 0) {
      notes += note + "\n";
    }
  }
  return aligned(rows) + notes;
}

// The shared vs independent limiters of a several-client scenario; empty otherwise.
std::string limiter_rows(const json& results) {
  const auto table = limiter_comparison(results);
  if (!table) {
    return "";
  }
  std::vector<std::vector<std::string>> rows{table->header};
  rows.insert(rows.end(), table->rows.begin(), table->rows.end());
  return "\n" + table->title + "\n" + aligned(rows);
}

std::string threshold_lines(const json& results) {
  if (!results.contains("thresholds") || results["thresholds"].empty()) {
    return "";
  }
  std::string out = "\nthresholds:\n";
  for (const auto& t : results["thresholds"]) {
    out += "  " + std::string(t["passed"].get<bool>() ? "pass" : "FAIL") + "  " +
           t["expr"].get<std::string>() + "  (measured " + fixed_or_dash(t["value"], 3) + ")\n";
  }
  return out;
}

}  // namespace

std::string terminal_table(const nlohmann::json& results) {
  std::string advice;
  for (const auto& sentence : recommendation(results)) {
    advice += sentence + "\n";
  }
  for (const auto& warning : run_warnings(results)) {
    advice += warning + "\n";
  }
  return header(results) + strategy_rows(results) + limiter_rows(results) +
         (advice.empty() ? "" : "\n" + advice) + threshold_lines(results);
}

std::string terminal_table(const nlohmann::ordered_json& results) {
  return terminal_table(nlohmann::json::parse(results.dump()));
}

}  // namespace zbatch::reports
