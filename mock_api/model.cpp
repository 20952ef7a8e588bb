#include "mock_api/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "mock_api/png.hpp"
#include "mock_api/rng.hpp"
#include "protocol/json_text.hpp"
#include "protocol/messages.hpp"

namespace zbatch::mock {
namespace {

using nlohmann::json;
using protocol::wire_request;
using protocol::wire_response;

constexpr double day_s = 86400.0;

enum class fate { succeed, moderation, system, never };

std::string_view fate_name(fate f) {
  switch (f) {
    case fate::succeed:
      return "succeed";
    case fate::moderation:
      return "moderation";
    case fate::system:
      return "system";
    case fate::never:
      return "never";
  }
  return "succeed";
}

duration from_ms(double ms) {
  return duration{static_cast<duration::rep>(std::llround(ms * 1000))};
}
double to_s(duration d) { return static_cast<double>(d.count()) / 1e6; }

struct image_record;
using image_entry = std::pair<const std::string, image_record>;

/// A task, stored under its id. Lean on purpose: a simulated day holds 100,000 of them.
struct task {
  std::string key;
  const image_entry* image = nullptr;  ///< Its entry in `images` (key: prompt, seed, size).
  std::int64_t seed = 0;
  protocol::image_size size;
  duration submitted{0};
  duration running_at{0};
  duration done_at{0};
  fate outcome = fate::succeed;
  bool finish_counted = false;
};

struct refund {
  duration at{0};
  std::int64_t day = 0;
  double credits = 0;
};

struct key_state {
  std::deque<duration> in_flight;  // done times of tasks that hold a slot
  double tokens = 0;
  duration last_refill{0};
  bool bucket_started = false;
  std::int64_t day = -1;
  double used = 0;
  std::vector<refund> refunds;
  std::uint64_t submits = 0;   // submit attempts that reached the model with this key
  std::uint64_t accepted = 0;  // tasks created (paid)
};

/// Per distinct image, stored under image_key(prompt, seed, size): the prompt and size are read
/// back from the key rather than stored twice.
struct image_record {
  std::int64_t seed = 0;
  std::uint64_t submits = 0;
};

struct counters {
  std::map<std::string, std::map<std::string, std::uint64_t>> requests;  // endpoint → status
  std::map<std::string, std::uint64_t> faults;
  std::map<std::string, std::uint64_t> rate_limited;  // dynamic, rate, quota
  std::map<std::string, std::uint64_t> tasks_by_fate;
  std::map<std::string, std::uint64_t> tasks_finished;  // observed terminal states
  std::uint64_t tasks_created = 0;
  double credits_used = 0;
  double credits_refunded = 0;
};

std::string image_key(std::string_view prompt, std::int64_t seed, const std::string& size) {
  std::string key(prompt);
  key += '\n';
  key += std::to_string(seed);
  key += '\n';
  key += size;
  return key;
}

/// The prompt and the size text of an image_key (the prompt may hold newlines; the rest not).
std::string_view key_prompt(std::string_view key) {
  const auto last = key.rfind('\n');
  return key.substr(0, key.rfind('\n', last - 1));
}
std::string_view key_size(std::string_view key) { return key.substr(key.rfind('\n') + 1); }

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string_view trim_view(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

/// The bearer token (a view into the request), or empty when the header is missing, not
/// Bearer, or blank.
std::string_view bearer_token(const wire_request& request) {
  const auto* value = request.headers.find("Authorization");
  if (value == nullptr) {
    return {};
  }
  const auto text = trim_view(*value);
  if (text.size() < 7 || !protocol::iequals(text.substr(0, 7), "bearer ")) {
    return {};
  }
  return trim_view(text.substr(7));
}

std::string fixed_json(const json& value) { return value.dump(); }

}  // namespace

namespace wire_body {

// Keys in the order nlohmann's std::map-backed objects dump them (sorted).
std::string task_state(const protocol::task_state& state) {
  const std::string_view status = state.raw_status.empty()
                                      ? std::string_view(protocol::to_string(state.status))
                                      : std::string_view(state.raw_status);
  std::string out;
  out.reserve(160);
  if (state.status == protocol::task_status::failed) {
    out += "{\"errors\":{\"code\":";
    out += std::to_string(state.error_code);
    out += ",\"message\":";
    protocol::append_json_string(out, state.error_message);
    out += "},\"request_id\":";
    protocol::append_json_string(out, state.request_id);
    out += ",\"task_status\":";
    protocol::append_json_string(out, status);
    out += '}';
    return out;
  }
  if (state.status == protocol::task_status::succeed) {
    out += "{\"output_images\":[";
    for (std::size_t i = 0; i < state.output_images.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      protocol::append_json_string(out, state.output_images[i]);
    }
    out += "],\"request_id\":";
  } else {
    out += "{\"outputs\":{},\"request_id\":";
  }
  protocol::append_json_string(out, state.request_id);
  out += ",\"task_id\":";
  protocol::append_json_string(out, state.task_id);
  out += ",\"task_status\":";
  protocol::append_json_string(out, status);
  out += '}';
  return out;
}

std::string accepted(std::string_view task_id, std::string_view request_id) {
  std::string out;
  out.reserve(112);
  out += "{\"request_id\":";
  protocol::append_json_string(out, request_id);
  out += ",\"task_id\":";
  protocol::append_json_string(out, task_id);
  out += ",\"task_status\":\"SUCCEED\"}";
  return out;
}

std::string error(int code, std::string_view message, std::string_view request_id) {
  std::string out;
  out.reserve(96 + message.size());
  out += "{\"errors\":{\"code\":";
  out += std::to_string(code);
  out += ",\"message\":";
  protocol::append_json_string(out, message);
  out += "},\"request_id\":";
  protocol::append_json_string(out, request_id);
  out += '}';
  return out;
}

}  // namespace wire_body

std::string_view to_string(transport_fault fault) {
  switch (fault) {
    case transport_fault::none:
      return "none";
    case transport_fault::reset:
      return "reset";
    case transport_fault::hang:
      return "hang";
    case transport_fault::truncate:
      return "truncate";
    case transport_fault::slow:
      return "slow";
    case transport_fault::close:
      return "close";
  }
  return "none";
}

std::string key_label(std::string_view token) {
  char text[20];
  std::snprintf(text, sizeof text, "key-%08x",
                static_cast<unsigned>(fnv1a(std::string(token)) & 0xffffffffu));
  return text;
}

struct model::state {
  mutable std::mutex mutex;
  mock_config config;
  std::shared_ptr<const clock> time;
  std::uint64_t seed;
  std::string base_url;
  std::string admin_token;
  bool placeholder_images = false;
  std::int64_t origin_unix = 0;

