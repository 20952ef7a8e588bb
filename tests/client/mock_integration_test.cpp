// The client against the real mock server over loopback: every endpoint, header rule and error
// of the protocol doc, the served PNG, and how transport faults are classified.
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "client/codec.hpp"
#include "client/digest.hpp"
#include "protocol/messages.hpp"
#include "tests/client/mock_fixture.hpp"
#include "tests/client/png_check.hpp"

namespace zbatch::client {
namespace {

using protocol::error_class;
using test::check_png;

const httplib::Headers submit_headers{{"Authorization", "Bearer k"},
                                      {"Content-Type", "application/json"},
                                      {"X-ModelScope-Async-Mode", "true"}};

std::string body_with(const std::string& fields) {
  return R"({"model":"Tongyi-MAI/Z-Image-Turbo","prompt":"p")" + fields + "}";
}

nlohmann::json json_of(const protocol::wire_response& response) {
  auto out = nlohmann::json::parse(response.body, nullptr, false);
  EXPECT_FALSE(out.is_discarded()) << response.body;
  return out;
}

/// One image through the backend alone: submit once, poll every 20 ms until the task is
/// terminal (bounded by 30 s), download. Enough to check the wire flow; strategies and retries
/// live in the actors.
struct one_image {
  bool delivered = false;
  std::optional<protocol::api_error> error;
  std::string task_id;
  std::string last_status;
  int polls = 0;
  std::string image;
  std::string content_type;
  std::string sha256;
};

one_image make_image(backend& api, const protocol::submit_request& request) {
  one_image out;
  auto accepted = api.submit(request);
  if (!accepted) {
    out.error = accepted.error();
    return out;
  }
  out.task_id = accepted.value().task_id;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // the poll interval
    ++out.polls;
    auto state = api.poll(out.task_id);
    if (!state) {
      out.error = state.error();
      return out;
    }
    out.last_status = state.value().raw_status;
    if (state.value().status != protocol::task_status::succeed) {
      continue;
    }
    auto image = api.download(state.value().output_images.at(0));
    if (!image) {
      out.error = image.error();
      return out;
    }
    out.delivered = true;
    out.image = image.value().bytes;
    out.content_type = image.value().content_type;
    out.sha256 = sha256_hex(out.image);
    return out;
  }
  return out;
}

protocol::submit_request request_for(std::int64_t seed, protocol::image_size size) {
  protocol::submit_request request;
  request.prompt = "a lighthouse at dawn";
  request.seed = seed;
  request.size = size;
  return request;
}

class ClientAgainstMock : public test::mock_fixture {};

TEST_F(ClientAgainstMock, FullFlowDeliversADecodablePngOfTheRequestedSize) {
  auto api = backend();
  for (auto size : {protocol::image_size{1024, 1024}, protocol::image_size{1024, 576},
                    protocol::image_size{512, 2048}}) {
    auto record = make_image(*api, request_for(42, size));
    ASSERT_TRUE(record.delivered) << (record.error ? record.error->describe() : "deadline");
    EXPECT_GE(record.polls, 1);
    EXPECT_EQ(record.last_status, "SUCCEED");
    EXPECT_EQ(record.content_type, "image/png");
    EXPECT_EQ(record.sha256, sha256_hex(record.image));
    auto png = check_png(record.image);
    EXPECT_TRUE(png.ok) << png.problem;
    EXPECT_EQ(png.width, size.width);
    EXPECT_EQ(png.height, size.height);
  }
}

TEST_F(ClientAgainstMock, SameInputsSameBytesOtherSeedOtherImage) {
  auto api = backend();
  const protocol::image_size size{768, 512};
  auto first = make_image(*api, request_for(5, size));
  auto again = make_image(*api, request_for(5, size));
  auto other = make_image(*api, request_for(6, size));
  ASSERT_TRUE(first.delivered && again.delivered && other.delivered);
  EXPECT_NE(first.task_id, again.task_id);
  EXPECT_EQ(first.sha256, again.sha256);
  EXPECT_NE(first.sha256, other.sha256);
}

TEST_F(ClientAgainstMock, SubmitAnswerAndTaskStatesFollowTheProtocol) {
  auto submitted = raw("POST", "/v1/images/generations", submit_headers, body_with(""));
  ASSERT_EQ(submitted.status, 200) << submitted.body;
  auto body = json_of(submitted);
  EXPECT_TRUE(body["task_id"].is_string());
  EXPECT_TRUE(body["request_id"].is_string());
  EXPECT_EQ(body["task_status"], "SUCCEED");  // "accepted", not done
  auto accepted = read_submit(submitted);
  ASSERT_TRUE(accepted);
  const auto task_id = accepted.value().task_id;
  EXPECT_EQ(task_id.size(), 36u);  // a UUID

  // The very first poll comes before the queue time ends: still PENDING.
  auto first = raw("GET", "/v1/tasks/" + task_id,
                   {{"Authorization", "Bearer k"}, {"X-ModelScope-Task-Type", "image_generation"}});
  ASSERT_EQ(first.status, 200);
  auto first_state = read_poll(first, task_id);
  ASSERT_TRUE(first_state);
  EXPECT_FALSE(first_state.value().terminal());
  EXPECT_TRUE(json_of(first)["outputs"].is_object());
  EXPECT_TRUE(json_of(first)["request_id"].is_string());
}

TEST_F(ClientAgainstMock, MissingAsyncHeaderGetsTheSynchronousCallBody) {
  auto response =
      raw("POST", "/v1/images/generations",
          {{"Authorization", "Bearer k"}, {"Content-Type", "application/json"}}, body_with(""));
  EXPECT_EQ(response.status, 400);
  auto body = json_of(response);
  EXPECT_EQ(body["errors"]["message"], protocol::texts::sync_not_supported);
  EXPECT_TRUE(body["request_id"].is_string());
  auto error = read_submit(response);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().kind, error_class::request_error);
  EXPECT_EQ(error.error().message, protocol::texts::sync_not_supported);
  EXPECT_FALSE(error.error().request_id.empty());
}

