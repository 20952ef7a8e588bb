#include "mock_api/config.hpp"

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace zbatch::mock {
namespace {

using nlohmann::json;

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

/// Walks one JSON object, reading known fields into a struct and rejecting unknown ones.
class reader {
 public:
  reader(const json& object, const std::string& source, std::string path)
      : object_(object), source_(source), path_(std::move(path)) {
    if (!object_.is_object()) {
      fail(path_.empty() ? "(document)" : path_, "must be a JSON object");
    }
  }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw config_error(source_ + ": field '" + field + "' " + problem);
  }

  const json* find(const char* key) {
    seen_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
      return nullptr;
    }
    return &*it;
  }

  std::string path(const char* key) const { return join_path(path_, key); }

  void number(const char* key, double& out, double low, double high) {
    const json* value = find(key);
    if (value == nullptr) {
      return;
    }
    const std::string allowed = "allowed " + format_number(low) + ".." + format_number(high);
    if (!value->is_number()) {
      fail(path(key), "must be a number (" + allowed + "), got " + value->dump());
    }
    const double v = value->get<double>();
    if (!std::isfinite(v) || v < low || v > high) {
      fail(path(key), "is out of range: " + value->dump() + " (" + allowed + ")");
    }
    out = v;
  }

  void optional_number(const char* key, std::optional<double>& out, double low, double high) {
    if (find(key) == nullptr) {
      return;
    }
    double v = 0;
    number(key, v, low, high);
    out = v;
  }

  void integer(const char* key, int& out, int low, int high) {
    const json* value = find(key);
    if (value == nullptr) {
      return;
    }
    const std::string allowed = "allowed " + std::to_string(low) + ".." + std::to_string(high);
    if (!value->is_number_integer()) {
      fail(path(key), "must be an integer (" + allowed + "), got " + value->dump());
    }
    const auto v = value->get<std::int64_t>();
    if (v < low || v > high) {
      fail(path(key), "is out of range: " + value->dump() + " (" + allowed + ")");
    }
    out = static_cast<int>(v);
  }

  void probability(const char* key, double& out) { number(key, out, 0.0, 1.0); }

  void boolean(const char* key, bool& out) {
    const json* value = find(key);
    if (value == nullptr) {
      return;
    }
    if (!value->is_boolean()) {
      fail(path(key), "must be true or false, got " + value->dump());
    }
    out = value->get<bool>();
  }

  void choice(const char* key, std::string& out, std::initializer_list<const char*> allowed) {
    const json* value = find(key);
    if (value == nullptr) {
      return;
    }
    std::string list;
    for (const char* option : allowed) {
      list += (list.empty() ? "" : ", ") + std::string("\"") + option + "\"";
    }
    if (value->is_string()) {
      for (const char* option : allowed) {
        if (value->get<std::string>() == option) {
          out = option;
          return;
        }
      }
    }
    fail(path(key), "has an unknown value " + value->dump() + " (allowed " + list + ")");
  }

  /// Rejects fields this reader did not ask for: a typo must not be silently ignored.
  void finish() const {
    for (const auto& item : object_.items()) {
      if (seen_.count(item.key()) == 0) {
        std::string known;
        for (const auto& key : seen_) {
          known += (known.empty() ? "" : ", ") + key;
        }
        fail(join_path(path_, item.key()), "is not a known setting (known here: " + known + ")");
      }
    }
  }

  const std::string& source() const { return source_; }

 private:
  const json& object_;
  const std::string& source_;
  std::string path_;
  std::set<std::string> seen_;
};

constexpr double max_ms = 24.0 * 3600.0 * 1000.0;  // a day: anything longer is a mistake

