#pragma once
/// Transport-neutral HTTP messages.
///
/// The client codec builds `wire_request`s and reads `wire_response`s; the mock's model takes the
/// former and produces the latter. The HTTP backend and the HTTP mock shell only translate these to
/// and from sockets, and the virtual-time backend passes them straight to the model, so every path
/// through zbatch makes the same bytes and the same decisions. Plain values, no threading concerns.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zbatch::protocol {

/// Header fields in order of appearance; names compare case-insensitively.
class header_list {
 public:
  void set(std::string name, std::string value);  ///< Replaces every field of that name.
  void add(std::string name, std::string value);  ///< Appends, keeping any earlier field.
  std::optional<std::string> get(std::string_view name) const;  ///< First field of that name.
  /// The first field of that name without a copy; null when absent. Valid until a change.
  const std::string* find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

bool iequals(std::string_view a, std::string_view b);

struct wire_request {
  std::string method;  ///< "GET", "POST"
  std::string target;  ///< Path and query, e.g. "/v1/tasks/abc"; never a full URL.
  header_list headers;
  std::string body;
};

struct wire_response {
  int status = 0;
  header_list headers;
  std::string body;
};

/// A URL split into what a connection needs: scheme://host[:port] and the target.
struct parsed_url {
  std::string scheme;  ///< "http" or "https"
  std::string host;
  int port = 0;
  std::string target;          ///< Path and query, "/" when empty.
  std::string origin() const;  ///< scheme://host[:port] with the port only when not default.
};

/// Parses an absolute http(s) URL; nullopt (and a reason in `error`) when it is not one.
std::optional<parsed_url> parse_url(std::string_view url, std::string* error = nullptr);

/// `text` as one URL path segment: every byte but RFC 3986's unreserved characters
/// (A-Z a-z 0-9 - . _ ~) percent-encoded, so an opaque id ("id?0", "a/b", "50%") cannot end the
/// path, start a query or fragment, or add segments.
std::string encode_path_segment(std::string_view text);
/// Undoes percent-encoding: each "%XX" (hex digits, either case) becomes its byte; a '%' not
/// followed by two hex digits stays as it is, and '+' is not a space (a path, not a form).
std::string decode_percent(std::string_view text);

/// True for 127.0.0.0/8, ::1 and "localhost": addresses where a missing API key is acceptable.
bool is_loopback_host(std::string_view host);

/// Replaces a bearer token in any text that might be shown (logs, errors, reports).
std::string redact(std::string text, std::string_view secret);

}  // namespace zbatch::protocol
