#pragma once
/// Turns a fuzzer's bytes into the transport-neutral messages of protocol/wire.hpp, so the seed
/// corpora stay readable HTTP-like text: a first line (`STATUS` for an answer, `METHOD TARGET`
/// for a request), `Name: value` header lines, an empty line, then the body (the rest of the
/// input, byte for byte). A line without a colon is skipped, a missing empty line means no body.
/// Also `expect_same`, how every target reports a broken invariant. Pure functions, used by one
/// fuzz target's thread.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/wire.hpp"

namespace zbatch::fuzz {

/// The next line of `text` (without its "\n" or "\r\n"); `text` moves past it.
inline std::string_view next_line(std::string_view& text) {
  const auto end = text.find('\n');
  auto line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

/// Reads header lines up to the empty line; `text` is left at the body.
inline void read_headers(std::string_view& text, protocol::header_list& headers) {
  while (!text.empty()) {
    const auto line = next_line(text);
    if (line.empty()) {
      return;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    auto value = line.substr(colon + 1);
    value.remove_prefix(std::min(value.find_first_not_of(' '), value.size()));
    headers.add(std::string(line.substr(0, colon)), std::string(value));
  }
}

/// An answer: "429\nRetry-After: 3\n\n{...}". A first line that is not a number gives status 0.
inline protocol::wire_response response_from(std::string_view text) {
  protocol::wire_response out;
  const auto first = next_line(text);
  std::from_chars(first.data(), first.data() + first.size(), out.status);
  read_headers(text, out.headers);
  out.body = std::string(text);
  return out;
}

/// A request: "POST /v1/images/generations\nAuthorization: Bearer k\n\n{...}".
inline protocol::wire_request request_from(std::string_view text) {
  protocol::wire_request out;
  const auto first = next_line(text);
  const auto space = first.find(' ');
  out.method = std::string(first.substr(0, space));
  out.target =
      space == std::string_view::npos ? std::string() : std::string(first.substr(space + 1));
  read_headers(text, out.headers);
  out.body = std::string(text);
  return out;
}

/// Aborts with both descriptions when two readers of the same input disagree (libFuzzer then
/// saves the input as a crash).
void expect_same(std::string_view what, const std::string& fast, const std::string& dom,
                 std::string_view input);

}  // namespace zbatch::fuzz
