#pragma once
/// From a scenario's `profile` to the mock config it means, the limits that config implies for
/// the bound, and the same config on a compressed clock for http mode.

#include <string>

#include "mock_api/config.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/workload.hpp"

namespace zbatch::scenarios {

/// A shipped profile merged with the scenario's overrides (JSON merge patch), or the inline
/// config. Fails naming the scenario file and the field path.
result<mock::mock_config> resolve_profile(const scenario& s);

/// The limits an ideal client meets under this config: the guaranteed in-flight cap, the submit
/// token bucket (when it counts submits) and median times. The dynamic limit above the cap is
/// left out (nothing guarantees it), so a lucky strategy can meet the bound, not beat it by much.
/// When the limit above the cap is a schedule (`throttle.dynamic.mode` "schedule"), `schedule`
/// carries it for the clairvoyant reference.
api_limits limits_from_config(const mock::mock_config& config);

/// The config with every duration multiplied by `scale` and every rate divided by it, so that a
/// run on the compressed clock is the same scenario, faster (http mode's time scale).
mock::mock_config scale_config(mock::mock_config config, double scale);

}  // namespace zbatch::scenarios