  rng ids;
  rng faults;
  rng throttle;
  rng latency;
  rng fates;

  std::unordered_map<std::string, task> tasks;
  std::map<std::string, key_state> keys;  // by key label
  std::map<std::string, image_record> images;
  std::uint64_t submits_seen = 0;
  std::uint64_t polls_seen = 0;
  std::uint64_t downloads_seen = 0;
  counters stats;

  // The last token's label: nearly every request carries the same key, and hashing and
  // formatting it twice per request showed in profiles.
  std::string last_token;
  std::string last_label = key_label("");

  // Bounded LRU of rendered PNGs: benchmarks download the same few images many times.
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> cache;
  std::unordered_map<std::string, decltype(cache)::iterator> cache_index;

  state(mock_config c, std::shared_ptr<const clock> t, std::uint64_t s)
      : config(std::move(c)), time(std::move(t)), seed(s) {
    reseed();
  }

  void reseed() {
    ids.reseed(seed, 1);
    faults.reseed(seed, 2);
    throttle.reseed(seed, 3);
    latency.reseed(seed, 4);
    fates.reseed(seed, 5);
  }

  // ---- small helpers -------------------------------------------------------------------------

  const std::string& label_of(std::string_view token) {
    if (token != last_token) {
      last_token = std::string(token);
      last_label = key_label(token);
    }
    return last_label;
  }

  double sample_ms(const latency_spec& spec) {
    switch (spec.type) {
      case latency_spec::kind::fixed:
        return spec.ms;
      case latency_spec::kind::uniform:
        return spec.min_ms + (spec.max_ms - spec.min_ms) * latency.uniform();
      case latency_spec::kind::lognormal: {
        // p99 = median * exp(2.3263 * sigma)
        const double sigma = std::log(spec.p99_ms / spec.median_ms) / 2.3263478740408408;
        return spec.median_ms * std::exp(sigma * latency.normal());
      }
    }
    return 0;
  }

  void count_request(const std::string& endpoint, const std::string& status) {
    ++stats.requests[endpoint][status];
  }

  static wire_response json_response(int status, std::string body) {
    wire_response response;
    response.status = status;
    response.headers.set("Content-Type", "application/json");
    response.body = std::move(body);
    return response;
  }

  static wire_response error_response(int status, std::string_view message,
                                      const std::string& request_id) {
    return json_response(status, wire_body::error(status, message, request_id));
  }

  /// The 5xx answer of a fault kind; the 502 looks like a gateway's HTML page, as in the wild.
  static wire_response server_error(const std::string& kind, int status,
                                    const std::string& request_id) {
    if (kind == "busy") {
      return error_response(503, protocol::texts::server_busy, request_id);
    }
    if (status == 502) {
      wire_response response;
      response.status = 502;
      response.headers.set("Content-Type", "text/html");
      response.body =
          "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
          "Gateway</h1></center></body></html>";
      return response;
    }
    const char* text = status == 500   ? "Internal Server Error"
                       : status == 503 ? "Service Unavailable"
                                       : "Injected failure";
    return error_response(status, text, request_id);
  }

  // ---- quota and throttling --------------------------------------------------------------

  double first_reset_s() const {
    const auto& q = config.throttle.quota;
    if (q.first_reset_s) {
      return *q.first_reset_s;
    }
    const auto offset = static_cast<std::int64_t>(std::llround(q.reset_utc_offset_hours * 3600));
    const std::int64_t local = origin_unix + offset;
    const std::int64_t day = static_cast<std::int64_t>(day_s);
    return static_cast<double>(((day - (local % day + day) % day)) % day);
  }

  std::int64_t day_index(duration now) const {
    const double t = to_s(now) - first_reset_s();
    return t < 0 ? 0 : static_cast<std::int64_t>(std::floor(t / day_s)) + 1;
  }

  double seconds_to_reset(duration now) const {
    const double first = first_reset_s();
    const double t = to_s(now);
    if (t < first) {
      return first - t;
    }
    return day_s - std::fmod(t - first, day_s);
  }

