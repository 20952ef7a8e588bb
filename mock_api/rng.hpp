#pragma once
/// The mock's seeded random numbers: xoshiro256** seeded through splitmix64, with hand-written
/// distributions so the same seed gives the same draws on every standard library (std::
/// distributions are implementation-defined). Not thread-safe: the model guards its streams.

#include <cmath>
#include <cstdint>
#include <string>

namespace zbatch::mock {

/// splitmix64 step: also a good 64-bit mixing function for hashing.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// FNV-1a over bytes, for deriving values from text (prompts, keys).
inline std::uint64_t fnv1a(const std::string& text, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

class rng {
 public:
  /// `stream` selects an independent sequence for the same seed (ids, faults, latency...).
  explicit rng(std::uint64_t seed = 0, std::uint64_t stream = 0) { reseed(seed, stream); }

  void reseed(std::uint64_t seed, std::uint64_t stream = 0) {
    std::uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (auto& word : s_) {
      word = splitmix64(state);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Standard normal by Box-Muller; always consumes exactly two draws.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

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

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace zbatch::mock
