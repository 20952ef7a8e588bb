#pragma once
/// Calls to a zbatch mock's own endpoints (`/admin/reset`, `/admin/stats`) from zbatch itself (the
/// scenario runner's http mode against a mock the user started), bounded as the API's answers are:
/// a deadline on the whole request, connect and status line included, an idle time-out and a cap
/// on the answer's bytes (client/answer_budget.hpp), so a port that accepts and never answers, or
/// answers without end, ends the call with an error naming the URL instead of hanging it.
///
/// Lifetime and threading: each call opens and closes its own connection; calls on different
/// threads are independent.

#include <chrono>
#include <cstddef>
#include <string>

#include "base/status.hpp"

namespace zbatch::client {

/// What one admin call may cost. The mock answers on loopback within milliseconds; its stats list
/// every image (about 100 bytes each plus the prompt), so 64 MiB holds a run of over 300,000.
struct admin_limits {
  std::chrono::milliseconds connect{5'000};
  std::chrono::milliseconds idle{10'000};      ///< Longest wait for the next bytes.
  std::chrono::milliseconds deadline{30'000};  ///< The whole request, connect to last byte.
  std::size_t max_bytes = std::size_t{64} << 20;
};

/// `method` ("GET" or "POST", no body) `path` ("/admin/stats") on the mock at `base_url` (its
/// scheme, host and port; the mock serves /admin/* at its root). The body of a 200 answer;
/// invalid_argument for an unusable URL; unavailable, with a message naming the method and the
/// URL and what went wrong (no connection, a time-out, an answer over the cap, another status),
/// otherwise.
zbatch::result<std::string> call_mock_admin(const std::string& base_url, const std::string& method,
                                            const std::string& path,
                                            const admin_limits& limits = {});

}  // namespace zbatch::client
