#include "actors/retry_policy.hpp"

#include <algorithm>

namespace zbatch::actors {

namespace {

using protocol::error_class;

/// A dynamic 429 within its own cap: the wait, without touching the error retries.
std::optional<millis> retry_429(const retry_spec& spec, image_retry_state& image, jitter_rng& rng) {
  if (image.retries_429 >= spec.max_429_retries) {
    return std::nullopt;
  }
  const auto wait = backoff_delay(spec, image.retries_429, image.last_wait, rng);
  ++image.retries_429;
  return wait;
}

/// The wait before the image's next error retry; the retry is used.
millis take_error_retry(const retry_spec& spec, image_retry_state& image, jitter_rng& rng) {
  const auto wait = backoff_delay(spec, image.error_retries, image.last_wait, rng);
  ++image.error_retries;
  return wait;
}

/// The outage ride-out: the service refused the request, so it cost nothing, and the open
/// circuit already paces the probing; keep the image for up to one poll deadline.
std::optional<millis> ride_out(const strategy_spec& spec, image_retry_state& image, time_point now,
                               jitter_rng& rng) {
  if (!image.outage_since) {
    image.outage_since = now;
  }
  if (now - *image.outage_since >= spec.poll.deadline) {
    return std::nullopt;
  }
  return std::max(spec.circuit.open_for,
                  backoff_delay(spec.retry, image.error_retries, image.last_wait, rng));
}

}  // namespace

retry_decision decide_retry(const strategy_spec& spec, const protocol::api_error& error,
                            image_retry_state& image, retry_budget& budget, time_point now,
                            jitter_rng& rng) {
  retry_decision decision;
  if (image.task_succeeded) {
    image.hung_task.clear();
    return decision;
  }
  if (!image.hung_task.empty()) {
    // A hung give-up: the old task is paid and may never end; a second task costs one more
    // submit but bounds the wait. Once per image by default; then the image fails.
    if (image.hung_resubmits < spec.poll.hung.resubmits) {
      ++image.hung_resubmits;
      decision.wait = millis{0};
    } else {
      image.hung_task.clear();
    }
    return decision;
  }
  bool error_retry = protocol::is_retryable(error.kind);
  if (error.kind == error_class::dynamic_429) {
    decision.wait = retry_429(spec.retry, image, rng);
    error_retry = error_retry && !decision.wait;
  } else if (error.ambiguous) {
    // The submit may have created (and charged) a task: resubmitting may pay twice.
    error_retry = error_retry && spec.retry.resubmit_ambiguous;
  }
  // An error retry charges the budget (not a 429) and needs an error retry left; the budget
  // only says whether it may start now.
  bool refused = false;
  if (error_retry) {
    if (error.kind != error_class::dynamic_429) {
      budget.on_failure();
    }
    if (image.error_retries < spec.retry.max_retries) {
      refused = !budget.allows_retry();
      if (!refused) {
        decision.wait = take_error_retry(spec.retry, image, rng);
      }
    }
  }
  if (!decision.wait && error.kind == error_class::server_transport && !error.ambiguous &&
      spec.circuit.enabled) {
    // The open circuit paces an outage for every image at once; it comes before a deferral, so
    // the images it holds all go again when the service is back, not one at a time.
    decision.wait = ride_out(spec, image, now, rng);
  } else if (refused) {
    // gRFC A6 stops retry storms, not the work: the retry waits until the budget allows it
    // (or it is the one deferred retry let out at a time; see retry_decision::deferred).
    decision.wait = take_error_retry(spec.retry, image, rng);
    decision.deferred = true;
  }
  if (decision.wait && error.retry_after_ms && spec.retry.honour_retry_after) {
    decision.wait = std::max(*decision.wait, millis{*error.retry_after_ms});
  }
  if (decision.wait) {
    image.last_wait = *decision.wait;
  }
  return decision;
}

int max_paid_submits_per_image(const strategy_spec& spec) {
  // A paid submit is followed by another submit only through an error retry (deferred ones
  // included) or a hung resubmit; a 429 beyond its own cap takes an error retry too.
  return 1 + spec.retry.max_retries + (spec.poll.hung.enabled ? spec.poll.hung.resubmits : 0);
}

}  // namespace zbatch::actors
