#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "reports/render.hpp"
#include "reports/results.hpp"
#include "reports/terminal.hpp"
#include "tests/reports/test_util.hpp"
#include "tests/reports/xml_check.hpp"

namespace zbatch::reports {
namespace {

using testing::five_repetitions;
using testing::parse_xml;
using testing::read_fixture;
using testing::xml_node;

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// RFC 4180 reader for the checks: rows of fields, quotes undone, CRLF line ends required.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      EXPECT_TRUE(field.empty()) << "quote inside an unquoted field at " << i;
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\r') {
      EXPECT_LT(i + 1, text.size());
      EXPECT_EQ(text[i + 1], '\n') << "CR without LF at " << i;
      ++i;
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
    } else {
      EXPECT_NE(c, '\n') << "bare LF outside quotes at " << i;
      field += c;
    }
  }
  EXPECT_FALSE(quoted);
  EXPECT_TRUE(row.empty() && field.empty()) << "last row without CRLF";
  return rows;
}

std::vector<const xml_node*> charts(const xml_node& root, const std::string& chart) {
  return root.find_all(
      [&](const xml_node& n) { return n.name == "svg" && n.attribute("data-chart") == chart; });
}

std::vector<const xml_node*> with_class(const xml_node& root, const std::string& cls) {
  return root.find_all([&](const xml_node& n) {
    const std::string c = n.attribute("class");
    return c == cls || c.rfind(cls + " ", 0) == 0;
  });
}

// The y coordinate (SVG: larger is lower) of a polyline's last point.
double last_y(const xml_node& polyline) {
  const std::string points = polyline.attribute("points");
  const auto comma = points.rfind(',');
  return std::stod(points.substr(comma + 1));
}

// A new user's check: images the client never sent once the day's calls were spent read
// "lost to 429 (quota)" beside a 429 count of 0.
TEST(render_markdown, images_stopped_by_the_quota_are_named_as_such_not_as_429s) {
  auto results = read_fixture("results-mixed.json");
  auto& concurrent = results["strategies"][1];
  for (auto& [key, value] : concurrent["failed_by_reason"].items()) {
    value = key == "quota_429" ? concurrent["failed"] : nlohmann::json(0);
  }
  const auto md = render_markdown(results).value();
  EXPECT_NE(md.find("concurrent lost 1.7 of 4 images to the daily quota (a quota 429, or not sent "
                    "once no calls were left)"),
            std::string::npos)
      << md;
}

