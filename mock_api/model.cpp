#include "mock_api/model.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "mock_api/jpeg.hpp"
#include "mock_api/png.hpp"
#include "mock_api/rng.hpp"
#include "mock_api/stats.hpp"
#include "mock_api/throttle.hpp"
#include "protocol/messages.hpp"
#include "protocol/models.hpp"

namespace zbatch::mock {
namespace {

using nlohmann::json;
using protocol::wire_request;
using protocol::wire_response;

/// The seeded streams, one per kind of decision, so that one kind's draws never shift another's.
enum stream : std::uint64_t {
  ids_stream = 1,
  fault_stream = 2,
  throttle_stream = 3,
  latency_stream = 4,
  fate_stream = 5,
};

/// What a SUCCEED answer's `input` reports when the submit left a field out (unknown on the
/// real service; see task_state_of).
constexpr int default_steps = 9;
constexpr double default_guidance = 2.5;
constexpr const char* default_sampler = "euler";

struct image_record;
using image_entry = std::pair<const std::string, image_record>;

/// A task, stored under its id. Lean on purpose: a simulated day holds 100,000 of them.
struct task {
  std::string key;
  const image_entry* image = nullptr;
  std::uint16_t model =
      0;  ///< Index into state::model_names.  ///< Its entry in `images` (key: prompt, seed, size).
  std::int64_t seed = 0;
  protocol::image_size size;
  int steps = 0;        ///< As submitted; 0: the mock's default (input.numInferenceSteps).
  double guidance = 0;  ///< As submitted; 0: the mock's default (input.guidanceScale).
  duration submitted{0};
  duration running_at{0};
  duration done_at{0};
  task_fate outcome = task_fate::succeed;
  bool finish_counted = false;
  bool jpeg = false;  ///< Its image URL ends in .jpeg (images.format when it was created).
};

/// Per distinct image, stored under image_key(prompt, seed, size): the prompt and size are read
/// back from the key rather than stored twice.
struct image_record {
  std::int64_t seed = 0;
  std::uint64_t submits = 0;
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

/// The bearer token (a view into the request), or empty when the header is missing, not
/// Bearer, or blank.
std::string_view bearer_token(const wire_request& request) {
  const auto* value = request.headers.find("Authorization");
  if (value == nullptr) {
    return {};
  }
  const auto text = trim_blanks(*value);
  if (text.size() < 7 || !protocol::iequals(text.substr(0, 7), "bearer ")) {
    return {};
  }
  return trim_blanks(text.substr(7));
}

/// Whether a header is present with this value (spaces and tabs around it ignored).
bool header_is(const wire_request& request, std::string_view name, std::string_view value,
               bool ignore_case) {
  const auto* field = request.headers.find(name);
  if (field == nullptr) {
    return false;
  }
  const auto text = trim_blanks(*field);
  return ignore_case ? protocol::iequals(text, value) : text == value;
}

endpoint endpoint_of(std::string_view path) {
  if (path == protocol::submit_path) {
    return endpoint::submit;
  }
  if (path.rfind(protocol::task_path_prefix, 0) == 0) {
    return endpoint::poll;
  }
  if (path.rfind("/images/", 0) == 0) {
    return endpoint::download;
  }
  if (path.rfind("/admin/", 0) == 0) {
    return endpoint::admin;
  }
  return path == "/metrics" ? endpoint::metrics : endpoint::other;
}

/// The 429 an abort override asks for (x-zbatch-fault-abort: 429 or quota), if it does.
std::optional<refusal> abort_refusal(const fault_overrides& o) {
  switch (o.abort) {
    case fault_overrides::abort_kind::rate_limited:
      return refusal::dynamic;
    case fault_overrides::abort_kind::quota:
      return refusal::quota;
    default:
      return std::nullopt;
  }
}

}  // namespace

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

  rng ids;
  rng fault_draws;
  rng latency;
  rng fate_draws;
  throttle limits;
  statistics stats;

  std::unordered_map<std::string, task> tasks;
  /// Model ids of the tasks, each stored once (a simulated day holds 100,000 tasks).
  std::vector<std::string> model_names;
  /// The key and model of the request being answered: handle() adds their rate-limit headers
  /// to whatever the endpoint answered (protocol doc: the headers come on every answer).
  key_state* answered_key = nullptr;
  std::string answered_model;
  std::map<std::string, image_record> images;
  /// Requests that reached each endpoint (for faults.fail_first).
  std::array<std::uint64_t, endpoint_count> seen{};

