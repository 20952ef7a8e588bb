// client::call_mock_admin, the scenario runner's calls to a mock the user started (issue 17,
// bounded time and memory everywhere): the mock's own answers come back; a port that accepts and
// never answers ends at the call's deadline, an answer without end at the size cap, each an
// unavailable error naming the method and the URL. What the fakes managed to send is asserted, not
// the clock.
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/mock_admin.hpp"
#include "tests/client/mock_fixture.hpp"
#include "tests/fakes/header_flood.hpp"

namespace zbatch::client {
namespace {

using std::chrono::milliseconds;
using test::fake::header_flood;

class mock_admin : public test::mock_fixture {};

TEST_F(mock_admin, the_mocks_reset_and_stats_come_back) {
  ASSERT_TRUE(call_mock_admin(server_->base_url(), "POST", "/admin/reset").ok());
  const auto stats = call_mock_admin(server_->base_url() + "/", "GET", "/admin/stats");
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  const auto document = nlohmann::json::parse(*stats, nullptr, false);
  ASSERT_TRUE(document.is_object()) << *stats;
  EXPECT_TRUE(document.contains("requests")) << *stats;
}

TEST_F(mock_admin, another_status_is_unavailable_naming_the_url) {
  const auto answer = call_mock_admin(server_->base_url(), "GET", "/admin/nothing-here");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), status_code::unavailable);
  EXPECT_NE(
      answer.status().message().find("GET " + server_->base_url() + "/admin/nothing-here: HTTP "),
      std::string::npos)
      << answer.status().message();
}

TEST(mock_admin_bounds, a_port_that_never_answers_ends_at_the_deadline_naming_the_url) {
  header_flood silent(header_flood::shape::silent, 0);
  admin_limits limits;
  limits.deadline = milliseconds{200};
  const auto answer = call_mock_admin(silent.url(), "POST", "/admin/reset", limits);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), status_code::unavailable);
  EXPECT_NE(answer.status().message().find("POST " + silent.url() +
                                           "/admin/reset: no complete answer within 200 ms"),
            std::string::npos)
      << answer.status().message();
  ASSERT_TRUE(silent.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_EQ(silent.connections(), 1);
  EXPECT_EQ(silent.connections_cut(), 1) << "the client closed the connection, not the fake";
}

TEST(mock_admin_bounds, a_port_that_never_answers_ends_at_the_idle_time_out_when_that_is_first) {
  header_flood silent(header_flood::shape::silent, 0);
  admin_limits limits;
  limits.idle = milliseconds{100};
  const auto answer = call_mock_admin(silent.url(), "GET", "/admin/stats", limits);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("GET " + silent.url() +
                                           "/admin/stats: nothing received for 100 ms (the idle "
                                           "time-out) (is it a zbatch mock on loopback?)"),
            std::string::npos)
      << answer.status().message();
  ASSERT_TRUE(silent.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_EQ(silent.connections_cut(), 1);
}

TEST(mock_admin_bounds, an_endless_body_is_cut_off_at_the_cap_naming_the_url) {
  const std::uint64_t flood_bytes = std::uint64_t{64} << 20;
  header_flood endless(header_flood::shape::endless_body, flood_bytes);
  admin_limits limits;
  limits.max_bytes = 1u << 20;
  const auto answer = call_mock_admin(endless.url(), "GET", "/admin/stats", limits);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), status_code::unavailable);
  EXPECT_NE(answer.status().message().find(
                "GET " + endless.url() + "/admin/stats: answer larger than 1048576 bytes (1 MiB)"),
            std::string::npos)
      << answer.status().message();
  ASSERT_TRUE(endless.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_EQ(endless.connections_cut(), 1);
  EXPECT_LT(endless.most_on_one_connection(), flood_bytes / 2);
}

TEST(mock_admin_bounds, endless_header_lines_are_cut_off_at_the_header_cap) {
  const std::uint64_t flood_bytes = std::uint64_t{64} << 20;
  header_flood flood(header_flood::shape::lines, flood_bytes);
  const auto answer = call_mock_admin(flood.url(), "GET", "/admin/stats");
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("answer headers longer than 65536 bytes or 256 lines"),
            std::string::npos)
      << answer.status().message();
  ASSERT_TRUE(flood.wait_until_connections_end(std::chrono::seconds{30}));
  EXPECT_LT(flood.most_on_one_connection(), flood_bytes / 2);
}

}  // namespace
}  // namespace zbatch::client
