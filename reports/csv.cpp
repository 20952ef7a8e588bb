#include <string>

#include "reports/metric_table.hpp"
#include "reports/render.hpp"
#include "reports/results.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {

using nlohmann::json;

result<std::string> render_csv(const nlohmann::json& results) {
  ZBATCH_RETURN_IF_ERROR(validate_results(results, "results"));
  // Columns: identification, then the run metrics in schema order, nested ones flattened.
  const char* const metric_columns[][2] = {
      {"images", "images"},
      {"delivered", "delivered"},
      {"failed", "failed"},
      {"success_rate", "success_rate"},
      {"makespan_ms", "makespan_ms"},
      {"time_to_first_image_ms", "time_to_first_image_ms"},
      {"latency_p50_ms", "latency_ms.p50"},
      {"latency_p90_ms", "latency_ms.p90"},
      {"latency_p95_ms", "latency_ms.p95"},
      {"latency_p99_ms", "latency_ms.p99"},
      {"latency_max_ms", "latency_ms.max"},
      {"requests_total", "requests.total"},
      {"http_429_dynamic", "http_429.dynamic"},
      {"http_429_quota", "http_429.quota"},
      {"http_429_total", "http_429.total"},
      {"retries", "retries"},
      {"submits", "submits"},
      {"submits_per_image", "submits_per_image"},
      {"credits_used", "credits_used"},
      {"efficiency", "efficiency"},
      {"deliverable_success_rate", "deliverable_success_rate"},
      {"dynamic_429_per_image", "dynamic_429_per_image"},
      {"efficiency_vs_hindsight", "efficiency_vs_hindsight"},
      {"efficiency_vs_clairvoyant", "efficiency_vs_clairvoyant"},
      {"regret_ms", "regret_ms"},
  };
  const std::string eol = "\r\n";
  std::string out = "scenario,mode,strategy,spec,repetition,seed";
  for (const auto& column : metric_columns) {
    out += ',';
    out += column[0];
  }
  // Last, so the columns before keep their places: what efficiency_vs_hindsight and regret_ms
  // are measured against (a new user's check: only the other formats named it).
  // The possibly paid submits and the high end of the cost came later still (old files: empty).
  const char* const high_columns[] = {"submits_possibly_paid", "submits_per_image_high",
                                      "credits_used_high"};
  out += ",hindsight_best";
  for (const char* column : high_columns) {
    out += ',';
    out += column;
  }
  // Several clients: which limiter a row measures. Only then, so one-client files keep their
  // columns (a new user's check: the independent runs of `limiter: both` were dropped).
  const bool several = results.contains("limiter") && results["limiter"].is_string();
  out += several ? ",limiter" + eol : eol;
  const json& hindsight = results.value("hindsight", json());
  const std::string best = hindsight.is_object() && hindsight.value("best", json()).is_object()
                               ? hindsight["best"].value("name", std::string())
                               : std::string();
  const std::string scenario = results["scenario"]["name"].get<std::string>();
  const std::string mode = results["mode"].get<std::string>();
  auto rows = [&](const json& strategy, const std::string& limiter) {
    const std::string name = strategy["name"].get<std::string>();
    const std::string spec = strategy.value("spec", "");
    const auto& runs = strategy["runs"];
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto& run = runs[r];
      auto field = [&](const std::string& path) {
        // A run that delivered nothing has no latency (the runner writes 0): an empty field.
        if (needs_delivery(path) && delivered_nothing(run)) {
          return std::string();
        }
        auto value = number_at(run, path);
        return value ? format_exact(*value) : std::string();
      };
      const auto repetition = number_at(run, "repetition");
      out += csv_field(scenario) + ',' + csv_field(mode) + ',' + csv_field(name) + ',' +
             csv_field(spec) + ',' + (repetition ? format_exact(*repetition) : std::to_string(r)) +
             ',' + field("seed");
      for (const auto& column : metric_columns) {
        out += ',';
        if (std::string(column[0]) == "images" && !run.contains("images")) {
          // The schema's example keeps `images` on the strategy only; runs inherit it.
          out += format_exact(strategy["images"].get<double>());
        } else {
          out += field(column[1]);
        }
      }
      out += ',' + csv_field(best);
      for (const char* column : high_columns) {
        out += ',' + field(column);
      }
      out += several ? ',' + csv_field(limiter) + eol : eol;
    }
  };
  const std::string limiter = several ? results["limiter"].get<std::string>() : "";
  // With both, the rows are the shared limiter's and each strategy carries the independent ones.
  for (const auto& strategy : results["strategies"]) {
    rows(strategy, limiter == "both" ? "shared" : limiter);
  }
  if (limiter == "both") {
    for (const auto& strategy : results["strategies"]) {
      const json& independent = strategy.value("independent", json());
      if (independent.is_object() && independent.value("runs", json()).is_array() &&
          independent.contains("name")) {
        rows(independent, "independent");
      }
    }
  }
  return out;
}

}  // namespace zbatch::reports