  // The last token's label: nearly every request carries the same key, and hashing and
  // formatting it twice per request showed in profiles.
  std::string last_token;
  std::string last_label = key_label("");

  // Bounded LRU of rendered PNGs: benchmarks download the same few images many times.
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> cache;
  std::unordered_map<std::string, decltype(cache)::iterator> cache_index;

  state(mock_config c, std::shared_ptr<const clock> t, std::uint64_t s)
      : config(std::move(c)),
        time(std::move(t)),
        seed(s),
        limits(config.throttle, rng(seed, throttle_stream)) {
    reseed();
  }

  /// Restarts the streams. The id stream restarts from the seed only when the config asks for
  /// reproducible ids; otherwise from fresh entropy, so ids differ between starts (issue 14).
  void reseed() {
    ids.reseed(config.ids.reproducible ? seed : fresh_entropy(), ids_stream);
    fault_draws.reseed(seed, fault_stream);
    latency.reseed(seed, latency_stream);
    fate_draws.reseed(seed, fate_stream);
  }

  void set_config(mock_config c) {
    config = std::move(c);
    limits.configure(config.throttle);
  }

  // ---- small helpers -------------------------------------------------------------------------

  std::uint16_t intern_model(const std::string& id) {
    for (std::size_t i = 0; i < model_names.size(); ++i) {
      if (model_names[i] == id) {
        return static_cast<std::uint16_t>(i);
      }
    }
    model_names.push_back(id);
    return static_cast<std::uint16_t>(model_names.size() - 1);
  }

  static std::uint64_t fresh_entropy() {
    std::random_device device;
    const std::uint64_t high = device();
    const std::uint64_t low = device();
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::uint64_t state = (high << 32) ^ low ^ now;
    return splitmix64(state);
  }

  /// A task id in the configured shape that no stored task has (a collision draws again).
  std::string new_task_id() {
    for (;;) {
      std::string id = config.ids.shape == "numeric"
                           ? std::to_string(1000000000000000ULL + ids.next() % 9000000000000000ULL)
                           : ids.uuid();
      if (tasks.find(id) == tasks.end()) {
        return id;
      }
    }
  }

  const std::string& label_of(std::string_view token) {
    if (token != last_token) {
      last_token = std::string(token);
      last_label = key_label(token);
    }
    return last_label;
  }

  /// A task's time RUNNING: see generation_config::size_latency. One draw from the latency
  /// stream either way, so the stream's sequence does not depend on the mode.
  double generation_ms(const protocol::model_rules& rules, const protocol::image_size& size) {
    const auto& g = config.generation;
    const double drawn = sample_ms(g.time);
    if (g.size_latency == "catalogue") {
      const double median = median_ms(g.time);
      return median > 0 ? protocol::generation_ms(rules, size) * drawn / median : 0;
    }
    const double pixels = static_cast<double>(size.width) * size.height;
    return drawn * std::pow(pixels / g.reference_pixels, g.size_exponent);
  }

