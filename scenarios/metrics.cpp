#include "scenarios/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace zbatch::scenarios {
namespace {

using nlohmann::ordered_json;

const char* const error_classes[] = {"dynamic_429",   "quota_429",  "server_transport",
                                     "request_error", "moderation", "task_failed",
                                     "malformed",     "deadline",   "cancelled"};

// Rounds to 3 decimals so sums of doubles print identically run after run.
double round3(double value) { return std::round(value * 1000.0) / 1000.0; }

ordered_json latency_json(const latency_summary& l) {
  return ordered_json{{"p50", round3(l.p50)},
                      {"p90", round3(l.p90)},
                      {"p95", round3(l.p95)},
                      {"p99", round3(l.p99)},
                      {"max", round3(l.max)}};
}

ordered_json spread_of(const std::vector<double>& values) {
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double variance = 0;
  for (double v : values) {
    variance += (v - mean) * (v - mean);
  }
  variance = values.size() > 1 ? variance / (n - 1) : 0;
  return ordered_json{{"mean", round3(mean)},
                      {"stddev", round3(std::sqrt(variance))},
                      {"min", round3(*std::min_element(values.begin(), values.end()))},
                      {"max", round3(*std::max_element(values.begin(), values.end()))}};
}

// success × min(1, reference / makespan): a strategy that loses images is not efficient however
// fast it failed, and beating the reference counts as reaching it.
ordered_json efficiency(double success, std::optional<double> reference_ms, double makespan_ms) {
  if (!reference_ms) {
    return nullptr;
  }
  return makespan_ms <= 0 ? 0.0 : round3(success * std::min(1.0, *reference_ms / makespan_ms));
}

// `count / per`, rounded, or null when there is nothing to divide by.
ordered_json per(double count, double per) {
  return per <= 0 ? ordered_json(nullptr) : ordered_json(round3(count / per));
}

// The keys compute_metrics writes after `efficiency`, in order: every summary takes their means.
const char* const reference_keys[] = {"deliverable_success_rate", "dynamic_429_per_image",
                                      "efficiency_vs_hindsight", "efficiency_vs_clairvoyant",
                                      "regret_ms"};

}  // namespace

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) {
    return 0;
  }
  std::sort(samples.begin(), samples.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1];
}

ordered_json compute_metrics(const run_record& run, int repetition, double bound_makespan_ms) {
  run_references references;
  references.bound_ms = bound_makespan_ms;
  return compute_metrics(run, repetition, references);
}

