// The codec: requests it builds, and how it reads every answer shape of the protocol doc.
#include "client/codec.hpp"

#include <ctime>

#include <gtest/gtest.h>

#include "mock_api/png.hpp"
#include "protocol/errors.hpp"
#include "protocol/messages.hpp"
#include "tests/client/wire_answers.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;

using test::answer;

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

// Task ids are opaque text (protocol doc): "id?0" sent raw was read by the server as task "id"
// with a query, answered 404, and the rerun paid for the task again (a new user's check).
TEST(Codec, APollEncodesTheTaskIdAsOnePathSegment) {
  EXPECT_EQ(make_poll("id?0", "k").target, "/v1/tasks/id%3F0");
  EXPECT_EQ(make_poll("a b?x=1#frag/../../2", "k").target,
            "/v1/tasks/a%20b%3Fx%3D1%23frag%2F..%2F..%2F2");
  EXPECT_EQ(make_poll("50%", "k").target, "/v1/tasks/50%25");
  EXPECT_EQ(make_poll("\xE4\xBB\xBB+", "k").target, "/v1/tasks/%E4%BB%BB%2B");
  // RFC 3986's unreserved characters stay as they are: UUIDs and numbers look as before.
  EXPECT_EQ(make_poll("Az09-._~", "k").target, "/v1/tasks/Az09-._~");
  for (const std::string id : {"id?0", "a b?x=1#frag/../../2", "50%", "%zz%4", "+", ""}) {
    const auto target = make_poll(id, "k").target;
    EXPECT_EQ(protocol::decode_percent(target.substr(protocol::task_path_prefix.size())), id);
  }
}

// A 404 "Task not found: id" to the poll of "id?0" is about another task than ours: no proof
// that ours does not exist (the rerun resubmitted, paying again), so not read as task unknown.
TEST(Codec, A404NamingAnotherTaskIsNotOursUnknown) {
  auto other = read_poll(answer(404, protocol::error_body(404, "Task not found: id", "r")), "id?0");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, error_class::malformed);
  EXPECT_EQ(other.error().http_status, 404);
  EXPECT_FALSE(protocol::is_task_unknown(other.error()));
  EXPECT_NE(other.error().message.find("names task id, not the polled id?0"), std::string::npos)
      << other.error().message;
  auto dom = detail::read_poll_dom(
      answer(404, protocol::error_body(404, "Task not found: id", "r")), "id?0");
  ASSERT_FALSE(dom);
  EXPECT_FALSE(protocol::is_task_unknown(dom.error()));

  // Naming ours, or no task at all, is still the service's "task not found".
  for (const char* text : {"Task not found: id?0", "task not found", "Task not found:  id?0 "}) {
    auto ours = read_poll(answer(404, protocol::error_body(404, text, "r")), "id?0");
    ASSERT_FALSE(ours);
    EXPECT_TRUE(protocol::is_task_unknown(ours.error())) << text;
  }
}

TEST(Codec, SubmitAcceptedIgnoresItsTaskStatus) {
  auto accepted =
      read_submit(answer(200, R"({"task_id":"t1","request_id":"r1","task_status":"SUCCEED"})"));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted.value().task_id, "t1");
  EXPECT_EQ(accepted.value().request_id, "r1");
}

// A public sample shows a numeric id (protocol doc): it names the task, so it is read as its
// decimal text and polled; it was "no task_id", held as possibly paid (a new user's check).
TEST(Codec, ANumericTaskIdIsReadAsItsText) {
  const std::string body = R"({"task_id":4003503,"request_id":"r1"})";
  auto scanned = read_submit(answer(200, body));
  auto dom = detail::read_submit_dom(answer(200, body));
  ASSERT_TRUE(scanned);
  ASSERT_TRUE(dom);
  EXPECT_EQ(scanned.value().task_id, "4003503");
  EXPECT_EQ(dom.value().task_id, "4003503");
}