void read_latency(reader& parent, const char* key, latency_spec& out) {
  const json* value = parent.find(key);
  if (value == nullptr) {
    return;
  }
  const std::string path = parent.path(key);
  if (value->is_number()) {  // shorthand: a bare number is a fixed latency in ms
    const json expanded{{"kind", "fixed"}, {"ms", *value}};
    reader r(expanded, parent.source(), path);
    out = latency_spec::fixed(0);
    r.find("kind");
    r.number("ms", out.ms, 0, max_ms);
    return;
  }
  reader r(*value, parent.source(), path);
  std::string kind = "fixed";
  r.choice("kind", kind, {"fixed", "uniform", "lognormal"});
  latency_spec spec;
  if (kind == "fixed") {
    spec.type = latency_spec::kind::fixed;
    if (r.find("ms") == nullptr) {
      r.fail(r.path("ms"),
             "is required for a fixed latency (milliseconds, 0.." + format_number(max_ms) + ")");
    }
    r.number("ms", spec.ms, 0, max_ms);
  } else if (kind == "uniform") {
    spec.type = latency_spec::kind::uniform;
    if (r.find("min_ms") == nullptr || r.find("max_ms") == nullptr) {
      r.fail(path, "needs min_ms and max_ms for a uniform latency");
    }
    r.number("min_ms", spec.min_ms, 0, max_ms);
    r.number("max_ms", spec.max_ms, 0, max_ms);
    if (spec.max_ms < spec.min_ms) {
      r.fail(r.path("max_ms"), "must not be below min_ms (" + format_number(spec.min_ms) + ")");
    }
  } else {
    spec.type = latency_spec::kind::lognormal;
    if (r.find("median_ms") == nullptr || r.find("p99_ms") == nullptr) {
      r.fail(path, "needs median_ms and p99_ms for a lognormal latency");
    }
    r.number("median_ms", spec.median_ms, 0.001, max_ms);
    r.number("p99_ms", spec.p99_ms, 0.001, max_ms);
    if (spec.p99_ms < spec.median_ms) {
      r.fail(r.path("p99_ms"),
             "must not be below median_ms (" + format_number(spec.median_ms) + ")");
    }
  }
  r.finish();
  out = spec;
}

