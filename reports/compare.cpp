#include "reports/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>

#include "reports/metric_table.hpp"
#include "reports/results.hpp"
#include "reports/stats.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

std::optional<double> relative_change_pct(std::optional<double> base, std::optional<double> head) {
  if (!base || !head) {
    return std::nullopt;
  }
  if (*base == *head) {
    return 0.0;
  }
  if (*base == 0) {
    return *head > 0 ? std::numeric_limits<double>::infinity()
                     : -std::numeric_limits<double>::infinity();
  }
  return (*head - *base) / std::fabs(*base) * 100.0;
}

// Whether any strategy of `results` carries metric `m` (a reference's figure is carried by all
// or, when the run had no such reference, by none).
bool carried_by_any(const json& results, const metric& m) {
  for (const auto& s : results["strategies"]) {
    if (metric_value(m, s)) {
      return true;
    }
  }
  return false;
}

// Positive when head is worse, in percent of base.
double worsening(double change_pct, bool higher_is_better) {
  return higher_is_better ? -change_pct : change_pct;
}

// The margin rule on two single values (deterministic and single-run methods).
verdict margin_verdict(std::optional<double> base, std::optional<double> head,
                       std::optional<double> change, bool higher_is_better, double margin_pct) {
  if (!base && !head) {
    return verdict::unchanged;
  }
  if (!head) {
    return verdict::regression;  // It had a value and lost it (e.g. nothing delivered any more).
  }
  if (!base) {
    return verdict::improvement;
  }
  if (*change == 0) {
    return verdict::unchanged;
  }
  const double worse = worsening(*change, higher_is_better);
  if (worse > margin_pct) {
    return verdict::regression;
  }
  if (-worse > margin_pct) {
    return verdict::improvement;
  }
  return verdict::within_margin;
}

std::vector<double> samples(const json& strategy, const metric& m) {
  std::vector<double> out;
  for (const auto& run : strategy["runs"]) {
    if (auto v = metric_value(m, run)) {
      out.push_back(*v);
    }
  }
  return out;
}

// Changes of the independent limiters' figures are named "independent.<metric path>".
constexpr const char* independent_prefix = "independent.";

/// The metric row of a change's path, with or without the independent prefix.
const metric* metric_of(const std::string& path) {
  const std::string prefix = independent_prefix;
  return find_metric(path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path);
}

const json* find_strategy(const json& results, const std::string& name) {
  for (const auto& s : results["strategies"]) {
    if (s["name"] == name) {
      return &s;
    }
  }
  return nullptr;
}

}  // namespace

const char* to_string(verdict v) {
  switch (v) {
    case verdict::unchanged:
      return "unchanged";
    case verdict::within_margin:
      return "within margin";
    case verdict::not_significant:
      return "not significant (noise)";
    case verdict::improvement:
      return "improvement";
    case verdict::regression:
      return "regression";
    case verdict::missing_in_head:
      return "missing in head";
    case verdict::new_in_head:
      return "new in head";
    case verdict::not_judged:
      return "not judged (one noisy run)";
    case verdict::not_in_runs:
      return "not judged (not in the runs)";
    case verdict::slower_for_more:
      return "slower, delivering more: not a regression";
  }
  return "?";
}

int comparison::regressions() const {
  int n = 0;
  for (const auto& c : changes) {
    n += (c.result == verdict::regression || c.result == verdict::missing_in_head) ? 1 : 0;
  }
  return n;
}

int comparison::improvements() const {
  int n = 0;
  for (const auto& c : changes) {
    n += c.result == verdict::improvement ? 1 : 0;
  }
  return n;
}

namespace {

/// Two runs of one scenario name may still be of different scenarios (an edited file): another
/// profile or another number of images is no change of the strategies (a new user's check: 4
/// free-tier images against 40 ideal ones read as 8 regressions and 11 improvements).
status same_workload(const nlohmann::json& base, const nlohmann::json& head,
                     const std::string& base_name, const std::string& head_name) {
  const auto profile = [](const json& r) {
    const json& p = r.value("profile", json());
    return p.is_object() ? p.value("name", std::string()) : std::string();
  };
  if (profile(base) != profile(head)) {
    return failed_precondition_error("profile.name differs: " + base_name + " has \"" +
                                     profile(base) + "\", " + head_name + " has \"" +
                                     profile(head) + "\" (compare runs of the same scenario)");
  }
  for (const auto& b : base["strategies"]) {
    const json* h = find_strategy(head, b["name"].get<std::string>());
    if (h != nullptr && b.value("images", json()) != h->value("images", json())) {
      return failed_precondition_error(
          "the number of images differs: " + b["name"].get<std::string>() + " ran " +
          b.value("images", json()).dump() + " in " + base_name + " and " +
          h->value("images", json()).dump() + " in " + head_name +
          " (compare runs of the same workload)");
    }
  }
  return ok_status();
}

}  // namespace

