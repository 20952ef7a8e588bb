#pragma once
/// The service's daily call limits as its answers state them: the four
/// `modelscope-ratelimit-*` headers (protocol doc, "What newer public material adds"), read into
/// one typed value that travels with every answer's outcome (submit_accepted, task_state,
/// api_error). `requests-*` is the account's daily calls over all models, `model-requests-*` the
/// same for the request's model; both reset at 00:00 UTC+8 (the doc's working assumption).
///
/// Shared by the mock (which writes the headers under these names) and the client (which reads
/// them). Plain values and pure functions; no threading concerns.

#include <optional>
#include <string_view>

#include "protocol/wire.hpp"

namespace zbatch::protocol {

namespace ratelimit {
inline constexpr std::string_view requests_limit = "modelscope-ratelimit-requests-limit";
inline constexpr std::string_view requests_remaining = "modelscope-ratelimit-requests-remaining";
inline constexpr std::string_view model_requests_limit =
    "modelscope-ratelimit-model-requests-limit";
inline constexpr std::string_view model_requests_remaining =
    "modelscope-ratelimit-model-requests-remaining";
}  // namespace ratelimit

/// What one answer's rate-limit headers said; a field is nullopt when its header was absent or
/// not a plain non-negative decimal number, and both of a pair when its remaining count is above
/// its limit (the two contradict each other).
struct ratelimit_state {
  std::optional<long long> account_limit;
  std::optional<long long> account_remaining;
  std::optional<long long> model_limit;
  std::optional<long long> model_remaining;

  /// Either remaining count is 0: the service has no call left today for this account or this
  /// model, so a submit now can only draw the quota 429 (the doc: "at 0 it is the quota").
  bool exhausted() const {
    return (account_remaining && *account_remaining == 0) ||
           (model_remaining && *model_remaining == 0);
  }
  /// The smaller remaining count (what a plan can still submit today), nullopt when neither came.
  std::optional<long long> remaining() const;
};

/// Reads the four headers; nullopt when none of them carried a number (the service, or a
/// profile of the mock, that sends none).
std::optional<ratelimit_state> read_ratelimit(const header_list& headers);

}  // namespace zbatch::protocol
