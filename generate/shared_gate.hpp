#pragma once
/// `zbatch generate --shared-limit redis://HOST:PORT[/DB]`: the batch coordinator's permit gate
/// (actors/permit_gate.hpp) on a shared_limit::permit_client over Redis, so several processes
/// on one API key share its in-flight limit (fixed, or the adaptive limit shared by all), its
/// quota stop, and fall back to a local share when Redis is gone (shared_limit/permit_client.hpp).
///
/// The key's namespace in Redis is a hash of the API key. The password comes from
/// ZBATCH_REDIS_PASSWORD or `password_file`, never from the URL or the command line, and appears
/// in no message. Lifetime: as long as the batch (the session holds it); its destructor returns
/// every lease still held. Threading: as permit_gate (the coordinator's thread), plus the
/// client's heartbeat thread, which may call `on_notice`.

#include <functional>
#include <memory>
#include <string>

#include "actors/permit_gate.hpp"
#include "actors/strategy.hpp"
#include "base/status.hpp"

namespace zbatch::generate {

struct shared_limit_options {
  std::string url;            ///< redis://HOST:PORT[/DB]
  std::string password_file;  ///< Empty: ZBATCH_REDIS_PASSWORD (or no password).
  std::chrono::milliseconds lease{10'000};
  std::chrono::milliseconds heartbeat{3'000};
};

/// Checks the URL and the password source (invalid_argument / not_found, naming the option) and
/// connects. A server that does not answer is not an error: the run starts degraded (one notice)
/// and joins when it answers; a refused password is (failed_precondition).
result<std::shared_ptr<actors::permit_gate>> connect_shared_limit(
    const shared_limit_options& options, const actors::strategy_spec& strategy,
    const std::string& api_key, std::function<void(const std::string&)> on_notice);

}  // namespace zbatch::generate
