#pragma once
/// The typed actor interface through which image workers reach the image API: submit, poll and
/// download, carrying protocol types and answering with already-classified results.
///
/// Two implementations serve it: `spawn_blocking_backend` (this folder) hands each request to one
/// of several detached actors, each owning its own blocking `client::backend` (HTTP), so blocking
/// I/O never runs on a scheduler thread; `sim::spawn_sim_backend` answers from the mock's model
/// after simulated delays in virtual time. Worker code is identical for both. A backend actor
/// lives until it is sent an exit message (or the actor system shuts down).

#include <functional>
#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "client/backend.hpp"
#include "protocol/messages.hpp"

namespace zbatch::actors {

using submit_atom = caf::atom_constant<caf::atom("zb_submit")>;
using poll_atom = caf::atom_constant<caf::atom("zb_poll")>;
using download_atom = caf::atom_constant<caf::atom("zb_dload")>;

using submit_outcome = client::result<protocol::submit_accepted>;
using poll_outcome = client::result<protocol::task_state>;
using download_outcome = client::result<client::downloaded_image>;

/// submit(request) -> accepted | error; poll(task_id) -> state | error; download(url) -> image |
/// error. Requests never fail at the CAF level: failures travel inside the outcome.
using backend_actor =
    caf::typed_actor<caf::replies_to<submit_atom, protocol::submit_request>::with<submit_outcome>,
                     caf::replies_to<poll_atom, std::string>::with<poll_outcome>,
                     caf::replies_to<download_atom, std::string>::with<download_outcome>>;

/// Makes one blocking backend (one connection's worth of state). Called once per I/O actor, on
/// the spawning thread.
using backend_factory = std::function<std::unique_ptr<client::backend>()>;

/// Serves `backend_actor` with up to `connections` detached I/O actors, each owning a backend
/// made by `factory` (created lazily, when a request finds every existing one busy). Requests
/// beyond that wait in FIFO order. Sending the returned handle an exit message stops the pool
/// and its I/O actors once their current call returns.
backend_actor spawn_blocking_backend(caf::actor_system& system, backend_factory factory,
                                     int connections);

}  // namespace zbatch::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::protocol::submit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::submit_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::poll_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(zbatch::actors::download_outcome)
