#pragma once
/// The discrete-event driver for virtual time, and a batch run on top of it.
///
/// Under `scheduler.policy = testing` nothing happens until driven: `run_until_idle` runs every
/// ready message, then jumps the clock to the next pending timeout (delayed message), and repeats
/// until nothing is left or `max_steps` timeouts were triggered. Deterministic: same inputs, same
/// order of events. Call it from the thread that owns the actor system.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/coordinator.hpp"

namespace zbatch::sim {

struct drive_stats {
  std::size_t messages = 0;  ///< Jobs (actor resumptions) run.
  std::size_t timeouts = 0;  ///< Timeouts triggered (clock jumps).
  bool idle = false;         ///< True when it stopped because nothing was left to do.
};

/// The test coordinator of a system configured with the testing scheduler; throws
/// std::logic_error otherwise.
caf::scheduler::test_coordinator& testing_scheduler(caf::actor_system& system);

/// Runs until no message and no timeout is pending, or `max_steps` timeouts were triggered.
drive_stats run_until_idle(caf::scheduler::test_coordinator& scheduler,
                           std::size_t max_steps = 100'000'000);

/// A batch run in virtual time: spawns the coordinator, drives the scheduler until the batch is
/// done (or `max_steps`), returns the result. `cancel_at` cancels the batch at that virtual time
/// after the start. nullopt when the batch did not finish within `max_steps`.
std::optional<actors::batch_result> run_batch_sim(
    caf::actor_system& system, actors::batch_request request, actors::backend_actor backend,
    actors::progress_callback on_progress = {}, std::optional<actors::millis> cancel_at = {},
    std::size_t max_steps = 100'000'000, drive_stats* stats = nullptr);

/// Several batches in one virtual time (N coordinators of one API key sharing `backend`): spawns
/// one coordinator per request, all at time 0 in request order, drives until every batch is done
/// (or `max_steps`), returns each result in request order (nullopt for one that did not finish).
/// `run_batch_sim` is this with one request.
std::vector<std::optional<actors::batch_result>> run_batches_sim(
    caf::actor_system& system, std::vector<actors::batch_request> requests,
    actors::backend_actor backend, std::size_t max_steps = 100'000'000,
    drive_stats* stats = nullptr);

}  // namespace zbatch::sim