TEST(Codec, SubmitWithoutTaskIdIsMalformedAndMayHideATask) {
  // A 200 that is not the service's answer: the origin may have created the task before
  // something cut or garbled the answer (issue 12), so it is never resubmitted blindly.
  for (const char* body :
       {R"({"request_id":"r"})", "not json", "[]", R"({"task_id":5.5})", R"({"task_id":""})",
        R"({"request_id": "r", "task_status": RUNNING, )"}) {
    auto result = read_submit(answer(200, body));
    ASSERT_FALSE(result) << body;
    EXPECT_EQ(result.error().kind, error_class::malformed) << body;
    EXPECT_EQ(result.error().http_status, 200);
    EXPECT_TRUE(result.error().ambiguous) << body;
  }
  // An error envelope in a 200 is the service's own refusal: free, not ambiguous.
  auto refused = read_submit(answer(200, protocol::error_body(400, "Invalid parameter", "r")));
  ASSERT_FALSE(refused);
  EXPECT_FALSE(refused.error().ambiguous);
  // An empty body is not malformed but ambiguous (NewerErrorShapesAreClassified).
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

TEST(Codec, SubmitAnsweredByAGatewayIsAmbiguous) {
  // Issue 12: the origin may have created and charged the task behind these.
  for (int status : {502, 504, 524}) {
    for (const std::string& body : {std::string("<html><head><title>Gateway</title></head></html>"),
                                    std::string(R"({"message":"Endpoint request timed out"})"),
                                    protocol::error_body(status, "Gateway Timeout", "r")}) {
      auto result = read_submit(answer(status, body));
      ASSERT_FALSE(result);
      EXPECT_EQ(result.error().kind, error_class::server_transport);
      EXPECT_TRUE(result.error().ambiguous) << status << " " << body;
      EXPECT_TRUE(result.error().from_gateway);
    }
  }
  EXPECT_TRUE(read_submit(answer(500, "<html>500</html>")).error().ambiguous);
  // The service's own refusals are free: resubmitting them pays nothing twice.
  EXPECT_FALSE(
      read_submit(answer(503, protocol::error_body(503, protocol::texts::server_busy, "r")))
          .error()
          .ambiguous);
  EXPECT_FALSE(read_submit(answer(500, protocol::error_body(500, "Internal Server Error", "r")))
                   .error()
                   .ambiguous);
  EXPECT_FALSE(
      read_submit(answer(503, std::string(protocol::texts::server_busy))).error().ambiguous);
  EXPECT_FALSE(read_submit(answer(429, "<html>429</html>")).error().ambiguous);
  // A poll creates nothing: never ambiguous, though a gateway answered.
  auto poll = read_poll(answer(504, "<html>504</html>"), "t");
  EXPECT_TRUE(poll.error().from_gateway);
  EXPECT_FALSE(poll.error().ambiguous);
}

TEST(Codec, LongRetryAfterIsKeptWithItsTime) {
  auto response = answer(429, protocol::error_body(429, protocol::texts::daily_quota("m"), "r"));
  response.headers.set("Retry-After", "7200");
  const auto before = static_cast<std::int64_t>(std::time(nullptr));
  auto result = read_submit(response);
  const auto after = static_cast<std::int64_t>(std::time(nullptr));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::quota_429);
  EXPECT_EQ(result.error().retry_after_ms, 7'200'000);  // not capped at an hour
  ASSERT_TRUE(result.error().retry_at_unix_s);
  EXPECT_GE(*result.error().retry_at_unix_s, before + 7200);
  EXPECT_LE(*result.error().retry_at_unix_s, after + 7200);
  EXPECT_EQ(read_submit(answer(429, "")).error().retry_at_unix_s, std::nullopt);
}