namespace {

/// What every strategy's judging shares: the options, the two files' names and the notes.
struct judge_context {
  const json& base;
  const json& head;
  const compare_options& options;
  const std::string& base_name;
  const std::string& head_name;
  /// A single repetition in a noisy mode (http, live): differences are listed, not judged.
  bool noisy_single = false;
  std::set<std::string> unjudged;  ///< Metric paths whose reference moved (see reference_notes).
  std::set<std::string> notes;
  comparison* out;
  double floor = 1;  ///< The smallest p any strategy's repetitions can reach.
};

/// The hindsight-best's identity (name and spec), or empty without one.
std::string hindsight_best(const json& results) {
  const json& h = results.value("hindsight", json());
  const json& best = h.is_object() ? h.value("best", json()) : json();
  return best.is_object()
             ? best.value("name", std::string()) + " " + best.value("spec", std::string())
             : std::string();
}

/// A metric measured against a reference that is not the same in both files (another
/// hindsight-best, another clairvoyant makespan) compares two yardsticks, not two strategies: a
/// new user's check flagged 8 regressions, adaptive's among them although its makespan improved.
void reference_notes(judge_context& ctx) {
  const std::string base_best = hindsight_best(ctx.base), head_best = hindsight_best(ctx.head);
  if (!base_best.empty() && !head_best.empty() && base_best != head_best) {
    // The names, or the whole identity when only the spec differs.
    const bool same_name =
        base_best.substr(0, base_best.find(' ')) == head_best.substr(0, head_best.find(' '));
    const auto name = [&](const json& r) {
      return "\"" +
             (same_name ? hindsight_best(r)
                        : r["hindsight"]["best"].value("name", std::string("?"))) +
             "\"";
    };
    ctx.unjudged.insert({"efficiency_vs_hindsight", "regret_ms"});
    ctx.notes.insert("The hindsight-best moved: " + ctx.base_name + " has " + name(ctx.base) +
                     ", " + ctx.head_name + " has " + name(ctx.head) +
                     " (hindsight.best); efficiency vs hindsight-best and regret measure against "
                     "different references and are not judged (the makespans are).");
  }
  const auto clairvoyant = [](const json& r) {
    const json& c = r.value("clairvoyant", json());
    return c.is_object() ? number_at(c, "makespan_ms") : std::nullopt;
  };
  const auto base_c = clairvoyant(ctx.base), head_c = clairvoyant(ctx.head);
  if (base_c && head_c && *base_c != *head_c) {
    ctx.unjudged.insert("efficiency_vs_clairvoyant");
    ctx.notes.insert("The clairvoyant's makespan moved: " + format_seconds(base_c) + " in " +
                     ctx.base_name + ", " + format_seconds(head_c) + " in " + ctx.head_name +
                     " (clairvoyant.makespan_ms); efficiency vs clairvoyant is not judged.");
  }
}

/// The method for one strategy's repetitions (see compare.hpp), noting why where it matters.
/// `common` is set to the repetitions judged when only the first ones of each side compare
/// (sim, one seed, other repetition counts), else 0 (the summaries are judged).
std::string choose_method(judge_context& ctx, std::size_t base_runs, std::size_t head_runs,
                          std::size_t& common) {
  common = 0;
  const std::string mode = ctx.base["mode"].get<std::string>();
  const bool same_seed = ctx.base["seed"] == ctx.head["seed"];
  if (mode == "sim" && !same_seed) {
    ctx.notes.insert("Seeds differ (" + ctx.base["seed"].dump() + " vs " + ctx.head["seed"].dump() +
                     "), so sim results are not comparable value by value.");
  }
  if (mode == "sim" && same_seed && base_runs == head_runs) {
    return "deterministic";
  }
  if (mode == "sim" && same_seed && base_runs > 0 && head_runs > 0) {
    // Repetition i plays seed + i on both sides, so the first ones are the same runs: a new
    // user's one run, byte-identical to the baseline's first, read as 25 regressions against
    // the mean of 5.
    common = std::min(base_runs, head_runs);
    ctx.notes.insert("Repetition counts differ (" + std::to_string(base_runs) + " in " +
                     ctx.base_name + ", " + std::to_string(head_runs) + " in " + ctx.head_name +
                     ") on the same seed: repetition i plays seed + i on both sides, so each "
                     "strategy is judged deterministically on the means of its first " +
                     std::to_string(common) + (common == 1 ? " repetition" : " repetitions") +
                     "; rerun with the same --repeat to compare every repetition.");
    return "deterministic";
  }
  if (base_runs >= 2 && head_runs >= 2) {
    const double floor = min_attainable_p(base_runs, head_runs);
    ctx.floor = std::min(ctx.floor, floor);
    if (floor >= ctx.options.alpha) {
      ctx.out->untestable = true;
      ctx.notes.insert(std::to_string(base_runs) + " and " + std::to_string(head_runs) +
                       " repetitions cannot reach p < " + format_decimal(ctx.options.alpha, 3) +
                       " (smallest possible p is " + format_decimal(floor, 3) +
                       "): no metric can fail; use more repetitions (9 or more recommended).");
    }
    return "mann-whitney";
  }
  if (mode != "sim") {
    // Two identical http runs differed by 17 "regressions": one noisy run says nothing.
    ctx.noisy_single = true;
    ctx.out->noisy_single = true;
    ctx.out->untestable = true;
    ctx.notes.insert("One repetition in " + mode + " mode (runs in " + ctx.base_name + ": " +
                     std::to_string(base_runs) + ", " + ctx.head_name + ": " +
                     std::to_string(head_runs) +
                     "): a single noisy run cannot be judged; the differences are listed as "
                     "information only. Use 2 or more repetitions (9 or more recommended).");
  } else {
    ctx.notes.insert(
        "One repetition outside deterministic sim mode: changes are judged on single "
        "values by the " +
        format_decimal(ctx.options.max_regression_pct, 2) +
        "% margin without accounting for noise; use 2 or more repetitions.");
  }
  return "single-run";
}

/// The margin rule on the means (`b` and `h`), for deterministic or single runs.
void judge_by_margin(const judge_context& ctx, const metric& m, std::optional<double> b,
                     std::optional<double> h, metric_change& c) {
  c.base = b;
  c.head = h;
  c.change_pct = relative_change_pct(c.base, c.head);
  const std::string_view path = m.path;
  const bool success = path == "success_rate" || path == "deliverable_success_rate";
  c.margin_pct = success && c.method == "deterministic"
                     ? std::min(ctx.options.max_regression_pct, success_margin_pct)
                     : ctx.options.max_regression_pct;
  c.result = margin_verdict(c.base, c.head, c.change_pct, m.higher_is_better, c.margin_pct);
  if (ctx.noisy_single && c.result != verdict::unchanged) {
    c.result = verdict::not_judged;
  }
}

/// The Mann-Whitney rule on the per-repetition values.
void judge_by_test(const judge_context& ctx, const std::vector<double>& xs,
                   const std::vector<double>& ys, bool higher_is_better, metric_change& c) {
  c.base = median(xs);
  c.head = median(ys);
  c.change_pct = relative_change_pct(c.base, c.head);
  const auto test = mann_whitney_u(xs, ys);
  c.p_value = test.p_value;
  const bool all_equal =
      xs == ys || (std::set<double>(xs.begin(), xs.end()).size() == 1 &&
                   std::set<double>(ys.begin(), ys.end()).size() == 1 && xs[0] == ys[0]);
  if (all_equal) {
    c.result = verdict::unchanged;
  } else if (std::fabs(*c.change_pct) <= ctx.options.min_effect_pct) {
    c.result = verdict::within_margin;
  } else if (test.p_value >= ctx.options.alpha) {
    c.result = verdict::not_significant;
  } else {
    c.result =
        worsening(*c.change_pct, higher_is_better) > 0 ? verdict::regression : verdict::improvement;
  }
}

/// Whether metric `m` is compared at all: a figure neither side has is skipped silently, one
/// whose reference is absent from one file or moved is skipped with a note.
bool comparable(judge_context& ctx, const metric& m, const json& b, const json& h) {
  // A metric only some results carry (e.g. against the clairvoyant) is compared when either
  // side has it: files written before it existed compare as they did.
  if ((m.views & if_present) != 0 && !metric_value(m, b) && !metric_value(m, h)) {
    return false;
  }
  // A reference one file was run without (--no-hindsight, no clairvoyant) is no change of
  // the strategies: counted as lost, it made an unchanged run 12 regressions.
  const bool in_base = carried_by_any(ctx.base, m), in_head = carried_by_any(ctx.head, m);
  if ((m.views & if_present) != 0 && (!in_base || !in_head)) {
    ctx.notes.insert(std::string(name_in(m, metric_view::compare)) + ": not compared, " +
                     (in_base ? ctx.head_name : ctx.base_name) +
                     " has no such figure for any strategy (its run had no such reference, e.g. "
                     "--no-hindsight)");
    return false;
  }
  return ctx.unjudged.count(m.path) == 0;
}

/// Whether `object` has the key at the dotted `path` ("latency_ms.p95"), null or not.
bool has_path(const json& object, const std::string& path) {
  const json* at = &object;
  std::size_t from = 0;
  while (true) {
    const std::size_t dot = path.find('.', from);
    const std::string key = path.substr(from, dot == std::string::npos ? dot : dot - from);
    if (!at->is_object() || !at->contains(key)) {
      return false;
    }
    at = &(*at)[key];
    if (dot == std::string::npos) {
      return true;
    }
    from = dot + 1;
  }
}

/// The mean of metric `m` over the first `count` runs of `strategy` (those with a value, as the
/// summaries count); nullopt inside when none has one, nullopt outside when a run lacks the
/// metric altogether (a file written before it existed).
std::optional<std::optional<double>> mean_of_first_runs(const json& strategy, const metric& m,
                                                        std::size_t count) {
  const json& runs = strategy.value("runs", json::array());
  if (!runs.is_array() || runs.size() < count) {
    return std::nullopt;
  }
  double sum = 0;
  std::size_t with_value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!has_path(runs[i], m.path)) {
      return std::nullopt;
    }
    if (auto v = metric_value(m, runs[i])) {
      sum += *v;
      ++with_value;
    }
  }
  return with_value == 0 ? std::optional<double>()
                         : std::optional<double>(sum / static_cast<double>(with_value));
}

