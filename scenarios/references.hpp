#pragma once
/// The hindsight-best reference: a fixed grid of static strategies, played on the same seeds as
/// a scenario's strategies, and the rule that picks the best of them once all have run.
///
/// The grid (scenarios/README.md, "References") is every combination of
/// - in flight: 1, 2, 3, 4, 6, 8 or unbounded;
/// - backoff of retries (dynamic 429s and errors): short (base 100 ms, cap 2 s) or long (base
///   1 s, cap 16 s), exponential with full jitter;
/// - poll interval: 250 ms or 1 s (growing ×1.1 up to 5 s, as `adaptive` polls);
/// and every other knob as the `adaptive` preset has it (4 error retries, 20 dynamic-429 retries,
/// Retry-After honoured, ambiguous submits failed, retry budget 10:0.1, 300 s poll deadline,
/// circuit 5:10 s, stop at the quota): 28 entries, each a strategy a user could have picked.
///
/// "Best" is the shortest mean makespan among the entries that deliver as many deliverable
/// images as any entry (within half a percentage point), pay at most 1.05 submits per delivered
/// image and draw at most the scenario's politeness budget of dynamic 429s per delivered image.
/// A budget that no entry delivering enough meets is raised to the least any of them reached plus
/// the budget's own slack above the ideal (1.0 submit, 0 dynamic 429s per image): on `flaky`,
/// where failed tasks are paid again, 1.13 + 0.05 submits per image. The results name a raised
/// budget, and a scenario always has a reference. Constant data and pure
/// functions; safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "actors/strategy.hpp"

namespace zbatch::scenarios {

/// One static strategy of the grid: a name such as "static-4-b100ms-p250ms" (in flight, backoff
/// base, poll interval) and its spec.
struct grid_entry {
  std::string name;
  actors::strategy_spec spec;
};

/// The 28 entries, lowest in-flight limit first (ties in the pick go to the earlier entry: the
/// cheaper, politer one).
const std::vector<grid_entry>& hindsight_grid();

/// The pick's thresholds.
struct hindsight_rules {
  /// Deliverable success may trail the best by this share of it (0.5 point when it is 100%).
  double success_tolerance = 0.005;
  /// Paid submits per delivered image, possibly paid ones counted (the high end).
  double max_submits_per_image = 1.05;
  double max_429_per_image = 1.0;  ///< Dynamic 429s per delivered image (politeness).
};

/// One entry's means over the repetitions, as the pick reads them (nullopt: no value, e.g.
/// nothing delivered; such an entry cannot be picked).
struct entry_figures {
  double makespan_ms = 0;
  std::optional<double> deliverable_success_rate;
  std::optional<double> submits_per_image;
  std::optional<double> dynamic_429_per_image;
};

/// The outcome of the pick.
struct hindsight_pick {
  std::optional<std::size_t> best;   ///< Index of the best entry; nullopt: no entry had a
                                     ///< deliverable image (or none ran).
  double success_floor = 0;          ///< Deliverable success an entry needed.
  double max_submits_per_image = 0;  ///< The budgets applied (raised when none met them).
  double max_429_per_image = 0;
  std::vector<std::string> relaxed;  ///< "submits_per_image", "dynamic_429_per_image".
  /// Per entry: "best", "eligible", or why it was left out: "success", "submits", "429s".
  std::vector<std::string> verdicts;
};

/// Applies the rule above to the entries' figures (in grid order).
hindsight_pick pick_hindsight_best(const std::vector<entry_figures>& entries,
                                   const hindsight_rules& rules);

}  // namespace zbatch::scenarios