  /// Brings a key up to `now`: frees finished slots, applies due refunds, rolls the quota day.
  void settle(key_state& k, duration now) {
    while (!k.in_flight.empty() && k.in_flight.front() <= now) {
      k.in_flight.pop_front();
    }
    auto due = std::stable_partition(k.refunds.begin(), k.refunds.end(),
                                     [&](const refund& r) { return r.at > now; });
    for (auto it = due; it != k.refunds.end(); ++it) {
      stats.credits_refunded += it->credits;
      if (it->day == k.day) {
        k.used = std::max(0.0, k.used - it->credits);
      }
    }
    k.refunds.erase(due, k.refunds.end());
    const std::int64_t day = day_index(now);
    if (day != k.day) {
      k.day = day;
      k.used = 0;
    }
  }

  std::size_t global_in_flight() const {
    std::size_t total = 0;
    for (const auto& entry : keys) {
      total += entry.second.in_flight.size();
    }
    return total;
  }

  /// Token bucket: true when a token was available (and takes it).
  bool take_token(key_state& k, duration now) {
    const auto& r = config.throttle.rate;
    if (!k.bucket_started) {
      k.bucket_started = true;
      k.tokens = r.burst;
      k.last_refill = now;
    }
    k.tokens = std::min(r.burst, k.tokens + to_s(now - k.last_refill) * r.per_second);
    k.last_refill = now;
    if (k.tokens < 1.0) {
      return false;
    }
    k.tokens -= 1.0;
    return true;
  }

  void add_ratelimit_headers(wire_response& response, const key_state& k) const {
    const auto& q = config.throttle.quota;
    if (!config.throttle.ratelimit_headers || !q.enabled || q.cost_per_task <= 0) {
      return;
    }
    const auto limit = static_cast<long long>(q.daily_credits / q.cost_per_task);
    const auto remaining =
        static_cast<long long>(std::max(0.0, (q.daily_credits - k.used) / q.cost_per_task));
    response.headers.set("modelscope-ratelimit-requests-limit", std::to_string(limit));
    response.headers.set("modelscope-ratelimit-requests-remaining", std::to_string(remaining));
    response.headers.set("modelscope-ratelimit-model-requests-limit", std::to_string(limit));
    response.headers.set("modelscope-ratelimit-model-requests-remaining",
                         std::to_string(remaining));
  }

  /// A 429 of the given kind ("dynamic", "rate" or "quota") with the service's texts.
  wire_response too_many(const std::string& kind, const std::string& model_id,
                         const std::string& request_id, duration now) {
    ++stats.rate_limited[kind];
    const auto& t = config.throttle;
    std::string message;
    if (kind == "quota") {
      message = t.quota.message == "request_limit"
                    ? std::string(protocol::texts::request_limit_exceeded)
                    : protocol::texts::daily_quota(model_id);
    } else {
      message = protocol::texts::dynamic_rate_limit(model_id);
    }
    wire_response response = t.body_shape == "openai"
                                 ? json_response(429, protocol::openai_error_body(message))
                                 : json_response(429, wire_body::error(429, message, request_id));
    if (t.retry_after_header) {
      const double seconds = kind == "quota" ? seconds_to_reset(now) : t.retry_after_s;
      response.headers.set("Retry-After",
                           std::to_string(static_cast<long long>(std::ceil(seconds))));
    }
    return response;
  }

  bool in_outage(duration now) const {
    const double t = to_s(now);
    for (const auto& o : config.faults.outages) {
      if (o.period_s > 0) {
        if (t >= o.from_s && std::fmod(t - o.from_s, o.period_s) < o.to_s - o.from_s) {
          return true;
        }
      } else if (t >= o.from_s && t < o.to_s) {
        return true;
      }
    }
    return false;
  }

  int outage_status(duration now) const {
    const double t = to_s(now);
    for (const auto& o : config.faults.outages) {
      const bool inside =
          o.period_s > 0 ? t >= o.from_s && std::fmod(t - o.from_s, o.period_s) < o.to_s - o.from_s
                         : t >= o.from_s && t < o.to_s;
      if (inside) {
        return o.status;
      }
    }
    return 503;
  }

  int schedule_capacity(duration now) const {
    const auto& d = config.throttle.dynamic;
    const double t = std::fmod(to_s(now), d.schedule_period_s);
    for (const auto& w : d.schedule) {
      if (t >= w.from_s && t < w.to_s) {
        return w.capacity;
      }
    }
    return 0;
  }

  /// Draws the endpoint's fault from one uniform; "" for none.
  static std::string pick_fault(const endpoint_faults& f, double u) {
    const std::pair<const char*, double> kinds[] = {
        {"http_500", f.http_500}, {"http_502", f.http_502},   {"http_503", f.http_503},
        {"busy", f.busy},         {"reset", f.reset},         {"close", f.close},
        {"hang", f.hang},         {"malformed", f.malformed}, {"truncate", f.truncate},
        {"slow", f.slow}};
    double edge = 0;
    for (const auto& [name, p] : kinds) {
      edge += p;
      if (u < edge) {
        return name;
      }
    }
    return {};
  }

  // ---- request handling ----------------------------------------------------------------

  struct overrides {
    std::optional<std::string> abort;
    double delay_ms = 0;
    std::optional<std::string> transport;
    std::optional<std::string> task;
    std::optional<double> generation_ms;
    std::string error;  // non-empty: a bad override header (answered 400)
  };

