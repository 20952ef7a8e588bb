#pragma once
/// The report writers: one results.json (docs/results-schema.md) rendered as Markdown, a
/// self-contained HTML page with SVG charts, CSV and JUnit XML (formats in docs/report-formats.md).
///
/// Each `render_*` function validates its input first (failing with validate_results' status)
/// and returns the whole file as a string; `render_all` writes the four files into a directory, for
/// `zbatch report render` and `zbatch scenario run --report`. Pure functions apart from
/// `render_all`'s file writes; safe to call from any thread.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::reports {

/// report.md: the comparison table, the winner per metric, findings and thresholds.
result<std::string> render_markdown(const nlohmann::json& results);

/// report.html: one XHTML-compatible file, inline CSS and SVG only (no scripts, no network):
/// latency CDF, makespan, success-rate and efficiency bars, a timeline per strategy.
result<std::string> render_html(const nlohmann::json& results);

/// results.csv: a header row, then one row per strategy and repetition (RFC 4180, CRLF).
result<std::string> render_csv(const nlohmann::json& results);

/// junit.xml: one test case per threshold; a failure carries the measured value and the
/// expression.
result<std::string> render_junit(const nlohmann::json& results);

/// Creates `out_dir` if needed and writes report.md, report.html, results.csv and junit.xml.
/// Returns the paths written. Fails with validate_results' status for bad input (writing
/// nothing), internal naming the file or directory when one cannot be written.
result<std::vector<std::filesystem::path>> render_all(const nlohmann::json& results,
                                                      const std::filesystem::path& out_dir);

/// The files render_all writes, in its order.
inline constexpr const char* report_names[] = {"report.md", "report.html", "results.csv",
                                               "junit.xml"};

/// Removes the files `render_all` writes from `out_dir` where they exist, and returns those
/// removed: a run that writes results.json without reports must not leave an earlier run's
/// reports beside it, describing other results (a new user's check). Never fails: a file that
/// cannot be removed is left and not returned.
std::vector<std::filesystem::path> remove_reports(const std::filesystem::path& out_dir);

/// The same for the runner's ordered documents (converted, then rendered).
result<std::vector<std::filesystem::path>> render_all(const nlohmann::ordered_json& results,
                                                      const std::filesystem::path& out_dir);

}  // namespace zbatch::reports
