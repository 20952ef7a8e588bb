#pragma once
/// One process's side of a shared limit: takes in-flight permits as leases from a `store`
/// (store.hpp), renews them with a heartbeat while they are held, returns them, feeds the shared
/// adaptive limit, the quota stop, the circuit state and the rate-limit header figures, and keeps
/// going in a degraded mode when the store cannot
/// be reached.
///
/// Degraded mode: the first store failure switches to a local share of permits: at most the
/// share this process was last granted (the permits it held after its last granted acquire),
/// at most the guaranteed limit divided by the processes last seen on the key, and at least 1;
/// permits still held count against it. One notice is printed per outage. Each heartbeat then
/// tries the store again; when it answers, every permit still held (shared or local) is recorded
/// there as a lease (`adopt`), so the other processes count them, the leases returned meanwhile
/// are released there, and a second notice says so.
/// Neither fail-open (the limit times the processes) nor fail-closed (the batch stalls).
///
/// Lifetime: construct with a connected store; `start_heartbeat` starts a thread that calls
/// `tick` every `heartbeat` (tests call `tick` by hand instead). The destructor stops the thread
/// and returns every held lease (best effort). Threading: every member is thread-safe (one mutex
/// around the store; the heartbeat runs on its own thread). Units: milliseconds; times in permits
/// are the store's clock.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shared_limit/store.hpp"

namespace zbatch::shared_limit {

struct permit_options {
  /// The in-flight limit every process shares (a fixed limit), ignored when `adaptive` is set.
  int limit = 1;
  /// A shared adaptive limit (AIMD over every process) instead of `limit`.
  std::optional<aimd_params> adaptive;
  /// Submit pacing shared by every process (GCRA: `rate` per second, bursts of `burst`); none:
  /// no shared pacing. A permit is granted only when both a lease and a pacing slot are free.
  /// Not applied in degraded mode (the in-flight share still is).
  std::optional<std::pair<double, int>> pacing;
  /// The service's guaranteed in-flight limit, which degraded mode divides among processes.
  int guaranteed = 1;
  millis lease{10'000};     ///< A lease not renewed expires this long after its last renewal.
  millis heartbeat{3'000};  ///< Renewal period (and rejoin attempts when degraded); < lease.
  millis retry{20};         ///< The wait suggested when every permit is taken.
  /// A refused process keeps its place in the key's queue (store::acquire) this long after its
  /// last try: longer than `retry`, so a process still asking never loses it, and short, so a
  /// process that stopped asking (its own limiter waits, or it died) holds nobody back for long.
  millis queue_ttl{500};
  /// A process refused permits this long without a grant between says so once (on_notice):
  /// other workers hold the key's permits, and a worker that only waits looked hung.
  millis wait_notice{10'000};
  std::string process_id;  ///< Unique per process; random when empty.
  /// Called with each notice (degraded, rejoined), possibly from the heartbeat thread.
  std::function<void(const std::string&)> on_notice;
};

/// The answer to `acquire`.
struct permit_answer {
  std::optional<std::uint64_t> permit;  ///< Granted: a handle for the other calls.
  millis retry_in{0};                   ///< Not granted: when to ask again.
  /// The quota is stopped on the key until then (store clock, ms); nothing was granted.
  std::optional<std::int64_t> quota_reset_ms;
};

class permit_client {
 public:
  permit_client(std::unique_ptr<store> backing, permit_options options);
  ~permit_client();
  permit_client(const permit_client&) = delete;
  permit_client& operator=(const permit_client&) = delete;

  /// A permit now, or when to ask again. Never blocks longer than one store call. Processes
  /// waiting for a permit are served first come, first served (store::acquire's queue).
  permit_answer acquire();
  /// Returns the permit (its lease in the store, unless degraded).
  void release(std::uint64_t permit);
  /// The permit's submit was accepted: when it took the last permit, clears the shared limit's
  /// strikes and, if `grow` (this process's 429 budget allows it, rate_limiter::may_grow),
  /// raises a shared adaptive limit (slow start, then additive), as the in-process limiter does.
  void on_accepted(std::uint64_t permit, bool grow = true);
  /// A dynamic 429 for the permit's submit: decreases a shared adaptive limit, at most once per
  /// round trip across every process (with `strikes`: the Nth refusal in a row drops it to the
  /// level below; store.hpp).
  void on_dynamic_429(std::uint64_t permit);
  /// A quota 429: stops every process on the key until `reset_ms` (store clock).
  void on_quota(std::int64_t reset_ms);

  /// This process's breaker opened until `until_ms` (store clock): every process sees it open.
  void on_circuit_open(std::int64_t until_ms);
  /// A probe succeeded: the circuit closes for every process.
  void on_circuit_close();
  /// The shared circuit; a half-open one names this process its probe or not. Closed while
  /// degraded (each process's own breaker still guards it).
  circuit_answer circuit();
  /// The remaining-calls figures of an answer's rate-limit headers, kept until `until_ms` (the
  /// quota reset, store clock).
  void on_ratelimit(const ratelimit_figures& figures, std::int64_t until_ms);
  /// The lowest figures any process has seen since the last reset; none while degraded.
  ratelimit_figures ratelimit();

  /// One heartbeat: renews held leases, records this process, refreshes the limit; when
  /// degraded, tries the store and rejoins if it answers.
  void tick();
  void start_heartbeat();

  bool degraded() const;
  int share() const;      ///< The degraded share (permits), valid while degraded.
  int in_flight() const;  ///< Permits held by this process.
  int processes_seen() const;
  double current_limit() const;
  int lost_leases() const;  ///< Leases that expired while held (renewal came too late).

 private:
  struct held_permit {
    std::int64_t acquired_ms = 0;
    bool saturated = false;
    bool in_store = false;  ///< A lease in the store (not a local permit of degraded mode).
  };
  std::string lease_id(std::uint64_t permit) const;
  int shared_limit_now() const;
  int share_locked() const;
  void degrade(const status& why);
  void note_waiting(const lease_answer& refused);

  mutable std::mutex mutex_;
  std::unique_ptr<store> store_;
  permit_options options_;
  std::map<std::uint64_t, held_permit> held_;
  /// Leases returned while degraded: released in the store when it answers again.
  std::vector<std::string> orphans_;
  std::uint64_t next_ = 1;
  bool degraded_ = false;
  int granted_share_ = 1;
  int processes_ = 1;
  bool processes_known_ = false;  ///< The store answered a heartbeat at least once.
  double limit_ = 1;
  int lost_ = 0;
  std::optional<std::int64_t> waiting_since_ms_;  ///< First refusal since the last grant.
  bool wait_noticed_ = false;
  // Heartbeat thread.
  std::thread thread_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace zbatch::shared_limit