void read_endpoint_faults(reader& parent, const char* key, endpoint_faults& out) {
  const json* value = parent.find(key);
  if (value == nullptr) {
    return;
  }
  reader r(*value, parent.source(), parent.path(key));
  r.probability("http_500", out.http_500);
  r.probability("http_502", out.http_502);
  r.probability("http_503", out.http_503);
  r.probability("busy", out.busy);
  r.probability("reset", out.reset);
  r.probability("close", out.close);
  r.probability("hang", out.hang);
  r.probability("malformed", out.malformed);
  r.probability("truncate", out.truncate);
  r.probability("slow", out.slow);
  r.finish();
  if (out.total() > 1.0 + 1e-9) {
    r.fail(parent.path(key),
           "has probabilities summing to " + format_number(out.total()) + " (allowed at most 1)");
  }
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

json endpoint_faults_to_json(const endpoint_faults& f) {
  return json{{"http_500", f.http_500}, {"http_502", f.http_502},   {"http_503", f.http_503},
              {"busy", f.busy},         {"reset", f.reset},         {"close", f.close},
              {"hang", f.hang},         {"malformed", f.malformed}, {"truncate", f.truncate},
              {"slow", f.slow}};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(path + ": cannot read the config file (does it exist?)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

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

json parse_json_document(std::string_view json_text, const std::string& source) {
  try {
    return json::parse(json_text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into line:column, which is what an editor shows.
    std::size_t line = 1;
    std::size_t column = 1;
    const std::size_t end = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, json_text.size());
    for (std::size_t i = 0; i < end; ++i) {
      if (json_text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    if (auto pos = what.find("; "); pos != std::string::npos) {
      what = what.substr(pos + 2);
    }
    throw config_error(source + ":" + std::to_string(line) + ":" + std::to_string(column) +
                       ": JSON syntax error: " + what);
  }
}

mock_config config_from_json(const json& document, const std::string& source) {
  mock_config config;
  reader root(document, source, "");
  if (const json* models = root.find("models")) {
    if (!models->is_array() || models->empty()) {
      root.fail("models",
                "must be a non-empty array of model ids (e.g. [\"Tongyi-MAI/Z-Image-Turbo\"])");
    }
    config.models.clear();
    for (std::size_t i = 0; i < models->size(); ++i) {
      const json& id = (*models)[i];
      if (!id.is_string() || id.get<std::string>().empty()) {
        root.fail("models[" + std::to_string(i) + "]", "must be a non-empty string");
      }
      config.models.push_back(id.get<std::string>());
    }
  }
  if (const json* value = root.find("generation")) {
    reader r(*value, source, "generation");
    read_latency(r, "queue", config.generation.queue);
    read_latency(r, "time", config.generation.time);
    r.number("reference_pixels", config.generation.reference_pixels, 1.0, 1e9);
    r.number("size_exponent", config.generation.size_exponent, 0.0, 4.0);
    r.choice("running_status", config.generation.running_status, {"RUNNING", "PROCESSING"});
    r.finish();
  }
  read_latency(root, "response_delay", config.response_delay);
  if (const json* value = root.find("throttle")) {
    reader r(*value, source, "throttle");
    auto& t = config.throttle;
    r.integer("in_flight_cap", t.in_flight_cap, 0, 1000000);
    if (const json* dyn = r.find("dynamic")) {
      reader d(*dyn, source, "throttle.dynamic");
      d.choice("mode", t.dynamic.mode, {"off", "load", "schedule"});
      d.probability("base_probability", t.dynamic.base_probability);
      d.probability("per_task_probability", t.dynamic.per_task_probability);
      d.probability("per_global_task_probability", t.dynamic.per_global_task_probability);
      d.probability("max_probability", t.dynamic.max_probability);
      d.number("schedule_period_s", t.dynamic.schedule_period_s, 1.0, 365.0 * 86400.0);
      if (const json* schedule = d.find("schedule")) {
        if (!schedule->is_array()) {
          d.fail("throttle.dynamic.schedule", "must be an array of {from_s, to_s, capacity}");
        }
        t.dynamic.schedule.clear();
        for (std::size_t i = 0; i < schedule->size(); ++i) {
          const std::string path = "throttle.dynamic.schedule[" + std::to_string(i) + "]";
          reader w((*schedule)[i], source, path);
          capacity_window window;
          w.number("from_s", window.from_s, 0, 365.0 * 86400.0);
          w.number("to_s", window.to_s, 0, 365.0 * 86400.0);
          w.integer("capacity", window.capacity, 0, 1000000);
          w.finish();
          if (window.to_s <= window.from_s) {
            w.fail(path + ".to_s", "must be after from_s (" + format_number(window.from_s) + ")");
          }
          t.dynamic.schedule.push_back(window);
        }
      }
      d.finish();
      if (t.dynamic.mode == "schedule" && t.dynamic.schedule.empty()) {
        d.fail("throttle.dynamic.schedule", "is required (non-empty) when mode is \"schedule\"");
      }
    }
    if (const json* rate = r.find("rate")) {
      reader q(*rate, source, "throttle.rate");
      q.boolean("enabled", t.rate.enabled);
      q.number("per_second", t.rate.per_second, 0.001, 1e6);
      q.number("burst", t.rate.burst, 1.0, 1e6);
      q.choice("scope", t.rate.scope, {"submits", "all"});
      q.finish();
    }
    if (const json* quota = r.find("quota")) {
      reader q(*quota, source, "throttle.quota");
      q.boolean("enabled", t.quota.enabled);
      q.number("daily_credits", t.quota.daily_credits, 0, 1e9);
      q.number("cost_per_task", t.quota.cost_per_task, 0, 1e6);
      q.boolean("refund_system_failures", t.quota.refund_system_failures);
      q.number("reset_utc_offset_hours", t.quota.reset_utc_offset_hours, -12, 14);
      q.optional_number("first_reset_s", t.quota.first_reset_s, 0, 365.0 * 86400.0);
      q.choice("message", t.quota.message, {"daily_quota", "request_limit"});
      q.finish();
    }
    r.choice("body_shape", t.body_shape, {"modelscope", "openai"});
    r.boolean("retry_after_header", t.retry_after_header);
    r.number("retry_after_s", t.retry_after_s, 0, 86400);
    r.boolean("ratelimit_headers", t.ratelimit_headers);
    r.finish();
  }
  if (const json* value = root.find("faults")) {
    reader r(*value, source, "faults");
    auto& f = config.faults;
    read_endpoint_faults(r, "submit", f.submit);
    read_endpoint_faults(r, "poll", f.poll);
    read_endpoint_faults(r, "download", f.download);
    if (const json* task = r.find("task")) {
      reader q(*task, source, "faults.task");
      q.probability("moderation", f.task.moderation);
      q.probability("system", f.task.system);
      q.probability("never", f.task.never);
      q.finish();
      const double sum = f.task.moderation + f.task.system + f.task.never;
      if (sum > 1.0 + 1e-9) {
        q.fail("faults.task",
               "has probabilities summing to " + format_number(sum) + " (allowed at most 1)");
      }
    }
    if (const json* first = r.find("fail_first")) {
      reader q(*first, source, "faults.fail_first");
      q.integer("submit", f.fail_first.submit, 0, 1000000000);
      q.integer("poll", f.fail_first.poll, 0, 1000000000);
      q.integer("download", f.fail_first.download, 0, 1000000000);
      q.integer("status", f.fail_first.status, 400, 599);
      q.finish();
    }
    if (const json* outages = r.find("outages")) {
      if (!outages->is_array()) {
        r.fail("faults.outages", "must be an array of {from_s, to_s, period_s, status}");
      }
      f.outages.clear();
      for (std::size_t i = 0; i < outages->size(); ++i) {
        const std::string path = "faults.outages[" + std::to_string(i) + "]";
        reader w((*outages)[i], source, path);
        outage_window window;
        w.number("from_s", window.from_s, 0, 1e9);
        w.number("to_s", window.to_s, 0, 1e9);
        w.number("period_s", window.period_s, 0, 1e9);
        w.integer("status", window.status, 400, 599);
        w.finish();
        if (window.to_s <= window.from_s) {
          w.fail(path + ".to_s", "must be after from_s (" + format_number(window.from_s) + ")");
        }
        if (window.period_s > 0 && window.to_s - window.from_s > window.period_s) {
          w.fail(path + ".period_s", "must be at least the window's length (" +
                                         format_number(window.to_s - window.from_s) + " s)");
        }
        f.outages.push_back(window);
      }
    }
    r.boolean("transport_after_accept", f.transport_after_accept);
    r.number("hang_max_ms", f.hang_max_ms, 0, max_ms);
    r.number("slow_ms", f.slow_ms, 0, 600000);
    r.number("truncate_fraction", f.truncate_fraction, 0, 0.99);
    r.finish();
  }
  if (const json* value = root.find("images")) {
    reader r(*value, source, "images");
    r.integer("cache_entries", config.images.cache_entries, 0, 100000);
    r.integer("compression_level", config.images.compression_level, 0, 9);
    r.finish();
  }
  root.finish();
  return config;
}

mock_config parse_config(std::string_view json_text, const std::string& source) {
  return config_from_json(parse_json_document(json_text, source), source);
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
      {"models", config.models},
      {"generation",
       {{"queue", latency_to_json(g.queue)},
        {"time", latency_to_json(g.time)},
        {"reference_pixels", g.reference_pixels},
        {"size_exponent", g.size_exponent},
        {"running_status", g.running_status}}},
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
      {"images",
       {{"cache_entries", config.images.cache_entries},
        {"compression_level", config.images.compression_level}}},
  };
}

mock_config load_config(const std::string& profile, const std::optional<std::string>& file) {
  const auto text = profile_text(profile);
  if (!text) {
    std::string names;
    for (const auto& name : profile_names()) {
      names += (names.empty() ? "" : ", ") + name;
    }
    throw config_error("--profile: unknown profile '" + profile + "' (allowed: " + names + ")");
  }
  const std::string profile_source = "profile " + profile;
  json document = parse_json_document(*text, profile_source);
  config_from_json(document, profile_source);
  if (!file) {
    return config_from_json(document, profile_source);
  }
  const json overlay = parse_json_document(read_file(*file), *file);
  // Validate the file on its own first so errors name the file, not the merged document.
  config_from_json(overlay, *file);
  document.merge_patch(overlay);
  return config_from_json(document, *file);
}

}  // namespace zbatch::mock
