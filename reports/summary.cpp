#include "reports/summary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

#include "reports/results.hpp"
#include "reports/stats.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

// Values equal after the schema's 3-decimal rounding count as ties.
bool same(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(a)); }

std::string plural(double count, const std::string& one, const std::string& many) {
  return format_decimal(count, 1) + " " + (same(count, 1) ? one : many);
}

std::string reason_text(const std::string& key) {
  static const std::map<std::string, std::string> texts = {
      {"dynamic_429", "429 (dynamic)"},
      // Also the images never sent once the day's calls were known spent (no 429 for them).
      {"quota_429", "the daily quota (a quota 429, or not sent once no calls were left)"},
      {"server_transport", "server or transport errors"},
      {"request_error", "request errors"},
      {"moderation", "moderation"},
      {"task_failed", "failed tasks"},
      {"malformed", "malformed responses"},
      {"deadline", "the deadline"},
      {"cancelled", "cancellation"}};
  auto it = texts.find(key);
  return it == texts.end() ? key : it->second;
}

std::string join(const std::vector<std::string>& parts, const std::string& last_separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == parts.size()) ? last_separator : ", ";
    }
    out += parts[i];
  }
  return out;
}

// Every part, `separator` between each two.
std::string join_all(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& part : parts) {
    out += (out.empty() ? "" : separator) + part;
  }
  return out;
}

}  // namespace

namespace {

// Deliverable success, or the success rate for results written before it; 0 when absent.
double success_of(const json& strategy) {
  return number_at(strategy, "deliverable_success_rate")
      .value_or(number_at(strategy, "success_rate").value_or(0.0));
}

double best_success(const json& results) {
  double best = 0;
  for (const auto& s : results["strategies"]) {
    best = std::max(best, success_of(s));
  }
  return best;
}

// Within 0.5% of the best's images (0.5 point when the best delivered all), as the
// recommendation counts it. Relative, not in points: at 0.5% success, 0.5 point made a strategy
// that delivered 3 images "as complete" as those that delivered 10 (a new user's check).
bool complete_enough(double success, double best) { return success >= best * (1.0 - 0.005) - 1e-9; }

}  // namespace

