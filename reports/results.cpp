#include "reports/results.hpp"

#include <fstream>
#include <sstream>

namespace zbatch::reports {
namespace {

using nlohmann::json;

enum class kind { number, number_or_null, string, array, object };

const char* describe(kind k) {
  switch (k) {
    case kind::number:
      return "a number";
    case kind::number_or_null:
      return "a number or null";
    case kind::string:
      return "a string";
    case kind::array:
      return "an array";
    case kind::object:
      return "an object";
  }
  return "?";
}

bool matches(const json& value, kind k) {
  switch (k) {
    case kind::number:
      return value.is_number();
    case kind::number_or_null:
      return value.is_number() || value.is_null();
    case kind::string:
      return value.is_string();
    case kind::array:
      return value.is_array();
    case kind::object:
      return value.is_object();
  }
  return false;
}

// Walks one document and throws at the first field that is missing or of the wrong type.
class validator {
 public:
  explicit validator(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw results_error(origin_ + ": " + path + ": " + what);
  }

  const json& require(const json& object, const std::string& parent, const std::string& key,
                      kind k) const {
    const std::string path = parent.empty() ? key : parent + "." + key;
    auto it = object.find(key);
    if (it == object.end()) {
      fail(path, std::string("missing (") + describe(k) + " expected)");
    }
    if (!matches(*it, k)) {
      fail(path, std::string("is ") + it->type_name() + ", " + describe(k) + " expected");
    }
    return *it;
  }

  // The metrics shared by a strategy summary and each of its runs.
  void metrics(const json& m, const std::string& path) const {
    for (const char* key : {"delivered", "failed", "success_rate", "makespan_ms", "retries",
                            "submits", "credits_used", "efficiency"}) {
      require(m, path, key, kind::number);
    }
    for (const char* key : {"time_to_first_image_ms", "submits_per_image"}) {
      require(m, path, key, kind::number_or_null);
    }
    const json& latency = require(m, path, "latency_ms", kind::object);
    for (const char* p : {"p50", "p90", "p95", "p99", "max"}) {
      require(latency, path + ".latency_ms", p, kind::number_or_null);
    }
    const json& http_429 = require(m, path, "http_429", kind::object);
    for (const char* k : {"dynamic", "quota", "total"}) {
      require(http_429, path + ".http_429", k, kind::number);
    }
    const json& requests = require(m, path, "requests", kind::object);
    require(requests, path + ".requests", "total", kind::number_or_null);
    if (auto it = m.find("failed_by_reason"); it != m.end()) {
      if (!it->is_object()) {
        fail(path + ".failed_by_reason",
             "is " + std::string(it->type_name()) + ", an object expected");
      }
      for (const auto& item : it->items()) {
        if (!item.value().is_number() && !item.value().is_null()) {
          fail(path + ".failed_by_reason." + item.key(), "a number expected");
        }
      }
    }
  }

  // The references beside the bound: absent (older files) or null (not run), else objects.
  void references(const json& doc) const {
    if (doc.contains("hindsight") && !doc["hindsight"].is_null()) {
      const json& hindsight = require(doc, "", "hindsight", kind::object);
      if (hindsight.contains("best") && !hindsight["best"].is_null()) {
        const json& best = require(hindsight, "hindsight", "best", kind::object);
        require(best, "hindsight.best", "name", kind::string);
        require(best, "hindsight.best", "makespan_ms", kind::number);
      }
    }
    if (doc.contains("clairvoyant") && !doc["clairvoyant"].is_null()) {
      const json& clairvoyant = require(doc, "", "clairvoyant", kind::object);
      require(clairvoyant, "clairvoyant", "makespan_ms", kind::number);
    }
  }

  void image_record(const json& record, const std::string& path) const {
    require(record, path, "index", kind::number);
    const json& status = require(record, path, "status", kind::string);
    if (status != "delivered" && status != "failed") {
      fail(path + ".status",
           "is \"" + status.get<std::string>() + "\" (allowed: delivered, failed)");
    }
    require(record, path, "queued_at_ms", kind::number);
    require(record, path, "finished_at_ms", kind::number);
    require(record, path, "latency_ms", kind::number_or_null);
    const json& trace = require(record, path, "trace", kind::array);
    for (std::size_t i = 0; i < trace.size(); ++i) {
      const std::string event_path = path + ".trace[" + std::to_string(i) + "]";
      if (!trace[i].is_object()) {
        fail(event_path, "an object expected");
      }
      require(trace[i], event_path, "t_ms", kind::number);
      require(trace[i], event_path, "event", kind::string);
    }
  }

