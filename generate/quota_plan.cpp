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

/// "4/500" or "?/500" or "4".
std::string count_text(const std::optional<long long>& remaining,
                       const std::optional<long long>& limit) {
  std::string out = remaining ? std::to_string(*remaining) : "?";
  if (limit) {
    out += "/" + std::to_string(*limit);
  }
  return out;
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

quota_plan plan_quota(long long needed, const quota_figures& figures, bool fit_quota, bool probed,
                      system_time now) {
  quota_plan plan;
  plan.needed = needed;
  plan.figures = figures;
  plan.resets_at = next_quota_reset(figures.seen_at.value_or(now));
  const auto limit = figures.limit();
  plan.over_daily_limit = limit && needed > *limit;
  const auto left = figures.remaining();
  if (needed == 0 || (left && needed <= *left)) {
    plan.decision = quota_decision::go;
    return plan;
  }
  if (left || (plan.over_daily_limit && !fit_quota)) {
    // What is known does not fit: make part of it, or nothing without --fit-quota.
    plan.decision = fit_quota ? quota_decision::fit : quota_decision::stop;
    plan.allowed = fit_quota && left ? *left : 0;
    return plan;
  }
  // Nothing known for today: the probe's answer decides, unless it has already come (a service
  // or mock that sends no headers: nothing to plan with, the quota 429 still stops the run).
  plan.decision = probed ? quota_decision::go : quota_decision::probe;
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

std::string describe(const quota_plan& plan, const std::string& model) {
  const auto& f = plan.figures;
  std::ostringstream out;
  out << "plan: " << plan.needed << " image(s) to submit (" << plan.needed
      << " paid submit(s) if none fails); calls left today: ";
  if (f.remaining()) {
    out << *f.remaining() << " ("
        << (model.empty() ? std::string("several models: each one's own count is checked as its "
                                        "answers come")
                          : "model " + model + " " + count_text(f.model_remaining, f.model_limit))
        << ", account " << count_text(f.account_remaining, f.account_limit) << ", as of "
        << iso_utc(*f.seen_at) << ")";
  } else if (f.expired) {
    out << "unknown (the journal's figures are from before the last daily reset; calls may "
           "have been spent since by other clients of the key";
    if (f.limit()) {
      out << "; daily limit " << *f.limit();
    }
    out << ")";
  } else {
    out << "unknown (no rate-limit figures for this endpoint and model yet)";
  }
  switch (plan.decision) {
    case quota_decision::go:
      if (f.remaining() || plan.needed == 0) {
        out << "; fits: " << plan.needed << " of " << plan.needed;
      } else {
        out << "; the service stated no figures: going on (a quota 429 still stops the run)";
      }
      break;
    case quota_decision::probe:
      out << "; the first submit goes alone and its answer's rate-limit headers decide the rest";
      break;
    case quota_decision::fit:
      out << "; fits: " << plan.allowed.value_or(0) << " of " << plan.needed
          << " (--fit-quota: the rest stays pending for the next run after the reset)";
      break;
    case quota_decision::stop:
      out << "; does not fit"
          << (plan.over_daily_limit ? " (more than the daily limit: never in one day)" : "")
          << ": nothing more is submitted; rerun with --fit-quota to make what fits now and the "
             "rest after the reset";
      break;
  }
  out << "; quota resets at " << reset_text(plan.resets_at);
  return out.str();
}

}  // namespace zbatch::generate
