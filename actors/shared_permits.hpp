#pragma once
/// The limiter actor's shared store (permit_gate.hpp) on a shared_limit::permit_client, used
/// by `zbatch generate --shared-limit` (a Redis store, wall time) and by the scenario runner's
/// `clients` (N coordinators on one limiter actor over an in-memory store, virtual time), so both
/// share one key's limits by the same rules: the strategy's in-flight limit (fixed, or the adaptive
/// limit shared by all), its submit pacing, the quota stop, the circuit breaker (open until a time,
/// then one probe for all) and the rate-limit header figures (the account's remaining count at 0
/// stops every process; a model's at 0 stops that model's images in every process, the other
/// models go on).
///
/// Lifetime: the gate owns its client; it must outlive the limiter actor (permit_gate.hpp).
/// Threading: as permit_gate (the limiter actor); the client is thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "actors/permit_gate.hpp"
#include "actors/strategy.hpp"
#include "shared_limit/permit_client.hpp"

namespace zbatch::actors {

/// What a strategy shares: an adaptive in-flight limit as the shared AIMD limit (its floor is
/// the guaranteed limit degraded mode divides), a fixed one as it is (`unbounded`: no limit
/// worth the name), a token bucket or a spacing as shared GCRA pacing. The rest after an image
/// (`gap`) stays per coordinator. Lease, heartbeat and notices are left at their defaults.
shared_limit::permit_options shared_permit_options(const strategy_spec& strategy);

/// A time on the store's clock (ms): `after` from now, or with none the next daily quota reset.
using store_clock = std::function<std::int64_t(std::optional<millis> after)>;

/// The gate over `client`; `clock` places quota stops, circuit openings and the figures' reset
/// on the store's clock; `open_for` is how long a failed half-open probe reopens the circuit
/// (the strategy's `circuit.open_for`).
std::shared_ptr<permit_gate> make_shared_permit_gate(
    std::unique_ptr<shared_limit::permit_client> client, store_clock clock, millis open_for);

}  // namespace zbatch::actors
