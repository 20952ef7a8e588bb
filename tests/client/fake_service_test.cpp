// The fake service itself, over raw HTTP: its protocol, its counts and a few scripted faults
// (the client's handling of every fault is in fake_client_test.cpp).
#include "tests/fakes/fake_service.hpp"

#include <chrono>

#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/process.hpp"
#include "tests/client/png_check.hpp"

namespace zbatch::test {
namespace {

using nlohmann::json;

// The read time-out is generous by default: the fake renders a 1024x1024 PNG (40-230 ms at load
// 20 here, more under TSan) before the first byte of an image answer, and a loaded machine can
// take longer than that to schedule a server thread. Only the held-submit test wants it short.
struct raw_client {
  explicit raw_client(const fake::service& service,
                      std::chrono::milliseconds read_timeout = std::chrono::seconds(30))
      : http(service.base_url()) {
    http.set_read_timeout(read_timeout);
  }
  httplib::Result submit(const std::string& body = R"({"prompt":"p","seed":1})") {
    return http.Post("/v1/images/generations", {{"X-ModelScope-Async-Mode", "true"}}, body,
                     "application/json");
  }
  json poll(const std::string& id) {
    auto res = http.Get(("/v1/tasks/" + id).c_str());
    EXPECT_TRUE(res);
    return res ? json::parse(res->body, nullptr, false) : json{};
  }
  httplib::Client http;
};

TEST(FakeService, CreatesCountsAndServesRealPngsOfTheRequestedSize) {
  fake::service service;
  fake::task_behaviour slow;
  slow.running_polls = 2;
  service.queue(slow);
  raw_client client(service);
  auto res = client.submit(R"({"prompt":"a fox","seed":3,"size":"640x512"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const auto id = json::parse(res->body).at("task_id").get<std::string>();
  EXPECT_EQ(client.poll(id).at("task_status"), "RUNNING");
  EXPECT_EQ(client.poll(id).at("task_status"), "RUNNING");
  auto done = client.poll(id);
  ASSERT_EQ(done.at("task_status"), "SUCCEED");
  const auto url = done.at("output_images").at(0).get<std::string>();
  ASSERT_EQ(url.rfind(service.base_url(), 0), 0u) << url;
  auto image = client.http.Get(url.substr(service.base_url().size()).c_str());
  ASSERT_TRUE(image);
  EXPECT_EQ(image->get_header_value("Content-Type"), "image/png");
  auto png = check_png(image->body);
  EXPECT_TRUE(png.ok) << png.problem;
  EXPECT_EQ(png.width, 640);
  EXPECT_EQ(png.height, 512);
  EXPECT_EQ(image->body, service.image_of(id));
  const auto counts = service.counts();
  EXPECT_EQ(counts.submits_received, 1);
  EXPECT_EQ(counts.tasks_created, 1);
  EXPECT_EQ(counts.polls, 3);
  EXPECT_EQ(counts.downloads, 1);
  EXPECT_EQ(counts.images_served, 1);
}

TEST(FakeService, GatewayAnswersAfterTheTaskWasCreatedFreeRefusalsCreateNone) {
  fake::service service;
  service.queue(fake::gateway_after_create(504, /*html=*/true));
  service.queue(fake::refused(401, "bad token"));
  service.queue(fake::rate_limited(fake::unknown_429_text(), "7200"));
  raw_client client(service);
  auto gateway = client.submit();
  ASSERT_TRUE(gateway);
  EXPECT_EQ(gateway->status, 504);
  EXPECT_NE(gateway->body.find("<html>"), std::string::npos);
  auto refused = client.submit();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto limited = client.submit();
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "7200");
  EXPECT_EQ(service.submits_received(), 3);
  EXPECT_EQ(service.tasks_created(), 1);  // only the gateway's submit reached the service
  // The task behind the gateway's answer exists and finishes.
  EXPECT_EQ(client.poll("task-1").at("task_status"), "SUCCEED");
}

TEST(FakeService, HeldSubmitCreatesTheTaskAndNeverAnswers) {
  fake::service service;
  service.queue(fake::hang_after_create());
  raw_client client(service, std::chrono::milliseconds(300));
  auto res = client.submit();
  EXPECT_FALSE(res);
  // The client's 300 ms can end before a server thread took the request up (a loaded machine):
  // the task is created when the handler runs, so wait (bounded) for that, not for a time.
  EXPECT_TRUE(test::wait_for([&] { return service.tasks_created() == 1; }))
      << service.tasks_created();
}

TEST(FakeService, ImageRedirectsNameTheNextHop) {
  fake::service service;
  service.queue(fake::redirect_to_file(2, /*relative=*/true));
  raw_client client(service);
  ASSERT_TRUE(client.submit());
  auto first = client.http.Get("/images/task-1.png");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 302);
  EXPECT_EQ(first->get_header_value("Location"), "/images/task-1.png?hop=1");
  auto last = client.http.Get("/images/task-1.png?hop=2");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, 200);
  EXPECT_EQ(service.counts().images_served, 1);
}

TEST(FakeService, FailedTasksCarryTheScriptedCode) {
  fake::service service;
  service.queue(fake::moderated_text_code());
  raw_client client(service);
  ASSERT_TRUE(client.submit());
  auto failed = client.poll("task-1");
  EXPECT_EQ(failed.at("task_status"), "FAILED");
  EXPECT_EQ(failed.at("errors").at("code"), "DataInspectionFailed");
}

}  // namespace
}  // namespace zbatch::test
