#include "actors/shared_permits.hpp"

#include <algorithm>
#include <utility>

namespace zbatch::actors {
namespace {

class shared_gate final : public permit_gate {
 public:
  shared_gate(std::unique_ptr<shared_limit::permit_client> client, quota_reset_clock quota_reset)
      : client_(std::move(client)), quota_reset_(std::move(quota_reset)) {}

  answer acquire() override {
    const auto got = client_->acquire();
    answer out;
    out.permit = got.permit;
    out.quota_reset_ms = got.quota_reset_ms;
    if (!got.permit) {
      out.retry_in = std::max(millis{1}, got.retry_in);
    }
    return out;
  }
  void release(std::uint64_t permit) override { client_->release(permit); }
  void on_accepted(std::uint64_t permit) override { client_->on_accepted(permit); }
  void on_dynamic_429(std::uint64_t permit) override { client_->on_dynamic_429(permit); }
  void on_quota(std::optional<millis> retry_after) override {
    client_->on_quota(quota_reset_(retry_after));
  }

 private:
  std::unique_ptr<shared_limit::permit_client> client_;
  quota_reset_clock quota_reset_;
};

}  // namespace

shared_limit::permit_options shared_permit_options(const strategy_spec& strategy) {
  shared_limit::permit_options permits;
  const auto& inflight = strategy.inflight;
  if (inflight.adaptive) {
    permits.adaptive = shared_limit::aimd_params{static_cast<double>(inflight.initial),
                                                 static_cast<double>(inflight.min),
                                                 static_cast<double>(inflight.max), inflight.beta};
    // The adaptive floor is the guaranteed limit (1 for ModelScope's free tier).
    permits.guaranteed = inflight.min;
  } else {
    // A fixed limit is shared as it is; `unbounded` shares no limit worth the name.
    permits.limit = inflight.limit > 0 ? inflight.limit : 1'000'000;
    permits.guaranteed = permits.limit;
  }
  // Pacing between submits is shared too (a token bucket or a spacing); the rest after an
  // image (`gap`) stays per coordinator.
  if (strategy.pacing.type == pacing_spec::kind::token) {
    permits.pacing =
        std::make_pair(strategy.pacing.rate, std::max(1, static_cast<int>(strategy.pacing.burst)));
  } else if (strategy.pacing.type == pacing_spec::kind::spacing &&
             strategy.pacing.gap.count() > 0) {
    permits.pacing = std::make_pair(1000.0 / static_cast<double>(strategy.pacing.gap.count()), 1);
  }
  return permits;
}

std::shared_ptr<permit_gate> make_shared_permit_gate(
    std::unique_ptr<shared_limit::permit_client> client, quota_reset_clock quota_reset) {
  return std::make_shared<shared_gate>(std::move(client), std::move(quota_reset));
}

}  // namespace zbatch::actors
