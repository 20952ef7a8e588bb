#pragma once
// Time points for the actors' tests of plain state machines (rate limiter, retry policy, limiter
// actor): every test starts at the clock's epoch and names later instants in milliseconds from it.
// Header-only, constants and pure functions.

#include <chrono>
#include <cstdint>

#include "actors/rate_limiter.hpp"

namespace zbatch::test {

/// The tests' start instant.
inline constexpr actors::time_point t0{};

/// `ms` milliseconds after t0.
inline actors::time_point at_ms(std::int64_t ms) { return t0 + std::chrono::milliseconds(ms); }

}  // namespace zbatch::test
