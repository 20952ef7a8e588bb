#include "sim/backend.hpp"

#include <cstdint>
#include <utility>

#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "client/codec.hpp"
#include "protocol/wire.hpp"

namespace zbatch::sim {

actor_clock_adapter::actor_clock_adapter(caf::actor_system& system)
    : system_(&system), origin_(system.clock().now()) {}

mock::duration actor_clock_adapter::now() const {
  return std::chrono::duration_cast<mock::duration>(system_->clock().now() - origin_);
}

namespace {

struct sim_state {
  std::shared_ptr<mock::model> model;
  sim_backend_options options;
  std::shared_ptr<request_counts> counts;
};

using sim_self = actors::backend_actor::stateful_pointer<sim_state>;

enum class endpoint { submit, poll, download };

void count(sim_self self, endpoint which, const mock::reply& reply) {
  auto& counts = self->state.counts;
  if (!counts) {
    return;
  }
  auto& table = which == endpoint::submit ? counts->submit
                : which == endpoint::poll ? counts->poll
                                          : counts->download;
  switch (reply.fault) {
    case mock::transport_fault::none:
    case mock::transport_fault::slow:
      ++table[std::to_string(reply.response.status)];
      break;
    default:
      ++table[std::string(mock::to_string(reply.fault))];
      break;
  }
  ++counts->total;
}

/// Delivers `answer` to `promise` after `delay` (at once when zero). A delayed answer goes
/// straight to the requester as a scheduled response message: a stop at this actor in between
/// would add a message per request, the largest cost of a simulated run after the model.
template <class Outcome>
void answer_after(sim_self self, caf::typed_response_promise<Outcome> promise, Outcome answer,
                  mock::duration delay) {
  caf::response_promise& untyped = promise;
  if (delay.count() <= 0 || !untyped.stages().empty() || !untyped.source()) {
    promise.deliver(std::move(answer));
    return;
  }
  auto& clock = self->clock();
  clock.schedule_message(
      clock.now() + delay, untyped.source(),
      caf::make_mailbox_element(self->ctrl(), untyped.id().response_id(), {}, std::move(answer)));
}

/// Turns a model reply into the outcome a blocking client would have seen, and when.
template <class Outcome, class Read>
caf::typed_response_promise<Outcome> respond(sim_self self, endpoint which,
                                             const mock::reply& reply, Read read) {
  count(self, which, reply);
  auto promise = self->make_response_promise<Outcome>();
  const auto timeout = std::chrono::duration_cast<mock::duration>(self->state.options.read_timeout);
  switch (reply.fault) {
    case mock::transport_fault::none:
      answer_after(self, promise, Outcome{read(reply.response)}, reply.delay);
      break;
    case mock::transport_fault::slow:
      answer_after(self, promise, Outcome{read(reply.response)}, reply.delay + reply.dribble);
      break;
    case mock::transport_fault::reset:
    case mock::transport_fault::close:
      answer_after(self, promise,
                   Outcome{client::transport_error(client::transport_failure::reset, true,
                                                   std::string(mock::to_string(reply.fault)))},
                   mock::duration{0});
      break;
    case mock::transport_fault::truncate:
      answer_after(self, promise,
                   Outcome{client::transport_error(client::transport_failure::truncated, true)},
                   reply.delay);
      break;
    case mock::transport_fault::hang:
      if (reply.hold_max < timeout) {
        // The server gives up first and closes the connection.
        answer_after(self, promise,
                     Outcome{client::transport_error(client::transport_failure::reset, true,
                                                     "closed after hanging")},
                     reply.hold_max);
      } else {
        answer_after(self, promise,
                     Outcome{client::transport_error(client::transport_failure::timeout, true)},
                     timeout);
      }
      break;
  }
  return promise;
}

actors::backend_actor::behavior_type sim_backend(sim_self self, std::shared_ptr<mock::model> model,
                                                 sim_backend_options options,
                                                 std::shared_ptr<request_counts> counts) {
  self->state.model = std::move(model);
  self->state.options = std::move(options);
  self->state.counts = std::move(counts);
  return {
      [self](actors::submit_atom, const protocol::submit_request& request) {
        auto& st = self->state;
        const auto reply = st.model->handle(client::make_submit(request, st.options.api_key));
        return respond<actors::submit_outcome>(
            self, endpoint::submit, reply,
            [](const protocol::wire_response& response) { return client::read_submit(response); });
      },
      [self](actors::poll_atom, const std::string& task_id) {
        auto& st = self->state;
        const auto reply = st.model->handle(client::make_poll(task_id, st.options.api_key));
        return respond<actors::poll_outcome>(self, endpoint::poll, reply,
                                             [&task_id](const protocol::wire_response& response) {
                                               return client::read_poll(response, task_id);
                                             });
      },
      [self](actors::download_atom, const std::string& url) {
        auto& st = self->state;
        std::string error;
        const auto parsed = protocol::parse_url(url, &error);
        if (!parsed) {
          protocol::api_error failure;
          failure.kind = protocol::error_class::malformed;
          failure.message = "bad image URL '" + url + "': " + error;
          auto promise = self->make_response_promise<actors::download_outcome>();
          promise.deliver(actors::download_outcome{std::move(failure)});
          return promise;
        }
        const auto reply = st.model->handle(client::make_download(parsed->target));
        return respond<actors::download_outcome>(self, endpoint::download, reply,
                                                 [](const protocol::wire_response& response) {
                                                   return client::read_download(response);
                                                 });
      },
  };
}

}  // namespace

actors::backend_actor spawn_sim_backend(caf::actor_system& system,
                                        std::shared_ptr<mock::model> model,
                                        sim_backend_options options,
                                        std::shared_ptr<request_counts> counts) {
  if (!model) {
    throw std::invalid_argument("spawn_sim_backend: no model");
  }
  if (model->public_base_url().empty()) {
    model->set_public_base_url("http://sim.invalid");
  }
  auto handle = system.spawn(sim_backend, std::move(model), std::move(options), std::move(counts));
  return caf::actor_cast<actors::backend_actor>(handle);
}

}  // namespace zbatch::sim