  static overrides read_overrides(const wire_request& request) {
    overrides o;
    // Nearly every request carries no fault header: one pass over the names spares five
    // case-insensitive lookups.
    constexpr std::string_view prefix = "x-zbatch-fault-";
    const auto& fields = request.headers.fields();
    if (std::none_of(fields.begin(), fields.end(), [&](const auto& field) {
          return field.first.size() > prefix.size() &&
                 protocol::iequals(std::string_view(field.first).substr(0, prefix.size()), prefix);
        })) {
      return o;
    }
    auto bad = [&](std::string_view header, const std::string& value, const char* allowed) {
      o.error = std::string(header) + ": unknown value '" + value + "' (allowed " + allowed + ")";
    };
    auto number = [&](std::string_view header, double& out) {
      if (auto v = request.headers.get(header)) {
        try {
          std::size_t used = 0;
          out = std::stod(*v, &used);
          if (used != v->size() || out < 0 || out > 3'600'000) {
            throw std::invalid_argument("range");
          }
        } catch (const std::exception&) {
          bad(header, *v, "milliseconds 0..3600000");
        }
        return true;
      }
      return false;
    };
    if (auto v = request.headers.get(fault_headers::abort)) {
      o.abort = trim(*v);
      const std::string& a = *o.abort;
      bool ok = a == "busy" || a == "quota";
      if (!ok && a.size() == 3 && std::all_of(a.begin(), a.end(), ::isdigit)) {
        const int code = std::stoi(a);
        ok = code >= 400 && code <= 599;
      }
      if (!ok) {
        bad(fault_headers::abort, a, "a status 400..599, busy, quota");
      }
    }
    number(fault_headers::delay_ms, o.delay_ms);
    double generation = 0;
    if (number(fault_headers::generation_ms, generation)) {
      o.generation_ms = generation;
    }
    if (auto v = request.headers.get(fault_headers::transport)) {
      o.transport = trim(*v);
      const std::string& t = *o.transport;
      if (t != "reset" && t != "close" && t != "hang" && t != "truncate" && t != "malformed" &&
          t != "slow") {
        bad(fault_headers::transport, t, "reset, close, hang, truncate, malformed, slow");
      }
    }
    if (auto v = request.headers.get(fault_headers::task)) {
      o.task = trim(*v);
      const std::string& t = *o.task;
      if (t != "succeed" && t != "moderation" && t != "system" && t != "never") {
        bad(fault_headers::task, t, "succeed, moderation, system, never");
      }
    }
    return o;
  }

  /// Applies a transport-level fault (reset, close, hang, truncate, malformed, slow) to `out`.
  void apply_transport(const std::string& kind, reply& out, const std::string& request_id) {
    ++stats.faults[kind];
    out.hold_max = from_ms(config.faults.hang_max_ms);
    if (kind == "reset") {
      out.fault = transport_fault::reset;
    } else if (kind == "close") {
      out.fault = transport_fault::close;
    } else if (kind == "hang") {
      out.fault = transport_fault::hang;
    } else if (kind == "truncate") {
      out.fault = transport_fault::truncate;
      out.truncate_at = static_cast<std::size_t>(static_cast<double>(out.response.body.size()) *
                                                 config.faults.truncate_fraction);
    } else if (kind == "slow") {
      out.fault = transport_fault::slow;
      out.dribble = from_ms(config.faults.slow_ms);
    } else if (kind == "malformed") {
      // A 200 whose body is not JSON: what a confused gateway or a cut upstream produces.
      out.response.status = 200;
      out.response.headers.set("Content-Type", "application/json");
      out.response.body = "{\"request_id\": \"" + request_id + "\", \"task_status\": RUNNING, ";
    }
  }

  static std::string status_label(const reply& out) {
    switch (out.fault) {
      case transport_fault::reset:
      case transport_fault::close:
      case transport_fault::hang:
        return std::string(to_string(out.fault));
      default:
        return std::to_string(out.response.status);
    }
  }

  reply handle(const wire_request& request, std::unique_lock<std::mutex>& lock) {
    const duration now = time->now();
    const std::string request_id = ids.uuid();
    std::string path = request.target.substr(0, request.target.find('?'));
    reply out;

    std::string endpoint = "other";
    if (path == protocol::submit_path) {
      endpoint = "submit";
    } else if (path.rfind(protocol::task_path_prefix, 0) == 0) {
      endpoint = "poll";
    } else if (path.rfind("/images/", 0) == 0) {
      endpoint = "download";
    } else if (path.rfind("/admin/", 0) == 0) {
      endpoint = "admin";
    } else if (path == "/metrics") {
      endpoint = "metrics";
    }

    if (endpoint == "submit" || endpoint == "poll" || endpoint == "download") {
      const double fault_draw =
          faults.uniform();  // always one draw: fault sequence = request order
      if (request.method != (endpoint == "submit" ? "POST" : "GET")) {
        out.response = error_response(405, "Method Not Allowed", request_id);
      } else {
        const overrides o = read_overrides(request);
        if (!o.error.empty()) {
          out.response = error_response(400, o.error, request_id);
        } else {
          out.delay = from_ms(sample_ms(config.response_delay) + o.delay_ms);
          if (o.delay_ms > 0) {
            ++stats.faults["delay"];
          }
          if (endpoint == "submit") {
            submit(request, o, fault_draw, now, request_id, out);
          } else if (endpoint == "poll") {
            poll(request, path, o, fault_draw, now, request_id, out);
          } else {
            download(request, path, o, fault_draw, now, request_id, out, lock);
          }
        }
      }
    } else if (endpoint == "admin") {
      admin(request, path, request_id, out);
    } else if (endpoint == "metrics" && request.method == "GET") {
      out.response.status = 200;
      out.response.headers.set("Content-Type", "text/plain; version=0.0.4");
      out.response.body = metrics_text(now);
    } else {
      out.response = error_response(404, "Not Found: " + path, request_id);
    }
    if (!out.response.headers.has("x-request-id")) {
      out.response.headers.set("x-request-id", request_id);
    }
    count_request(endpoint, status_label(out));
    return out;
  }

