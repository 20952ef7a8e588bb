#pragma once
/// The mock's statistics: the counters, each dimension a declared enumeration (requests by
/// `endpoint` and status, faults by `fault_kind`, 429s by `refusal`, tasks by `task_fate` and by
/// terminal state), and the two ways they are read: the JSON of GET /admin/stats and the
/// Prometheus text of GET /metrics (fields: mock_api/README.md). What other parts own is read
/// at report time: each key's standing and the credits from the throttle, the images from the
/// model.
///
/// Owned by the model; `clear` on reset. Not thread-safe: the model calls it under its mutex.
/// Counting allocates nothing, except at the first count of a status at an endpoint.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mock_api/fault.hpp"
#include "mock_api/reply.hpp"
#include "mock_api/throttle.hpp"
#include "protocol/messages.hpp"

namespace zbatch::mock {

/// One distinct image and the tasks created for it (an entry of the stats' `images[]`).
struct image_report {
  std::string_view prompt;
  std::int64_t seed = 0;
  std::string_view size;  ///< "1024x1024"
  std::uint64_t submits = 0;
};

class statistics {
 public:
  /// endpoint → status ("200", "429", or the transport fault "reset", "close", "hang") → count.
  using request_counts = std::map<std::string, std::map<std::string, std::uint64_t>>;

  /// One answered request: by its status, or by the fault that left it without an answer.
  void count_request(endpoint where, const reply& answer);
  void count(fault_kind kind) { ++faults_[static_cast<std::size_t>(kind)]; }
  void count(refusal why) { ++refusals_[static_cast<std::size_t>(why)]; }
  /// A task was created (paid) with this fate.
  void count_created(task_fate fate) { ++created_[static_cast<std::size_t>(fate)]; }
  /// A poll first reported a task's terminal state (SUCCEED or FAILED; others are ignored).
  void count_finished(protocol::task_status state);
  void clear() { *this = statistics{}; }

  request_counts requests() const;
  std::uint64_t tasks_created() const;  ///< Paid submits: every task created, any fate.

  /// The body of GET /admin/stats at `now` (after `limits.settle_all(now)`); `images` in the
  /// order to list them.
  nlohmann::json to_json(duration now, std::uint64_t seed, const throttle& limits,
                         const std::vector<image_report>& images) const;
  /// The body of GET /metrics (after `limits.settle_all`): every counter as `zbatch_mock_*`.
  std::string prometheus(const throttle& limits) const;

 private:
  static constexpr std::array<protocol::task_status, 2> terminal_states_ = {
      protocol::task_status::succeed, protocol::task_status::failed};
  static std::string_view finished_name(std::size_t index);

  std::array<std::map<std::string, std::uint64_t, std::less<>>, endpoint_count> requests_;
  std::array<std::uint64_t, fault_kind_count> faults_{};
  std::array<std::uint64_t, refusal_count> refusals_{};
  std::array<std::uint64_t, task_fate_count> created_{};
  std::array<std::uint64_t, terminal_states_.size()> finished_{};
};

}  // namespace zbatch::mock