/// Every metric of one set of figures of strategy `name` (its summary, or its `independent`
/// one under `prefix` "independent."), appended to ctx.out; on the means of the first `common`
/// runs of each side when set (see choose_method).
void judge_figures(judge_context& ctx, const std::string& name, const std::string& prefix,
                   const json& b, const json& h, const std::string& method, std::size_t common) {
  for (const auto& m : metrics_in(metric_view::compare)) {
    if (!comparable(ctx, m, b, h)) {
      continue;
    }
    metric_change c;
    c.strategy = name;
    c.metric = prefix + m.path;
    c.label = (prefix.empty() ? "" : "independent ") + name_in(m, metric_view::compare);
    c.higher_is_better = m.higher_is_better;
    c.method = method;
    const auto xs = samples(b, m), ys = samples(h, m);
    if (method == "mann-whitney" && (xs.size() < 2 || ys.size() < 2)) {
      // Too few runs with a value (e.g. runs that delivered nothing): judge the means.
      c.method = "single-run";
    }
    if (c.method == "mann-whitney") {
      judge_by_test(ctx, xs, ys, m.higher_is_better, c);
    } else if (common == 0) {
      judge_by_margin(ctx, m, metric_value(m, b), metric_value(m, h), c);
    } else if (auto bm = mean_of_first_runs(b, m, common), hm = mean_of_first_runs(h, m, common);
               bm && hm) {
      judge_by_margin(ctx, m, *bm, *hm, c);
    } else {
      // Only the common repetitions compare, and this figure is not in the runs: the summaries'
      // values, means over other repetition counts, are shown for information.
      c.base = metric_value(m, b);
      c.head = metric_value(m, h);
      c.change_pct = relative_change_pct(c.base, c.head);
      c.result = verdict::not_in_runs;
      ctx.notes.insert(c.label +
                       ": not in every run, so not comparable on the common "
                       "repetitions: listed, not judged (rerun with the same --repeat).");
    }
    ctx.out->changes.push_back(c);
  }
}

