#pragma once
/// Builds the protocol's requests and reads its answers, independent of any transport.
///
/// `http_backend` sends these wire messages over sockets; the virtual-time backend hands them to
/// the mock's model directly. Keeping this in one place means both backends classify the same
/// answer the same way. Pure functions; the API key only ever goes into the Authorization header.

#include <optional>
#include <string>
#include <string_view>

#include "client/backend.hpp"
#include "protocol/wire.hpp"

namespace zbatch::client {

protocol::wire_request make_submit(const protocol::submit_request& request,
                                   std::string_view api_key);
protocol::wire_request make_poll(std::string_view task_id, std::string_view api_key);
/// `target` is the path and query of the image URL (see protocol::parse_url).
protocol::wire_request make_download(std::string_view target);

result<protocol::submit_accepted> read_submit(const protocol::wire_response& response);
result<protocol::task_state> read_poll(const protocol::wire_response& response,
                                       std::string_view task_id);
/// A download's answer: the image when the status is 2xx and the bytes are a PNG, JPEG or WebP
/// (`probe_image`; its format and size go into `downloaded_image::info`). A non-image body (an
/// HTML page served with 200, an empty body) is `malformed`; a non-2xx answer is classified as
/// `classify_http_error` does (5xx server_transport, 4xx request_error).
result<downloaded_image> read_download(const protocol::wire_response& response);

/// Where a redirect answer (301, 302, 303, 307 or 308 with a Location) sends a GET of `from` (an
/// absolute URL): the Location resolved as a URL reference (absolute, "//host/..", "/path",
/// "?query" or a relative path; any fragment dropped; dot segments are left to the server).
/// nullopt when the answer is not such a redirect.
std::optional<std::string> redirect_target(const protocol::wire_response& response,
                                           std::string_view from);

/// How a request can fail below HTTP.
enum class transport_failure {
  connect,    ///< Could not connect: the request never left.
  reset,      ///< Connection reset or closed before a full answer.
  timeout,    ///< No (complete) answer within the read time-out.
  truncated,  ///< The body ended before its Content-Length.
  tls,        ///< Certificate or handshake failure.
};
/// A server_transport error; `request_sent` marks it ambiguous (the service may have acted).
protocol::api_error transport_error(transport_failure failure, bool request_sent,
                                    std::string detail = {});

namespace detail {
/// `read_submit` and `read_poll` without the json_scan fast path: every body goes through the
/// nlohmann DOM. For the equivalence tests and the codec benchmark only.
result<protocol::submit_accepted> read_submit_dom(const protocol::wire_response& response);
result<protocol::task_state> read_poll_dom(const protocol::wire_response& response,
                                           std::string_view task_id);
}  // namespace detail

}  // namespace zbatch::client
