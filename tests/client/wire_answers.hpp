#pragma once
// Wire answers built by hand for the client's codec tests. Header-only, pure functions.

#include <string>
#include <utility>

#include "protocol/wire.hpp"

namespace zbatch::test {

/// An answer with `status` and `body` and no headers.
inline protocol::wire_response answer(int status, std::string body) {
  protocol::wire_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace zbatch::test
