#pragma once
/// Plays one scenario's workload under each of its strategies and measures the runs.
///
/// Modes: `sim` drives the real actors on CAF's test coordinator against the mock's model in
/// process (virtual time: exact, deterministic, fast); `http` runs the same actors against the
/// mock over loopback sockets on a compressed clock (`time_scale`), reporting scenario time;
/// `live` runs against the real API and is refused unless cost was explicitly accepted and the
/// workload fits the hard image cap. Every strategy of a repetition meets the same API behaviour
/// (the same model seed). Beside the bound, each strategy is measured against the hindsight-best
/// entry of a grid of static strategies played first, in virtual time, on the same seeds
/// (scenarios/references.hpp), and against the clairvoyant where the limit is a schedule. A
/// scenario with `clients` plays N coordinators on one key, sharing one limit or not: in sim mode
/// through an in-memory store, in http mode through a `redis-server` each run starts on loopback
/// (shared_limit/local_redis.hpp) and stops. The result is the results.json document
/// (docs/results-schema.md).
/// Blocking; call from one thread (sim runs fan out to worker threads it joins before returning;
/// `on_line` is then called from those threads, one call at a time; in http mode a shared
/// limit's notices come from its heartbeat threads, one call at a time).

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/strategy.hpp"
#include "scenarios/scenario.hpp"

namespace zbatch::scenarios {

enum class run_mode { sim, http, live };
std::string to_string(run_mode mode);

struct run_options {
  run_mode mode = run_mode::sim;
  std::optional<std::uint64_t> seed;  ///< Overrides the scenario's seed.
  std::optional<int> repetitions;     ///< Overrides the scenario's repetitions.
  std::optional<double> time_scale;   ///< http: overrides the scenario's time scale.
  std::string base_url;               ///< http: an external `zbatch mock`; live: the API.
  std::string api_key;                ///< live: the key (never printed or written).
  bool allow_cost = false;            ///< live: the user accepted that runs cost credits.
  int max_images = 0;                 ///< live: hard cap on images per run (0: scenario's).
  /// sim: runs (strategy × repetition) played at once on worker threads; 0 = one per core. The
  /// results do not depend on it. http and live runs are always sequential.
  int threads = 0;
  /// Play the hindsight grid (scenarios/references.hpp: 28 static strategies × the repetitions,
  /// in virtual time whatever the mode) and report every strategy against its best entry. Off:
  /// results.json's `hindsight` is null and the figures against it too. Never in live mode.
  bool hindsight = true;
  /// Progress lines ("serial rep 1/3: 4/4 delivered in 18.0 s"); may be empty.
  std::function<void(const std::string&)> on_line;
};

/// Checks strategies, thresholds and the profile of a loaded scenario; fails (invalid_argument,
/// not_found for an unknown profile) naming the file and field path. `run_scenario` calls it
/// first.
status check_scenario(const scenario& s);

/// The strategy of one scenario entry (preset, compact form or JSON object).
result<actors::strategy_spec> strategy_of(const strategy_entry& entry);

/// Every duration of a strategy multiplied by `factor` (http mode's compressed clock).
actors::strategy_spec scale_strategy(actors::strategy_spec spec, double factor);

/// What a live run can cost at most, strategy by strategy: each plays images × repetitions,
/// and each image can be charged for `actors::max_paid_submits_per_image` submits (the first,
/// and the resubmits its spec allows after a refunded failure, a lost answer or a hung task).
struct live_cost_bound {
  struct strategy_bound {
    std::string label;
    int submits_per_image = 1;  ///< Charged (or possibly charged) submits per image at most.
    double credits = 0;         ///< images × repetitions × submits_per_image × cost per task.
  };
  std::vector<strategy_bound> strategies;
  double cost_per_task = 0;
  double credits = 0;  ///< Their sum.
};

/// The bound above. Fails as check_scenario does for a bad strategy, as resolve_profile for a
/// bad profile.
result<live_cost_bound> live_cost_bound_of(const scenario& s, const run_options& options);

/// Credits a live run would spend at most: live_cost_bound_of's sum.
result<double> live_cost_estimate(const scenario& s, const run_options& options);

/// Runs everything and returns results.json. Fails as check_scenario does; invalid_argument for
/// `clients` in live mode; failed_precondition for a run that must not start (live without
/// consent, over the cap, no key, a backend that cannot be built, http `clients` sharing a limit
/// without `redis-server`); unavailable when the mock at `base_url` does not answer or a run's
/// `redis-server` does not start; internal when a simulated batch does not finish. The runs raise a
/// status_error on their worker threads and the first one is returned here; exceptions of the
/// libraries underneath (a server that cannot listen) still propagate.
result<nlohmann::ordered_json> run_scenario(const scenario& s, const run_options& options);

}  // namespace zbatch::scenarios
