#pragma once
// Shared helpers of the mock_api tests: a mock on 127.0.0.1:0 whose model runs on a manual clock
// (so time-dependent behaviour is driven, never waited for), and small HTTP helpers.
#include <httplib.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_api/config.hpp"
#include "mock_api/model.hpp"
#include "mock_api/server.hpp"
#include "protocol/messages.hpp"

namespace zbatch::mock::testing {

using nlohmann::json;
using namespace std::chrono_literals;

inline const std::string default_key = "test-key";

/// A config with no latency and fixed 1 s + 3 s task times: the base of most knob tests.
inline mock_config quiet_config() {
  mock_config config;
  config.generation.queue = latency_spec::fixed(1000);
  config.generation.time = latency_spec::fixed(3000);
  return config;
}

inline httplib::Headers submit_headers(const std::string& key = default_key) {
  return {{"Authorization", "Bearer " + key}, {"X-ModelScope-Async-Mode", "true"}};
}

inline httplib::Headers poll_headers(const std::string& key = default_key) {
  return {{"Authorization", "Bearer " + key}, {"X-ModelScope-Task-Type", "image_generation"}};
}

inline std::string submit_body(const std::string& prompt = "a red fox", long long seed = 42,
                               const std::string& size = "") {
  json body{{"model", "Tongyi-MAI/Z-Image-Turbo"}, {"prompt", prompt}, {"seed", seed}};
  if (!size.empty()) {
    body["size"] = size;
  }
  return body.dump();
}

class mock_fixture : public ::testing::Test {
 protected:
  void start(mock_config config, std::uint64_t seed = 1, server_options options = {}) {
    clock_ = std::make_shared<manual_clock>();
    model_ = std::make_shared<model>(std::move(config), clock_, seed);
    server_ = std::make_unique<server>(model_, options);
    client_ = make_client();
  }

  std::unique_ptr<httplib::Client> make_client() const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client->set_tcp_nodelay(true);
    client->set_keep_alive(true);
    client->set_read_timeout(10, 0);
    return client;
  }

  void TearDown() override {
    client_.reset();
    if (server_) {
      server_->stop();
    }
  }

  httplib::Result submit(const std::string& body = submit_body(),
                         httplib::Headers headers = submit_headers()) {
    return client_->Post(std::string(protocol::submit_path).c_str(), headers, body,
                         "application/json");
  }

  /// Submits and returns the task id (the submit must succeed).
  std::string submit_ok(const std::string& body = submit_body(),
                        httplib::Headers headers = submit_headers()) {
    auto res = submit(body, std::move(headers));
    EXPECT_TRUE(res);
    if (!res) {
      return {};
    }
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body).value("task_id", "");
  }

  httplib::Result poll(const std::string& task_id, httplib::Headers headers = poll_headers()) {
    return client_->Get(("/v1/tasks/" + task_id).c_str(), headers);
  }

  json poll_json(const std::string& task_id) {
    auto res = poll(task_id);
    EXPECT_TRUE(res);
    if (!res) {
      return json{};
    }
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body);
  }

  json stats() {
    auto res = client_->Get("/admin/stats");
    EXPECT_TRUE(res);
    return res ? json::parse(res->body) : json{};
  }

  void advance(duration by) { clock_->advance(by); }

  std::shared_ptr<manual_clock> clock_;
  std::shared_ptr<model> model_;
  std::unique_ptr<server> server_;
  std::unique_ptr<httplib::Client> client_;
};

/// The `errors.message` of an error body.
inline std::string error_message(const std::string& body) {
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    return "(not json) " + body;
  }
  if (parsed.contains("errors")) {
    return parsed["errors"].value("message", "");
  }
  if (parsed.contains("error")) {
    return parsed["error"].value("message", "");
  }
  return parsed.value("message", "");
}

/// A counter from /admin/stats by JSON pointer, 0 when absent.
inline double counter(const json& stats, const std::string& pointer) {
  const json::json_pointer p(pointer);
  return stats.contains(p) ? stats.at(p).get<double>() : 0.0;
}

}  // namespace zbatch::mock::testing