  /// Header and token checks shared by submit and poll; true when it already answered.
  bool reject_unauthorised(const wire_request& request, const std::string& request_id, reply& out) {
    if (bearer_token(request).empty()) {
      out.response = error_response(
          401, "Authentication failed: missing or empty API token in the Authorization header",
          request_id);
      return true;
    }
    return false;
  }

  /// Config-driven and override faults that answer instead of the endpoint; true when one did.
  bool early_fault(const std::string& endpoint, std::uint64_t seen, int fail_first_count,
                   const overrides& o, const std::string& drawn, duration now,
                   const std::string& model_id, const std::string& request_id, reply& out) {
    if (o.abort) {
      ++stats.faults["abort"];
      if (*o.abort == "quota") {
        out.response = too_many("quota", model_id, request_id, now);
      } else if (*o.abort == "429") {
        out.response = too_many("dynamic", model_id, request_id, now);
      } else if (*o.abort == "busy") {
        out.response = server_error("busy", 503, request_id);
      } else {
        const int status = std::stoi(*o.abort);
        out.response = status >= 500 ? server_error("", status, request_id)
                                     : error_response(status, "Injected failure", request_id);
      }
      return true;
    }
    if (seen <= static_cast<std::uint64_t>(fail_first_count)) {
      ++stats.faults["fail_first"];
      out.response = server_error("", config.faults.fail_first.status, request_id);
      return true;
    }
    if (endpoint == "submit" && in_outage(now)) {
      ++stats.faults["outage"];
      out.response = server_error("busy", outage_status(now), request_id);
      out.response.status = outage_status(now);
      return true;
    }
    if (drawn == "http_500" || drawn == "http_502" || drawn == "http_503" || drawn == "busy") {
      ++stats.faults[drawn];
      const int status = drawn == "http_500" ? 500 : drawn == "http_502" ? 502 : 503;
      out.response = server_error(drawn, status, request_id);
      return true;
    }
    return false;
  }

  void submit(const wire_request& request, const overrides& o, double fault_draw, duration now,
              const std::string& request_id, reply& out) {
    ++submits_seen;
    if (reject_unauthorised(request, request_id, out)) {
      return;
    }
    const std::string label = label_of(bearer_token(request));  // short: no allocation
    key_state& k = keys[label];
    ++k.submits;
    settle(k, now);
    const auto async = request.headers.get(protocol::async_header);
    if (!async || !protocol::iequals(trim(*async), "true")) {
      out.response = error_response(400, protocol::texts::sync_not_supported, request_id);
      return;
    }
    auto parsed = protocol::parse_submit_body(request.body);
    if (auto* error = std::get_if<protocol::field_error>(&parsed)) {
      out.response = error_response(
          400, "Invalid parameter " + error->field + ": " + error->message, request_id);
      return;
    }
    const auto& body = std::get<protocol::submit_request>(parsed);
    if (std::find(config.models.begin(), config.models.end(), body.model) == config.models.end()) {
      out.response = error_response(404, "Model not found: " + body.model, request_id);
      return;
    }
    std::string drawn = pick_fault(config.faults.submit, fault_draw);
    if (o.transport) {
      drawn = *o.transport;
    }
    if (early_fault("submit", submits_seen, config.faults.fail_first.submit, o, drawn, now,
                    body.model, request_id, out)) {
      return;
    }
    const bool transport_fault_kind = drawn == "reset" || drawn == "close" || drawn == "hang";
    if (transport_fault_kind && !config.faults.transport_after_accept) {
      apply_transport(drawn, out, request_id);
      return;
    }
    const auto& t = config.throttle;
    if (t.rate.enabled && !take_token(k, now)) {
      out.response = too_many("rate", body.model, request_id, now);
      add_ratelimit_headers(out.response, k);
      return;
    }
    if (t.quota.enabled && k.used + t.quota.cost_per_task > t.quota.daily_credits + 1e-9) {
      out.response = too_many("quota", body.model, request_id, now);
      add_ratelimit_headers(out.response, k);
      return;
    }
    if (t.in_flight_cap > 0 && k.in_flight.size() >= static_cast<std::size_t>(t.in_flight_cap)) {
      bool refuse = true;
      const auto above = static_cast<double>(k.in_flight.size() - t.in_flight_cap);
      if (t.dynamic.mode == "load") {
        const double p = std::min(
            t.dynamic.max_probability,
            t.dynamic.base_probability + t.dynamic.per_task_probability * above +
                t.dynamic.per_global_task_probability * static_cast<double>(global_in_flight()));
        refuse = throttle.uniform() < p;
      } else if (t.dynamic.mode == "schedule") {
        refuse = k.in_flight.size() >=
                 static_cast<std::size_t>(t.in_flight_cap + schedule_capacity(now));
      }
      if (refuse) {
        out.response = too_many("dynamic", body.model, request_id, now);
        add_ratelimit_headers(out.response, k);
        return;
      }
    }
    create_task(body, label, k, o, now, request_id, out);
    if (!drawn.empty()) {
      apply_transport(drawn, out, request_id);
    }
  }

