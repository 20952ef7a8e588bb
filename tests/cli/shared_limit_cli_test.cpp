// `zbatch generate --shared-limit`: processes on one key share its in-flight limit through a
// redis-server the test starts on 127.0.0.1 (tests/shared_limit/redis_server.hpp; a missing
// redis-server fails the test), keep going on their share when Redis is killed and rejoin after
// its restart; the Redis password is never on the command line nor in any output.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mock_api/server.hpp"
#include "shared_limit/store.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/temp_dir.hpp"
#include "tests/shared_limit/redis_server.hpp"

namespace {

using zbatch::test::child;
using zbatch::test::temp_dir;

constexpr const char* password = "Pw-9f3e1c-shared";

class shared_limit_cli : public ::testing::Test {
 protected:
  shared_limit_cli() : server_(password) {}
  void SetUp() override {
    const auto why = server_.start();
    ASSERT_TRUE(why.empty()) << why;
    ::setenv("ZBATCH_REDIS_PASSWORD", password, 1);
  }
  void TearDown() override { ::unsetenv("ZBATCH_REDIS_PASSWORD"); }

  /// The most leases ever held at once on any key, as the acquire script counted them.
  long long max_held() {
    redisContext* c = redisConnect("127.0.0.1", server_.port());
    long long most = -1;
    if (c != nullptr && c->err == 0) {
      freeReplyObject(redisCommand(c, "AUTH %s", password));
      auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS *:maxheld"));
      for (std::size_t i = 0; keys != nullptr && i < keys->elements; ++i) {
        auto* v = static_cast<redisReply*>(redisCommand(c, "GET %s", keys->element[i]->str));
        if (v != nullptr && v->type == REDIS_REPLY_STRING) {
          most = std::max(most, std::atoll(v->str));
        }
        freeReplyObject(v);
      }
      freeReplyObject(keys);
    }
    redisFree(c);
    return most;
  }

  /// Leases held now on any key (ZCARD of each lease set).
  long long leases_now() {
    redisContext* c = redisConnect("127.0.0.1", server_.port());
    long long held = 0;
    if (c != nullptr && c->err == 0) {
      freeReplyObject(redisCommand(c, "AUTH %s", password));
      auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS *:leases"));
      for (std::size_t i = 0; keys != nullptr && i < keys->elements; ++i) {
        // Count only unexpired leases, as the scripts do (nothing purges a dead holder's).
        auto* n = static_cast<redisReply*>(
            redisCommand(c, "ZCOUNT %s %lld +inf", keys->element[i]->str, now_ms(c)));
        if (n != nullptr && n->type == REDIS_REPLY_INTEGER) {
          held += n->integer;
        }
        freeReplyObject(n);
      }
      freeReplyObject(keys);
    }
    redisFree(c);
    return held;
  }
  /// Processes waiting in any key's queue for a permit (ZCARD of each waiter set).
  long long waiters_now() {
    redisContext* c = redisConnect("127.0.0.1", server_.port());
    long long waiting = 0;
    if (c != nullptr && c->err == 0) {
      freeReplyObject(redisCommand(c, "AUTH %s", password));
      auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS *:waiters"));
      for (std::size_t i = 0; keys != nullptr && i < keys->elements; ++i) {
        auto* n = static_cast<redisReply*>(redisCommand(c, "ZCARD %s", keys->element[i]->str));
        waiting += n != nullptr && n->type == REDIS_REPLY_INTEGER ? n->integer : 0;
        freeReplyObject(n);
      }
      freeReplyObject(keys);
    }
    redisFree(c);
    return waiting;
  }
  static long long now_ms(redisContext* c) {
    auto* t = static_cast<redisReply*>(redisCommand(c, "TIME"));
    long long ms = 0;
    if (t != nullptr && t->elements == 2) {
      ms = std::atoll(t->element[0]->str) * 1000 + std::atoll(t->element[1]->str) / 1000;
    }
    freeReplyObject(t);
    return ms;
  }

  std::vector<std::string> args(const std::string& out, int count) const {
    return {"generate",       "--mock",
            "--prompt",       "a fox",
            "--count",        std::to_string(count),
            "--seed",         "7",
            "--strategy",     "bounded,inflight=1",
            "--shared-limit", server_.url(),
            "--out",          out};
  }