/// The independent limiters' figures of a several-client scenario (limiter "both"): judged like
/// the shared ones, under "independent." (the gate never looked at them: a new user halved
/// adaptive's independent success and read "no regression").
void judge_independent(judge_context& ctx, const std::string& name, const json& b, const json& h,
                       const std::string& method, std::size_t common) {
  const auto has = [](const json& s) {
    return s.contains("independent") && s["independent"].is_object();
  };
  if (has(b) && has(h)) {
    judge_figures(ctx, name, independent_prefix, b["independent"], h["independent"], method,
                  common);
  } else if (has(b) != has(h)) {
    ctx.notes.insert(name + ": independent figures only in " +
                     (has(b) ? ctx.base_name : ctx.head_name) +
                     " (limiter \"both\" on one side only): not compared.");
  }
}

/// Whether the strategy's success rates (under `prefix`) rose beyond the noise or margin and
/// none fell.
bool delivers_more(const std::vector<metric_change>& changes, const std::string& strategy,
                   const std::string& prefix) {
  bool more = false;
  for (const auto& c : changes) {
    if (c.strategy != strategy ||
        (c.metric != prefix + "success_rate" && c.metric != prefix + "deliverable_success_rate")) {
      continue;
    }
    if (c.result == verdict::regression) {
      return false;
    }
    more = more || c.result == verdict::improvement;
  }
  return more;
}

