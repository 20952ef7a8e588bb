#include "generate/quota_plan.hpp"

#include <algorithm>
#include <ctime>
#include <sstream>

#include "generate/session.hpp"

namespace zbatch::generate {
namespace {

std::optional<long long> smaller(const std::optional<long long>& a,
                                 const std::optional<long long>& b) {
  if (a && b) {
    return std::min(*a, *b);
  }
  return a ? a : b;
}

system_time from_unix_ms(std::int64_t ms) {
  return system_time(
      std::chrono::duration_cast<system_time::duration>(std::chrono::milliseconds(ms)));
}

/// "4/500", "4", "unknown of 500" or "unknown" (a "?" read as a typo in a new user's check).
std::string count_text(const std::optional<long long>& remaining,
                       const std::optional<long long>& limit) {
  if (!remaining) {
    return limit ? "unknown of " + std::to_string(*limit) : std::string("unknown");
  }
  return std::to_string(*remaining) + (limit ? "/" + std::to_string(*limit) : std::string());
}

/// The account's figures, then each model's: "account 1990/2000 as of ...; per model: A 3/4
/// for 5 image(s), fits 3; B unknown of 200 for 2 image(s), probed alone first".
std::string models_text(const quota_plan& plan) {
  const auto& f = plan.figures;
  std::ostringstream out;
  out << "account " << count_text(f.account_remaining, f.account_limit);
  if (f.seen_at) {
    out << " as of " << iso_utc(*f.seen_at);
  } else if (f.expired) {
    out << " (the journal's counts are from before the last daily reset)";
  }
  const char* separator = "; per model: ";
  for (const auto& m : plan.models) {
    if (m.needed == 0) {
      continue;  // "for 0 image(s), fits 0" of a model whose images are all made
    }
    out << separator << m.model << " " << count_text(m.remaining, m.limit) << " for " << m.needed
        << " image(s)";
    if (m.over_daily_limit) {
      out << ", more than its daily limit";
    }
    if (m.remaining || plan.decision != quota_decision::probe) {
      out << ", fits " << m.fits();
    } else if (m.needed > 0) {
      out << ", its first submit goes alone (probe)";
    }
    separator = "; ";
  }
  return out.str();
}

}  // namespace

std::optional<long long> quota_figures::remaining() const {
  return smaller(account_remaining, model_remaining);
}

std::optional<long long> quota_figures::limit() const {
  return smaller(account_limit, model_limit);
}

quota_figures figures_from_journal(const std::map<std::string, journaled_ratelimit>& ratelimits,
                                   const std::string& endpoint, const std::string& model,
                                   system_time now) {
  quota_figures out;
  const auto at = ratelimits.find(endpoint);
  if (at == ratelimits.end()) {
    return out;
  }
  const auto use = [&out, now](const journaled_allowance& a, std::optional<long long>& limit,
                               std::optional<long long>& remaining) {
    const auto seen = from_unix_ms(a.seen_at_ms);
    limit = a.limit;
    // Valid until the first reset after the answer; then unknown (see the header).
    if (now < next_quota_reset(seen)) {
      remaining = a.remaining;
      out.seen_at = out.seen_at ? std::max(*out.seen_at, seen) : seen;
    } else {
      out.expired = true;
    }
  };
  if (at->second.account) {
    use(*at->second.account, out.account_limit, out.account_remaining);
  }
  if (const auto m = at->second.models.find(model); m != at->second.models.end()) {
    use(m->second, out.model_limit, out.model_remaining);
  }
  if (const auto refused_ms = at->second.quota_refused_at_ms) {
    // A quota stop newer than the figures, today: calls they said were left were not (a new
    // user's check: the rerun planned "98 left, fits 2 of 2" right after the stop). A count
    // of 0 stays: it already says stop.
    const auto refused = from_unix_ms(*refused_ms);
    if (now < next_quota_reset(refused) && (!out.seen_at || refused >= *out.seen_at)) {
      for (auto* count : {&out.account_remaining, &out.model_remaining}) {
        if (*count && **count > 0) {
          count->reset();
        }
      }
      out.quota_refused_at = refused;
    }
  }
  return out;
}

quota_figures figures_from_answer(const protocol::ratelimit_state& state, system_time now) {
  quota_figures out;
  out.account_limit = state.account_limit;
  out.account_remaining = state.account_remaining;
  out.model_limit = state.model_limit;
  out.model_remaining = state.model_remaining;
  out.seen_at = now;
  return out;
}

long long model_quota::fits() const {
  return remaining ? std::min(needed, std::max(0LL, *remaining)) : needed;
}

std::vector<std::string> quota_plan::probe_models() const {
  std::vector<std::string> out;
  if (decision != quota_decision::probe) {
    return out;
  }
  for (const auto& m : models) {
    // One model alone: the account's count is its figure too (both come in one answer).
    const bool known = m.remaining || (models.size() == 1 && figures.account_remaining);
    if (!known && m.needed > 0) {
      out.push_back(m.model);
    }
  }
  return out;
}

quota_plan plan_quota(long long needed, const quota_figures& figures, bool fit_quota, bool probed,
                      system_time now, const std::string& model) {
  model_quota one;
  one.model = model;
  one.needed = needed;
  one.limit = figures.model_limit;
  one.remaining = figures.model_remaining;
  one.expired = figures.expired;
  return plan_models({one}, figures, fit_quota, probed, now);
}

quota_plan plan_models(std::vector<model_quota> models, const quota_figures& account,
                       bool fit_quota, bool probed, system_time now) {
  quota_plan plan;
  plan.figures = account;
  plan.resets_at = next_quota_reset(account.seen_at.value_or(now));
  bool short_known = false;  // A known count is smaller than what its images need.
  bool unknown = false;      // A model with images has no count for today.
  long long fits = 0;
  for (auto& m : models) {
    plan.needed += m.needed;
    m.over_daily_limit = m.limit && m.needed > *m.limit;
    plan.over_daily_limit = plan.over_daily_limit || m.over_daily_limit;
    if (m.remaining) {
      short_known = short_known || m.needed > *m.remaining;
    } else {
      // One model alone: the account's count is its figure too (both come in one answer).
      unknown = unknown || (m.needed > 0 && (models.size() > 1 || !account.account_remaining));
    }
    fits += m.fits();
  }
  if (account.account_limit && plan.needed > *account.account_limit) {
    plan.over_daily_limit = true;
  }
  if (account.account_remaining) {
    short_known = short_known || plan.needed > *account.account_remaining;
    fits = std::min(fits, std::max(0LL, *account.account_remaining));
  }
  const bool blind = unknown && !probed;
  if (plan.needed == 0 || (!short_known && !blind && !(plan.over_daily_limit && !fit_quota))) {
    plan.decision = quota_decision::go;
  } else if (!fit_quota && (short_known || plan.over_daily_limit)) {
    // What is known does not fit: nothing (more) without --fit-quota, no probe needed to say so.
    plan.decision = quota_decision::stop;
    plan.allowed = 0;
    for (auto& m : models) {
      m.allowed = 0;
    }
  } else {
    // --fit-quota (or nothing known yet): each known model makes what its count allows; the
    // probes' answers decide the unknown ones.
    plan.decision = blind ? quota_decision::probe : quota_decision::fit;
    if (!blind) {
      plan.allowed = fits;
    }
    for (auto& m : models) {
      if (m.remaining && m.needed > *m.remaining) {
        m.allowed = m.fits();
      }
    }
  }
  plan.models = std::move(models);
  return plan;
}

std::string utc8_text(system_time at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at + std::chrono::hours(8));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char local[32];
  std::strftime(local, sizeof local, "%Y-%m-%d %H:%M", &tm);
  return std::string(local) + " UTC+8";
}

