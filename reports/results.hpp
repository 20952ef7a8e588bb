#pragma once
/// Reading `results.json` (docs/results-schema.md) for the report writers and the comparison.
///
/// `load_results` reads and parses a file and `validate_results` checks a parsed document
/// against the fields the reports use, before anything is rendered: every error names the
/// origin (a file, or "results" for an in-memory document), the field path and what is allowed,
/// worded as every JSON input of the project words it (base/json_reader.hpp). Unknown keys are
/// ignored, as the schema promises. Pure functions, no shared state.

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::reports {

/// The results.json schema version these readers understand.
inline constexpr int results_schema_version = 1;

/// Reads, parses and validates a results file. A file that cannot be read is not_found, one that
/// is not valid JSON or not a usable results document invalid_argument; the message is
/// "ORIGIN: field.path: what is wrong" with the file as ORIGIN.
result<nlohmann::json> load_results(const std::filesystem::path& file);

/// Checks a parsed document; `origin` names it in errors (invalid_argument).
status validate_results(const nlohmann::json& results, const std::string& origin);

/// The number at `path` (e.g. "latency_ms.p95") inside `object`, or nullopt when it is null or
/// absent.
std::optional<double> number_at(const nlohmann::json& object, const std::string& path);

}  // namespace zbatch::reports
