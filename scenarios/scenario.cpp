#include "scenarios/scenario.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/json_reader.hpp"
#include "protocol/messages.hpp"

namespace zbatch::scenarios {
namespace {

using nlohmann::json;
using reader = base::json_reader;

arrival_spec parse_arrival(reader r) {
  r.expect_fields({"kind", "batches_per_second"});
  static const std::vector<std::string> kinds{"all_at_once", "fixed_rate", "poisson"};
  const auto kind = r.field("kind").one_of(kinds);
  arrival_spec out;
  out.kind = static_cast<arrival_kind>(kind);
  const auto rate = r.field("batches_per_second");
  if (out.kind != arrival_kind::all_at_once) {
    if (!rate.present()) {
      r.fail("batches_per_second is required for " + kinds[kind] + " arrivals");
    }
    out.batches_per_second = rate.number(0.0001, 10000);
  } else if (rate.present()) {
    // A rate the run would ignore is a mistake in the file: say so rather than play another
    // workload than the author meant.
    rate.fail(
        "applies to fixed_rate and poisson arrivals only (all_at_once starts every batch "
        "at once): remove it or change kind");
  }
  return out;
}

/// The workload object; an absent one gives the defaults.
workload_spec parse_workload(reader r) {
  if (r.present()) {
    r.expect_fields({"batches", "images_per_batch", "prompts", "sizes", "seed_base", "arrival"});
  }
  workload_spec out;
  r.read("batches", out.batches, 1, 1'000'000);
  r.read("images_per_batch", out.images_per_batch, 1, 100'000);
  const auto images = static_cast<std::int64_t>(out.batches) * out.images_per_batch;
  if (images > 1'000'000) {
    r.fail("batches × images_per_batch is " + std::to_string(images) +
           " (allowed at most 1000000 images)");
  }
  if (const auto prompts = r.field("prompts"); prompts.present()) {
    const auto size = prompts.array("strings", true);
    for (std::size_t i = 0; i < size; ++i) {
      const auto prompt = prompts.element(i);
      out.prompts.push_back(prompt.string());
      if (protocol::is_blank(out.prompts.back())) {
        prompt.fail("is empty or only whitespace (give the text of an image)");
      }
      // The API's own rules (length), so a run does not play prompts every request is refused
      // for (a new user's check: 2,500 characters ran every strategy to 0%, exit 1).
      protocol::submit_request request;
      request.prompt = out.prompts.back();
      if (const auto error = protocol::validate_fields(request)) {
        prompt.fail(error->message);
      }
    }
  } else {
    out.prompts.push_back("a lighthouse on a cliff at dawn, poster style");
  }
  if (const auto sizes = r.field("sizes"); sizes.present()) {
    const auto size = sizes.array("\"WxH\" strings", true);
    for (std::size_t i = 0; i < size; ++i) {
      std::string why;
      auto parsed = protocol::parse_size(sizes.element(i).string(), &why);
      if (!parsed) {
        sizes.element(i).fail(why);
      }
      out.sizes.push_back(*parsed);
    }
  } else {
    out.sizes.push_back(protocol::image_size{});
  }
  if (const auto seed_base = r.field("seed_base"); seed_base.present()) {
    // Image i of a batch gets seed seed_base + i, and every seed must fit the API's range.
    out.seed_base = seed_base.integer(0, protocol::max_seed);
    const std::int64_t highest = protocol::max_seed - (out.images_per_batch - 1);
    if (out.seed_base > highest) {
      seed_base.fail(std::to_string(out.seed_base) + " is out of range (allowed 0.." +
                     std::to_string(highest) + " with images_per_batch " +
                     std::to_string(out.images_per_batch) + ": image i of a batch gets seed " +
                     "seed_base + i, at most " + std::to_string(protocol::max_seed) + ")");
    }
  }
  if (const auto arrival = r.field("arrival"); arrival.present()) {
    out.arrival = parse_arrival(arrival);
  }
  return out;
}

profile_spec parse_profile(reader r) {
  profile_spec out;
  if (r.node().is_string()) {
    out.name = r.string();
    return out;
  }
  if (!r.node().is_object()) {
    r.fail_expected("a shipped profile name or a JSON object");
  }
  r.expect_fields({"name", "overrides", "inline"});
  if (r.has("inline")) {
    if (r.has("name") || r.has("overrides")) {
      r.fail("give either \"inline\" or \"name\" (with optional \"overrides\"), not both");
    }
    out.name = "inline";
    out.inline_config = r.object("inline")->node();
  } else {
    if (!r.has("name")) {
      r.fail("name (a shipped profile) or inline (a mock config) is required");
    }
    out.name = r.field("name").string();
    if (const auto overrides = r.object("overrides")) {
      out.overrides = overrides->node();
    }
  }
  return out;
}

strategy_entry parse_strategy_entry(reader item) {
  strategy_entry entry;
  if (item.node().is_string()) {
    entry.spec = item.string();
    entry.label = entry.spec;
    return entry;
  }
  item.expect_fields({"label", "spec"});
  entry.label = item.field("label").string();
  const auto spec = item.field("spec");
  if (spec.node().is_string()) {
    entry.spec = spec.string();
  } else if (spec.node().is_object()) {
    entry.spec_json = spec.node();
  } else {
    spec.fail_expected("a preset name, a compact spec string or a JSON strategy object");
  }
  return entry;
}

std::vector<strategy_entry> parse_strategies(const reader& r) {
  const auto size = r.array("preset names or {\"label\", \"spec\"} objects", true);
  std::vector<strategy_entry> out;
  std::set<std::string> labels;
  for (std::size_t i = 0; i < size; ++i) {
    const auto item = r.element(i);
    auto entry = parse_strategy_entry(item);
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

std::vector<std::string> parse_thresholds(const reader& r) {
  std::vector<std::string> out;
  if (r.present()) {
    const auto size = r.array("expressions like \"adaptive.success_rate >= 0.99\"");
    for (std::size_t i = 0; i < size; ++i) {
      out.push_back(r.element(i).string());
    }
  }
  return out;
}

/// `clients` and `limiter`: each client plays whole batches, so there are at most as many
/// clients as batches; a limiter is only chosen between several clients.
void parse_clients(reader& root, scenario& out) {
  root.read("clients", out.clients, 1, 64);
  if (out.clients > out.workload.batches) {
    root.field("clients").fail("is " + std::to_string(out.clients) + " but workload.batches is " +
                               std::to_string(out.workload.batches) +
                               " (each client plays whole batches: allowed 1.." +
                               std::to_string(std::min(64, out.workload.batches)) + ")");
  }
  const auto limiter = root.field("limiter");
  if (!limiter.present()) {
    return;
  }
  if (out.clients == 1) {
    limiter.fail("compares the limiters of several clients: set clients to 2..64 or drop it");
  }
  out.limiter = static_cast<limiter_kind>(limiter.one_of({"shared", "independent", "both"}));
}

/// parse_scenario's walk: the reader raises a status_error at the first mistake.
scenario read_scenario(const json& document, const std::string& origin) {
  reader root(document, origin);
  root.expect_fields({"version", "name", "description", "profile", "workload", "strategies",
                      "repetitions", "seed", "thresholds", "http", "live", "hindsight", "clients",
                      "limiter", "$comment"});
  scenario out;
  root.field("version").integer(scenario_version, scenario_version);
  out.name = root.field("name").string();
  if (const auto description = root.field("description"); description.present()) {
    out.description = description.string_or_empty();
  }
  out.profile = parse_profile(root.field("profile"));
  out.workload = parse_workload(root.field("workload"));
  out.strategies = parse_strategies(root.field("strategies"));
  root.read("repetitions", out.repetitions, 1, 1000);
  if (const auto seed = root.field("seed"); seed.present()) {
    out.seed = static_cast<std::uint64_t>(seed.integer(0, INT64_MAX));
  }
  out.thresholds = parse_thresholds(root.field("thresholds"));
  if (auto http = root.field("http"); http.present()) {
    http.expect_fields({"time_scale"});
    http.read("time_scale", out.time_scale, 0.0001, 10);
  }
  if (auto live = root.field("live"); live.present()) {
    live.expect_fields({"max_images"});
    out.live_max_images = static_cast<int>(live.field("max_images").integer(1, 1000));
  }
  if (auto hindsight = root.field("hindsight"); hindsight.present()) {
    hindsight.expect_fields({"max_429_per_image"});
    hindsight.read("max_429_per_image", out.max_429_per_image, 0.0, 1000.0);
  }
  parse_clients(root, out);
  return out;
}

}  // namespace

std::string to_string(limiter_kind kind) {
  switch (kind) {
    case limiter_kind::shared:
      return "shared";
    case limiter_kind::independent:
      return "independent";
    case limiter_kind::both:
      return "both";
  }
  return "both";
}

result<scenario> parse_scenario(const json& document, const std::string& origin) {
  return capture([&] { return read_scenario(document, origin); });
}

result<scenario> load_scenario(const std::filesystem::path& file) {
  const auto document = base::read_json_file(file);
  if (!document.ok()) {
    return document.status();
  }
  auto out = parse_scenario(*document, file.string());
  if (out.ok()) {
    out->file = file;
  }
  return out;
}

}  // namespace zbatch::scenarios
