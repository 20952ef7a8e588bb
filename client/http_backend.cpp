#include "client/http_backend.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <vector>

#include <httplib.h>

#include "client/answer_budget.hpp"
#include "client/codec.hpp"
#include "protocol/wire.hpp"

namespace zbatch::client {
namespace {

using steady = std::chrono::steady_clock;

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

/// The key must never surface in anything a caller could print.
protocol::api_error redacted(protocol::api_error error, const std::string& key) {
  error.message = protocol::redact(std::move(error.message), key);
  error.request_id = protocol::redact(std::move(error.request_id), key);
  return error;
}

/// scheme://host:port as httplib parses it (IPv6 hosts in brackets).
std::string client_origin(const protocol::parsed_url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return url.scheme + "://" + (v6 ? "[" + url.host + "]" : url.host) + ":" +
         std::to_string(url.port);
}

}  // namespace

status check_options(const http_options& options) {
  std::string why;
  auto url = protocol::parse_url(options.base_url, &why);
  if (!url) {
    return invalid_argument_error("base URL \"" + options.base_url + "\" is not usable: " + why);
  }
  const bool loopback = protocol::is_loopback_host(url->host);
  if (!loopback && url->scheme != "https") {
    return invalid_argument_error(
        "base URL \"" + options.base_url +
        "\": plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use "
        "https:// so the API key is encrypted");
  }
  if (!loopback && options.api_key.empty()) {
    return invalid_argument_error(
        "no API key for " + url->host +
        ": set MODELSCOPE_API_KEY (or pass --api-key-file); only loopback hosts may be used "
        "without a key");
  }
  if (!api_key_is_one_token(options.api_key)) {
    return invalid_argument_error("the API key contains whitespace or control characters");
  }
  if (options.connect_timeout.count() <= 0 || options.read_timeout.count() <= 0 ||
      options.answer_deadline.count() <= 0 || options.download_deadline.count() <= 0) {
    return invalid_argument_error(
        "connect and read time-outs and request deadlines must be positive");
  }
  if (options.max_answer_bytes == 0 || options.max_image_bytes == 0) {
    return invalid_argument_error("answer and image size caps must be positive");
  }
  if (url->scheme == "https" && !std::ifstream(options.ca_bundle).good()) {
    return invalid_argument_error(
        "CA bundle " + options.ca_bundle +
        " is not readable (install the ca-certificates package); certificates are always "
        "verified");
  }
  return ok_status();
}

bool api_key_is_one_token(std::string_view key) {
  return std::none_of(key.begin(), key.end(),
                      [](unsigned char c) { return c < 0x21 || c == 0x7f; });
}

std::string api_key_from_environment() {
  const char* value = std::getenv("MODELSCOPE_API_KEY");
  return value == nullptr ? std::string{} : trim(value);
}

zbatch::result<std::string> read_api_key_file(const std::string& path) {
  // A directory opens as a stream that reads nothing, which read as "is empty" (a new user's
  // check). Only directories: a pipe such as <(pass show key) is a fine key file.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument_error("API key file " + path +
                                  " is a directory, not a regular file (give the file that holds "
                                  "the key on its first line)");
  }
  std::ifstream in(path);
  if (!in) {
    return not_found_error("cannot read API key file " + path);
  }
  std::string line;
  std::getline(in, line);
  line = trim(line);
  if (line.empty()) {
    return invalid_argument_error("API key file " + path +
                                  " is empty (expected the key on its first line)");
  }
  if (!api_key_is_one_token(line)) {
    // A new user's check: this was blamed on --base-url.
    return invalid_argument_error("API key file " + path +
                                  ": the key on its first line contains whitespace or control "
                                  "characters (a key is one token)");
  }
  return line;
}

struct http_backend::impl {
  http_options options;
  protocol::parsed_url api;
  std::string prefix;        // path of the base URL, without a trailing slash
  std::mutex clients_mutex;  ///< Guards `clients` and `aborted` against abort() from elsewhere.
  std::map<std::string, std::unique_ptr<httplib::ClientImpl>> clients;
  bool aborted = false;
  /// The request in progress's deadline and header limits; every client reads through it (one
  /// request at a time per backend).
  answer_budget budget;

  /// The origin's client, or nullptr once aborted.
  httplib::ClientImpl* client_for(const protocol::parsed_url& url) {
    const auto origin = client_origin(url);
    std::lock_guard<std::mutex> lock(clients_mutex);
    if (aborted) {
      return nullptr;
    }
    auto& slot = clients[origin];
    if (!slot) {
      slot = make_budgeted_client(url.scheme, url.host, url.port, budget);
      const auto connect_us =
          std::chrono::duration_cast<std::chrono::microseconds>(options.connect_timeout).count();
      const auto read_us =
          std::chrono::duration_cast<std::chrono::microseconds>(options.read_timeout).count();
      slot->set_keep_alive(true);
      slot->set_tcp_nodelay(true);
      slot->set_follow_location(false);
      slot->set_connection_timeout(connect_us / 1'000'000, connect_us % 1'000'000);
      slot->set_read_timeout(read_us / 1'000'000, read_us % 1'000'000);
      slot->set_write_timeout(read_us / 1'000'000, read_us % 1'000'000);
      if (url.scheme == "https") {
        slot->set_ca_cert_path(options.ca_bundle);
        slot->enable_server_certificate_verification(true);
      }
    }
    return slot.get();
  }

