#include "client/mock_admin.hpp"

#include <cstdint>

#include <httplib.h>

#include "client/answer_budget.hpp"
#include "protocol/wire.hpp"

namespace zbatch::client {
namespace {

void set_limits(httplib::ClientImpl& client, const admin_limits& limits) {
  using std::chrono::microseconds;
  const auto connect_us = std::chrono::duration_cast<microseconds>(limits.connect).count();
  const auto idle_us = std::chrono::duration_cast<microseconds>(limits.idle).count();
  client.set_tcp_nodelay(true);
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.set_connection_timeout(connect_us / 1'000'000, connect_us % 1'000'000);
  client.set_read_timeout(idle_us / 1'000'000, idle_us % 1'000'000);
  client.set_write_timeout(idle_us / 1'000'000, idle_us % 1'000'000);
}

/// Why a call failed, or "" when a 200 answer came back whole (`status` 0: no answer).
std::string failure_text(int status, httplib::Error error, bool too_large, bool idle_ran_out,
                         const answer_budget& budget, const admin_limits& limits) {
  if (too_large) {
    const bool whole_mib = limits.max_bytes >= (1u << 20) && limits.max_bytes % (1u << 20) == 0;
    return "answer larger than " + std::to_string(limits.max_bytes) + " bytes" +
           (whole_mib ? " (" + std::to_string(limits.max_bytes >> 20) + " MiB)" : "");
  }
  if (budget.headers_too_large) {
    return "answer headers longer than " + std::to_string(budget.max_header_bytes) + " bytes or " +
           std::to_string(budget.max_header_lines) + " lines";
  }
  if (status == 0 && error == httplib::Error::Read && budget.header_line_refused()) {
    return header_line_text(budget);
  }
  if (budget.too_late) {
    return "no complete answer within " + deadline_text(limits.deadline);
  }
  if (idle_ran_out) {
    return "nothing received for " + deadline_text(limits.idle) + " (the idle time-out)";
  }
  if (status == 0) {
    return transport_text(error);
  }
  return status == 200 ? std::string{} : "HTTP " + std::to_string(status);
}

}  // namespace

zbatch::result<std::string> call_mock_admin(const std::string& base_url, const std::string& method,
                                            const std::string& path, const admin_limits& limits) {
  std::string why;
  const auto url = protocol::parse_url(base_url, &why);
  if (!url) {
    return invalid_argument_error("mock URL \"" + base_url + "\" is not usable: " + why);
  }
  auto origin = base_url;
  while (!origin.empty() && origin.back() == '/') {
    origin.pop_back();
  }
  const std::string where = method + " " + origin + path;
  answer_budget budget;
  auto client = make_budgeted_client(url->scheme, url->host, url->port, budget);
  set_limits(*client, limits);

  httplib::Request request;
  request.method = method;
  request.path = path;
  std::string body;
  bool too_large = false;
  using steady = std::chrono::steady_clock;
  auto last_progress = steady::now();
  request.response_handler = [&](const httplib::Response&) {
    last_progress = steady::now();
    budget.headers_done = true;  // the body is counted against max_bytes, not the header limits
    return true;
  };
  request.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    last_progress = steady::now();
    if (body.size() + size > limits.max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, size);
    return true;
  };
  budget.start(last_progress, limits.deadline);
  budget.idle = limits.idle;
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool answered = client->send(request, response, error) && error == httplib::Error::Success;

  const bool idle_ran_out = !answered && steady::now() - last_progress >= limits.idle * 9 / 10;
  const auto failure =
      failure_text(answered ? response.status : 0, error, too_large, idle_ran_out, budget, limits);
  if (!failure.empty()) {
    return unavailable_error(where + ": " + failure + " (is it a zbatch mock on loopback?)");
  }
  return body;
}

}  // namespace zbatch::client