ordered_json compute_metrics(const run_record& run, int repetition,
                             const run_references& references) {
  std::vector<double> latencies;
  std::int64_t delivered = 0;
  std::int64_t first_image_ms = -1;
  std::map<std::string, std::int64_t> failed_by_reason;
  for (const char* name : error_classes) {
    failed_by_reason[name] = 0;
  }
  for (const auto& image : run.images) {
    if (image.delivered) {
      ++delivered;
      latencies.push_back(static_cast<double>(image.finished_at_ms - image.queued_at_ms));
      if (first_image_ms < 0 || image.finished_at_ms < first_image_ms) {
        first_image_ms = image.finished_at_ms;
      }
    } else {
      ++failed_by_reason[image.error_class.empty() ? "malformed" : image.error_class];
    }
  }
  const auto images = static_cast<std::int64_t>(run.images.size());
  latency_summary latency;
  latency.p50 = percentile(latencies, 50);
  latency.p90 = percentile(latencies, 90);
  latency.p95 = percentile(latencies, 95);
  latency.p99 = percentile(latencies, 99);
  latency.max = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());

  ordered_json requests = ordered_json::object();
  std::int64_t total_requests = 0;
  for (const char* endpoint : {"submit", "poll", "download"}) {
    ordered_json by_status = ordered_json::object();
    auto it = run.requests.find(endpoint);
    if (it != run.requests.end()) {
      for (const auto& [status, count] : it->second) {
        by_status[status] = count;
        total_requests += count;
      }
    }
    requests[endpoint] = by_status;
  }
  requests["total"] = total_requests;

  ordered_json failed_json = ordered_json::object();
  for (const auto& [name, count] : failed_by_reason) {
    failed_json[name] = count;
  }
  const double makespan = static_cast<double>(run.makespan_ms);
  ordered_json out;
  out["repetition"] = repetition;
  out["seed"] = run.seed;
  out["images"] = images;
  out["delivered"] = delivered;
  out["failed"] = images - delivered;
  out["failed_by_reason"] = failed_json;
  out["success_rate"] = images == 0 ? 0.0 : round3(static_cast<double>(delivered) / images);
  out["makespan_ms"] = run.makespan_ms;
  out["time_to_first_image_ms"] =
      first_image_ms < 0 ? ordered_json(nullptr) : ordered_json(first_image_ms);
  out["latency_ms"] = latency_json(latency);
  out["requests"] = requests;
  out["http_429"] = {{"dynamic", run.http_429_dynamic},
                     {"quota", run.http_429_quota},
                     {"total", run.http_429_dynamic + run.http_429_quota}};
  out["retries"] = run.retries;
  out["submits"] = run.submits;
  out["submits_possibly_paid"] = run.submits_possibly_paid;
  out["submits_per_image"] =
      delivered == 0 ? ordered_json(nullptr)
                     : ordered_json(round3(static_cast<double>(run.submits) / delivered));
  // The high end: every lost answer may hide a charged task. Where the mock counted the tasks
  // (`submits`), a lost answer it never charged only widens the range, never lowers it.
  const std::int64_t submits_high =
      std::max(run.submits, run.submits_accepted + run.submits_possibly_paid);
  out["submits_per_image_high"] =
      delivered == 0 ? ordered_json(nullptr)
                     : ordered_json(round3(static_cast<double>(submits_high) / delivered));
  out["credits_used"] = round3(run.credits_used);
  out["credits_used_high"] = round3(
      run.credits_used + static_cast<double>(submits_high - run.submits) * run.credits_per_submit);
  const double success = images == 0 ? 0.0 : static_cast<double>(delivered) / images;
  out["efficiency"] = efficiency(success, references.bound_ms, makespan);
  // Moderation refusals are a correct final outcome: they are not deliverable.
  out["deliverable_success_rate"] = per(
      static_cast<double>(delivered), static_cast<double>(images - failed_by_reason["moderation"]));
  out["dynamic_429_per_image"] =
      per(static_cast<double>(run.http_429_dynamic), static_cast<double>(delivered));
  std::optional<double> hindsight_ms;
  const auto rep = static_cast<std::size_t>(repetition);
  if (rep < references.hindsight_ms.size()) {
    hindsight_ms = static_cast<double>(references.hindsight_ms[rep]);
  }
  out["efficiency_vs_hindsight"] = efficiency(success, hindsight_ms, makespan);
  out["efficiency_vs_clairvoyant"] = efficiency(success, references.clairvoyant_ms, makespan);
  out["regret_ms"] = hindsight_ms ? ordered_json(run.makespan_ms - references.hindsight_ms[rep])
                                  : ordered_json(nullptr);
  return out;
}

ordered_json image_records_json(const run_record& run, std::size_t limit) {
  ordered_json records = ordered_json::array();
  for (std::size_t i = 0; i < run.images.size() && i < limit; ++i) {
    const auto& image = run.images[i];
    ordered_json trace = ordered_json::array();
    for (const auto& event : image.trace) {
      trace.push_back({{"t_ms", event.t_ms}, {"event", event.event}, {"detail", event.detail}});
    }
    records.push_back(
        {{"index", image.index},
         {"batch", image.batch},
         {"seed", image.seed},
         {"size", image.size},
         {"status", image.delivered ? "delivered" : "failed"},
         {"error_class", image.delivered ? ordered_json(nullptr) : ordered_json(image.error_class)},
         {"message", image.message},
         {"attempts", image.attempts},
         {"queued_at_ms", image.queued_at_ms},
         {"finished_at_ms", image.finished_at_ms},
         {"latency_ms", image.finished_at_ms - image.queued_at_ms},
         {"trace", trace}});
  }
  return records;
}

ordered_json summarize(const std::string& label, const std::string& spec,
                       const std::vector<run_record>& runs, double bound_makespan_ms,
                       std::size_t max_image_records) {
  run_references references;
  references.bound_ms = bound_makespan_ms;
  return summarize(label, spec, runs, references, max_image_records);
}

