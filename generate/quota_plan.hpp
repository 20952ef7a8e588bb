#pragma once
/// Quota planning for `zbatch generate` (issue 14, "Planning"): before anything is sent, how many
/// of the batch's submits fit in the calls left today, from the last rate-limit figures the
/// journal kept (journal.hpp) or, when it has none for today, from the first submit's answer
/// (the probe). The protocol doc names the `modelscope-ratelimit-*` headers but not which
/// requests carry them; public material shows them only on generation answers (a paid call), so
/// the cheapest request known to return them is a submit, and the probe is the batch's first
/// submit, sent alone (an image of the batch, not an extra cost). A free request (a poll) might
/// carry them too; that is unknown and not relied on.
///
/// Figures are valid until the next daily reset after they were seen (00:00 UTC+8, the doc's
/// working assumption). After it the remaining counts are unknown, not the limits again: the
/// account's calls are shared with every other client and machine using the key, so some may be
/// spent already; the limits themselves (the last stated ones) stay known, so a batch larger
/// than a daily limit is still refused before the first submit.
///
/// A batch of several models (batch lines naming `model`) is planned per model as well: each
/// model's images against that model's calls left, and all of them against the account's. A
/// model with no figures for today gets its own probe (its first submit, sent alone; the
/// coordinator holds every other submit until each probe has answered), because the model's
/// daily limit is often the tighter one (500, 200 or 100 a day) and a batch larger than it is
/// never started blind.
///
/// Pure functions of their inputs; no threading concerns.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "generate/journal.hpp"
#include "protocol/ratelimit.hpp"

namespace zbatch::generate {

using system_time = std::chrono::system_clock::time_point;

/// What the journal's figures say at `now` for one endpoint and model.
struct quota_figures {
  std::optional<long long> account_limit;
  std::optional<long long> account_remaining;  ///< Only while valid (before the reset).
  std::optional<long long> model_limit;
  std::optional<long long> model_remaining;  ///< Only while valid (before the reset).
  std::optional<system_time> seen_at;        ///< The newest figure used.
  bool expired = false;  ///< Figures were journaled, but a reset came since: counts dropped.
  /// A run stopped for the quota after the newest figures, before the next reset: counts above
  /// 0 were dropped (the 429 may have come without headers), so the first submit goes alone.
  std::optional<system_time> quota_refused_at;
  /// An earlier run saw no call left at this time, today: the counts were dropped, so the first
  /// submit asks again (daily limits move).
  std::optional<system_time> zero_seen_at;
  std::optional<long long> remaining() const;  ///< The smaller remaining count, if any.
  std::optional<long long> limit() const;      ///< The smaller daily limit, if any.
};

/// The figures `ratelimits` holds for `endpoint` and `model`, as valid at `now`.
quota_figures figures_from_journal(const std::map<std::string, journaled_ratelimit>& ratelimits,
                                   const std::string& endpoint, const std::string& model,
                                   system_time now);
/// An answer's headers seen at `now`.
quota_figures figures_from_answer(const protocol::ratelimit_state& state, system_time now);

/// What a run does about the quota before its first submit, or after the probe's answer.
enum class quota_decision {
  go,     ///< Every submit fits (or nothing limits them that the service stated).
  probe,  ///< Nothing known for today: the first submit goes alone, its answer decides.
  fit,    ///< --fit-quota: `allowed` submits now, the rest pending until the reset.
  stop,   ///< Does not fit and no --fit-quota: nothing (more) is submitted.
};

/// One model's share of a batch: its submits and its own daily figures.
struct model_quota {
  std::string model;
  long long needed = 0;  ///< Submits this model's images still need.
  std::optional<long long> limit;
  std::optional<long long> remaining;  ///< Only while valid (before the reset).
  bool expired = false;                ///< Journaled, but a reset came since.
  /// With fit and stop: this model's submits that may go now (at most `needed`); none: not
  /// capped by the model's own count.
  std::optional<long long> allowed;
  bool over_daily_limit = false;  ///< `needed` exceeds the model's daily limit.
  /// What of it fits in the model's own count: min(needed, remaining), `needed` when unknown.
  long long fits() const;
};

struct quota_plan {
  quota_decision decision = quota_decision::go;
  long long needed = 0;  ///< Submits the images still need (one per image, retries aside).
  std::optional<long long> allowed;  ///< With fit and stop: the submits that may still go.
  quota_figures figures;
  system_time resets_at;          ///< The next reset after the figures were seen (else after now).
  bool over_daily_limit = false;  ///< `needed` exceeds a daily limit: never fits in one day.
  /// Each model of the batch (one for a batch of one model), in the batch's order. With
  /// `probe`, those whose `remaining` is unknown are the ones to probe.
  std::vector<model_quota> models;
  /// The models to probe (decision probe): those with no remaining count for today.
  std::vector<std::string> probe_models() const;
};

/// The plan for `needed` submits of one model given `figures`, at `now`. `fit_quota`: make what
/// fits. `probed`: the figures come from the probe's answer (never decide `probe` again).
/// `model` names the plan's one entry of `models`.
quota_plan plan_quota(long long needed, const quota_figures& figures, bool fit_quota, bool probed,
                      system_time now, const std::string& model = {});
/// The plan for a batch of several models: `models` with their needs and own figures, `account`
/// the account's figures (its model fields unused). A model fits when its `needed` is within
/// its remaining count; the batch when every model fits and the sum is within the account's.
/// With --fit-quota each model makes min(needed, remaining) and all of them together at most
/// the account's remaining. `probed`: every probe has answered (unknown counts are then no cap).
quota_plan plan_models(std::vector<model_quota> models, const quota_figures& account,
                       bool fit_quota, bool probed, system_time now);

/// One paragraph for the user: what is needed, what is left and since when, what fits, the
/// reset in UTC and UTC+8, and what happens. `model` names the model's figures; empty for a
/// batch of several models (then each model's figures follow the account's). `after_probe`:
/// the plan for the submits still needed once the probes have answered, worded as what the
/// answers said ("after the first answer: 3 more image(s) to submit; ..."), not as a second plan.
/// `held`: images a rerun holds (session_config::resubmit_possibly_paid), and `polled`:
/// journaled tasks it polls, both named when nothing is to be submitted.
std::string describe(const quota_plan& plan, const std::string& model, bool after_probe = false,
                     std::size_t held = 0, std::size_t polled = 0);
/// "2026-12-06T16:00:00Z (2026-12-07 00:00 UTC+8)".
std::string reset_text(system_time at);
/// "2026-12-07 00:00 UTC+8".
std::string utc8_text(system_time at);

}  // namespace zbatch::generate