std::vector<metric_winner> winners(const nlohmann::json& results) {
  std::vector<metric_winner> out;
  const double best = best_success(results);
  const bool no_quota = without_quota(results);
  for (const auto& metric : metrics_in(metric_view::report, results)) {
    metric_winner w{metric, {}, std::nullopt, ""};
    const std::string path = metric.path;
    if (path == "credits_used" && no_quota) {
      w.note = "no quota in this profile";
      out.push_back(std::move(w));
      continue;
    }
    const bool success_metric = path == "success_rate" || path == "deliverable_success_rate";
    for (const auto& strategy : results["strategies"]) {
      auto value = metric_value(metric, strategy);
      if (!value || (!success_metric && !complete_enough(success_of(strategy), best))) {
        continue;
      }
      std::string name = strategy["name"].get<std::string>();
      // An eligible strategy may still have lost a few images: say so next to its name.
      const double rate = strategy["success_rate"].get<double>();
      if (!success_metric && rate < 1.0 - 1e-9) {
        name += " (delivered " + format_percent(rate) + ")";
      }
      if (!w.value || same(*value, *w.value)) {
        if (!w.value) {
          w.value = value;
        }
        w.names.push_back(name);
      } else if (metric.higher_is_better ? *value > *w.value : *value < *w.value) {
        w.value = value;
        w.names = {name};
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::string winner_text(const metric_winner& w, std::size_t max_listed) {
  if (!w.note.empty()) {
    return w.note;
  }
  if (w.names.empty()) {
    return "n/a";
  }
  if (w.names.size() > max_listed) {
    return std::to_string(w.names.size()) + " strategies tie";
  }
  return join(w.names, ", ");
}

std::string winner_rule(const nlohmann::json& results) {
  const bool deliverable = std::any_of(
      results["strategies"].begin(), results["strategies"].end(),
      [](const json& s) { return number_at(s, "deliverable_success_rate").has_value(); });
  return std::string("Only strategies within 0.5% of the best ") +
         (deliverable ? "deliverable success" : "success rate") + " (" +
         format_percent(best_success(results)) +
         ") can win the other metrics: losing images makes a strategy look fast and cheap.";
}

/// The grid always plays in virtual time; rows played over sockets carry their HTTP overhead
/// into regret and efficiency against it (a new user's check: regret -4.2 s in sim, +50.9 s in
/// http for one strategy), so say so where the modes differ.
std::string grid_mode_text(const nlohmann::json& results) {
  const std::string mode = results.value("mode", "sim");
  if (mode == "sim") {
    return {};
  }
  return "; the grid plays in virtual time, the rows here in " + mode +
         " mode, so their regret includes the sockets' overhead";
}

std::vector<reference_line> reference_lines(const nlohmann::json& results) {
  std::vector<reference_line> out;
  const json& hindsight = results.value("hindsight", json());
  if (hindsight.is_object() && hindsight.value("best", json()).is_object()) {
    const json& best = hindsight["best"];
    std::string detail = best["name"].get<std::string>() + ", the fastest of " +
                         std::to_string(hindsight.value("grid", json::array()).size()) +
                         " static strategies on the same seeds within the success, submit and "
                         "429 budgets";
    if (!hindsight.value("relaxed", json::array()).empty()) {
      std::vector<std::string> raised;
      for (const auto& name : hindsight["relaxed"]) {
        const std::string key = name.get<std::string>() == "submits_per_image"
                                    ? "max_submits_per_image"
                                    : "max_429_per_image";
        // A budget raised to no value (a results file from before best was null when
        // nothing was delivered) reads as unknown, never as an abort.
        const auto value = number_at(hindsight, key);
        raised.push_back(name.get<std::string>() + " to " +
                         (value ? format_decimal(*value, 3) : std::string("an unknown value")));
      }
      detail += " (no entry met every budget; raised " + join(raised, " and ") + ")";
    }
    detail += grid_mode_text(results);
    out.push_back(
        {"hindsight-best", best["makespan_ms"].get<double>(), detail, best.value("spec", "")});
  }
  const json& clairvoyant = results.value("clairvoyant", json());
  if (clairvoyant.is_object()) {
    out.push_back({"clairvoyant", clairvoyant["makespan_ms"].get<double>(),
                   clairvoyant.value("explanation", ""), ""});
  }
  return out;
}

namespace {

/// What the recommendation reads of one strategy; absent figures are worst.
struct candidate {
  std::string name;
  std::string spec;     ///< The compact spec, as results.json has it; empty when absent.
  double success = 0;   ///< Deliverable success (success rate when the results have none).
  double makespan = 0;  ///< Mean, ms.
  double submits = std::numeric_limits<double>::infinity();  ///< Paid submits per image.
  /// The same counting possibly paid submits (equal to `submits` when none was).
  double submits_high = std::numeric_limits<double>::infinity();
  double per_429 = std::numeric_limits<double>::infinity();  ///< Dynamic 429s per image.
  std::vector<double> runs;                                  ///< Makespan of each repetition.
  std::vector<double> success_runs;  ///< Deliverable success of each repetition.
};

std::vector<candidate> candidates(const json& results) {
  std::vector<candidate> out;
  if (!results.contains("strategies") || !results["strategies"].is_array()) {
    return out;
  }
  for (const auto& s : results["strategies"]) {
    auto makespan = number_at(s, "makespan_ms");
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !makespan) {
      continue;
    }
    candidate c;
    c.name = s["name"].get<std::string>();
    if (s.contains("spec") && s["spec"].is_string()) {
      c.spec = s["spec"].get<std::string>();
    }
    c.makespan = *makespan;
    c.success = number_at(s, "deliverable_success_rate")
                    .value_or(number_at(s, "success_rate").value_or(0.0));
    c.submits = number_at(s, "submits_per_image").value_or(c.submits);
    // Files written before the high end existed have none: the range is then one figure.
    c.submits_high = number_at(s, "submits_per_image_high").value_or(c.submits);
    c.per_429 = number_at(s, "dynamic_429_per_image").value_or(c.per_429);
    if (s.contains("runs") && s["runs"].is_array()) {
      for (const auto& run : s["runs"]) {
        if (auto ms = number_at(run, "makespan_ms")) {
          c.runs.push_back(*ms);
        }
        if (auto rate = number_at(run, "deliverable_success_rate")
                            .value_or(number_at(run, "success_rate").value_or(-1.0));
            rate >= 0) {
          c.success_runs.push_back(rate);
        }
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// What lets a test tell two strategies apart: 4 repetitions each reach p = 0.029.
constexpr const char* too_few_hint = "--repeat 4 or more allows a test";

/// How a's and b's makespans compare against the noise.
struct noise_verdict {
  bool tested = false;    ///< Repetitions enough for a test at 5% (4 or more each).
  bool distinct = false;  ///< Tested, and the difference is larger than the noise.
  std::string why;        ///< The sentence saying so.
};

/// "3 repetitions each", "one repetition each", "2 and 3 repetitions".
std::string repetitions_text(std::size_t a, std::size_t b) {
  if (a == b) {
    return a == 1 ? "one repetition each" : std::to_string(a) + " repetitions each";
  }
  return std::to_string(a) + " and " + std::to_string(b) + " repetitions";
}

/// Whether a's and b's makespans differ by more than the noise. Only a test at 5% can call two
/// strategies alike: repetitions too few for one (3 and 3, or one each) leave the faster mean
/// as the best estimate, its lead untested (a new user's check: off-peak recommended retry as
/// indistinguishable from adaptive, which was 3× faster in every repetition).
noise_verdict beyond_noise(const candidate& a, const candidate& b) {
  if (min_attainable_p(a.runs.size(), b.runs.size()) >= 0.05) {
    std::string why =
        "a lead untested with " + repetitions_text(a.runs.size(), b.runs.size()) + " (";
    if (a.runs.size() >= 2 && b.runs.size() >= 2) {
      const bool apart = *std::max_element(a.runs.begin(), a.runs.end()) <
                         *std::min_element(b.runs.begin(), b.runs.end());
      why += std::string(apart ? "every" : "not every") + " repetition of " + a.name +
             " was faster than every one of " + b.name + "; ";
    }
    return {false, false, why + too_few_hint + ")"};
  }
  const auto test = mann_whitney_u(a.runs, b.runs);
  return {true, test.p_value < 0.05,
          "Mann-Whitney p = " + format_fixed(test.p_value, 3) + " over " +
              std::to_string(a.runs.size()) + " and " + std::to_string(b.runs.size()) +
              " repetitions"};
}

/// Whether `a` delivered more than `b` beyond the noise of their repetitions, in words.
std::string success_noise_text(const candidate& a, const candidate& b) {
  const auto& x = a.success_runs;
  const auto& y = b.success_runs;
  if (x.size() < 2 || y.size() < 2) {
    return "one repetition: whether the lead is beyond the noise is not known";
  }
  const std::string counts =
      std::to_string(x.size()) + " and " + std::to_string(y.size()) + " repetitions";
  if (min_attainable_p(x.size(), y.size()) >= 0.05) {
    const bool apart =
        *std::min_element(x.begin(), x.end()) > *std::max_element(y.begin(), y.end());
    return std::string(apart ? "every" : "not every") + " repetition of " + a.name +
           " delivered more than every one of " + b.name + "; " + counts +
           " are too few for a test at 5%";
  }
  const auto test = mann_whitney_u(x, y);
  return std::string(test.p_value < 0.05 ? "a lead larger than the noise"
                                         : "a lead within the noise") +
         " (Mann-Whitney p = " + format_fixed(test.p_value, 3) + " over " + counts + ")";
}

/// What `pick` has over `other`, a faster strategy it cannot be told from: "the cheaper",
/// "the politer, as cheap", ... (a new user's check read "the cheaper and politer" of two that
/// paid the same).
std::string better_text(const candidate& pick, const candidate& other) {
  const bool cheaper = pick.submits < other.submits - 1e-9;
  const bool politer = pick.per_429 < other.per_429 - 1e-9;
  return cheaper && politer ? "the cheaper and politer"
         : cheaper          ? "the cheaper"
         : politer          ? "the politer, as cheap"
                            : "as cheap and polite";
}

/// What two complete-enough strategies delivered: "every deliverable image" only when both did
/// (a new user's check: 99.7% read as every image), else each one's share.
std::string delivered_text(double most, const candidate& a, const candidate& b) {
  if (same(a.success, most) && same(b.success, most)) {
    return same(most, 1.0)
               ? "delivered every deliverable image"
               : "delivered the most deliverable images (" + format_percent(a.success) + ")";
  }
  return "delivered within 0.5% of the most deliverable images (" + a.name + " " +
         format_percent(a.success) + ", " + b.name + " " + format_percent(b.success) + ")";
}

/// Said of a pick that delivered less than the runner-up it is compared with (within 0.5%).
std::string lost_text(const candidate& pick, const candidate& runner) {
  if (pick.success >= runner.success - 1e-9) {
    return {};
  }
  return " (within 0.5% of its images: " + pick.name + " delivered " +
         format_percent(pick.success) + " of deliverable images, " + runner.name + " " +
         format_percent(runner.success) + ")";
}

/// Paid submits per delivered image, "1.00" or, with possibly paid submits, "1.00 to 1.60".
std::string paid_range(double low, double high, bool fixed_decimals = true) {
  if (!std::isfinite(low)) {
    return "-";
  }
  auto text = [fixed_decimals](double v) {
    return fixed_decimals ? format_fixed(v, 2) : format_decimal(v, 2);
  };
  return std::isfinite(high) && high > low + 0.005 ? text(low) + " to " + text(high) : text(low);
}

/// A strategy's paid submits per delivered image counting possibly paid ones (old files: none).
double high_of(const json& s) {
  return number_at(s, "submits_per_image_high")
      .value_or(
          number_at(s, "submits_per_image").value_or(std::numeric_limits<double>::infinity()));
}

std::string cost_text(const candidate& c) {
  std::string out = paid_range(c.submits, c.submits_high);
  out += " paid submits and ";
  out += std::isfinite(c.per_429) ? format_fixed(c.per_429, 2) : "-";
  return out + " dynamic 429s per delivered image";
}

}  // namespace

namespace {

/// The politeness budgets: those the hindsight rule applied (results.json `hindsight.max_*`,
/// raised there when no grid entry met them), else the scenario's as set (`budgets`, a run
/// without the grid); none in files written before `budgets` existed.
struct budgets {
  std::optional<double> submits;  ///< Paid submits per delivered image.
  std::optional<double> per_429;  ///< Dynamic 429s per delivered image.
  std::string whose = "the hindsight rule's";
};

budgets budgets_of(const json& results) {
  budgets out;
  const json& hindsight = results.value("hindsight", json());
  const json& scenario = results.value("budgets", json());
  const json& from = hindsight.is_object() ? hindsight : scenario;
  if (from.is_object()) {
    out.submits = number_at(from, "max_submits_per_image");
    out.per_429 = number_at(from, "max_429_per_image");
  }
  if (!hindsight.is_object()) {
    out.whose = "the scenario's";
  }
  return out;
}

/// What `c` exceeds of the budgets: "14.40 dynamic 429s per delivered image against at most
/// 1.00 (13.40 over)"; empty when within them or unknown.
std::vector<std::string> over_budget(const candidate& c, const budgets& b) {
  std::vector<std::string> out;
  auto check = [&](double value, const std::optional<double>& budget, const char* what) {
    if (budget && std::isfinite(value) && value > *budget + 1e-9) {
      out.push_back(format_fixed(value, 2) + " " + what + " against at most " +
                    format_fixed(*budget, 2) + " (" + format_fixed(value - *budget, 2) + " over)");
    }
  };
  // The rule's own figure: possibly paid submits counted (the high end), as the grid's is.
  check(c.submits_high, b.submits, "paid submits per delivered image (possibly paid counted)");
  check(c.per_429, b.per_429, "dynamic 429s per delivered image");
  return out;
}

/// The recommendation's choice among the most complete strategies.
struct choice {
  double most = 0;                     ///< The best success.
  std::vector<candidate> complete;     ///< Within 0.5% of it and the budgets, fastest first.
  std::vector<candidate> left_out;     ///< Within 0.5% of it but over a budget others met.
  candidate pick;                      ///< The recommended one.
  std::vector<std::string> pick_over;  ///< The budgets the pick exceeds (none met them).
  bool tested = true;                  ///< Whether a test compared the fastest and runner-up.
  bool distinct = true;                ///< Whether the fastest beats the runner-up beyond noise.
  std::string why;                     ///< The noise sentence (two or more complete ones).
};

std::optional<choice> choose(const std::vector<candidate>& all, const budgets& b) {
  if (all.empty()) {
    return std::nullopt;
  }
  choice c;
  for (const auto& candidate : all) {
    c.most = std::max(c.most, candidate.success);
  }
  for (const auto& candidate : all) {
    if (complete_enough(candidate.success, c.most)) {
      c.complete.push_back(candidate);
    }
  }
  // The hindsight rule's budgets in its order (submits, then 429s): a strategy over one is left
  // out when another as complete met it; when none did, all stay and the pick says so.
  auto apply = [&](double candidate::*figure, const std::optional<double>& budget) {
    if (!budget) {
      return;
    }
    std::vector<candidate> kept, out;
    for (const auto& x : c.complete) {
      (std::isfinite(x.*figure) && x.*figure <= *budget + 1e-9 ? kept : out).push_back(x);
    }
    if (!kept.empty()) {
      c.complete = std::move(kept);
      c.left_out.insert(c.left_out.end(), out.begin(), out.end());
    }
  };
  apply(&candidate::submits_high, b.submits);
  apply(&candidate::per_429, b.per_429);
  auto faster = [](const candidate& x, const candidate& y) { return x.makespan < y.makespan; };
  std::stable_sort(c.complete.begin(), c.complete.end(), faster);
  std::stable_sort(c.left_out.begin(), c.left_out.end(), faster);
  c.pick = c.complete.front();
  if (c.complete.size() > 1) {
    const candidate& runner = c.complete[1];
    const auto noise = beyond_noise(c.pick, runner);
    c.tested = noise.tested;
    c.distinct = noise.distinct;
    c.why = noise.why;
    // Found alike by a test: the cheaper, then politer one. Untested, the faster stays.
    if (c.tested && !c.distinct &&
        (runner.submits < c.pick.submits - 1e-9 ||
         (same(runner.submits, c.pick.submits) && runner.per_429 < c.pick.per_429 - 1e-9))) {
      c.pick = runner;
    }
  }
  c.pick_over = over_budget(c.pick, b);
  return c;
}

/// " within the politeness budgets" when a budget left a strategy out, so "the fastest" and
/// "the only" read true.
std::string within_text(const choice& c) {
  return c.left_out.empty() ? "" : " within the politeness budgets";
}

/// The budgets' part of the recommendation, shared with the key findings: who was left out and
/// why, or that the pick itself is over (a new user's check: "hammer, the fastest" at 14.4
/// dynamic 429s per image, where the hindsight-best may draw 1).
std::string budget_text(const choice& c, const budgets& b) {
  std::string out;
  if (!c.left_out.empty()) {
    std::vector<std::string> parts;
    for (const auto& x : c.left_out) {
      parts.push_back(x.name + " (" + format_seconds(x.makespan) + ", " +
                      join(over_budget(x, b), " and ") + ")");
    }
    out += " Left out over " + b.whose +
           " politeness budgets (a client that hammers a free service risks its key): " +
           join_all(parts, "; ") + ".";
  }
  if (!c.pick_over.empty()) {
    out += " " + c.pick.name + " is over " + b.whose +
           " politeness budget, and so is every strategy that delivered as much: " +
           join(c.pick_over, " and ") + ".";
  }
  return out;
}

/// The strategy closest to the pick by its own order: the other of the two compared, else
/// the next fastest as complete, else the one that delivered the next most (the faster of
/// equals, as next_best_text).
const candidate* runner_up(const choice& c, const std::vector<candidate>& all) {
  for (const auto& x : c.complete) {
    if (x.name != c.pick.name) {
      return &x;
    }
  }
  const candidate* next = nullptr;
  for (const auto& x : all) {
    if (x.name != c.pick.name &&
        (next == nullptr || x.success > next->success + 1e-9 ||
         (same(x.success, next->success) && x.makespan < next->makespan))) {
      next = &x;
    }
  }
  return next;
}

}  // namespace

/// A lone leader short of every image: the strategy that delivered the next most (the faster
/// of equals), what the lead costs in time, and whether it is beyond the noise. A new user's
/// check: "retry, 98.3% in 649.1 s" said nothing of adaptive's 93.6% in 56.2 s.
std::string next_best_text(const candidate& pick, const std::vector<candidate>& all) {
  const candidate* next = nullptr;
  for (const auto& c : all) {
    if (c.name != pick.name && (next == nullptr || c.success > next->success + 1e-9 ||
                                (same(c.success, next->success) && c.makespan < next->makespan))) {
      next = &c;
    }
  }
  if (next == nullptr) {
    return {};
  }
  std::string out = " The next, " + next->name + ", delivered " + format_percent(next->success) +
                    " in " + format_seconds(next->makespan);
  if (next->makespan > 0 && pick.makespan > next->makespan * 1.05) {
    out += " (" + format_fixed(pick.makespan / next->makespan, 1) + "× faster)";
  }
  return out + "; " + success_noise_text(pick, *next) + ".";
}

std::vector<std::string> run_warnings(const nlohmann::json& results) {
  std::vector<std::string> out;
  const json& warnings = results.value("warnings", json::array());
  for (const auto& w : warnings.is_array() ? warnings : json::array()) {
    if (w.is_string()) {
      out.push_back("Warning: " + w.get<std::string>() + ".");
    }
  }
  return out;
}

namespace {

/// The recommended strategy as the user can run it: a scenario's label (e.g. "bounded-3") is no
/// preset `zbatch generate --strategy` knows, so its compact spec follows. A label that is a
/// preset's name plays that preset (the runner refuses one on another spec). The names are
/// actors::preset_names(), which the reports do not link.
std::string runnable_name(const candidate& c) {
  static const std::vector<std::string> presets = {"serial", "concurrent",   "bounded",
                                                   "retry",  "token-bucket", "adaptive"};
  if (c.spec.empty() || std::find(presets.begin(), presets.end(), c.name) != presets.end()) {
    return c.name;
  }
  return c.name + " (--strategy '" + c.spec + "')";
}

/// Said of a pick that resubmits after a lost submit answer: the sim charged what the mock
/// created, but in production the lost answer may hide a paid task.
std::string resubmit_text(const candidate& c) {
  if (c.spec.find("ambiguous=resubmit") == std::string::npos) {
    return {};
  }
  return " " + c.name +
         " resubmits an image whose submit answer was lost (ambiguous=resubmit): in production "
         "that image may be paid twice (zbatch generate holds it by default).";
}

}  // namespace

std::vector<std::string> recommendation(const nlohmann::json& results) {
  std::vector<std::string> out;
  auto all = candidates(results);
  const auto limits = budgets_of(results);
  auto chosen = choose(all, limits);
  if (!chosen) {
    return out;
  }
  const double most = chosen->most;
  if (most <= 0) {
    // The fastest of strategies that all failed is no choice (a new user's check: "concurrent,
    // the fastest ... (0%)", because failing at once is fast).
    out.push_back("No recommendation: none of the " + std::to_string(all.size()) +
                  " strategies delivered an image.");
    return out;
  }
  const std::vector<candidate>& complete = chosen->complete;
  candidate pick = complete.front();
  const std::string within = within_text(*chosen);
  const std::string budget = budget_text(*chosen, limits);
  std::string sentence;
  if (complete.size() == 1) {
    // "the only strategy that delivered the most ..." read as a contradiction (a new user's check).
    if (same(most, 1.0)) {
      sentence = "Recommendation: " + runnable_name(pick) + ", the only strategy" + within +
                 " that delivered every deliverable image (" + format_seconds(pick.makespan) + ").";
    } else if (within.empty()) {
      sentence = "Recommendation: " + runnable_name(pick) +
                 ", which delivered more deliverable images than any other (" +
                 format_percent(pick.success) + ", in " + format_seconds(pick.makespan) + ")." +
                 next_best_text(pick, all);
    } else {
      sentence = "Recommendation: " + runnable_name(pick) + ", the only strategy" + within +
                 " that delivered within 0.5% of the most deliverable images (" +
                 format_percent(pick.success) + ", in " + format_seconds(pick.makespan) + ").";
    }
    out.push_back(sentence + budget);
  } else {
    const candidate& runner = complete[1];
    const std::string& why = chosen->why;
    const std::string delivered = delivered_text(most, pick, runner);
    if (chosen->distinct || !chosen->tested) {
      out.push_back("Recommendation: " + runnable_name(pick) + ", the fastest strategy" + within +
                    " that " + delivered + ": " + format_seconds(pick.makespan) + " against " +
                    format_seconds(runner.makespan) + " for " + runner.name + " (" +
                    format_decimal(100.0 * (1.0 - pick.makespan / runner.makespan), 0) +
                    "% less time), " +
                    (chosen->tested ? "a difference larger than the noise (" + why + ")" : why) +
                    "." + budget);
    } else {
      // Not distinguishable: the cheaper, then politer one (choose()), set against the other
      // of the two (a new user's check: the fastest kept was set against itself).
      const candidate faster = pick;
      pick = chosen->pick;
      const candidate& other = pick.name == faster.name ? runner : faster;
      // Which of the two it is: a new user's check read "the cheaper and politer" of two that
      // paid the same.
      std::string better = better_text(pick, other);
      if (pick.name == faster.name) {
        // Kept for its speed; on a tie of the means (strategies failing at once alike) it is
        // not "the faster".
        better =
            (same(pick.makespan, other.makespan) ? "as fast, and " : "the faster, and ") + better;
      }
      out.push_back("Recommendation: " + runnable_name(pick) + ". " + faster.name + " (" +
                    format_seconds(faster.makespan) + ") and " + runner.name + " (" +
                    format_seconds(runner.makespan) + ") both " + delivered +
                    " and are not distinguishable (" + why + "); " + pick.name + " is " + better +
                    " (" + cost_text(pick) + " against " + cost_text(other) + ")." + budget);
    }
  }
  out.front() += resubmit_text(chosen->pick);
  // The yardstick: the best static strategy in hindsight, and adaptive against it.
  const json& hindsight = results.value("hindsight", json());
  if (hindsight.is_object() && hindsight.value("best", json()).is_object()) {
    const json& best = hindsight["best"];
    auto best_ms = number_at(best, "makespan_ms");
    if (best_ms && best.contains("name") && best["name"].is_string()) {
      std::string line = "Hindsight-best: " + best["name"].get<std::string>();
      if (best.contains("spec") && best["spec"].is_string()) {
        line += " (" + best["spec"].get<std::string>() + ")";
      }
      line += ", " + format_seconds(*best_ms);
      auto it = std::find_if(all.begin(), all.end(),
                             [](const candidate& c) { return c.name == "adaptive"; });
      if (it != all.end() && *best_ms > 0) {
        line += "; adaptive took " + format_fixed(it->makespan / *best_ms, 2) + "× as long (" +
                format_seconds(it->makespan) + ", " + format_percent(it->success) +
                " of deliverable images)";
      }
      line += grid_mode_text(results);
      out.push_back(line + ".");
    }
  }
  return out;
}

std::vector<std::string> table_notes(const nlohmann::json& results) {
  std::vector<std::string> out;
  std::vector<std::string> empty;
  for (const auto& s : results["strategies"]) {
    if (delivered_nothing(s)) {
      empty.push_back(s["name"].get<std::string>());
    }
  }
  if (!empty.empty()) {
    out.push_back(std::string(no_images) + " (no images): " + join(empty, " and ") +
                  " delivered no image, so there is no latency or time to the first image.");
  }
  if (without_quota(results)) {
    out.push_back("credits used: " + std::string(no_quota_cell) +
                  ", no quota in this profile (no strategy was charged a credit).");
  }
  // A several-client scenario: which limiter the rows measure (docs/results-schema.md).
  if (results.contains("clients") && results["clients"].is_number() &&
      results.contains("limiter") && results["limiter"].is_string()) {
    const auto limiter = results["limiter"].get<std::string>();
    out.push_back("Each row: " + results["clients"].dump() + " clients on one API key, " +
                  (limiter == "independent" ? std::string("each with its own limiter")
                                            : std::string("sharing one limiter")) +
                  (limiter == "both" ? " (the independent limiters' figures follow below)." : "."));
  }
  return out;
}

std::vector<std::string> key_findings(const nlohmann::json& results) {
  std::vector<std::string> out;
  const auto all = candidates(results);
  const auto limits = budgets_of(results);
  const auto chosen = choose(all, limits);
  if (!chosen) {
    return out;
  }
  const candidate& pick = chosen->pick;
  const json* winner = nullptr;
  for (const auto& s : results["strategies"]) {
    if (s["name"] == pick.name) {
      winner = &s;
    }
  }
  if (winner == nullptr) {
    return out;
  }
  auto at = [](const json& s, const char* path) { return number_at(s, path).value_or(0.0); };

  // 1. The recommended strategy: what it delivered, how fast, its lead over the runner-up.
  std::string first = pick.name + " delivered " + format_decimal(at(*winner, "delivered"), 1) +
                      " of " + format_decimal(at(*winner, "images"), 0) + " images in " +
                      format_seconds(pick.makespan);
  const double bound = number_at(results, "bound.makespan_ms").value_or(0.0);
  if (bound > 0) {
    first += " (" + format_fixed(pick.makespan / bound, 2) + "× the bound of " +
             format_seconds(bound) + ")";
  }
  const candidate* runner = nullptr;
  for (const auto& c : chosen->complete) {
    if (c.name != pick.name) {
      runner = &c;
      break;
    }
  }
  if (runner == nullptr) {
    first += ", the only strategy" + within_text(*chosen) + " that delivered this many.";
  } else if (runner->makespan > pick.makespan || !chosen->tested) {
    first += ", " + format_decimal(100.0 * (1.0 - pick.makespan / runner->makespan), 0) +
             "% less time than " + runner->name + " (" + format_seconds(runner->makespan) +
             "), the next strategy as complete" + within_text(*chosen) + lost_text(pick, *runner) +
             (chosen->distinct ? "."
              : chosen->tested ? "; the two are not distinguishable."
                               : "; " + chosen->why + ".");
  } else {
    // Chosen over a faster one it cannot be told from (choose()): say so, and on what grounds.
    first += "; " + runner->name + " (" + format_seconds(runner->makespan) +
             ") is not distinguishable from it, and " + pick.name + " is " +
             better_text(pick, *runner) + " (" + cost_text(pick) + " against " +
             cost_text(*runner) + ").";
  }
  // The recommendation's own words on the budgets, so the two agree.
  out.push_back(first + budget_text(*chosen, limits));

  // 2. What the others lose against it: images, time, HTTP 429s, paid submits, credits.
  const bool quota = !without_quota(results);
  // (images lost, makespan, sentence part, is the runner-up): the worst first, so the counted
  // rest are the mildest, but never the runner-up (a new user's check: hung-tail's retry at
  // 93.3%, the closest to the pick, was counted while four farther ones were named).
  const candidate* closest = runner_up(*chosen, all);
  std::vector<std::tuple<double, double, std::string, bool>> losses;
  std::size_t others = 0;
  for (const auto& s : results["strategies"]) {
    if (&s == winner) {
      continue;
    }
    ++others;
    std::vector<std::string> lost;
    const double failed = at(s, "failed");
    if (failed > at(*winner, "failed") + 1e-9) {
      lost.push_back("lost " + format_decimal(failed, 1) + " of " +
                     format_decimal(at(s, "images"), 0) + " images");
    }
    const double makespan = at(s, "makespan_ms");
    if (makespan > 1.05 * pick.makespan) {
      lost.push_back("took " + format_seconds(makespan) + " (" +
                     format_fixed(makespan / std::max(1.0, pick.makespan), 1) + "× as long)");
    }
    const double http_429 = at(s, "http_429.total");
    if (http_429 > at(*winner, "http_429.total") + 1e-9) {
      lost.push_back("met " + plural(http_429, "HTTP 429", "HTTP 429s"));
    }
    if (auto submits = number_at(s, "submits_per_image");
        submits && std::isfinite(pick.submits) &&
        (*submits > pick.submits + 0.005 || high_of(s) > pick.submits_high + 0.005)) {
      lost.push_back("paid " + paid_range(*submits, high_of(s)) + " submits per delivered image");
    }
    const double credits = at(s, "credits_used");
    if (quota && at(*winner, "delivered") > 0 && at(s, "delivered") > 0 &&
        credits / at(s, "delivered") >
            at(*winner, "credits_used") / at(*winner, "delivered") + 0.005) {
      lost.push_back("used " + format_decimal(credits / at(s, "delivered"), 2) +
                     " credits per delivered image");
    }
    if (!lost.empty()) {
      const std::string name = s["name"].get<std::string>();
      losses.emplace_back(failed, makespan, name + " " + join(lost, " and "),
                          closest != nullptr && closest->name == name);
    }
  }
  if (others > 0) {
    std::string second = "Against " + pick.name + " (" +
                         plural(at(*winner, "http_429.total"), "HTTP 429", "HTTP 429s");
    if (std::isfinite(pick.submits)) {
      second += ", " + paid_range(pick.submits, pick.submits_high) + " submits per delivered image";
    }
    if (quota && at(*winner, "delivered") > 0) {
      second += ", " + format_decimal(at(*winner, "credits_used") / at(*winner, "delivered"), 2) +
                " credits per delivered image";
    }
    second += "): ";
    constexpr std::size_t listed = 4;
    std::stable_sort(losses.begin(), losses.end(), [](const auto& a, const auto& b) {
      return std::get<0>(a) > std::get<0>(b) + 1e-9 ||
             (same(std::get<0>(a), std::get<0>(b)) && std::get<1>(a) > std::get<1>(b));
    });
    std::vector<std::string> parts;
    for (const auto& loss : losses) {
      parts.push_back(std::get<2>(loss));
    }
    auto runner_at = std::find_if(losses.begin(), losses.end(),
                                  [](const auto& loss) { return std::get<3>(loss); });
    if (runner_at != losses.end() && runner_at - losses.begin() >= std::ptrdiff_t{listed}) {
      // In the last named place, so the ones before stay the worst.
      parts.erase(parts.begin() + (runner_at - losses.begin()));
      parts.insert(parts.begin() + (listed - 1), std::get<2>(*runner_at));
    }
    if (parts.empty()) {
      second += "no other strategy loses images, time, 429s or submits.";
    } else if (parts.size() <= listed) {
      second += join_all(parts, "; ") + ".";
    } else {
      const std::size_t more = parts.size() - listed;
      parts.resize(listed);
      second += join_all(parts, "; ") + "; " + std::to_string(more) +
                (more == 1 ? " more strategy" : " more strategies") + " in the details.";
    }
    out.push_back(second);
  }

  // 3. adaptive against the best static strategy in hindsight.
  const json& hindsight = results.value("hindsight", json());
  double best_ms = 0;
  if (hindsight.is_object() && hindsight.value("best", json()).is_object()) {
    best_ms = number_at(hindsight["best"], "makespan_ms").value_or(0.0);
  }
  const candidate* adaptive = nullptr;
  for (const auto& c : all) {
    if (c.name == "adaptive") {
      adaptive = &c;
    }
  }
  if (best_ms > 0 && adaptive != nullptr) {
    const std::string best_name = hindsight["best"].value("name", "the hindsight-best");
    const double ratio = adaptive->makespan / best_ms;
    std::string third = "adaptive took " + format_seconds(adaptive->makespan) + ", ";
    third +=
        std::fabs(ratio - 1.0) <= 0.05 ? "within 5% of" : format_fixed(ratio, 2) + "× as long as";
    third += " the hindsight-best " + best_name + " (" + format_seconds(best_ms) + "), with " +
             format_percent(adaptive->success) + " of deliverable images.";
    out.push_back(third);
  }
  return out;
}

std::vector<std::string> findings(const nlohmann::json& results) {
  std::vector<std::string> out;
  const double bound = results["bound"]["makespan_ms"].get<double>();
  const int repetitions = static_cast<int>(results["strategies"][0]["runs"].size());
  const std::string mean_note =
      repetitions > 1 ? " (mean of " + std::to_string(repetitions) + " repetitions)" : "";
  for (const auto& s : results["strategies"]) {
    const std::string name = s["name"].get<std::string>();
    const double images = s["images"].get<double>();
    const double failed = s["failed"].get<double>();
    std::string sentence = name;
    if (failed > 0) {
      sentence +=
          " lost " + format_decimal(failed, 1) + " of " + format_decimal(images, 0) + " images";
      std::vector<std::string> reasons;
      if (s.contains("failed_by_reason")) {
        for (const auto& item : s["failed_by_reason"].items()) {
          if (item.value().is_number() && item.value().get<double>() > 0) {
            std::string reason = reason_text(item.key());
            if (!same(item.value().get<double>(), failed)) {
              reason = format_decimal(item.value().get<double>(), 1) + " to " + reason;
            }
            reasons.push_back(reason);
          }
        }
      }
      if (reasons.size() == 1 && reasons[0].find(" to ") == std::string::npos) {
        sentence += " to " + reasons[0];
      } else if (!reasons.empty()) {
        sentence += " (" + join(reasons, " and ") + ")";
      }
    } else {
      sentence += " delivered all " + format_decimal(images, 0) + " images";
    }
    const double makespan = s["makespan_ms"].get<double>();
    sentence += "; it took " + format_seconds(makespan) + mean_note;
    if (bound > 0) {
      const double ratio = makespan / bound;
      if (std::fabs(ratio - 1.0) < 0.05) {
        sentence += ", within 5% of the bound of " + format_seconds(bound);
      } else if (ratio < 1.0 && failed >= 0.1 * images) {
        // A new user's check: 0.3 of 100 images lost read as the whole reason.
        sentence += ", " + format_fixed(ratio, 2) + "× the bound of " + format_seconds(bound) +
                    " (failed images, " + format_decimal(failed, 1) +
                    " of them, end early; the service may also have held more than one task)";
      } else if (ratio < 1.0) {
        // The bound assumes the one task in flight the service guarantees.
        sentence += ", " + format_fixed(ratio, 2) + "× the bound of " + format_seconds(bound) +
                    " (the service held more than the one task in flight the bound assumes)";
      } else {
        sentence += ", " + format_fixed(ratio, 1) + "× the bound of " + format_seconds(bound);
      }
    }
    if (auto regret = number_at(s, "regret_ms")) {
      // The hindsight-best's mean makespan, from the mean regret.
      const double best = makespan - *regret;
      if (best > 0 && std::fabs(*regret) <= 0.05 * best) {
        sentence += ", within 5% of the hindsight-best's " + format_seconds(best);
      } else if (best > 0) {
        sentence += ", " + format_fixed(makespan / best, 2) + "× the hindsight-best's " +
                    format_seconds(best);
      }
    }
    sentence += ".";
    out.push_back(sentence);

    const double http_429 = s["http_429"]["total"].get<double>();
    const double retries = s["retries"].get<double>();
    if (http_429 > 0 || retries > 0) {
      std::string detail = name + " met " + plural(http_429, "HTTP 429", "HTTP 429s");
      if (http_429 > 0) {
        detail += " (" + format_decimal(s["http_429"]["dynamic"].get<double>(), 1) + " dynamic, " +
                  format_decimal(s["http_429"]["quota"].get<double>(), 1) + " quota)";
      }
      detail += " and retried " + plural(retries, "time", "times");
      auto per_image = number_at(s, "submits_per_image");
      if (per_image && high_of(s) > 1.0) {
        detail += ", submitting " + paid_range(*per_image, high_of(s), false) +
                  " times per delivered image";
      }
      out.push_back(detail + ".");
    }
    if (s.contains("spread") && s["spread"].contains("makespan_ms")) {
      auto mean = number_at(s["spread"]["makespan_ms"], "mean");
      auto stddev = number_at(s["spread"]["makespan_ms"], "stddev");
      if (mean && stddev && *mean > 0 && *stddev / *mean > 0.1) {
        out.push_back(name + "'s makespan varied by ±" +
                      format_decimal(100.0 * *stddev / *mean, 0) +
                      "% (one standard deviation) across repetitions.");
      }
    }
  }

  if (results.contains("thresholds")) {
    std::size_t failed = 0;
    for (const auto& t : results["thresholds"]) {
      failed += t["passed"].get<bool>() ? 0 : 1;
    }
    if (failed > 0) {
      out.push_back(std::to_string(failed) + " of " + std::to_string(results["thresholds"].size()) +
                    " thresholds failed.");
    }
  }
  return out;
}

}  // namespace zbatch::reports