TEST(Codec, RateLimitHeadersDecideA429BeforeItsText) {
  const std::string unknown = protocol::openai_error_body("Too many requests for this quota group");
  auto with = [&](const std::string& body, const char* name, const char* value) {
    auto response = answer(429, body);
    response.headers.set(name, value);
    return read_submit(response).error();
  };
  const char* model = "modelscope-ratelimit-model-requests-remaining";
  const char* account = "modelscope-ratelimit-requests-remaining";
  auto no_header = read_submit(answer(429, unknown)).error();
  EXPECT_EQ(no_header.kind, error_class::dynamic_429);
  EXPECT_TRUE(no_header.unknown_429);
  auto spent = with(unknown, model, "0");
  EXPECT_EQ(spent.kind, error_class::quota_429);
  EXPECT_FALSE(spent.unknown_429);
  EXPECT_EQ(with(unknown, account, "0").kind, error_class::quota_429);
  auto left = with(unknown, model, "37");
  EXPECT_EQ(left.kind, error_class::dynamic_429);
  EXPECT_FALSE(left.unknown_429);
  EXPECT_TRUE(with(unknown, model, "n/a").unknown_429);
  // The headers come first and the text second (protocol doc, "What newer public material
  // adds": at 0 it is the quota, above 0 the dynamic limit), known texts included.
  const auto dynamic = protocol::error_body(429, protocol::texts::dynamic_rate_limit("m"), "r");
  EXPECT_EQ(with(dynamic, model, "0").kind, error_class::quota_429);
  const auto quota = protocol::error_body(429, protocol::texts::daily_quota("m"), "r");
  EXPECT_EQ(with(quota, account, "12").kind, error_class::dynamic_429);
  EXPECT_EQ(read_submit(answer(429, quota)).error().kind, error_class::quota_429);  // text alone
  // Other statuses keep their class whatever the headers say.
  EXPECT_EQ(read_submit([&] {
              auto r = answer(503, protocol::error_body(503, protocol::texts::server_busy, "r"));
              r.headers.set(model, "0");
              return r;
            }())
                .error()
                .kind,
            error_class::server_transport);
}

TEST(Codec, NewerErrorShapesAreClassified) {
  // protocol doc, "What newer public material adds".
  const auto unbound = read_submit(answer(
      401,
      R"({"error":{"message":"Please bind your Alibaba Cloud account before use."},"request_id":"r"})"));
  EXPECT_EQ(unbound.error().kind, error_class::request_error);
  EXPECT_EQ(unbound.error().http_status, 401);
  EXPECT_EQ(unbound.error().request_id, "r");
  const auto text = protocol::openai_error_body(protocol::texts::no_provider("Qwen/Qwen-Image"));
  EXPECT_EQ(read_submit(answer(400, text)).error().kind, error_class::request_error);
  auto as_429 = answer(429, text);
  as_429.headers.set("modelscope-ratelimit-model-requests-remaining", "12");
  const auto refused = read_submit(as_429).error();
  EXPECT_EQ(refused.kind, error_class::request_error) << "no provider: waiting cannot help";
  EXPECT_FALSE(refused.unknown_429);
  // An empty 200 on a submit may hide a created task: ambiguous, never resubmitted blindly.
  for (const char* body : {"", "  \r\n"}) {
    const auto empty = read_submit(answer(200, body));
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().kind, error_class::server_transport);
    EXPECT_TRUE(empty.error().ambiguous);
    EXPECT_EQ(detail::read_submit_dom(answer(200, body)).error().kind,
              error_class::server_transport);
  }
}

