#pragma once
/// A fast mock (tasks finish in ~0.1 s) served on 127.0.0.1, port 0, for client tests; plus a
/// raw httplib client for requests the codec would never build (missing headers...).

#include <memory>
#include <string>

#include <httplib.h>

#include <gtest/gtest.h>

#include "client/http_backend.hpp"
#include "mock_api/config.hpp"
#include "mock_api/server.hpp"
#include "protocol/wire.hpp"

namespace zbatch::test {

inline mock::mock_config fast_config() {
  mock::mock_config config;
  config.generation.queue = mock::latency_spec::fixed(20);
  config.generation.time = mock::latency_spec::fixed(80);
  return config;
}

class mock_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    mock::server_options options;
    options.threads = 16;
    server_ = std::make_unique<mock::server>(fast_config(), 7, options);
  }

  std::unique_ptr<client::http_backend> backend(
      std::string key = "test-key",
      std::chrono::milliseconds read_timeout = std::chrono::milliseconds{10'000}) {
    client::http_options options;
    options.base_url = server_->base_url();
    options.api_key = std::move(key);
    options.read_timeout = read_timeout;
    auto out = client::http_backend::create(options);
    EXPECT_TRUE(out.ok()) << out.status().message();
    return out.ok() ? *std::move(out) : nullptr;
  }

  /// Sends exactly these headers and body (httplib adds Host, Content-Length, User-Agent).
  protocol::wire_response raw(const std::string& method, const std::string& target,
                              const httplib::Headers& headers, const std::string& body = {}) {
    httplib::Client client(server_->base_url());
    client.set_tcp_nodelay(true);
    httplib::Request request;
    request.method = method;
    request.path = target;
    request.headers = headers;
    request.body = body;
    auto result = client.send(request);
    protocol::wire_response out;
    EXPECT_TRUE(result) << method << " " << target << ": " << httplib::to_string(result.error());
    if (result) {
      out.status = result->status;
      out.body = result->body;
      for (const auto& [name, value] : result->headers) {
        out.headers.add(name, value);
      }
    }
    return out;
  }

  mock::model& model() { return server_->mock_model(); }

  std::unique_ptr<mock::server> server_;
};

}  // namespace zbatch::test