  static double median_ms(const latency_spec& spec) {
    switch (spec.type) {
      case latency_spec::kind::fixed:
        return spec.ms;
      case latency_spec::kind::uniform:
        return (spec.min_ms + spec.max_ms) / 2;
      case latency_spec::kind::lognormal:
        return spec.median_ms;
    }
    return 0;
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

  /// The throttle's 429, counted.
  wire_response refused(refusal why, std::string_view model_id, const std::string& request_id,
                        duration now) {
    stats.count(why);
    return limits.refusal_answer(why, model_id, request_id, now);
  }

  /// Applies a drawn or requested transport-level fault to the endpoint's answer, counted.
  void apply(fault_kind kind, body_kind body, const std::string& request_id, reply& out) {
    stats.count(kind);
    apply_fault(kind, config.faults, body, request_id, out);
  }

  // ---- request handling ----------------------------------------------------------------

  reply handle(const wire_request& request, std::unique_lock<std::mutex>& lock) {
    const duration now = time->now();
    const std::string request_id = ids.uuid();
    std::string path = request.target.substr(0, request.target.find('?'));
    const endpoint where = endpoint_of(path);
    reply out;
    if (where == endpoint::submit || where == endpoint::poll || where == endpoint::download) {
      const double fault_draw =
          fault_draws.uniform();  // always one draw: fault sequence = request order
      if (request.method != (where == endpoint::submit ? "POST" : "GET")) {
        out.response = error_response(405, "Method Not Allowed", request_id);
      } else {
        const fault_overrides o = read_fault_overrides(request);
        if (o.present && !admin_allowed(request)) {
          // With an admin token (required off loopback), a client without it cannot script
          // faults into other clients' runs.
          out.response =
              error_response(401, "admin token required for x-zbatch-fault-* headers", request_id);
        } else if (!o.error.empty()) {
          out.response = error_response(400, o.error, request_id);
        } else {
          out.delay = from_ms(sample_ms(config.response_delay) + o.delay_ms);
          if (o.delay_ms > 0) {
            stats.count(fault_kind::delay);
          }
          answered_key = nullptr;
          answered_model.clear();
          if (where == endpoint::submit) {
            submit(request, o, fault_draw, now, request_id, out);
          } else if (where == endpoint::poll) {
            poll(request, path, o, fault_draw, now, request_id, out);
          }
          const bool dropped = out.fault == transport_fault::reset ||
                               out.fault == transport_fault::close ||
                               out.fault == transport_fault::hang;
          if (answered_key != nullptr && !dropped) {
            limits.add_ratelimit_headers(out.response, *answered_key, answered_model);
          }
          if (where == endpoint::download) {
            download(path, o, fault_draw, now, request_id, out, lock);
          }
        }
      }
    } else if (where == endpoint::admin) {
      admin(request, path, request_id, out);
    } else if (where == endpoint::metrics && request.method == "GET" && !admin_allowed(request)) {
      out.response = error_response(401, "admin token required", request_id);
    } else if (where == endpoint::metrics && request.method == "GET") {
      out.response.status = 200;
      out.response.headers.set("Content-Type", "text/plain; version=0.0.4");
      out.response.body = metrics_text(now);
    } else {
      out.response = error_response(404, "Not Found: " + path, request_id);
    }
    if (!out.response.headers.has("x-request-id")) {
      out.response.headers.set("x-request-id", request_id);
    }
    stats.count_request(where, out);
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
  bool early_fault(endpoint where, const fault_overrides& o, std::optional<fault_kind> drawn,
                   duration now, std::string_view model_id, const std::string& request_id,
                   reply& out) {
    const auto early =
        early_fault_of(config.faults, where, seen[static_cast<std::size_t>(where)], o, drawn, now);
    if (!early) {
      return false;
    }
    stats.count(early->kind);
    const auto as_429 = early->kind == fault_kind::abort ? abort_refusal(o) : std::nullopt;
    out.response = as_429 ? refused(*as_429, model_id, request_id, now)
                          : early_fault_answer(*early, o, request_id, model_id);
    return true;
  }

  void submit(const wire_request& request, const fault_overrides& o, double fault_draw,
              duration now, const std::string& request_id, reply& out) {
    ++seen[static_cast<std::size_t>(endpoint::submit)];
    if (reject_unauthorised(request, request_id, out)) {
      return;
    }
    const std::string label = label_of(bearer_token(request));  // short: no allocation
    key_state& key = limits.settle_submit(label, now);
    answered_key = &key;
    if (!header_is(request, protocol::async_header, "true", true)) {
      // The real answer carries no `code` (protocol doc, "What newer public material adds").
      out.response =
          json_response(400, json{{"errors", {{"message", protocol::texts::sync_not_supported}}},
                                  {"request_id", request_id}}
                                 .dump());
      return;
    }
    auto parsed = protocol::parse_submit_body(request.body);
    if (auto* error = std::get_if<protocol::field_error>(&parsed)) {
      out.response = error_response(
          400, "Invalid parameter " + error->field + ": " + error->message, request_id);
      return;
    }
    const auto& body = std::get<protocol::submit_request>(parsed);
    answered_model = body.model;
    const auto* rules = config.accepted(body.model);
    if (rules == nullptr) {
      out.response = error_response(404, "Model not found: " + body.model, request_id);
      return;
    }
    // The model's own rules (size range, loras, image_url) after it is known, as its 400.
    if (auto error = protocol::check_for_model(body, *rules)) {
      out.response = error_response(
          400, "Invalid parameter " + error->field + ": " + error->message, request_id);
      return;
    }
    const auto drawn = draw_fault(config.faults, endpoint::submit, fault_draw, o);
    // A gateway's 502 on a submit comes after the service created and charged the task (protocol
    // doc, "newer"), like the transport faults, unless `transport_after_accept` is off.
    const bool gateway_after_create =
        drawn == fault_kind::http_502 && config.faults.transport_after_accept;
    if (early_fault(endpoint::submit, o, gateway_after_create ? std::nullopt : drawn, now,
                    body.model, request_id, out)) {
      return;
    }
    if (drawn && drops_connection(*drawn) && !config.faults.transport_after_accept) {
      apply(*drawn, body_kind::json, request_id, out);
      return;
    }
    if (const auto why = limits.admit_submit(key, now, body.model)) {
      out.response = refused(*why, body.model, request_id, now);
      return;
    }
    create_task(body, *rules, label, key, o, now, request_id, out);
    if (gateway_after_create) {
      stats.count(fault_kind::http_502);
      out.response =
          early_fault_answer(mock::early_fault{fault_kind::http_502, 502}, o, request_id);
    } else if (drawn) {
      apply(*drawn, body_kind::json, request_id, out);
    }
  }

  void create_task(const protocol::submit_request& body, const protocol::model_rules& rules,
                   const std::string& label, key_state& key, const fault_overrides& o, duration now,
                   const std::string& request_id, reply& out) {
    task t;
    std::string id = new_task_id();
    t.key = label;
    t.seed = body.seed ? *body.seed : static_cast<std::int64_t>(ids.next() % 2147483648ULL);
    t.size = body.size.value_or(protocol::image_size{});
    t.steps = body.steps.value_or(0);
    t.guidance = body.guidance.value_or(0);
    t.submitted = now;
    t.outcome = draw_fate(config.faults.task, fate_draws.uniform(), o);
    if (const auto fault = fault_of(t.outcome)) {
      stats.count(*fault);
    }
    if (o.generation_ms) {
      t.running_at = now;
      t.done_at = now + from_ms(*o.generation_ms);
    } else {
      t.running_at = now + from_ms(sample_ms(config.generation.queue));
      t.done_at = t.running_at + from_ms(generation_ms(rules, t.size));
    }
    t.jpeg = config.images.format == "jpeg";
    t.model = intern_model(body.model);
    limits.accept(key, {t.done_at, t.outcome != task_fate::never, t.outcome == task_fate::system,
                        body.model});
    stats.count_created(t.outcome);
    const std::string size_text = t.size.to_string();
    auto& entry = *images.try_emplace(image_key(body.prompt, t.seed, size_text)).first;
    entry.second.seed = t.seed;
    ++entry.second.submits;
    t.image = &entry;  // std::map entries stay put.
    out.response = json_response(200, wire_body::accepted(id, request_id));
    tasks.emplace(std::move(id), std::move(t));
  }

  std::string base_for(const wire_request& request) const {
    if (!base_url.empty()) {
      return base_url;
    }
    auto host = request.headers.get("Host");
    return "http://" + (host ? *host : std::string("127.0.0.1"));
  }

  void poll(const wire_request& request, const std::string& path, const fault_overrides& o,
            double fault_draw, duration now, const std::string& request_id, reply& out) {
    ++seen[static_cast<std::size_t>(endpoint::poll)];
    if (reject_unauthorised(request, request_id, out)) {
      return;
    }
    const std::string label = label_of(bearer_token(request));  // short: no allocation
    key_state& key = limits.settle(label, now);
    answered_key = &key;
    if (!header_is(request, protocol::task_type_header, protocol::task_type_image, false)) {
      // What the service answers when the task-type header is missing: a FAILED "task not found".
      out.response = json_response(
          200, json{{"errors", {{"code", 500}, {"message", protocol::texts::task_not_found}}},
                    {"task_status", "FAILED"},
                    {"request_id", request_id}}
                   .dump());
      return;
    }
    const auto drawn = draw_fault(config.faults, endpoint::poll, fault_draw, o);
    const std::string& model_id = config.primary_model();
    if (early_fault(endpoint::poll, o, drawn, now, model_id, request_id, out)) {
      return;
    }
    if (const auto why = limits.admit_request(key, now)) {
      out.response = refused(*why, model_id, request_id, now);
      return;
    }
    // The client percent-encodes the id as one path segment (codec's make_poll).
    const std::string id = protocol::decode_percent(path.substr(protocol::task_path_prefix.size()));
    auto it = tasks.find(id);
    if (id.empty() || it == tasks.end()) {
      out.response = error_response(404, "Task not found: " + id, request_id);
    } else {
      answered_model = model_names[it->second.model];
      out.response = json_response(
          200, wire_body::task_state(task_state_of(it->second, id, request, now, request_id)));
    }
    if (drawn) {
      apply(*drawn, body_kind::json, request_id, out);
    }
  }

  /// What a poll at `now` reports of a task; counts its terminal state the first time.
  protocol::task_state task_state_of(task& t, const std::string& id, const wire_request& request,
                                     duration now, const std::string& request_id) {
    protocol::task_state state;
    state.task_id = id;
    state.request_id = request_id;
    if (now < t.running_at) {
      state.status = protocol::task_status::pending;
    } else if (t.outcome == task_fate::never || now < t.done_at) {
      state.status = config.generation.running_status == "PROCESSING"
                         ? protocol::task_status::processing
                         : protocol::task_status::running;
    } else if (t.outcome == task_fate::succeed) {
      state.status = protocol::task_status::succeed;
      state.output_images.push_back(base_for(request) + "/images/" + id +
                                    (t.jpeg ? ".jpeg" : ".png"));
      // Beside output_images the service sends time_taken (ms) and an input object (protocol
      // doc, "What newer public material adds"); the default steps, guidance and sampler are
      // the mock's choice: public material does not give the service's.
      const auto taken = std::chrono::duration_cast<std::chrono::milliseconds>(
                             t.done_at - std::min(t.running_at, t.done_at))
                             .count();
      state.time_taken_ms = taken;
      protocol::task_input input;
      input.guidance_scale = t.guidance > 0 ? t.guidance : default_guidance;
      input.height = t.size.height;
      input.num_inference_steps = t.steps > 0 ? t.steps : default_steps;
      input.sampler = default_sampler;
      input.seed = t.seed;
      input.time_taken_ms = taken;
      state.input = std::move(input);
    } else {
      state.status = protocol::task_status::failed;
      state.error_code = t.outcome == task_fate::moderation ? 422 : 500;
      state.error_message = t.outcome == task_fate::moderation
                                ? std::string(protocol::texts::moderation)
                                : std::string("Task failed: internal error during generation");
    }
    if (state.terminal() && !t.finish_counted) {
      t.finish_counted = true;
      stats.count_finished(state.status);
    }
    return state;
  }

  void download(const std::string& path, const fault_overrides& o, double fault_draw, duration now,
                const std::string& request_id, reply& out, std::unique_lock<std::mutex>& lock) {
    ++seen[static_cast<std::size_t>(endpoint::download)];
    const auto drawn = draw_fault(config.faults, endpoint::download, fault_draw, o);
    if (early_fault(endpoint::download, o, drawn, now, config.primary_model(), request_id, out)) {
      return;
    }
    const std::string name = path.substr(std::string_view("/images/").size());
    const auto dot = name.rfind('.');
    auto it = dot == std::string::npos ? tasks.end() : tasks.find(name.substr(0, dot));
    // Only the URL the task handed out: its id and its format's extension.
    if (it == tasks.end() || name.substr(dot) != (it->second.jpeg ? ".jpeg" : ".png") ||
        it->second.outcome != task_fate::succeed || now < it->second.done_at) {
      out.response = error_response(404, "Image not found: " + name, request_id);
      return;
    }
    out.response.status = 200;
    out.response.headers.set("Content-Type", it->second.jpeg ? "image/jpeg" : "image/png");
    out.response.body = *image_of(it->second, lock);
    if (drawn) {
      apply(*drawn, body_kind::image, request_id, out);
    }
  }

  /// The task's image: the placeholder, a cached one, or rendered (outside the lock).
  std::shared_ptr<const std::string> image_of(const task& t, std::unique_lock<std::mutex>& lock) {
    if (placeholder_images && t.jpeg) {
      static const auto placeholder =
          std::make_shared<const std::string>(render_jpeg("zbatch placeholder", 0, 8, 8));
      return placeholder;
    }
    if (placeholder_images) {
      // Virtual time never looks at the pixels: one tiny image spares the deflate per download.
      static const auto placeholder =
          std::make_shared<const std::string>(render_png("zbatch placeholder", 0, 8, 8, 1));
      return placeholder;
    }
    // A copy (the lock is released while rendering), marked by format.
    const std::string key = t.image->first + (t.jpeg ? "\njpeg" : "");
    if (auto hit = cache_index.find(key); hit != cache_index.end()) {
      cache.splice(cache.begin(), cache, hit->second);
      return hit->second->second;
    }
    const std::string prompt(key_prompt(t.image->first));
    const auto seed_value = t.seed;
    const auto size = t.size;
    const int level = config.images.compression_level;
    const auto limit = static_cast<std::size_t>(config.images.cache_entries);
    // Render outside the lock: it is the only slow step and depends on nothing shared.
    lock.unlock();
    auto png = std::make_shared<const std::string>(
        t.jpeg ? render_jpeg(prompt, seed_value, size.width, size.height)
               : render_png(prompt, seed_value, size.width, size.height, level));
    lock.lock();
    if (limit > 0 && cache_index.find(key) == cache_index.end()) {
      cache.emplace_front(key, png);
      cache_index[key] = cache.begin();
      while (cache.size() > limit) {
        cache_index.erase(cache.back().first);
        cache.pop_back();
      }
    }
    return png;
  }

  bool admin_allowed(const wire_request& request) const {
    if (admin_token.empty()) {
      return true;
    }
    if (header_is(request, admin_token_header, admin_token, false)) {
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
    } else if (path == "/admin/config" && (request.method == "PUT" || request.method == "PATCH")) {
      // PUT replaces the whole configuration (absent fields take the defaults, not the
      // profile's); PATCH merges into the current one (a new user's PUT of one daily limit
      // silently turned off the profile's headers, limits and 429s mid-run).
      const auto parsed = request.method == "PUT"
                              ? parse_config(request.body, "PUT /admin/config")
                              : patch_config(config, request.body, "PATCH /admin/config");
      if (parsed.ok()) {
        set_config(*parsed);
        out.response = json_response(200, to_json(config).dump(2));
      } else {
        out.response = error_response(400, parsed.status().message(), request_id);
      }
    } else if (path == "/admin/reset" && request.method == "POST") {
      reset_all();
      out.response = json_response(200, json{{"reset", true}, {"request_id", request_id}}.dump());
    } else if (path == "/admin/stats" || path == "/admin/config" || path == "/admin/reset") {
      out.response = error_response(405, "Method Not Allowed", request_id);
    } else {
      out.response = error_response(404, "Not Found: " + path, request_id);
    }
  }

  void reset_all() {
    tasks.clear();
    model_names.clear();
    images.clear();
    seen = {};
    stats.clear();
    limits.reset(rng(seed, throttle_stream));
    reseed();
  }

  json stats_json(duration now) {
    limits.settle_all(now);
    std::vector<image_report> listed;
    listed.reserve(images.size());
    for (const auto& [key, record] : images) {
      listed.push_back({key_prompt(key), record.seed, key_size(key), record.submits});
    }
    return stats.to_json(now, seed, limits, listed);
  }

  std::string metrics_text(duration now) {
    limits.settle_all(now);
    return stats.prometheus(limits);
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
  state_->limits.set_clock_origin_unix(unix_seconds);
}

mock_config model::config() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->config;
}

void model::replace_config(mock_config config) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->set_config(std::move(config));
}

nlohmann::json model::stats() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->stats_json(state_->time->now());
}

model::request_totals model::totals() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->limits.settle_all(state_->time->now());  // As stats() does: refunds due by now count.
  request_totals out;
  out.requests = state_->stats.requests();
  out.credits_used = state_->limits.credits_charged();
  out.credits_refunded = state_->limits.credits_refunded();
  out.tasks_created = state_->stats.tasks_created();
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
