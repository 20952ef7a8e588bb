#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reports/limiters.hpp"
#include "reports/metric_table.hpp"
#include "reports/render.hpp"
#include "reports/results.hpp"
#include "reports/summary.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {
namespace {

using nlohmann::json;

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
const char* const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                               "#E69F00", "#56B4E9", "#000000", "#8C564B"};

std::string color_of(std::size_t i) { return palette[i % (sizeof palette / sizeof palette[0])]; }

// Coordinates with one decimal keep the file small and stable.
std::string px(double v) { return format_decimal(v, 1); }

std::string esc(const std::string& text) { return xml_escape(text); }

// A horizontally scrollable box: at narrow widths only the table or chart inside scrolls, never
// the page, and a chart keeps its pixel size (so its text stays readable).
std::string scroll(const std::string& inner) {
  return "<div class=\"scroll\">" + inner + "</div>\n";
}

// A step of 1, 2 or 5 × 10^k giving about `target` intervals over [0, max].
double nice_step(double max, int target) {
  if (max <= 0) {
    return 1;
  }
  const double raw = max / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
  return step * magnitude;
}

struct axis {
  double max = 1;
  std::vector<double> ticks;
};

axis nice_axis(double max, int target = 5) {
  axis a;
  const double step = nice_step(max, target);
  a.max = std::max(step, std::ceil(max / step - 1e-9) * step);
  for (double t = 0; t <= a.max + step * 1e-6; t += step) {
    a.ticks.push_back(t);
  }
  return a;
}

struct linear {
  double d0, d1, r0, r1;
  double operator()(double v) const { return r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
};

std::string svg_open(const std::string& chart, double width, double height,
                     const std::string& title, const std::string& extra_attributes = "") {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"" + chart + "\"" +
         extra_attributes + " viewBox=\"0 0 " + px(width) + " " + px(height) + "\" width=\"" +
         px(width) + "\" height=\"" + px(height) + "\" role=\"img\"><title>" + esc(title) +
         "</title>\n";
}

std::string text_at(double x, double y, const std::string& text, const std::string& cls,
                    const std::string& anchor = "start") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" class=\"" + cls + "\" text-anchor=\"" +
         anchor + "\">" + esc(text) + "</text>";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& cls) {
  return "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) +
         "\" class=\"" + cls + "\"/>";
}

std::string rect(double x, double y, double w, double h, const std::string& cls,
                 const std::string& extra = "", const std::string& tooltip = "") {
  const std::string head = "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" +
                           px(std::max(w, 0.0)) + "\" height=\"" + px(h) + "\" class=\"" + cls +
                           "\"" + extra;
  return tooltip.empty() ? head + "/>" : head + "><title>" + esc(tooltip) + "</title></rect>";
}

// A horizontal axis with ticks, tick labels and a title.
std::string x_axis(const linear& x, const axis& a, double y, double top,
                   const std::function<std::string(double)>& label, const std::string& title) {
  std::string out;
  for (double t : a.ticks) {
    out += line(x(t), top, x(t), y, "grid") + line(x(t), y, x(t), y + 5, "axis") +
           text_at(x(t), y + 18, label(t), "tick", "middle") + "\n";
  }
  out += line(x(0), y, x(a.max), y, "axis") + "\n";
  out += text_at((x(0) + x(a.max)) / 2, y + 38, title, "axis-title", "middle") + "\n";
  return out;
}

std::string seconds_label(double ms) { return format_decimal(ms / 1000.0, 2); }
std::string percent_label(double ratio) { return format_decimal(ratio * 100.0, 0); }

std::string short_name(const std::string& name) {
  // Bar labels have ~16 characters of room; the full name stays in the tooltip.
  return name.size() <= 16 ? name : name.substr(0, 15) + "~";
}

