#pragma once
/// One-line descriptions of what the answer readers return, so a fuzz target can compare the
/// json_scan fast path with the nlohmann DOM path field by field (as
/// tests/client/codec_equivalence_test.cpp does). Pure functions.

#include <optional>
#include <string>

#include "client/backend.hpp"
#include "protocol/errors.hpp"
#include "protocol/messages.hpp"

namespace zbatch::fuzz {

/// Every field; the times computed from the clock (retry_after_ms, retry_at_unix_s) only by
/// presence, since each path reads the clock itself.
std::string describe(const protocol::api_error& error);
std::string describe(const std::optional<protocol::api_error>& error);
std::string describe(const protocol::error_text& text);
std::string describe(const client::result<protocol::task_state>& state);
std::string describe(const client::result<protocol::submit_accepted>& accepted);

}  // namespace zbatch::fuzz