  void abort() {
    std::lock_guard<std::mutex> lock(clients_mutex);
    aborted = true;
    // First: cpp-httplib's stop() would wait for a connect or handshake in progress.
    budget.cancel_connects();
    for (auto& [origin, client] : clients) {
      client->stop();  // cpp-httplib: shuts the socket of a request in progress down
    }
  }

  /// What one answer may cost: its size cap and its total deadline.
  struct answer_limits {
    std::size_t max_bytes;
    std::chrono::milliseconds deadline;
  };
  answer_limits api_limits() const { return {options.max_answer_bytes, options.answer_deadline}; }
  answer_limits download_limits() const {
    return {options.max_image_bytes, options.download_deadline};
  }

  /// Sends one request; an api_error for anything below HTTP. `submit` marks a lost answer as
  /// ambiguous (the task may exist). An answer over `limits.max_bytes` is malformed; one not
  /// complete within `limits.deadline` (status line and headers included) is a time-out; headers
  /// over the budget's header limits end the read as a closed connection (answer_budget.hpp).
  result<protocol::wire_response> send(const protocol::parsed_url& url,
                                       const protocol::wire_request& request, bool submit,
                                       answer_limits limits) {
    auto* client = client_for(url);
    if (client == nullptr) {
      protocol::api_error error;
      error.kind = protocol::error_class::cancelled;
      error.message = "the batch is over: request not sent";
      return error;
    }
    httplib::Request req;
    req.method = request.method;
    req.path = request.target;
    for (const auto& [name, value] : request.headers.fields()) {
      req.headers.emplace(name, value);
    }
    req.body = request.body;

    protocol::wire_response out;
    bool got_headers = false;
    bool too_large = false;
    const auto started = steady::now();
    auto last_progress = started;
    budget.start(started, limits.deadline);
    budget.idle = options.read_timeout;
    req.response_handler = [&](const httplib::Response& response) {
      got_headers = true;
      budget.headers_done = true;
      last_progress = steady::now();
      out.status = response.status;
      for (const auto& [name, value] : response.headers) {
        out.headers.add(name, value);
      }
      return true;
    };
    req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
      last_progress = steady::now();
      if (out.body.size() + size > limits.max_bytes) {
        too_large = true;
        return false;
      }
      out.body.append(data, size);
      return true;
    };

    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    if (client->send(req, response, error) && error == httplib::Error::Success) {
      if (!got_headers) {  // no body-bearing path: take what httplib kept
        out.status = response.status;
        for (const auto& [name, value] : response.headers) {
          out.headers.add(name, value);
        }
      }
      return out;
    }
    // A failed connection is not reused: the next request starts a fresh one. Under the lock,
    // as abort() may be walking the map from another thread.
    {
      std::lock_guard<std::mutex> lock(clients_mutex);
      clients.erase(client_origin(url));
    }
    const bool connect =
        error == httplib::Error::Connection || error == httplib::Error::ConnectionTimeout;
    const std::string detail = connect ? connect_failure_reason(error) : httplib::to_string(error);
    if (error != httplib::Error::Write && budget.headers_too_large) {
      return transport_error(
          transport_failure::reset, submit,
          "answer headers longer than " + std::to_string(budget.max_header_bytes) + " bytes or " +
              std::to_string(budget.max_header_lines) + " lines: connection closed");
    }
    if (error == httplib::Error::Read && !got_headers && budget.header_line_refused()) {
      // Not a reset: the library read the line whole and refused it (a new user's server).
      auto refused = transport_error(transport_failure::reset, submit);
      refused.message = header_line_text(budget);
      return refused;
    }
    if (budget.connect_cancelled) {
      return transport_error(transport_failure::connect, false,
                             "stopped before the connection was made; nothing was sent");
    }
    if (budget.too_late_to_connect) {
      return transport_error(transport_failure::timeout, false,
                             "no connection within " + deadline_text(limits.deadline) +
                                 ": the connect" +
                                 (url.scheme == "https" ? " or TLS handshake" : "") +
                                 " ran out the request's deadline; nothing was sent");
    }
    if (error != httplib::Error::Write && budget.too_late) {
      return transport_error(transport_failure::timeout, submit,
                             "no complete answer within " + deadline_text(limits.deadline) +
                                 " (the server kept sending slowly)");
    }
    switch (error) {
      case httplib::Error::Connection:
      case httplib::Error::ConnectionTimeout:
      case httplib::Error::BindIPAddress:
        return transport_error(transport_failure::connect, false, detail);
      case httplib::Error::SSLConnection:
      case httplib::Error::SSLLoadingCerts:
      case httplib::Error::SSLServerVerification:
        return transport_error(transport_failure::tls, false, detail);
      case httplib::Error::Write:
        // The request did not get out whole, so the service cannot have acted on it.
        return transport_error(transport_failure::reset, false, detail);
      case httplib::Error::Canceled:
        if (too_large) {
          protocol::api_error e;
          e.kind = protocol::error_class::malformed;
          e.http_status = out.status;
          e.message = "answer larger than " + std::to_string(limits.max_bytes) + " bytes";
          e.ambiguous = submit;  // the service may have created the task before the answer
          return e;
        }
        break;
      default:
        break;
    }
    if (got_headers) {
      if (auto length = out.headers.get("Content-Length")) {
        try {
          if (out.body.size() < std::stoull(*length)) {
            // Distinguish a stalled sender from one that closed early.
            if (steady::now() - last_progress < options.read_timeout * 9 / 10) {
              return transport_error(transport_failure::truncated, submit, detail);
            }
          }
        } catch (...) {
          // An unparseable Content-Length falls through to the generic reading below.
        }
      }
    }
    const bool stalled = steady::now() - last_progress >= options.read_timeout * 9 / 10;
    return transport_error(stalled ? transport_failure::timeout : transport_failure::reset, submit,
                           detail);
  }

  /// One API request: the base URL's path prefixed, sent, its answer read by `read`. A failure
  /// below HTTP names the method and URL, so "connection refused" says where.
  template <class Read>
  auto call(protocol::wire_request wire, bool submit, Read read)
      -> decltype(read(protocol::wire_response{})) {
    wire.target = prefix + wire.target;
    auto answer = send(api, wire, submit, api_limits());
    if (!answer) {
      auto error = answer.error();
      error.message = wire.method + " " + client_origin(api) + wire.target + ": " + error.message;
      return redacted(std::move(error), options.api_key);
    }
    auto out = read(answer.value());
    if (!out) {
      return redacted(out.error(), options.api_key);
    }
    return out;
  }
};

