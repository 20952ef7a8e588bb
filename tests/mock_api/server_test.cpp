// The mock over loopback: every endpoint, header rule and error of the protocol doc, the task
// state machine, the transport faults as a client really sees them, admin and capacity.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "tests/cli/process.hpp"
#include "tests/mock_api/fixture.hpp"

namespace zbatch::mock::testing {
namespace {

class server_test : public mock_fixture {
 protected:
  /// How many of `connections` clients, each holding its connection open until all have one,
  /// get answers to two requests on it. A read time-out shorter than the keep-alive's: a worker
  /// held by an idle connection would starve the connections beyond the pool and fail the read.
  int served_together(int connections) const;
};

TEST_F(server_test, submit_poll_download_flow) {
  start(quiet_config());
  auto res = submit(submit_body("a red fox", 42));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  const auto accepted = json::parse(res->body);
  const std::string id = accepted.at("task_id");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(accepted.at("task_status"), "SUCCEED");  // only means "accepted"
  EXPECT_EQ(accepted.at("request_id").get<std::string>().size(), 36u);

  auto state = poll_json(id);
  EXPECT_EQ(state.at("task_status"), "PENDING");
  EXPECT_EQ(state.at("task_id"), id);
  EXPECT_TRUE(state.at("outputs").is_object());
  advance(1s);
  EXPECT_EQ(poll_json(id).at("task_status"), "RUNNING");
  advance(2999ms);
  EXPECT_EQ(poll_json(id).at("task_status"), "RUNNING");
  advance(1ms);
  state = poll_json(id);
  ASSERT_EQ(state.at("task_status"), "SUCCEED");
  const std::string url = state.at("output_images").at(0);
  // On the second origin, as the service's object-storage links are on another host.
  EXPECT_EQ(url, server_->images_url() + "/images/" + id + ".png");
  EXPECT_NE(server_->images_url(), server_->base_url());

  // A plain download, no auth header, as in the official sample.
  httplib::Client images(server_->images_url());
  auto image = images.Get(url.substr(server_->images_url().size()).c_str());
  ASSERT_TRUE(image);
  EXPECT_EQ(image->status, 200);
  EXPECT_EQ(image->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(image->body.substr(1, 3), "PNG");

  const auto s = stats();
  EXPECT_EQ(counter(s, "/requests/submit/200"), 1);
  EXPECT_EQ(counter(s, "/requests/poll/200"), 4);
  EXPECT_EQ(counter(s, "/requests/download/200"), 1);
  EXPECT_EQ(counter(s, "/tasks/created"), 1);
  EXPECT_EQ(counter(s, "/tasks/finished/SUCCEED"), 1);
}

TEST_F(server_test, missing_async_header_gets_the_synchronous_calls_400) {
  start(quiet_config());
  auto res = submit(submit_body(), {{"Authorization", "Bearer k"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  const auto body = json::parse(res->body);
  EXPECT_EQ(body.at("errors").at("message"), protocol::texts::sync_not_supported);
  EXPECT_FALSE(body.at("errors").contains("code")) << "the real answer has no code: " << res->body;
  EXPECT_FALSE(body.at("request_id").get<std::string>().empty());
}

TEST_F(server_test, missing_task_type_header_gets_the_task_not_found_failed_body) {
  start(quiet_config());
  const auto id = submit_ok();
  auto res = poll(id, {{"Authorization", "Bearer " + default_key}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto body = json::parse(res->body);
  EXPECT_EQ(body.at("task_status"), "FAILED");
  EXPECT_EQ(body.at("errors").at("code"), 500);
  EXPECT_EQ(body.at("errors").at("message"), protocol::texts::task_not_found);
  EXPECT_TRUE(body.contains("request_id"));
}

TEST_F(server_test, missing_or_empty_bearer_token_is_401) {
  start(quiet_config());
  for (const auto& auth : {std::string(), std::string("Bearer "), std::string("Bearer    "),
                           std::string("Basic abc")}) {
    httplib::Headers headers{{"X-ModelScope-Async-Mode", "true"}};
    if (!auth.empty()) {
      headers.emplace("Authorization", auth);
    }
    auto res = submit(submit_body(), headers);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << "'" << auth << "'";
    EXPECT_TRUE(json::parse(res->body).contains("request_id"));
    auto polled = poll("whatever", {{"X-ModelScope-Task-Type", "image_generation"}});
    ASSERT_TRUE(polled);
    EXPECT_EQ(polled->status, 401);
  }
  EXPECT_EQ(counter(stats(), "/requests/submit/401"), 4);
}

TEST_F(server_test, bad_parameters_are_400_naming_the_field) {
  start(quiet_config());
  const std::string long_prompt(2000, 'x');
  const std::vector<std::pair<json, std::string>> cases = {
      {json{{"prompt", "p"}}, "model"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}}, "prompt"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", long_prompt}}, "prompt"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"size", "256x256"}}, "size"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"size", "4096x1024"}}, "size"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"seed", -1}}, "seed"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"seed", 2147483648LL}},
       "seed"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"steps", 0}}, "steps"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"steps", 101}}, "steps"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"guidance", 1.0}}, "guidance"},
      {json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "p"}, {"guidance", 25}}, "guidance"},
  };
  for (const auto& [body, field] : cases) {
    auto res = submit(body.dump());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body.dump();
    EXPECT_NE(error_message(res->body).find(field), std::string::npos) << res->body;
  }
  auto ok = submit(
      json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", std::string(1999, 'x')}}.dump());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(counter(stats(), "/requests/submit/400"), static_cast<double>(cases.size()));
}

