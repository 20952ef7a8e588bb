#include "protocol/ratelimit.hpp"

#include <algorithm>
#include <string>

namespace zbatch::protocol {
namespace {

/// A header's value as a count: decimal digits only (spaces around allowed), at most 18 of them.
std::optional<long long> count_of(const header_list& headers, std::string_view name) {
  const std::string* value = headers.find(name);
  if (value == nullptr) {
    return std::nullopt;
  }
  const auto first = value->find_first_not_of(" \t");
  const auto last = value->find_last_not_of(" \t");
  if (first == std::string::npos || last - first + 1 > 18) {
    return std::nullopt;
  }
  long long n = 0;
  for (auto i = first; i <= last; ++i) {
    const char c = (*value)[i];
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  return n;
}

/// A remaining count above its own limit is not believed (a server answered "remaining 500" of
/// a limit of 10, and the plan said "calls left today: 500"): which of the two is wrong cannot
/// be told, so the pair is dropped.
void drop_contradiction(std::optional<long long>& limit, std::optional<long long>& remaining) {
  if (limit && remaining && *remaining > *limit) {
    limit.reset();
    remaining.reset();
  }
}

}  // namespace

std::optional<long long> ratelimit_state::remaining() const {
  if (account_remaining && model_remaining) {
    return std::min(*account_remaining, *model_remaining);
  }
  return account_remaining ? account_remaining : model_remaining;
}

std::optional<ratelimit_state> read_ratelimit(const header_list& headers) {
  ratelimit_state state;
  state.account_limit = count_of(headers, ratelimit::requests_limit);
  state.account_remaining = count_of(headers, ratelimit::requests_remaining);
  state.model_limit = count_of(headers, ratelimit::model_requests_limit);
  state.model_remaining = count_of(headers, ratelimit::model_requests_remaining);
  drop_contradiction(state.account_limit, state.account_remaining);
  drop_contradiction(state.model_limit, state.model_remaining);
  if (!state.account_limit && !state.account_remaining && !state.model_limit &&
      !state.model_remaining) {
    return std::nullopt;
  }
  return state;
}

}  // namespace zbatch::protocol
