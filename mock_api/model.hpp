#pragma once
/// The mock ModelScope service as a pure model: every answer and every task's fate is decided
/// here, from the config, a seed and an injected clock; no sockets.
///
/// `mock_api/server.hpp` translates HTTP to `handle()` calls; the simulator in sim/ calls
/// `handle()` directly in virtual time. `handle()` is thread-safe (one mutex) and, for the same
/// config, seed and order of requests (and the same clock readings), deterministic: ids, fates,
/// latencies and injected faults come from independent seeded streams, so the fault sequence does
/// not depend on timing. The model never sleeps: latencies and transport faults are returned in
/// `reply` for the caller to enact (the HTTP shell sleeps, the simulator schedules virtual time).
///
/// Routes: POST /v1/images/generations, GET /v1/tasks/{id}, GET /images/{id}.png (the URLs it
/// hands out), GET /admin/stats, GET|PUT /admin/config, POST /admin/reset, GET /metrics; any other
/// target gets 404 with the service's JSON error body. Every answer carries a `request_id`.
///
/// The model keeps the tasks and images and orchestrates its parts: mock_api/fault.hpp (fault
/// kinds, overrides, drawing, applying), mock_api/throttle.hpp (per-key limits, quota, refunds)
/// and mock_api/stats.hpp (counters and their reports); mock_api/reply.hpp holds what it answers.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mock_api/clock.hpp"
#include "mock_api/config.hpp"
#include "mock_api/fault.hpp"
#include "mock_api/reply.hpp"
#include "protocol/messages.hpp"
#include "protocol/size.hpp"
#include "protocol/wire.hpp"

namespace zbatch::mock {

/// The label under which stats show an API key: never the key itself ("key-1a2b3c4d").
std::string key_label(std::string_view token);

/// Header that carries the admin token (as does `Authorization: Bearer <admin token>`).
inline constexpr std::string_view admin_token_header = "x-zbatch-admin-token";

class model {
 public:
  model(mock_config config, std::shared_ptr<const clock> clock, std::uint64_t seed);
  ~model();
  model(const model&) = delete;
  model& operator=(const model&) = delete;

  /// Answers one request. Thread-safe; never blocks on time.
  reply handle(const protocol::wire_request& request);

  /// Origin of the image URLs it hands out, e.g. "http://127.0.0.1:41234" (no trailing slash).
  /// When empty, the request's Host header is used.
  void set_public_base_url(std::string url);
  std::string public_base_url() const;

  /// Serve one tiny placeholder PNG for every download instead of rendering each image: for the
  /// simulator, where nobody looks at the pixels and deflating megapixels would dominate the run.
  void set_placeholder_images(bool on);

  /// When non-empty, /admin/* requires this token (Bearer or x-zbatch-admin-token).
  void set_admin_token(std::string token);

  /// Unix time (seconds) at the clock's origin: places the daily quota reset at local midnight of
  /// `throttle.quota.reset_utc_offset_hours`. Default 0 (deterministic); `zbatch mock` sets now.
  void set_clock_origin_unix(std::int64_t unix_seconds);

  mock_config config() const;
  /// Replaces the config live; tasks already submitted keep their decided fate and times.
  void replace_config(mock_config config);

  /// Snapshot of the counters (the body of GET /admin/stats).
  nlohmann::json stats();
  /// Request counts and credits: the part of `stats()` a scenario run needs, without building
  /// its per-key and per-image lists (cheap after a 100,000-image simulation).
  struct request_totals {
    /// endpoint ("submit", "poll", "download", ...) → status ("200", "429", "reset"...) → count.
    std::map<std::string, std::map<std::string, std::uint64_t>> requests;
    double credits_used = 0;
    double credits_refunded = 0;  ///< Refunds that fell due by now (as in `stats()`).
    /// Tasks created, i.e. paid submits, those whose answer was lost on the way included.
    std::uint64_t tasks_created = 0;
  };
  request_totals totals();
  /// The same counters in Prometheus text format (the body of GET /metrics).
  std::string metrics();
  /// Forgets tasks, keys, quotas and counters and restarts the seeded streams (config kept).
  void reset();

  /// Accepted submits (tasks created, i.e. paid) for one image, for "never paid twice" checks.
  std::uint64_t submits_for(std::string_view prompt, std::int64_t seed,
                            const protocol::image_size& size) const;

  std::uint64_t seed() const;
  const clock& time_source() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace zbatch::mock
