#include "reports/limiters.hpp"

#include "reports/metric_table.hpp"
#include "reports/results.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

std::string delivered_cell(const json& figures) {
  const auto delivered = number_at(figures, "delivered");
  const auto images = number_at(figures, "images");
  if (!delivered || !images) {
    return "n/a";
  }
  // One decimal always: a column of means reads 43.0/100 beside 99.3/100, not 43/100.
  return format_fixed(*delivered, 1) + "/" + format_decimal(*images, 0);
}

/// A per-delivered-image figure, or the "no images" dash when nothing was delivered.
std::string per_image_cell(const json& figures, const char* key) {
  const auto value = number_at(figures, key);
  if (!value) {
    return std::string(no_images);
  }
  // Paid submits with possibly paid ones: the range of what was charged.
  const auto high = number_at(figures, std::string(key) + "_high");
  return high && *high > *value + 0.005 ? format_fixed(*value, 2) + "-" + format_fixed(*high, 2)
                                        : format_fixed(*value, 2);
}

}  // namespace

std::optional<limiter_table> limiter_comparison(const json& results) {
  if (!results.contains("strategies") || !results["strategies"].is_array()) {
    return std::nullopt;
  }
  limiter_table table;
  for (const auto& s : results["strategies"]) {
    if (!s.is_object() || !s.contains("independent") || !s["independent"].is_object()) {
      continue;
    }
    const auto& i = s["independent"];
    table.rows.push_back(
        {s.value("name", std::string("?")), delivered_cell(s), delivered_cell(i),
         format_seconds(number_at(s, "makespan_ms")), format_seconds(number_at(i, "makespan_ms")),
         per_image_cell(s, "dynamic_429_per_image"), per_image_cell(i, "dynamic_429_per_image"),
         per_image_cell(s, "submits_per_image"), per_image_cell(i, "submits_per_image")});
  }
  if (table.rows.empty()) {
    return std::nullopt;
  }
  const auto clients = number_at(results, "clients");
  table.title = (clients ? format_decimal(*clients, 0) : std::string("Several")) +
                " clients on one API key: one shared limiter vs independent limiters";
  table.header = {"strategy",        "delivered shared", "delivered indep.",
                  "makespan shared", "makespan indep.",  "429s/img shared",
                  "429s/img indep.", "paid/img shared",  "paid/img indep."};
  table.note =
      "Shared: one limit for every client, as zbatch generate --shared-limit keeps it; "
      "independent: each client its own limiter, as N processes without a shared store. "
      "429s/img: dynamic 429s per delivered image; paid/img: paid submits per delivered "
      "image (a range when some were possibly paid: their answer lost); " +
      std::string(no_images) + ": no image delivered. Means over repetitions.";
  return table;
}

}  // namespace zbatch::reports