zbatch::result<std::unique_ptr<http_backend>> http_backend::create(http_options options) {
  if (const auto checked = check_options(options); !checked.ok()) {
    return invalid_argument_error(protocol::redact(checked.message(), options.api_key));
  }
  return std::unique_ptr<http_backend>(new http_backend(std::move(options)));
}

http_backend::http_backend(http_options options)
    : options_(std::move(options)), impl_(std::make_unique<impl>()) {
  impl_->options = options_;
  impl_->api = *protocol::parse_url(options_.base_url);
  impl_->prefix = impl_->api.target;
  while (!impl_->prefix.empty() && impl_->prefix.back() == '/') {
    impl_->prefix.pop_back();
  }
}

http_backend::~http_backend() = default;

void http_backend::abort() { impl_->abort(); }

result<protocol::submit_accepted> http_backend::submit(const protocol::submit_request& request) {
  return impl_->call(make_submit(request, options_.api_key), /*submit=*/true,
                     [](const protocol::wire_response& answer) { return read_submit(answer); });
}

result<protocol::task_state> http_backend::poll(const std::string& task_id) {
  return impl_->call(
      make_poll(task_id, options_.api_key), /*submit=*/false,
      [&task_id](const protocol::wire_response& answer) { return read_poll(answer, task_id); });
}

result<downloaded_image> http_backend::download(const std::string& url) {
  // Object storage may answer with a redirect to the file; follow it, up to a bound, naming both
  // ends in every failure. No Authorization header on any hop: the key stays with the API host.
  std::string current = url;
  std::vector<std::string> visited{url};
  auto failed = [&](protocol::api_error error) {
    error.message = "downloading " + current +
                    (current == url ? std::string{} : " (redirected from " + url + ")") + ": " +
                    error.message;
    error.ambiguous = false;  // a GET creates nothing
    return redacted(std::move(error), options_.api_key);
  };
  for (int hop = 0;; ++hop) {
    std::string why;
    auto parsed = protocol::parse_url(current, &why);
    if (!parsed) {
      protocol::api_error error;
      error.kind = protocol::error_class::malformed;
      error.message = "image URL is not usable: " + why;
      return failed(std::move(error));
    }
    auto answer = impl_->send(*parsed, make_download(parsed->target), /*submit=*/false,
                              impl_->download_limits());
    if (!answer) {
      return failed(answer.error());
    }
    auto next = redirect_target(answer.value(), current);
    if (!next) {
      auto image = read_download(answer.value());
      return image ? std::move(image) : result<downloaded_image>(failed(image.error()));
    }
    protocol::api_error error;
    error.kind = protocol::error_class::malformed;
    error.http_status = answer.value().status;
    if (std::find(visited.begin(), visited.end(), *next) != visited.end()) {
      error.message = "redirect loop back to " + *next;
      return failed(std::move(error));
    }
    if (hop == max_download_redirects) {
      error.message = "more than " + std::to_string(max_download_redirects) + " redirects";
      return failed(std::move(error));
    }
    visited.push_back(*next);
    current = std::move(*next);
  }
}

}  // namespace zbatch::client