std::vector<double> delivered_latencies(const json& strategy) {
  std::vector<double> out;
  if (!strategy.contains("image_records")) {
    return out;
  }
  for (const auto& record : strategy["image_records"]) {
    if (record["status"] == "delivered") {
      auto latency = number_at(record, "latency_ms");
      out.push_back(latency ? *latency
                            : record["finished_at_ms"].get<double>() -
                                  record["queued_at_ms"].get<double>());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string latency_cdf(const json& strategies, std::size_t repetitions) {
  const double width = 1200, height = 380, left = 70, right = 860, top = 20, bottom = 310;
  double max_latency = 0;
  for (const auto& s : strategies) {
    for (double l : delivered_latencies(s)) {
      max_latency = std::max(max_latency, l);
    }
  }
  const axis xa = nice_axis(max_latency > 0 ? max_latency : 1000);
  const linear x{0, xa.max, left, right};
  const linear y{0, 1, bottom, top};
  std::string out = svg_open("latency-cdf", width, height,
                             "Latency CDF: share of requested images delivered within a latency");
  for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    out += line(left, y(t), right, y(t), "grid") +
           text_at(left - 8, y(t) + 4, percent_label(t), "tick", "end") + "\n";
  }
  out += line(left, top, left, bottom, "axis") + "\n";
  out += "<text class=\"axis-title\" text-anchor=\"middle\" transform=\"translate(18 " +
         px((top + bottom) / 2) + ") rotate(-90)\">images delivered (% of requested)</text>\n";
  out += x_axis(x, xa, bottom, top, seconds_label, "latency from queued to delivered (s)");
  double legend_y = top + 10;
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const auto& s = strategies[i];
    const std::string name = s["name"].get<std::string>();
    const auto latencies = delivered_latencies(s);
    const double requested =
        s.contains("image_records") ? static_cast<double>(s["image_records"].size()) : 0.0;
    // A step function: it rises at each delivery and ends below 100% when images failed.
    std::string points = px(x(0)) + "," + px(y(0));
    double share = 0;
    for (std::size_t k = 0; k < latencies.size(); ++k) {
      points += " " + px(x(latencies[k])) + "," + px(y(share));
      share = static_cast<double>(k + 1) / requested;
      points += " " + px(x(latencies[k])) + "," + px(y(share));
    }
    points += " " + px(x(xa.max)) + "," + px(y(share));
    out += "<polyline class=\"cdf-line\" data-strategy=\"" + esc(name) + "\" stroke=\"" +
           color_of(i) + "\" points=\"" + points + "\"><title>" + esc(name) +
           "</title></polyline>\n";
    out += "<line x1=\"" + px(right + 25) + "\" y1=\"" + px(legend_y) + "\" x2=\"" +
           px(right + 55) + "\" y2=\"" + px(legend_y) + "\" class=\"legend-line\" stroke=\"" +
           color_of(i) + "\"/>";
    // The legend's figures are the plotted repetition's, like the curve (not the means).
    const json& first_run = s["runs"].empty() ? s : s["runs"][0];
    const std::string legend =
        name + ": " + format_decimal(static_cast<double>(latencies.size()), 0) + "/" +
        format_decimal(requested, 0) + " delivered" +
        (latencies.empty() ? std::string()
                           : ", p95 " + format_seconds(number_at(first_run, "latency_ms.p95")));
    out += text_at(right + 62, legend_y + 4, legend, "legend") + "\n";
    legend_y += 22;
  }
  out += text_at(right + 25, height - 20,
                 repetitions > 1
                     ? "repetition 1 of " + std::to_string(repetitions) + ": curves and legend"
                     : "curves and legend: the one repetition",
                 "note") +
         "\n";
  out += "</svg>\n";
  return out;
}

struct bar_item {
  std::string name;
  std::string color;
  double value = 0;
  std::optional<double> low, high;  // Whiskers: min and max over repetitions.
  std::string label;
};

std::string bar_chart(const std::string& chart, const std::string& title,
                      const std::string& axis_title, const std::vector<bar_item>& items,
                      double axis_max, const std::function<std::string(double)>& tick,
                      const std::vector<std::pair<double, std::string>>& markers) {
  const double row = 30, left = 120, right = 290, top = 34, width = 390;
  const double bottom = top + row * static_cast<double>(items.size()) + 6;
  const double height = bottom + 50;
  const axis xa = nice_axis(axis_max, 4);
  const linear x{0, xa.max, left, right};
  std::string out = svg_open(chart, width, height, title);
  out += x_axis(x, xa, bottom, top, tick, axis_title);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const double y = top + row * static_cast<double>(i) + 5;
    out += "<text x=\"" + px(left - 8) + "\" y=\"" + px(y + 15) +
           "\" class=\"label\" text-anchor=\"end\">" + esc(short_name(item.name)) + "<title>" +
           esc(item.name) + "</title></text>\n";
    out += rect(x(0), y, x(std::min(item.value, xa.max)) - x(0), 20, "bar",
                " fill=\"" + item.color + "\" data-strategy=\"" + esc(item.name) + "\"",
                item.name + ": " + item.label) +
           "\n";
    if (item.low && item.high && *item.high > *item.low) {
      out += line(x(*item.low), y + 10, x(*item.high), y + 10, "whisker") +
             line(x(*item.low), y + 5, x(*item.low), y + 15, "whisker") +
             line(x(*item.high), y + 5, x(*item.high), y + 15, "whisker") + "\n";
    }
    double end = x(std::min(std::max(item.value, item.high.value_or(0)), xa.max));
    for (const auto& marker : markers) {
      if (std::fabs(end - x(std::min(marker.first, xa.max))) < 30) {
        end = std::max(end, x(std::min(marker.first, xa.max)));  // Keep the label off the line.
      }
    }
    out += text_at(std::min(end + 5, width - 2), y + 15, item.label, "value",
                   end + 5 > width - 50 ? "end" : "start") +
           "\n";
  }
  for (std::size_t i = 0; i < markers.size(); ++i) {
    // Each marker's label one line above the previous one's, so close markers stay readable.
    const double mx = x(std::min(markers[i].first, xa.max));
    const double label_y = top - 10 - 12 * static_cast<double>(i);
    out += line(mx, label_y + 4, mx, bottom, "bound") + "\n";
    out +=
        text_at(mx, label_y, markers[i].second, "bound-label", mx > right - 40 ? "end" : "middle") +
        "\n";
  }
  out += "</svg>\n";
  return out;
}

