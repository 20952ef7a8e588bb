#include "mock_api/config.hpp"

#include <algorithm>

#include "base/json_reader.hpp"
#include "base/suggest.hpp"

namespace zbatch::mock {
namespace {

using base::format_number;
using nlohmann::json;
using reader = base::json_reader;

constexpr double max_ms = 24.0 * 3600.0 * 1000.0;  // a day: anything longer is a mistake

/// A latency object, or a bare number as the shorthand for a fixed latency in ms.
void read_latency(reader& parent, const char* key, latency_spec& out) {
  auto value = parent.field(key);
  if (!value.present()) {
    return;
  }
  if (value.node().is_number()) {
    out = latency_spec::fixed(value.number(0, max_ms));
    return;
  }
  value.expect_object();
  latency_spec spec;
  const auto kind = value.field("kind").present()
                        ? value.field("kind").one_of({"fixed", "uniform", "lognormal"})
                        : 0;
  spec.type = static_cast<latency_spec::kind>(kind);
  if (spec.type == latency_spec::kind::fixed) {
    spec.ms = value.field("ms").number(0, max_ms);
  } else if (spec.type == latency_spec::kind::uniform) {
    spec.min_ms = value.field("min_ms").number(0, max_ms);
    spec.max_ms = value.field("max_ms").number(0, max_ms);
    if (spec.max_ms < spec.min_ms) {
      value.field("max_ms").fail("must not be below min_ms (" + format_number(spec.min_ms) + ")");
    }
  } else {
    spec.median_ms = value.field("median_ms").number(0.001, max_ms);
    spec.p99_ms = value.field("p99_ms").number(0.001, max_ms);
    if (spec.p99_ms < spec.median_ms) {
      value.field("p99_ms").fail("must not be below median_ms (" + format_number(spec.median_ms) +
                                 ")");
    }
  }
  value.reject_unknown_fields();
  out = spec;
}

/// Fails at `r` when probabilities that exclude each other sum to more than 1.
void check_sum(const reader& r, double sum) {
  if (sum > 1.0 + 1e-9) {
    r.fail("has probabilities summing to " + format_number(sum) + " (allowed at most 1)");
  }
}

void read_endpoint_faults(reader& parent, const char* key, endpoint_faults& out) {
  auto r = parent.object(key);
  if (!r) {
    return;
  }
  const auto probability = [&](const char* name, double& value) { r->read(name, value, 0, 1); };
  probability("http_500", out.http_500);
  probability("http_502", out.http_502);
  probability("http_503", out.http_503);
  probability("busy", out.busy);
  probability("reset", out.reset);
  probability("close", out.close);
  probability("hang", out.hang);
  probability("malformed", out.malformed);
  probability("truncate", out.truncate);
  probability("slow", out.slow);
  probability("unbound_401", out.unbound_401);
  probability("no_provider_400", out.no_provider_400);
  probability("no_provider_429", out.no_provider_429);
  probability("empty_200", out.empty_200);
  r->reject_unknown_fields();
  check_sum(*r, out.total());
}

void read_generation(reader& root, generation_config& out) {
  auto r = root.object("generation");
  if (!r) {
    return;
  }
  read_latency(*r, "queue", out.queue);
  read_latency(*r, "time", out.time);
  r->read("reference_pixels", out.reference_pixels, 1.0, 1e9);
  r->read("size_exponent", out.size_exponent, 0.0, 4.0);
  r->read("running_status", out.running_status, {"RUNNING", "PROCESSING"});
  r->read("size_latency", out.size_latency, {"exponent", "catalogue"});
  r->reject_unknown_fields();
}

constexpr int max_model_side = 16384;  // far above any model's; a larger figure is a typo

/// `latency_ms`: [{side, ms}, ...] with ascending sides.
void read_latency_points(reader& entry, std::vector<protocol::latency_point>& out, bool required) {
  auto points = entry.field("latency_ms");
  if (!points.present()) {
    if (required) {
      points.fail(
          "is required for a model the catalogue does not have: [{\"side\": 1024, "
          "\"ms\": 30000}, ...]");
    }
    return;
  }
  const auto size = points.array("{side, ms} (ascending sides)", true);
  out.clear();
  for (std::size_t i = 0; i < size; ++i) {
    auto p = points.element(i);
    p.expect_object();
    protocol::latency_point point;
    p.read("side", point.side, 1, max_model_side);
    p.read("ms", point.ms, 0.001, max_ms);
    p.reject_unknown_fields();
    if (!p.field("side").present() || !p.field("ms").present()) {
      p.fail("needs both \"side\" and \"ms\"");
    }
    if (!out.empty() && point.side <= out.back().side) {
      p.field("side").fail("must be above the previous point's (" +
                           std::to_string(out.back().side) + ")");
    }
    out.push_back(point);
  }
}

/// One `catalogue` entry over the rules it already has (a new model starts from defaults).
void read_model_rules(reader& entry, protocol::model_rules& m, bool is_new) {
  entry.expect_object();
  if (is_new) {
    for (const char* key : {"min_side", "max_side"}) {
      if (!entry.field(key).present()) {
        entry.field(key).integer(1, max_model_side);  // fails: "is required: an integer ..."
      }
    }
  }
  entry.read("min_side", m.min_side, 1, max_model_side);
  entry.read("max_side", m.max_side, 1, max_model_side);
  entry.read("loras", m.loras);
  std::string kind(protocol::to_string(m.image_url));
  entry.read("image_url", kind, protocol::image_url_kind_names());
  const auto& names = protocol::image_url_kind_names();
  m.image_url = static_cast<protocol::image_url_kind>(std::find(names.begin(), names.end(), kind) -
                                                      names.begin());
  entry.read("image_url_required", m.image_url_required);
  entry.read("max_image_urls", m.max_image_urls, 1, 100);
  entry.read("cost", m.cost, 0, 1e6);
  read_latency_points(entry, m.latency, is_new);
  entry.reject_unknown_fields();
  if (m.max_side < m.min_side) {
    entry.field("max_side").fail("must not be below min_side (" + std::to_string(m.min_side) + ")");
  }
  if (m.image_url_required && m.image_url == protocol::image_url_kind::none) {
    entry.field("image_url_required").fail("needs \"image_url\" \"string\" or \"list\"");
  }
}

/// `catalogue`: {model id: rules}; changes listed models' fields, adds new models.
void read_catalogue(reader& root, protocol::model_catalogue& catalogue) {
  auto r = root.object("catalogue");
  if (!r) {
    return;
  }
  for (const auto& item : r->node().items()) {
    auto entry = r->field(item.key());
    if (!entry.present()) {
      continue;
    }
    if (item.key().empty()) {
      entry.fail("a model id must not be empty");
    }
    const auto known = std::find_if(catalogue.begin(), catalogue.end(),
                                    [&](const auto& m) { return m.id == item.key(); });
    if (known != catalogue.end()) {
      read_model_rules(entry, *known, false);
    } else {
      protocol::model_rules added;
      added.id = item.key();
      read_model_rules(entry, added, true);
      catalogue.push_back(std::move(added));
    }
  }
}

constexpr double max_schedule_s = 365.0 * 86400.0;

void read_dynamic(reader& throttle, dynamic_limit_config& out) {
  auto d = throttle.object("dynamic");
  if (!d) {
    return;
  }
  d->read("mode", out.mode, {"off", "load", "schedule"});
  d->read("base_probability", out.base_probability, 0.0, 1.0);
  d->read("per_task_probability", out.per_task_probability, 0.0, 1.0);
  d->read("per_global_task_probability", out.per_global_task_probability, 0.0, 1.0);
  d->read("max_probability", out.max_probability, 0.0, 1.0);
  d->read("schedule_period_s", out.schedule_period_s, 1.0, max_schedule_s);
  auto schedule = d->field("schedule");
  if (schedule.present()) {
    out.schedule.clear();
    const auto size = schedule.array("{from_s, to_s, capacity}");
    for (std::size_t i = 0; i < size; ++i) {
      auto w = schedule.element(i);
      w.expect_object();
      capacity_window window;
      w.read("from_s", window.from_s, 0, max_schedule_s);
      w.read("to_s", window.to_s, 0, max_schedule_s);
      w.read("capacity", window.capacity, 0, 1000000);
      w.reject_unknown_fields();
      if (window.to_s <= window.from_s) {
        w.field("to_s").fail("must be after from_s (" + format_number(window.from_s) + ")");
      }
      out.schedule.push_back(window);
    }
  }
  d->reject_unknown_fields();
  if (out.mode == "schedule" && out.schedule.empty()) {
    schedule.fail("is required (non-empty) when mode is \"schedule\"");
  }
}

void read_throttle(reader& root, throttle_config& t) {
  auto r = root.object("throttle");
  if (!r) {
    return;
  }
  r->read("in_flight_cap", t.in_flight_cap, 0, 1000000);
  read_dynamic(*r, t.dynamic);
  if (auto q = r->object("rate")) {
    q->read("enabled", t.rate.enabled);
    q->read("per_second", t.rate.per_second, 0.001, 1e6);
    q->read("burst", t.rate.burst, 1.0, 1e6);
    q->read("scope", t.rate.scope, {"submits", "all"});
    q->reject_unknown_fields();
  }
  if (auto q = r->object("quota")) {
    q->read("enabled", t.quota.enabled);
    q->read("daily_credits", t.quota.daily_credits, 0, 1e9);
    q->read("cost_per_task", t.quota.cost_per_task, 0, 1e6);
    q->read("refund_system_failures", t.quota.refund_system_failures);
    q->read("reset_utc_offset_hours", t.quota.reset_utc_offset_hours, -12, 14);
    q->read("first_reset_s", t.quota.first_reset_s, 0, max_schedule_s);
    q->read("message", t.quota.message, {"daily_quota", "request_limit"});
    q->reject_unknown_fields();
  }
  if (auto d = r->object("daily_limits")) {
    d->read("enabled", t.daily_limits.enabled);
    const auto count = [&](const char* key, long long& out) {
      if (auto v = d->field(key); v.present()) {
        out = v.integer(0, 1000000000);
      }
    };
    count("account", t.daily_limits.account);
    count("other_models", t.daily_limits.other_models);
    if (auto models = d->object("models")) {
      t.daily_limits.models.clear();
      for (const auto& item : models->node().items()) {
        t.daily_limits.models[item.key()] = models->field(item.key()).integer(0, 1000000000);
      }
    }
    d->reject_unknown_fields();
  }
  r->read("body_shape", t.body_shape, {"modelscope", "openai"});
  r->read("retry_after_header", t.retry_after_header);
  r->read("retry_after_s", t.retry_after_s, 0, 86400);
  r->read("ratelimit_headers", t.ratelimit_headers);
  r->reject_unknown_fields();
}

void read_outages(reader& faults, std::vector<outage_window>& out) {
  auto outages = faults.field("outages");
  if (!outages.present()) {
    return;
  }
  out.clear();
  const auto size = outages.array("{from_s, to_s, period_s, status}");
  for (std::size_t i = 0; i < size; ++i) {
    auto w = outages.element(i);
    w.expect_object();
    outage_window window;
    w.read("from_s", window.from_s, 0, 1e9);
    w.read("to_s", window.to_s, 0, 1e9);
    w.read("period_s", window.period_s, 0, 1e9);
    w.read("status", window.status, 400, 599);
    w.reject_unknown_fields();
    if (window.to_s <= window.from_s) {
      w.field("to_s").fail("must be after from_s (" + format_number(window.from_s) + ")");
    }
    if (window.period_s > 0 && window.to_s - window.from_s > window.period_s) {
      w.field("period_s")
          .fail("must be at least the window's length (" +
                format_number(window.to_s - window.from_s) + " s)");
    }
    out.push_back(window);
  }
}

void read_faults(reader& root, fault_config& f) {
  auto r = root.object("faults");
  if (!r) {
    return;
  }
  read_endpoint_faults(*r, "submit", f.submit);
  read_endpoint_faults(*r, "poll", f.poll);
  read_endpoint_faults(*r, "download", f.download);
  if (auto q = r->object("task")) {
    q->read("moderation", f.task.moderation, 0.0, 1.0);
    q->read("system", f.task.system, 0.0, 1.0);
    q->read("never", f.task.never, 0.0, 1.0);
    q->reject_unknown_fields();
    check_sum(*q, f.task.moderation + f.task.system + f.task.never);
  }
  if (auto q = r->object("fail_first")) {
    q->read("submit", f.fail_first.submit, 0, 1000000000);
    q->read("poll", f.fail_first.poll, 0, 1000000000);
    q->read("download", f.fail_first.download, 0, 1000000000);
    q->read("status", f.fail_first.status, 400, 599);
    q->reject_unknown_fields();
  }
  read_outages(*r, f.outages);
  r->read("transport_after_accept", f.transport_after_accept);
  r->read("hang_max_ms", f.hang_max_ms, 0, max_ms);
  r->read("slow_ms", f.slow_ms, 0, 600000);
  r->read("truncate_fraction", f.truncate_fraction, 0, 0.99);
  r->reject_unknown_fields();
}

json latency_to_json(const latency_spec& spec) {
  switch (spec.type) {
    case latency_spec::kind::fixed:
      return json{{"kind", "fixed"}, {"ms", spec.ms}};
    case latency_spec::kind::uniform:
      return json{{"kind", "uniform"}, {"min_ms", spec.min_ms}, {"max_ms", spec.max_ms}};
    case latency_spec::kind::lognormal:
      return json{{"kind", "lognormal"}, {"median_ms", spec.median_ms}, {"p99_ms", spec.p99_ms}};
  }
  return json{};
}

json catalogue_to_json(const protocol::model_catalogue& catalogue) {
  json out = json::object();
  for (const auto& m : catalogue) {
    json latency = json::array();
    for (const auto& p : m.latency) {
      latency.push_back({{"side", p.side}, {"ms", p.ms}});
    }
    out[m.id] = {{"min_side", m.min_side},
                 {"max_side", m.max_side},
                 {"loras", m.loras},
                 {"image_url", protocol::to_string(m.image_url)},
                 {"image_url_required", m.image_url_required},
                 {"max_image_urls", m.max_image_urls},
                 {"cost", m.cost},
                 {"latency_ms", latency}};
  }
  return out;
}

json endpoint_faults_to_json(const endpoint_faults& f) {
  return json{{"http_500", f.http_500},
              {"http_502", f.http_502},
              {"http_503", f.http_503},
              {"busy", f.busy},
              {"reset", f.reset},
              {"close", f.close},
              {"hang", f.hang},
              {"malformed", f.malformed},
              {"truncate", f.truncate},
              {"slow", f.slow},
              {"unbound_401", f.unbound_401},
              {"no_provider_400", f.no_provider_400},
              {"no_provider_429", f.no_provider_429},
              {"empty_200", f.empty_200}};
}

}  // namespace

const protocol::model_rules* mock_config::accepted(std::string_view id) const {
  if (!models.empty() && std::find(models.begin(), models.end(), id) == models.end()) {
    return nullptr;
  }
  return protocol::find_model(catalogue, id);
}

const std::string& mock_config::primary_model() const {
  static const std::string fallback(protocol::default_model);
  if (accepted(protocol::default_model) != nullptr) {
    return fallback;
  }
  if (!models.empty()) {
    return models.front();
  }
  return catalogue.empty() ? fallback : catalogue.front().id;
}

latency_spec latency_spec::fixed(double ms) {
  latency_spec spec;
  spec.type = kind::fixed;
  spec.ms = ms;
  return spec;
}

latency_spec latency_spec::lognormal(double median_ms, double p99_ms) {
  latency_spec spec;
  spec.type = kind::lognormal;
  spec.median_ms = median_ms;
  spec.p99_ms = p99_ms;
  return spec;
}

namespace {

/// config_from_json's walk: the reader raises a status_error at the first mistake.
mock_config read_config(const json& document, const std::string& source) {
  mock_config config;
  reader root(document, source);
  root.expect_object();
  read_catalogue(root, config.catalogue);
  if (auto models = root.field("models"); models.present()) {
    const auto size = models.array("catalogued model ids (e.g. [\"Tongyi-MAI/Z-Image-Turbo\"])");
    config.models.clear();
    std::vector<std::string> ids;
    for (const auto& m : config.catalogue) {
      ids.push_back(m.id);
    }
    for (std::size_t i = 0; i < size; ++i) {
      config.models.push_back(ids[models.element(i).one_of(ids)]);
    }
  }
  read_generation(root, config.generation);
  read_latency(root, "response_delay", config.response_delay);
  read_throttle(root, config.throttle);
  read_faults(root, config.faults);
  if (auto r = root.object("ids")) {
    r->read("shape", config.ids.shape, {"uuid", "numeric"});
    r->read("reproducible", config.ids.reproducible);
    r->reject_unknown_fields();
  }
  if (auto r = root.object("images")) {
    r->read("cache_entries", config.images.cache_entries, 0, 100000);
    r->read("compression_level", config.images.compression_level, 0, 9);
    r->read("format", config.images.format, {"png", "jpeg"});
    r->reject_unknown_fields();
  }
  root.reject_unknown_fields();
  return config;
}

}  // namespace

result<mock_config> config_from_json(const json& document, const std::string& source) {
  return capture([&] { return read_config(document, source); });
}

result<mock_config> parse_config(std::string_view json_text, const std::string& source) {
  const auto document = base::parse_json(json_text, source);
  if (!document.ok()) {
    return document.status();
  }
  return config_from_json(*document, source);
}

json to_json(const mock_config& config) {
  const auto& g = config.generation;
  const auto& t = config.throttle;
  const auto& f = config.faults;
  json schedule = json::array();
  for (const auto& w : t.dynamic.schedule) {
    schedule.push_back({{"from_s", w.from_s}, {"to_s", w.to_s}, {"capacity", w.capacity}});
  }
  json outages = json::array();
  for (const auto& o : f.outages) {
    outages.push_back(
        {{"from_s", o.from_s}, {"to_s", o.to_s}, {"period_s", o.period_s}, {"status", o.status}});
  }
  json quota{{"enabled", t.quota.enabled},
             {"daily_credits", t.quota.daily_credits},
             {"cost_per_task", t.quota.cost_per_task},
             {"refund_system_failures", t.quota.refund_system_failures},
             {"reset_utc_offset_hours", t.quota.reset_utc_offset_hours},
             {"message", t.quota.message}};
  if (t.quota.first_reset_s) {
    quota["first_reset_s"] = *t.quota.first_reset_s;
  }
  return json{
      {"catalogue", catalogue_to_json(config.catalogue)},
      {"models", config.models},
      {"generation",
       {{"queue", latency_to_json(g.queue)},
        {"time", latency_to_json(g.time)},
        {"reference_pixels", g.reference_pixels},
        {"size_exponent", g.size_exponent},
        {"running_status", g.running_status},
        {"size_latency", g.size_latency}}},
      {"response_delay", latency_to_json(config.response_delay)},
      {"throttle",
       {{"in_flight_cap", t.in_flight_cap},
        {"dynamic",
         {{"mode", t.dynamic.mode},
          {"base_probability", t.dynamic.base_probability},
          {"per_task_probability", t.dynamic.per_task_probability},
          {"per_global_task_probability", t.dynamic.per_global_task_probability},
          {"max_probability", t.dynamic.max_probability},
          {"schedule", schedule},
          {"schedule_period_s", t.dynamic.schedule_period_s}}},
        {"rate",
         {{"enabled", t.rate.enabled},
          {"per_second", t.rate.per_second},
          {"burst", t.rate.burst},
          {"scope", t.rate.scope}}},
        {"quota", quota},
        {"daily_limits",
         {{"enabled", t.daily_limits.enabled},
          {"account", t.daily_limits.account},
          {"other_models", t.daily_limits.other_models},
          {"models", t.daily_limits.models}}},
        {"body_shape", t.body_shape},
        {"retry_after_header", t.retry_after_header},
        {"retry_after_s", t.retry_after_s},
        {"ratelimit_headers", t.ratelimit_headers}}},
      {"faults",
       {{"submit", endpoint_faults_to_json(f.submit)},
        {"poll", endpoint_faults_to_json(f.poll)},
        {"download", endpoint_faults_to_json(f.download)},
        {"task",
         {{"moderation", f.task.moderation}, {"system", f.task.system}, {"never", f.task.never}}},
        {"fail_first",
         {{"submit", f.fail_first.submit},
          {"poll", f.fail_first.poll},
          {"download", f.fail_first.download},
          {"status", f.fail_first.status}}},
        {"outages", outages},
        {"transport_after_accept", f.transport_after_accept},
        {"hang_max_ms", f.hang_max_ms},
        {"slow_ms", f.slow_ms},
        {"truncate_fraction", f.truncate_fraction}}},
      {"ids", {{"shape", config.ids.shape}, {"reproducible", config.ids.reproducible}}},
      {"images",
       {{"cache_entries", config.images.cache_entries},
        {"compression_level", config.images.compression_level},
        {"format", config.images.format}}},
  };
}

namespace {

/// A latency the file gives replaces the profile's whole object: merged field by field, a fixed
/// latency over a lognormal one would keep `median_ms` beside `ms` and be refused (issue 17
/// item 9). A latency is complete on its own (the file is validated alone first). Everything
/// else merges as a JSON merge patch.
void replace_latencies(nlohmann::json& document, const nlohmann::json& overlay) {
  const auto replace = [&](const nlohmann::json::json_pointer& at) {
    if (!overlay.contains(at)) {
      return;
    }
    document[at] = nullptr;  // The merge patch then sets it anew from the overlay.
  };
  for (const char* at : {"/generation/queue", "/generation/time", "/response_delay"}) {
    replace(nlohmann::json::json_pointer(at));
  }
}

}  // namespace

result<mock_config> load_config(const std::string& profile,
                                const std::optional<std::string>& file) {
  const auto text = profile_text(profile);
  if (!text) {
    std::string names;
    for (const auto& name : profile_names()) {
      names += (names.empty() ? "" : ", ") + name;
    }
    return not_found_error("--profile: unknown profile '" + profile + "'" +
                           base::did_you_mean(profile, profile_names()) + " (allowed: " + names +
                           ")");
  }
  const std::string profile_source = "profile " + profile;
  auto document = base::parse_json(*text, profile_source);
  if (!document.ok()) {
    return document.status();
  }
  auto config = config_from_json(*document, profile_source);
  if (!file || !config.ok()) {
    return config;
  }
  const auto overlay = base::read_json_file(*file);
  if (!overlay.ok()) {
    return overlay.status();
  }
  // Validate the file on its own first so errors name the file, not the merged document.
  if (const auto alone = config_from_json(*overlay, *file); !alone.ok()) {
    return alone;
  }
  replace_latencies(*document, *overlay);
  document->merge_patch(*overlay);
  return config_from_json(*document, *file);
}

result<mock_config> patch_config(const mock_config& current, std::string_view json_text,
                                 const std::string& source) {
  const auto overlay = base::parse_json(json_text, source);
  if (!overlay.ok()) {
    return overlay.status();
  }
  if (const auto alone = config_from_json(*overlay, source); !alone.ok()) {
    return alone;
  }
  auto document = to_json(current);
  replace_latencies(document, *overlay);
  document.merge_patch(*overlay);
  return config_from_json(document, source);
}

}  // namespace zbatch::mock
