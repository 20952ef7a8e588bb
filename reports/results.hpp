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
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

/// The results.json schema version these readers understand.
inline constexpr int results_schema_version = 1;

/// A results document that cannot be used; what() is "ORIGIN: field.path: what is wrong".
class results_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads, parses and validates a results file. Throws results_error naming the file.
nlohmann::json load_results(const std::filesystem::path& file);

/// Checks a parsed document; `origin` names it in errors. Throws results_error.
void validate_results(const nlohmann::json& results, const std::string& origin);

/// The number at `path` (e.g. "latency_ms.p95") inside `object`, or nullopt when it is null or
/// absent.
std::optional<double> number_at(const nlohmann::json& object, const std::string& path);

}  // namespace zbatch::reports
