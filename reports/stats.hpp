#pragma once
/// The Mann-Whitney U test (Wilcoxon rank-sum), two-sided, for comparing the repetitions of two
/// runs without assuming a distribution.
///
/// Exact p-value (the permutation distribution of the midrank sum over every split of the pooled
/// values, ties included) when both samples hold at most `exact_limit` values; otherwise the
/// normal approximation with tie correction and a continuity correction (as
/// scipy.stats.mannwhitneyu does), never below min_attainable_p (the exact test's floor, which
/// ties only raise). Pure functions.

#include <cstddef>
#include <vector>

namespace zbatch::reports {

struct mann_whitney_result {
  double u_x = 0;      ///< U of the first sample: pairs (x, y) with x > y, ties counting 1/2.
  double u_y = 0;      ///< n_x * n_y - u_x.
  double p_value = 1;  ///< Two-sided.
  bool exact = false;  ///< True when the exact permutation distribution was used.
};

/// Samples up to this size (each) get the exact p-value, with or without ties (at most
/// C(40, 20) splits, counted by rank sum rather than enumerated).
inline constexpr std::size_t exact_limit = 20;

/// Two-sided test of x against y. Both samples need at least one value (p = 1 otherwise).
mann_whitney_result mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y);

/// The smallest two-sided p-value samples of these sizes can reach (exact, no ties): below
/// alpha, no test of such samples can ever be significant.
double min_attainable_p(std::size_t n_x, std::size_t n_y);

/// The median (mean of the middle two for even sizes); 0 for none.
double median(std::vector<double> values);

}  // namespace zbatch::reports
