// actors/: the strategy spec parser (`--strategy`, a scenario's strategies). Input: a compact
// spec ("bounded,inflight=3,retry=2:exp:base=1s") or a JSON strategy (string or object). A spec
// that parses is valid, and its canonical compact form and its JSON read back to the same spec
// (strategy.hpp: parse_strategy(to_compact(s)) == s apart from the name).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/strategy.hpp"
#include "fuzz/wire_text.hpp"

namespace {

namespace actors = zbatch::actors;

/// The spec without its name, as JSON text: equal texts mean equal specs.
std::string knobs(const actors::strategy_spec& spec) {
  auto out = actors::to_json(spec);
  out.erase("name");
  return out.dump();
}

void check_round_trips(const actors::strategy_spec& spec, std::string_view input) {
  using zbatch::fuzz::expect_same;
  if (const auto valid = actors::validate(spec); !valid.ok()) {
    expect_same("validate", valid.message(), "a parsed spec is valid", input);
  }
  const auto compact = actors::to_compact(spec);
  const auto reparsed = actors::parse_strategy(compact);
  expect_same("parse_strategy(to_compact)", reparsed.ok() ? knobs(*reparsed) : compact, knobs(spec),
              input);
  const auto from_json = actors::strategy_from_json(actors::to_json(spec));
  expect_same("strategy_from_json(to_json)",
              from_json.ok() ? knobs(*from_json) : from_json.status().message(), knobs(spec),
              input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto spec = actors::parse_strategy(input); spec.ok()) {
    check_round_trips(*spec, input);
  }
  const auto document = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!document.is_discarded()) {
    if (const auto spec = actors::strategy_from_json(document); spec.ok()) {
      check_round_trips(*spec, input);
    }
  }
  return 0;
}