TEST(render_markdown, mixed_fixture_has_table_winners_findings_and_thresholds) {
  const std::string md = render_markdown(read_fixture("results-mixed.json")).value();
  EXPECT_NE(md.find("# Scenario preview-4"), std::string::npos);
  // One table row per strategy.
  EXPECT_NE(md.find("| serial | 4/4 | 100% | 12.4 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| concurrent | 2.3/4 | 58.3% | 3.2 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| adaptive | 4/4 | 100% | 6.3 s |"), std::string::npos) << md;
  // Winners: ties listed together; lower-is-better metrics pick the smallest.
  EXPECT_NE(md.find("| success rate (higher is better) | serial, adaptive | 100% |"),
            std::string::npos)
      << md;
  // concurrent (58.3% delivered) is faster but lost images: it cannot win the speed metrics.
  EXPECT_NE(md.find("| makespan (lower is better) | adaptive | 6.3 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| p50 latency (lower is better) | adaptive | 3.0 s |"), std::string::npos)
      << md;
  EXPECT_EQ(md.find("| concurrent (delivered"), std::string::npos) << md;
  EXPECT_NE(md.find("Only strategies within 0.5% of the best success rate (100%) can win the "
                    "other metrics"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| HTTP 429 (lower is better) | serial | 0 |"), std::string::npos);
  // Findings computed from the data.
  EXPECT_NE(md.find("concurrent lost 1.7 of 4 images to 429 (dynamic)"), std::string::npos) << md;
  EXPECT_NE(md.find("serial delivered all 4 images; it took 12.4 s (mean of 3 repetitions), "
                    "2.1× the bound of 6.0 s."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("it took 3.2 s (mean of 3 repetitions), 0.53× the bound of 6.0 s (failed "
                    "images, 1.7 of them, end early; the service may also have held more than "
                    "one task)."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("adaptive met 1.3 HTTP 429s (1.3 dynamic, 0 quota) and retried 1.7 times, "
                    "submitting 1.08 times per delivered image"),
            std::string::npos)
      << md;
  // 3 and 3 repetitions are too few for a test: the faster, its lead untested.
  EXPECT_NE(md.find("Recommendation: adaptive, the fastest strategy that delivered every "
                    "deliverable image: 6.3 s against 12.4 s for serial (49% less time), a lead "
                    "untested with 3 repetitions each"),
            std::string::npos)
      << md;
  EXPECT_EQ(count(md, "**FAIL**"), 2u);
  EXPECT_EQ(count(md, "| pass |"), 2u);
}

TEST(render_markdown, escapes_table_breaking_names) {
  auto results = read_fixture("results-single.json");
  results["strategies"][0]["name"] = "a|b *c*";
  const std::string md = render_markdown(results).value();
  EXPECT_NE(md.find("| a\\|b \\*c\\* | 2/2 |"), std::string::npos) << md;
}

TEST(render_html, is_well_formed_and_self_contained) {
  const std::string html = render_html(read_fixture("results-mixed.json")).value();
  ASSERT_NO_THROW(parse_xml(html));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  // The only URLs are XML namespace names, which are never fetched.
  std::size_t urls = count(html, "http://") + count(html, "https://");
  EXPECT_EQ(urls, count(html, "xmlns=\"http://www.w3.org/"));
}

TEST(render_html, has_one_svg_per_chart_with_the_expected_series) {
  const auto results = read_fixture("results-mixed.json");
  const auto root = parse_xml(render_html(results).value());
  std::vector<std::string> names;
  for (const auto& s : results["strategies"]) {
    names.push_back(s["name"]);
  }

  const auto cdf = charts(*root, "latency-cdf");
  ASSERT_EQ(cdf.size(), 1u);
  const auto lines = with_class(*cdf[0], "cdf-line");
  ASSERT_EQ(lines.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(lines[i]->name, "polyline");
    EXPECT_EQ(lines[i]->attribute("data-strategy"), names[i]);
  }
  // concurrent delivered 2 of 4 images in its first repetition: its curve ends lower (larger y)
  // than serial's, which reaches 100%.
  EXPECT_GT(last_y(*lines[1]), last_y(*lines[0]));
  EXPECT_DOUBLE_EQ(last_y(*lines[0]), last_y(*lines[2]));
  EXPECT_NE(cdf[0]->all_text().find("latency from queued to delivered (s)"), std::string::npos);

  for (const char* chart : {"makespan", "success-rate", "efficiency"}) {
    const auto svg = charts(*root, chart);
    ASSERT_EQ(svg.size(), 1u) << chart;
    const auto bars = with_class(*svg[0], "bar");
    ASSERT_EQ(bars.size(), names.size()) << chart;
    for (std::size_t i = 0; i < names.size(); ++i) {
      EXPECT_EQ(bars[i]->attribute("data-strategy"), names[i]) << chart;
    }
    // The bound is marked on makespan and efficiency.
    const bool marked = std::string(chart) != "success-rate";
    EXPECT_EQ(with_class(*svg[0], "bound").size(), marked ? 1u : 0u) << chart;
  }
  // Bars are proportional: adaptive's makespan bar is about half serial's (6.3 s vs 12.4 s).
  const auto makespan_bars = with_class(*charts(*root, "makespan")[0], "bar");
  const double serial_width = std::stod(makespan_bars[0]->attribute("width"));
  const double adaptive_width = std::stod(makespan_bars[2]->attribute("width"));
  EXPECT_NEAR(adaptive_width / serial_width, 6300.0 / 12400.0, 0.01);
  EXPECT_NE(charts(*root, "makespan")[0]->all_text().find("makespan (s)"), std::string::npos);
  EXPECT_NE(charts(*root, "makespan")[0]->all_text().find("bound 6.0 s"), std::string::npos);

  const auto timelines = charts(*root, "timeline");
  ASSERT_EQ(timelines.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(timelines[i]->attribute("data-strategy"), names[i]);
    EXPECT_NE(timelines[i]->all_text().find("scenario time (s)"), std::string::npos);
  }
  // Markers follow the traces (the legend draws one of each kind as well).
  auto markers = [&](std::size_t strategy, const std::string& kind) {
    return with_class(*timelines[strategy], kind).size() - 1;
  };
  EXPECT_EQ(markers(0, "m-submit"), 4u);
  EXPECT_EQ(markers(0, "m-poll"), 12u);
  EXPECT_EQ(markers(0, "m-download"), 4u);
  EXPECT_EQ(markers(0, "m-429"), 0u);
  EXPECT_EQ(markers(1, "m-429"), 2u);
  EXPECT_EQ(markers(1, "m-failed"), 2u);
  EXPECT_EQ(markers(1, "lane failed"), 2u);
  EXPECT_EQ(markers(2, "m-submit"), 5u);
  EXPECT_EQ(markers(2, "m-429"), 1u);
  EXPECT_EQ(markers(2, "m-retry"), 1u);
  EXPECT_EQ(markers(2, "retry-wait"), 1u);
  EXPECT_EQ(markers(2, "m-failed"), 0u);
  // One row label per image.
  EXPECT_EQ(with_class(*timelines[2], "row-label").size(), 4u);
}

// Issue 16: the report leads with its answer and says only what its figures show.

// results-mixed.json with concurrent delivering nothing: the runner then writes 0 latencies.
nlohmann::json with_nothing_delivered() {
  auto results = read_fixture("results-mixed.json");
  auto empty = [](nlohmann::json& s) {
    s["delivered"] = 0;
    s["failed"] = 4;
    s["success_rate"] = 0.0;
    s["efficiency"] = 0.0;
    s["time_to_first_image_ms"] = nullptr;
    for (auto& [key, value] : s["latency_ms"].items()) {
      value = 0;
    }
  };
  auto& concurrent = results["strategies"][1];
  empty(concurrent);
  for (auto& run : concurrent["runs"]) {
    empty(run);
  }
  return results;
}

// Characters on screen of UTF-8 text.
std::size_t columns(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

TEST(render_issue16, nothing_delivered_shows_a_dash_not_zero_seconds_everywhere) {
  const auto results = with_nothing_delivered();
  const std::string md = render_markdown(results).value();
  EXPECT_NE(md.find("| concurrent | 0/4 | 0% | 3.2 s | 0% | – | – | – | – |"), std::string::npos)
      << md;
  EXPECT_EQ(md.find("| concurrent | 0/4 | 0% | 3.2 s | 0% | 0.0 s"), std::string::npos) << md;
  EXPECT_NE(md.find("– (no images): concurrent delivered no image"), std::string::npos) << md;

  const auto root = parse_xml(render_html(results).value());
  const auto dashes = root->find_all([](const xml_node& n) {
    return n.name == "td" && n.attribute("title") == "no images delivered";
  });
  ASSERT_EQ(dashes.size(), 4u);  // time to first image, p50, p95, p99.
  for (const auto* cell : dashes) {
    EXPECT_EQ(cell->all_text(), "–");
  }

  const std::string text = terminal_table(results);
  const auto row = text.find("\nconcurrent ");
  ASSERT_NE(row, std::string::npos) << text;
  const std::string line = text.substr(row + 1, text.find('\n', row + 1) - row - 1);
  EXPECT_NE(line.find("  –"), std::string::npos) << line;
  EXPECT_EQ(count(line, "–"), 4u) << line;  // first s, p50, p95, p99; no "0.0".
  // The dash is one column wide: every row of the table keeps the header's width.
  const std::string header = text.substr(text.find("strategy"), std::string::npos);
  EXPECT_EQ(columns(line), columns(header.substr(0, header.find('\n')))) << text;
  EXPECT_NE(text.find("– (no images): concurrent delivered no image"), std::string::npos) << text;

  const auto rows = parse_csv(render_csv(results).value());
  const auto& head = rows[0];
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(head.begin(), head.end(), name) - head.begin());
  };
  for (std::size_t r = 4; r <= 6; ++r) {  // concurrent's three repetitions.
    EXPECT_EQ(rows[r][column("strategy")], "concurrent");
    EXPECT_EQ(rows[r][column("latency_p50_ms")], "");
    EXPECT_EQ(rows[r][column("latency_p95_ms")], "");
  }
  EXPECT_EQ(rows[1][column("latency_p50_ms")], "6200");
}

TEST(render_issue16, markdown_and_html_lead_with_recommendation_then_table_then_findings) {
  auto results = five_repetitions(read_fixture("results-mixed.json"));
  results["hindsight"]["best"] =
      nlohmann::json{{"name", "static-2"}, {"makespan_ms", 5000}, {"spec", "inflight=2"}};
  const std::string md = render_markdown(results).value();
  const auto advice = md.find("**Recommendation: adaptive");
  const auto table = md.find("| Strategy | Delivered |");
  const auto first_finding = md.find("- adaptive delivered 4 of 4 images in 6.3 s");
  const auto details = md.find("## Details");
  ASSERT_NE(advice, std::string::npos) << md;
  ASSERT_NE(table, std::string::npos) << md;
  ASSERT_NE(first_finding, std::string::npos) << md;
  ASSERT_NE(details, std::string::npos) << md;
  EXPECT_LT(advice, table);
  EXPECT_LT(table, first_finding);
  EXPECT_LT(first_finding, details);
  EXPECT_LT(details, md.find("| Metric | Best | Value |"));
  EXPECT_LT(details, md.find("- serial delivered all 4 images; it took 12.4 s"));
  // At most three findings between the table and the details; one table before them.
  const std::string summary = md.substr(table, details - table);
  EXPECT_LE(count(summary, "\n- "), 3u) << summary;
  EXPECT_EQ(count(md.substr(0, details), "\n|---"), 1u);
  EXPECT_NE(summary.find("49% less time than serial (12.4 s)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("concurrent lost 1.7 of 4 images and met 1.7 HTTP 429s"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("adaptive took 6.3 s, 1.26× as long as the hindsight-best static-2 "
                         "(5.0 s)"),
            std::string::npos)
      << summary;

  const std::string html = render_html(results).value();
  const auto h_advice = html.find("Recommendation: adaptive");
  const auto h_table = html.find("<table class=\"strategies\">");
  const auto h_findings = html.find("<ul class=\"findings\">");
  const auto h_details = html.find("<h2>Details</h2>");
  ASSERT_NE(h_table, std::string::npos);
  ASSERT_NE(h_findings, std::string::npos);
  ASSERT_NE(h_details, std::string::npos);
  EXPECT_LT(h_advice, h_table);
  EXPECT_LT(h_table, h_findings);
  EXPECT_LT(h_findings, h_details);
  EXPECT_EQ(html.find("<table", h_table + 1), html.find("<table class=\"winners\">"));
  EXPECT_GT(html.find("<table class=\"winners\">"), h_details);
  const auto root = parse_xml(html);
  const auto lists = root->find_all(
      [](const xml_node& n) { return n.name == "ul" && n.attribute("class") == "findings"; });
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_GE(lists[0]->find_all("li").size(), 1u);
  EXPECT_LE(lists[0]->find_all("li").size(), 3u);
}

TEST(render_issue16, efficiency_captions_state_the_formula_the_figures_use) {
  auto results = read_fixture("results-mixed.json");
  for (auto& s : results["strategies"]) {
    s["efficiency_vs_hindsight"] = 0.5;
  }
  results["hindsight"]["best"] = nlohmann::json{{"name", "static-2"}, {"makespan_ms", 5000}};
  const std::string html = render_html(results).value();
  EXPECT_NE(html.find("Efficiency: success rate × min(1, bound / makespan)"), std::string::npos);
  EXPECT_EQ(html.find("Efficiency: bound / makespan"), std::string::npos);
  EXPECT_NE(html.find("success rate × min(1, its makespan / the strategy's)"), std::string::npos);
}

TEST(render_issue16, many_tied_winners_collapse_to_a_count) {
  auto results = read_fixture("results-mixed.json");
  auto serial = results["strategies"][0];
  results["strategies"] = nlohmann::json::array();
  for (const char* name : {"s1", "s2", "s3", "s4", "s5"}) {
    serial["name"] = name;
    results["strategies"].push_back(serial);
  }
  const std::string md = render_markdown(results).value();
  EXPECT_NE(md.find("| makespan (lower is better) | 5 strategies tie | 12.4 s |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("s1, s2, s3, s4, s5"), std::string::npos) << md;
  const auto root = parse_xml(render_html(results).value());
  const auto best = root->find_all([](const xml_node& n) {
    return n.name == "td" && n.attribute("class") == "best" && n.all_text() == "5 strategies tie";
  });
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best[0]->attribute("title"), "s1, s2, s3, s4, s5");
  // Three still fit: they are named.
  results["strategies"].erase(3);
  results["strategies"].erase(3);
  EXPECT_NE(render_markdown(results).value().find("| makespan (lower is better) | s1, s2, s3 |"),
            std::string::npos);
}

TEST(render_issue16, timeline_legend_shows_every_glyph_the_rows_draw) {
  const auto root = parse_xml(render_html(read_fixture("results-mixed.json")).value());
  const auto timelines = charts(*root, "timeline");
  ASSERT_EQ(timelines.size(), 3u);
  // The glyph classes of the timeline's rows (text and axes aside).
  auto glyph = [](const std::string& cls) {
    return cls.rfind("m-", 0) == 0 || cls.rfind("lane", 0) == 0 || cls.rfind("attempt", 0) == 0 ||
           cls == "retry-wait";
  };
  for (const auto* svg : timelines) {
    const auto legends = with_class(*svg, "legend-strip");
    ASSERT_EQ(legends.size(), 1u);
    std::set<std::string> in_legend;
    for (const auto* n : legends[0]->find_all([](const xml_node&) { return true; })) {
      in_legend.insert(n->attribute("class"));
    }
    for (const auto* n :
         svg->find_all([&](const xml_node& n) { return glyph(n.attribute("class")); })) {
      EXPECT_TRUE(in_legend.count(n->attribute("class")) == 1)
          << svg->attribute("data-strategy") << " draws \"" << n->attribute("class")
          << "\", which its legend does not show";
    }
  }
  // concurrent draws both glyphs the legend used to miss.
  EXPECT_GT(with_class(*timelines[1], "lane failed").size(), 1u);
  EXPECT_GT(with_class(*timelines[1], "attempt rejected").size(), 1u);
}

TEST(render_issue16, credits_on_a_profile_without_quota_are_not_zero) {
  auto results = read_fixture("results-mixed.json");
  for (auto& s : results["strategies"]) {
    s["credits_used"] = 0;
    for (auto& run : s["runs"]) {
      run["credits_used"] = 0;
    }
  }
  const std::string md = render_markdown(results).value();
  EXPECT_NE(md.find("| credits used (lower is better) | no quota in this profile | n/a |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 1.08 | n/a |"), std::string::npos) << md;  // adaptive's row ends so.
  EXPECT_NE(md.find("credits used: n/a, no quota in this profile"), std::string::npos) << md;
  EXPECT_EQ(md.find("credits per delivered image"), std::string::npos) << md;
  const std::string html = render_html(results).value();
  EXPECT_NE(html.find("no quota in this profile"), std::string::npos);
  // A quota profile keeps its figures.
  EXPECT_EQ(render_markdown(read_fixture("results-mixed.json")).value().find("no quota"),
            std::string::npos);
}

TEST(render_issue16, latency_legend_shows_the_plotted_repetition) {
  const auto root = parse_xml(render_html(read_fixture("results-mixed.json")).value());
  const std::string text = charts(*root, "latency-cdf")[0]->all_text();
  // concurrent's p95: 3.1 s in repetition 1 (the curve), 3.2 s as the mean of three.
  EXPECT_NE(text.find("concurrent: 2/4 delivered, p95 3.1 s"), std::string::npos) << text;
  EXPECT_NE(text.find("repetition 1 of 3"), std::string::npos) << text;
}

TEST(render_issue16, tables_and_charts_scroll_inside_their_own_box) {
  const std::string html = render_html(read_fixture("results-mixed.json")).value();
  const auto root = parse_xml(html);
  std::set<const xml_node*> boxed;
  for (const auto* box : root->find_all(
           [](const xml_node& n) { return n.name == "div" && n.attribute("class") == "scroll"; })) {
    for (const auto& child : box->children) {
      boxed.insert(child.get());
    }
  }
  const auto tables = root->find_all("table");
  ASSERT_GE(tables.size(), 3u);
  for (const auto* table : tables) {
    EXPECT_EQ(boxed.count(table), 1u) << "a table outside a scroll box";
  }
  const auto svgs = root->find_all("svg");
  ASSERT_GE(svgs.size(), 7u);
  for (const auto* svg : svgs) {
    EXPECT_EQ(boxed.count(svg), 1u) << svg->attribute("data-chart") << " outside a scroll box";
  }
  EXPECT_NE(html.find(".scroll { overflow-x: auto;"), std::string::npos);
  // Charts keep their pixel size (no shrinking to the page width) and no text is under 11 px.
  EXPECT_EQ(html.find("svg.chart { max-width: 100%"), std::string::npos);
  for (auto at = html.find("font-size: "); at != std::string::npos;
       at = html.find("font-size: ", at + 1)) {
    EXPECT_GE(std::stod(html.substr(at + 11)), 11.0) << html.substr(at, 20);
  }
}

TEST(render_html, escapes_all_text) {
  auto results = read_fixture("results-single.json");
  const std::string evil = "fast <&> \"q\" 'x' </svg>";
  results["strategies"][0]["name"] = evil;
  results["scenario"]["name"] = "s<1>&";
  results["strategies"][0]["image_records"][0]["trace"][1]["detail"] = "<b>&amp;";
  const std::string html = render_html(results).value();
  const auto root = parse_xml(html);  // Throws if anything leaked unescaped.
  const auto cdf = with_class(*charts(*root, "latency-cdf")[0], "cdf-line");
  ASSERT_EQ(cdf.size(), 1u);
  EXPECT_EQ(cdf[0]->attribute("data-strategy"), evil);
  EXPECT_NE(root->all_text().find("Scenario s<1>&"), std::string::npos);
}

TEST(render_html, handles_strategies_without_image_records) {
  const auto root = parse_xml(render_html(read_fixture("results-noisy-base.json")).value());
  EXPECT_EQ(with_class(*charts(*root, "latency-cdf")[0], "cdf-line").size(), 2u);
  EXPECT_EQ(charts(*root, "timeline").size(), 2u);
  EXPECT_NE(root->all_text().find("no image records"), std::string::npos);
}

TEST(render_csv, one_row_per_strategy_and_repetition) {
  const auto rows = parse_csv(render_csv(read_fixture("results-mixed.json")).value());
  ASSERT_EQ(rows.size(), 1u + 3u * 3u);
  const auto& header = rows[0];
  EXPECT_EQ(header[0], "scenario");
  EXPECT_EQ(header[2], "strategy");
  for (const auto& row : rows) {
    EXPECT_EQ(row.size(), header.size());
  }
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  // concurrent, repetition 1: 3 of 4 delivered, one 429.
  const auto& row = rows[5];
  EXPECT_EQ(row[column("strategy")], "concurrent");
  EXPECT_EQ(row[column("repetition")], "1");
  EXPECT_EQ(row[column("seed")], "43");
  EXPECT_EQ(row[column("images")], "4");
  EXPECT_EQ(row[column("delivered")], "3");
  EXPECT_EQ(row[column("success_rate")], "0.75");
  EXPECT_EQ(row[column("http_429_total")], "1");
  EXPECT_EQ(row[column("latency_p95_ms")], "3200");
  EXPECT_EQ(rows[9][column("spec")], "adaptive,start=2,max=4");
}

// A new user's check on four-clients: with `limiter: both` the independent limiters' runs were
// dropped (18 rows, all shared). They follow as rows of their own, told apart by `limiter`.
TEST(render_csv, several_clients_add_the_independent_runs_and_a_limiter_column) {
  auto results = read_fixture("results-mixed.json");
  const auto one_client = parse_csv(render_csv(results).value());
  results["clients"] = 4;
  results["limiter"] = "both";
  for (auto& s : results["strategies"]) {
    auto independent = s;
    independent.erase("image_records");
    for (auto& run : independent["runs"]) {
      run["makespan_ms"] = 99000;
    }
    s["independent"] = independent;
  }
  const auto rows = parse_csv(render_csv(results).value());
  ASSERT_EQ(rows.size(), 1u + 2u * 3u * 3u);
  // The one-client columns keep their places; limiter comes last.
  auto header = rows[0];
  ASSERT_EQ(header.back(), "limiter");
  header.pop_back();
  EXPECT_EQ(header, one_client[0]);
  const auto makespan = static_cast<std::size_t>(
      std::find(header.begin(), header.end(), "makespan_ms") - header.begin());
  EXPECT_EQ(rows[1].back(), "shared");
  EXPECT_NE(rows[1][makespan], "99000");
  EXPECT_EQ(rows[10].back(), "independent");
  EXPECT_EQ(rows[10][2], "serial");
  EXPECT_EQ(rows[10][makespan], "99000");
  EXPECT_EQ(rows[18][2], "adaptive");
  for (const auto& row : rows) {
    EXPECT_EQ(row.size(), rows[0].size());
  }
}

TEST(render_csv, quotes_per_rfc_4180_and_leaves_nulls_empty) {
  auto results = read_fixture("results-single.json");
  results["strategies"][0]["name"] = "say \"hi\", twice\nplease";
  results["strategies"][0]["runs"][0]["time_to_first_image_ms"] = nullptr;
  const std::string csv = render_csv(results).value();
  EXPECT_NE(csv.find("\"say \"\"hi\"\", twice\nplease\""), std::string::npos) << csv;
  const auto rows = parse_csv(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][2], "say \"hi\", twice\nplease");
  const auto ttfi = std::find(rows[0].begin(), rows[0].end(), "time_to_first_image_ms");
  EXPECT_EQ(rows[1][static_cast<std::size_t>(ttfi - rows[0].begin())], "");
}

TEST(render_junit, one_testcase_per_threshold_failures_carry_values) {
  const auto root = parse_xml(render_junit(read_fixture("results-mixed.json")).value());
  EXPECT_EQ(root->name, "testsuites");
  EXPECT_EQ(root->attribute("tests"), "4");
  EXPECT_EQ(root->attribute("failures"), "2");
  const auto cases = root->find_all("testcase");
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[0]->attribute("name"), "adaptive.success_rate >= 0.99");
  const auto failures = root->find_all("failure");
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0]->attribute("message"),
            "measured 0.583, expected concurrent.success_rate >= 0.99");
  EXPECT_EQ(failures[1]->attribute("message"),
            "measured 12400, expected serial.makespan_ms < 10000");
  EXPECT_TRUE(cases[0]->find_all("failure").empty());
}

