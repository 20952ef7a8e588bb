// The modelscope-ratelimit-* headers read into figures.
#include "protocol/ratelimit.hpp"

#include <gtest/gtest.h>

namespace zbatch::protocol {
namespace {

header_list headers(const char* account_limit, const char* account_remaining,
                    const char* model_limit, const char* model_remaining) {
  header_list out;
  out.set(std::string(ratelimit::requests_limit), account_limit);
  out.set(std::string(ratelimit::requests_remaining), account_remaining);
  out.set(std::string(ratelimit::model_requests_limit), model_limit);
  out.set(std::string(ratelimit::model_requests_remaining), model_remaining);
  return out;
}

TEST(read_ratelimit, reads_the_four_counts) {
  const auto state = read_ratelimit(headers("2000", "1996", "500", " 496 "));
  ASSERT_TRUE(state);
  EXPECT_EQ(state->account_limit, 2000);
  EXPECT_EQ(state->account_remaining, 1996);
  EXPECT_EQ(state->model_limit, 500);
  EXPECT_EQ(state->model_remaining, 496);
  EXPECT_EQ(state->remaining(), 496);
  // All of a limit left is no contradiction.
  EXPECT_EQ(read_ratelimit(headers("10", "10", "5", "0"))->account_remaining, 10);
}

// A new user's server sent "remaining 500" of a limit of 10, and the plan said "calls left
// today: 500 (account 500/10)". The pair is dropped; the other pair still counts.
TEST(read_ratelimit, a_remaining_count_above_its_limit_is_not_believed) {
  auto state = read_ratelimit(headers("10", "500", "500", "496"));
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->account_limit);
  EXPECT_FALSE(state->account_remaining);
  EXPECT_EQ(state->model_limit, 500);
  EXPECT_EQ(state->model_remaining, 496);
  EXPECT_EQ(state->remaining(), 496);

  state = read_ratelimit(headers("2000", "1990", "5", "6"));
  ASSERT_TRUE(state);
  EXPECT_EQ(state->account_remaining, 1990);
  EXPECT_FALSE(state->model_limit);
  EXPECT_FALSE(state->model_remaining);
  EXPECT_EQ(state->remaining(), 1990);

  // The new user's headers exactly: nothing left to believe (the other pair is not numbers).
  EXPECT_FALSE(read_ratelimit(headers("10", "500", "-3", "abc")));
}

}  // namespace
}  // namespace zbatch::protocol