  void create_task(const protocol::submit_request& body, const std::string& label, key_state& k,
                   const overrides& o, duration now, const std::string& request_id, reply& out) {
    task t;
    std::string id = ids.uuid();
    t.key = label;
    t.seed = body.seed ? *body.seed : static_cast<std::int64_t>(ids.next() % 2147483648ULL);
    t.size = body.size.value_or(protocol::image_size{});
    t.submitted = now;
    const double fate_draw = fates.uniform();
    const auto& tf = config.faults.task;
    if (o.task) {
      t.outcome = *o.task == "moderation" ? fate::moderation
                  : *o.task == "system"   ? fate::system
                  : *o.task == "never"    ? fate::never
                                          : fate::succeed;
    } else if (fate_draw < tf.moderation) {
      t.outcome = fate::moderation;
    } else if (fate_draw < tf.moderation + tf.system) {
      t.outcome = fate::system;
    } else if (fate_draw < tf.moderation + tf.system + tf.never) {
      t.outcome = fate::never;
    }
    if (t.outcome != fate::succeed) {
      ++stats.faults["task_" + std::string(fate_name(t.outcome))];
    }
    if (o.generation_ms) {
      t.running_at = now;
      t.done_at = now + from_ms(*o.generation_ms);
    } else {
      const auto& g = config.generation;
      const double pixels = static_cast<double>(t.size.width) * t.size.height;
      const double scale = std::pow(pixels / g.reference_pixels, g.size_exponent);
      t.running_at = now + from_ms(sample_ms(g.queue));
      t.done_at = t.running_at + from_ms(sample_ms(g.time) * scale);
    }
    if (t.outcome != fate::never) {
      // Slots free in completion order; keep the deque sorted.
      k.in_flight.insert(std::upper_bound(k.in_flight.begin(), k.in_flight.end(), t.done_at),
                         t.done_at);
    }
    const auto& q = config.throttle.quota;
    if (q.enabled) {
      k.used += q.cost_per_task;
      stats.credits_used += q.cost_per_task;
      if (t.outcome == fate::system && q.refund_system_failures) {
        k.refunds.push_back({t.done_at, k.day, q.cost_per_task});
      }
    }
    ++k.accepted;
    ++stats.tasks_created;
    ++stats.tasks_by_fate[std::string(fate_name(t.outcome))];
    const std::string size_text = t.size.to_string();
    auto& entry = *images.try_emplace(image_key(body.prompt, t.seed, size_text)).first;
    entry.second.seed = t.seed;
    ++entry.second.submits;
    t.image = &entry;  // std::map entries stay put.
    out.response = json_response(200, wire_body::accepted(id, request_id));
    add_ratelimit_headers(out.response, k);
    tasks.emplace(std::move(id), std::move(t));
  }

  std::string base_for(const wire_request& request) const {
    if (!base_url.empty()) {
      return base_url;
    }
    auto host = request.headers.get("Host");
    return "http://" + (host ? *host : std::string("127.0.0.1"));
  }

  void poll(const wire_request& request, const std::string& path, const overrides& o,
            double fault_draw, duration now, const std::string& request_id, reply& out) {
    ++polls_seen;
    if (reject_unauthorised(request, request_id, out)) {
      return;
    }
    const std::string label = label_of(bearer_token(request));  // short: no allocation
    key_state& k = keys[label];
    settle(k, now);
    const auto type = request.headers.get(protocol::task_type_header);
    if (!type || trim(*type) != protocol::task_type_image) {
      // What the service answers when the task-type header is missing: a FAILED "task not found".
      out.response = json_response(
          200,
          fixed_json(json{{"errors", {{"code", 500}, {"message", protocol::texts::task_not_found}}},
                          {"task_status", "FAILED"},
                          {"request_id", request_id}}));
      return;
    }
    std::string drawn = pick_fault(config.faults.poll, fault_draw);
    if (o.transport) {
      drawn = *o.transport;
    }
    const std::string& model_id = config.models.front();
    if (early_fault("poll", polls_seen, config.faults.fail_first.poll, o, drawn, now, model_id,
                    request_id, out)) {
      return;
    }
    if (config.throttle.rate.enabled && config.throttle.rate.scope == "all" &&
        !take_token(k, now)) {
      out.response = too_many("rate", model_id, request_id, now);
      return;
    }
    const std::string id = path.substr(protocol::task_path_prefix.size());
    auto it = tasks.find(id);
    if (id.empty() || it == tasks.end()) {
      out.response = error_response(404, "Task not found: " + id, request_id);
      if (!drawn.empty()) {
        apply_transport(drawn, out, request_id);
      }
      return;
    }
    task& t = it->second;
    protocol::task_state state;
    state.task_id = id;
    state.request_id = request_id;
    if (now < t.running_at) {
      state.status = protocol::task_status::pending;
    } else if (t.outcome == fate::never || now < t.done_at) {
      state.status = config.generation.running_status == "PROCESSING"
                         ? protocol::task_status::processing
                         : protocol::task_status::running;
    } else if (t.outcome == fate::succeed) {
      state.status = protocol::task_status::succeed;
      state.output_images.push_back(base_for(request) + "/images/" + id + ".png");
    } else {
      state.status = protocol::task_status::failed;
      state.error_code = t.outcome == fate::moderation ? 422 : 500;
      state.error_message = t.outcome == fate::moderation
                                ? std::string(protocol::texts::moderation)
                                : std::string("Task failed: internal error during generation");
    }
    if (state.terminal() && !t.finish_counted) {
      t.finish_counted = true;
      ++stats.tasks_finished[std::string(protocol::to_string(state.status))];
    }
    out.response = json_response(200, wire_body::task_state(state));
    if (!drawn.empty()) {
      apply_transport(drawn, out, request_id);
    }
  }

