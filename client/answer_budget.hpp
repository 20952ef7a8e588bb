#pragma once
/// What one request may cost, enforced below cpp-httplib: a total deadline on everything from the
/// TCP connect and the TLS handshake to the last byte of the answer (cpp-httplib 0.11 bounds the
/// connect and each handshake step only by the connection time-out, and every read, the status
/// line and headers included, only by the idle read time-out: a server dribbling its bytes could
/// hold a request without end), and a cap on the bytes and lines of the status line and headers
/// (cpp-httplib 0.11 bounds neither the number of header lines nor the length of one line while
/// it reads it: a server sending header lines without end would grow memory until the process
/// dies).
///
/// How: `budgeted_client` is an `httplib::ClientImpl` (plain) or `httplib::SSLClient` (TLS) that
/// overrides the library's two virtual hooks of a request:
/// - `create_and_connect_socket` connects itself (getaddrinfo's addresses in order, non-blocking,
///   each attempt waiting at most the connection time-out and never past the deadline) and, for
///   TLS, does the handshake itself with OpenSSL on the non-blocking socket, every wait a poll()
///   ending at the deadline. It keeps cpp-httplib's TLS semantics: SNI with the host name, the
///   handshake with SSL_VERIFY_NONE and the chain's verify result checked after it (the CA file
///   or directory, else the system's paths, loaded once per client), then the host checked
///   against the certificate, here by OpenSSL's RFC 6125 X509_check_host / X509_check_ip_asc
///   (stricter than cpp-httplib's own: a common name is read only when the certificate has no DNS
///   name). The library's own handshake (initialize_ssl, private and not virtual) would follow,
///   so `is_ssl()` answers false exactly once, to the check that would call it; everything else
///   (the Host header, redirects) still sees TLS. That relies on the order of cpp-httplib 0.11's
///   ClientImpl::send (connect, then `if (is_ssl())` the handshake); were it to change, the TLS
///   round-trip test would fail (a second ClientHello inside the session). Why not bound the
///   library's steps by the time left instead: each of its handshake waits restarts on every
///   byte, so a dribbling server would still never be cut off. Proxies and a bound interface are
///   refused (zbatch sets neither); name resolution (getaddrinfo) is bounded only by the system
///   resolver.
/// - `process_socket` hands cpp-httplib its own stream over the connected socket instead of the
///   library's. The stream keeps the socket non-blocking and waits with poll() for at most the
///   idle time-out and never past the deadline, and refuses any read once the budget is spent.
/// Private to the client library (http_backend.cpp, mock_admin.cpp); not a public header.
///
/// Lifetime and threading: the client holds a reference to one `answer_budget`, which the caller
/// resets before each request and reads after it; one request at a time per client (the backend's
/// rule). `stop()` from another thread shuts the socket of a request in progress down, which ends
/// any wait at once; cpp-httplib holds its socket lock while connecting, so a `stop()` during the
/// connect or the handshake would wait for them (up to the deadline): `cancel_connects()` from
/// another thread ends those at once instead (Ctrl-C's grace period, issue 17 item 7).

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
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
  bool too_late = false;  ///< A wait or a read was refused: the deadline passed.
  /// The deadline passed before the connection (TCP, and TLS for https) was made: nothing sent.
  bool too_late_to_connect = false;
  bool headers_too_large = false;  ///< The headers ran over a header limit: the read was refused.
  /// The longest whole header line read (after the status line), its CRLF included, and the
  /// bytes of the line being read. cpp-httplib 0.11 fails the read of an answer with a header
  /// line over CPPHTTPLIB_HEADER_MAX_LENGTH (8192) bytes; Debian ships it compiled, so that
  /// limit cannot be raised here, only named (`header_line_refused`).
  std::size_t longest_header_line = 0;
  std::size_t header_line_bytes = 0;
  /// cancel_connects() ended this request's connect or handshake: nothing was sent.
  bool connect_cancelled = false;

  /// Starts a request at `now` that may take `total`.
  void start(std::chrono::steady_clock::time_point now, std::chrono::milliseconds total) {
    deadline = now + total;
    header_bytes = 0;
    header_lines = 0;
    headers_done = false;
    too_late = false;
    too_late_to_connect = false;
    headers_too_large = false;
    longest_header_line = 0;
    header_line_bytes = 0;
    connect_cancelled = false;
  }

  /// A whole header line was longer than cpp-httplib reads: why its read failed.
  bool header_line_refused() const { return longest_header_line > CPPHTTPLIB_HEADER_MAX_LENGTH; }

  /// From another thread (http_backend::abort): shuts down the socket being connected, which ends
  /// its connect or TLS handshake at once, and refuses every later connect of this budget.
  void cancel_connects();
  /// The connecting thread: `fd` is being connected and shaken hands with (-1: done with it,
  /// before it is closed or handed to cpp-httplib, so a cancel never shuts down a reused fd).
  /// False once cancel_connects() ran (and `connect_cancelled` set): the caller gives the
  /// connection up.
  bool watch_connect(int fd);

 private:
  std::mutex connect_mutex_;
  int connecting_fd_ = -1;
  bool connects_cancelled_ = false;
};

/// A deadline for messages: "120 s", or "200 ms" when under ten seconds and not whole seconds.
inline std::string deadline_text(std::chrono::milliseconds span) {
  return span.count() % 1000 == 0 || span.count() > 10'000
             ? std::to_string(span.count() / 1000) + " s"
             : std::to_string(span.count()) + " ms";
}

/// What a failure below HTTP was, in words (cpp-httplib's names are one word: "Connection").
std::string transport_text(httplib::Error error);
/// Why an answer with a header line over cpp-httplib's limit was dropped, naming the line's size.
std::string header_line_text(const answer_budget& budget);
/// Why a connect failed (Connection or ConnectionTimeout), without "could not connect".
std::string connect_failure_reason(httplib::Error error);

/// A client for `scheme` ("http" or "https") at host:port whose connects, TLS handshakes, reads and
/// writes spend `budget`. Configure it (time-outs, certificates) as any httplib::ClientImpl; the
/// connection time-out bounds each connect attempt and each handshake wait, the deadline all.
std::unique_ptr<httplib::ClientImpl> make_budgeted_client(const std::string& scheme,
                                                          const std::string& host, int port,
                                                          answer_budget& budget);

}  // namespace zbatch::client
