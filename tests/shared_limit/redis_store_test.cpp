// The Redis store and the permit client against a real `redis-server` started by the test on
// 127.0.0.1 (redis_server.hpp): exactness under 2,000 concurrent acquires, expiry of a lease
// nobody renews, scripts reloaded after SCRIPT FLUSH, degraded mode when Redis is killed and the
// rejoin after its restart, and the password never in any message.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "shared_limit/permit_client.hpp"
#include "shared_limit/redis_store.hpp"
#include "tests/cli/process.hpp"
#include "tests/shared_limit/redis_server.hpp"
#include "tests/shared_limit/shared_rules.hpp"

namespace zbatch::shared_limit {
namespace {

class redis_test : public ::testing::Test {
 protected:
  explicit redis_test(std::string password = {}) : server_(std::move(password)) {}
  void SetUp() override {
    const auto why = server_.start();
    ASSERT_TRUE(why.empty()) << why;
  }
  redis_config config(const std::string& password = {}) const {
    redis_config c;
    c.port = server_.port();
    c.password = password;
    // 2,000 connections at once on a loaded 2-core machine: generous time-outs (not speeds).
    c.connect_timeout = std::chrono::seconds(30);
    c.command_timeout = std::chrono::seconds(30);
    return c;
  }
  std::unique_ptr<redis_store> connect(const std::string& ns = "zbatch:test") {
    auto store = redis_store::connect(config(), ns);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? *std::move(store) : nullptr;
  }
  test::redis_server server_;
};

TEST_F(redis_test, two_thousand_concurrent_acquires_never_hold_more_than_the_limit) {
  constexpr int requests = 2000;
  constexpr int limit = 100;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> granted{0};
  std::atomic<int> failures{0};
  std::mutex first_failure_mutex;
  std::string first_failure;
  auto failed = [&](const status& why) {
    failures.fetch_add(1);
    std::lock_guard lock(first_failure_mutex);
    if (first_failure.empty()) {
      first_failure = why.to_string();
    }
  };
  std::atomic<bool> sampling{true};
  std::atomic<int> sampled_max{0};
  // Redis's own count, sampled while the requests run (ZCARD over a separate connection).
  std::thread sampler([&] {
    auto store = connect();
    while (store && sampling.load()) {
      auto held = store->held();
      if (held.ok()) {
        int seen = sampled_max.load();
        while (*held > seen && !sampled_max.compare_exchange_weak(seen, *held)) {
        }
      }
    }
  });
  std::vector<std::thread> threads;
  threads.reserve(requests);
  for (int i = 0; i < requests; ++i) {
    threads.emplace_back([&, i] {
      auto store = redis_store::connect(config(), "zbatch:test");
      ready.fetch_add(1);
      while (!go.load()) {
        std::this_thread::yield();
      }
      if (!store.ok()) {
        failed(store.status());
        return;
      }
      const std::string id = "t" + std::to_string(i);
      std::minstd_rand rng(static_cast<unsigned>(i));
      for (int tries = 0; tries < 100'000; ++tries) {
        auto answer = (*store)->acquire(id, limit, millis{30'000});
        if (!answer.ok()) {
          failed(answer.status());
          return;
        }
        if (answer->granted) {
          granted.fetch_add(1);
          // Hold it for a moment (the task), then give it back.
          std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 800));
          if (const auto released = (*store)->release(id); !released.ok()) {
            failed(released);
          }
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      failed(internal_error("never granted"));
    });
  }
  ASSERT_TRUE(test::wait_for([&] { return ready.load() == requests; }, std::chrono::seconds(60)));
  go.store(true);
  for (auto& t : threads) {
    t.join();
  }
  sampling.store(false);
  sampler.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_EQ(granted.load(), requests);
  auto store = connect();
  ASSERT_TRUE(store);
  // The most ever held at once, counted inside the acquire script: never above the limit, and
  // reached (the 2,000 requests did contend).
  EXPECT_EQ(*store->max_held(), limit);
  EXPECT_LE(sampled_max.load(), limit);
  EXPECT_EQ(*store->held(), 0);
}

TEST_F(redis_test, a_lease_nobody_renews_returns_its_permit_within_the_lease_time) {
  auto killed = connect();  // holds a lease, then stops renewing (as a process killed -9)
  auto live = connect();
  ASSERT_TRUE(killed && live);
  ASSERT_TRUE(killed->acquire("killed:1", 1, millis{200})->granted);
  const auto denied = live->acquire("live:1", 1, millis{200});
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->granted);
  EXPECT_LE(denied->retry_in.count(), 200);  // Redis says when: within the lease time
  EXPECT_GE(denied->retry_in.count(), 0);
  EXPECT_TRUE(test::wait_for([&] { return live->acquire("live:1", 1, millis{200})->granted; },
                             std::chrono::seconds(10)));
}

TEST_F(redis_test, renewal_keeps_a_lease_and_release_returns_it) {
  auto a = connect();
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->acquire("a:1", 1, millis{10'000})->granted);
  EXPECT_EQ(*a->renew({"a:1", "a:unknown"}, millis{10'000}), 1);
  EXPECT_FALSE(a->acquire("a:2", 1, millis{10'000})->granted);
  EXPECT_TRUE(a->release("a:1").ok());
  EXPECT_EQ(*a->renew({"a:1"}, millis{10'000}), 0);
  EXPECT_TRUE(a->acquire("a:2", 1, millis{10'000})->granted);
}

TEST_F(redis_test, pacing_limit_and_quota_scripts_follow_the_memory_store) {
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(a && b);
  // GCRA: a burst of 2 at 1 per 10 s, then a wait of about 10 s.
  EXPECT_TRUE(a->pace(0.1, 2)->allowed);
  EXPECT_TRUE(b->pace(0.1, 2)->allowed);
  const auto third = a->pace(0.1, 2);
  EXPECT_FALSE(third->allowed);
  EXPECT_GT(third->retry_in.count(), 9'000);
  // One decrease per round trip across processes.
  const aimd_params p{4, 1, 16, 0.5};
  const auto submitted = a->acquire("x", 10, millis{10'000})->now_ms;
  EXPECT_TRUE(a->limit_decrease(p, submitted)->changed);
  const auto second = b->limit_decrease(p, submitted - 1);
  EXPECT_FALSE(second->changed);
  EXPECT_DOUBLE_EQ(second->limit, 2.0);
  EXPECT_DOUBLE_EQ(b->limit_increase(p, b->acquire("y", 10, millis{10'000})->now_ms, true)->limit,
                   2.5);
  // An adaptive acquire checks the limit's floor as it stands (2.5 -> 2): x and y are held.
  const auto adaptive = a->acquire("v", lease_limit(p), millis{10'000});
  EXPECT_FALSE(adaptive->granted);
  EXPECT_EQ(adaptive->limit, 2);
  ASSERT_TRUE(a->release("x").ok());
  EXPECT_TRUE(a->acquire("v", lease_limit(p), millis{10'000})->granted);
  ASSERT_TRUE(a->release("v").ok());
  ASSERT_TRUE(a->release("y").ok());
  // The quota stop refuses acquires until its reset.
  const auto now = a->acquire("z", 10, millis{10'000})->now_ms;
  ASSERT_TRUE(a->quota_stop(now + 60'000).ok());
  const auto refused = b->acquire("w", 10, millis{10'000});
  EXPECT_FALSE(refused->granted);
  ASSERT_TRUE(refused->quota_reset_ms.has_value());
  EXPECT_EQ(*refused->quota_reset_ms, now + 60'000);
  EXPECT_EQ(*b->heartbeat("p1", millis{10'000}), 1);
  EXPECT_EQ(*a->heartbeat("p2", millis{10'000}), 2);
}

TEST_F(redis_test, scripts_are_loaded_again_after_a_script_flush) {
  auto a = connect();
  auto admin = connect();
  ASSERT_TRUE(a && admin);
  ASSERT_TRUE(a->acquire("a:1", 5, millis{10'000})->granted);
  redisContext* c = redisConnect("127.0.0.1", server_.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
  redisFree(c);
  const auto again = a->acquire("a:2", 5, millis{10'000});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->granted);
  EXPECT_EQ(again->held, 2);
}

TEST_F(redis_test, redis_killed_mid_run_degrades_to_the_share_and_rejoins_after_restart) {
  std::vector<std::string> notices;
  std::mutex notices_mutex;
  permit_options options;
  options.limit = 2;
  options.guaranteed = 2;
  options.process_id = "worker";
  options.on_notice = [&](const std::string& text) {
    std::lock_guard lock(notices_mutex);
    notices.push_back(text);
  };
  permit_client client(connect(), options);  // namespace zbatch:test
  const auto p1 = client.acquire();
  const auto p2 = client.acquire();
  ASSERT_TRUE(p1.permit && p2.permit);
  EXPECT_FALSE(client.acquire().permit);
  client.release(*p2.permit);

  server_.kill();
  // Redis is gone: the client keeps going on its share (min(2 granted, 2 / 1 process)).
  const auto local = client.acquire();
  ASSERT_TRUE(local.permit);
  EXPECT_TRUE(client.degraded());
  EXPECT_EQ(client.share(), 2);
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(client.acquire().permit);  // never more than the share in flight
  }
  EXPECT_EQ(client.in_flight(), 2);
  client.tick();  // still down: no second notice
  EXPECT_EQ(notices.size(), 1u);

  const auto why = server_.start();  // same port, empty (no persistence)
  ASSERT_TRUE(why.empty()) << why;
  client.tick();
  EXPECT_FALSE(client.degraded());
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[0].find("unreachable"), std::string::npos);
  EXPECT_NE(notices[1].find("rejoined with 2"), std::string::npos);
  // The permits held through the outage are leases again, so other processes count them.
  auto probe = connect();
  ASSERT_TRUE(probe);
  EXPECT_EQ(*probe->held(), 2);
  client.release(*p1.permit);
  client.release(*local.permit);
  EXPECT_EQ(client.in_flight(), 0);
  EXPECT_TRUE(client.acquire().permit);
  EXPECT_FALSE(client.degraded());
}

class redis_password_test : public redis_test {
 protected:
  redis_password_test() : redis_test("s3cret-Pa55word") {}
};

TEST_F(redis_password_test, the_password_authenticates_and_never_appears_in_a_message) {
  const std::string password = "s3cret-Pa55word";
  auto good = redis_store::connect(config(password), "zbatch:test");
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_TRUE((*good)->acquire("a", 1, millis{1000})->granted);

  auto wrong = redis_store::connect(config("wrong-" + password), "zbatch:test");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message().find(password), std::string::npos);
  EXPECT_NE(wrong.status().message().find("AUTH"), std::string::npos);
  auto none = redis_store::connect(config(), "zbatch:test");
  ASSERT_FALSE(none.ok());  // refused at the first command (NOAUTH)
  EXPECT_EQ(none.status().code(), status_code::failed_precondition);

  const auto url = parse_redis_url("redis://:" + password + "@127.0.0.1:6379/0");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.status().message().find(password), std::string::npos);

  // A killed server: the degraded notice names the server, never the password.
  std::vector<std::string> notices;
  permit_options options;
  options.on_notice = [&](const std::string& text) { notices.push_back(text); };
  permit_client client(*std::move(good), options);
  server_.kill();
  (void)client.acquire();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].find(password), std::string::npos);
  EXPECT_NE(notices[0].find("127.0.0.1:" + std::to_string(server_.port())), std::string::npos);
}

TEST(redis_url, parses_host_port_and_database) {
  const auto c = parse_redis_url("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->host, "10.0.0.5");
  EXPECT_EQ(c->port, 6380);
  EXPECT_EQ(c->db, 3);
  EXPECT_EQ(parse_redis_url("redis://localhost:6379")->db, 0);
  EXPECT_FALSE(parse_redis_url("http://localhost:6379").ok());
  EXPECT_FALSE(parse_redis_url("redis://localhost").ok());
  EXPECT_FALSE(parse_redis_url("redis://localhost:0").ok());
  EXPECT_FALSE(parse_redis_url("redis://localhost:6379/16").ok());
}

TEST(redis_url, a_malformed_host_is_refused_and_ipv6_loses_its_brackets) {
  // A host the resolver would refuse must not reach it: "name not known" would read as Redis
  // being down and the run would go on, unshared, on a local share.
  const auto unclosed = parse_redis_url("redis://[::1:6379/0");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_EQ(unclosed.status().message(),
            "--shared-limit: host \"[::1\" is not a host name, an IPv4 address or an [IPv6] "
            "address");
  EXPECT_FALSE(parse_redis_url("redis://a b:6379/0").ok());
  EXPECT_FALSE(parse_redis_url("redis://[]:6379").ok());
  const auto v6 = parse_redis_url("redis://[::1]:6380/2");
  ASSERT_TRUE(v6.ok()) << v6.status().to_string();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6380);
  EXPECT_EQ(parse_redis_url("redis://localhost:6379/abc").status().message(),
            "--shared-limit: database \"abc\" must be a whole number from 0 to 15");
  EXPECT_EQ(parse_redis_url("redis://localhost:/0").status().message(),
            "--shared-limit: port \"\" must be a whole number from 1 to 65535");
}

}  // namespace
}  // namespace zbatch::shared_limit

namespace zbatch::shared_limit {
namespace {

/// The server's clock now (ms), from a lease taken and returned on a key of its own.
std::int64_t server_now(redis_store& store) {
  const auto answer = store.acquire("clock", 1, millis{1000});
  EXPECT_TRUE(answer.ok());
  EXPECT_TRUE(store.release("clock").ok());
  return answer.ok() ? answer->now_ms : 0;
}

TEST_F(redis_test, the_circuit_is_shared_with_one_probe_when_half_open) {
  auto a = connect("zbatch:circuit");
  auto b = connect("zbatch:circuit");
  ASSERT_TRUE(a && b);
  test_rules::circuit_is_shared_with_one_probe(*a, *b, server_now(*a));
}

TEST_F(redis_test, strikes_drop_the_shared_limit_to_the_level_below) {
  auto a = connect("zbatch:strikes");
  auto b = connect("zbatch:strikes");
  ASSERT_TRUE(a && b);
  test_rules::strikes_drop_the_shared_limit_to_the_level_below(*a, *b, server_now(*a));
}

TEST_F(redis_test, waiters_are_served_first_come_first_served) {
  auto a = connect("zbatch:queue");
  auto b = connect("zbatch:queue");
  auto c = connect("zbatch:queue");
  ASSERT_TRUE(a && b && c);
  test_rules::waiters_are_served_first_come_first_served(*a, *b, *c);
}

TEST_F(redis_test, rate_limit_figures_are_kept_per_model) {
  auto a = connect("zbatch:models");
  auto b = connect("zbatch:models");
  ASSERT_TRUE(a && b);
  test_rules::ratelimit_figures_are_kept_per_model(*a, *b, server_now(*a));
}

TEST_F(redis_test, rate_limit_figures_keep_the_lowest_until_the_reset) {
  auto a = connect("zbatch:figures");
  auto b = connect("zbatch:figures");
  ASSERT_TRUE(a && b);
  const auto now = server_now(*a);
  test_rules::ratelimit_figures_keep_the_lowest_until_the_reset(*a, *b, now);
  // A record whose reset is already past leaves nothing behind.
  auto c = connect("zbatch:figures-past");
  ASSERT_TRUE(c.get() != nullptr);
  ASSERT_TRUE(c->ratelimit_record(test_rules::figures(5, "m", 5), now - 1).ok());
  EXPECT_FALSE(c->ratelimit()->account_remaining.has_value());
}

TEST_F(redis_test, the_permit_client_shares_the_circuit_and_the_figures) {
  permit_options options;
  options.process_id = "p1";
  permit_client one(connect("zbatch:client-rules"), options);
  options.process_id = "p2";
  permit_client two(connect("zbatch:client-rules"), options);
  auto probe = connect("zbatch:client-rules");
  ASSERT_TRUE(probe.get() != nullptr);
  const auto now = server_now(*probe);
  one.on_circuit_open(now + 60'000);
  EXPECT_EQ(two.circuit().now, circuit_answer::state::open);
  one.on_circuit_close();
  EXPECT_EQ(two.circuit().now, circuit_answer::state::closed);
  two.on_ratelimit(test_rules::figures(7, "m", 3), now + 60'000);
  EXPECT_EQ(one.ratelimit().models.at("m"), 3);
  EXPECT_FALSE(one.degraded());
}

}  // namespace
}  // namespace zbatch::shared_limit
