// http_backend against servers that try to exhaust it (issue 17, hostile servers): an answer that
// never ends, one that trickles in, a download larger than the cap, a compressed answer that
// expands without end. Memory stays bounded by the answer caps (on the expanded bytes), time by
// the request deadlines; each failure is classified, nothing hangs.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <brotli/encode.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include "client/http_backend.hpp"
#include "mock_api/png.hpp"
#include "tests/client/backend_at.hpp"

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

// ---- compressed answers ------------------------------------------------------------------------
//
// cpp-httplib 0.11 as Debian builds it has CPPHTTPLIB_ZLIB_SUPPORT and CPPHTTPLIB_BROTLI_SUPPORT
// (its pkg-config Cflags): the client sends no Accept-Encoding, so compression is never
// negotiated, but it decompresses any answer that says `Content-Encoding: gzip`, `deflate` or
// `br` on its own. So a hostile server can send a small body that expands without end; the caps
// must hold on the expanded bytes, which is what zbatch's receiver sees.

/// A compressor for one Content-Encoding: zlib's gzip or zlib-wrapped deflate, or brotli.
class compressor {
 public:
  explicit compressor(const std::string& encoding) : brotli_(encoding == "br") {
    if (brotli_) {
      br_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
      BrotliEncoderSetParameter(br_, BROTLI_PARAM_QUALITY, 5);
      return;
    }
    // windowBits 15 + 16 writes a gzip wrapper, 15 alone the zlib one HTTP calls "deflate".
    deflateInit2(&z_, Z_BEST_COMPRESSION, Z_DEFLATED, encoding == "gzip" ? 31 : 15, 9,
                 Z_DEFAULT_STRATEGY);
  }
  ~compressor() {
    if (brotli_) {
      BrotliEncoderDestroyInstance(br_);
    } else {
      deflateEnd(&z_);
    }
  }
  compressor(const compressor&) = delete;
  compressor& operator=(const compressor&) = delete;

  /// `input` compressed and flushed (`last`: the stream's end), ready to send.
  std::string push(const std::string& input, bool last) {
    return brotli_ ? push_brotli(input, last) : push_zlib(input, last);
  }

 private:
  std::string push_zlib(const std::string& input, bool last) {
    std::string out;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    z_.avail_in = static_cast<uInt>(input.size());
    char buffer[16384];
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buffer);
      z_.avail_out = sizeof buffer;
      deflate(&z_, last ? Z_FINISH : Z_SYNC_FLUSH);
      out.append(buffer, sizeof buffer - z_.avail_out);
    } while (z_.avail_out == 0);
    return out;
  }
  std::string push_brotli(const std::string& input, bool last) {
    std::string out;
    auto available_in = input.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    do {
      std::size_t available_out = 0;
      BrotliEncoderCompressStream(br_, op, &available_in, &next_in, &available_out, nullptr,
                                  nullptr);
      std::size_t size = 0;
      const auto* data = BrotliEncoderTakeOutput(br_, &size);
      out.append(reinterpret_cast<const char*>(data), size);
    } while (available_in > 0 || BrotliEncoderHasMoreOutput(br_));
    return out;
  }

  bool brotli_;
  z_stream z_{};
  BrotliEncoderState* br_ = nullptr;
};

/// A loopback server whose every answer says `Content-Encoding: <encoding>`: either `body`
/// compressed whole, or (`endless`) chunks of 64 KiB of zeros, each compressed to about a
/// hundred bytes, until the client leaves (bounded at 64 GiB expanded). Records whether any
/// request asked for compression.
class compressing_server {
 public:
  compressing_server(std::string encoding, bool endless, std::string body = {},
                     std::string content_type = "application/json")
      : encoding_(std::move(encoding)) {
    auto answer = [this, endless, body, content_type](const httplib::Request& request,
                                                      httplib::Response& res) {
      if (request.has_header("Accept-Encoding")) {
        std::lock_guard<std::mutex> lock(mutex_);
        accept_encoding_ = request.get_header_value("Accept-Encoding");
      }
      res.set_header("Content-Encoding", encoding_);
      if (!endless) {
        compressor z(encoding_);
        res.set_content(z.push(body, true), content_type);
        return;
      }
      res.set_chunked_content_provider(content_type, [this](std::size_t, httplib::DataSink& sink) {
        compressor z(encoding_);
        const std::string zeros(64 * 1024, '\0');
        for (int i = 0; i < 1'000'000 && !stopping_; ++i) {
          const auto packed = z.push(zeros, false);
          if (!sink.write(packed.data(), packed.size())) {
            return false;  // the client gave up
          }
          compressed_bytes_sent_.fetch_add(packed.size());
        }
        sink.done();
        return true;
      });
    };
    server_.Get(".*", answer);
    server_.Post(".*", answer);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~compressing_server() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string accept_encoding() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return accept_encoding_;
  }
  std::size_t compressed_bytes_sent() const { return compressed_bytes_sent_.load(); }

