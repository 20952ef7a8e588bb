#pragma once
/// The nlohmann-DOM reader of submit bodies that `parse_submit_body` falls back to.
///
/// `parse_submit_body` first tries the allocation-free json_scan reader and only parses a DOM
/// when it does not handle the body. This entry point always takes the DOM path, so equivalence
/// tests can compare both on the same input. Not for production callers. Pure, thread-safe.

#include <string_view>
#include <variant>

#include "protocol/messages.hpp"

namespace zbatch::protocol::detail {

/// `parse_submit_body` without the fast path.
std::variant<submit_request, field_error> parse_submit_body_dom(std::string_view body);

}  // namespace zbatch::protocol::detail
