#pragma once
/// The mock's configuration: every knob of latency, throttling, quota and failure injection, as a
/// plain struct read from JSON (a shipped profile, optionally extended by a user file).
///
/// Parsing validates every field and rejects unknown ones; a mistake is a failed
/// `zbatch::result` (base/status.hpp) whose message names the source (file), the JSON field path
/// and what is allowed, worded as every JSON input of the project words it (base/json_reader.hpp),
/// e.g. `my.json: throttle.in_flight_cap: -1 is out of range (allowed 0..1000000)`, or the line and
/// column of a JSON syntax error. See mock_api/README.md for every knob. Plain values; no threading
/// concerns.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"
#include "protocol/models.hpp"

namespace zbatch::mock {

/// A latency distribution: fixed, uniform(min, max) or lognormal given by median and p99.
struct latency_spec {
  enum class kind { fixed, uniform, lognormal };
  kind type = kind::fixed;
  double ms = 0;         ///< fixed
  double min_ms = 0;     ///< uniform
  double max_ms = 0;     ///< uniform
  double median_ms = 0;  ///< lognormal
  double p99_ms = 0;     ///< lognormal
  static latency_spec fixed(double ms);
  static latency_spec lognormal(double median_ms, double p99_ms);
};

struct generation_config {
  latency_spec queue = latency_spec::fixed(200);  ///< Time spent PENDING.
  latency_spec time = latency_spec::fixed(3000);  ///< Time spent RUNNING, at the reference size.
  double reference_pixels = 1024.0 * 1024.0;      ///< Size at which `time` applies.
  double size_exponent = 1.0;              ///< time *= (pixels / reference_pixels) ^ size_exponent.
  std::string running_status = "RUNNING";  ///< "RUNNING" or "PROCESSING" while generating.
  /// How a task's generation time depends on its model and size. "exponent" (the default, and
  /// the ideal, brownout and flaky profiles): `time` at `reference_pixels`, scaled by the
  /// exponent, the same for every model. "catalogue" (modelscope-free): the model's calibrated
  /// median for the size (`catalogue[].latency_ms`, protocol::generation_ms) times the spread of
  /// `time` (a draw divided by its median; a fixed `time` gives exactly the median).
  std::string size_latency = "exponent";
};

/// A window of the time schedule (seconds on the model's clock, repeating every period).
struct capacity_window {
  double from_s = 0;
  double to_s = 0;
  int capacity = 0;  ///< Extra tasks in flight allowed above `in_flight_cap` in this window.
};

struct dynamic_limit_config {
  std::string mode = "off";           ///< "off", "load" (probabilistic) or "schedule".
  double base_probability = 0.5;      ///< Refusal probability at the first task above the cap.
  double per_task_probability = 0.2;  ///< Added per further task the key has in flight.
  double per_global_task_probability = 0.0;  ///< Added per task in flight across all keys.
  double max_probability = 0.95;
  std::vector<capacity_window> schedule;
  double schedule_period_s = 86400;
};

struct rate_config {
  bool enabled = false;
  double per_second = 1.0;        ///< Token refill rate.
  double burst = 10.0;            ///< Bucket size.
  std::string scope = "submits";  ///< "submits" or "all" (every request with a key counts).
};

struct quota_config {
  bool enabled = false;
  double daily_credits = 250;
  double cost_per_task = 2;
  bool refund_system_failures = true;
  double reset_utc_offset_hours = 8;  ///< The reset is at local midnight of this UTC offset...
  /// ...or, when set, first at this many seconds on the model's clock, then every 24 h.
  std::optional<double> first_reset_s;
  std::string message = "daily_quota";  ///< "daily_quota" or "request_limit".
};

/// Daily call limits per key (account) over all models and per model, counted in tasks created
/// and reset with the quota day (protocol doc, "What newer public material adds": 2,000 a day per
/// account, per model "usually 200", 500 seen for Z-Image-Turbo; whether refused submits or polls
/// count is unknown: they do not here). A submit past either limit gets the quota 429.
struct daily_limits_config {
  bool enabled = false;
  long long account = 2000;
  long long other_models = 200;  ///< Models without an entry in `models`.
  std::map<std::string, long long> models{{"Tongyi-MAI/Z-Image-Turbo", 500}};
  long long limit_for(const std::string& model) const {
    auto it = models.find(model);
    return it == models.end() ? other_models : it->second;
  }
};

struct throttle_config {
  int in_flight_cap = 0;  ///< Tasks in flight guaranteed per key; 0 = no cap.
  dynamic_limit_config dynamic;
  rate_config rate;
  quota_config quota;
  daily_limits_config daily_limits;
  std::string body_shape = "modelscope";  ///< 429 bodies: "modelscope" or "openai".
  bool retry_after_header = false;
  double retry_after_s = 5;  ///< Retry-After of a dynamic 429 (quota: time to the reset).
  /// The four modelscope-ratelimit-* headers on every answer of the submit and task endpoints
  /// to a request with a key (when `daily_limits` or `quota` gives them something to count).
  bool ratelimit_headers = false;
};

/// Per-request fault probabilities of one endpoint (each in 0..1, summing to at most 1).
struct endpoint_faults {
  double http_500 = 0;
  double http_502 = 0;
  double http_503 = 0;
  double busy = 0;       ///< 503 with "Server is busy, please try again later".
  double reset = 0;      ///< Connection reset (RST), no answer.
  double close = 0;      ///< Connection closed (FIN), no answer.
  double hang = 0;       ///< No answer until the client gives up (or hang_max_ms).
  double malformed = 0;  ///< 200 with a body that is not JSON.
  double truncate = 0;   ///< Headers and part of the body, then close.
  double slow = 0;       ///< Body dribbled over slow_ms.
  // The newer error shapes (protocol doc, "What newer public material adds"):
  double unbound_401 = 0;      ///< 401 "Please bind your Alibaba Cloud account before use."
  double no_provider_400 = 0;  ///< 400 "Model id : <id> , has no provider supported".
  double no_provider_429 = 0;  ///< The same text with status 429.
  double empty_200 = 0;        ///< 200 with an empty body (a submit's task is created first).
  double total() const {
    return http_500 + http_502 + http_503 + busy + reset + close + hang + malformed + truncate +
           slow + unbound_401 + no_provider_400 + no_provider_429 + empty_200;
  }
};

struct task_faults {
  double moderation = 0;  ///< FAILED with 422.
  double system = 0;      ///< FAILED with 500 (refunded).
  double never = 0;       ///< Stays RUNNING forever.
};

struct fail_first_config {
  int submit = 0;  ///< The first N submits fail with `status` (then behave normally).
  int poll = 0;
  int download = 0;
  int status = 503;
};

struct outage_window {
  double from_s = 0;
  double to_s = 0;
  double period_s = 0;  ///< 0: once; otherwise repeats every period.
  int status = 503;
};

struct fault_config {
  endpoint_faults submit;
  endpoint_faults poll;
  endpoint_faults download;
  task_faults task;
  fail_first_config fail_first;
  std::vector<outage_window> outages;
  bool transport_after_accept = true;  ///< A submit's transport fault hits after it was charged.
  double hang_max_ms = 60000;
  double slow_ms = 2000;
  double truncate_fraction = 0.5;
};

/// How task ids look and whether they repeat (protocol doc, "What newer public material adds":
/// ids are opaque text, UUIDs in most samples, numeric text in one).
struct id_config {
  std::string shape = "uuid";  ///< "uuid", or "numeric": 16 decimal digits as a JSON string.
  /// false (default): the id stream is seeded afresh at every start (and /admin/reset), so a
  /// task id never names another task after a restart. true: drawn from the model's seed, the
  /// same ids in the same order every start (the simulator and determinism tests).
  bool reproducible = false;
};

struct image_config {
  int cache_entries = 64;
  int compression_level = 1;
  /// The images' format and the extension of their URLs: "png" or "jpeg" (protocol doc, "What
  /// newer public material adds": output URLs end in `.png` or `.jpeg`).
  std::string format = "png";
};

struct mock_config {
  /// Every model the mock knows, with its rules (protocol/models.hpp; default: the protocol
  /// doc's four). A config file's `catalogue` object changes fields of a listed model or adds
  /// a model (then `min_side`, `max_side` and `latency_ms` are required).
  protocol::model_catalogue catalogue = protocol::default_catalogue();
  /// The catalogued models the mock accepts; empty: every one. Others get 404.
  std::vector<std::string> models;

