// http_backend against the scripted fake service (tests/fakes): how each real-world misbehaviour
// of issue 12 comes back to the caller, and what the user paid for it (the fake's own count of
// created tasks).
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "client/http_backend.hpp"
#include "tests/fakes/fake_service.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;
using namespace std::chrono_literals;
namespace fake = test::fake;

const std::string key = "ms-secret-key-12";

class FakeClient : public ::testing::Test {
 protected:
  std::unique_ptr<http_backend> backend(std::chrono::milliseconds read_timeout = 10s) {
    http_options options;
    options.base_url = service_.base_url();
    options.api_key = key;
    options.read_timeout = read_timeout;
    std::string why;
    auto out = http_backend::create(options, &why);
    EXPECT_TRUE(out) << why;
    return out;
  }

  static protocol::submit_request request(std::string size = "") {
    protocol::submit_request out;
    out.prompt = "a lighthouse";
    out.seed = 7;
    if (!size.empty()) {
      out.size = protocol::parse_size(size);
    }
    return out;
  }

  /// Submits and polls (the fake answers at once, so no wait) until the task is terminal;
  /// returns the image URL of a SUCCEED task, or the poll's error.
  result<std::string> image_url(http_backend& api, std::string size = "") {
    auto accepted = api.submit(request(std::move(size)));
    if (!accepted) {
      return accepted.error();
    }
    for (int poll = 0; poll < 100; ++poll) {
      auto state = api.poll(accepted.value().task_id);
      if (!state) {
        return state.error();
      }
      if (state.value().terminal()) {
        return state.value().output_images.at(0);
      }
    }
    ADD_FAILURE() << "task never finished";
    return std::string{};
  }

  /// The download of the first task's image URL (which must be handed out).
  result<downloaded_image> first_download(http_backend& api) {
    auto url = image_url(api);
    EXPECT_TRUE(url) << url.error().describe();
    url_ = url ? url.value() : std::string{};
    return api.download(url_);
  }

  fake::service service_;
  std::string url_;
};

void expect_names_url_and_not_key(const protocol::api_error& error, const std::string& url) {
  EXPECT_NE(error.message.find(url), std::string::npos) << error.message;
  EXPECT_EQ(error.describe().find(key), std::string::npos);
  EXPECT_FALSE(error.ambiguous);
}

// ---- downloads ---------------------------------------------------------------------------------

TEST_F(FakeClient, PlainDownloadIsTheServedPngWithItsSize) {
  auto api = backend();
  auto url = image_url(*api, "768x512");
  ASSERT_TRUE(url);
  auto image = api->download(url.value());
  ASSERT_TRUE(image) << image.error().describe();
  EXPECT_EQ(image.value().bytes, service_.image_of("task-1"));
  ASSERT_TRUE(image.value().info);
  EXPECT_EQ(image.value().info->width, 768);
  EXPECT_EQ(image.value().info->height, 512);
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, RedirectToTheFileIsFollowedWithoutTheKey) {
  service_.queue(fake::redirect_to_file(1));
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_TRUE(image) << image.error().describe();
  EXPECT_EQ(image.value().bytes, service_.image_of("task-1"));
  const auto counts = service_.counts();
  EXPECT_EQ(counts.downloads, 2);
  EXPECT_EQ(counts.images_served, 1);
  EXPECT_EQ(counts.downloads_with_authorization, 0);  // the key stays with the API
  EXPECT_EQ(counts.tasks_created, 1);
}

TEST_F(FakeClient, RelativeRedirectsUpToFiveHops) {
  service_.queue(fake::redirect_to_file(max_download_redirects, /*relative=*/true));
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_TRUE(image) << image.error().describe();
  EXPECT_EQ(service_.counts().downloads, max_download_redirects + 1);
  EXPECT_EQ(service_.counts().downloads_with_authorization, 0);
}

TEST_F(FakeClient, TooManyRedirectsIsAMalformedDownloadNamingTheUrl) {
  service_.queue(fake::redirect_to_file(max_download_redirects + 1));
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::malformed);
  EXPECT_NE(image.error().message.find("more than 5 redirects"), std::string::npos)
      << image.error().message;
  expect_names_url_and_not_key(image.error(), url_);
  EXPECT_EQ(service_.counts().downloads, max_download_redirects + 1);
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, RedirectLoopIsAMalformedDownloadNamingTheUrl) {
  service_.queue(fake::redirect_loop());
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::malformed);
  EXPECT_NE(image.error().message.find("redirect loop"), std::string::npos)
      << image.error().message;
  expect_names_url_and_not_key(image.error(), url_);
  EXPECT_LE(service_.counts().downloads, 2);  // seen at once, not after the hop limit
}

TEST_F(FakeClient, RefusedImageHostIsServerTransportNamingUrlAndCause) {
  service_.queue(fake::refused_image_host());
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::server_transport);
  EXPECT_EQ(image.error().http_status, 0);
  EXPECT_NE(image.error().message.find("could not connect"), std::string::npos)
      << image.error().message;
  expect_names_url_and_not_key(image.error(), url_);
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, HtmlInsteadOfTheImageIsNeverDelivered) {
  service_.queue(fake::html_instead_of_image());
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::malformed);
  EXPECT_EQ(image.error().http_status, 200);
  EXPECT_NE(image.error().message.find("text/html"), std::string::npos) << image.error().message;
  expect_names_url_and_not_key(image.error(), url_);
}

TEST_F(FakeClient, ImageHostStatusesStayClassifiedAndARetryGetsTheFile) {
  service_.queue(fake::image_host_status(503, 1));
  auto api = backend();
  auto first = first_download(*api);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().kind, error_class::server_transport);
  EXPECT_EQ(first.error().http_status, 503);
  expect_names_url_and_not_key(first.error(), url_);
  // The same URL again (what a download retry does): the file, and still one paid task.
  auto again = api->download(url_);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, MissingImageIsARequestError) {
  service_.queue(fake::image_host_status(404));
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::request_error);
  EXPECT_EQ(image.error().http_status, 404);
  expect_names_url_and_not_key(image.error(), url_);
}

}  // namespace
}  // namespace zbatch::client
