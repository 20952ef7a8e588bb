#pragma once
/// "Did you mean ...?" for a mistyped name (a subcommand, a preset, a scenario, an option): the
/// candidate at the smallest edit distance (Levenshtein, case-insensitive), if it is close
/// enough to be a typo. Header-only, no state; safe from any thread.

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zbatch::base {

/// Insertions, deletions, substitutions and swaps of two neighbours turning `a` into `b`,
/// ignoring case (optimal string alignment distance).
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (std::size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = lower(a[i - 1]) == lower(b[j - 1]);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

/// The closest candidate when it is within a third of the name's length (at least 1, at most
/// 3 edits) or the name is a prefix of exactly one candidate; none otherwise.
inline std::optional<std::string> closest(std::string_view name,
                                          const std::vector<std::string>& candidates) {
  if (name.empty()) {
    return std::nullopt;
  }
  std::optional<std::string> prefix_match;
  int prefixes = 0;
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    if (candidate.size() > name.size() && candidate.compare(0, name.size(), name) == 0) {
      prefix_match = candidate;
      ++prefixes;
    }
    const auto d = edit_distance(name, candidate);
    if (!best || d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  const std::size_t allowed = std::clamp<std::size_t>(name.size() / 3, 1, 3);
  if (best && best_distance <= allowed) {
    return best;
  }
  if (prefixes == 1) {
    return prefix_match;
  }
  return std::nullopt;
}

/// " (did you mean 'X'?)" or "".
inline std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates) {
  const auto match = closest(name, candidates);
  return match ? " (did you mean '" + *match + "'?)" : std::string();
}

}  // namespace zbatch::base
