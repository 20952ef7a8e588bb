#pragma once
/// The comparison table `zbatch scenario run` prints after a run: a header (scenario, mode,
/// seed, repetitions, the bound), one fixed-width row per strategy with the terminal view of
/// reports/metric_table.hpp, then the thresholds with pass/FAIL.
///
/// Unlike the report writers it does not validate: it prints whatever the runner wrote, with "-"
/// for a missing value. Pure functions; safe from any thread.

#include <string>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

/// The table as plain text, lines ending in "\n".
std::string terminal_table(const nlohmann::json& results);

/// The same for the runner's ordered document.
std::string terminal_table(const nlohmann::ordered_json& results);

}  // namespace zbatch::reports