std::string reset_text(system_time at) { return iso_utc(at) + " (" + utc8_text(at) + ")"; }

namespace {

/// Why a rerun submits nothing: "1 task(s) of earlier runs to poll, paying nothing; 2 image(s)
/// held: ...", or every image settled.
std::string nothing_to_submit(std::size_t held, std::size_t polled) {
  std::string out;
  if (polled > 0) {
    out = std::to_string(polled) + " task(s) of earlier runs to poll, paying nothing";
  }
  if (held > 0) {
    out += (out.empty() ? "" : "; ") + std::to_string(held) +
           " image(s) held: their submit lost its answer";
  }
  return out.empty() ? "every image was settled in earlier runs" : out;
}

}  // namespace

std::string describe(const quota_plan& plan, const std::string& model, bool after_probe,
                     std::size_t held, std::size_t polled) {
  const auto& f = plan.figures;
  std::ostringstream out;
  if (!after_probe && plan.needed == 0) {
    out << "plan: nothing to submit (" << nothing_to_submit(held, polled)
        << "); calls left today: ";
  } else if (!after_probe) {
    out << "plan: " << plan.needed << " image(s) to submit (" << plan.needed
        << " paid submit(s) if none fails); calls left today: ";
  } else {
    // Not a second plan: what the first answer's rate-limit headers say about the rest.
    out << (model.empty() ? "after the probes' answers: " : "after the first answer: ");
    if (plan.needed == 0) {
      out << "nothing more to submit";
    } else {
      out << plan.needed << " more image(s) to submit";
    }
    out << "; calls left today: ";
  }
  if (model.empty()) {
    out << models_text(plan);
  } else if (f.remaining()) {
    out << *f.remaining() << " (model " << model << " "
        << count_text(f.model_remaining, f.model_limit) << ", account "
        << count_text(f.account_remaining, f.account_limit) << ", as of " << iso_utc(*f.seen_at)
        << ")";
  } else if (f.expired) {
    out << "unknown (the journal's figures are from before the last daily reset; calls may "
           "have been spent since by other clients of the key";
    if (f.limit()) {
      out << "; daily limit " << *f.limit();
    }
    out << ")";
  } else if (f.zero_seen_at && !after_probe) {
    out << "unknown (an earlier run saw no call left at " << iso_utc(*f.zero_seen_at)
        << "; daily limits move, so the service is asked again";
    if (f.limit()) {
      out << "; daily limit " << *f.limit();
    }
    out << ")";
  } else if (f.quota_refused_at && !after_probe) {
    out << "unknown (an earlier run stopped for the quota at " << iso_utc(*f.quota_refused_at)
        << "; the service may allow calls again before the daily reset)";
  } else {
    out << (after_probe ? "unknown (the answer carried no rate-limit figures)"
                        : "unknown (no rate-limit figures for this endpoint and model yet)");
  }
  switch (plan.decision) {
    case quota_decision::go:
      if (plan.needed == 0) {
        break;  // "fits: 0 of 0" says nothing
      }
      if (f.remaining()) {
        out << "; fits: " << plan.needed << " of " << plan.needed;
      } else {
        out << "; the service stated no figures: going on (a quota 429 still stops the run)";
      }
      break;
    case quota_decision::probe:
      out << (model.empty() ? "; each model without figures for today sends its first submit "
                              "alone (one probe per model, one at a time) and the answers' "
                              "rate-limit headers decide the rest"
                            : "; the first submit goes alone and its answer's rate-limit "
                              "headers decide the rest");
      break;
    case quota_decision::fit:
      out << "; fits: " << plan.allowed.value_or(0) << " of " << plan.needed
          << " (--fit-quota: the rest stays pending for the next run after the reset)";
      break;
    case quota_decision::stop:
      out << "; does not fit"
          << (plan.over_daily_limit ? " (more than the daily limit: never in one day)" : "");
      if (f.remaining() && *f.remaining() <= 0) {
        out << ": no call is left today, nothing more is submitted before the reset";
      } else {
        out << ": nothing more is submitted; rerun with --fit-quota to make what fits now and "
               "the rest after the reset";
      }
      break;
  }
  out << "; quota resets at " << reset_text(plan.resets_at);
  return out.str();
}

}  // namespace zbatch::generate