TEST_F(server_test, unknown_model_path_and_task_are_404) {
  start(quiet_config());
  auto res = submit(json{{"model", "no/such-model"}, {"prompt", "p"}}.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(error_message(res->body).find("no/such-model"), std::string::npos);
  res = poll("00000000-0000-4000-8000-000000000000");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(json::parse(res->body).contains("request_id"));
  res = client_->Get("/v2/whatever", submit_headers());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(json::parse(res->body).contains("request_id"));
  res = client_->Get("/images/nope.png");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(server_test, image_of_unfinished_task_is_404_until_it_succeeds) {
  start(quiet_config());
  const auto id = submit_ok();
  const std::string path = "/images/" + id + ".png";
  auto res = client_->Get(path.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  advance(4s);
  res = client_->Get(path.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(server_test, omitted_seed_is_chosen_by_the_mock_and_recorded) {
  start(quiet_config());
  submit_ok(json{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", "no seed"}}.dump());
  const auto s = stats();
  ASSERT_EQ(s.at("images").size(), 1u);
  const auto seed = s.at("images").at(0).at("seed").get<long long>();
  EXPECT_GE(seed, 0);
  EXPECT_LE(seed, 2147483647LL);
  EXPECT_EQ(model_->submits_for("no seed", seed, protocol::image_size{}), 1u);
}

/// Sends one raw request and reads until EOF: what a client on a bare socket sees.
struct raw_result {
  std::string received;
  int error = 0;  // errno of the failing recv, 0 for a clean EOF
};

raw_result raw_exchange(int port, const std::string& request) {
  raw_result out;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    out.error = errno;
    close(fd);
    return out;
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char buffer[65536];
  for (int i = 0; i < 100000; ++i) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      out.received.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    out.error = n == 0 ? 0 : errno;
    break;
  }
  close(fd);
  return out;
}

std::string raw_poll(const std::string& id, const std::string& extra = "") {
  return "GET /v1/tasks/" + id +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n"
         "X-ModelScope-Task-Type: image_generation\r\n" +
         extra + "Connection: close\r\n\r\n";
}

TEST_F(server_test, reset_sends_rst_and_no_response) {
  start(quiet_config());
  const auto result =
      raw_exchange(server_->port(), raw_poll("x", "x-zbatch-fault-transport: reset\r\n"));
  EXPECT_EQ(result.received, "");
  EXPECT_EQ(result.error, ECONNRESET);
  auto res = poll("x", {{"Authorization", "Bearer k"},
                        {"X-ModelScope-Task-Type", "image_generation"},
                        {"x-zbatch-fault-transport", "reset"}});
  EXPECT_FALSE(res);
  const auto s = stats();
  EXPECT_EQ(counter(s, "/faults/reset"), 2);
  EXPECT_EQ(counter(s, "/requests/poll/reset"), 2);
}

TEST_F(server_test, close_sends_fin_and_no_response) {
  start(quiet_config());
  const auto result =
      raw_exchange(server_->port(), raw_poll("x", "x-zbatch-fault-transport: close\r\n"));
  EXPECT_EQ(result.received, "");
  EXPECT_EQ(result.error, 0);  // orderly EOF
  EXPECT_EQ(counter(stats(), "/faults/close"), 1);
}

TEST_F(server_test, truncate_sends_headers_and_part_of_the_body) {
  auto config = quiet_config();
  config.faults.truncate_fraction = 0.5;
  start(config);
  const auto id = submit_ok();
  const auto result =
      raw_exchange(server_->port(), raw_poll(id, "x-zbatch-fault-transport: truncate\r\n"));
  const auto split = result.received.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos) << result.received;
  const std::string head = result.received.substr(0, split);
  const std::string body = result.received.substr(split + 4);
  const auto at = head.find("Content-Length: ");
  ASSERT_NE(at, std::string::npos);
  const auto announced = std::stoul(head.substr(at + 16));
  EXPECT_GT(announced, 0u);
  EXPECT_EQ(body.size(), announced / 2);
  EXPECT_TRUE(json::parse(body, nullptr, false).is_discarded());
  // httplib's client reports the short body as a failed read.
  auto res = poll(id, {{"Authorization", "Bearer k"},
                       {"X-ModelScope-Task-Type", "image_generation"},
                       {"x-zbatch-fault-transport", "truncate"}});
  EXPECT_FALSE(res);
  EXPECT_EQ(counter(stats(), "/faults/truncate"), 2);
}

TEST_F(server_test, hang_holds_until_the_client_gives_up) {
  start(quiet_config());
  auto client = make_client();
  client->set_read_timeout(0, 300000);
  auto res = client->Get("/v1/tasks/x", {{"Authorization", "Bearer k"},
                                         {"X-ModelScope-Task-Type", "image_generation"},
                                         {"x-zbatch-fault-transport", "hang"}});
  EXPECT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Read);
  // On a loaded machine the client's 300 ms can end before a server thread took the request up:
  // the hang is counted when the handler reaches it (a bounded wait on that, not a sleep).
  EXPECT_TRUE(test::wait_for([&] { return counter(stats(), "/faults/hang") == 1; }))
      << counter(stats(), "/faults/hang");
}

TEST_F(server_test, hang_is_bounded_by_hang_max_ms) {
  auto config = quiet_config();
  config.faults.hang_max_ms = 100;
  start(config);
  auto client = make_client();
  client->set_read_timeout(60, 0);  // the client would wait a minute; the mock lets go first
  auto res = client->Get("/v1/tasks/x", {{"Authorization", "Bearer k"},
                                         {"X-ModelScope-Task-Type", "image_generation"},
                                         {"x-zbatch-fault-transport", "hang"}});
  EXPECT_FALSE(res);
  EXPECT_NE(res.error(), httplib::Error::Success);
}

TEST_F(server_test, stop_releases_held_connections) {
  start(quiet_config());  // hang_max_ms 60 s
  std::atomic<bool> returned{false};
  std::thread holder([&] {
    auto client = make_client();
    client->set_read_timeout(120, 0);
    auto res = client->Get("/v1/tasks/x", {{"Authorization", "Bearer k"},
                                           {"X-ModelScope-Task-Type", "image_generation"},
                                           {"x-zbatch-fault-transport", "hang"}});
    returned = !res;
  });
  // Wait (bounded) until the mock has taken the request, then stop it.
  for (int i = 0; i < 1000000 && model_->stats()["faults"].value("hang", 0) == 0; ++i) {
    std::this_thread::yield();
  }
  client_.reset();
  server_->stop();
  holder.join();
  EXPECT_TRUE(returned);
}

TEST_F(server_test, slow_download_delivers_every_byte) {
  auto config = quiet_config();
  config.faults.slow_ms = 100;
  config.faults.download.slow = 1.0;
  start(config);
  const auto id = submit_ok();
  advance(5s);
  auto res = client_->Get(("/images/" + id + ".png").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  model_->replace_config(quiet_config());
  auto plain = client_->Get(("/images/" + id + ".png").c_str());
  ASSERT_TRUE(plain);
  EXPECT_EQ(res->body, plain->body);
  EXPECT_EQ(counter(stats(), "/faults/slow"), 1);
}

/// Threads of this process now (/proc/self/task has one entry per thread).
std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// A new user's check: a scenario's http run at time scale 0.01 had its first image 3x later
// than in virtual time, partly because the server returned before httplib had built its worker
// pools, and the first request waited for 2 x 320 threads to be created (40 to 160 ms wall,
// 4 to 16 s of scenario time). Constructed, the server has every worker thread of both origins.
TEST_F(server_test, is_constructed_with_its_worker_pools_already_running) {
  const auto before = thread_count();
  server_options options;
  options.threads = 64;
  start(quiet_config(), 1, options);
  // 64 workers and an accept loop per origin (the API's and the images').
  EXPECT_GE(thread_count(), before + 2 * (64 + 1));
}

int server_test::served_together(int connections) const {
  std::mutex mutex;
  std::condition_variable all_connected;
  int connected = 0;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&] {
      auto client = make_client();
      client->set_read_timeout(2, 0);
      auto first = client->Get("/v1/tasks/none", poll_headers());
      {
        std::unique_lock<std::mutex> lock(mutex);
        ++connected;
        all_connected.notify_all();
        all_connected.wait_for(lock, 30s, [&] { return connected == connections; });
      }
      auto second = client->Get("/v1/tasks/none", poll_headers());
      if (first && second && first->status == 404 && second->status == 404) {
        ++ok;
      } else {
        std::lock_guard<std::mutex> lock(mutex);
        std::cerr << "first " << httplib::to_string(first.error()) << " second "
                  << httplib::to_string(second.error()) << "\n";
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return ok.load();
}

TEST_F(server_test, serves_256_concurrent_keep_alive_connections) {
  start(quiet_config());
  EXPECT_EQ(served_together(256), 256);
}

// zbatch generate --mock: its 8 workers served 8 of the client's 16 connections (a new user's
// check: 12 images took 63 s, 2 were paid twice as hung).
TEST_F(server_test, a_mock_for_n_client_connections_serves_them_all_at_once) {
  start(quiet_config(), 1, options_for_clients(24));
  EXPECT_EQ(served_together(24), 24);
}

TEST_F(server_test, admin_stats_config_reset_and_metrics) {
  start(quiet_config());
  submit_ok();
  auto res = client_->Get("/admin/config");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto config = json::parse(res->body);
  EXPECT_EQ(config.at("throttle").at("in_flight_cap"), 0);
  config["throttle"]["in_flight_cap"] = 1;
  res = client_->Put("/admin/config", config.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(model_->config().throttle.in_flight_cap, 1);
  auto refused = submit();  // the first task is still in flight
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);

  config["throttle"]["in_flight_cap"] = -1;
  res = client_->Put("/admin/config", config.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_message(res->body).find("throttle.in_flight_cap"), std::string::npos);
  EXPECT_EQ(model_->config().throttle.in_flight_cap, 1);

  // PATCH merges into the running configuration (a new user's PUT of one daily limit reset
  // everything else to the defaults mid-run); a bad patch changes nothing.
  res = client_->Patch("/admin/config", R"({"throttle":{"daily_limits":{"account":40}}})",
                       "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(model_->config().throttle.daily_limits.account, 40);
  EXPECT_EQ(model_->config().throttle.in_flight_cap, 1) << "the rest is kept";
  res = client_->Patch("/admin/config", R"({"throttle":{"in_flight_cap":-2}})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_message(res->body).find("PATCH /admin/config"), std::string::npos) << res->body;
  EXPECT_EQ(model_->config().throttle.in_flight_cap, 1);

  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("zbatch_mock_requests_total{endpoint=\"submit\",status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(res->body.find("zbatch_mock_rate_limited_total{kind=\"dynamic\"} 1"),
            std::string::npos);
  EXPECT_NE(res->body.find("zbatch_mock_tasks_created_total 1"), std::string::npos);

  res = client_->Post("/admin/reset", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto s = stats();
  EXPECT_EQ(counter(s, "/tasks/created"), 0);
  EXPECT_EQ(counter(s, "/requests/submit/200"), 0);
}

// Issue 17 item 9: `curl -X POST .../admin/reset` sends no Content-Length; it is a reset too.
TEST_F(server_test, admin_reset_without_a_body_or_length_resets) {
  start(quiet_config());
  submit_ok();
  const auto raw = raw_exchange(server_->port(),
                                "POST /admin/reset HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Connection: close\r\n\r\n");
  EXPECT_EQ(raw.received.rfind("HTTP/1.1 200", 0), 0u) << raw.received;
  EXPECT_NE(raw.received.find("\"reset\":true"), std::string::npos) << raw.received;
  EXPECT_EQ(counter(stats(), "/tasks/created"), 0);
}

TEST_F(server_test, admin_token_guards_admin_but_not_the_api) {
  server_options options;
  options.admin_token = "s3cret";
  start(quiet_config(), 1, options);
  auto res = client_->Get("/admin/stats");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = client_->Get("/admin/stats", {{"x-zbatch-admin-token", "s3cret"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client_->Get("/admin/config", {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  submit_ok();
  // Issue 17 item 9: /metrics and the fault headers follow the token too.
  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = client_->Get("/metrics", {{"x-zbatch-admin-token", "s3cret"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto headers = submit_headers();
  headers.emplace("x-zbatch-fault-abort", "500");
  auto faulted = submit(submit_body(), headers);
  ASSERT_TRUE(faulted);
  EXPECT_EQ(faulted->status, 401);
  EXPECT_NE(faulted->body.find("x-zbatch-fault-*"), std::string::npos) << faulted->body;
  headers.emplace("x-zbatch-admin-token", "s3cret");
  faulted = submit(submit_body(), headers);
  ASSERT_TRUE(faulted);
  EXPECT_EQ(faulted->status, 500);
}

TEST(server_bind, non_loopback_host_requires_an_admin_token) {
  server_options options;
  options.host = "0.0.0.0";
  EXPECT_THROW(server(mock_config{}, 1, options), std::invalid_argument);
}

TEST(server_bind, wildcard_bind_builds_image_urls_from_the_host_header) {
  server_options options;
  options.host = "0.0.0.0";
  options.admin_token = "t";
  auto clock = std::make_shared<manual_clock>();
  auto m = std::make_shared<model>(quiet_config(), clock, 1);
  server s(m, options);
  httplib::Client client("127.0.0.1", s.port());
  auto res =
      client.Post("/v1/images/generations", submit_headers(), submit_body(), "application/json");
  ASSERT_TRUE(res);
  const std::string id = json::parse(res->body).at("task_id");
  clock->advance(10s);
  res = client.Get(("/v1/tasks/" + id).c_str(), poll_headers());
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body).at("output_images").at(0),
            "http://127.0.0.1:" + std::to_string(s.port()) + "/images/" + id + ".png");
}

}  // namespace
}  // namespace zbatch::mock::testing

namespace zbatch::mock::testing {
namespace {

TEST(server_stop, does_not_wait_for_idle_keep_alive_clients) {
  server_options options;
  options.keep_alive_timeout_s = 3600;  // were stop() to wait it out, ctest's timeout fails this
  server s(quiet_config(), 1, options);
  httplib::Client client("127.0.0.1", s.port());
  client.set_keep_alive(true);
  auto res = client.Get("/v1/tasks/none", poll_headers());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  s.stop();  // the client's connection is still open and idle
  EXPECT_FALSE(client.Get("/v1/tasks/none", poll_headers()));
}

}  // namespace
}  // namespace zbatch::mock::testing
