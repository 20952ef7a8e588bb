#include "reports/results.hpp"

#include <limits>
#include <set>

#include "base/json_reader.hpp"

namespace zbatch::reports {
namespace {

using reader = base::json_reader;

/// An array field's elements, each required to be an object.
template <class Each>
void for_each_object(const reader& array, const std::string& what, Each each) {
  const auto size = array.array(what);
  for (std::size_t i = 0; i < size; ++i) {
    auto element = array.element(i);
    element.expect_object();
    each(element);
  }
}

/// The metrics shared by a strategy summary and each of its runs.
/// Counts, times and rates are never negative (a new user's check: a hand-edited makespan of
/// -5 s compared as an improvement).
constexpr double no_upper_bound = std::numeric_limits<double>::max();

void check_metrics(reader& m) {
  for (const char* key :
       {"delivered", "failed", "makespan_ms", "retries", "submits", "credits_used", "efficiency"}) {
    m.field(key).number(0, no_upper_bound);
  }
  m.field("success_rate").number(0, 1);
  for (const char* key : {"time_to_first_image_ms", "submits_per_image"}) {
    m.field(key).number_or_null();
  }
  auto latency = m.field("latency_ms");
  latency.expect_object();
  for (const char* p : {"p50", "p90", "p95", "p99", "max"}) {
    latency.field(p).number_or_null();
  }
  auto http_429 = m.field("http_429");
  http_429.expect_object();
  for (const char* k : {"dynamic", "quota", "total"}) {
    http_429.field(k).number();
  }
  auto requests = m.field("requests");
  requests.expect_object();
  requests.field("total").number_or_null();
  if (auto reasons = m.object("failed_by_reason")) {
    for (const auto& item : reasons->node().items()) {
      reasons->field(item.key()).number_or_null();
    }
  }
}

void check_image_record(reader& record) {
  record.field("index").number();
  record.field("status").one_of({"delivered", "failed"});
  record.field("queued_at_ms").number();
  record.field("finished_at_ms").number();
  record.field("latency_ms").number_or_null();
  for_each_object(record.field("trace"), "trace events", [](reader& event) {
    event.field("t_ms").number();
    event.field("event").string_or_empty();
  });
}

void check_strategy(reader& strategy) {
  strategy.field("name").string_or_empty();
  strategy.field("images").number();
  check_metrics(strategy);
  const auto runs = strategy.field("runs");
  if (runs.array("runs") == 0) {
    runs.fail("is empty (one entry per repetition expected)");
  }
  for_each_object(runs, "runs", check_metrics);
  if (const auto records = strategy.field("image_records"); records.exists()) {
    for_each_object(records, "image records", check_image_record);
  }
}

/// The references beside the bound: absent (older files) or null (not run), else objects.
void check_references(reader& doc) {
  if (auto hindsight = doc.object("hindsight")) {
    if (auto best = hindsight->object("best")) {
      best->field("name").string_or_empty();
      best->field("makespan_ms").number();
    }
  }
  if (auto clairvoyant = doc.object("clairvoyant")) {
    clairvoyant->field("makespan_ms").number();
  }
}

void check_document(reader& doc) {
  doc.expect_object();
  const auto version = doc.field("schema_version");
  version.number();
  if (!version.node().is_number_integer() ||
      version.node().get<long long>() != results_schema_version) {
    version.fail("is " + version.node().dump() + ", this zbatch reads version " +
                 std::to_string(results_schema_version));
  }
  auto scenario = doc.field("scenario");
  scenario.expect_object();
  scenario.field("name").string_or_empty();
  doc.field("mode").one_of({"sim", "http", "live"});
  doc.field("seed").number();
  const auto repetitions = doc.field("repetitions");
  repetitions.number(1, no_upper_bound);
  auto bound = doc.field("bound");
  bound.expect_object();
  bound.field("makespan_ms").number();
  check_references(doc);
  const auto strategies = doc.field("strategies");
  if (strategies.array("strategies") == 0) {
    strategies.fail("is empty (at least one strategy expected)");
  }
  for_each_object(strategies, "strategies", check_strategy);
  // One run per repetition: a file edited (or cut) out of step would compare means of other
  // counts than it says (a new user's check).
  for (std::size_t i = 0; i < strategies.node().size(); ++i) {
    const auto runs = strategies.element(i).field("runs");
    if (static_cast<double>(runs.node().size()) != repetitions.node().get<double>()) {
      runs.fail("has " + std::to_string(runs.node().size()) + " entries, but repetitions is " +
                repetitions.node().dump() + " (one run per repetition expected)");
    }
  }
  std::set<std::string> names;
  for (const auto& strategy : strategies.node()) {
    if (const auto name = strategy.value("name", std::string()); !names.insert(name).second) {
      strategies.fail("holds \"" + name + "\" twice (one entry per strategy expected)");
    }
  }
  if (const auto thresholds = doc.field("thresholds"); thresholds.exists()) {
    for_each_object(thresholds, "thresholds", [](reader& threshold) {
      threshold.field("expr").string_or_empty();
      threshold.field("passed").boolean();
      threshold.field("value").number_or_null();
    });
  }
}

}  // namespace

status validate_results(const nlohmann::json& results, const std::string& origin) {
  return capture([&] {
    reader doc(results, origin);
    check_document(doc);
  });
}

result<nlohmann::json> load_results(const std::filesystem::path& file) {
  auto doc = base::read_json_file(file);
  if (doc.ok()) {
    ZBATCH_RETURN_IF_ERROR(validate_results(*doc, file.string()));
  }
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
