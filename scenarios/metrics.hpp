#pragma once
/// What one run of one strategy produced, and the figures computed from it.
///
/// The runner fills a `run_record` per strategy and repetition (from the coordinator's results,
/// the backend's request counts and the mock's stats); `compute_metrics` turns it into the
/// figures of docs/results-schema.md; `summarize` aggregates repetitions. Pure functions.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zbatch::scenarios {

struct trace_event {
  std::int64_t t_ms = 0;
  std::string event;  ///< queued, permit, submit, accepted, poll, 429, error, retry, ...
  std::string detail;
};

struct image_record {
  int index = 0;  ///< Position in the whole workload.
  int batch = 0;
  std::int64_t seed = 0;
  std::string size;
  bool delivered = false;
  std::string error_class;  ///< protocol::to_string(error_class) when failed.
  std::string message;
  int attempts = 0;  ///< Submits made for this image.
  std::int64_t queued_at_ms = 0;
  std::int64_t finished_at_ms = 0;
  std::vector<trace_event> trace;
};

struct run_record {
  std::uint64_t seed = 0;
  std::vector<image_record> images;
  /// endpoint ("submit", "poll", "download") → HTTP status ("200", "429", "transport") → count.
  std::map<std::string, std::map<std::string, std::int64_t>> requests;
  std::int64_t http_429_dynamic = 0;
  std::int64_t http_429_quota = 0;
  std::int64_t retries = 0;
  /// Paid submits: the tasks the service created (each one costs credits), those whose answer
  /// was lost included, as the mock counts them; live mode (no stats): those seen accepted.
  std::int64_t submits = 0;
  /// The client's own count: submits answered with a task, and submits whose answer was lost
  /// (a reset or transport failure after the request left, a gateway 5xx, a garbled 200: the
  /// coordinator's `ambiguous_submits`), each of which may have created a paid task.
  std::int64_t submits_accepted = 0;
  std::int64_t submits_possibly_paid = 0;
  double credits_used = 0;
  double credits_per_submit = 0;  ///< The profile's cost per task (the high end's credits).

  std::int64_t makespan_ms = 0;  ///< From the first arrival to the last image settled.
};

struct latency_summary {
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};

/// What a strategy's runs are measured against (docs/results-schema.md, "References").
struct run_references {
  double bound_ms = 0;  ///< The bound under the guaranteed limits.
  /// The hindsight-best grid entry's makespan in each repetition (the same seed as the run of
  /// that repetition); empty when the grid was not played.
  std::vector<std::int64_t> hindsight_ms;
  /// The clairvoyant makespan, when the profile's limit is a schedule.
  std::optional<double> clairvoyant_ms;
};

/// Nearest-rank percentile of unsorted samples; 0 for none.
double percentile(std::vector<double> samples, double p);

/// Figures of one run, as the `runs[]` entries of results.json (ordered keys). The figures
/// against a reference that `references` lacks are null.
nlohmann::ordered_json compute_metrics(const run_record& run, int repetition,
                                       const run_references& references);
/// The same against the bound alone.
nlohmann::ordered_json compute_metrics(const run_record& run, int repetition,
                                       double bound_makespan_ms);

/// One strategy over all its runs: the means at the top level, `spread`, `runs` and the first
/// run's `image_records`, in the key order of docs/results-schema.md. At most
/// `max_image_records` records are written (the metrics still use every image); when some were
/// left out, `image_records_omitted` follows with their number.
nlohmann::ordered_json summarize(const std::string& label, const std::string& spec,
                                 const std::vector<run_record>& runs,
                                 const run_references& references,
                                 std::size_t max_image_records = static_cast<std::size_t>(-1));
/// The same against the bound alone.
nlohmann::ordered_json summarize(const std::string& label, const std::string& spec,
                                 const std::vector<run_record>& runs, double bound_makespan_ms,
                                 std::size_t max_image_records = static_cast<std::size_t>(-1));

/// The image records (with traces) of one run: the first `limit` images.
nlohmann::ordered_json image_records_json(const run_record& run,
                                          std::size_t limit = static_cast<std::size_t>(-1));

}  // namespace zbatch::scenarios