TEST_F(ClientAgainstMock, MissingTaskTypeHeaderGetsTaskNotFoundFailed) {
  auto accepted = backend()->submit(request_for(1, {}));
  ASSERT_TRUE(accepted);
  auto response =
      raw("GET", "/v1/tasks/" + accepted.value().task_id, {{"Authorization", "Bearer k"}});
  EXPECT_EQ(response.status, 200);
  auto body = json_of(response);
  EXPECT_EQ(body["task_status"], "FAILED");
  EXPECT_EQ(body["errors"]["code"], 500);
  EXPECT_EQ(body["errors"]["message"], "task not found");
  auto state = read_poll(response, accepted.value().task_id);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().kind, error_class::task_failed);
}

TEST_F(ClientAgainstMock, MissingOrEmptyBearerIs401) {
  const httplib::Headers async{{"Content-Type", "application/json"},
                               {"X-ModelScope-Async-Mode", "true"}};
  for (const char* auth : {"", "Bearer", "Bearer ", "Bearer    ", "Basic abc"}) {
    auto headers = async;
    if (*auth != '\0') {
      headers.emplace("Authorization", auth);
    }
    auto response = raw("POST", "/v1/images/generations", headers, body_with(""));
    EXPECT_EQ(response.status, 401) << "'" << auth << "'";
    EXPECT_TRUE(json_of(response)["request_id"].is_string());
  }
  // Through the backend: no key → no header → 401, a fatal request error.
  auto unauthorised = backend("")->submit(request_for(1, {}));
  ASSERT_FALSE(unauthorised);
  EXPECT_EQ(unauthorised.error().kind, error_class::request_error);
  EXPECT_EQ(unauthorised.error().http_status, 401);
  auto poll = backend("")->poll("x");
  ASSERT_FALSE(poll);
  EXPECT_EQ(poll.error().http_status, 401);
}

TEST_F(ClientAgainstMock, BadFieldsAre400) {
  const std::string long_prompt(2000, 'a');
  for (const std::string& body :
       {std::string(R"({"prompt":"p"})"), std::string(R"({"model":"Tongyi-MAI/Z-Image-Turbo"})"),
        R"({"model":"Tongyi-MAI/Z-Image-Turbo","prompt":")" + long_prompt + "\"}",
        body_with(R"(,"size":"511x1024")"), body_with(R"(,"size":"1024x2049")"),
        body_with(R"(,"seed":-1)"), body_with(R"(,"seed":2147483648)"), body_with(R"(,"steps":0)"),
        body_with(R"(,"steps":101)"), body_with(R"(,"guidance":1.4)"),
        body_with(R"(,"guidance":20.5)"), std::string("not json")}) {
    auto response = raw("POST", "/v1/images/generations", submit_headers, body);
    EXPECT_EQ(response.status, 400) << body.substr(0, 120);
    auto error = read_submit(response);
    ASSERT_FALSE(error);
    EXPECT_EQ(error.error().kind, error_class::request_error);
    EXPECT_FALSE(error.error().message.empty());
    EXPECT_FALSE(error.error().request_id.empty());
  }
  // The limits themselves are accepted.
  auto ok = raw("POST", "/v1/images/generations", submit_headers,
                R"({"model":"Tongyi-MAI/Z-Image-Turbo","prompt":")" + std::string(1999, 'a') +
                    R"(","size":"512x2048","seed":2147483647,"steps":100,"guidance":1.5})");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(ClientAgainstMock, UnknownModelPathAndTaskAre404) {
  auto request = request_for(1, {});
  request.model = "nobody/no-model";
  auto model = backend()->submit(request);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, error_class::request_error);
  EXPECT_EQ(model.error().http_status, 404);
  EXPECT_FALSE(model.error().request_id.empty());

  auto path = raw("GET", "/v1/nothing-here", {{"Authorization", "Bearer k"}});
  EXPECT_EQ(path.status, 404);
  EXPECT_TRUE(json_of(path)["request_id"].is_string());

  auto task = backend()->poll("00000000-0000-0000-0000-000000000000");
  ASSERT_FALSE(task);
  EXPECT_EQ(task.error().kind, error_class::request_error);
  EXPECT_EQ(task.error().http_status, 404);

  auto image = backend()->download(server_->base_url() + "/images/nope.png");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().http_status, 404);
}

