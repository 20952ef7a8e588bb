#pragma once
/// What reading one answer may cost, enforced below cpp-httplib: a total deadline on every read and
/// write (the status line and headers included, which cpp-httplib 0.11 bounds only by the idle
/// read time-out) and a cap on the bytes and lines of the status line and headers (cpp-httplib
/// 0.11 bounds neither the number of header lines nor the length of one line while it reads it:
/// a server sending header lines without end would grow memory until the process dies).
///
/// How: `budgeted_client` is an `httplib::ClientImpl` (plain) or `httplib::SSLClient` (TLS) that
/// hands cpp-httplib its own stream over the connected socket instead of the library's. The stream
/// keeps the socket non-blocking and waits with poll() for at most the idle time-out and never past
/// the deadline, and refuses any read once the budget is spent. Private to the client library
/// (http_backend.cpp); not a public header.
///
/// Lifetime and threading: the client holds a reference to one `answer_budget`, which the caller
/// resets before each request and reads after it; one request at a time per client (the backend's
/// rule). `stop()` from another thread shuts the socket down, which ends any wait at once.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <httplib.h>

namespace zbatch::client {

/// Limits of one request and what ran out. Header limits: the status line and the headers
/// together, as read off the wire (protocol answers send about 10 lines and under 1 KiB).
struct answer_budget {
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds idle{60'000};  ///< Longest wait for the next bytes (read time-out).
  std::size_t max_header_bytes = 64u << 10;
  int max_header_lines = 256;

  // Set by the stream while it reads; `headers_done` by the caller's response handler.
  std::size_t header_bytes = 0;
  int header_lines = 0;
  bool headers_done = false;
  bool too_late = false;           ///< A read or write was refused: the deadline passed.
  bool headers_too_large = false;  ///< The headers ran over a header limit: the read was refused.

  /// Starts a request at `now` that may take `total`.
  void start(std::chrono::steady_clock::time_point now, std::chrono::milliseconds total) {
    deadline = now + total;
    header_bytes = 0;
    header_lines = 0;
    headers_done = false;
    too_late = false;
    headers_too_large = false;
  }
};

/// A client for `scheme` ("http" or "https") at host:port whose reads and writes spend `budget`.
/// Configure it (time-outs, certificates) as any httplib::ClientImpl.
std::unique_ptr<httplib::ClientImpl> make_budgeted_client(const std::string& scheme,
                                                          const std::string& host, int port,
                                                          answer_budget& budget);

}  // namespace zbatch::client
