#pragma once
/// The nlohmann-DOM readers of error bodies that `errors.hpp`'s functions fall back to.
///
/// `extract_error_text` and `classify_http_error` first try the allocation-free json_scan reader
/// and only parse a DOM when it does not handle the body. These entry points always take the DOM
/// path, so equivalence tests and the codec benchmark can compare both on the same input. Not
/// for production callers. Pure functions, thread-safe.

#include <optional>
#include <string_view>

#include "protocol/errors.hpp"

namespace zbatch::protocol::detail {

/// `extract_error_text` without the fast path.
error_text extract_error_text_dom(std::string_view body);

/// `classify_http_error` without the fast path.
api_error classify_http_error_dom(int status, std::string_view body);

/// `classify_error_in_success` without the fast path.
std::optional<api_error> classify_error_in_success_dom(int status, std::string_view body);

}  // namespace zbatch::protocol::detail
