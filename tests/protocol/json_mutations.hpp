#pragma once
// Seeded, platform-independent mutations of JSON texts for the fast-path equivalence tests.
#include <algorithm>
#include <cstdint>
#include <string>

namespace zbatch::testing {

/// A small deterministic generator (splitmix64): the same mutations on every platform.
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

/// `text` with one to three random edits: byte deletions, insertions and replacements (from an
/// alphabet of JSON punctuation, escapes, digits, non-ASCII and control bytes), neighbour swaps,
/// a duplicated slice (repeated members, duplicate keys) or a truncation.
inline std::string mutate(std::string text, rng& random) {
  static const std::string alphabet = std::string("{}[]\":,\\ \t\n0123456789-+.eEtrufalsn_xu/") +
                                      "\x80\xC3\xA9\xE4\xED\xFF" + std::string(1, '\0') +
                                      "\x1F\x7F";
  const int edits = 1 + static_cast<int>(random.below(3));
  for (int i = 0; i < edits; ++i) {
    const auto at = random.below(text.size() + 1);
    switch (random.below(6)) {
      case 0:  // delete a byte
        if (at < text.size()) {
          text.erase(at, 1);
        }
        break;
      case 1:  // insert a byte
        text.insert(at, 1, alphabet[random.below(alphabet.size())]);
        break;
      case 2:  // swap two neighbours
        if (at + 1 < text.size()) {
          std::swap(text[at], text[at + 1]);
        }
        break;
      case 3:  // replace a byte
        if (at < text.size()) {
          text[at] = alphabet[random.below(alphabet.size())];
        }
        break;
      case 4: {  // duplicate a slice (makes duplicate keys and repeated members)
        const auto length =
            random.below(std::min<std::size_t>(text.size() - std::min(at, text.size()), 40) + 1);
        text.insert(at, text.substr(at, length));
        break;
      }
      default:  // truncate
        text.resize(at);
        break;
    }
  }
  return text;
}

}  // namespace zbatch::testing
