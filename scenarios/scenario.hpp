#pragma once
/// Scenario files: one workload, the API behaviour it meets and the strategies to compare.
///
/// A scenario is JSON (schema `version` 1, documented in scenarios/README.md). `load_scenario`
/// reads and validates a file completely before anything runs; every error names the file, the
/// field path and what is allowed, worded as every JSON input of the project words it
/// (base/json_reader.hpp). Plain values, no threading concerns.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"
#include "protocol/size.hpp"

namespace zbatch::scenarios {

inline constexpr int scenario_version = 1;

enum class arrival_kind { all_at_once, fixed_rate, poisson };

struct arrival_spec {
  arrival_kind kind = arrival_kind::all_at_once;
  double batches_per_second = 0;  ///< For fixed_rate and poisson.
};

struct workload_spec {
  int batches = 1;
  int images_per_batch = 4;
  std::vector<std::string> prompts;         ///< Batch b uses prompts[b % size].
  std::vector<protocol::image_size> sizes;  ///< Image i of a batch uses sizes[i % size].
  std::int64_t seed_base = 1000;            ///< Image i of a batch gets seed_base + i.
  arrival_spec arrival;
  int total_images() const { return batches * images_per_batch; }
};

struct strategy_entry {
  std::string label;  ///< Name in tables and thresholds: the preset name, or the given label.
  std::string spec;   ///< Preset name or compact spec, as `zbatch generate --strategy` takes.
  nlohmann::json spec_json;  ///< The JSON form, when the scenario gave an object.
};

struct profile_spec {
  std::string name;              ///< A shipped profile, or "inline".
  nlohmann::json overrides;      ///< Merged over the profile (RFC 7386 merge patch); may be null.
  nlohmann::json inline_config;  ///< The whole config, when name == "inline".
};

/// How the coordinators of a several-client scenario limit themselves: one limit shared through
/// a store (shared_limit/, as `zbatch generate --shared-limit`), each its own (as N processes
/// without Redis), or both side by side.
enum class limiter_kind { shared, independent, both };
/// "shared", "independent", "both".
std::string to_string(limiter_kind kind);

struct scenario {
  std::string name;
  std::string description;
  std::filesystem::path file;
  profile_spec profile;
  workload_spec workload;
  std::vector<strategy_entry> strategies;
  int repetitions = 1;
  std::uint64_t seed = 1;
  std::vector<std::string> thresholds;
  double time_scale = 0.01;  ///< http mode: scenario seconds × time_scale = wall seconds.
  int live_max_images = 0;   ///< live mode: the hard cap on images; 0 forbids live runs.
  /// The politeness budget of the hindsight-best reference: a grid entry that drew more dynamic
  /// 429s per delivered image than this cannot be "best" (`hindsight.max_429_per_image`).
  double max_429_per_image = 1.0;
  /// Coordinators on one API key (`clients`): batch b of the workload goes to client b % clients,
  /// all start at once; the run's figures are their sum (makespan: the last one to end).
  int clients = 1;
  /// With clients > 1: the limiter the `strategies` rows measure (`limiter`); `both` plays every
  /// strategy twice, the rows shared and an `independent` figure set beside each.
  limiter_kind limiter = limiter_kind::both;
};

/// Reads and validates a scenario file. Fails with "FILE: field.path: what is wrong (allowed
/// ...)" (invalid_argument), "FILE:LINE:COLUMN: not valid JSON: ..." or "FILE: cannot be read"
/// (not_found).
result<scenario> load_scenario(const std::filesystem::path& file);
/// Validates an already parsed document; `origin` names it in errors.
result<scenario> parse_scenario(const nlohmann::json& document, const std::string& origin);

}  // namespace zbatch::scenarios
