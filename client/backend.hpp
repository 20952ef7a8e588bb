#pragma once
/// The one interface under everything that generates images: submit, poll, download.
///
/// Implementations: `http_backend` (real API or `zbatch mock` over sockets, blocking) and, in
/// sim/, a virtual-time backend around the mock's model. Every failure comes back as a
/// `protocol::api_error` already classified, never as an exception. One instance is used by one
/// thread at a time (callers that need concurrency hold one backend per worker).

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "client/image_probe.hpp"
#include "protocol/errors.hpp"
#include "protocol/messages.hpp"

namespace zbatch::client {

/// A value or the classified failure that prevented it.
template <class T>
class result {
 public:
  result(T value) : state_(std::move(value)) {}                    // NOLINT: implicit by design
  result(protocol::api_error error) : state_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  const protocol::api_error& error() const { return std::get<protocol::api_error>(state_); }

 private:
  std::variant<T, protocol::api_error> state_;
};

struct downloaded_image {
  std::string bytes;
  std::string content_type;
  /// Format and size read from `bytes` (client::read_download sets it; a backend that does not
  /// probe leaves nullopt).
  std::optional<image_info> info = std::nullopt;  // "= nullopt": {bytes, type} stays warning-free
};

class backend {
 public:
  virtual ~backend() = default;
  /// POST /v1/images/generations with the async header. Costs credits when it succeeds.
  virtual result<protocol::submit_accepted> submit(const protocol::submit_request& request) = 0;
  /// GET /v1/tasks/{task_id} with the task-type header.
  virtual result<protocol::task_state> poll(const std::string& task_id) = 0;
  /// GET of an output image URL (absolute), without the Authorization header. Succeeds only
  /// with the bytes of an image (see client::read_download).
  virtual result<downloaded_image> download(const std::string& url) = 0;
  /// Called from another thread once the batch is over: calls in progress should return soon
  /// and later ones fail without sending anything, so a hung request does not hold the exit for
  /// its whole time-out (issue 17 item 7). Thread-safe. The default does nothing.
  virtual void abort() {}
};

}  // namespace zbatch::client
