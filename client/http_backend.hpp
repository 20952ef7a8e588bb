#pragma once
/// The backend that speaks HTTP(S): the real ModelScope service or `zbatch mock` over sockets.
///
/// One `httplib::Client` per origin (the image URL may live on another host than the API), kept
/// alive between requests, TCP_NODELAY on, connect/read time-outs from `http_options`. HTTPS
/// always verifies the server certificate against `ca_bundle`; plain HTTP is accepted only for
/// loopback API hosts, so the key never travels in clear text. The API key goes only into the
/// Authorization header and is redacted from every error text. Blocking; one thread at a time
/// per instance (hold one backend per worker for concurrency).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "client/backend.hpp"

namespace zbatch::client {

/// Redirects a download follows (301/302/303/307/308) before it fails as `malformed`.
inline constexpr int max_download_redirects = 5;

struct http_options {
  std::string base_url{protocol::default_base_url};  ///< scheme://host[:port] of the API.
  std::string api_key;                               ///< Never printed, logged or written.
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds read_timeout{60'000};
  std::size_t max_image_bytes = 64u << 20;  ///< A larger download is cut off as malformed.
  /// A larger submit or poll answer is cut off as malformed. The protocol's answers are well
  /// under 1 KiB (protocol doc); the cap keeps an endless or huge answer from growing memory.
  std::size_t max_answer_bytes = 1u << 20;
  /// Total time one request may take, sending to last byte: `read_timeout` bounds only the gap
  /// between bytes, so a server trickling a byte every few seconds would hold an attempt forever.
  std::chrono::milliseconds answer_deadline{120'000};    ///< Submit and poll.
  std::chrono::milliseconds download_deadline{300'000};  ///< One download hop.
  std::string ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
};

/// Checks the options before any request is sent: the base URL parses, a non-loopback host
/// uses HTTPS and has an API key, the time-outs are positive. Fails (invalid_argument) with a
/// sentence naming what is wrong (never containing the key).
status check_options(const http_options& options);

/// The key from the MODELSCOPE_API_KEY environment variable (empty when unset).
std::string api_key_from_environment();

/// Whether `key` is one token: no whitespace or control character (a Bearer token cannot hold
/// them; check_options refuses such a key).
bool api_key_is_one_token(std::string_view key);

/// Reads a key from a file (first line, surrounding whitespace trimmed). Fails (not_found,
/// invalid_argument when a directory, empty or not one token) with a sentence naming the file
/// (never its contents).
zbatch::result<std::string> read_api_key_file(const std::string& path);

class http_backend final : public backend {
 public:
  /// Builds a backend after `check_options`, failing as it does (the key redacted).
  static zbatch::result<std::unique_ptr<http_backend>> create(http_options options);
  ~http_backend() override;
  http_backend(const http_backend&) = delete;
  http_backend& operator=(const http_backend&) = delete;

  result<protocol::submit_accepted> submit(const protocol::submit_request& request) override;
  result<protocol::task_state> poll(const std::string& task_id) override;
  /// Follows up to `max_download_redirects` redirects (absolute or relative Location), never
  /// sending the Authorization header. Every failure names the URL (and the first URL when
  /// redirected) and its cause: transport failures and 5xx are server_transport, 4xx
  /// request_error, a redirect loop, too many hops or bytes that are not an image malformed.
  /// Never ambiguous (a GET creates nothing).
  result<downloaded_image> download(const std::string& url) override;
  /// Thread-safe: shuts the sockets of requests in progress down and fails every later call
  /// (class cancelled) without sending it.
  void abort() override;

  const http_options& options() const { return options_; }

 private:
  explicit http_backend(http_options options);
  struct impl;
  http_options options_;
  std::unique_ptr<impl> impl_;
};

}  // namespace zbatch::client