TEST(render_junit, no_value_and_no_thresholds) {
  auto results = read_fixture("results-single.json");
  results["thresholds"] = {
      {{"expr", "serial.latency_ms.p95 < 1 & x"}, {"passed", false}, {"value", nullptr}}};
  auto root = parse_xml(render_junit(results).value());
  const auto failures = root->find_all("failure");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]->attribute("message"),
            "measured no value, expected serial.latency_ms.p95 < 1 & x");
  results.erase("thresholds");
  root = parse_xml(render_junit(results).value());
  EXPECT_EQ(root->attribute("tests"), "0");
  EXPECT_TRUE(root->find_all("testcase").empty());
}

TEST(render_all, writes_the_four_files) {
  testing::temp_dir dir;
  const auto out = dir.path() / "nested" / "report";
  const auto written = render_all(read_fixture("results-mixed.json"), out).value();
  ASSERT_EQ(written.size(), 4u);
  for (const char* name : {"report.md", "report.html", "results.csv", "junit.xml"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(out / name)) << name;
    EXPECT_GT(std::filesystem::file_size(out / name), 100u) << name;
  }
  EXPECT_EQ(testing::read_file(out / "report.html"),
            render_html(read_fixture("results-mixed.json")).value());
  // The ordered form the runner builds renders the same.
  nlohmann::ordered_json ordered =
      nlohmann::ordered_json::parse(testing::read_file(testing::fixture("results-mixed.json")));
  const auto out2 = dir.path() / "ordered";
  ASSERT_TRUE(render_all(ordered, out2).ok());
  EXPECT_EQ(testing::read_file(out2 / "report.md"), testing::read_file(out / "report.md"));
}

