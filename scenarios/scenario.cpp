#include "scenarios/scenario.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace zbatch::scenarios {
namespace {

using nlohmann::json;

/// Walks a document while remembering where it is, so every error names its field path.
class reader {
 public:
  reader(const json& node, std::string origin, std::string path)
      : node_(node), origin_(std::move(origin)), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw scenario_error(origin_ + ": " + (path_.empty() ? "(top level)" : path_) + ": " + what);
  }

  const json& node() const { return node_; }
  const std::string& path() const { return path_; }

  reader at(const std::string& key) const {
    return reader(node_.at(key), origin_, path_.empty() ? key : path_ + "." + key);
  }
  reader at(std::size_t index) const {
    return reader(node_.at(index), origin_, path_ + "[" + std::to_string(index) + "]");
  }
  bool has(const std::string& key) const { return node_.contains(key) && !node_[key].is_null(); }

  void expect_object(const std::set<std::string>& allowed) const {
    if (!node_.is_object()) {
      fail("must be a JSON object");
    }
    for (const auto& item : node_.items()) {
      if (allowed.count(item.key()) == 0) {
        std::string list;
        for (const auto& key : allowed) {
          list += (list.empty() ? "" : ", ") + key;
        }
        at(item.key()).fail("unknown field (allowed: " + list + ")");
      }
    }
  }

  std::string as_string(bool allow_empty = false) const {
    if (!node_.is_string()) {
      fail("must be a string");
    }
    auto text = node_.get<std::string>();
    if (!allow_empty && text.empty()) {
      fail("must not be empty");
    }
    return text;
  }

  std::int64_t as_int(std::int64_t low, std::int64_t high) const {
    if (!node_.is_number_integer()) {
      fail("must be an integer (allowed " + std::to_string(low) + ".." + std::to_string(high) +
           ")");
    }
    const auto value = node_.get<std::int64_t>();
    if (value < low || value > high) {
      fail(std::to_string(value) + " is out of range (allowed " + std::to_string(low) + ".." +
           std::to_string(high) + ")");
    }
    return value;
  }

  double as_number(double low, double high, const std::string& allowed) const {
    if (!node_.is_number()) {
      fail("must be a number (allowed " + allowed + ")");
    }
    const auto value = node_.get<double>();
    if (!(value >= low && value <= high)) {
      fail("is out of range (allowed " + allowed + ")");
    }
    return value;
  }

 private:
  const json& node_;
  std::string origin_;
  std::string path_;
};

arrival_spec parse_arrival(const reader& r) {
  r.expect_object({"kind", "batches_per_second"});
  arrival_spec out;
  const auto kind = r.at("kind").as_string();
  if (kind == "all_at_once") {
    out.kind = arrival_kind::all_at_once;
  } else if (kind == "fixed_rate") {
    out.kind = arrival_kind::fixed_rate;
  } else if (kind == "poisson") {
    out.kind = arrival_kind::poisson;
  } else {
    r.at("kind").fail("\"" + kind +
                      "\" is not an arrival kind (allowed all_at_once, fixed_rate, "
                      "poisson)");
  }
  if (out.kind != arrival_kind::all_at_once) {
    if (!r.has("batches_per_second")) {
      r.fail("batches_per_second is required for " + kind + " arrivals");
    }
    out.batches_per_second = r.at("batches_per_second").as_number(0.0001, 10000, "0.0001..10000");
  }
  return out;
}

