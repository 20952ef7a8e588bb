// The permit client on the in-memory store: permits come from leases, the degraded mode's share
// (never more than last granted, never more than guaranteed / processes, at least 1), one notice
// per outage, rejoining with the permits still held, and the shared adaptive limit.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "shared_limit/memory_store.hpp"
#include "shared_limit/permit_client.hpp"

namespace zbatch::shared_limit {
namespace {

struct world {
  std::int64_t now = 5'000'000;
  memory_store root{[this] { return now; }};
  std::vector<std::string> notices;

  std::unique_ptr<permit_client> client(permit_options options, const std::string& id) {
    options.process_id = id;
    options.on_notice = [this](const std::string& text) { notices.push_back(text); };
    return std::make_unique<permit_client>(std::make_unique<memory_store>(root.share()), options);
  }
};

TEST(permit_client, two_processes_share_one_limit) {
  world w;
  permit_options options;
  options.limit = 2;
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  const auto p1 = a->acquire();
  const auto p2 = b->acquire();
  ASSERT_TRUE(p1.permit && p2.permit);
  const auto p3 = a->acquire();
  EXPECT_FALSE(p3.permit);
  EXPECT_GT(p3.retry_in.count(), 0);
  b->release(*p2.permit);
  EXPECT_TRUE(a->acquire().permit);
  EXPECT_EQ(*w.root.max_held(), 2);
}

// A new user's check: a worker waiting for the key's permits said nothing (it looked hung). One
// notice per wait of 10 s or more, none for shorter waits.
TEST(permit_client, a_long_wait_for_a_permit_is_said_once) {
  world w;
  permit_options options;
  options.limit = 1;
  options.lease = millis{600'000};  // no heartbeat runs here
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  const auto held = a->acquire();
  ASSERT_TRUE(held.permit);
  EXPECT_FALSE(b->acquire().permit);
  w.now += 9'999;
  EXPECT_FALSE(b->acquire().permit);
  EXPECT_TRUE(w.notices.empty());
  w.now += 1;
  EXPECT_FALSE(b->acquire().permit);
  w.now += 20'000;
  EXPECT_FALSE(b->acquire().permit);
  ASSERT_EQ(w.notices.size(), 1u);
  EXPECT_EQ(w.notices[0],
            "waiting 10 s for a permit of the shared limit (--shared-limit): 1 of 1 in flight on "
            "the key, 0 of them this worker's; workers waiting are served in turn");
  // A grant ends the wait: the next one is said again after its own 10 s.
  a->release(*held.permit);
  const auto next = b->acquire();
  ASSERT_TRUE(next.permit);
  EXPECT_FALSE(b->acquire().permit);
  w.now += 10'000;
  EXPECT_FALSE(b->acquire().permit);
  EXPECT_EQ(w.notices.size(), 2u);
}

// A new user's check: with Redis down from the start, each of three workers said "1 worker(s)
// last seen: up to 1 new tasks in flight on the key together" (the key saw 3).
TEST(permit_client, unreachable_from_the_start_does_not_claim_to_know_the_workers) {
  world w;
  w.root.set_reachable(false);
  permit_options options;
  options.limit = 2;
  options.guaranteed = 2;
  auto a = w.client(options, "a");
  EXPECT_TRUE(a->degraded());
  ASSERT_EQ(w.notices.size(), 1u);
  EXPECT_EQ(w.notices[0].find("worker(s) last seen"), std::string::npos) << w.notices[0];
  EXPECT_NE(w.notices[0].find("other workers on the key were never seen, so together the key may "
                              "see this share times the workers running, against a limit of 2"),
            std::string::npos)
      << w.notices[0];
}

TEST(permit_client, degraded_mode_keeps_a_bounded_local_share_and_rejoins) {
  world w;
  permit_options options;
  options.limit = 4;
  options.guaranteed = 4;
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");  // two processes seen: a's fair share of 4 is 2
  a->tick();
  EXPECT_EQ(a->processes_seen(), 2);
  const auto p1 = a->acquire();
  const auto p2 = a->acquire();
  const auto p3 = a->acquire();
  ASSERT_TRUE(p1.permit && p2.permit && p3.permit);  // granted 3 while the store answered

  w.root.set_reachable(false);
  a->release(*p1.permit);  // the store is gone: a degrades
  EXPECT_TRUE(a->degraded());
  EXPECT_EQ(a->share(), 2);           // min(last granted 3, 4 / 2 processes)
  EXPECT_FALSE(a->acquire().permit);  // 2 still held: at the share
  a->release(*p2.permit);
  const auto local = a->acquire();
  ASSERT_TRUE(local.permit);
  EXPECT_FALSE(a->acquire().permit);
  EXPECT_EQ(a->in_flight(), 2);
  a->tick();  // still unreachable: stays degraded, no second notice
  ASSERT_EQ(w.notices.size(), 1u);
  EXPECT_NE(w.notices[0].find("local share of 2"), std::string::npos);
  // What the key may see in total, said (a new user's check counted more than the limit).
  EXPECT_NE(w.notices[0].find("(2 worker(s) last seen: up to 4 new tasks in flight on the key "
                              "together, against a limit of 4, and the tasks in flight now "
                              "finish)"),
            std::string::npos)
      << w.notices[0];

  w.root.set_reachable(true);
  a->tick();
  EXPECT_FALSE(a->degraded());
  ASSERT_EQ(w.notices.size(), 2u);
  EXPECT_NE(w.notices[1].find("rejoined with 2"), std::string::npos);
  EXPECT_EQ(*w.root.held(), 2);  // p3 and the local permit, adopted
  a->release(*p3.permit);
  a->release(*local.permit);
  EXPECT_EQ(*w.root.held(), 0);
}

TEST(permit_client, the_degraded_share_is_at_least_one) {
  world w;
  permit_options options;
  options.limit = 1;
  options.guaranteed = 1;
  std::vector<std::unique_ptr<permit_client>> others;
  for (const char* id : {"b", "c", "d"}) {
    others.push_back(w.client(options, id));
  }
  auto a = w.client(options, "a");
  EXPECT_EQ(a->processes_seen(), 4);
  w.root.set_reachable(false);
  const auto first = a->acquire();
  ASSERT_TRUE(first.permit);  // 1 / 4 rounds to 0, the floor is 1
  EXPECT_TRUE(a->degraded());
  EXPECT_EQ(a->share(), 1);
  EXPECT_FALSE(a->acquire().permit);
}

TEST(permit_client, an_expired_lease_of_a_silent_process_frees_its_permit) {
  world w;
  permit_options options;
  options.limit = 1;
  options.lease = millis{200};
  auto killed = w.client(options, "killed");
  auto live = w.client(options, "live");
  ASSERT_TRUE(killed->acquire().permit);  // then never ticks again
  EXPECT_FALSE(live->acquire().permit);
  w.now += 200;
  EXPECT_TRUE(live->acquire().permit);
}

TEST(permit_client, the_heartbeat_renews_held_leases) {
  world w;
  permit_options options;
  options.limit = 1;
  options.lease = millis{200};
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  ASSERT_TRUE(a->acquire().permit);
  for (int i = 0; i < 5; ++i) {
    w.now += 150;
    a->tick();
    EXPECT_FALSE(b->acquire().permit);
  }
  EXPECT_EQ(a->lost_leases(), 0);
}

TEST(permit_client, a_shared_adaptive_limit_decreases_once_for_a_round_of_429s) {
  world w;
  permit_options options;
  options.adaptive = aimd_params{4, 1, 16, 0.5};
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  const auto pa = a->acquire();
  const auto pb = b->acquire();
  ASSERT_TRUE(pa.permit && pb.permit);
  w.now += 50;
  a->on_dynamic_429(*pa.permit);
  w.now += 10;
  b->on_dynamic_429(*pb.permit);  // same round trip: no second decrease
  EXPECT_DOUBLE_EQ(a->current_limit(), 2.0);
  EXPECT_DOUBLE_EQ(b->current_limit(), 2.0);
  a->release(*pa.permit);
  b->release(*pb.permit);
  // The decreased limit binds both: 2 permits in all.
  EXPECT_TRUE(a->acquire().permit);
  EXPECT_TRUE(b->acquire().permit);
  EXPECT_FALSE(a->acquire().permit);
}

// The 429 budget is each process's (rate_limiter::may_grow): an acceptance at the limit it
// refuses to grow on leaves the shared limit where it is.
TEST(permit_client, an_acceptance_grows_the_shared_limit_only_when_the_budget_allows) {
  world w;
  permit_options options;
  options.adaptive = aimd_params{1, 1, 16, 0.5, 2};
  auto a = w.client(options, "a");
  auto first = a->acquire();  // the last permit: saturated
  ASSERT_TRUE(first.permit);
  a->on_accepted(*first.permit, false);
  EXPECT_DOUBLE_EQ(a->current_limit(), 1.0);
  a->release(*first.permit);
  auto second = a->acquire();
  ASSERT_TRUE(second.permit);
  a->on_accepted(*second.permit, true);
  EXPECT_DOUBLE_EQ(a->current_limit(), 2.0);
}

TEST(permit_client, shared_pacing_spaces_submits_across_processes_without_keeping_the_lease) {
  world w;
  permit_options options;
  options.limit = 4;
  options.pacing = std::make_pair(1.0, 1);  // one submit per second in all
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  ASSERT_TRUE(a->acquire().permit);
  const auto paced = b->acquire();
  EXPECT_FALSE(paced.permit);
  EXPECT_EQ(paced.retry_in, millis{1000});
  EXPECT_EQ(*w.root.held(), 1);  // b's lease went back with the refusal
  w.now += 1000;
  EXPECT_TRUE(b->acquire().permit);
  EXPECT_FALSE(a->acquire().permit);
}

TEST(permit_client, every_acquire_checks_the_adaptive_limit_as_it_stands_in_the_store) {
  world w;
  permit_options options;
  options.adaptive = aimd_params{4, 1, 16, 0.5};
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");  // sees 4, and no heartbeat tells it otherwise below
  const auto pa = a->acquire();
  ASSERT_TRUE(pa.permit);
  w.now += 10;
  a->on_dynamic_429(*pa.permit);  // 4 -> 2
  a->release(*pa.permit);
  EXPECT_DOUBLE_EQ(b->current_limit(), 4.0);
  EXPECT_TRUE(b->acquire().permit);
  EXPECT_TRUE(b->acquire().permit);
  EXPECT_FALSE(b->acquire().permit);  // the store's 2, not b's stale 4
  EXPECT_DOUBLE_EQ(b->current_limit(), 2.0);
}

TEST(permit_client, a_quota_stop_reaches_every_process) {
  world w;
  permit_options options;
  options.limit = 4;
  auto a = w.client(options, "a");
  auto b = w.client(options, "b");
  a->on_quota(w.now + 60'000);
  const auto refused = b->acquire();
  EXPECT_FALSE(refused.permit);
  ASSERT_TRUE(refused.quota_reset_ms.has_value());
  EXPECT_EQ(*refused.quota_reset_ms, w.now + 60'000);
}

}  // namespace
}  // namespace zbatch::shared_limit
