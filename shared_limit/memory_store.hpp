#pragma once
/// The shared-limit store in memory: the same operations and rules as the Redis store's Lua
/// scripts (store.hpp), on state that several `memory_store` handles share, so one process can
/// play several processes deterministically (the simulator, unit tests).
///
/// Lifetime: the state lives as long as any handle on it. Threading: every handle may be used
/// from its own thread (one mutex in the shared state). Time: the injected clock, milliseconds;
/// a test drives it by hand. It never fails, except when `set_reachable(false)` makes every
/// operation return `unavailable` (to test the degraded mode without a server).

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "shared_limit/store.hpp"

namespace zbatch::shared_limit {

class memory_store final : public store {
 public:
  using clock = std::function<std::int64_t()>;  ///< Milliseconds.
  struct state;

  explicit memory_store(clock now);
  /// Another handle on the same state (another "process" on the same key).
  memory_store share() const;
  /// Off: every operation fails `unavailable`, as a Redis that went away (shared by all handles).
  void set_reachable(bool reachable);

  using store::acquire;
  result<lease_answer> acquire(const std::string& lease_id, const lease_limit& limit, millis lease,
                               const waiter& queue) override;
  result<int> renew(const std::vector<std::string>& lease_ids, millis lease) override;
  result<int> adopt(const std::vector<std::string>& lease_ids, millis lease) override;
  status release(const std::string& lease_id) override;
  result<int> held() override;
  result<int> max_held() override;
  result<pace_answer> pace(double rate, int burst) override;
  result<limit_answer> limit(const aimd_params& params) override;
  result<limit_answer> limit_decrease(const aimd_params& params,
                                      std::int64_t submitted_ms) override;
  result<limit_answer> limit_increase(const aimd_params& params, std::int64_t submitted_ms,
                                      bool grow) override;
  status quota_stop(std::int64_t reset_ms) override;
  result<std::optional<std::int64_t>> quota() override;
  status circuit_open(std::int64_t until_ms) override;
  status circuit_close() override;
  result<circuit_answer> circuit(const std::string& holder, millis probe_ttl) override;
  status ratelimit_record(const ratelimit_figures& figures, std::int64_t until_ms) override;
  result<ratelimit_figures> ratelimit() override;
  result<int> heartbeat(const std::string& process_id, millis ttl) override;

 private:
  explicit memory_store(std::shared_ptr<state> shared) : state_(std::move(shared)) {}
  std::shared_ptr<state> state_;
};

}  // namespace zbatch::shared_limit
