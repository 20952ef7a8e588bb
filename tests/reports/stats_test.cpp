#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "reports/stats.hpp"

namespace zbatch::reports {
namespace {

TEST(mann_whitney_u, complete_separation_small_samples_exact) {
  const auto r = mann_whitney_u({1, 2, 3}, {4, 5, 6});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 0);
  EXPECT_DOUBLE_EQ(r.u_y, 9);
  EXPECT_NEAR(r.p_value, 0.1, 1e-12);  // 2 / C(6,3)
  const auto five = mann_whitney_u({10, 11, 12, 13, 14}, {1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(five.u_x, 25);
  EXPECT_NEAR(five.p_value, 2.0 / 252.0, 1e-12);
}

TEST(mann_whitney_u, known_value_unequal_sizes) {
  // Ranks of x in the pooled sample are 3, 5, 7, 8, 9: U_x = 32 - 15 = 17, U_y = 3;
  // P(U <= 3) = (1 + 1 + 2 + 3) / C(9,4) = 7/126, two-sided 14/126 (scipy: 0.1111).
  const auto r = mann_whitney_u({19, 22, 16, 29, 24}, {20, 11, 17, 12});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 17);
  EXPECT_DOUBLE_EQ(r.u_y, 3);
  EXPECT_NEAR(r.p_value, 14.0 / 126.0, 1e-12);
}

// Independent check of the exact distribution: enumerate every split of 1..n into x and y.
TEST(mann_whitney_u, exact_matches_enumeration) {
  const int n_x = 4, n_y = 5, n = n_x + n_y;
  std::vector<int> counts(n_x * n_y + 1, 0);
  int total = 0;
  for (int mask = 0; mask < (1 << n); ++mask) {
    if (__builtin_popcount(static_cast<unsigned>(mask)) != n_x) {
      continue;
    }
    int u = 0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if ((mask >> i & 1) && !(mask >> j & 1) && i > j) {
          ++u;
        }
      }
    }
    ++counts[u];
    ++total;
  }
  for (int u = 0; u <= n_x * n_y / 2; ++u) {
    // Build samples whose U_x is u: x takes values so that exactly u (x, y) pairs have x > y.
    int cumulative = 0;
    for (int k = 0; k <= u; ++k) {
      cumulative += counts[k];
    }
    const double expected = std::min(1.0, 2.0 * cumulative / total);
    // Find one arrangement with this U to feed the test.
    for (int mask = 0; mask < (1 << n); ++mask) {
      if (__builtin_popcount(static_cast<unsigned>(mask)) != n_x) {
        continue;
      }
      std::vector<double> x, y;
      for (int i = 0; i < n; ++i) {
        ((mask >> i & 1) ? x : y).push_back(i);
      }
      const auto r = mann_whitney_u(x, y);
      if (r.u_x == u) {
        EXPECT_NEAR(r.p_value, expected, 1e-12) << "u=" << u;
        break;
      }
    }
  }
}

// A new user's check on preview-4: success rates of 5 repetitions against 5, full of ties. The
// normal approximation said p = 0.041 and the gate flagged token-bucket; enumerating the 252
// splits gives 20 at least as extreme: p = 20/252 = 0.079.
TEST(mann_whitney_u, small_tied_samples_get_the_exact_permutation_p) {
  const auto r = mann_whitney_u({.5, .75, .75, .5, .5}, {.25, .25, .5, .5, .25});
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.p_value, 20.0 / 252.0, 1e-12);
  // Midranks 1.5, 1.5, 3.5 | 3.5, 5.5, 5.5: 4 of the 20 splits are as extreme.
  const auto small = mann_whitney_u({1, 1, 2}, {2, 3, 3});
  EXPECT_TRUE(small.exact);
  EXPECT_DOUBLE_EQ(small.u_x, 0.5);
  EXPECT_NEAR(small.p_value, 4.0 / 20.0, 1e-12);
}

TEST(mann_whitney_u, large_tied_samples_use_normal_approximation_with_tie_correction) {
  // 21 values each, x = 0 × 11 and 1 × 10, y = 1 × 11 and 2 × 10: tie groups of 11, 21 and 10.
  std::vector<double> x(11, 0.0), y(11, 1.0);
  x.resize(21, 1.0);
  y.resize(21, 2.0);
  const auto r = mann_whitney_u(x, y);
  EXPECT_FALSE(r.exact);
  // Midranks 6, 22, 37.5: U_x = 11 × 6 + 10 × 22 − 21 × 22 / 2 = 55; mean 220.5.
  EXPECT_DOUBLE_EQ(r.u_x, 55);
  const double tie_term = (11.0 * 11 * 11 - 11) + (21.0 * 21 * 21 - 21) + (10.0 * 10 * 10 - 10);
  const double variance = 21.0 * 21 / 12 * (43 - tie_term / (42.0 * 41));
  EXPECT_NEAR(r.p_value, std::erfc((220.5 - 55 - 0.5) / std::sqrt(variance) / std::sqrt(2.0)),
              1e-12);
}

// Three identical repetitions against three others: the approximation alone said p = 0.047,
// below the 0.1 that any test of 3 and 3 values can reach (a new user's check).
TEST(mann_whitney_u, tied_samples_never_go_below_what_the_exact_test_can_reach) {
  const auto r = mann_whitney_u({3.3, 3.3, 3.3}, {4.0, 4.0, 4.0});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 0);
  EXPECT_NEAR(r.p_value, min_attainable_p(3, 3), 1e-12);
  EXPECT_NEAR(r.p_value, 0.1, 1e-12);
}

TEST(mann_whitney_u, large_samples_use_the_normal_approximation) {
  std::vector<double> x, y;
  for (int i = 0; i < 30; ++i) {
    x.push_back(i);
    y.push_back(i + 100);
  }
  const auto r = mann_whitney_u(x, y);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u_x, 0);
  EXPECT_LT(r.p_value, 1e-9);
}

TEST(mann_whitney_u, identical_samples_are_not_different) {
  EXPECT_DOUBLE_EQ(mann_whitney_u({5, 5, 5}, {5, 5, 5}).p_value, 1.0);
  EXPECT_GT(mann_whitney_u({1, 2, 3, 4}, {1, 2, 3, 4}).p_value, 0.9);
  EXPECT_DOUBLE_EQ(mann_whitney_u({}, {1, 2}).p_value, 1.0);
}

TEST(mann_whitney_u, symmetric_in_its_arguments) {
  const auto a = mann_whitney_u({3, 8, 1, 9}, {2, 4, 5, 7, 6});
  const auto b = mann_whitney_u({2, 4, 5, 7, 6}, {3, 8, 1, 9});
  EXPECT_DOUBLE_EQ(a.p_value, b.p_value);
  EXPECT_DOUBLE_EQ(a.u_x, b.u_y);
}

TEST(stats, min_attainable_p_and_median) {
  EXPECT_NEAR(min_attainable_p(3, 3), 0.1, 1e-12);
  EXPECT_NEAR(min_attainable_p(2, 2), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(min_attainable_p(5, 5), 2.0 / 252.0, 1e-12);
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0);
}

}  // namespace
}  // namespace zbatch::reports
