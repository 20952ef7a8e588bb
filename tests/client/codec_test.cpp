// The codec: requests it builds, and how it reads every answer shape of the protocol doc.
#include "client/codec.hpp"

#include <gtest/gtest.h>

#include "mock_api/png.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;

protocol::wire_response answer(int status, std::string body) {
  protocol::wire_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

TEST(Codec, SubmitCarriesKeyAsyncHeaderAndJson) {
  protocol::submit_request request;
  request.prompt = "p";
  request.seed = 3;
  auto wire = make_submit(request, "ms-key");
  EXPECT_EQ(wire.method, "POST");
  EXPECT_EQ(wire.target, "/v1/images/generations");
  EXPECT_EQ(wire.headers.get("Authorization"), "Bearer ms-key");
  EXPECT_EQ(wire.headers.get("X-ModelScope-Async-Mode"), "true");
  EXPECT_EQ(wire.headers.get("Content-Type"), "application/json");
  auto body = nlohmann::json::parse(wire.body);
  EXPECT_EQ(body["prompt"], "p");
  EXPECT_EQ(body["seed"], 3);
  EXPECT_EQ(body["model"], "Tongyi-MAI/Z-Image-Turbo");
  // No key: no Authorization header at all (never "Bearer ").
  EXPECT_FALSE(make_submit(request, "").headers.has("Authorization"));
}

TEST(Codec, PollAndDownload) {
  auto poll = make_poll("abc-123", "k");
  EXPECT_EQ(poll.method, "GET");
  EXPECT_EQ(poll.target, "/v1/tasks/abc-123");
  EXPECT_EQ(poll.headers.get("X-ModelScope-Task-Type"), "image_generation");
  EXPECT_EQ(poll.headers.get("Authorization"), "Bearer k");
  auto download = make_download("/images/x.png?sig=1");
  EXPECT_EQ(download.target, "/images/x.png?sig=1");
  EXPECT_FALSE(download.headers.has("Authorization"));  // the key stays with the API host
  EXPECT_EQ(make_download("").target, "/");
}

TEST(Codec, SubmitAcceptedIgnoresItsTaskStatus) {
  auto accepted =
      read_submit(answer(200, R"({"task_id":"t1","request_id":"r1","task_status":"SUCCEED"})"));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted.value().task_id, "t1");
  EXPECT_EQ(accepted.value().request_id, "r1");
}

TEST(Codec, SubmitWithoutTaskIdIsMalformed) {
  for (const char* body :
       {R"({"request_id":"r"})", "not json", "[]", R"({"task_id":5})", R"({"task_id":""})", ""}) {
    auto result = read_submit(answer(200, body));
    ASSERT_FALSE(result) << body;
    EXPECT_EQ(result.error().kind, error_class::malformed) << body;
    EXPECT_EQ(result.error().http_status, 200);
  }
}

TEST(Codec, SubmitErrorsAreClassified) {
  auto dynamic = read_submit(
      answer(429, protocol::error_body(429, protocol::texts::dynamic_rate_limit("m"), "r")));
  ASSERT_FALSE(dynamic);
  EXPECT_EQ(dynamic.error().kind, error_class::dynamic_429);
  EXPECT_EQ(dynamic.error().request_id, "r");
  auto quota = read_submit(answer(429, protocol::openai_error_body("免费使用额度已用完")));
  EXPECT_EQ(quota.error().kind, error_class::quota_429);
  auto unauthorized = read_submit(answer(401, protocol::error_body(401, "bad token", "r")));
  EXPECT_EQ(unauthorized.error().kind, error_class::request_error);
  EXPECT_EQ(unauthorized.error().http_status, 401);
  auto busy = read_submit(answer(503, "Server is busy, please try again later"));
  EXPECT_EQ(busy.error().kind, error_class::server_transport);
  EXPECT_EQ(busy.error().message, "Server is busy, please try again later");
}

TEST(Codec, RetryAfterHeaderIsRead) {
  auto response = answer(429, protocol::error_body(429, "We have to rate limit you", "r"));
  response.headers.set("retry-after", "7");
  auto result = read_submit(response);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().retry_after_ms, 7000);
  EXPECT_EQ(read_submit(answer(429, "")).error().retry_after_ms, std::nullopt);
}

