#pragma once
/// The mock's seeded random numbers: the project's generator (base/rng.hpp) plus the task and
/// request ids drawn from it. Not thread-safe: the model guards its streams.

#include <cstdint>
#include <string>

#include "base/rng.hpp"

namespace zbatch::mock {

using base::fnv1a;
using base::splitmix64;

class rng : public base::rng {
 public:
  using base::rng::rng;

  /// UUID version 4 text from two draws.
  std::string uuid() {
    std::uint64_t hi = next();
    std::uint64_t lo = next();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) {
        out.push_back('-');
      }
      const std::uint64_t word = i < 16 ? hi : lo;
      const int shift = 60 - 4 * (i % 16);
      out.push_back(digits[(word >> shift) & 0xf]);
    }
    return out;
  }
};

}  // namespace zbatch::mock
