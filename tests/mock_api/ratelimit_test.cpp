// The four modelscope-ratelimit-* headers over sockets (issue 14; protocol doc, "What newer
// public material adds"): on every answer with a key, counting down per account and per model,
// the quota 429 at 0, and the reset at 00:00 UTC+8 on the model's clock.
#include "tests/mock_api/fixture.hpp"

namespace zbatch::mock::testing {
namespace {

const std::string turbo = "Tongyi-MAI/Z-Image-Turbo";
const std::string qwen = "Qwen/Qwen-Image";

mock_config limited(long long account, long long turbo_limit, long long others) {
  auto config = quiet_config();
  config.models = {turbo, qwen};
  config.throttle.ratelimit_headers = true;
  config.throttle.daily_limits.enabled = true;
  config.throttle.daily_limits.account = account;
  config.throttle.daily_limits.other_models = others;
  config.throttle.daily_limits.models = {{turbo, turbo_limit}};
  return config;
}

std::string body_for(const std::string& model, int seed = 1) {
  return json{{"model", model}, {"prompt", "a fox"}, {"seed", seed}}.dump();
}

struct counts {
  std::string account_limit, account_remaining, model_limit, model_remaining;
};

counts headers_of(const httplib::Result& res) {
  return {res->get_header_value("modelscope-ratelimit-requests-limit"),
          res->get_header_value("modelscope-ratelimit-requests-remaining"),
          res->get_header_value("modelscope-ratelimit-model-requests-limit"),
          res->get_header_value("modelscope-ratelimit-model-requests-remaining")};
}

class ratelimit_headers : public mock_fixture {};

TEST(ratelimit_defaults, are_the_documented_daily_limits) {
  const daily_limits_config d;
  EXPECT_EQ(d.account, 2000);
  EXPECT_EQ(d.limit_for(turbo), 500);
  EXPECT_EQ(d.limit_for(qwen), 200);
  // The realistic profile sends them; the others keep their results as they were.
  const auto free = load_config("modelscope-free", std::nullopt).value();
  EXPECT_TRUE(free.throttle.ratelimit_headers);
  EXPECT_TRUE(free.throttle.daily_limits.enabled);
}

TEST_F(ratelimit_headers, count_down_per_account_and_per_model) {
  start(limited(2000, 500, 200));
  auto first = submit(body_for(turbo));
  ASSERT_EQ(first->status, 200);
  auto h = headers_of(first);
  EXPECT_EQ(h.account_limit, "2000");
  EXPECT_EQ(h.account_remaining, "1999");
  EXPECT_EQ(h.model_limit, "500");
  EXPECT_EQ(h.model_remaining, "499");
  const auto id = json::parse(first->body).at("task_id").get<std::string>();

  auto second = submit(body_for(turbo, 2));
  h = headers_of(second);
  EXPECT_EQ(h.account_remaining, "1998");
  EXPECT_EQ(h.model_remaining, "498");

  auto other = submit(body_for(qwen, 3));
  ASSERT_EQ(other->status, 200) << other->body;
  h = headers_of(other);
  EXPECT_EQ(h.account_remaining, "1997");  // the account counts every model
  EXPECT_EQ(h.model_limit, "200");
  EXPECT_EQ(h.model_remaining, "199");  // this model's own count

  // Every answer with a key carries them: a poll (the task's model), a refused submit.
  auto polled = poll(id);
  h = headers_of(polled);
  EXPECT_EQ(h.account_remaining, "1997");
  EXPECT_EQ(h.model_remaining, "498");
  auto bad = submit(json{{"model", turbo}, {"prompt", "x"}, {"size", "256x256"}}.dump());
  ASSERT_EQ(bad->status, 400);
  EXPECT_EQ(headers_of(bad).account_remaining, "1997");
  // Polls do not count (unknown on the real service; the mock's choice).
  EXPECT_EQ(headers_of(poll(id)).account_remaining, "1997");
}

TEST_F(ratelimit_headers, the_model_limit_ends_in_a_quota_429_with_remaining_0) {
  start(limited(2000, 2, 200));
  ASSERT_EQ(submit(body_for(turbo, 1))->status, 200);
  auto last = submit(body_for(turbo, 2));
  ASSERT_EQ(last->status, 200);
  EXPECT_EQ(headers_of(last).model_remaining, "0");
  auto refused = submit(body_for(turbo, 3));
  ASSERT_EQ(refused->status, 429);
  EXPECT_EQ(error_message(refused->body), protocol::texts::daily_quota(turbo));
  EXPECT_EQ(headers_of(refused).model_remaining, "0");
  EXPECT_EQ(headers_of(refused).account_remaining, "1998");
  EXPECT_EQ(submit(body_for(qwen, 4))->status, 200) << "another model still has calls";
  EXPECT_EQ(counter(stats(), "/rate_limited/quota"), 1);
}

TEST_F(ratelimit_headers, the_account_limit_binds_every_model) {
  start(limited(2, 500, 200));
  ASSERT_EQ(submit(body_for(turbo, 1))->status, 200);
  auto last = submit(body_for(qwen, 2));
  EXPECT_EQ(headers_of(last).account_remaining, "0");
  auto refused = submit(body_for(qwen, 3));
  ASSERT_EQ(refused->status, 429);
  EXPECT_EQ(headers_of(refused).account_remaining, "0");
}

TEST_F(ratelimit_headers, reset_at_midnight_utc_plus_8_on_the_model_clock) {
  auto config = limited(2000, 1, 200);
  start(config);
  // The clock's origin: 2026-03-01 15:00:00 UTC = 23:00 UTC+8, one hour before the reset.
  model_->set_clock_origin_unix(1772377200);
  ASSERT_EQ(submit(body_for(turbo, 1))->status, 200);
  advance(std::chrono::minutes(59));
  auto spent = submit(body_for(turbo, 2));
  ASSERT_EQ(spent->status, 429);
  EXPECT_EQ(headers_of(spent).model_remaining, "0");
  advance(std::chrono::minutes(1));  // 00:00 UTC+8
  auto fresh = submit(body_for(turbo, 3));
  ASSERT_EQ(fresh->status, 200) << fresh->body;
  EXPECT_EQ(headers_of(fresh).model_remaining, "0");  // 1 a day, used again
  EXPECT_EQ(headers_of(fresh).account_remaining, "1999");
}

TEST_F(ratelimit_headers, the_credit_quota_shows_in_the_account_count) {
  auto config = limited(2000, 500, 200);
  config.throttle.quota.enabled = true;
  config.throttle.quota.daily_credits = 6;
  config.throttle.quota.cost_per_task = 2;
  start(config);
  auto res = submit(body_for(turbo));
  const auto h = headers_of(res);
  EXPECT_EQ(h.account_limit, "3");  // the tighter limit: 6 credits at 2 a task
  EXPECT_EQ(h.account_remaining, "2");
  EXPECT_EQ(h.model_remaining, "499");
}

TEST_F(ratelimit_headers, absent_when_off) {
  auto config = limited(2000, 500, 200);
  config.throttle.ratelimit_headers = false;
  start(config);
  EXPECT_FALSE(submit(body_for(turbo))->has_header("modelscope-ratelimit-requests-remaining"));
}

}  // namespace
}  // namespace zbatch::mock::testing

