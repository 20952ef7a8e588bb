// http_backend against servers that try to exhaust it (issue 17, hostile servers): an answer that
// never ends, one that trickles in, a download larger than the cap. Memory stays bounded by the
// answer caps, time by the request deadlines; each failure is classified, nothing hangs.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "client/http_backend.hpp"

namespace zbatch::client {
namespace {

using std::chrono::milliseconds;

/// A loopback server whose every answer is an endless chunked body (`endless`) or a body sent a
/// byte every `trickle` (bounded: it stops after `max_chunks` writes or when the client leaves).
class hostile_server {
 public:
  hostile_server(std::size_t chunk_bytes, milliseconds trickle, int max_chunks)
      : chunk_(chunk_bytes, 'x') {
    auto answer = [this, trickle, max_chunks](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/json", [this, trickle, max_chunks](std::size_t, httplib::DataSink& sink) {
            for (int i = 0; i < max_chunks && !stopping_; ++i) {
              if (trickle.count() > 0) {
                std::this_thread::sleep_for(trickle);  // the hostile server's pace
              }
              if (!sink.write(chunk_.data(), chunk_.size())) {
                return false;  // the client gave up
              }
              chunks_sent_.fetch_add(1);
            }
            sink.done();
            return true;
          });
    };
    server_.Get(".*", answer);
    server_.Post(".*", answer);
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections queue until the thread accepts them.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~hostile_server() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int chunks_sent() const { return chunks_sent_.load(); }

 private:
  std::string chunk_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> chunks_sent_{0};
};

std::unique_ptr<http_backend> backend_for(const hostile_server& server, http_options options) {
  options.base_url = server.url();
  options.api_key = "k";
  auto backend = http_backend::create(options);
  EXPECT_TRUE(backend.ok()) << backend.status().message();
  return backend.ok() ? std::move(*backend) : nullptr;
}

TEST(HostileServer, AnEndlessPollAnswerIsCutOffAtTheAnswerCap) {
  hostile_server server(64 * 1024, milliseconds{0}, 100'000);  // up to 6.4 GB if read whole
  auto backend = backend_for(server, http_options{});
  auto answer = backend->poll("t1");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::malformed);
  EXPECT_NE(answer.error().message.find("answer larger than 1048576 bytes"), std::string::npos)
      << answer.error().message;
  EXPECT_FALSE(answer.error().ambiguous);
}

TEST(HostileServer, AnEndlessSubmitAnswerIsCutOffAndMayHideATask) {
  hostile_server server(64 * 1024, milliseconds{0}, 100'000);
  auto backend = backend_for(server, http_options{});
  protocol::submit_request request;
  request.prompt = "a fox";
  auto answer = backend->submit(request);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::malformed);
  EXPECT_TRUE(answer.error().ambiguous) << "the service may have created the task";
}

TEST(HostileServer, AnEndlessDownloadIsCutOffAtTheImageCap) {
  hostile_server server(64 * 1024, milliseconds{0}, 100'000);
  http_options options;
  options.max_image_bytes = 2u << 20;
  auto backend = backend_for(server, options);
  auto image = backend->download(server.url() + "/images/t1.png");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, protocol::error_class::malformed);
  EXPECT_NE(image.error().message.find("answer larger than 2097152 bytes"), std::string::npos)
      << image.error().message;
}

TEST(HostileServer, ATricklingAnswerEndsAtTheRequestDeadlineNotTheIdleTimeOut) {
  // A byte every 20 ms never trips the 60 s idle time-out; the 200 ms total deadline ends it.
  hostile_server server(1, milliseconds{20}, 1'000);
  http_options options;
  options.answer_deadline = milliseconds{200};
  auto backend = backend_for(server, options);
  auto answer = backend->poll("t1");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::server_transport);
  EXPECT_NE(answer.error().message.find("no complete answer within"), std::string::npos)
      << answer.error().message;
  EXPECT_LT(server.chunks_sent(), 1'000) << "the client left before the server finished";
}

TEST(HostileServer, ATricklingSubmitAnswerIsAmbiguous) {
  hostile_server server(1, milliseconds{20}, 1'000);
  http_options options;
  options.answer_deadline = milliseconds{200};
  auto backend = backend_for(server, options);
  protocol::submit_request request;
  request.prompt = "a fox";
  auto answer = backend->submit(request);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::server_transport);
  EXPECT_TRUE(answer.error().ambiguous);
}

TEST(HttpOptions, DeadlinesAndCapsMustBePositive) {
  http_options options;
  options.base_url = "http://127.0.0.1:1";
  options.answer_deadline = milliseconds{0};
  EXPECT_NE(check_options(options).message().find("deadlines"), std::string::npos);
  options.answer_deadline = milliseconds{1};
  options.max_answer_bytes = 0;
  EXPECT_NE(check_options(options).message().find("caps"), std::string::npos);
}

}  // namespace
}  // namespace zbatch::client