/// The tests of one comparison judged together: each p of a change beyond the minimum effect
/// (the only ones a verdict can rest on) is replaced by its Benjamini-Hochberg adjusted value
/// over all of them (Benjamini & Hochberg 1995: the expected share of noise among the changes
/// reported stays at most alpha), and the verdicts read it. A new user's check: two seeds of
/// one code, about 70 metrics at 5 % each, 10 "regressions" at p = 0.048. Changes below the
/// minimum effect cannot fail and keep their p.
void adjust_for_many_tests(judge_context& ctx) {
  std::vector<metric_change*> tested;
  for (auto& c : ctx.out->changes) {
    if (c.p_value && (c.result == verdict::regression || c.result == verdict::improvement ||
                      c.result == verdict::not_significant)) {
      tested.push_back(&c);
    }
  }
  if (tested.size() < 2) {
    return;
  }
  std::stable_sort(
      tested.begin(), tested.end(),
      [](const metric_change* x, const metric_change* y) { return *x->p_value < *y->p_value; });
  const auto m = static_cast<double>(tested.size());
  double running = 1.0;  // adjusted p = min over ranks j >= i of p_(j) * m / j
  for (std::size_t i = tested.size(); i-- > 0;) {
    running = std::min(running, *tested[i]->p_value * m / static_cast<double>(i + 1));
    auto& c = *tested[i];
    c.p_value = running;
    c.result = running >= ctx.options.alpha                       ? verdict::not_significant
               : worsening(*c.change_pct, c.higher_is_better) > 0 ? verdict::regression
                                                                  : verdict::improvement;
  }
  ctx.out->tests = static_cast<int>(tested.size());
  if (!ctx.out->untestable && ctx.floor * m >= ctx.options.alpha) {
    ctx.notes.insert(std::to_string(tested.size()) +
                     " changes beyond the minimum effect were tested together: one alone needs "
                     "p < " +
                     format_decimal(ctx.options.alpha / m, 4) +
                     ", below the smallest p these repetitions can reach (" +
                     format_decimal(ctx.floor, 4) +
                     "), so only changes seen in several metrics at once can show; use 9 or more "
                     "repetitions.");
  }
}