TEST(render_all, bad_input_names_the_field_and_writes_nothing) {
  testing::temp_dir dir;
  auto results = read_fixture("results-mixed.json");
  results["strategies"][1].erase("makespan_ms");
  const auto error = render_all(results, dir.path() / "out").status();
  EXPECT_NE(error.message().find("strategies[1].makespan_ms: is required"), std::string::npos)
      << error.message();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
}

TEST(results, validation_errors_name_origin_and_field) {
  auto expect_error = [](const nlohmann::json& doc, const std::string& needle) {
    const auto error = validate_results(doc, "x.json");
    EXPECT_FALSE(error.ok()) << "accepted; expected " << needle;
    EXPECT_NE(error.message().find("x.json: " + needle), std::string::npos) << error.message();
  };
  auto doc = read_fixture("results-single.json");
  EXPECT_TRUE(validate_results(doc, "x.json").ok());
  auto bad = doc;
  bad["schema_version"] = 2;
  expect_error(bad, "schema_version: is 2, this zbatch reads version 1");
  bad = doc;
  bad["mode"] = "fast";
  expect_error(bad, "mode: has an unknown value \"fast\" (allowed \"sim\", \"http\", \"live\")");
  bad = doc;
  bad["strategies"][0]["runs"][0]["latency_ms"]["p95"] = "slow";
  expect_error(bad, "strategies[0].runs[0].latency_ms.p95: must be a number or null, got \"slow\"");
  bad = doc;
  bad["strategies"][0]["image_records"][1]["trace"][2].erase("t_ms");
  expect_error(bad, "strategies[0].image_records[1].trace[2].t_ms: is required");
  bad = doc;
  bad["strategies"] = nlohmann::json::array();
  expect_error(bad, "strategies: is empty");
  expect_error(nlohmann::json::array(), "(root): must be a JSON object");
}

