#pragma once
/// The project's one seeded generator: xoshiro256** seeded through splitmix64, with hand-written
/// distributions so the same seed gives the same draws on every standard library (std::
/// distributions are implementation-defined). The mock draws its ids, faults and latencies from
/// it and the actors their backoff jitter, so a seed replays both exactly.
///
/// A plain value: not thread-safe; each owner (the mock's model, one coordinator) keeps its own.

#include <cmath>
#include <cstdint>
#include <string_view>

namespace zbatch::base {

/// splitmix64 step: advances `state` and returns the next output. Also a good 64-bit mixing
/// function for hashing (the mock's PNG colours).
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// 64-bit FNV-1a over the bytes of `text`, continuing from `hash`: values derived from text
/// (prompts, keys, batch lines) that are the same on every platform and run.
inline std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

/// xoshiro256** (Blackman and Vigna). The four state words are splitmix64 outputs from
/// `seed ^ (stream * 0xd1b54a32d192ed03)`, so `stream` selects an independent sequence for the
/// same seed (the mock's ids, faults, latency...); stream 0 is the plain seed.
class rng {
 public:
  explicit rng(std::uint64_t seed = 0, std::uint64_t stream = 0) { reseed(seed, stream); }

  void reseed(std::uint64_t seed, std::uint64_t stream = 0) {
    std::uint64_t state = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (auto& word : s_) {
      word = splitmix64(state);
    }
  }

  /// The next 64 random bits.
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

  /// Uniform in [0, 1) with 53 bits; one draw.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Standard normal by Box-Muller; always consumes exactly two draws.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace zbatch::base
