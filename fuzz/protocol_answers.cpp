// protocol/: the readers of the service's answer bodies and of the mock's submit bodies. Input:
// one body. json_scan's document must read exactly what nlohmann reads whenever it handles a
// text, and every reader with a fast path (error texts, the 429/5xx/4xx classifier, errors inside
// a 2xx, the submit body) must agree with its DOM twin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/describe.hpp"
#include "fuzz/wire_text.hpp"
#include "protocol/errors_detail.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/messages_detail.hpp"

namespace {

using zbatch::fuzz::describe;
using zbatch::fuzz::expect_same;
namespace json_scan = zbatch::protocol::json_scan;

/// Whether the fast document's `n` is the DOM's `value` (same type, value, members, order).
bool same(const json_scan::document& doc, const json_scan::node& n, const nlohmann::json& value) {
  switch (n.type) {
    case json_scan::kind::null:
      return value.is_null();
    case json_scan::kind::boolean:
      return value.is_boolean() && value.get<bool>() == (n.number != 0);
    case json_scan::kind::integer:
      return value.is_number_integer() && value.get<std::int64_t>() == n.number;
    case json_scan::kind::real:
      return value.is_number_float();
    case json_scan::kind::string:
      return value.is_string() && value.get_ref<const std::string&>() == n.text();
    case json_scan::kind::object: {
      if (!value.is_object() || value.size() != n.size) {
        return false;
      }
      for (const auto& child : doc.children(n)) {
        const auto it = value.find(std::string(child.key()));
        if (it == value.end() || !same(doc, child, *it)) {
          return false;
        }
      }
      return true;
    }
    case json_scan::kind::array: {
      if (!value.is_array() || value.size() != n.size) {
        return false;
      }
      std::size_t i = 0;
      for (const auto& child : doc.children(n)) {
        if (!same(doc, child, value[i++])) {
          return false;
        }
      }
      return true;
    }
  }
  return false;
}

void check_scan(std::string_view body) {
  json_scan::document doc;
  if (!doc.parse(body)) {
    return;  // "not handled": the callers fall back to nlohmann, nothing to compare
  }
  const auto dom = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (dom.is_discarded() || !same(doc, doc.root(), dom)) {
    expect_same("json_scan::document::parse", "handled", "not the same document", body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace protocol = zbatch::protocol;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check_scan(body);
  expect_same("extract_error_text", describe(protocol::extract_error_text(body)),
              describe(protocol::detail::extract_error_text_dom(body)), body);
  for (int status : {400, 404, 429, 500, 502, 503}) {
    expect_same("classify_http_error", describe(protocol::classify_http_error(status, body)),
                describe(protocol::detail::classify_http_error_dom(status, body)), body);
  }
  expect_same("classify_error_in_success", describe(protocol::classify_error_in_success(200, body)),
              describe(protocol::detail::classify_error_in_success_dom(200, body)), body);
  // The mock's reader of submit bodies: the same index (request or field error) and fields.
  const auto fast = protocol::parse_submit_body(body);
  const auto dom = protocol::detail::parse_submit_body_dom(body);
  const auto text = [](const auto& parsed) {
    if (const auto* error = std::get_if<protocol::field_error>(&parsed)) {
      return "error " + error->field + ": " + error->message;
    }
    return "request " + protocol::to_json(std::get<protocol::submit_request>(parsed))
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  expect_same("parse_submit_body", text(fast), text(dom), body);
  // Retry-After values: never negative, never beyond the documented clamp.
  const auto after = protocol::parse_retry_after(body, 1'700'000'000);
  if (after && (*after < 0 || *after > protocol::max_retry_after_ms)) {
    expect_same("parse_retry_after", std::to_string(*after), "0..max_retry_after_ms", body);
  }
  return 0;
}