 private:
  std::string encoding_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> compressed_bytes_sent_{0};
  mutable std::mutex mutex_;
  std::string accept_encoding_;
};

using test::backend_at;

class Compressed : public ::testing::TestWithParam<std::string> {};

TEST_P(Compressed, AnAnswerCompressedUnaskedIsDecodedAndNeverNegotiated) {
  // Decompression is on: the caps below are on the expanded size, not the wire's.
  compressing_server server(
      GetParam(), false,
      R"({"task_id":"t1","task_status":"RUNNING","request_id":"r1","outputs":{}})");
  auto backend = backend_at(server.url(), http_options{});
  auto answer = backend->poll("t1");
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer.value().status, protocol::task_status::running);
  EXPECT_EQ(server.accept_encoding(), "") << "zbatch must not ask for compressed answers";
}

TEST_P(Compressed, AnEndlesslyExpandingPollAnswerIsCutOffAtTheAnswerCapOfExpandedBytes) {
  compressing_server server(GetParam(), true);
  http_options options;
  options.answer_deadline = std::chrono::seconds{60};  // the cap, not the deadline, must end it
  auto backend = backend_at(server.url(), options);
  auto answer = backend->poll("t1");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::malformed) << answer.error().describe();
  EXPECT_NE(answer.error().message.find("answer larger than 1048576 bytes"), std::string::npos)
      << answer.error().message;
  // 1 MiB of zeros is a few KiB compressed: the client left long before the server's 64 GiB.
  EXPECT_LT(server.compressed_bytes_sent(), std::size_t{64} << 20);
}

TEST_P(Compressed, AnEndlesslyExpandingSubmitAnswerIsCutOffAndPossiblyPaid) {
  compressing_server server(GetParam(), true);
  auto backend = backend_at(server.url(), http_options{});
  protocol::submit_request request;
  request.prompt = "a fox";
  auto answer = backend->submit(request);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, protocol::error_class::malformed) << answer.error().describe();
  EXPECT_TRUE(answer.error().ambiguous);
}

TEST_P(Compressed, AnEndlesslyExpandingImageIsCutOffAtTheImageCapOfExpandedBytes) {
  compressing_server server(GetParam(), true, {}, "image/png");
  http_options options;
  options.max_image_bytes = 4u << 20;
  options.download_deadline = std::chrono::seconds{60};
  auto backend = backend_at(server.url(), options);
  auto image = backend->download(server.url() + "/images/t1.png");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().kind, protocol::error_class::malformed) << image.error().describe();
  EXPECT_NE(image.error().message.find("answer larger than 4194304 bytes"), std::string::npos)
      << image.error().message;
}

TEST_P(Compressed, ACompressedImageWithinTheCapIsDelivered) {
  const auto png = mock::render_png("a fox", 7, 512, 512);
  compressing_server server(GetParam(), false, png, "image/png");
  auto backend = backend_at(server.url(), http_options{});
  auto image = backend->download(server.url() + "/images/t1.png");
  ASSERT_TRUE(image) << image.error().describe();
  EXPECT_EQ(image.value().bytes, png);
}

INSTANTIATE_TEST_SUITE_P(Encodings, Compressed, ::testing::Values("gzip", "deflate", "br"),
                         [](const auto& info) { return info.param; });

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
