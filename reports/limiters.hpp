#pragma once
/// The limiter comparison of a several-client scenario (results.json `clients` > 1 with
/// `limiter: both`, docs/results-schema.md): per strategy, the figures of one limit shared by
/// every client beside those of independent limiters, as a table every report format renders
/// (Markdown, HTML, the terminal). Pure functions; the text is plain (callers escape it).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

struct limiter_table {
  std::string title;                           ///< "4 clients on one API key: ..."
  std::vector<std::string> header;             ///< The strategy column first.
  std::vector<std::vector<std::string>> rows;  ///< One per strategy with both figure sets.
  std::string note;                            ///< What the columns mean.
};

/// The table, or nullopt when the results carry no independent figures (one client, or a
/// several-client scenario that played one limiter only).
std::optional<limiter_table> limiter_comparison(const nlohmann::json& results);

}  // namespace zbatch::reports