std::optional<double> spread_value(const json& s, const char* metric, const char* field) {
  if (!s.contains("spread") || !s["spread"].is_object() || !s["spread"].contains(metric)) {
    return std::nullopt;
  }
  return number_at(s["spread"][metric], field);
}

std::string bar_charts(const json& results) {
  const auto& strategies = results["strategies"];
  const double bound = results["bound"]["makespan_ms"].get<double>();
  std::vector<bar_item> makespan, success, efficiency, hindsight_efficiency;
  double makespan_max = bound;
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const auto& s = strategies[i];
    const std::string name = s["name"].get<std::string>();
    const bool repeated = s["runs"].size() > 1;
    bar_item m{name,         color_of(i),  s["makespan_ms"].get<double>(),
               std::nullopt, std::nullopt, format_seconds(s["makespan_ms"].get<double>())};
    if (repeated) {
      m.low = spread_value(s, "makespan_ms", "min");
      m.high = spread_value(s, "makespan_ms", "max");
    }
    makespan_max = std::max({makespan_max, m.value, m.high.value_or(0)});
    makespan.push_back(m);
    bar_item r{name,
               color_of(i),
               s["success_rate"].get<double>(),
               std::nullopt,
               std::nullopt,
               format_percent(s["success_rate"].get<double>()) + " (" +
                   format_decimal(s["delivered"].get<double>(), 1) + "/" +
                   format_decimal(s["images"].get<double>(), 0) + ")"};
    if (repeated) {
      r.low = spread_value(s, "success_rate", "min");
      r.high = spread_value(s, "success_rate", "max");
    }
    success.push_back(r);
    efficiency.push_back({name, color_of(i), s["efficiency"].get<double>(), std::nullopt,
                          std::nullopt, format_percent(s["efficiency"].get<double>())});
    if (auto value = number_at(s, "efficiency_vs_hindsight")) {
      hindsight_efficiency.push_back(
          {name, color_of(i), *value, std::nullopt, std::nullopt, format_percent(*value)});
    }
  }
  std::vector<std::pair<double, std::string>> makespan_markers{
      {bound, "bound " + format_seconds(bound)}};
  for (const auto& reference : reference_lines(results)) {
    makespan_markers.emplace_back(reference.makespan_ms,
                                  reference.name + " " + format_seconds(reference.makespan_ms));
    makespan_max = std::max(makespan_max, reference.makespan_ms);
  }
  std::string out = "<div class=\"grid\">\n";
  out +=
      "<figure><figcaption>Makespan: first arrival to last image settled (lower is "
      "better; whiskers: min to max over repetitions)</figcaption>\n";
  out += scroll(bar_chart("makespan", "Makespan per strategy", "makespan (s)", makespan,
                          makespan_max, seconds_label, makespan_markers));
  out +=
      "</figure>\n<figure><figcaption>Success rate: delivered / requested (higher is "
      "better)</figcaption>\n";
  out += scroll(bar_chart("success-rate", "Success rate per strategy", "images delivered (%)",
                          success, 1.0, percent_label, {}));
  out +=
      "</figure>\n<figure><figcaption>Efficiency: success rate × min(1, bound / makespan); "
      "100% means every image delivered at the bound</figcaption>\n";
  out += scroll(bar_chart("efficiency", "Efficiency against the bound", "efficiency (%)",
                          efficiency, 1.0, percent_label, {{1.0, "bound"}}));
  if (hindsight_efficiency.size() == strategies.size()) {
    out +=
        "</figure>\n<figure><figcaption>Efficiency against the hindsight-best static strategy: "
        "success rate × min(1, its makespan / the strategy's)</figcaption>\n";
    out += scroll(bar_chart("efficiency-hindsight", "Efficiency against the hindsight-best",
                            "efficiency (% of hindsight-best)", hindsight_efficiency, 1.0,
                            percent_label, {{1.0, "hindsight-best"}}));
  }
  out += "</figure>\n</div>\n";
  return out;
}

