#include "generate/manifest.hpp"

#include <fstream>

namespace zbatch::generate {
namespace {

using nlohmann::json;

/// `value` when present, else null.
template <typename T>
json or_null(bool present, const T& value) {
  return present ? json(value) : json();
}

json image_entry(std::size_t index, const manifest_image& image) {
  const auto& request = image.spec.request;
  const bool delivered = image.status == image_status::delivered;
  json entry{
      {"index", index},
      {"model", request.model},
      {"prompt", request.prompt},
      {"seed", request.seed ? json(*request.seed) : json()},
      {"size", request.size ? json(request.size->to_string()) : json()},
      {"task_id", or_null(!image.task_id.empty(), image.task_id)},
      {"file", or_null(delivered, image.file)},
      {"bytes", or_null(delivered, image.bytes)},
      {"sha256", or_null(delivered, image.sha256)},
      {"latency_ms", image.latency_ms ? json(*image.latency_ms) : json()},
      {"status", to_string(image.status)},
      {"error_class", or_null(!delivered && !image.error_class.empty(), image.error_class)},
      {"message", or_null(!delivered && !image.message.empty(), image.message)},
      {"attempts", image.attempts},
      {"submits", image.submits},
      {"possibly_paid", image.possibly_paid},
      {"run", to_string(image.run)},
  };
  if (image.spec.line > 0) {
    entry["line"] = image.spec.line;
  }
  if (request.negative_prompt) {
    entry["negative_prompt"] = *request.negative_prompt;
  }
  if (request.steps) {
    entry["steps"] = *request.steps;
  }
  if (request.guidance) {
    entry["guidance"] = *request.guidance;
  }
  if (request.loras) {
    entry["loras"] = protocol::to_json(*request.loras);
  }
  if (request.image_url) {
    entry["image_url"] = protocol::to_json(*request.image_url);
  }
  if (image.run == image_run::earlier && image.earlier.is_object()) {
    entry["latency_ms"] = image.earlier.value("latency_ms", json());
    entry["attempts"] = image.earlier.value("attempts", json(0));
  }
  return entry;
}

json run_entry(const manifest_run& run) {
  const auto& c = run.counters;
  return json{{"submit_requests", c.submits},
              {"accepted", c.accepted},
              {"polls", c.polls},
              {"downloads", c.downloads},
              {"http_429", c.http_429_dynamic + c.http_429_quota},
              {"retries", c.retries},
              {"hung_resubmits", c.hung_resubmits},  // knowing second payments (issue 13)
              {"makespan_ms", run.makespan_ms}};
}

}  // namespace

const char* to_string(image_status status) {
  switch (status) {
    case image_status::delivered:
      return "delivered";
    case image_status::failed:
      return "failed";
    case image_status::pending:
      return "pending";
  }
  return "pending";
}

const char* to_string(image_run run) {
  switch (run) {
    case image_run::none:
      return "none";
    case image_run::this_run:
      return "this";
    case image_run::earlier:
      return "earlier";
  }
  return "none";
}

json manifest_json(const manifest_input& in) {
  json images = json::array();
  for (std::size_t index = 0; index < in.images.size(); ++index) {
    images.push_back(image_entry(index, in.images[index]));
  }
  json out{
      {"version", 2},
      {"model", in.images.empty() ? "" : in.images.front().spec.request.model},
      {"endpoint", in.endpoint},
      {"strategy", in.strategy},
      {"max_submits", in.max_submits},
      {"stopped", in.stopped},
      {"total", in.images.size()},
      {"delivered", in.delivered},
      {"failed", in.failed},
      {"remaining", in.remaining},
      {"pending", in.pending},
      {"submits_paid", in.submits_paid},
      {"submits_possibly_paid", in.submits_possibly_paid},
      {"submits_refunded", in.submits_refunded},
      {"halted_by", or_null(!in.halted_by.empty(), in.halted_by)},
      {"submits_per_delivered_image",
       in.delivered == 0
           ? json()
           : json(static_cast<double>(in.submits_paid) / static_cast<double>(in.delivered))},
      {"runs", in.runs},
      {"quota_resets_at", in.quota_reset ? json(*in.quota_reset) : json()},
      {"quota_resets_at_utc8", in.quota_reset_utc8 ? json(*in.quota_reset_utc8) : json()},
      {"images", images},
  };
  if (in.this_run) {
    out["this_run"] = run_entry(*in.this_run);
  }
  // One prompt: its options as given (the seed of the first variant as base_seed).
  if (in.options.value("mode", "") == "prompt") {
    out["prompt"] = in.options.value("prompt", "");
    out["count"] = in.options.value("count", 0);
    out["base_seed"] = in.options.value("seed", json());
    out["size"] = in.options.value("size", json());
  }
  return out;
}

std::map<std::size_t, json> earlier_manifest_entries(const std::filesystem::path& path) {
  std::map<std::size_t, json> out;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return out;  // none yet (a directory in its place is refused before the run: session.cpp)
  }
  std::ifstream in(path, std::ios::binary);
  const auto old = json::parse(in, nullptr, false);
  if (old.is_discarded() || !old.is_object() || !old.contains("images") ||
      !old["images"].is_array()) {
    return out;
  }
  for (const auto& entry : old["images"]) {
    if (entry.is_object() && entry.contains("index") && entry["index"].is_number_unsigned()) {
      out[entry["index"].get<std::size_t>()] = entry;
    }
  }
  return out;
}

}  // namespace zbatch::generate
