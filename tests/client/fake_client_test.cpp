// http_backend against the scripted fake service (tests/fakes): how each real-world misbehaviour
// of issue 12 comes back to the caller, and what the user paid for it (the fake's own count of
// created tasks).
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "client/http_backend.hpp"
#include "tests/cli/process.hpp"
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
    auto out = http_backend::create(options);
    EXPECT_TRUE(out.ok()) << out.status().message();
    return out.ok() ? *std::move(out) : nullptr;
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

TEST_F(FakeClient, AnImageCutShortIsMalformedNamingWhat) {
  service_.queue(fake::cut_image(1));
  auto api = backend();
  auto image = first_download(*api);
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::malformed);
  EXPECT_NE(image.error().message.find("an incomplete png ("), std::string::npos)
      << image.error().message;
  expect_names_url_and_not_key(image.error(), url_);
  auto again = api->download(url_);
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_TRUE(again.value().info->complete);
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

// ---- submits: what may hide a paid task, and what is a free refusal ----------------------------

TEST_F(FakeClient, GatewayAnswersAfterACreatedTaskAreAmbiguous) {
  service_.queue(fake::gateway_after_create(504, /*html=*/false, 20ms));
  service_.queue(fake::gateway_after_create(502, /*html=*/true));
  service_.queue(fake::gateway_after_create(524, /*html=*/true));
  auto api = backend();
  for (int status : {504, 502, 524}) {
    auto result = api->submit(request());
    ASSERT_FALSE(result) << status;
    EXPECT_EQ(result.error().kind, error_class::server_transport);
    EXPECT_EQ(result.error().http_status, status);
    EXPECT_TRUE(result.error().ambiguous) << status;
    EXPECT_TRUE(result.error().from_gateway);
  }
  EXPECT_EQ(service_.tasks_created(), 3);  // each was paid, though no task id came back
}

// A new user's check: a relay's 500 in OpenAI's shape, sent after the origin created the task,
// read as the service's own refusal and was resubmitted (3 tasks charged for 2 images).
TEST_F(FakeClient, ARelaysOpenAiShaped5xxAfterACreatedTaskIsAmbiguous) {
  service_.queue(fake::relay_error_after_create(500));
  service_.queue(fake::relay_error_after_create(503));
  auto api = backend();
  for (int status : {500, 503}) {
    auto result = api->submit(request());
    ASSERT_FALSE(result) << status;
    EXPECT_EQ(result.error().kind, error_class::server_transport);
    EXPECT_TRUE(result.error().ambiguous) << status;
    EXPECT_NE(result.error().message.find("upstream request timeout"), std::string::npos);
  }
  EXPECT_EQ(service_.tasks_created(), 2);
}

// A new user's check: a relay's error inside a 200, after the origin created the task, was
// resubmitted (3 tasks for 2 images, "1.00 per delivered image").
TEST_F(FakeClient, ARelaysErrorInside200AfterACreatedTaskIsAmbiguous) {
  service_.queue(fake::relay_error_after_create(200));
  auto api = backend();
  auto result = api->submit(request());
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().ambiguous);
  EXPECT_NE(result.error().message.find("upstream request timeout"), std::string::npos);
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, SubmitTimeOutAfterACreatedTaskIsAmbiguous) {
  service_.queue(fake::hang_after_create());
  auto api = backend(300ms);
  auto result = api->submit(request());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::server_transport);
  EXPECT_TRUE(result.error().ambiguous);
  EXPECT_NE(result.error().message.find("timed out"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find(service_.base_url()), std::string::npos);
  // The client's 300 ms can end before a server thread took the request up (a loaded machine):
  // the task is created when the handler runs, so wait (bounded) for that, not for a time.
  EXPECT_TRUE(test::wait_for([&] { return service_.tasks_created() == 1; }))
      << service_.tasks_created();
}

TEST_F(FakeClient, DroppedSubmitAfterACreatedTaskIsAmbiguous) {
  service_.queue(fake::drop_after_create());
  auto api = backend();
  auto result = api->submit(request());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::server_transport);
  EXPECT_TRUE(result.error().ambiguous) << result.error().message;
  EXPECT_EQ(service_.tasks_created(), 1);
}

TEST_F(FakeClient, BusyIsAFreeRefusal) {
  service_.queue(fake::busy());
  auto api = backend();
  auto result = api->submit(request());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::server_transport);
  EXPECT_FALSE(result.error().ambiguous);
  EXPECT_FALSE(result.error().from_gateway);
  EXPECT_EQ(service_.tasks_created(), 0);
}