  void download(const wire_request& request, const std::string& path, const overrides& o,
                double fault_draw, duration now, const std::string& request_id, reply& out,
                std::unique_lock<std::mutex>& lock) {
    (void)request;
    ++downloads_seen;
    std::string drawn = pick_fault(config.faults.download, fault_draw);
    if (o.transport) {
      drawn = *o.transport;
    }
    if (early_fault("download", downloads_seen, config.faults.fail_first.download, o, drawn, now,
                    config.models.front(), request_id, out)) {
      return;
    }
    const std::string name = path.substr(std::string_view("/images/").size());
    const auto dot = name.rfind(".png");
    auto it = dot == std::string::npos || dot + 4 != name.size() ? tasks.end()
                                                                 : tasks.find(name.substr(0, dot));
    if (it == tasks.end() || it->second.outcome != fate::succeed || now < it->second.done_at) {
      out.response = error_response(404, "Image not found: " + name, request_id);
      return;
    }
    const task& t = it->second;
    const std::string key = t.image->first;  // a copy: the lock is released while rendering
    std::shared_ptr<const std::string> png;
    if (placeholder_images) {
      // Virtual time never looks at the pixels: one tiny image spares the deflate per download.
      static const auto placeholder =
          std::make_shared<const std::string>(render_png("zbatch placeholder", 0, 8, 8, 1));
      png = placeholder;
    } else if (auto hit = cache_index.find(key); hit != cache_index.end()) {
      cache.splice(cache.begin(), cache, hit->second);
      png = hit->second->second;
    } else {
      const std::string prompt(key_prompt(key));
      const auto seed_value = t.seed;
      const auto size = t.size;
      const int level = config.images.compression_level;
      const auto limit = static_cast<std::size_t>(config.images.cache_entries);
      // Render outside the lock: it is the only slow step and depends on nothing shared.
      lock.unlock();
      png = std::make_shared<const std::string>(
          render_png(prompt, seed_value, size.width, size.height, level));
      lock.lock();
      if (limit > 0 && cache_index.find(key) == cache_index.end()) {
        cache.emplace_front(key, png);
        cache_index[key] = cache.begin();
        while (cache.size() > limit) {
          cache_index.erase(cache.back().first);
          cache.pop_back();
        }
      }
    }
    out.response.status = 200;
    out.response.headers.set("Content-Type", "image/png");
    out.response.body = *png;
    if (!drawn.empty()) {
      if (drawn == "malformed") {
        // A "malformed" image: the right headers around bytes that are not a PNG.
        ++stats.faults[drawn];
        out.response.body = "not a png: upstream storage error";
      } else {
        apply_transport(drawn, out, request_id);
      }
    }
  }

  bool admin_allowed(const wire_request& request) const {
    if (admin_token.empty()) {
      return true;
    }
    if (auto v = request.headers.get(admin_token_header); v && trim(*v) == admin_token) {
      return true;
    }
    return bearer_token(request) == admin_token;
  }

  void admin(const wire_request& request, const std::string& path, const std::string& request_id,
             reply& out) {
    if (!admin_allowed(request)) {
      out.response = error_response(401, "admin token required", request_id);
      return;
    }
    const duration now = time->now();
    if (path == "/admin/stats" && request.method == "GET") {
      out.response = json_response(200, stats_json(now).dump(2));
    } else if (path == "/admin/config" && request.method == "GET") {
      out.response = json_response(200, to_json(config).dump(2));
    } else if (path == "/admin/config" && request.method == "PUT") {
      try {
        config = parse_config(request.body, "PUT /admin/config");
        out.response = json_response(200, to_json(config).dump(2));
      } catch (const config_error& e) {
        out.response = error_response(400, e.what(), request_id);
      }
    } else if (path == "/admin/reset" && request.method == "POST") {
      reset_all();
      out.response =
          json_response(200, fixed_json(json{{"reset", true}, {"request_id", request_id}}));
    } else if (path == "/admin/stats" || path == "/admin/config" || path == "/admin/reset") {
      out.response = error_response(405, "Method Not Allowed", request_id);
    } else {
      out.response = error_response(404, "Not Found: " + path, request_id);
    }
  }

  void reset_all() {
    tasks.clear();
    keys.clear();
    images.clear();
    submits_seen = polls_seen = downloads_seen = 0;
    stats = counters{};
    reseed();
  }

  json stats_json(duration now) {
    for (auto& entry : keys) {
      settle(entry.second, now);
    }
    json keys_json = json::object();
    for (const auto& [label, k] : keys) {
      keys_json[label] = {{"submits", k.submits},
                          {"accepted", k.accepted},
                          {"in_flight", k.in_flight.size()},
                          {"credits_used_today", k.used}};
    }
    json images_json = json::array();
    for (const auto& entry : images) {
      const auto& r = entry.second;
      images_json.push_back({{"prompt", key_prompt(entry.first)},
                             {"seed", r.seed},
                             {"size", key_size(entry.first)},
                             {"submits", r.submits}});
    }
    return json{{"clock_s", to_s(now)},
                {"seed", seed},
                {"requests", stats.requests},
                {"faults", stats.faults},
                {"rate_limited", stats.rate_limited},
                {"tasks",
                 {{"created", stats.tasks_created},
                  {"by_fate", stats.tasks_by_fate},
                  {"finished", stats.tasks_finished},
                  {"in_flight", global_in_flight()}}},
                {"credits", {{"used", stats.credits_used}, {"refunded", stats.credits_refunded}}},
                {"keys", keys_json},
                {"images", images_json}};
  }

