#include "generate/shared_gate.hpp"

#include <chrono>

#include "actors/shared_permits.hpp"
#include "generate/session.hpp"
#include "shared_limit/permit_client.hpp"
#include "shared_limit/redis_store.hpp"

namespace zbatch::generate {

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
  auto permits = actors::shared_permit_options(strategy);
  permits.lease = options.lease;
  permits.heartbeat = options.heartbeat;
  permits.on_notice = std::move(on_notice);
  auto client = std::make_unique<shared_limit::permit_client>(std::move(store), permits);
  client->start_heartbeat();
  // Redis's TIME is Unix time: quota resets and circuit openings go there as Unix milliseconds.
  auto quota_reset = [](std::optional<actors::millis> retry_after) {
    const auto now = std::chrono::system_clock::now();
    // A Retry-After of 0 (or a past date, read as 0) names no reset: the assumed one applies.
    const auto reset =
        retry_after && retry_after->count() > 0 ? now + *retry_after : next_quota_reset(now);
    return std::chrono::duration_cast<std::chrono::milliseconds>(reset.time_since_epoch()).count();
  };
  return actors::make_shared_permit_gate(std::move(client), quota_reset, strategy.circuit.open_for);
}

}  // namespace zbatch::generate
