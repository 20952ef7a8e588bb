// http_backend's checks before any request, key loading, and failures below HTTP.
#include "client/http_backend.hpp"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/client/temp_dir.hpp"
#include "tests/fakes/fake_service.hpp"

namespace zbatch::client {
namespace {

http_options with(std::string url, std::string key) {
  http_options options;
  options.base_url = std::move(url);
  options.api_key = std::move(key);
  return options;
}

TEST(HttpOptions, LoopbackNeedsNoKey) {
  EXPECT_TRUE(check_options(with("http://127.0.0.1:8080", "")).ok());
  EXPECT_TRUE(check_options(with("http://localhost:1", "")).ok());
  EXPECT_TRUE(check_options(with("http://[::1]:9", "")).ok());
}

TEST(HttpOptions, RemoteHostWithoutKeyIsRefused) {
  auto api = http_backend::create(with("https://api-inference.modelscope.cn", ""));
  EXPECT_FALSE(api.ok());
  const auto why = api.status().message();
  EXPECT_NE(why.find("MODELSCOPE_API_KEY"), std::string::npos) << why;
  // A DNS name that merely starts with 127. is not loopback.
  EXPECT_FALSE(check_options(with("https://127.example.com", "")).ok());
  // The default base URL is the real service.
  EXPECT_FALSE(check_options(with(std::string(protocol::default_base_url), "")).ok());
  EXPECT_TRUE(check_options(with(std::string(protocol::default_base_url), "ms-abc")).ok());
}

TEST(HttpOptions, RemotePlainHttpIsRefusedAndKeyNeverEchoed) {
  auto why = check_options(with("http://example.com", "ms-secret-key")).message();
  EXPECT_NE(why.find("https"), std::string::npos) << why;
  EXPECT_EQ(why.find("ms-secret-key"), std::string::npos);
  auto bad_key = check_options(with("https://example.com", "ms-secret\r\nX-Evil: 1")).message();
  EXPECT_NE(bad_key.find("control"), std::string::npos);
  EXPECT_EQ(bad_key.find("ms-secret"), std::string::npos);
}

TEST(HttpOptions, BadUrlsAndTimeouts) {
  EXPECT_NE(check_options(with("api-inference.modelscope.cn", "k")).message().find("not usable"),
            std::string::npos);
  EXPECT_FALSE(check_options(with("ftp://127.0.0.1", "k")).ok());
  auto options = with("http://127.0.0.1:1", "k");
  options.read_timeout = std::chrono::milliseconds{0};
  EXPECT_NE(check_options(options).message().find("time-out"), std::string::npos);
  options = with("https://example.com", "k");
  options.ca_bundle = "/nonexistent/ca.pem";
  EXPECT_NE(check_options(options).message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(ApiKey, FromFileTrimmed) {
  test::temp_dir dir;
  const auto path = (dir.path() / "key").string();
  std::ofstream(path) << "  ms-from-file \nsecond line\n";
  EXPECT_EQ(read_api_key_file(path).value(), "ms-from-file");
  std::ofstream(path) << "\n";
  EXPECT_FALSE(read_api_key_file(path).ok());
  EXPECT_NE(read_api_key_file(path).status().message().find("empty"), std::string::npos);
  const auto none = read_api_key_file((dir.path() / "none").string());
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("none"), std::string::npos);
  // A directory is named as one, not as an empty file (a new user's check).
  const auto folder = read_api_key_file(dir.path().string());
  EXPECT_EQ(folder.status().message(),
            "API key file " + dir.path().string() +
                " is a directory, not a regular file (give the file that holds the key on its "
                "first line)");
}

TEST(ApiKey, FromEnvironment) {
  ::setenv("MODELSCOPE_API_KEY", " ms-env \n", 1);
  EXPECT_EQ(api_key_from_environment(), "ms-env");
  ::unsetenv("MODELSCOPE_API_KEY");
  EXPECT_EQ(api_key_from_environment(), "");
}

TEST(HttpBackend, ClosedPortIsAConnectFailureNeverAmbiguous) {
  const int port = test::fake::closed_port();
  auto made = http_backend::create(with("http://127.0.0.1:" + std::to_string(port), "ms-key-1"));
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto& api = *made;
  protocol::submit_request request;
  request.prompt = "p";
  auto result = api->submit(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, protocol::error_class::server_transport);
  EXPECT_FALSE(result.error().ambiguous);
  EXPECT_NE(result.error().message.find("connect"), std::string::npos) << result.error().message;
  EXPECT_EQ(result.error().describe().find("ms-key-1"), std::string::npos);
}

TEST(HttpBackend, UnusableImageUrlIsMalformed) {
  auto made = http_backend::create(with("http://127.0.0.1:1", ""));
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto& api = *made;
  auto image = api->download("not a url");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, protocol::error_class::malformed);
}

}  // namespace
}  // namespace zbatch::client