namespace zbatch::mock::testing {
namespace {

// The newer error shapes as profile faults (issue 14; protocol doc, "What newer public material
// adds"), each at probability 1 on submits.
class newer_errors : public mock_fixture {
 protected:
  httplib::Result submit_with(double endpoint_faults::*kind) {
    auto config = quiet_config();
    config.faults.submit.*kind = 1.0;
    model_->replace_config(config);
    return submit();
  }
};

TEST_F(newer_errors, each_shape_as_the_service_sends_it) {
  start(quiet_config());
  auto unbound = submit_with(&endpoint_faults::unbound_401);
  ASSERT_EQ(unbound->status, 401);
  auto body = json::parse(unbound->body);
  EXPECT_EQ(body.at("error").at("message"), protocol::texts::unbound_account);
  EXPECT_TRUE(body.contains("request_id"));

  auto no_provider = submit_with(&endpoint_faults::no_provider_400);
  ASSERT_EQ(no_provider->status, 400);
  EXPECT_EQ(json::parse(no_provider->body).at("error").at("message"),
            "Model id : Tongyi-MAI/Z-Image-Turbo , has no provider supported");
  auto as_429 = submit_with(&endpoint_faults::no_provider_429);
  ASSERT_EQ(as_429->status, 429);
  EXPECT_EQ(error_message(as_429->body), protocol::texts::no_provider("Tongyi-MAI/Z-Image-Turbo"));
  EXPECT_EQ(counter(stats(), "/tasks/created"), 0) << "refused: nothing created";

  auto empty = submit_with(&endpoint_faults::empty_200);
  ASSERT_EQ(empty->status, 200);
  EXPECT_TRUE(empty->body.empty());
  const auto s = stats();
  EXPECT_EQ(counter(s, "/tasks/created"), 1) << "the empty 200 hides a created (paid) task";
  EXPECT_EQ(counter(s, "/faults/empty_200"), 1);
  EXPECT_EQ(counter(s, "/faults/unbound_401"), 1);
}

}  // namespace
}  // namespace zbatch::mock::testing