TEST(Codec, PollRunningStatesAndUnknownValues) {
  for (const char* status : {"PENDING", "RUNNING", "PROCESSING", "QUEUED_SOMEWHERE"}) {
    auto state = read_poll(answer(200, std::string(R"({"task_id":"t","request_id":"r",)") +
                                           R"("task_status":")" + status + R"(","outputs":{}})"),
                           "t");
    ASSERT_TRUE(state) << status;
    EXPECT_FALSE(state.value().terminal()) << status;
    EXPECT_EQ(state.value().raw_status, status);
  }
}

TEST(Codec, PollSucceed) {
  auto state = read_poll(answer(200, R"({"task_id":"t","request_id":"r","task_status":"SUCCEED",)"
                                     R"("output_images":["https://cdn.example/x.jpg"]})"),
                         "t");
  ASSERT_TRUE(state);
  EXPECT_EQ(state.value().status, protocol::task_status::succeed);
  EXPECT_EQ(state.value().output_images.at(0), "https://cdn.example/x.jpg");
}

TEST(Codec, PollSucceedWithoutImagesIsMalformed) {
  for (const char* body : {R"({"task_id":"t","task_status":"SUCCEED"})",
                           R"({"task_id":"t","task_status":"SUCCEED","output_images":[]})",
                           R"({"task_id":"t","task_status":"SUCCEED","output_images":[1]})",
                           R"({"task_id":"t","task_status":"SUCCEED","output_images":"x"})"}) {
    auto state = read_poll(answer(200, body), "t");
    ASSERT_FALSE(state) << body;
    EXPECT_EQ(state.error().kind, error_class::malformed) << body;
  }
}

TEST(Codec, PollFailedIsClassifiedByCode) {
  auto moderation = read_poll(answer(200, R"({"request_id":"r","task_status":"FAILED",)"
                                          R"("errors":{"code":422,"message":"Output data may )"
                                          R"(contain inappropriate content."}})"),
                              "t");
  ASSERT_FALSE(moderation);
  EXPECT_EQ(moderation.error().kind, error_class::moderation);
  EXPECT_EQ(moderation.error().service_code, 422);
  EXPECT_EQ(moderation.error().request_id, "r");
  EXPECT_EQ(moderation.error().message, protocol::texts::moderation);
  // What the service answers to a poll without the task-type header.
  auto not_found = read_poll(
      answer(200, R"({"errors":{"code":500,"message":"task not found"},"task_status":"FAILED"})"),
      "t");
  ASSERT_FALSE(not_found);
  EXPECT_EQ(not_found.error().kind, error_class::task_failed);
  EXPECT_EQ(not_found.error().message, "task not found");
}

TEST(Codec, PollMalformedAndHttpErrors) {
  EXPECT_EQ(read_poll(answer(200, "<html>"), "t").error().kind, error_class::malformed);
  EXPECT_EQ(read_poll(answer(200, R"({"task_id":"t"})"), "t").error().kind, error_class::malformed);
  auto missing = read_poll(answer(404, protocol::error_body(404, "task t not found", "r")), "t");
  EXPECT_EQ(missing.error().kind, error_class::request_error);
  EXPECT_EQ(missing.error().http_status, 404);
  EXPECT_EQ(read_poll(answer(502, "bad gateway"), "t").error().kind, error_class::server_transport);
}

TEST(Codec, Download) {
  const auto png = mock::render_png("p", 1, 24, 16);
  auto response = answer(200, png);
  response.headers.set("Content-Type", "image/png");
  auto image = read_download(response);
  ASSERT_TRUE(image);
  EXPECT_EQ(image.value().content_type, "image/png");
  EXPECT_EQ(image.value().bytes, png);
  ASSERT_TRUE(image.value().info);
  EXPECT_EQ(image.value().info->format, image_format::png);
  EXPECT_EQ(image.value().info->width, 24);
  EXPECT_EQ(image.value().info->height, 16);
  EXPECT_EQ(read_download(answer(200, "")).error().kind, error_class::malformed);
  EXPECT_EQ(read_download(answer(404, "NoSuchKey")).error().kind, error_class::request_error);
  EXPECT_EQ(read_download(answer(503, "")).error().kind, error_class::server_transport);
}

