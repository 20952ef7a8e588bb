#pragma once
/// The retry decision: after an attempt at an image failed, start another attempt (after how
/// long) or fail the image with the error. One function of its inputs, with no actor in it, so
/// every rule is unit-tested on its own (tests/actors/retry_policy_test.cpp).
///
/// Rules, in order (strategies.md, "Backoff and jitter", "Retry budgets", "Retry-After"):
/// - an image whose task SUCCEEDed is paid: it is never submitted again, whatever failed after;
/// - a task given up as hung (still RUNNING/PENDING at the give-up time of actors/hung_policy.hpp)
///   is resubmitted at once, knowingly (a second paid task), up to `poll.hung.resubmits` times per
///   image, without using the error retries or the budget; the caller keeps polling the old task
///   beside the new one. After that, a hung give-up fails the image (`deadline`);
/// - a dynamic 429 is retried on its own cap (`max_429_retries`) without using the image's error
///   retries; once that cap is spent it is an ordinary retryable error;
/// - an ambiguous submit failure (the task may exist and be charged) is retried only with
///   `resubmit_ambiguous` (a knowing double payment);
/// - a retryable failure (a FAILED task included: the service's own report of a failure, the
///   signal the throttler exists for) charges the retry budget (gRFC A6; a dynamic 429 does not)
///   and is retried while the image has error retries left;
/// - with a circuit breaker, a server failure the service refused (free, not ambiguous) that the
///   budget or the error retries do not let go now is ridden out for up to one poll deadline from
///   the first unretried one;
/// - any other retry the budget refuses is deferred, not failed: A6's throttler stops retry
///   storms, it does not give up on the work. The coordinator holds it until the budget allows a
///   retry again (one token kept back per deferred retry already let out) or until no deferred
///   retry is out (one at a time, Envoy's `min_retry_concurrency` of 1), so a batch whose service
///   still delivers gets every image it can while its retry load stays bounded;
/// - the wait is max(own backoff, Retry-After) when the strategy honours Retry-After.
///
/// The caller passes every piece of state the decision reads or changes: the image's retry
/// counts, the batch's retry budget, the jitter generator. Called on the coordinator's thread.

#include <optional>
#include <string>

#include "actors/rate_limiter.hpp"
#include "actors/retry_budget.hpp"
#include "actors/strategy.hpp"
#include "protocol/errors.hpp"

namespace zbatch::actors {

/// What the coordinator keeps per image between attempts, for the retry decision.
struct image_retry_state {
  int error_retries = 0;  ///< Error retries used (5xx, transport, failed task, malformed).
  int retries_429 = 0;    ///< Dynamic-429 retries used (they have their own cap).
  millis last_wait{0};    ///< The previous wait (decorrelated jitter grows from it).
  /// When the image first met a server failure it could not retry (outage ride-out).
  std::optional<time_point> outage_since;
  /// A task of this image SUCCEEDed: it is paid, so the image is never submitted again (a failed
  /// download is the worker's to retry; at its deadline the image stays pending).
  bool task_succeeded = false;
  /// Set by the caller before deciding: the task the last attempt gave up on as hung (empty: the
  /// failure was no hung give-up). Kept when the decision resubmits: the next attempt polls it
  /// beside its own new task.
  std::string hung_task;
  int hung_resubmits = 0;  ///< Knowing resubmits made after hung give-ups (each one is paid).
};

/// Start a new attempt after `wait`, or (no wait) fail the image with the error.
struct retry_decision {
  std::optional<millis> wait;
  /// The budget refused the retry now: it starts no earlier than `wait` from now, and only when
  /// the coordinator lets a deferred retry out (see the rules above).
  bool deferred = false;
  bool retry() const { return wait.has_value(); }
};

/// Decides what follows `error` for one image at `now`. Updates `image` (retries used, the wait
/// chosen, the outage start), charges `budget` and draws jitter from `rng`; nothing else.
retry_decision decide_retry(const strategy_spec& spec, const protocol::api_error& error,
                            image_retry_state& image, retry_budget& budget, time_point now,
                            jitter_rng& rng);

/// The most submits one image can be charged for (answered with a task or possibly paid) under
/// the rules above: the first, one per error retry (a FAILED task's or, with
/// `resubmit_ambiguous`, a lost answer's resubmit) and the hung resubmits. 429s and refused
/// (unambiguous) failures are free, so what they retry adds nothing.
int max_paid_submits_per_image(const strategy_spec& spec);

}  // namespace zbatch::actors