// Markers of the timeline, drawn the same way in the legend and in the rows.
std::string marker(const std::string& kind, double x, double y, const std::string& tip) {
  const std::string title = tip.empty() ? "" : "<title>" + esc(tip) + "</title>";
  const std::string cls = "m-" + kind;
  if (kind == "submit") {
    return "<rect x=\"" + px(x - 1) + "\" y=\"" + px(y - 7) +
           "\" width=\"2.5\" height=\"14\" class=\"" + cls + "\">" + title + "</rect>";
  }
  if (kind == "poll") {
    return "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"2.6\" class=\"" + cls + "\">" +
           title + "</circle>";
  }
  if (kind == "429") {
    return "<polygon points=\"" + px(x) + "," + px(y - 5) + " " + px(x + 5) + "," + px(y) + " " +
           px(x) + "," + px(y + 5) + " " + px(x - 5) + "," + px(y) + "\" class=\"" + cls + "\">" +
           title + "</polygon>";
  }
  if (kind == "retry") {
    return "<polygon points=\"" + px(x) + "," + px(y - 5) + " " + px(x + 6) + "," + px(y) + " " +
           px(x) + "," + px(y + 5) + "\" class=\"" + cls + "\">" + title + "</polygon>";
  }
  if (kind == "download") {
    return "<rect x=\"" + px(x - 4) + "\" y=\"" + px(y - 4) +
           "\" width=\"8\" height=\"8\" class=\"" + cls + "\">" + title + "</rect>";
  }
  if (kind == "permit") {
    return "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"3\" class=\"" + cls + "\">" +
           title + "</circle>";
  }
  // error and failed: a cross.
  return "<path d=\"M" + px(x - 4) + " " + px(y - 4) + " L" + px(x + 4) + " " + px(y + 4) + " M" +
         px(x - 4) + " " + px(y + 4) + " L" + px(x + 4) + " " + px(y - 4) + "\" class=\"" + cls +
         "\">" + title + "</path>";
}

