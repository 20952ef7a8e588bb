// One test per knob of issue 3 over loopback: what the client sees and what /admin/stats says.
// The model runs on a manual clock, so time-dependent knobs are driven, never waited for.
#include <set>

#include "protocol/errors.hpp"

#include "tests/mock_api/fixture.hpp"

namespace zbatch::mock::testing {
namespace {

class knobs : public mock_fixture {};

const std::string dynamic_text = protocol::texts::dynamic_rate_limit("Tongyi-MAI/Z-Image-Turbo");
const std::string quota_text = protocol::texts::daily_quota("Tongyi-MAI/Z-Image-Turbo");

TEST_F(knobs, in_flight_cap_refuses_above_the_cap_until_a_task_finishes) {
  auto config = quiet_config();
  config.throttle.in_flight_cap = 1;  // dynamic.mode "off": refuse every submit above the cap
  start(config);
  submit_ok();
  auto refused = submit();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(error_message(refused->body), dynamic_text);
  submit_ok(submit_body(), submit_headers("other-key"));  // the cap is per key
  advance(4s);
  submit_ok();
  const auto s = stats();
  EXPECT_EQ(counter(s, "/rate_limited/dynamic"), 1);
  EXPECT_EQ(counter(s, "/requests/submit/429"), 1);
  EXPECT_EQ(counter(s, "/keys/" + key_label(default_key) + "/accepted"), 2);
  EXPECT_EQ(counter(s, "/keys/" + key_label(default_key) + "/submits"), 3);
}

TEST_F(knobs, dynamic_load_refusal_grows_with_load) {
  auto config = quiet_config();
  config.generation.time = latency_spec::fixed(3'600'000);  // nothing finishes during the test
  config.throttle.in_flight_cap = 1;
  config.throttle.dynamic.mode = "load";
  config.throttle.dynamic.base_probability = 0.3;
  config.throttle.dynamic.per_task_probability = 0.2;
  config.throttle.dynamic.max_probability = 0.9;
  start(config);
  // Each key first gets its guaranteed task, then one try above the cap: about 30% refused.
  int first_refused = 0;
  for (int k = 0; k < 200; ++k) {
    const auto key = "k" + std::to_string(k);
    submit_ok(submit_body(), submit_headers(key));
    auto res = submit(submit_body(), submit_headers(key));
    ASSERT_TRUE(res);
    first_refused += res->status == 429;
  }
  // One key pushed far above the cap: refusals approach max_probability.
  int deep_refused = 0;
  int deep_tries = 0;
  for (int i = 0; i < 400; ++i) {
    auto res = submit(submit_body(), submit_headers("deep"));
    ASSERT_TRUE(res);
    if (i >= 200) {
      ++deep_tries;
      deep_refused += res->status == 429;
    }
  }
  EXPECT_GT(first_refused, 200 * 0.2);
  EXPECT_LT(first_refused, 200 * 0.4);
  EXPECT_GT(deep_refused, deep_tries * 0.8);
  const auto s = stats();
  EXPECT_EQ(counter(s, "/rate_limited/dynamic"),
            first_refused + 0.0 + (400 - counter(s, "/keys/" + key_label("deep") + "/accepted")));
}

TEST_F(knobs, dynamic_schedule_follows_the_time_of_day) {
  auto config = quiet_config();
  config.generation.time = latency_spec::fixed(3'600'000);
  config.throttle.in_flight_cap = 1;
  config.throttle.dynamic.mode = "schedule";
  config.throttle.dynamic.schedule = {{0, 100, 2}};  // first 100 s of every period: 2 extra
  config.throttle.dynamic.schedule_period_s = 1000;
  start(config);
  submit_ok();
  submit_ok();
  submit_ok();
  auto res = submit();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  advance(200s);  // outside the window: only the guaranteed task for a fresh key
  submit_ok(submit_body(), submit_headers("fresh"));
  res = submit(submit_body(), submit_headers("fresh"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  advance(800s);  // the next period's window
  submit_ok(submit_body(), submit_headers("fresh"));
  EXPECT_EQ(counter(stats(), "/rate_limited/dynamic"), 2);
}

TEST_F(knobs, rate_token_bucket_counts_submits) {
  auto config = quiet_config();
  config.throttle.rate.enabled = true;
  config.throttle.rate.burst = 3;
  config.throttle.rate.per_second = 0.5;
  start(config);
  for (int i = 0; i < 3; ++i) {
    submit_ok();
  }
  auto res = submit();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(error_message(res->body), dynamic_text);
  EXPECT_TRUE(poll("none"));  // polls do not count with scope "submits"
  advance(2s);                // one token back
  submit_ok();
  res = submit();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(counter(stats(), "/rate_limited/rate"), 2);
}

TEST_F(knobs, rate_scope_all_counts_polls_too) {
  auto config = quiet_config();
  config.throttle.rate.enabled = true;
  config.throttle.rate.burst = 2;
  config.throttle.rate.per_second = 0.001;
  config.throttle.rate.scope = "all";
  start(config);
  const auto id = submit_ok();
  EXPECT_EQ(poll(id)->status, 200);
  auto res = poll(id);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(error_message(res->body), dynamic_text);
  EXPECT_EQ(counter(stats(), "/rate_limited/rate"), 1);
}

mock_config quota_config(double credits, double cost) {
  auto config = quiet_config();
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = credits;
  config.throttle.quota.cost_per_task = cost;
  config.throttle.quota.first_reset_s = 3600;
  return config;
}

TEST_F(knobs, quota_refuses_with_the_daily_quota_text_until_the_reset) {
  start(quota_config(6, 2));
  for (int i = 0; i < 3; ++i) {
    submit_ok(submit_body("p", i));
  }
  auto res = submit();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(error_message(res->body), quota_text);
  EXPECT_EQ(protocol::classify_http_error(res->status, res->body).kind,
            protocol::error_class::quota_429);
  submit_ok(submit_body(), submit_headers("other"));  // quotas are per key
  advance(3599s);
  EXPECT_EQ(submit()->status, 429);
  advance(1s);  // the reset
  submit_ok();
  const auto s = stats();
  EXPECT_EQ(counter(s, "/rate_limited/quota"), 2);
  EXPECT_EQ(counter(s, "/credits/used"), 10);
  EXPECT_EQ(counter(s, "/keys/" + key_label(default_key) + "/credits_used_today"), 2);
}

TEST_F(knobs, quota_request_limit_message) {
  auto config = quota_config(0, 2);
  config.throttle.quota.message = "request_limit";
  start(config);
  auto res = submit();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(error_message(res->body), protocol::texts::request_limit_exceeded);
}

TEST_F(knobs, quota_refunds_system_failures_when_they_fail) {
  start(quota_config(4, 2));
  auto failing = submit_headers();
  failing.emplace("x-zbatch-fault-task", "system");
  const auto id = submit_ok(submit_body("p", 1), failing);
  submit_ok(submit_body("p", 2));
  EXPECT_EQ(submit()->status, 429);  // 4 of 4 used
  advance(4s);                       // the system failure happened: refunded
  const auto state = poll_json(id);
  EXPECT_EQ(state.at("task_status"), "FAILED");
  EXPECT_EQ(state.at("errors").at("code"), 500);
  submit_ok(submit_body("p", 3));
  const auto s = stats();
  EXPECT_EQ(counter(s, "/credits/used"), 6);
  EXPECT_EQ(counter(s, "/credits/refunded"), 2);
}

TEST_F(knobs, quota_without_refunds_keeps_the_credits) {
  auto config = quota_config(4, 2);
  config.throttle.quota.refund_system_failures = false;
  start(config);
  auto failing = submit_headers();
  failing.emplace("x-zbatch-fault-task", "system");
  submit_ok(submit_body("p", 1), failing);
  submit_ok(submit_body("p", 2));
  advance(4s);
  EXPECT_EQ(submit()->status, 429);
  EXPECT_EQ(counter(stats(), "/credits/refunded"), 0);
}

TEST_F(knobs, quota_reset_defaults_to_midnight_utc_plus_8) {
  auto config = quota_config(2, 2);
  config.throttle.quota.first_reset_s.reset();
  start(config);
  // The clock's origin is 2024-01-01 15:00 UTC = 23:00 UTC+8: the reset is one hour later.
  model_->set_clock_origin_unix(1704121200);
  submit_ok();
  advance(3599s);
  EXPECT_EQ(submit()->status, 429);
  advance(1s);
  submit_ok();
  advance(86399s);
  EXPECT_EQ(submit()->status, 429);
  advance(1s);
  submit_ok();
}

TEST_F(knobs, optional_retry_after_and_ratelimit_headers) {
  auto config = quota_config(4, 2);
  config.throttle.in_flight_cap = 1;
  config.throttle.retry_after_s = 7;
  start(config);
  submit_ok();
  auto res = submit();
  EXPECT_FALSE(res->has_header("Retry-After"));  // off by default
  EXPECT_FALSE(res->has_header("modelscope-ratelimit-requests-remaining"));
  auto with = model_->config();
  with.throttle.retry_after_header = true;
  with.throttle.ratelimit_headers = true;
  model_->replace_config(with);
  res = submit();
  ASSERT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("Retry-After"), "7");
  EXPECT_EQ(res->get_header_value("modelscope-ratelimit-requests-limit"), "2");
  EXPECT_EQ(res->get_header_value("modelscope-ratelimit-requests-remaining"), "1");
  advance(4s);
  submit_ok();
  res = submit(submit_body(), submit_headers());
  ASSERT_EQ(res->status, 429);  // quota: Retry-After counts to the reset (3600 - 4 s)
  EXPECT_EQ(error_message(res->body), quota_text);
  EXPECT_EQ(res->get_header_value("Retry-After"), "3596");
  EXPECT_EQ(res->get_header_value("modelscope-ratelimit-model-requests-remaining"), "0");
}

TEST_F(knobs, openai_body_shape_for_429) {
  auto config = quiet_config();
  config.throttle.in_flight_cap = 1;
  config.throttle.body_shape = "openai";
  start(config);
  submit_ok();
  auto res = submit();
  ASSERT_EQ(res->status, 429);
  const auto body = json::parse(res->body);
  EXPECT_EQ(body.at("error").at("message"), dynamic_text);
  EXPECT_EQ(protocol::classify_http_error(429, res->body).kind, protocol::error_class::dynamic_429);
}

struct http_fault_case {
  const char* kind;
  int status;
  const char* text;
};

TEST_F(knobs, http_fault_probabilities_per_endpoint) {
  start(quiet_config());
  const http_fault_case cases[] = {{"http_500", 500, "Internal Server Error"},
                                   {"http_502", 502, "<html>"},
                                   {"http_503", 503, "Service Unavailable"},
                                   {"busy", 503, "Server is busy, please try again later"}};
  for (const auto& c : cases) {
    auto config = quiet_config();
    endpoint_faults f;
    (std::string(c.kind) == "http_500"   ? f.http_500
     : std::string(c.kind) == "http_502" ? f.http_502
     : std::string(c.kind) == "http_503" ? f.http_503
                                         : f.busy) = 1.0;
    config.faults.submit = f;
    config.faults.poll = f;
    config.faults.download = f;
    model_->replace_config(config);
    httplib::Result results[] = {submit(), poll("x"), client_->Get("/images/x.png")};
    for (auto& res : results) {
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, c.status) << c.kind;
      EXPECT_NE(res->body.find(c.text), std::string::npos) << c.kind << ": " << res->body;
    }
    EXPECT_EQ(counter(stats(), std::string("/faults/") + c.kind), 3) << c.kind;
  }
  // The service's own 5xx create no task; a gateway's 502 comes after the task was created and
  // charged (transport_after_accept, on by default), as the README's table says.
  EXPECT_EQ(counter(stats(), "/tasks/created"), 1);
}

TEST_F(knobs, a_submit_502_is_charged_only_with_transport_after_accept) {
  for (const bool after_accept : {true, false}) {
    SCOPED_TRACE(after_accept ? "after accept" : "before accept");
    auto config = quiet_config();
    config.faults.submit.http_502 = 1.0;
    config.faults.transport_after_accept = after_accept;
    start(config);
    auto res = submit();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 502);
    EXPECT_NE(res->body.find("<html>"), std::string::npos) << res->body;
    EXPECT_EQ(counter(stats(), "/tasks/created"), after_accept ? 1 : 0);
    EXPECT_EQ(counter(stats(), "/faults/http_502"), 1);
  }
}

TEST_F(knobs, fault_probability_is_a_rate_not_all_or_nothing) {
  auto config = quiet_config();
  config.faults.poll.http_503 = 0.25;
  start(config);
  int failed = 0;
  for (int i = 0; i < 400; ++i) {
    failed += poll("none")->status == 503;
  }
  EXPECT_GT(failed, 70);
  EXPECT_LT(failed, 130);
  EXPECT_EQ(counter(stats(), "/faults/http_503"), failed);
}

TEST_F(knobs, malformed_poll_body_is_not_json) {
  auto config = quiet_config();
  config.faults.poll.malformed = 1.0;
  start(config);
  const auto id = submit_ok();
  auto res = poll(id);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(json::parse(res->body, nullptr, false).is_discarded());
  EXPECT_EQ(counter(stats(), "/faults/malformed"), 1);
}

TEST_F(knobs, reset_on_submit_after_accept_charges_the_task) {
  auto config = quota_config(100, 2);
  config.faults.submit.reset = 1.0;
  start(config);
  auto res = submit(submit_body("ambiguous", 9));
  EXPECT_FALSE(res);  // the client saw nothing...
  auto s = stats();
  EXPECT_EQ(counter(s, "/faults/reset"), 1);
  EXPECT_EQ(counter(s, "/tasks/created"), 1);  // ...but the task exists and was paid
  EXPECT_EQ(counter(s, "/credits/used"), 2);
  EXPECT_EQ(model_->submits_for("ambiguous", 9, protocol::image_size{}), 1u);

  config.faults.transport_after_accept = false;
  model_->replace_config(config);
  client_ = make_client();
  EXPECT_FALSE(submit(submit_body("ambiguous", 9)));
  s = stats();
  EXPECT_EQ(counter(s, "/faults/reset"), 2);
  EXPECT_EQ(counter(s, "/tasks/created"), 1);
}

TEST_F(knobs, truncated_and_slow_downloads) {
  auto config = quiet_config();
  config.faults.download.truncate = 1.0;
  start(config);
  const auto id = submit_ok();
  advance(5s);
  EXPECT_FALSE(client_->Get(("/images/" + id + ".png").c_str()));
  client_ = make_client();
  config.faults.download = endpoint_faults{};
  config.faults.download.slow = 1.0;
  config.faults.slow_ms = 50;
  model_->replace_config(config);
  auto res = client_->Get(("/images/" + id + ".png").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body.substr(1, 3), "PNG");
  const auto s = stats();
  EXPECT_EQ(counter(s, "/faults/truncate"), 1);
  EXPECT_EQ(counter(s, "/faults/slow"), 1);
}

TEST_F(knobs, poll_hang_probability) {
  auto config = quiet_config();
  config.faults.poll.hang = 1.0;
  config.faults.hang_max_ms = 50;
  start(config);
  EXPECT_FALSE(poll("x"));
  EXPECT_EQ(counter(stats(), "/faults/hang"), 1);
  EXPECT_EQ(counter(stats(), "/requests/poll/hang"), 1);
}

TEST_F(knobs, task_fates_moderation_system_never) {
  auto config = quiet_config();
  config.faults.task.moderation = 1.0;
  start(config);
  const auto moderated = submit_ok(submit_body("m", 1));
  config.faults.task = task_faults{};
  config.faults.task.system = 1.0;
  model_->replace_config(config);
  const auto failed = submit_ok(submit_body("s", 1));
  config.faults.task = task_faults{};
  config.faults.task.never = 1.0;
  model_->replace_config(config);
  const auto stuck = submit_ok(submit_body("n", 1));
  advance(std::chrono::hours(1));
  auto state = poll_json(moderated);
  EXPECT_EQ(state.at("task_status"), "FAILED");
  EXPECT_EQ(state.at("errors").at("code"), 422);
  EXPECT_EQ(state.at("errors").at("message"), protocol::texts::moderation);
  EXPECT_EQ(
      protocol::classify_task_failure(422, state["errors"]["message"].get<std::string>()).kind,
      protocol::error_class::moderation);
  state = poll_json(failed);
  EXPECT_EQ(state.at("task_status"), "FAILED");
  EXPECT_EQ(state.at("errors").at("code"), 500);
  EXPECT_EQ(poll_json(stuck).at("task_status"), "RUNNING");
  const auto s = stats();
  EXPECT_EQ(counter(s, "/tasks/by_fate/moderation"), 1);
  EXPECT_EQ(counter(s, "/tasks/by_fate/system"), 1);
  EXPECT_EQ(counter(s, "/tasks/by_fate/never"), 1);
  EXPECT_EQ(counter(s, "/tasks/finished/FAILED"), 2);
  EXPECT_EQ(counter(s, "/faults/task_never"), 1);
}

TEST_F(knobs, fail_first_n_then_succeed) {
  auto config = quiet_config();
  config.faults.fail_first.submit = 2;
  config.faults.fail_first.poll = 1;
  config.faults.fail_first.status = 502;
  start(config);
  EXPECT_EQ(submit()->status, 502);
  EXPECT_EQ(submit()->status, 502);
  const auto id = submit_ok();
  EXPECT_EQ(poll(id)->status, 502);
  EXPECT_EQ(poll(id)->status, 200);
  EXPECT_EQ(counter(stats(), "/faults/fail_first"), 3);
}

TEST_F(knobs, outage_window_on_a_schedule) {
  auto config = quiet_config();
  config.faults.outages = {{10, 20, 100, 503}};
  start(config);
  submit_ok();
  advance(15s);
  auto res = submit();
  ASSERT_EQ(res->status, 503);
  EXPECT_EQ(error_message(res->body), protocol::texts::server_busy);
  EXPECT_EQ(poll("none")->status, 404);  // polls are not affected
  advance(5s);
  submit_ok();
  advance(95s);  // 115 s: inside the repeat
  EXPECT_EQ(submit()->status, 503);
  EXPECT_EQ(counter(stats(), "/faults/outage"), 2);
}

TEST_F(knobs, per_request_override_headers) {
  start(quiet_config());
  auto headers = submit_headers();
  headers.emplace("x-zbatch-fault-abort", "503");
  EXPECT_EQ(submit(submit_body(), headers)->status, 503);
  headers = submit_headers();
  headers.emplace("x-zbatch-fault-abort", "quota");
  auto res = submit(submit_body(), headers);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(error_message(res->body), quota_text);
  headers = submit_headers();
  headers.emplace("x-zbatch-fault-abort", "429");
  EXPECT_EQ(error_message(submit(submit_body(), headers)->body), dynamic_text);
  headers = submit_headers();
  headers.emplace("x-zbatch-fault-transport", "malformed");
  res = submit(submit_body(), headers);
  EXPECT_TRUE(json::parse(res->body, nullptr, false).is_discarded());
  headers = submit_headers();
  headers.emplace("x-zbatch-fault-generation-ms", "10");
  const auto id = submit_ok(submit_body(), headers);
  advance(10ms);
  EXPECT_EQ(poll_json(id).at("task_status"), "SUCCEED");
  headers = submit_headers();
  headers.emplace("x-zbatch-fault-transport", "explode");
  res = submit(submit_body(), headers);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_message(res->body).find("x-zbatch-fault-transport"), std::string::npos);
  const auto s = stats();
  EXPECT_EQ(counter(s, "/faults/abort"), 3);
  EXPECT_EQ(counter(s, "/faults/malformed"), 1);
}

TEST_F(knobs, same_seed_reproduces_the_fault_sequence_over_loopback) {
  auto config = load_config("flaky", std::nullopt).value();
  config.faults.poll.hang = 0;  // keep the run short: hangs would wait for the client
  config.faults.submit.hang = 0;
  config.response_delay = latency_spec::fixed(0);
  config.ids.reproducible = true;  // ids are part of the bytes compared
  auto sequence = [&](std::uint64_t seed) {
    start(config, seed);
    std::vector<std::string> seen;
    for (int i = 0; i < 120; ++i) {
      auto res = i % 2 == 0 ? submit(submit_body("p", i)) : poll("none");
      seen.push_back(res ? std::to_string(res->status) + " " + res->body
                         : "error " + httplib::to_string(res.error()));
      if (!res) {
        client_ = make_client();
      }
    }
    seen.push_back(model_->stats()["faults"].dump());
    server_->stop();
    return seen;
  };
  const auto a = sequence(77);
  const auto b = sequence(77);
  const auto c = sequence(78);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(json::parse(a.back()).size(), 2u);  // the run did meet several kinds of fault
}

}  // namespace
}  // namespace zbatch::mock::testing