  static std::string escape_label(const std::string& value) {
    std::string out;
    for (char c : value) {
      if (c == '\\' || c == '"') {
        out.push_back('\\');
      }
      out.push_back(c == '\n' ? ' ' : c);
    }
    return out;
  }

  std::string metrics_text(duration now) {
    for (auto& entry : keys) {
      settle(entry.second, now);
    }
    std::ostringstream m;
    m << "# HELP zbatch_mock_requests_total Requests by endpoint and status (or transport fault).\n"
         "# TYPE zbatch_mock_requests_total counter\n";
    for (const auto& [endpoint, by_status] : stats.requests) {
      for (const auto& [status, count] : by_status) {
        m << "zbatch_mock_requests_total{endpoint=\"" << endpoint << "\",status=\"" << status
          << "\"} " << count << "\n";
      }
    }
    m << "# HELP zbatch_mock_faults_total Faults injected by kind.\n"
         "# TYPE zbatch_mock_faults_total counter\n";
    for (const auto& [kind, count] : stats.faults) {
      m << "zbatch_mock_faults_total{kind=\"" << kind << "\"} " << count << "\n";
    }
    m << "# HELP zbatch_mock_rate_limited_total 429 answers by kind.\n"
         "# TYPE zbatch_mock_rate_limited_total counter\n";
    for (const auto& [kind, count] : stats.rate_limited) {
      m << "zbatch_mock_rate_limited_total{kind=\"" << kind << "\"} " << count << "\n";
    }
    m << "# HELP zbatch_mock_tasks_created_total Tasks created (paid submits).\n"
         "# TYPE zbatch_mock_tasks_created_total counter\n"
      << "zbatch_mock_tasks_created_total " << stats.tasks_created << "\n";
    m << "# HELP zbatch_mock_tasks_total Tasks by the fate decided at submit.\n"
         "# TYPE zbatch_mock_tasks_total counter\n";
    for (const auto& [f, count] : stats.tasks_by_fate) {
      m << "zbatch_mock_tasks_total{fate=\"" << f << "\"} " << count << "\n";
    }
    m << "# HELP zbatch_mock_tasks_finished_total Terminal states first reported to a poll.\n"
         "# TYPE zbatch_mock_tasks_finished_total counter\n";
    for (const auto& [s, count] : stats.tasks_finished) {
      m << "zbatch_mock_tasks_finished_total{state=\"" << s << "\"} " << count << "\n";
    }
    m << "# HELP zbatch_mock_tasks_in_flight Tasks holding an in-flight slot.\n"
         "# TYPE zbatch_mock_tasks_in_flight gauge\n"
      << "zbatch_mock_tasks_in_flight " << global_in_flight() << "\n";
    m << "# HELP zbatch_mock_credits_used_total Credits charged.\n"
         "# TYPE zbatch_mock_credits_used_total counter\n"
      << "zbatch_mock_credits_used_total " << stats.credits_used << "\n";
    m << "# HELP zbatch_mock_credits_refunded_total Credits refunded for system failures.\n"
         "# TYPE zbatch_mock_credits_refunded_total counter\n"
      << "zbatch_mock_credits_refunded_total " << stats.credits_refunded << "\n";
    m << "# HELP zbatch_mock_submits_total Submits by API key label.\n"
         "# TYPE zbatch_mock_submits_total counter\n";
    for (const auto& [label, k] : keys) {
      m << "zbatch_mock_submits_total{key=\"" << escape_label(label) << "\"} " << k.submits << "\n";
    }
    return m.str();
  }
};

model::model(mock_config config, std::shared_ptr<const clock> clock, std::uint64_t seed)
    : state_(std::make_unique<state>(std::move(config), std::move(clock), seed)) {}

model::~model() = default;

reply model::handle(const protocol::wire_request& request) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  return state_->handle(request, lock);
}

void model::set_public_base_url(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->base_url = std::move(url);
}

std::string model::public_base_url() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->base_url;
}

void model::set_placeholder_images(bool on) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->placeholder_images = on;
}

void model::set_admin_token(std::string token) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->admin_token = std::move(token);
}

void model::set_clock_origin_unix(std::int64_t unix_seconds) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->origin_unix = unix_seconds;
}

mock_config model::config() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->config;
}

void model::replace_config(mock_config config) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->config = std::move(config);
}

nlohmann::json model::stats() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stats_json(state_->time->now());
}

model::request_totals model::totals() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  const duration now = state_->time->now();
  for (auto& entry : state_->keys) {
    state_->settle(entry.second, now);  // As stats() does: refunds due by now count.
  }
  request_totals out;
  out.requests = state_->stats.requests;
  out.credits_used = state_->stats.credits_used;
  out.credits_refunded = state_->stats.credits_refunded;
  return out;
}

std::string model::metrics() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->metrics_text(state_->time->now());
}

void model::reset() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->reset_all();
}

std::uint64_t model::submits_for(std::string_view prompt, std::int64_t seed,
                                 const protocol::image_size& size) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->images.find(image_key(prompt, seed, size.to_string()));
  return it == state_->images.end() ? 0 : it->second.submits;
}

std::uint64_t model::seed() const { return state_->seed; }

const clock& model::time_source() const { return *state_->time; }

}  // namespace zbatch::mock
