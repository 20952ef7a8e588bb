#pragma once
/// The shared-limit store on a Redis server (hiredis 0.14, synchronous): every operation of
/// store.hpp is one Lua script run with EVALSHA (loaded once per connection with SCRIPT LOAD,
/// loaded again when the server answers NOSCRIPT, e.g. after a restart), so it is atomic across
/// every process and host on the key; time is the server's (`TIME` inside the script).
///
/// Keys, under the namespace of the API key (`key_namespace`, a hash, never the key):
/// `NS:leases` (sorted set: lease id -> expiry ms), `NS:maxheld` (most leases held at once, as
/// counted inside the acquire script), `NS:tat` (GCRA), `NS:limit` (hash: limit, last decrease,
/// decreased), `NS:quota` (reset ms, expiring then), `NS:circuit` (open until ms) and
/// `NS:probe` (the half-open circuit's probe holder, expiring), `NS:ratelimit` (hash: `account`
/// and `model:<id>`, each the lowest remaining count seen; expiring at the quota reset), `NS:procs`
/// (sorted set: process id -> expiry ms), `NS:waiters`, `NS:waiting` and `NS:ticket` (the queue for
/// leases: sorted sets of waiter id -> ticket and -> expiry ms, and the last ticket given).
///
/// Lifetime: `connect` opens the connection (AUTH with the password if one is given, SELECT the
/// database); a call that meets a broken connection reconnects once and fails `unavailable` if
/// that fails too. Threading: not thread-safe (one connection); one store per thread or a lock.
/// Errors never contain the password: it is only ever sent in AUTH.

#include <memory>
#include <string>

#include "shared_limit/store.hpp"

struct redisContext;

namespace zbatch::shared_limit {

struct redis_config {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;  ///< Empty: no AUTH. Never printed.
  millis connect_timeout{500};
  millis command_timeout{1000};
  /// "HOST:PORT/DB", for messages (no password).
  std::string describe() const;
};

/// Parses `redis://HOST:PORT[/DB]` (DB 0..15; port 1..65535). A URL with a user or password
/// part is refused without echoing it: the password comes from the environment or a file.
result<redis_config> parse_redis_url(const std::string& url);

/// The password from the environment variable ZBATCH_REDIS_PASSWORD, or the first line of
/// `file` when given (fails not_found/invalid_argument naming the file, never its content).
result<std::string> redis_password(const std::string& file);

class redis_store final : public store {
 public:
  /// Connects, authenticates and loads the scripts; fails `unavailable` when the server does not
  /// answer and `failed_precondition` when it refuses the password (the message says which).
  static result<std::unique_ptr<redis_store>> connect(redis_config config, std::string ns);
  /// A store that connects at its first call (a server down at start-up: the permit client
  /// starts degraded and joins when it answers).
  static std::unique_ptr<redis_store> connect_later(redis_config config, std::string ns);
  ~redis_store() override;
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

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

  /// One PING round trip (the benchmark's reference).
  status ping();
  const std::string& name_space() const { return ns_; }

 private:
  struct reply;
  redis_store(redis_config config, std::string ns);
  status open();
  void close();
  /// EVALSHA of script `index` with `keys` and `args`; reconnects once on a broken connection,
  /// reloads the script on NOSCRIPT.
  result<std::shared_ptr<reply>> eval(int index, const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args);
  result<std::shared_ptr<reply>> command(const std::vector<std::string>& argv);
  result<limit_answer> limit_update(const char* op, const aimd_params& params,
                                    std::int64_t submitted_ms, bool grow);

  redis_config config_;
  std::string ns_;
  redisContext* context_ = nullptr;
  std::vector<std::string> shas_;
};

}  // namespace zbatch::shared_limit
