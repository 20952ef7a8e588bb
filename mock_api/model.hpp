#pragma once
/// The mock ModelScope service as a pure model: every answer and every task's fate is decided
/// here, from the config, a seed and an injected clock; no sockets.
///
/// `mock_api/server.hpp` translates HTTP to `handle()` calls; the simulator in sim/ calls
/// `handle()` directly in virtual time. `handle()` is thread-safe (one mutex) and, for the same
/// config, seed and order of requests, deterministic.
///
/// NOTE: this header is the agreed interface; the mock_api owner extends it (config, stats,
/// admin) without changing the meaning of what is here.

#include <cstdint>
#include <memory>
#include <string>

#include "mock_api/clock.hpp"
#include "protocol/wire.hpp"

namespace zbatch::mock {

/// What the transport must do besides (or instead of) sending the response.
enum class transport_fault {
  none,
  reset,     ///< Close the connection without any answer (RST where possible).
  hang,      ///< Never answer: hold the connection until the client gives up.
  truncate,  ///< Send the headers and `truncate_at` bytes of the body, then close.
  slow,      ///< Send the body spread evenly over `dribble`.
};

struct reply {
  protocol::wire_response response;
  duration delay{0};  ///< Hold the answer this long (simulated network + server time).
  transport_fault fault = transport_fault::none;
  std::size_t truncate_at = 0;
  duration dribble{0};
};

}  // namespace zbatch::mock