TEST(Codec, DownloadThatIsNotAnImageIsMalformed) {
  // What issue 12 saw saved as 0-1.bin: a page served with 200.
  auto page = answer(200, "<html><body>Welcome to nginx!</body></html>");
  page.headers.set("Content-Type", "text/html");
  auto html = read_download(page);
  ASSERT_FALSE(html);
  EXPECT_EQ(html.error().kind, error_class::malformed);
  EXPECT_EQ(html.error().http_status, 200);
  EXPECT_NE(html.error().message.find("text/html"), std::string::npos) << html.error().message;
  EXPECT_NE(html.error().message.find("Welcome to nginx"), std::string::npos);
  // The PNG signature alone (or a PNG whose header is cut) is not an image either.
  auto cut = read_download(answer(200, mock::render_png("p", 1, 8, 8).substr(0, 20)));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().kind, error_class::malformed);
  EXPECT_NE(cut.error().message.find("no Content-Type"), std::string::npos);
}

TEST(Codec, RedirectTargets) {
  auto redirect = [](int status, const char* location) {
    auto response = answer(status, "");
    if (location != nullptr) {
      response.headers.set("Location", location);
    }
    return response;
  };
  const std::string from = "http://127.0.0.1:81/images/a/x.png?sig=1#frag";
  for (int status : {301, 302, 303, 307, 308}) {
    EXPECT_EQ(redirect_target(redirect(status, "https://cdn.example/y.png"), from),
              "https://cdn.example/y.png")
        << status;
  }
  EXPECT_EQ(redirect_target(redirect(302, "/b/y.png?s=2"), from),
            "http://127.0.0.1:81/b/y.png?s=2");
  EXPECT_EQ(redirect_target(redirect(302, "y.png"), from), "http://127.0.0.1:81/images/a/y.png");
  EXPECT_EQ(redirect_target(redirect(302, "?sig=3"), from),
            "http://127.0.0.1:81/images/a/x.png?sig=3");
  EXPECT_EQ(redirect_target(redirect(302, "//other.example:8080/z.png#top"), from),
            "http://other.example:8080/z.png");
  EXPECT_EQ(redirect_target(redirect(302, " /spaced.png "), from),
            "http://127.0.0.1:81/spaced.png");
  EXPECT_EQ(redirect_target(redirect(302, "/next?to=http://x/y"), from),
            "http://127.0.0.1:81/next?to=http://x/y");
  EXPECT_EQ(redirect_target(redirect(302, "y.png"), "http://[::1]:9"), "http://[::1]:9/y.png");
  // Not a redirect: other statuses, or no Location.
  EXPECT_EQ(redirect_target(redirect(302, nullptr), from), std::nullopt);
  EXPECT_EQ(redirect_target(redirect(200, "/x"), from), std::nullopt);
  EXPECT_EQ(redirect_target(redirect(304, "/x"), from), std::nullopt);
}

TEST(Codec, TransportErrors) {
  auto connect = transport_error(transport_failure::connect, true, "Connection");
  EXPECT_EQ(connect.kind, error_class::server_transport);
  EXPECT_FALSE(connect.ambiguous);  // nothing left the machine
  EXPECT_EQ(connect.http_status, 0);
  EXPECT_NE(connect.message.find("Connection"), std::string::npos);
  EXPECT_TRUE(transport_error(transport_failure::timeout, true).ambiguous);
  EXPECT_TRUE(transport_error(transport_failure::reset, true).ambiguous);
  EXPECT_FALSE(transport_error(transport_failure::reset, false).ambiguous);
  EXPECT_TRUE(transport_error(transport_failure::truncated, true).ambiguous);
  EXPECT_FALSE(transport_error(transport_failure::tls, true).ambiguous);
}

}  // namespace
}  // namespace zbatch::client
