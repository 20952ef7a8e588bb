#pragma once
/// `zbatch report compare`: the change between two results.json files of the same scenario, per
/// strategy and metric, and the decision a CI gate needs (regression or not).
///
/// Decision rules (docs/report-formats.md has the full text):
/// - deterministic: both files are sim mode with the same seed and repetition count, so equal
///   code gives byte-identical results; a metric that got worse by more than
///   `max_regression_pct` (relative to base) is a regression. With the same seed but other
///   repetition counts, repetition i still plays seed + i on both sides: the means of the first
///   min(n, m) runs are judged so (a metric the runs lack is listed as `not_in_runs`).
/// - mann-whitney: otherwise, when both sides have at least 2 repetitions, a metric regresses
///   only if the two-sided Mann-Whitney U test on the per-repetition values has p < `alpha`
///   AND the medians moved the bad way by more than `min_effect_pct`. The p of every change
///   beyond the minimum effect is adjusted over all of them (Benjamini-Hochberg), so tens of
///   metrics at 5 % do not make noise a few "regressions".
/// - single-run: otherwise (one repetition on either side, not deterministic). In sim mode the
///   margin rule on the single values, with a note that noise is not accounted for; in a noisy
///   mode (http, live) nothing is judged: the differences are listed as `not_judged`.
/// A strategy of base missing from head is a regression; one new in head is reported only. The
/// metrics include the regret against the hindsight-best (`regret_ms`), so the gate fails when a
/// strategy's regret grows by more than the margin; a metric that neither side carries (the
/// clairvoyant's, without a schedule) is not compared, and neither is one whose reference
/// differs between the files (another hindsight-best configuration, another clairvoyant
/// makespan): a note names both. Several-client results with independent limiters (`limiter:
/// both`) also compare each strategy's `independent` figures, named `independent.<metric>`.
/// A strategy whose success rate rose beyond the noise (margin when deterministic) has its
/// worse time metrics marked `slower_for_more`, not regressions (losing images makes a strategy
/// fast).
/// Improvements are reported and never fail. Pure functions.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::reports {

struct compare_options {
  double max_regression_pct = 5.0;  ///< Deterministic and single-run margin.
  double min_effect_pct = 10.0;     ///< Mann-Whitney: smallest median change that can fail.
  double alpha = 0.05;              ///< Mann-Whitney significance level.
};

enum class verdict {
  unchanged,        ///< Identical values (or both without a value).
  within_margin,    ///< Changed, by no more than the margin / minimum effect.
  not_significant,  ///< Changed beyond the minimum effect, but p >= alpha: noise.
  improvement,
  regression,
  missing_in_head,  ///< The strategy is in base only: counts as a regression.
  new_in_head,      ///< The strategy is in head only: reported, never fails.
  not_judged,       ///< Changed, but one repetition of a noisy mode cannot be judged.
  not_in_runs,      ///< Judged on common repetitions only, and the runs lack this metric.
  slower_for_more,  ///< A time metric worse while the success rate rose: not a regression.
};

const char* to_string(verdict v);

/// One compared metric: the compare view of reports/metric_table.hpp (success_rate, ...).
struct metric_change {
  std::string strategy;
  /// Path in the strategy summary, e.g. "latency_ms.p95" or "independent.makespan_ms".
  std::string metric;
  std::string label;  ///< Human name, e.g. "p95 latency".
  bool higher_is_better = false;
  std::string method;                ///< deterministic | mann-whitney | single-run
  std::optional<double> base, head;  ///< Means, or medians for mann-whitney.
  std::optional<double> change_pct;  ///< (head - base) / |base| × 100; ±inf from a zero base.
  std::optional<double> p_value;     ///< mann-whitney only; adjusted (Benjamini-Hochberg).
  /// The margin the verdict used (deterministic and single-run): the options' margin, or the
  /// tighter success margin (success_margin_pct) for a success rate in deterministic mode.
  double margin_pct = 0;
  verdict result = verdict::unchanged;
};

/// In deterministic sim mode a success rate that falls by more than this (in % of its base)
/// regresses whatever --max-regression says: every lost image is real there, and 5% was 40 of
/// 1000 images lost in burst-1000 passing the gate (a new user's check).
inline constexpr double success_margin_pct = 0.5;

struct comparison {
  std::string scenario;
  std::string mode;
  compare_options options;
  std::vector<metric_change> changes;
  std::vector<std::string> notes;  ///< E.g. "3 repetitions cannot reach p < 0.05".
  /// Some strategy was judged by a test its repetitions are too few for: no metric of it could
  /// fail, so "no regression" would claim what was not checked.
  bool untestable = false;
  /// One repetition of a noisy mode (http, live): the changes are listed, not judged.
  bool noisy_single = false;
  int tests = 0;  ///< Changes beyond the minimum effect whose p were adjusted together.
  int regressions() const;
  int improvements() const;
};

/// Compares two validated documents. Fails (naming `base_name`/`head_name`) when they cannot be
/// compared: invalid (invalid_argument), other scenario or mode (failed_precondition).
result<comparison> compare_results(const nlohmann::json& base, const nlohmann::json& head,
                                   const compare_options& options = {},
                                   const std::string& base_name = "base",
                                   const std::string& head_name = "head");

/// A Markdown summary fit for a pull-request comment: the verdict first, then a table of every
/// metric that changed or failed; unchanged metrics are counted, not listed.
std::string comparison_markdown(const comparison& c);

}  // namespace zbatch::reports