std::optional<double> parse_ms(const std::string& detail) {
  // Retry details carry the wait in ms, possibly followed by words ("2000", "2000 ms").
  std::size_t used = 0;
  try {
    const double v = std::stod(detail, &used);
    if (used > 0 && v >= 0) {
      return v;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

double timeline_end(const json& strategies) {
  double end = 0;
  for (const auto& s : strategies) {
    if (!s.contains("image_records")) {
      continue;
    }
    for (const auto& record : s["image_records"]) {
      end = std::max(end, record["finished_at_ms"].get<double>());
      for (const auto& event : record["trace"]) {
        double t = event["t_ms"].get<double>();
        if (event["event"] == "retry") {
          t += parse_ms(event.value("detail", "")).value_or(0);
        }
        end = std::max(end, t);
      }
    }
  }
  return end;
}

constexpr std::size_t max_timeline_rows = 200;

std::string timeline(const json& strategy, double end_ms) {
  const std::string name = strategy["name"].get<std::string>();
  const json records =
      strategy.contains("image_records") ? strategy["image_records"] : json::array();
  const std::size_t rows = std::min(records.size(), max_timeline_rows);
  const double row = 22, left = 60, right = 1180, width = 1200;
  // Legend strip: every glyph the rows draw (lanes, bars, markers), wrapped onto as many lines
  // as it needs. Each item is drawn at (lx, ly) by `shape`.
  std::string legend = "<g class=\"legend-strip\">\n";
  double lx = left;
  double ly = 14;
  auto legend_item = [&](const std::function<std::string(double, double)>& shape,
                         const std::string& label) {
    // About 7 px per character of the 12 px legend font.
    const double item_width = 24 + 7.0 * static_cast<double>(label.size());
    if (lx > left && lx + item_width > right) {
      lx = left;
      ly += 20;
    }
    legend += shape(lx, ly) + text_at(lx + 16, ly + 4, label, "legend") + "\n";
    lx += item_width;
  };
  legend_item([](double lx, double ly) { return line(lx, ly, lx + 12, ly, "lane"); },
              "waiting (queued to settled)");
  legend_item([](double lx, double ly) { return line(lx, ly, lx + 12, ly, "lane failed"); },
              "waiting, image failed");
  legend_item([](double lx, double ly) { return rect(lx, ly - 5, 12, 10, "attempt"); },
              "task in flight (submit to download)");
  legend_item([](double lx, double ly) { return rect(lx, ly - 5, 12, 10, "attempt rejected"); },
              "attempt rejected (429, error, failed)");
  legend_item([](double lx, double ly) { return rect(lx, ly - 5, 12, 10, "retry-wait"); },
              "retry back-off");
  for (const auto& [kind, label] :
       std::vector<std::pair<std::string, std::string>>{{"permit", "permit"},
                                                        {"submit", "submit"},
                                                        {"poll", "poll"},
                                                        {"429", "HTTP 429"},
                                                        {"retry", "retry"},
                                                        {"error", "error"},
                                                        {"download", "download"},
                                                        {"failed", "failed"}}) {
    legend_item([&kind = kind](double lx, double ly) { return marker(kind, lx + 6, ly, ""); },
                label);
  }
  legend += "</g>\n";
  const double top = ly + 26;
  const double bottom = top + row * static_cast<double>(std::max<std::size_t>(rows, 1)) + 4;
  const double height = bottom + 48;
  const axis xa = nice_axis(end_ms > 0 ? end_ms : 1000, 10);
  const linear x{0, xa.max, left, right};
  std::string out = svg_open("timeline", width, height, "Timeline of each image: " + name,
                             " data-strategy=\"" + esc(name) + "\"");
  out += legend;

  out += x_axis(x, xa, bottom, top, seconds_label, "scenario time (s)");
  if (records.empty()) {
    out += text_at((left + right) / 2, top + 12, "no image records", "note", "middle") + "\n";
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const auto& record = records[r];
    const double yc = top + row * static_cast<double>(r) + row / 2;
    const bool failed = record["status"] == "failed";
    const std::string label = "#" + format_exact(record["index"].get<double>());
    if (rows <= 40 || r % 5 == 0) {
      out += text_at(left - 6, yc + 4, label, "row-label", "end");
    }
    out += line(x(record["queued_at_ms"].get<double>()), yc,
                x(record["finished_at_ms"].get<double>()), yc, failed ? "lane failed" : "lane");
    std::string bars, marks;
    std::optional<double> open;
    auto close = [&](double t, bool ok) {
      if (open) {
        bars += rect(x(*open), yc - 5, x(t) - x(*open), 10, ok ? "attempt" : "attempt rejected");
        open.reset();
      }
    };
    std::vector<json> events(record["trace"].begin(), record["trace"].end());
    std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
      return a["t_ms"].get<double>() < b["t_ms"].get<double>();
    });
    for (const auto& event : events) {
      const double t = event["t_ms"].get<double>();
      const std::string kind = event["event"].get<std::string>();
      const std::string detail = event.contains("detail") && event["detail"].is_string()
                                     ? event["detail"].get<std::string>()
                                     : "";
      const std::string tip =
          label + " at " + format_seconds(t) + ": " + kind + (detail.empty() ? "" : " " + detail);
      if (kind == "submit") {
        close(t, false);
        open = t;
        marks += marker("submit", x(t), yc, tip);
      } else if (kind == "poll" || kind == "permit" || kind == "download") {
        if (kind == "download") {
          close(t, true);
        }
        marks += marker(kind, x(t), yc, tip);
      } else if (kind == "429" || kind == "error") {
        close(t, false);
        marks += marker(kind, x(t), yc, tip);
      } else if (kind == "retry") {
        if (auto wait = parse_ms(detail)) {
          bars += rect(x(t), yc - 3, x(t + *wait) - x(t), 6, "retry-wait");
        }
        marks += marker("retry", x(t), yc, tip);
      } else if (kind == "delivered") {
        close(t, true);
      } else if (kind == "failed" || kind == "cancelled") {
        close(t, false);
        marks += marker("failed", x(t), yc, tip);
      }
    }
    close(record["finished_at_ms"].get<double>(), !failed);
    if (failed) {
      // Say why at the end of the row: markers at one instant overlap.
      const std::string why = record.contains("error_class") && record["error_class"].is_string()
                                  ? record["error_class"].get<std::string>()
                                  : std::string("failed");
      marks += text_at(x(record["finished_at_ms"].get<double>()) + 9, yc + 4, "failed: " + why,
                       "fail-label");
    }
    out += bars + marks + "\n";
  }
  if (records.size() > rows) {
    out += text_at(right, height - 6,
                   "showing the first " + std::to_string(rows) + " of " +
                       std::to_string(records.size()) + " images",
                   "note", "end") +
           "\n";
  }
  out += "</svg>\n";
  return out;
}

const char* const style = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
  max-width: 1240px; margin: 24px auto; padding: 0 16px; line-height: 1.4; overflow-wrap: anywhere; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 4px; }