TEST_F(FakeClient, BatchFatalRefusalsAreRequestErrorsAndFree) {
  service_.queue(fake::unauthorized());
  service_.queue(fake::forbidden());
  service_.queue(fake::unknown_model());
  auto api = backend();
  for (int status : {401, 403, 404}) {
    auto result = api->submit(request());
    ASSERT_FALSE(result) << status;
    EXPECT_EQ(result.error().kind, error_class::request_error) << status;
    EXPECT_EQ(result.error().http_status, status);
    EXPECT_FALSE(result.error().ambiguous);
    EXPECT_EQ(result.error().describe().find(key), std::string::npos);
  }
  EXPECT_EQ(service_.tasks_created(), 0);
}

TEST_F(FakeClient, ClosedApiPortNamesTheUrlAndIsNeverAmbiguous) {
  http_options options;
  options.base_url = "http://127.0.0.1:" + std::to_string(fake::closed_port());
  auto made = http_backend::create(options);
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto& api = *made;
  auto result = api->submit(request());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::server_transport);
  EXPECT_FALSE(result.error().ambiguous);
  EXPECT_NE(result.error().message.find("POST " + options.base_url + "/v1/images/generations"),
            std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find("could not connect"), std::string::npos);
}

// ---- 429s: only the service's known texts decide -----------------------------------------------

TEST_F(FakeClient, TooManyRequestsByKnownAndUnknownTexts) {
  service_.queue(fake::rate_limited(fake::dynamic_429_text(), "3"));
  for (const auto& text : fake::quota_429_texts()) {
    service_.queue(fake::rate_limited(text, std::nullopt, /*openai_shape=*/true));
  }
  service_.queue(fake::rate_limited(fake::unknown_429_text(), "7200"));
  auto api = backend();
  auto dynamic = api->submit(request());
  ASSERT_FALSE(dynamic);
  EXPECT_EQ(dynamic.error().kind, error_class::dynamic_429);
  EXPECT_FALSE(dynamic.error().unknown_429);
  EXPECT_EQ(dynamic.error().retry_after_ms, 3'000);
  for (const auto& text : fake::quota_429_texts()) {
    auto quota = api->submit(request());
    ASSERT_FALSE(quota) << text;
    EXPECT_EQ(quota.error().kind, error_class::quota_429) << text;
    EXPECT_EQ(quota.error().retry_after_ms, std::nullopt);
  }
  auto unknown = api->submit(request());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, error_class::dynamic_429);  // though its text says "quota"
  EXPECT_TRUE(unknown.error().unknown_429);
  EXPECT_EQ(unknown.error().message, fake::unknown_429_text());
  EXPECT_EQ(unknown.error().retry_after_ms, 7'200'000);  // as sent, for the caller to stop on
  EXPECT_TRUE(unknown.error().retry_at_unix_s);
  EXPECT_EQ(service_.tasks_created(), 0);
}

TEST_F(FakeClient, ErrorInsideHttp200IsClassifiedByItsContent) {
  service_.queue(fake::error_in_200(429, fake::dynamic_429_text()));
  service_.queue(fake::error_in_200(401, "Please bind your Alibaba Cloud account before use."));
  auto api = backend();
  auto limited = api->submit(request());
  ASSERT_FALSE(limited);
  EXPECT_EQ(limited.error().kind, error_class::dynamic_429);
  EXPECT_EQ(limited.error().http_status, 200);
  auto unbound = api->submit(request());
  ASSERT_FALSE(unbound);
  EXPECT_EQ(unbound.error().kind, error_class::request_error);
  EXPECT_EQ(service_.tasks_created(), 0);
}

// ---- task outcomes -----------------------------------------------------------------------------

TEST_F(FakeClient, ModerationWithATextCodeOrTheString422) {
  service_.queue(fake::moderated_text_code());
  service_.queue(fake::moderated_string_422());
  auto api = backend();
  for (int image = 0; image < 2; ++image) {
    auto outcome = image_url(*api);
    ASSERT_FALSE(outcome) << image;
    EXPECT_EQ(outcome.error().kind, error_class::moderation) << outcome.error().describe();
  }
  EXPECT_EQ(service_.tasks_created(), 2);
}

TEST_F(FakeClient, PollAnsweredWithAnErrorInside200) {
  service_.queue(fake::poll_error_in_200(429, fake::dynamic_429_text()));
  auto api = backend();
  auto outcome = image_url(*api);
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().kind, error_class::dynamic_429);
  EXPECT_FALSE(outcome.error().ambiguous);
}

}  // namespace
}  // namespace zbatch::client
