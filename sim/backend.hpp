#pragma once
/// The virtual-time backend: a `backend_actor` around the mock's model. Each request is turned
/// into wire messages by client/codec.hpp, answered by `model::handle()` at the current virtual
/// time, and its outcome delivered after the reply's simulated delay; transport faults become
/// the client's transport errors (reset/close/truncate at once, hang after the read time-out).
///
/// One scheduled (not detached) actor, so it runs under CAF's test coordinator and time moves
/// only when the driver (sim/driver.hpp) advances it. The model's clock is `actor_clock_adapter`
/// over the same actor system's clock. Request counts are written to a shared `request_counts`
/// that the caller reads after the run (same thread under the testing scheduler).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/backend_actor.hpp"
#include "mock_api/clock.hpp"
#include "mock_api/model.hpp"

namespace zbatch::sim {

/// mock::clock reading an actor system's clock (virtual under the testing scheduler), with its
/// origin at construction.
class actor_clock_adapter final : public mock::clock {
 public:
  explicit actor_clock_adapter(caf::actor_system& system);
  mock::duration now() const override;

 private:
  caf::actor_system* system_;
  caf::actor_clock::time_point origin_;
};

/// Requests the backend made, by endpoint and by outcome: the HTTP status ("200", "429") or the
/// transport fault ("reset", "close", "hang", "truncate").
struct request_counts {
  std::map<std::string, int> submit;
  std::map<std::string, int> poll;
  std::map<std::string, int> download;
  int total = 0;
};

struct sim_backend_options {
  std::string api_key = "sim-key";  ///< Goes into the Authorization header the model reads.
  std::chrono::milliseconds read_timeout{60000};  ///< When a hanging request gives up.
};

/// Spawns the backend actor; `counts` may be null.
actors::backend_actor spawn_sim_backend(caf::actor_system& system,
                                        std::shared_ptr<mock::model> model,
                                        sim_backend_options options = {},
                                        std::shared_ptr<request_counts> counts = nullptr);

}  // namespace zbatch::sim