  zbatch::test::redis_server server_;
  temp_dir dir_;
};

TEST_F(shared_limit_cli, two_processes_on_one_key_never_hold_more_than_the_shared_limit) {
  temp_dir io_a;
  temp_dir io_b;
  child a(ZBATCH_EXE, args((dir_.path() / "a").string(), 3), io_a.path());
  child b(ZBATCH_EXE, args((dir_.path() / "b").string(), 3), io_b.path());
  ASSERT_TRUE(a.started() && b.started());
  EXPECT_EQ(a.wait(), 0) << a.out() << a.err();
  EXPECT_EQ(b.wait(), 0) << b.out() << b.err();
  // Both used the mock's stand-in key, so one namespace: one permit in flight between them.
  EXPECT_EQ(max_held(), 1);
  for (const auto* c : {&a, &b}) {
    EXPECT_EQ(c->out().find(password), std::string::npos);
    EXPECT_EQ(c->err().find(password), std::string::npos);
  }
}

// A new user's check: a process that joined a busy key waited for the whole of the other's
// batch (its first submit 26.5 s late; none in ten rounds of a kill loop): the holder took back
// each permit it freed before the waiter's next try. The key's queue serves the waiter next.
TEST_F(shared_limit_cli, a_process_joining_a_busy_key_is_served_next_not_after_the_whole_batch) {
  zbatch::mock::mock_config config;
  config.generation.queue = zbatch::mock::latency_spec::fixed(10);
  config.generation.time = zbatch::mock::latency_spec::fixed(300);
  zbatch::mock::server_options options;
  options.threads = 8;
  zbatch::mock::server mock(std::move(config), 7, options);
  auto on_mock = [&](const std::string& prompt, const std::string& out, int count) {
    return std::vector<std::string>{"generate",
                                    "--base-url",
                                    mock.base_url(),
                                    "--prompt",
                                    prompt,
                                    "--count",
                                    std::to_string(count),
                                    "--strategy",
                                    "bounded,inflight=1,poll=20ms",
                                    "--shared-limit",
                                    server_.url(),
                                    "--out",
                                    out};
  };
  const std::string key = "ms-shared-key-for-both";
  temp_dir io_a;
  temp_dir io_b;
  child a(ZBATCH_EXE, on_mock("a fox", (dir_.path() / "a").string(), 10), io_a.path(), key);
  ASSERT_TRUE(a.started());
  ASSERT_TRUE(zbatch::test::wait_for([&] { return mock.mock_model().totals().tasks_created > 0; }));
  child b(ZBATCH_EXE, on_mock("a heron", (dir_.path() / "b").string(), 1), io_b.path(), key);
  ASSERT_TRUE(b.started());
  ASSERT_TRUE(zbatch::test::wait_for([&] { return waiters_now() > 0; })) << b.out() << b.err();
  // From here on the holder cannot take another permit before the waiter: the waiter's task is
  // the next one, then the holder's; a few more may start while the waiter downloads and exits.
  const auto when_queued = mock.mock_model().totals().tasks_created;
  EXPECT_EQ(b.wait(), 0) << b.out() << b.err();
  EXPECT_LE(mock.mock_model().totals().tasks_created, when_queued + 3)
      << "the waiter was served after most of the holder's batch";
  EXPECT_EQ(a.wait(), 0) << a.out() << a.err();
  EXPECT_EQ(mock.mock_model().totals().tasks_created, 11u);
  EXPECT_EQ(max_held(), 1);
}

TEST_F(shared_limit_cli, redis_killed_mid_run_degrades_then_rejoins_and_delivers_everything) {
  temp_dir io;
  child c(ZBATCH_EXE, args((dir_.path() / "out").string(), 4), io.path());
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(zbatch::test::wait_for([&] { return c.out().find("accepted") != std::string::npos; }))
      << c.out() << c.err();
  server_.kill();
  ASSERT_TRUE(zbatch::test::wait_for([&] {
    return c.out().find("shared limit unreachable") != std::string::npos;
  })) << c.out()
      << c.err();
  const auto why = server_.start();  // same port, empty
  ASSERT_TRUE(why.empty()) << why;
  EXPECT_EQ(c.wait(), 0) << c.out() << c.err();
  const auto out = c.out();
  EXPECT_NE(out.find("rejoined"), std::string::npos) << out;
  EXPECT_NE(out.find("delivered 4/4"), std::string::npos) << out;
  // One notice per outage.
  EXPECT_EQ(out.find("shared limit unreachable"), out.rfind("shared limit unreachable"));
  EXPECT_EQ(out.find(password), std::string::npos);
  EXPECT_EQ(c.err().find(password), std::string::npos);
}

TEST_F(shared_limit_cli, a_process_killed_9_returns_its_permit_within_the_lease_time) {
  temp_dir io;
  child c(ZBATCH_EXE, args((dir_.path() / "out").string(), 2), io.path());
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(zbatch::test::wait_for([&] { return c.out().find("accepted") != std::string::npos; }))
      << c.out() << c.err();
  EXPECT_EQ(leases_now(), 1);
  c.signal(SIGKILL);  // no release, no more heartbeats
  c.wait();
  EXPECT_EQ(leases_now(), 1);  // nothing else returns it...
  // ...but its lease (10 s, renewed every 3 s) expires: bounded poll, lease time plus slack.
  EXPECT_TRUE(zbatch::test::wait_for([&] { return leases_now() == 0; }, std::chrono::seconds(15)));
}

TEST_F(shared_limit_cli, a_wrong_password_or_one_in_the_url_exits_2_without_echoing_it) {
  ::setenv("ZBATCH_REDIS_PASSWORD", "wrong-Pw-77", 1);
  temp_dir io;
  child wrong(ZBATCH_EXE, args((dir_.path() / "w").string(), 1), io.path());
  EXPECT_EQ(wrong.wait(), 2);
  EXPECT_NE(wrong.err().find("AUTH"), std::string::npos) << wrong.err();
  EXPECT_EQ(wrong.err().find("wrong-Pw-77"), std::string::npos);
  EXPECT_EQ(wrong.out().find("wrong-Pw-77"), std::string::npos);

  temp_dir io2;
  auto a = args((dir_.path() / "u").string(), 1);
  a[a.size() - 3] =
      "redis://:" + std::string(password) + "@127.0.0.1:" + std::to_string(server_.port());
  child in_url(ZBATCH_EXE, a, io2.path());
  EXPECT_EQ(in_url.wait(), 2);
  EXPECT_NE(in_url.err().find("ZBATCH_REDIS_PASSWORD"), std::string::npos) << in_url.err();
  EXPECT_EQ(in_url.err().find(password), std::string::npos);
}

// A new user's check: a process stopped because another on the key met the quota said
// "assumed: midnight UTC+8" (17 h away) where the service had told the other 50 s. The store's
// reset, written here as the other process would, is the one it names, and its manifest too.
TEST_F(shared_limit_cli, a_quota_stop_from_another_process_names_the_services_reset) {
  redisContext* c = redisConnect("127.0.0.1", server_.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "AUTH %s", password));
  const long long reset_ms = now_ms(c) + 5400 * 1000;  // 90 minutes: not a midnight UTC+8
  const auto quota_key = zbatch::shared_limit::key_namespace("zbatch-mock-key") + ":quota";
  freeReplyObject(redisCommand(c, "SET %s %lld PX %d", quota_key.c_str(), reset_ms, 600000));
  redisFree(c);
  temp_dir io;
  const auto out = dir_.path() / "q";
  auto a = args(out.string(), 2);
  a[9] = "bounded,inflight=1,quota=stop";  // --strategy's value: stop, not wait 90 minutes
  child stopped(ZBATCH_EXE, a, io.path());
  EXPECT_EQ(stopped.wait(), 4) << stopped.out() << stopped.err();
  const std::time_t t = static_cast<std::time_t>(reset_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char at[32];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const auto all = stopped.out() + stopped.err();
  EXPECT_NE(all.find(std::string("the quota resets at ") + at + " ("), std::string::npos) << all;
  EXPECT_NE(all.find("as the service told another process on the key"), std::string::npos) << all;
  const auto manifest = nlohmann::json::parse(zbatch::test::read_all(out / "manifest.json"));
  EXPECT_EQ(manifest.value("quota_resets_at", ""), at) << manifest.dump(2);
}

}  // namespace