TEST_F(ClientAgainstMock, RateLimitQuotaAndBusyAreToldApart) {
  auto dynamic_headers = submit_headers;
  dynamic_headers.emplace("x-zbatch-fault-abort", "429");
  auto dynamic = read_submit(raw("POST", "/v1/images/generations", dynamic_headers, body_with("")));
  ASSERT_FALSE(dynamic);
  EXPECT_EQ(dynamic.error().kind, error_class::dynamic_429);
  auto quota_headers = submit_headers;
  quota_headers.emplace("x-zbatch-fault-abort", "quota");
  auto quota = read_submit(raw("POST", "/v1/images/generations", quota_headers, body_with("")));
  ASSERT_FALSE(quota);
  EXPECT_EQ(quota.error().kind, error_class::quota_429);
  auto busy_headers = submit_headers;
  busy_headers.emplace("x-zbatch-fault-abort", "busy");
  auto busy = read_submit(raw("POST", "/v1/images/generations", busy_headers, body_with("")));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, error_class::server_transport);
}

TEST_F(ClientAgainstMock, ModerationFailureIsClassified) {
  auto config = test::fast_config();
  config.faults.task.moderation = 1.0;
  model().replace_config(config);
  auto api = backend();
  auto record = make_image(*api, request_for(3, {}));
  ASSERT_TRUE(record.error);
  EXPECT_EQ(record.error->kind, error_class::moderation);
  EXPECT_EQ(record.error->service_code, 422);
  EXPECT_FALSE(record.task_id.empty());
  EXPECT_EQ(model().submits_for("a lighthouse at dawn", 3, protocol::image_size{}), 1u);
}

TEST_F(ClientAgainstMock, ResetAfterAcceptIsAmbiguous) {
  auto config = test::fast_config();
  config.faults.submit.reset = 1.0;
  config.faults.transport_after_accept = true;
  model().replace_config(config);
  auto request = request_for(9, {});
  auto result = backend()->submit(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, error_class::server_transport);
  EXPECT_TRUE(result.error().ambiguous);
  // The mock did create (and charge) the task: exactly why a blind resubmit is wrong.
  EXPECT_EQ(model().submits_for(request.prompt, 9, protocol::image_size{}), 1u);
}

TEST_F(ClientAgainstMock, HangingPollTimesOut) {
  auto accepted = backend()->submit(request_for(2, {}));
  ASSERT_TRUE(accepted);
  auto config = test::fast_config();
  config.faults.poll.hang = 1.0;
  config.faults.hang_max_ms = 20'000;
  model().replace_config(config);
  auto api = backend("test-key", std::chrono::milliseconds{300});
  auto state = api->poll(accepted.value().task_id);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().kind, error_class::server_transport);
  EXPECT_NE(state.error().message.find("timed out"), std::string::npos) << state.error().message;
  EXPECT_FALSE(state.error().ambiguous);  // polls are idempotent
}

TEST_F(ClientAgainstMock, TruncatedDownloadAndMalformedPoll) {
  auto api = backend();
  auto record = make_image(*api, request_for(4, {}));
  ASSERT_TRUE(record.delivered);
  auto accepted = api->submit(request_for(4, {}));
  ASSERT_TRUE(accepted);

  auto config = test::fast_config();
  config.faults.download.truncate = 1.0;
  config.faults.poll.malformed = 1.0;
  model().replace_config(config);
  auto state = api->poll(accepted.value().task_id);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().kind, error_class::malformed);

  // A fresh task id is not needed: the image URL stays valid.
  auto image = api->download(server_->base_url() + "/images/" + record.task_id + ".png");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, error_class::server_transport);
  EXPECT_NE(image.error().message.find("Content-Length"), std::string::npos)
      << image.error().message;
}

TEST_F(ClientAgainstMock, RequestIdOnEveryAnswer) {
  auto submitted = raw("POST", "/v1/images/generations", submit_headers, body_with(""));
  EXPECT_TRUE(submitted.headers.has("x-request-id"));
  auto task_id = json_of(submitted)["task_id"].get<std::string>();
  auto polled =
      raw("GET", "/v1/tasks/" + task_id,
          {{"Authorization", "Bearer k"}, {"X-ModelScope-Task-Type", "image_generation"}});
  EXPECT_TRUE(json_of(polled)["request_id"].is_string());
  auto missing = raw("GET", "/nope", {});
  EXPECT_TRUE(missing.headers.has("x-request-id"));
  EXPECT_TRUE(json_of(missing)["request_id"].is_string());
}

}  // namespace
}  // namespace zbatch::client