// A new user's check: a hand-edited negative makespan compared as an improvement, and a
// strategy given twice was taken.
TEST(results, a_negative_figure_or_a_strategy_given_twice_is_refused) {
  auto negative = read_fixture("results-mixed.json");
  negative["strategies"][0]["runs"][0]["makespan_ms"] = -5000;
  const auto why = validate_results(negative, "r.json").message();
  EXPECT_NE(why.find("r.json: strategies[0].runs[0].makespan_ms:"), std::string::npos) << why;
  auto twice = read_fixture("results-mixed.json");
  twice["strategies"].push_back(twice["strategies"][0]);
  EXPECT_NE(validate_results(twice, "r.json").message().find("holds \"serial\" twice"),
            std::string::npos)
      << validate_results(twice, "r.json").message();
  EXPECT_TRUE(validate_results(read_fixture("results-mixed.json"), "r.json").ok());
  // A new user's check: runs out of step with the repetitions were compared as they were.
  auto cut = read_fixture("results-mixed.json");
  cut["strategies"][1]["runs"].erase(0);
  EXPECT_NE(validate_results(cut, "r.json")
                .message()
                .find("r.json: strategies[1].runs: has 2 entries, but repetitions is 3"),
            std::string::npos)
      << validate_results(cut, "r.json").message();
}

TEST(results, load_names_the_file) {
  testing::temp_dir dir;
  const auto missing = dir.path() / "missing.json";
  EXPECT_NE(load_results(missing).status().message().find(missing.string() + ": cannot be read"),
            std::string::npos);
  const auto broken = dir.path() / "broken.json";
  testing::write_file(broken, "{\"schema_version\": 1,");
  const auto error = load_results(broken).status();
  EXPECT_NE(error.message().find(broken.string() + ":1:22: not valid JSON"), std::string::npos)
      << error.message();
  EXPECT_TRUE(load_results(testing::fixture("results-mixed.json")).ok());
}

}  // namespace
}  // namespace zbatch::reports
