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
/// Pure functions of their inputs; no threading concerns.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

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

struct quota_plan {
  quota_decision decision = quota_decision::go;
  long long needed = 0;  ///< Submits the images still need (one per image, retries aside).
  std::optional<long long> allowed;  ///< With fit and stop: the submits that may still go.
  quota_figures figures;
  system_time resets_at;          ///< The next reset after the figures were seen (else after now).
  bool over_daily_limit = false;  ///< `needed` exceeds a daily limit: never fits in one day.
};

/// The plan for `needed` submits given `figures`, at `now`. `fit_quota`: make what fits.
/// `probed`: the figures come from the probe's answer (never decide `probe` again).
quota_plan plan_quota(long long needed, const quota_figures& figures, bool fit_quota, bool probed,
                      system_time now);

/// One paragraph for the user: what is needed, what is left and since when, what fits, the
/// reset in UTC and UTC+8, and what happens. `model` names the model's figures; empty for a
/// batch of several models (planned on the account's figures).
std::string describe(const quota_plan& plan, const std::string& model);
/// "2026-12-06T16:00:00Z (2026-12-07 00:00 UTC+8)".
std::string reset_text(system_time at);
/// "2026-12-07 00:00 UTC+8".
std::string utc8_text(system_time at);

}  // namespace zbatch::generate