  /// The rules of `id` when the mock accepts it, else nullptr.
  const protocol::model_rules* accepted(std::string_view id) const;
  /// The model named in answers that concern no model (a poll's refusal): Z-Image-Turbo when
  /// accepted, else the first accepted model.
  const std::string& primary_model() const;

  generation_config generation;
  latency_spec response_delay = latency_spec::fixed(0);  ///< Every answer's added delay.
  throttle_config throttle;
  fault_config faults;
  id_config ids;
  image_config images;
};

/// Parses a config document; `source` names it in errors (a file path, "profile ideal", ...).
result<mock_config> parse_config(std::string_view json_text, const std::string& source);
/// Parses an already-read document (fields absent keep their defaults).
result<mock_config> config_from_json(const nlohmann::json& document, const std::string& source);
nlohmann::json to_json(const mock_config& config);

/// Names of the shipped profiles: "ideal", "modelscope-free", "flaky", "brownout".
std::vector<std::string> profile_names();
/// The JSON text of a shipped profile; nullopt when there is no such profile.
std::optional<std::string_view> profile_text(std::string_view name);

/// A profile (default "ideal") extended by an optional config file (JSON merge patch: objects
/// merge, arrays and values replace). Fails for an unknown profile (not_found, the message starts
/// "--profile: "), a file that cannot be read (not_found) or a document that does not validate.
result<mock_config> load_config(const std::string& profile, const std::optional<std::string>& file);

/// `current` with a JSON merge patch applied (`PATCH /admin/config`), the patch validated on its
/// own first so errors name `source`; a latency it gives replaces the whole latency object.
result<mock_config> patch_config(const mock_config& current, std::string_view json_text,
                                 const std::string& source);

}  // namespace zbatch::mock