  void document(const json& doc) const {
    if (!doc.is_object()) {
      fail("(root)", std::string("is ") + doc.type_name() + ", an object expected");
    }
    const json& version = require(doc, "", "schema_version", kind::number);
    if (!version.is_number_integer() || version.get<long long>() != results_schema_version) {
      fail("schema_version", "is " + version.dump() + ", this zbatch reads version " +
                                 std::to_string(results_schema_version));
    }
    const json& scenario = require(doc, "", "scenario", kind::object);
    require(scenario, "scenario", "name", kind::string);
    const json& mode = require(doc, "", "mode", kind::string);
    if (mode != "sim" && mode != "http" && mode != "live") {
      fail("mode", "is \"" + mode.get<std::string>() + "\" (allowed: sim, http, live)");
    }
    require(doc, "", "seed", kind::number);
    require(doc, "", "repetitions", kind::number);
    const json& bound = require(doc, "", "bound", kind::object);
    require(bound, "bound", "makespan_ms", kind::number);
    references(doc);
    const json& strategies = require(doc, "", "strategies", kind::array);
    if (strategies.empty()) {
      fail("strategies", "is empty (at least one strategy expected)");
    }
    for (std::size_t s = 0; s < strategies.size(); ++s) {
      const std::string path = "strategies[" + std::to_string(s) + "]";
      const json& strategy = strategies[s];
      if (!strategy.is_object()) {
        fail(path, "an object expected");
      }
      require(strategy, path, "name", kind::string);
      require(strategy, path, "images", kind::number);
      metrics(strategy, path);
      const json& runs = require(strategy, path, "runs", kind::array);
      if (runs.empty()) {
        fail(path + ".runs", "is empty (one entry per repetition expected)");
      }
      for (std::size_t r = 0; r < runs.size(); ++r) {
        const std::string run_path = path + ".runs[" + std::to_string(r) + "]";
        if (!runs[r].is_object()) {
          fail(run_path, "an object expected");
        }
        metrics(runs[r], run_path);
      }
      if (strategy.contains("image_records")) {
        const json& records = require(strategy, path, "image_records", kind::array);
        for (std::size_t i = 0; i < records.size(); ++i) {
          const std::string record_path = path + ".image_records[" + std::to_string(i) + "]";
          if (!records[i].is_object()) {
            fail(record_path, "an object expected");
          }
          image_record(records[i], record_path);
        }
      }
    }
    if (doc.contains("thresholds")) {
      const json& thresholds = require(doc, "", "thresholds", kind::array);
      for (std::size_t t = 0; t < thresholds.size(); ++t) {
        const std::string path = "thresholds[" + std::to_string(t) + "]";
        if (!thresholds[t].is_object()) {
          fail(path, "an object expected");
        }
        require(thresholds[t], path, "expr", kind::string);
        const json& passed = thresholds[t].value("passed", json());
        if (!passed.is_boolean()) {
          fail(path + ".passed", "a boolean expected");
        }
        require(thresholds[t], path, "value", kind::number_or_null);
      }
    }
  }

 private:
  std::string origin_;
};

}  // namespace

void validate_results(const nlohmann::json& results, const std::string& origin) {
  validator(origin).document(results);
}

nlohmann::json load_results(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw results_error(file.string() + ": cannot be read (missing or not readable)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw results_error(file.string() + ": not valid JSON: " + e.what());
  }
  validate_results(doc, file.string());
  return doc;
}

std::optional<double> number_at(const nlohmann::json& object, const std::string& path) {
  const nlohmann::json* node = &object;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object()) {
      return std::nullopt;
    }
    auto it = node->find(key);
    if (it == node->end()) {
      return std::nullopt;
    }
    node = &*it;
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (!node->is_number()) {
    return std::nullopt;
  }
  return node->get<double>();
}

}  // namespace zbatch::reports