/// The reports' own rule (losing images makes a strategy look fast, docs/report-formats.md):
/// a strategy that delivers more beyond the noise (margin when deterministic) pays for those
/// images in time, so its longer times are no regression. A new user's token-bucket that went
/// from 60% to 90% delivered failed the gate on makespan and regret.
void excuse_slower_for_more(judge_context& ctx) {
  for (auto& c : ctx.out->changes) {
    const metric* m = metric_of(c.metric);
    if (c.result != verdict::regression || m == nullptr || m->unit != metric_unit::milliseconds) {
      continue;
    }
    const std::string prefix = c.metric.substr(0, c.metric.size() - std::strlen(m->path));
    if (!delivers_more(ctx.out->changes, c.strategy, prefix)) {
      continue;
    }
    c.result = verdict::slower_for_more;
    ctx.notes.insert(c.strategy + (prefix.empty() ? "" : " (independent limiters)") +
                     ": its success rate rose beyond the " +
                     (c.method == "mann-whitney" ? "noise" : "margin") +
                     ", so its longer times are the cost of the images it now delivers, not "
                     "regressions (losing images is what makes a strategy fast).");
  }
}

}  // namespace

result<comparison> compare_results(const nlohmann::json& base, const nlohmann::json& head,
                                   const compare_options& options, const std::string& base_name,
                                   const std::string& head_name) {
  ZBATCH_RETURN_IF_ERROR(validate_results(base, base_name));
  ZBATCH_RETURN_IF_ERROR(validate_results(head, head_name));
  const std::string base_scenario = base["scenario"]["name"].get<std::string>();
  const std::string head_scenario = head["scenario"]["name"].get<std::string>();
  if (base_scenario != head_scenario) {
    return failed_precondition_error("scenario.name differs: " + base_name + " has \"" +
                                     base_scenario + "\", " + head_name + " has \"" +
                                     head_scenario + "\" (compare runs of the same scenario)");
  }
  const std::string mode = base["mode"].get<std::string>();
  if (head["mode"] != mode) {
    return failed_precondition_error("mode differs: " + base_name + " is " + mode + ", " +
                                     head_name + " is " + head["mode"].get<std::string>() +
                                     " (compare runs of the same mode)");
  }
  ZBATCH_RETURN_IF_ERROR(same_workload(base, head, base_name, head_name));
  comparison out;
  out.scenario = base_scenario;
  out.mode = mode;
  out.options = options;
  judge_context ctx{base, head, options, base_name, head_name, false, {}, {}, &out, 1.0};
  reference_notes(ctx);
  for (const auto& b : base["strategies"]) {
    const std::string name = b["name"].get<std::string>();
    const json* h = find_strategy(head, name);
    if (h == nullptr) {
      metric_change missing;
      missing.strategy = name;
      missing.label = "strategy";
      missing.result = verdict::missing_in_head;
      out.changes.push_back(missing);
      continue;
    }
    std::size_t common = 0;
    const std::string method = choose_method(ctx, b["runs"].size(), (*h)["runs"].size(), common);
    judge_figures(ctx, name, "", b, *h, method, common);
    judge_independent(ctx, name, b, *h, method, common);
  }
  for (const auto& h : head["strategies"]) {
    const std::string name = h["name"].get<std::string>();
    if (find_strategy(base, name) == nullptr) {
      metric_change added;
      added.strategy = name;
      added.label = "strategy";
      added.result = verdict::new_in_head;
      out.changes.push_back(added);
    }
  }
  adjust_for_many_tests(ctx);
  excuse_slower_for_more(ctx);
  out.notes.assign(ctx.notes.begin(), ctx.notes.end());
  return out;
}

