#include "sim/driver.hpp"

#include <stdexcept>
#include <utility>

#include <caf/send.hpp>

namespace zbatch::sim {

caf::scheduler::test_coordinator& testing_scheduler(caf::actor_system& system) {
  auto* scheduler = dynamic_cast<caf::scheduler::test_coordinator*>(&system.scheduler());
  if (scheduler == nullptr) {
    throw std::logic_error("virtual time needs scheduler.policy = testing");
  }
  return *scheduler;
}

namespace {

/// One driver loop; `stop` is checked after every burst of messages.
template <class Stop>
drive_stats drive(caf::scheduler::test_coordinator& scheduler, std::size_t max_steps, Stop stop) {
  drive_stats stats;
  while (true) {
    stats.messages += scheduler.run();
    if (stop()) {
      return stats;
    }
    if (!scheduler.has_pending_timeout()) {
      stats.idle = true;
      return stats;
    }
    if (stats.timeouts >= max_steps) {
      return stats;
    }
    scheduler.trigger_timeout();
    ++stats.timeouts;
  }
}

}  // namespace

drive_stats run_until_idle(caf::scheduler::test_coordinator& scheduler, std::size_t max_steps) {
  return drive(scheduler, max_steps, [] { return false; });
}

std::optional<actors::batch_result> run_batch_sim(caf::actor_system& system,
                                                  actors::batch_request request,
                                                  actors::backend_actor backend,
                                                  actors::progress_callback on_progress,
                                                  std::optional<actors::millis> cancel_at,
                                                  std::size_t max_steps, drive_stats* stats) {
  auto& scheduler = testing_scheduler(system);
  std::optional<actors::batch_result> result;
  actors::batch_callbacks callbacks;
  callbacks.on_progress = std::move(on_progress);
  callbacks.on_done = [&result](actors::batch_result done) { result = std::move(done); };
  auto coordinator =
      actors::spawn_batch(system, std::move(request), std::move(backend), std::move(callbacks));
  if (cancel_at) {
    caf::delayed_anon_send(coordinator, *cancel_at, actors::cancel_atom::value);
  }
  auto driven = drive(scheduler, max_steps, [&result] { return result.has_value(); });
  if (stats != nullptr) {
    *stats = driven;
  }
  return result;
}

std::vector<std::optional<actors::batch_result>> run_batches_sim(
    caf::actor_system& system, std::vector<actors::batch_request> requests,
    actors::backend_actor backend, std::size_t max_steps, drive_stats* stats) {
  auto& scheduler = testing_scheduler(system);
  std::vector<std::optional<actors::batch_result>> results(requests.size());
  std::size_t done = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    actors::batch_callbacks callbacks;
    callbacks.on_done = [&results, &done, i](actors::batch_result result) {
      results[i] = std::move(result);
      ++done;
    };
    actors::spawn_batch(system, std::move(requests[i]), backend, std::move(callbacks));
  }
  auto driven = drive(scheduler, max_steps, [&] { return done == results.size(); });
  if (stats != nullptr) {
    *stats = driven;
  }
  return results;
}

}  // namespace zbatch::sim