.meta { color: #555; margin-top: 0; }
.recommendation { font-size: 16px; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; overflow-wrap: normal; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f4f4f4; }
td.name, th.name { text-align: left; white-space: nowrap; }
td.best { text-align: left; min-width: 12em; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.fail { color: #b00020; font-weight: bold; }
.pass { color: #1b7f3b; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(390px, 1fr)); gap: 12px; }
figure { margin: 0; min-width: 0; }
figcaption { font-size: 13px; color: #444; margin-bottom: 4px; }
svg.chart { display: block; max-width: none; background: #fff; }
svg text { font-size: 12px; fill: #222; }
svg .tick { font-size: 11px; fill: #555; }
svg .axis-title { font-size: 12px; fill: #333; }
svg .note { font-size: 11px; fill: #777; }
svg .value { font-size: 11px; }
svg .row-label { font-size: 11px; fill: #666; }
svg .fail-label { font-size: 11px; fill: #b00020; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .grid { stroke: #e6e6e6; stroke-width: 1; }
svg .cdf-line { fill: none; stroke-width: 2.2; }
svg .legend-line { stroke-width: 3; }
svg .whisker { stroke: #333; stroke-width: 1.2; }
svg .bound { stroke: #b00020; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .bound-label { font-size: 11px; fill: #b00020; }
svg .lane { stroke: #bbb; stroke-width: 1.5; }
svg .lane.failed { stroke: #b00020; stroke-dasharray: 3 2; }
svg .attempt { fill: #9cc9ea; }
svg .attempt.rejected { fill: #f3b9a4; }
svg .retry-wait { fill: #f5c964; }
svg .m-submit { fill: #0072B2; }
svg .m-poll { fill: #555; }
svg .m-permit { fill: #fff; stroke: #555; stroke-width: 1; }
svg .m-429 { fill: #D55E00; }
svg .m-retry { fill: #E69F00; stroke: #8a5a00; stroke-width: 0.8; }
svg .m-error { stroke: #7f0000; stroke-width: 2; fill: none; }
svg .m-failed { stroke: #000; stroke-width: 2.5; fill: none; }
svg .m-download { fill: #009E73; }
)";

/// The shared vs independent limiters of a several-client scenario (reports/limiters.hpp);
/// empty otherwise.
std::string limiter_section(const nlohmann::json& results) {
  const auto table = limiter_comparison(results);
  if (!table) {
    return "";
  }
  std::string out =
      "<h2>" + esc(table->title) + "</h2>\n<div class=\"scroll\"><table>\n<thead><tr>";
  for (std::size_t c = 0; c < table->header.size(); ++c) {
    out += (c == 0 ? "<th class=\"name\">" : "<th>") + esc(table->header[c]) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : table->rows) {
    out += "<tr>";
    for (std::size_t c = 0; c < row.size(); ++c) {
      out += (c == 0 ? "<td class=\"name\">" : "<td>") + esc(row[c]) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table></div>\n<p class=\"meta\">" + esc(table->note) + "</p>\n";
}

}  // namespace

result<std::string> render_html(const nlohmann::json& results) {
  ZBATCH_RETURN_IF_ERROR(validate_results(results, "results"));
  const auto& strategies = results["strategies"];
  const std::string name = results["scenario"]["name"].get<std::string>();
  std::string out =
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
      "<meta charset=\"utf-8\"/>\n<title>" +
      esc("zbatch report: " + name) + "</title>\n<style>" + style + "</style>\n</head>\n<body>\n";
  out += "<h1>" + esc("Scenario " + name) + "</h1>\n";
  // The report opens with the recommendation; the findings below repeat it in context.
  for (const auto& sentence : recommendation(results)) {
    out += "<p class=\"recommendation\"><strong>" + esc(sentence) + "</strong></p>\n";
  }
  for (const auto& warning : run_warnings(results)) {
    out += "<p class=\"recommendation\">" + esc(warning) + "</p>\n";
  }
  std::string meta = "mode " + results["mode"].get<std::string>() + ", seed " +
                     results["seed"].dump() + ", " + std::to_string(strategies[0]["runs"].size()) +
                     " repetition(s); bound " +
                     format_seconds(results["bound"]["makespan_ms"].get<double>());
  if (results["bound"].contains("explanation") && results["bound"]["explanation"].is_string()) {
    meta += " (" + results["bound"]["explanation"].get<std::string>() + ")";
  }
  out += "<p class=\"meta\">" + esc(meta) +
         ". Times are scenario time; table values are means over repetitions.</p>\n";
  for (const auto& reference : reference_lines(results)) {
    out += "<p class=\"meta\">" +
           esc("Reference " + reference.name + ": " + format_seconds(reference.makespan_ms) + " (" +
               reference.detail + ")") +
           (reference.spec.empty() ? "" : ": <code>" + esc(reference.spec) + "</code>") + ".</p>\n";
  }
  if (results["scenario"].contains("description") &&
      results["scenario"]["description"].is_string()) {
    out += "<p>" + esc(results["scenario"]["description"].get<std::string>()) + "</p>\n";
  }

  // One table, then at most three findings; the details (winners, facts per strategy) below the
  // charts.
  out +=
      "<h2>Summary</h2>\n<div class=\"scroll\"><table class=\"strategies\">\n<thead><tr><th "
      "class=\"name\">strategy</th><th>delivered</th>";
  const auto metrics = metrics_in(metric_view::report, results);
  for (const auto& metric : metrics) {
    out += "<th>" + esc(name_in(metric, metric_view::report)) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const auto& s = strategies[i];
    out += "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:" + color_of(i) +
           "\"></span>" + esc(s["name"].get<std::string>()) + "</td><td>" +
           format_decimal(s["delivered"].get<double>(), 1) + "/" +
           format_decimal(s["images"].get<double>(), 0) + "</td>";
    for (const auto& metric : metrics) {
      const std::string cell = metric_cell(metric, s, results, metric_view::report);
      out +=
          (cell == no_images ? "<td title=\"no images delivered\">" : "<td>") + esc(cell) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table></div>\n";
  for (const auto& note : table_notes(results)) {
    out += "<p class=\"meta\">" + esc(note) + "</p>\n";
  }
  out += "<ul class=\"findings\">\n";
  for (const auto& sentence : key_findings(results)) {
    out += "<li>" + esc(sentence) + "</li>\n";
  }
  out += "</ul>\n";
  out += limiter_section(results);

  out +=
      "<h2>Latency</h2>\n<figure><figcaption>Latency CDF: the share of requested images "
      "delivered within each latency; a curve ending below 100% lost images</figcaption>\n";
  out += scroll(latency_cdf(strategies, strategies[0]["runs"].size()));
  out += "</figure>\n";
  out += "<h2>Throughput and completeness</h2>\n" + bar_charts(results);

  out +=
      "<h2>Details</h2>\n<h3>Winner per metric</h3>\n<div class=\"scroll\"><table "
      "class=\"winners\">\n<thead><tr><th class=\"name\">metric</th><th "
      "class=\"name\">best</th><th>value</th></tr></thead>\n<tbody>\n";
  for (const auto& w : winners(results)) {
    std::string all_names;
    for (const auto& n : w.names) {
      all_names += (all_names.empty() ? "" : ", ") + n;
    }
    const std::string text = winner_text(w);
    out += "<tr><td class=\"name\">" +
           esc(name_in(w.metric, metric_view::report) +
               (w.metric.higher_is_better ? " (higher is better)" : " (lower is better)")) +
           "</td><td class=\"best\"" +
           (text != all_names && !all_names.empty() ? " title=\"" + esc(all_names) + "\"" : "") +
           ">" + esc(text) + "</td><td>" +
           esc(format_metric(w.metric, w.value, metric_view::report)) + "</td></tr>\n";
  }
  out += "</tbody>\n</table></div>\n<p class=\"meta\">" + esc(winner_rule(results)) + "</p>\n";
  out += "<h3>Per strategy</h3>\n<ul>\n";
  for (const auto& sentence : findings(results)) {
    out += "<li>" + esc(sentence) + "</li>\n";
  }
  out += "</ul>\n";

  out +=
      "<h2>Timelines</h2>\n<p class=\"meta\">One row per image of the first repetition, on a "
      "shared time axis.</p>\n";
  const double end_ms = timeline_end(strategies);
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const auto& s = strategies[i];
    out += "<h3><span class=\"swatch\" style=\"background:" + color_of(i) + "\"></span>" +
           esc(s["name"].get<std::string>() + (s.contains("spec") && s["spec"].is_string()
                                                   ? " (" + s["spec"].get<std::string>() + ")"
                                                   : "")) +
           "</h3>\n";
    out += scroll(timeline(s, end_ms));
  }

  if (results.contains("thresholds") && !results["thresholds"].empty()) {
    out +=
        "<h2>Thresholds</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th "
        "class=\"name\">threshold</th>"
        "<th>measured</th><th class=\"name\">result</th></tr></thead>\n<tbody>\n";
    for (const auto& t : results["thresholds"]) {
      const bool passed = t["passed"].get<bool>();
      out +=
          "<tr><td class=\"name\">" + esc(t["expr"].get<std::string>()) + "</td><td>" +
          esc(t["value"].is_number() ? format_decimal(t["value"].get<double>(), 3) : "no value") +
          "</td><td class=\"name " + (passed ? "pass" : "fail") + "\">" +
          (passed ? "pass" : "FAIL") + "</td></tr>\n";
    }
    out += "</tbody>\n</table></div>\n";
  }
  out += "<p class=\"meta\">" +
         esc("Generated by " +
             (results.contains("tool") && results["tool"].is_string()
                  ? results["tool"].get<std::string>()
                  : std::string("zbatch")) +
             " from results.json (schema version " + results["schema_version"].dump() + ").") +
         "</p>\n</body>\n</html>\n";
  return out;
}

}  // namespace zbatch::reports