std::string comparison_markdown(const comparison& c) {
  const int regressions = c.regressions();
  const int improvements = c.improvements();
  std::set<std::string> methods;
  bool any_p = false;
  for (const auto& change : c.changes) {
    if (!change.method.empty()) {
      methods.insert(change.method);
    }
    any_p = any_p || change.p_value.has_value();
  }
  std::string method_text;
  for (const auto& m : methods) {
    method_text += (method_text.empty() ? "" : ", ") + m;
  }
  std::string out = "### zbatch compare: " + markdown_escape(c.scenario) + " (" + c.mode + ")\n\n";
  out += regressions > 0 ? "**❌ " + std::to_string(regressions) + " regression" +
                               (regressions == 1 ? "" : "s") + "**"
         : c.untestable
             // A new user's check: "✅ no regression" over a +21% change that could not fail.
             ? std::string("**⚠️ no regression detectable** (too few repetitions: see below)")
             : std::string("**✅ no regression**");
  // A single noisy run applies no margin (a new user's check: "margin 5%" over nothing judged).
  const bool margin_applies = !(c.noisy_single && methods == std::set<std::string>{"single-run"});
  out += ", " + std::to_string(improvements) + " improvement" + (improvements == 1 ? "" : "s") +
         ". Method: " + (method_text.empty() ? "none" : method_text) +
         (margin_applies ? "; margin " + format_decimal(c.options.max_regression_pct, 2) + "%"
                         : std::string(" (one noisy run: listed, not judged)"));
  if (methods.count("deterministic") > 0) {
    out += " (" + format_decimal(std::min(c.options.max_regression_pct, success_margin_pct), 2) +
           "% on success rates)";
  }
  if (methods.count("mann-whitney") > 0) {
    out += ", alpha " + format_decimal(c.options.alpha, 3) + ", minimum effect " +
           format_decimal(c.options.min_effect_pct, 2) + "%";
  }
  out += ".\n\n";
  std::size_t hidden = 0;
  std::string rows;
  for (const auto& change : c.changes) {
    // Medians can match while the samples differ: such rows say nothing in a PR comment.
    const bool negligible = change.result == verdict::within_margin && change.change_pct &&
                            std::fabs(*change.change_pct) < 0.05;
    if (change.result == verdict::unchanged || negligible) {
      ++hidden;
      continue;
    }
    // Strategy rows (missing or new in head) name no metric and show no values.
    const metric* m = metric_of(change.metric);
    auto value_text = [&](std::optional<double> v) {
      return m != nullptr ? format_metric(*m, v, metric_view::compare) : std::string();
    };
    std::string change_text = "";
    if (change.change_pct) {
      if (std::isinf(*change.change_pct)) {
        change_text = "from 0";
      } else {
        change_text =
            (*change.change_pct > 0 ? "+" : "") + format_fixed(*change.change_pct, 1) + "%";
      }
    }
    std::string mark;
    if (change.result == verdict::regression || change.result == verdict::missing_in_head) {
      mark = "❌ **" + std::string(to_string(change.result)) + "**";
    } else if (change.result == verdict::improvement) {
      mark = "✅ improvement";
    } else if (change.result == verdict::within_margin) {
      // Name the threshold that applied: with repetitions it is the minimum effect, not the
      // margin the header shows (+6.7% is not "within" a 5% margin).
      mark = change.method == "mann-whitney"
                 ? "below the " + format_decimal(c.options.min_effect_pct, 2) + "% minimum effect"
                 : "within the " + format_decimal(change.margin_pct, 2) + "% margin";
    } else {
      mark = to_string(change.result);
    }
    const bool is_strategy_row = change.metric.empty();
    rows += "| " + markdown_escape(change.strategy) + " | " + change.label +
            (is_strategy_row ? "" : (change.higher_is_better ? " ↑" : " ↓")) + " | " +
            value_text(change.base) + " | " + value_text(change.head) + " | " + change_text + " | ";
    if (any_p) {
      rows += (change.p_value ? format_fixed(*change.p_value, 3) : "") + " | ";
    }
    rows += mark + " |\n";
  }
  if (!rows.empty()) {
    out += any_p ? "| Strategy | Metric | Base | Head | Change | p | Verdict |\n"
                   "|---|---|---:|---:|---:|---:|---|\n"
                 : "| Strategy | Metric | Base | Head | Change | Verdict |\n"
                   "|---|---|---:|---:|---:|---|\n";
    out += rows + "\n";
  }
  if (hidden > 0) {
    out += std::to_string(hidden) + " metric(s) unchanged (0.0%), not listed. ";
  }
  out += "↑ higher is better, ↓ lower is better";
  out += !any_p ? "; values are means over repetitions.\n"
         : c.tests > 1
             ? "; base and head are medians over repetitions, p from a two-sided Mann-Whitney U "
               "test; the p of the " +
                   std::to_string(c.tests) +
                   " changes beyond the minimum effect adjusted together (Benjamini-Hochberg: "
                   "at most alpha of the changes reported are expected to be noise).\n"
             : "; base and head are medians over repetitions, p from a two-sided Mann-Whitney U "
               "test.\n";
  for (const auto& note : c.notes) {
    out += "\n> " + markdown_escape(note) + "\n";
  }
  return out;
}

}  // namespace zbatch::reports