workload_spec parse_workload(const reader& r) {
  r.expect_object({"batches", "images_per_batch", "prompts", "sizes", "seed_base", "arrival"});
  workload_spec out;
  if (r.has("batches")) {
    out.batches = static_cast<int>(r.at("batches").as_int(1, 1'000'000));
  }
  if (r.has("images_per_batch")) {
    out.images_per_batch = static_cast<int>(r.at("images_per_batch").as_int(1, 100'000));
  }
  if (static_cast<std::int64_t>(out.batches) * out.images_per_batch > 1'000'000) {
    r.fail("batches × images_per_batch is " +
           std::to_string(static_cast<std::int64_t>(out.batches) * out.images_per_batch) +
           " (allowed at most 1000000 images)");
  }
  if (r.has("prompts")) {
    const auto prompts = r.at("prompts");
    if (!prompts.node().is_array() || prompts.node().empty()) {
      prompts.fail("must be a non-empty array of strings");
    }
    for (std::size_t i = 0; i < prompts.node().size(); ++i) {
      out.prompts.push_back(prompts.at(i).as_string());
    }
  } else {
    out.prompts.push_back("a lighthouse on a cliff at dawn, poster style");
  }
  if (r.has("sizes")) {
    const auto sizes = r.at("sizes");
    if (!sizes.node().is_array() || sizes.node().empty()) {
      sizes.fail("must be a non-empty array of \"WxH\" strings");
    }
    for (std::size_t i = 0; i < sizes.node().size(); ++i) {
      std::string why;
      auto size = protocol::parse_size(sizes.at(i).as_string(), &why);
      if (!size) {
        sizes.at(i).fail(why);
      }
      out.sizes.push_back(*size);
    }
  } else {
    out.sizes.push_back(protocol::image_size{});
  }
  if (r.has("seed_base")) {
    out.seed_base = r.at("seed_base").as_int(0, 2147483647 - out.images_per_batch);
  }
  if (r.has("arrival")) {
    out.arrival = parse_arrival(r.at("arrival"));
  }
  return out;
}

profile_spec parse_profile(const reader& r) {
  profile_spec out;
  if (r.node().is_string()) {
    out.name = r.as_string();
    return out;
  }
  r.expect_object({"name", "overrides", "inline"});
  if (r.has("inline")) {
    if (r.has("name") || r.has("overrides")) {
      r.fail("give either \"inline\" or \"name\" (with optional \"overrides\"), not both");
    }
    if (!r.at("inline").node().is_object()) {
      r.at("inline").fail("must be a JSON object (a mock config)");
    }
    out.name = "inline";
    out.inline_config = r.at("inline").node();
    return out;
  }
  if (!r.has("name")) {
    r.fail("name (a shipped profile) or inline (a mock config) is required");
  }
  out.name = r.at("name").as_string();
  if (r.has("overrides")) {
    if (!r.at("overrides").node().is_object()) {
      r.at("overrides").fail("must be a JSON object (merged over the profile)");
    }
    out.overrides = r.at("overrides").node();
  }
  return out;
}

std::vector<strategy_entry> parse_strategies(const reader& r) {
  if (!r.node().is_array() || r.node().empty()) {
    r.fail("must be a non-empty array of preset names or {\"label\", \"spec\"} objects");
  }
  std::vector<strategy_entry> out;
  std::set<std::string> labels;
  for (std::size_t i = 0; i < r.node().size(); ++i) {
    const auto item = r.at(i);
    strategy_entry entry;
    if (item.node().is_string()) {
      entry.spec = item.as_string();
      entry.label = entry.spec;
    } else {
      item.expect_object({"label", "spec"});
      entry.label = item.at("label").as_string();
      const auto spec = item.at("spec");
      if (spec.node().is_string()) {
        entry.spec = spec.as_string();
      } else if (spec.node().is_object()) {
        entry.spec_json = spec.node();
      } else {
        spec.fail("must be a preset name, a compact spec string or a JSON strategy object");
      }
    }
    for (char c : entry.label) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
        item.fail("label \"" + entry.label +
                  "\" may use only letters, digits, '-' and '_' (thresholds refer to it)");
      }
    }
    if (!labels.insert(entry.label).second) {
      item.fail("label \"" + entry.label + "\" is used twice");
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw scenario_error(file.string() + ": cannot be read");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const auto text = buffer.str();
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw scenario_error(file.string() + ":" + std::to_string(line) + ":" + std::to_string(column) +
                         ": not valid JSON");
  }
}

scenario parse_scenario(const json& document, const std::string& origin) {
  const reader root(document, origin, "");
  root.expect_object({"version", "name", "description", "profile", "workload", "strategies",
                      "repetitions", "seed", "thresholds", "http", "live", "hindsight",
                      "$comment"});
  scenario out;
  if (!root.has("version")) {
    root.fail("version is required (allowed 1)");
  }
  root.at("version").as_int(scenario_version, scenario_version);
  out.name = root.at("name").as_string();
  if (root.has("description")) {
    out.description = root.at("description").as_string(true);
  }
  if (!root.has("profile")) {
    root.fail("profile is required (a shipped profile name or an object)");
  }
  out.profile = parse_profile(root.at("profile"));
  static const json empty_workload = json::object();
  out.workload = parse_workload(root.has("workload") ? root.at("workload")
                                                     : reader(empty_workload, origin, "workload"));
  if (!root.has("strategies")) {
    root.fail("strategies is required");
  }
  out.strategies = parse_strategies(root.at("strategies"));
  if (root.has("repetitions")) {
    out.repetitions = static_cast<int>(root.at("repetitions").as_int(1, 1000));
  }
  if (root.has("seed")) {
    out.seed = static_cast<std::uint64_t>(root.at("seed").as_int(0, INT64_MAX));
  }
  if (root.has("thresholds")) {
    const auto thresholds = root.at("thresholds");
    if (!thresholds.node().is_array()) {
      thresholds.fail("must be an array of expressions like \"adaptive.success_rate >= 0.99\"");
    }
    for (std::size_t i = 0; i < thresholds.node().size(); ++i) {
      out.thresholds.push_back(thresholds.at(i).as_string());
    }
  }
  if (root.has("http")) {
    const auto http = root.at("http");
    http.expect_object({"time_scale"});
    if (http.has("time_scale")) {
      out.time_scale = http.at("time_scale").as_number(0.0001, 10, "0.0001..10");
    }
  }
  if (root.has("live")) {
    const auto live = root.at("live");
    live.expect_object({"max_images"});
    out.live_max_images = static_cast<int>(live.at("max_images").as_int(1, 1000));
  }
  if (root.has("hindsight")) {
    const auto hindsight = root.at("hindsight");
    hindsight.expect_object({"max_429_per_image"});
    if (hindsight.has("max_429_per_image")) {
      out.max_429_per_image = hindsight.at("max_429_per_image").as_number(0, 1000, "0..1000");
    }
  }
  return out;
}

scenario load_scenario(const std::filesystem::path& file) {
  auto out = parse_scenario(read_json_file(file), file.string());
  out.file = file;
  return out;
}

}  // namespace zbatch::scenarios
