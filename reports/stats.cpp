#include "reports/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace zbatch::reports {
namespace {

// counts[u] = number of arrangements of n_x x's and n_y y's whose U equals u, computed with the
// recurrence f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u) (the largest value is an x or a y).
std::vector<double> u_distribution(std::size_t n_x, std::size_t n_y) {
  // table[n][u] for the current m, built up from m = 0.
  std::vector<std::vector<double>> previous(n_y + 1), current(n_y + 1);
  for (std::size_t n = 0; n <= n_y; ++n) {
    previous[n] = {1.0};  // m = 0: one arrangement, U = 0.
  }
  for (std::size_t m = 1; m <= n_x; ++m) {
    current[0] = {1.0};  // n = 0: one arrangement, U = 0.
    for (std::size_t n = 1; n <= n_y; ++n) {
      std::vector<double> counts(m * n + 1, 0.0);
      // The largest value is an x: it beats all n y's.
      for (std::size_t u = 0; u < previous[n].size(); ++u) {
        counts[u + n] += previous[n][u];
      }
      // The largest value is a y: it adds nothing to U.
      for (std::size_t u = 0; u < current[n - 1].size(); ++u) {
        counts[u] += current[n - 1][u];
      }
      current[n] = std::move(counts);
    }
    std::swap(previous, current);
  }
  return previous[n_y];
}

double exact_two_sided(double u_x, std::size_t n_x, std::size_t n_y) {
  const auto counts = u_distribution(n_x, n_y);
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  const double u_min = std::min(u_x, static_cast<double>(n_x * n_y) - u_x);
  double tail = 0;
  for (std::size_t u = 0; u < counts.size() && static_cast<double>(u) <= u_min + 1e-9; ++u) {
    tail += counts[u];
  }
  return std::min(1.0, 2.0 * tail / total);
}

}  // namespace

mann_whitney_result mann_whitney_u(const std::vector<double>& x, const std::vector<double>& y) {
  mann_whitney_result out;
  const std::size_t n_x = x.size(), n_y = y.size();
  if (n_x == 0 || n_y == 0) {
    return out;
  }
  // Midranks of the pooled sample.
  std::vector<std::pair<double, bool>> pooled;  // value, is_x
  for (double v : x) {
    pooled.emplace_back(v, true);
  }
  for (double v : y) {
    pooled.emplace_back(v, false);
  }
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::size_t n = pooled.size();
  double rank_sum_x = 0;
  double tie_term = 0;  // sum of t^3 - t over tie groups
  bool ties = false;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && pooled[j + 1].first == pooled[i].first) {
      ++j;
    }
    const double group = static_cast<double>(j - i + 1);
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2.0;
    if (group > 1) {
      ties = true;
      tie_term += group * group * group - group;
    }
    for (std::size_t k = i; k <= j; ++k) {
      if (pooled[k].second) {
        rank_sum_x += midrank;
      }
    }
    i = j + 1;
  }
  const double nx = static_cast<double>(n_x), ny = static_cast<double>(n_y);
  out.u_x = rank_sum_x - nx * (nx + 1.0) / 2.0;
  out.u_y = nx * ny - out.u_x;
  if (!ties && n_x <= exact_limit && n_y <= exact_limit) {
    out.exact = true;
    out.p_value = exact_two_sided(out.u_x, n_x, n_y);
    return out;
  }
  const double total = static_cast<double>(n);
  const double mean = nx * ny / 2.0;
  const double variance = nx * ny / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
  if (variance <= 0) {
    return out;  // Every value tied: no evidence of a difference.
  }
  const double z = std::max(0.0, std::fabs(out.u_x - mean) - 0.5) / std::sqrt(variance);
  // Never below what the exact test of such samples can reach: with ties its distribution is
  // coarser still, and the approximation gave p = 0.047 for 3 identical repetitions against 3
  // others, where no test at 5% is possible (a recommendation then claimed significance).
  out.p_value = std::max(min_attainable_p(n_x, n_y), std::min(1.0, std::erfc(z / std::sqrt(2.0))));
  return out;
}

double min_attainable_p(std::size_t n_x, std::size_t n_y) {
  if (n_x == 0 || n_y == 0) {
    return 1.0;
  }
  // Complete separation: 2 / C(n_x + n_y, n_x).
  double combinations = 1;
  for (std::size_t k = 1; k <= n_x; ++k) {
    combinations = combinations * static_cast<double>(n_y + k) / static_cast<double>(k);
  }
  return std::min(1.0, 2.0 / combinations);
}

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
}

}  // namespace zbatch::reports
