#include "generate/shared_gate.hpp"

#include <algorithm>
#include <chrono>

#include "generate/session.hpp"
#include "shared_limit/permit_client.hpp"
#include "shared_limit/redis_store.hpp"

namespace zbatch::generate {

namespace {

class shared_gate final : public actors::permit_gate {
 public:
  explicit shared_gate(std::unique_ptr<shared_limit::permit_client> client)
      : client_(std::move(client)) {}

  answer acquire() override {
    const auto got = client_->acquire();
    answer out;
    out.permit = got.permit;
    out.quota_reset_ms = got.quota_reset_ms;
    if (!got.permit) {
      out.retry_in = std::max(actors::millis{1}, got.retry_in);
    }
    return out;
  }
  void release(std::uint64_t permit) override { client_->release(permit); }
  void on_accepted(std::uint64_t permit) override { client_->on_accepted(permit); }
  void on_dynamic_429(std::uint64_t permit) override { client_->on_dynamic_429(permit); }
  void on_quota(std::optional<actors::millis> retry_after) override {
    // Redis's TIME is Unix time: the reset goes there as Unix milliseconds.
    const auto now = std::chrono::system_clock::now();
    const auto reset = retry_after ? now + *retry_after : next_quota_reset(now);
    client_->on_quota(
        std::chrono::duration_cast<std::chrono::milliseconds>(reset.time_since_epoch()).count());
  }

 private:
  std::unique_ptr<shared_limit::permit_client> client_;
};

}  // namespace

result<std::shared_ptr<actors::permit_gate>> connect_shared_limit(
    const shared_limit_options& options, const actors::strategy_spec& strategy,
    const std::string& api_key, std::function<void(const std::string&)> on_notice) {
  auto config = shared_limit::parse_redis_url(options.url);
  if (!config.ok()) {
    return config.status();
  }
  auto password = shared_limit::redis_password(options.password_file);
  if (!password.ok()) {
    return password.status();
  }
  config->password = *password;
  const auto ns = shared_limit::key_namespace(api_key);
  std::unique_ptr<shared_limit::store> store;
  auto connected = shared_limit::redis_store::connect(*config, ns);
  if (connected.ok()) {
    store = *std::move(connected);
  } else if (connected.error().code() == status_code::unavailable) {
    store = shared_limit::redis_store::connect_later(*config, ns);
  } else {
    return connected.status().prefixed("--shared-limit: ");
  }
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
  // image (`gap`) stays per process.
  if (strategy.pacing.type == actors::pacing_spec::kind::token) {
    permits.pacing =
        std::make_pair(strategy.pacing.rate, std::max(1, static_cast<int>(strategy.pacing.burst)));
  } else if (strategy.pacing.type == actors::pacing_spec::kind::spacing &&
             strategy.pacing.gap.count() > 0) {
    permits.pacing = std::make_pair(1000.0 / static_cast<double>(strategy.pacing.gap.count()), 1);
  }
  permits.lease = options.lease;
  permits.heartbeat = options.heartbeat;
  permits.on_notice = std::move(on_notice);
  auto client = std::make_unique<shared_limit::permit_client>(std::move(store), permits);
  client->start_heartbeat();
  return std::shared_ptr<actors::permit_gate>(std::make_shared<shared_gate>(std::move(client)));
}

}  // namespace zbatch::generate