ordered_json summarize(const std::string& label, const std::string& spec,
                       const std::vector<run_record>& runs, const run_references& references,
                       std::size_t max_image_records) {
  std::vector<ordered_json> per_run;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    per_run.push_back(compute_metrics(runs[i], static_cast<int>(i), references));
  }
  auto mean_of = [&](auto&& pick) {
    std::vector<double> values;
    for (const auto& run : per_run) {
      const ordered_json& v = pick(run);
      if (v.is_number()) {
        values.push_back(v.get<double>());
      }
    }
    return values;
  };
  auto mean = [&](auto&& pick) -> ordered_json {
    auto values = mean_of(pick);
    if (values.empty()) {
      return nullptr;
    }
    return round3(std::accumulate(values.begin(), values.end(), 0.0) /
                  static_cast<double>(values.size()));
  };
  ordered_json out;
  out["name"] = label;
  out["spec"] = spec;
  out["images"] = per_run.empty() ? 0 : per_run.front()["images"].get<std::int64_t>();
  out["delivered"] =
      mean([](const ordered_json& r) -> const ordered_json& { return r["delivered"]; });
  out["failed"] = mean([](const ordered_json& r) -> const ordered_json& { return r["failed"]; });
  ordered_json failed_by_reason = ordered_json::object();
  for (const char* name : error_classes) {
    failed_by_reason[name] = mean(
        [&](const ordered_json& r) -> const ordered_json& { return r["failed_by_reason"][name]; });
  }
  out["failed_by_reason"] = failed_by_reason;
  for (const char* key : {"success_rate", "makespan_ms", "time_to_first_image_ms"}) {
    out[key] = mean([&](const ordered_json& r) -> const ordered_json& { return r[key]; });
  }
  ordered_json latency;
  for (const char* p : {"p50", "p90", "p95", "p99", "max"}) {
    latency[p] =
        mean([&](const ordered_json& r) -> const ordered_json& { return r["latency_ms"][p]; });
  }
  out["latency_ms"] = latency;
  // Request counts: means per endpoint and status over the runs.
  ordered_json requests;
  for (const char* endpoint : {"submit", "poll", "download"}) {
    std::map<std::string, double> sums;
    for (const auto& run : per_run) {
      for (const auto& item : run["requests"][endpoint].items()) {
        sums[item.key()] += item.value().get<double>();
      }
    }
    ordered_json by_status = ordered_json::object();
    for (const auto& [status, sum] : sums) {
      by_status[status] = round3(sum / static_cast<double>(per_run.size()));
    }
    requests[endpoint] = by_status;
  }
  requests["total"] =
      mean([](const ordered_json& r) -> const ordered_json& { return r["requests"]["total"]; });
  out["requests"] = requests;
  ordered_json http_429;
  for (const char* kind : {"dynamic", "quota", "total"}) {
    http_429[kind] =
        mean([&](const ordered_json& r) -> const ordered_json& { return r["http_429"][kind]; });
  }
  out["http_429"] = http_429;
  for (const char* key :
       {"retries", "submits", "submits_possibly_paid", "submits_per_image",
        "submits_per_image_high", "credits_used", "credits_used_high", "efficiency"}) {
    out[key] = mean([&](const ordered_json& r) -> const ordered_json& { return r[key]; });
  }
  for (const char* key : reference_keys) {
    out[key] = mean([&](const ordered_json& r) -> const ordered_json& { return r[key]; });
  }
  ordered_json spread;
  auto add_spread = [&](const char* name, auto&& pick) {
    auto values = mean_of(pick);
    if (!values.empty()) {
      spread[name] = spread_of(values);
    }
  };
  add_spread("makespan_ms",
             [](const ordered_json& r) -> const ordered_json& { return r["makespan_ms"]; });
  add_spread("success_rate",
             [](const ordered_json& r) -> const ordered_json& { return r["success_rate"]; });
  add_spread("latency_p50_ms",
             [](const ordered_json& r) -> const ordered_json& { return r["latency_ms"]["p50"]; });
  add_spread("latency_p95_ms",
             [](const ordered_json& r) -> const ordered_json& { return r["latency_ms"]["p95"]; });
  add_spread("latency_p99_ms",
             [](const ordered_json& r) -> const ordered_json& { return r["latency_ms"]["p99"]; });
  add_spread("submits_per_image",
             [](const ordered_json& r) -> const ordered_json& { return r["submits_per_image"]; });
  add_spread("efficiency",
             [](const ordered_json& r) -> const ordered_json& { return r["efficiency"]; });
  add_spread("regret_ms",
             [](const ordered_json& r) -> const ordered_json& { return r["regret_ms"]; });
  out["spread"] = spread;
  out["runs"] = per_run;
  out["image_records"] =
      runs.empty() ? ordered_json::array() : image_records_json(runs.front(), max_image_records);
  if (!runs.empty() && runs.front().images.size() > max_image_records) {
    out["image_records_omitted"] = runs.front().images.size() - max_image_records;
  }
  return out;
}

}  // namespace zbatch::scenarios
