#pragma once
/// The retry budget of gRFC A6 ("retry throttling"), one per batch: every retryable failure costs
/// one token, every success earns `token_ratio`, and no error retry may start while the tokens are
/// at or below half of `max_tokens`. Tokens are clamped to [0, max_tokens] so a good stretch banks
/// no unlimited credit. Disabled (`budget_spec::enabled` false) it allows every retry.
///
/// A plain value owned by the batch coordinator; its retry decision (retry_policy.hpp) charges
/// and consults it. Not thread-safe: one actor uses it.

#include <algorithm>

#include "actors/strategy.hpp"

namespace zbatch::actors {

class retry_budget {
 public:
  explicit retry_budget(const budget_spec& spec) : spec_(spec), tokens_(spec.max_tokens) {}

  /// Whether an error retry may start now (gRFC A6: tokens > max_tokens / 2), with `held_back`
  /// tokens set aside first (one per deferred retry already let out: each may fail).
  bool allows_retry(double held_back = 0) const {
    return !spec_.enabled || tokens_ - held_back > spec_.max_tokens / 2;
  }
  /// A retryable failure happened: one token less (not below 0).
  void on_failure() {
    if (spec_.enabled) {
      tokens_ = std::max(0.0, tokens_ - 1.0);
    }
  }
  /// A success: `token_ratio` more (not above max_tokens).
  void on_success() {
    if (spec_.enabled) {
      tokens_ = std::min(spec_.max_tokens, tokens_ + spec_.token_ratio);
    }
  }
  double tokens() const { return tokens_; }

 private:
  budget_spec spec_;
  double tokens_;
};

}  // namespace zbatch::actors
