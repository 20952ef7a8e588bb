#include "actors/strategy.hpp"

#include <string>

#include <gtest/gtest.h>

namespace zbatch::actors {
namespace {

std::string error_of(const std::string& text) {
  const auto parsed = parse_strategy(text);
  return parsed.ok() ? "(no error)" : parsed.status().message();
}

TEST(strategy, presets_reproduce_the_review) {
  const auto serial = preset("serial").value();
  EXPECT_EQ(serial.inflight.limit, 1);
  EXPECT_EQ(serial.pacing.type, pacing_spec::kind::gap);
  EXPECT_EQ(serial.pacing.gap, millis{2000});
  EXPECT_EQ(serial.retry.max_retries, 0);
  EXPECT_EQ(preset("concurrent").value().inflight.limit, 0);
  EXPECT_EQ(preset("bounded").value().inflight.limit, 2);
  const auto retry = preset("retry").value();
  EXPECT_EQ(retry.retry.max_retries, 2);
  EXPECT_EQ(retry.retry.backoff, backoff_kind::linear);
  EXPECT_EQ(retry.retry.base, millis{1000});
  EXPECT_EQ(retry.retry.jitter, jitter_kind::none);
  EXPECT_EQ(preset("token-bucket").value().pacing.type, pacing_spec::kind::token);
  const auto adaptive = preset("adaptive").value();
  EXPECT_TRUE(adaptive.inflight.adaptive);
  EXPECT_TRUE(adaptive.budget.enabled);
  EXPECT_TRUE(adaptive.circuit.enabled);
  EXPECT_TRUE(adaptive.stop_on_quota);
  EXPECT_EQ(adaptive.retry.jitter, jitter_kind::full);
  for (const auto& name : preset_names()) {
    EXPECT_TRUE(validate(preset(name).value()).ok()) << name;
    EXPECT_EQ(parse_strategy(name).value().name, name);
  }
}

TEST(strategy, compact_form_composes_knobs) {
  const auto spec =
      parse_strategy(
          "inflight=4,pace=token:2/s:burst=3,retry=3:exp:base=500ms:cap=8s:jitter=full,"
          "budget=10:0.1,poll=1s:x1.5:cap=5s:deadline=300s,circuit=5:10s,quota=stop,r429=7,"
          "ambiguous=resubmit,retry_after=ignore")
          .value();
  EXPECT_EQ(spec.inflight.limit, 4);
  EXPECT_EQ(spec.pacing.type, pacing_spec::kind::token);
  EXPECT_DOUBLE_EQ(spec.pacing.rate, 2);
  EXPECT_DOUBLE_EQ(spec.pacing.burst, 3);
  EXPECT_EQ(spec.retry.max_retries, 3);
  EXPECT_EQ(spec.retry.cap, millis{8000});
  EXPECT_EQ(spec.retry.max_429_retries, 7);
  EXPECT_TRUE(spec.retry.resubmit_ambiguous);
  EXPECT_FALSE(spec.retry.honour_retry_after);
  EXPECT_TRUE(spec.budget.enabled);
  EXPECT_DOUBLE_EQ(spec.poll.factor, 1.5);
  EXPECT_EQ(spec.poll.deadline, millis{300000});
  EXPECT_EQ(spec.circuit.threshold, 5);
  EXPECT_TRUE(spec.stop_on_quota);
  EXPECT_EQ(spec.name, "custom");
}

TEST(strategy, the_compact_form_reads_back_every_digit_of_a_rate) {
  // fuzz/actors_strategy: 12 significant digits turned 5.5444444444444444 into 5.54444444444.
  const auto spec = parse_strategy("token-bucket,pace=token:5.5444444444444444:burst=2").value();
  const auto again = parse_strategy(to_compact(spec)).value();
  EXPECT_EQ(again.pacing.rate, spec.pacing.rate);
  EXPECT_EQ(to_compact(again), to_compact(spec));
  EXPECT_NE(to_compact(spec).find("token:5.544444444444444/s"), std::string::npos)
      << to_compact(spec);
}

TEST(strategy, a_preset_can_be_overridden) {
  const auto spec = parse_strategy("bounded,inflight=3").value();
  EXPECT_EQ(spec.inflight.limit, 3);
  EXPECT_EQ(spec.poll.interval, millis{1000});
  const auto aimd = parse_strategy("adaptive,inflight=aimd:init=2:max=8:beta=0.5:lat=0").value();
  EXPECT_TRUE(aimd.inflight.adaptive);
  EXPECT_EQ(aimd.inflight.initial, 2);
  EXPECT_EQ(aimd.inflight.max, 8);
}

TEST(strategy, compact_form_round_trips) {
  for (const auto& name : preset_names()) {
    const auto spec = preset(name).value();
    const auto text = to_compact(spec);
    EXPECT_EQ(to_compact(parse_strategy(text).value()), text) << name;
  }
}

// A new user's check: 'inflight=2,inflight=3' ran with 3 and said nothing.
TEST(strategy, a_knob_given_twice_is_an_error_not_the_last_one_winning) {
  const auto twice = parse_strategy("inflight=2,inflight=3");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("'inflight'"), std::string::npos)
      << twice.status().message();
  EXPECT_NE(twice.status().message().find("given twice"), std::string::npos)
      << twice.status().message();
  EXPECT_TRUE(parse_strategy("adaptive,inflight=2").ok()) << "a preset, then a knob: once";
  EXPECT_FALSE(parse_strategy("bounded,poll=1s:x1.1:x2").ok());
}

TEST(strategy, json_pace_carries_only_the_fields_its_kind_reads) {
  EXPECT_EQ(to_json(preset("adaptive").value())["pace"], nlohmann::json({{"kind", "none"}}));
  EXPECT_EQ(to_json(preset("serial").value())["pace"],
            nlohmann::json({{"kind", "gap"}, {"gap_ms", 2000}}));
  EXPECT_EQ(to_json(preset("token-bucket").value())["pace"],
            nlohmann::json({{"kind", "token"}, {"rate", 0.5}, {"burst", 2.0}}));
}

TEST(strategy, json_form_round_trips_and_accepts_strings) {
  for (const auto& name : preset_names()) {
    const auto spec = preset(name).value();
    EXPECT_EQ(to_compact(strategy_from_json(to_json(spec)).value()), to_compact(spec)) << name;
  }
  EXPECT_EQ(strategy_from_json(nlohmann::json("bounded")).value().inflight.limit, 2);
  const auto spec =
      strategy_from_json(
          nlohmann::json::parse(R"({"preset":"serial","retry":{"max":2,"backoff":"linear"}})"))
          .value();
  EXPECT_EQ(spec.retry.max_retries, 2);
  EXPECT_EQ(spec.pacing.gap, millis{2000});
}

TEST(strategy, errors_name_the_knob_and_the_range) {
  EXPECT_NE(error_of("inflight=0").find("'inflight'"), std::string::npos);
  EXPECT_NE(error_of("inflight=0").find("1..10000"), std::string::npos);
  EXPECT_NE(error_of("retry=500").find("'retry.max'"), std::string::npos);
  EXPECT_NE(error_of("retry=500").find("0..100"), std::string::npos);
  EXPECT_NE(error_of("pace=token:0/s").find("'pace.rate'"), std::string::npos);
  EXPECT_NE(error_of("pace=token:0/s").find("0.001..1000"), std::string::npos);
  EXPECT_NE(error_of("poll=5ms").find("'poll.interval'"), std::string::npos);
  EXPECT_NE(error_of("poll=1s:x20").find("1..10"), std::string::npos);
  EXPECT_NE(error_of("budget=10:2").find("'budget.token_ratio'"), std::string::npos);
  EXPECT_NE(error_of("retry=2:exp:base=10s:cap=1s").find("'retry.cap'"), std::string::npos);
  EXPECT_NE(error_of("poll=2").find("500ms, 2s or 1m"), std::string::npos);
  EXPECT_NE(error_of("speed=11").find("unknown knob"), std::string::npos);
  EXPECT_NE(error_of("fastest").find("serial, concurrent"), std::string::npos);
  EXPECT_NE(error_of("bounded,serial").find("preset name may only come first"), std::string::npos);
  EXPECT_NE(error_of("inflight=aimd:init=0").find("'inflight.init'"), std::string::npos);
  EXPECT_NE(error_of("retry=2:jitter=some").find("none, full, equal, decorrelated"),
            std::string::npos);
  const auto error =
      strategy_from_json(nlohmann::json::parse(R"({"retry":{"maxx":2}})"), "strategies[1]")
          .status();
  EXPECT_NE(error.message().find("strategies[1].retry.maxx"), std::string::npos);
}

std::string json_error_of(const char* text) {
  const auto parsed = strategy_from_json(nlohmann::json::parse(text), "strategies[1]");
  return parsed.ok() ? "(no error)" : parsed.status().message();
}

TEST(strategy, json_errors_name_the_path_and_what_is_allowed) {
  EXPECT_EQ(json_error_of(R"({"pace":{"kind":"fast"}})"),
            "strategies[1].pace.kind: has an unknown value \"fast\" (allowed \"none\", \"gap\", "
            "\"spacing\", \"token\")");
  EXPECT_EQ(json_error_of(R"({"retry":{"max":2.5}})"),
            "strategies[1].retry.max: must be a whole number, got 2.5");
  EXPECT_EQ(json_error_of(R"({"poll":{"interval_ms":-1}})"),
            "strategies[1].poll.interval_ms: -1 is out of range (allowed 0..1e+12)");
  EXPECT_EQ(json_error_of(R"({"stop_on_quota":"yes"})"),
            "strategies[1].stop_on_quota: must be true or false, got \"yes\"");
  EXPECT_EQ(json_error_of("3"), "strategies[1]: must be a JSON object, got 3");
  // Compact-form and range errors keep their knob names behind the JSON path.
  const auto starts_with = [](const std::string& text, const std::string& head) {
    return text.rfind(head, 0) == 0;
  };
  EXPECT_TRUE(
      starts_with(json_error_of(R"({"pace":"warp"})"), "strategies[1].pace: strategy knob 'pace'"))
      << json_error_of(R"({"pace":"warp"})");
  EXPECT_TRUE(starts_with(json_error_of(R"({"retry":{"max":500}})"),
                          "strategies[1]: strategy knob 'retry.max'"));
}

TEST(strategy, json_whole_numbers_may_be_written_as_floats_and_null_turns_parts_off) {
  const auto spec =
      strategy_from_json(
          nlohmann::json::parse(
              R"({"preset":"adaptive","retry":{"max":3.0},"budget":null,"circuit":null})"))
          .value();
  EXPECT_EQ(spec.retry.max_retries, 3);
  EXPECT_FALSE(spec.budget.enabled);
  EXPECT_FALSE(spec.circuit.enabled);
  EXPECT_EQ(spec.name, "custom");
}

}  // namespace
}  // namespace zbatch::actors
