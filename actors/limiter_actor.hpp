#pragma once
/// The rate-limiter actor (issue 15): one per API key per process, serving every batch
/// coordinator of that process. It owns the key's start decision (in-flight permits, pacing,
/// pause, circuit, quota stop) and the store behind it; coordinators ask it for a start and tell
/// it what happened to their attempts, which they used to tell a rate_limiter of their own.
///
/// Two stores:
/// - in-process (no `shared` gate): one rate_limiter (rate_limiter.hpp, the strategy's state
///   machine) for the key, built at the first coordinator's join from its strategy and start
///   time. With one coordinator it makes exactly the decisions the coordinator's own limiter
///   made before, in the same order; with several, their attempts share its permits.
/// - shared (`shared` set: shared_permits.hpp over a shared_limit::permit_client on a Redis or
///   in-memory store): every coordinator keeps a rate_limiter of its own here (its gap pacing,
///   its breaker) and a start also needs the store's permit, as the coordinator's gate did.
///
/// Protocol (all messages local, CAF 0.17): a coordinator sends `limiter_join` first, then asks
/// `request(limiter, infinite, limiter_acquire{now}).await(...)` whenever its rate limiter was
/// called before (awaiting keeps every other message of the coordinator behind the answer, so a
/// single coordinator sees the old synchronous order of events), tells the other events as the
/// structs below, and ends with `request(limiter, infinite, leave_atom)`, whose answer carries
/// the final figures; leaving returns whatever the coordinator still held (the in-process
/// store's permits, the shared store's leases). A coordinator that dies without leaving is
/// noticed through a monitor and its permits return the same way. A coordinator told
/// `wait_release` asks again when one of its own attempts ends; with the in-process store the
/// limiter also pushes `limiter_wake_atom` to it when another coordinator's permit returns (or
/// a start may have become possible: an acceptance, a success), so a coordinator with nothing
/// running is never left waiting. (The shared store answers `wait_until`: the store's permits
/// are polled, as the store's other processes cannot push.)
///
/// Lifetime: spawn with `spawn_limiter`; it runs until sent an exit message (whoever spawned it
/// stops it; `spawn_batch` stops the one it spawns for a lone batch). Threading: an event-based
/// actor on CAF's scheduler (virtual time under the testing scheduler); the shared gate is
/// called only from it, one call at a time, as permit_gate.hpp requires.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

#include "actors/permit_gate.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/strategy.hpp"
#include "protocol/ratelimit.hpp"

namespace zbatch::actors {

/// Coordinator -> limiter: the coordinator is done; answered with `limiter_figures`.
using leave_atom = caf::atom_constant<caf::atom("zb_lleave")>;
/// Limiter -> coordinator: a permit it waited for (`wait_release`) may be free: ask again.
using limiter_wake_atom = caf::atom_constant<caf::atom("zb_lwake")>;

struct limiter_options {
  /// The shared store's gate; none: the in-process store.
  std::shared_ptr<permit_gate> shared;
};

/// Spawns a limiter actor (scheduled, so it runs in virtual time under the testing scheduler).
caf::actor spawn_limiter(caf::actor_system& system, limiter_options options = {});

/// Coordinator -> limiter, first: the coordinator's strategy and batch start.
struct limiter_join {
  strategy_spec strategy;
  time_point start;
  int batch_images = 0;  ///< The batch's size (rate_limiter::plan_batch); 0 = unknown.
};

/// Coordinator -> limiter (request): may up to `count` attempts start at `now`, one after the
/// other? Answered `limiter_answer`, whose starts are already counted as started. One ask per
/// pump turn rather than per start keeps a coordinator's burst of starts together (as the old
/// synchronous loop sent them) and costs one round trip for the whole burst.
struct limiter_acquire {
  time_point now;
  int count = 1;
};

/// One start granted.
struct limiter_start {
  bool saturated = false;               ///< It took the last free permit (rate_limiter::on_start).
  int level = 0;                        ///< Attempts in flight right after it, itself included.
  std::optional<std::uint64_t> permit;  ///< The shared store's permit, if any.
};

struct limiter_answer {
  enum class verdict {
    start,         ///< Every start asked for is granted (`starts`).
    wait_until,    ///< The next one may start at `at`: ask again then.
    wait_release,  ///< Ask again when one of this coordinator's attempts ends.
    quota_stopped  ///< The key is stopped for the quota: start nothing more.
  };
  std::vector<limiter_start> starts;     ///< Granted, in order (fewer than asked: see `what`).
  verdict what = verdict::wait_release;  ///< Why no more were granted, or `start`.
  time_point at;
  /// The shared store's models with no calls left today (permit_gate::answer): a coordinator
  /// that did not know one yet stops its images and returns the starts granted here unused.
  std::vector<std::string> exhausted_models;
};

/// An attempt ended at `now` (any outcome); its permit returns. `dynamic_429` and
/// `server_failure` are what the shared store hears about the permit before it returns.
/// A start the coordinator did not make (its write-ahead record failed) returns the same way.
struct limiter_release {
  time_point now;
  std::optional<std::uint64_t> permit;
  bool dynamic_429 = false;
  bool server_failure = false;
};

/// An attempt's submit (made at `submitted_at`, started as `saturated` at `level`) was accepted.
struct limiter_accepted {
  time_point now;
  time_point submitted_at;
  bool saturated = false;
  int level = 0;
  std::optional<std::uint64_t> permit;
};

/// A request succeeded (rate_limiter::on_success).
struct limiter_success {
  time_point submitted_at;
  std::optional<duration> task_latency;
};

/// A dynamic 429 (rate_limiter::on_dynamic_429).
struct limiter_429 {
  time_point now;
  time_point submitted_at;
  std::optional<millis> retry_after;
  int level = 0;
};

/// The coordinator stops for the quota; `tell_store`: a quota 429 the shared store should
/// spread (with the service's `retry_after` hint), rather than a stop read from the headers.
struct limiter_quota {
  std::optional<millis> retry_after;
  bool tell_store = false;
};

/// A server or transport failure at `now` (rate_limiter::on_server_failure); a breaker that
/// opens on it is told to the shared store.
struct limiter_server_failure {
  time_point now;
};

/// A submit answer's rate-limit headers, for the shared store; `model`: the submit's model.
struct limiter_ratelimit {
  protocol::ratelimit_state limits;
  std::string model;
};

/// The answer to `leave_atom`: the figures a batch result reports.
struct limiter_figures {
  double limit = 0;  ///< The in-flight limit now (0 = unbounded).
  int circuit_openings = 0;
};

}  // namespace zbatch::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_join)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_acquire)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_start)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_release)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_accepted)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_success)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_429)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_quota)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_server_failure)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_ratelimit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::limiter_figures)
