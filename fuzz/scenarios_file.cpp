// scenarios/: the scenario file reader. Input: a scenario file's text. Read as load_scenario
// reads a file (base::parse_json, then parse_scenario), then checked as `zbatch scenario run`
// checks it before running (scenarios/runner.cpp `check`: each strategy parses, each threshold
// parses against the labels, the profile resolves to a mock config), and the limits the bound
// takes from that config. Each step may refuse the input; none may crash or throw.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/strategy.hpp"
#include "base/json_reader.hpp"
#include "scenarios/profile.hpp"
#include "scenarios/scenario.hpp"
#include "scenarios/thresholds.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace scenarios = zbatch::scenarios;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto document = zbatch::base::parse_json(input, "fuzz.json");
  if (!document.ok()) {
    return 0;
  }
  const auto scenario = scenarios::parse_scenario(*document, "fuzz.json");
  if (!scenario.ok()) {
    return 0;
  }
  std::vector<std::string> labels;
  for (const auto& entry : scenario->strategies) {
    (void)(entry.spec_json.is_null() ? zbatch::actors::parse_strategy(entry.spec)
                                     : zbatch::actors::strategy_from_json(entry.spec_json));
    labels.push_back(entry.label);
  }
  for (const auto& expression : scenario->thresholds) {
    (void)scenarios::parse_threshold(expression, labels);
  }
  if (const auto config = scenarios::resolve_profile(*scenario); config.ok()) {
    (void)scenarios::limits_from_config(*config);
  }
  return 0;
}