TEST(Codec, RateLimitHeadersTravelWithEveryOutcome) {
  auto headed = [](protocol::wire_response r) {
    r.headers.set("modelscope-ratelimit-requests-limit", "2000");
    r.headers.set("modelscope-ratelimit-requests-remaining", "1996");
    r.headers.set("modelscope-ratelimit-model-requests-limit", "500");
    r.headers.set("modelscope-ratelimit-model-requests-remaining", " 496 ");
    return r;
  };
  const auto accepted =
      read_submit(headed(answer(200, R"({"task_id":"4003503","request_id":"r"})")));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted.value().task_id, "4003503");  // numeric ids stay text
  ASSERT_TRUE(accepted.value().ratelimit);
  EXPECT_EQ(accepted.value().ratelimit->account_limit, 2000);
  EXPECT_EQ(accepted.value().ratelimit->account_remaining, 1996);
  EXPECT_EQ(accepted.value().ratelimit->model_limit, 500);
  EXPECT_EQ(accepted.value().ratelimit->model_remaining, 496);
  EXPECT_EQ(accepted.value().ratelimit->remaining(), 496);
  EXPECT_FALSE(accepted.value().ratelimit->exhausted());
  const auto polled = read_poll(
      headed(answer(200, R"({"task_id":"t","request_id":"r","task_status":"RUNNING"})")), "t");
  ASSERT_TRUE(polled);
  EXPECT_TRUE(polled.value().ratelimit);
  const auto refused = read_submit(headed(answer(400, protocol::error_body(400, "bad", "r"))));
  ASSERT_FALSE(refused);
  ASSERT_TRUE(refused.error().ratelimit);
  EXPECT_EQ(refused.error().ratelimit->account_remaining, 1996);
  EXPECT_FALSE(read_submit(answer(200, R"({"task_id":"t","request_id":"r"})")).value().ratelimit);
}

TEST(Codec, ErrorInsideHttp200IsClassifiedByContent) {
  auto submit = read_submit(
      answer(200, protocol::error_body(429, protocol::texts::dynamic_rate_limit("m"), "r")));
  ASSERT_FALSE(submit);
  EXPECT_EQ(submit.error().kind, error_class::dynamic_429);
  EXPECT_EQ(submit.error().http_status, 200);
  EXPECT_FALSE(submit.error().ambiguous);
  EXPECT_EQ(
      read_submit(answer(200, protocol::openai_error_body("免费使用额度已用完"))).error().kind,
      error_class::quota_429);
  EXPECT_EQ(read_submit(answer(200, protocol::error_body(401, "bad token", "r"))).error().kind,
            error_class::request_error);
  auto poll =
      read_poll(answer(200, protocol::error_body(503, protocol::texts::server_busy, "r")), "t");
  ASSERT_FALSE(poll);
  EXPECT_EQ(poll.error().kind, error_class::server_transport);
  EXPECT_EQ(
      read_poll(answer(200, protocol::openai_error_body(protocol::texts::request_limit_exceeded)),
                "t")
          .error()
          .kind,
      error_class::quota_429);
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

TEST(Codec, PollFailedModerationAsTextCodes) {
  auto failed = [](const std::string& code, const std::string& message) {
    return read_poll(answer(200, R"({"request_id":"r","task_status":"FAILED","errors":{"code":)" +
                                     code + R"(,"message":")" + message + R"("}})"),
                     "t");
  };
  auto named =
      failed(R"("DataInspectionFailed")", "Output data may contain inappropriate content.");
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().kind, error_class::moderation);
  EXPECT_EQ(named.error().code_name, "DataInspectionFailed");
  EXPECT_EQ(named.error().service_code, 0);
  auto quoted = failed(R"("422")", "blocked");
  EXPECT_EQ(quoted.error().kind, error_class::moderation);
  EXPECT_EQ(quoted.error().service_code, 422);
  EXPECT_EQ(failed(R"("InternalError.Algo.DataInspectionFailed")", "m").error().kind,
            error_class::moderation);
  EXPECT_EQ(failed("500", "Input data may contain inappropriate content.").error().kind,
            error_class::moderation);
  EXPECT_EQ(failed(R"("InternalError")", "m").error().kind, error_class::task_failed);
  // A rate limit inside the poll leaves the task alone (it may still run).
  EXPECT_EQ(failed("429", "We have to rate limit you").error().kind, error_class::dynamic_429);
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
