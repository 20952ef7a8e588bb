#include <deque>
#include <memory>
#include <stdexcept>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/backend_actor.hpp"

namespace zbatch::actors {

namespace {

/// One detached actor per connection: its handlers block on I/O on its own thread.
backend_actor::behavior_type io_actor(backend_actor::pointer,
                                      std::shared_ptr<client::backend> backend) {
  return {
      [backend](submit_atom, const protocol::submit_request& request) -> submit_outcome {
        return backend->submit(request);
      },
      [backend](poll_atom, const std::string& task_id) -> poll_outcome {
        return backend->poll(task_id);
      },
      [backend](download_atom, const std::string& url) -> download_outcome {
        return backend->download(url);
      },
  };
}

struct pool_state {
  caf::actor_system* system = nullptr;
  backend_factory factory;
  std::size_t connections = 1;
  std::vector<backend_actor> io;
  std::vector<std::size_t> idle;
  /// Requests waiting for a free connection: each starts its call on the given I/O actor.
  std::deque<std::function<void(std::size_t)>> waiting;
};

using pool_self = backend_actor::stateful_pointer<pool_state>;

protocol::api_error io_failure(const caf::error& error) {
  protocol::api_error out;
  out.kind = protocol::error_class::server_transport;
  out.message = "I/O actor failed: " + caf::to_string(error);
  return out;
}

void release(pool_self self, std::size_t io) {
  auto& st = self->state;
  if (st.waiting.empty()) {
    st.idle.push_back(io);
    return;
  }
  auto next = std::move(st.waiting.front());
  st.waiting.pop_front();
  next(io);
}

/// Runs `start` on a free I/O actor now (spawning one if allowed) or when one frees up.
void dispatch(pool_self self, std::function<void(std::size_t)> start) {
  auto& st = self->state;
  if (st.idle.empty() && st.io.size() < st.connections) {
    std::shared_ptr<client::backend> backend = st.factory();
    st.io.push_back(self->spawn<caf::detached + caf::linked>(io_actor, std::move(backend)));
    st.idle.push_back(st.io.size() - 1);
  }
  if (st.idle.empty()) {
    st.waiting.push_back(std::move(start));
    return;
  }
  const auto io = st.idle.back();
  st.idle.pop_back();
  start(io);
}

template <class Outcome, class Atom, class Arg>
caf::typed_response_promise<Outcome> forward(pool_self self, Atom atom, Arg arg) {
  auto promise = self->make_response_promise<Outcome>();
  dispatch(self, [self, promise, atom, arg = std::move(arg)](std::size_t io) mutable {
    self->request(self->state.io[io], caf::infinite, atom, std::move(arg))
        .then(
            [self, promise, io](Outcome& outcome) mutable {
              promise.deliver(std::move(outcome));
              release(self, io);
            },
            [self, promise, io](caf::error& error) mutable {
              promise.deliver(Outcome{io_failure(error)});
              release(self, io);
            });
  });
  return promise;
}

backend_actor::behavior_type pool(pool_self self, caf::actor_system* system,
                                  backend_factory factory, int connections) {
  self->state.system = system;
  self->state.factory = std::move(factory);
  self->state.connections = static_cast<std::size_t>(connections);
  return {
      [self](submit_atom atom, protocol::submit_request& request) {
        return forward<submit_outcome>(self, atom, std::move(request));
      },
      [self](poll_atom atom, std::string& task_id) {
        return forward<poll_outcome>(self, atom, std::move(task_id));
      },
      [self](download_atom atom, std::string& url) {
        return forward<download_outcome>(self, atom, std::move(url));
      },
  };
}

}  // namespace

backend_actor spawn_blocking_backend(caf::actor_system& system, backend_factory factory,
                                     int connections) {
  if (!factory) {
    throw std::invalid_argument("spawn_blocking_backend: no backend factory");
  }
  if (connections < 1 || connections > 1024) {
    throw std::invalid_argument("spawn_blocking_backend: connections must be in 1..1024, got " +
                                std::to_string(connections));
  }
  return caf::actor_cast<backend_actor>(
      system.spawn(pool, &system, std::move(factory), connections));
}

}  // namespace zbatch::actors
