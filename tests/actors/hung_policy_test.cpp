// The hung-task policy's pure parts: the bounded latency window, the give-up time (factor ×
// quantile, floor, cap, minimum samples), its spec knobs, the retry rule for a hung task, and the
// fitted poll schedule.
#include "actors/hung_policy.hpp"

#include <gtest/gtest.h>

#include "actors/retry_policy.hpp"

namespace zbatch::actors {
namespace {

poll_spec hung_poll(millis floor = millis{5000}) {
  poll_spec poll;
  poll.deadline = millis{300000};
  poll.hung = hung_spec{true, 0.95, 3.0, floor, 1};
  return poll;
}

TEST(latency_window, holds_the_last_64_latencies_and_reads_nearest_rank_quantiles) {
  latency_window seen;
  EXPECT_EQ(seen.quantile(0.95), millis{0});
  for (int i = 1; i <= 100; ++i) {
    seen.add(millis{i * 1000});
  }
  EXPECT_EQ(seen.size(), latency_window::capacity);  // Memory does not grow with the batch.
  // Held: 37..100 s; p95 of 64 values is the 61st smallest (ceil(60.8)) = 97 s.
  EXPECT_EQ(seen.quantile(0.95), millis{97000});
  EXPECT_EQ(seen.quantile(0.5), millis{68000});
}

TEST(hung_give_up, waits_for_enough_samples_then_is_factor_times_the_quantile) {
  latency_window seen;
  const auto poll = hung_poll();
  for (int i = 0; i < hung_min_samples - 1; ++i) {
    seen.add(millis{4000});
    EXPECT_FALSE(hung_give_up(poll, summarize(poll, seen)))
        << "the fixed deadline applies before 5 samples";
  }
  seen.add(millis{4000});
  EXPECT_EQ(hung_give_up(poll, summarize(poll, seen)), millis{12000});
}

TEST(hung_give_up, has_a_floor_a_cap_and_an_off_switch) {
  latency_window seen;
  for (int i = 0; i < 5; ++i) {
    seen.add(millis{1000});
  }
  EXPECT_EQ(hung_give_up(hung_poll(millis{30000}), summarize(hung_poll(millis{30000}), seen)),
            millis{30000});
  latency_window slow;
  for (int i = 0; i < 5; ++i) {
    slow.add(millis{200000});
  }
  EXPECT_EQ(hung_give_up(hung_poll(), summarize(hung_poll(), slow)), millis{300000})
      << "capped by the fixed deadline";
  auto off = hung_poll();
  off.hung.enabled = false;
  EXPECT_FALSE(hung_give_up(off, summarize(off, seen)));
}

TEST(hung_spec, parses_in_compact_and_json_forms_and_names_the_knob_in_range_errors) {
  const auto spec =
      parse_strategy("bounded,poll=1s:deadline=5m:hung=p90x4:floor=20s:resubmit=2").value();
  EXPECT_TRUE(spec.poll.hung.enabled);
  EXPECT_DOUBLE_EQ(spec.poll.hung.quantile, 0.9);
  EXPECT_DOUBLE_EQ(spec.poll.hung.factor, 4);
  EXPECT_EQ(spec.poll.hung.floor, millis{20000});
  EXPECT_EQ(spec.poll.hung.resubmits, 2);
  EXPECT_EQ(to_compact(parse_strategy(to_compact(spec)).value()), to_compact(spec));
  EXPECT_EQ(to_compact(strategy_from_json(to_json(spec)).value()), to_compact(spec));
  const auto from_json =
      strategy_from_json(
          nlohmann::json::parse(
              R"({"preset": "bounded", "poll": {"hung": {"quantile": 0.99, "floor_ms": 10000}}})"))
          .value();
  EXPECT_TRUE(from_json.poll.hung.enabled);
  EXPECT_DOUBLE_EQ(from_json.poll.hung.quantile, 0.99);
  EXPECT_FALSE(
      strategy_from_json(nlohmann::json::parse(R"({"preset": "adaptive", "poll": {"hung": null}})"))
          .value()
          .poll.hung.enabled);
  // adaptive opts in; the static presets keep their old canonical form (no hung clause).
  EXPECT_TRUE(preset("adaptive").value().poll.hung.enabled);
  EXPECT_EQ(to_compact(preset("bounded").value()).find("hung"), std::string::npos);
  EXPECT_EQ(to_json(preset("bounded").value())["poll"].count("hung"), 0U);
  EXPECT_FALSE(parse_strategy("adaptive,poll=1s:hung=off").value().poll.hung.enabled);
  const auto factor = parse_strategy("adaptive,poll=1s:hung=p95x50");
  ASSERT_FALSE(factor.ok()) << "factor 50 accepted";
  EXPECT_NE(factor.status().message().find("'poll.hung.factor'"), std::string::npos)
      << factor.status().message();
  EXPECT_FALSE(parse_strategy("adaptive,poll=1s:floor=100ms").ok());
  EXPECT_FALSE(parse_strategy("adaptive,poll=1s:resubmit=9").ok());
  EXPECT_FALSE(parse_strategy("adaptive,poll=1s:hung=95x3").ok());
}

protocol::api_error hung_deadline() {
  protocol::api_error error;
  error.kind = protocol::error_class::deadline;
  return error;
}

TEST(hung_retry, a_hung_task_is_resubmitted_once_without_error_retries_or_budget) {
  auto spec = parse_strategy("bounded,retry=none,poll=1s:hung=p95x3:floor=5s").value();
  image_retry_state image;
  retry_budget budget(spec.budget);
  jitter_rng rng{7};
  image.hung_task = "t1";
  const auto first = decide_retry(spec, hung_deadline(), image, budget, time_point{}, rng);
  ASSERT_TRUE(first.retry());
  EXPECT_EQ(*first.wait, millis{0});
  EXPECT_EQ(image.hung_task, "t1") << "the next attempt polls the old task beside the new one";
  EXPECT_EQ(image.hung_resubmits, 1);
  image.hung_task = "t2";
  EXPECT_FALSE(decide_retry(spec, hung_deadline(), image, budget, time_point{}, rng).retry())
      << "one knowing resubmit per image by default";
  // A plain deadline (not a hung give-up) is not retried, as before.
  image_retry_state plain;
  EXPECT_FALSE(decide_retry(spec, hung_deadline(), plain, budget, time_point{}, rng).retry());
}

TEST(hung_retry, a_succeeded_task_is_never_resubmitted_even_when_reported_hung) {
  auto spec = parse_strategy("bounded,poll=1s:hung=p95x3:floor=5s").value();
  image_retry_state image;
  retry_budget budget(spec.budget);
  jitter_rng rng{7};
  image.task_succeeded = true;  // Paid: money safety comes first.
  image.hung_task = "t1";
  EXPECT_FALSE(decide_retry(spec, hung_deadline(), image, budget, time_point{}, rng).retry());
  EXPECT_EQ(image.hung_resubmits, 0);
}

TEST(size_weight, is_the_pixels_over_1024_squared_within_a_quarter_and_16) {
  EXPECT_DOUBLE_EQ(size_weight(std::nullopt), 1.0) << "no size: the default 1024x1024";
  EXPECT_DOUBLE_EQ(size_weight(protocol::image_size{1024, 1024}), 1.0);
  EXPECT_DOUBLE_EQ(size_weight(protocol::image_size{2048, 2048}), 4.0);
  EXPECT_DOUBLE_EQ(size_weight(protocol::image_size{512, 512}), 0.25);
  EXPECT_DOUBLE_EQ(size_weight(protocol::image_size{64, 64}), 0.25);
  EXPECT_DOUBLE_EQ(size_weight(protocol::image_size{8192, 8192}), 16.0);
}

TEST(hung_give_up, scales_with_the_tasks_size_weight_above_the_floor) {
  latency_window seen;
  for (int i = 0; i < 5; ++i) {
    seen.add(millis{4000});
  }
  const auto summary = summarize(hung_poll(), seen);
  EXPECT_EQ(hung_give_up(hung_poll(), summary, 4.0), millis{48000});
  EXPECT_EQ(hung_give_up(hung_poll(), summary, 0.25), millis{5000}) << "the floor, not 3 s";
}

poll_spec fit_poll(int fit) {
  poll_spec poll;
  poll.fit = fit;
  return poll;
}

TEST(fitted_polls, wait_for_enough_samples_then_span_the_p10_to_the_p90) {
  latency_window seen;
  for (int i = 1; i < poll_fit_min_samples; ++i) {
    seen.add(millis{i * 1000});
    EXPECT_FALSE(fitted_polls(fit_poll(8), summarize(fit_poll(8), seen)))
        << "the spec's schedule before 5 samples";
  }
  for (int i = poll_fit_min_samples; i <= 10; ++i) {
    seen.add(millis{i * 1000});
  }
  // 1..10 s: p10 is the 1st value, p90 the 9th.
  const auto fit = fitted_polls(fit_poll(8), summarize(fit_poll(8), seen));
  ASSERT_TRUE(fit);
  EXPECT_EQ(fit->from, millis{1000});
  EXPECT_EQ(fit->until, millis{9000});
  EXPECT_EQ(fit->every, millis{1000});
  EXPECT_FALSE(fitted_polls(fit_poll(0), summarize(fit_poll(0), seen))) << "fit=0 is off";
}

TEST(fitted_polls, scale_with_the_tasks_size_weight) {
  latency_window seen;
  for (int i = 1; i <= 10; ++i) {
    seen.add(millis{i * 1000});
  }
  const auto fit = fitted_polls(fit_poll(8), summarize(fit_poll(8), seen), 4.0);
  ASSERT_TRUE(fit);
  EXPECT_EQ(fit->from, millis{4000});
  EXPECT_EQ(fit->until, millis{36000});
  EXPECT_EQ(fit->every, millis{4000});
}

TEST(fitted_polls, are_never_closer_than_the_minimum_gap) {
  latency_window seen;
  for (int i = 0; i < 10; ++i) {
    seen.add(millis{100 + i});  // Fast and alike: the spread / 8 is about 1 ms.
  }
  const auto fit = fitted_polls(fit_poll(8), summarize(fit_poll(8), seen));
  ASSERT_TRUE(fit);
  EXPECT_EQ(fit->from, millis{250}) << "not before 250 ms either";
  EXPECT_EQ(fit->every, millis{250});
  EXPECT_GE(fit->until, fit->from);
}

TEST(fitted_polls, the_spec_knob_reads_writes_and_checks_its_range) {
  const auto spec = parse_strategy("bounded,poll=1s:x1.1:cap=5s:fit=8").value();
  EXPECT_EQ(spec.poll.fit, 8);
  EXPECT_NE(to_compact(spec).find(":fit=8"), std::string::npos) << to_compact(spec);
  EXPECT_EQ(parse_strategy(to_compact(spec)).value().poll.fit, 8);
  EXPECT_EQ(to_json(spec)["poll"]["fit"], 8);
  EXPECT_EQ(strategy_from_json(to_json(spec)).value().poll.fit, 8);
  EXPECT_EQ(parse_strategy("bounded,poll=1s:fit=off").value().poll.fit, 0);
  EXPECT_EQ(parse_strategy("adaptive").value().poll.fit, 8) << "adaptive's default";
  const auto bad = parse_strategy("bounded,poll=1s:fit=65");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("poll.fit"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("0..64"), std::string::npos) << bad.status().message();
  // A new user's check: 'fit=abc' said only "not a whole number"; 'fit=8:fit=4' took the last.
  const auto word = parse_strategy("bounded,poll=1s:fit=abc");
  ASSERT_FALSE(word.ok());
  EXPECT_NE(word.status().message().find("allowed 0..64 (0: off) or off"), std::string::npos)
      << word.status().message();
  const auto twice = parse_strategy("bounded,poll=1s:fit=8:fit=4");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("option 'fit' given twice"), std::string::npos)
      << twice.status().message();
}

}  // namespace
}  // namespace zbatch::actors
