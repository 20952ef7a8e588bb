#include <string>

#include "reports/render.hpp"
#include "reports/results.hpp"
#include "reports/text.hpp"

namespace zbatch::reports {

result<std::string> render_junit(const nlohmann::json& results) {
  ZBATCH_RETURN_IF_ERROR(validate_results(results, "results"));
  const std::string scenario = results["scenario"]["name"].get<std::string>();
  const nlohmann::json thresholds =
      results.contains("thresholds") ? results["thresholds"] : nlohmann::json::array();
  std::size_t failures = 0;
  for (const auto& t : thresholds) {
    if (!t["passed"].get<bool>()) {
      ++failures;
    }
  }
  const std::string counts = " tests=\"" + std::to_string(thresholds.size()) + "\" failures=\"" +
                             std::to_string(failures) + "\" errors=\"0\" skipped=\"0\"";
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites name=\"zbatch thresholds\"" + counts + ">\n";
  out += "  <testsuite name=\"" + xml_escape(scenario) + "\"" + counts + ">\n";
  out += "    <properties>\n";
  out += "      <property name=\"mode\" value=\"" + xml_escape(results["mode"].get<std::string>()) +
         "\"/>\n";
  out += "      <property name=\"seed\" value=\"" + xml_escape(results["seed"].dump()) + "\"/>\n";
  out += "      <property name=\"repetitions\" value=\"" +
         xml_escape(results["repetitions"].dump()) + "\"/>\n";
  out += "    </properties>\n";
  for (const auto& t : thresholds) {
    const std::string expr = t["expr"].get<std::string>();
    const std::string measured =
        t["value"].is_number() ? format_exact(t["value"].get<double>()) : "no value";
    out += "    <testcase classname=\"zbatch." + xml_escape(scenario) + "\" name=\"" +
           xml_escape(expr) + "\" time=\"0\">\n";
    if (!t["passed"].get<bool>()) {
      const std::string message = "measured " + measured + ", expected " + expr;
      out += "      <failure type=\"threshold\" message=\"" + xml_escape(message) + "\">" +
             xml_escape("threshold: " + expr + "\nmeasured: " + measured) + "</failure>\n";
    } else {
      out += "      <system-out>" + xml_escape("measured: " + measured) + "</system-out>\n";
    }
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace zbatch::reports
