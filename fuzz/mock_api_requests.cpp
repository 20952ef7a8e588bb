// mock_api/: the model's handling of requests (routes, headers, fault headers, admin, bodies),
// without sockets. Input: up to 8 requests as fuzz/wire_text.hpp spells them, separated by a
// line "--next--" (so a submit can be followed by polls and downloads of its task); the virtual
// clock moves 20 s between requests. Every JSON answer must be valid JSON, except the faults
// that exist to send broken bodies.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/wire_text.hpp"
#include "mock_api/clock.hpp"
#include "mock_api/config.hpp"
#include "mock_api/fault.hpp"
#include "mock_api/model.hpp"

namespace {

using namespace std::chrono_literals;
namespace mock = zbatch::mock;

/// The "ideal" profile with reproducible task ids, read once.
const mock::mock_config& base_config() {
  static const mock::mock_config config = [] {
    auto loaded = mock::load_config("ideal", std::nullopt);
    if (!loaded.ok()) {
      std::abort();
    }
    auto out = std::move(loaded).value();
    out.ids.reproducible = true;  // the same input gives the same answers
    return out;
  }();
  return config;
}

/// Whether the model may send a broken body on purpose: a fault header asked for one, or a
/// config set through PUT /admin/config gives broken bodies a probability.
bool broken_on_purpose(mock::model& m, const zbatch::protocol::wire_request& request) {
  const auto faults = m.config().faults;
  return request.headers.has(mock::fault_headers::transport) ||
         request.headers.has(mock::fault_headers::abort) || faults.submit.malformed > 0 ||
         faults.poll.malformed > 0 || faults.download.malformed > 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto clock = std::make_shared<mock::manual_clock>();
  mock::model m(base_config(), clock, 7);
  m.set_public_base_url("http://127.0.0.1:8080");
  m.set_placeholder_images(true);  // rendering megapixel PNGs would be all the fuzzer does
  constexpr std::string_view separator = "\n--next--\n";
  for (int i = 0; i < 8 && !input.empty(); ++i) {
    const auto end = input.find(separator);
    const auto text = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + separator.size());
    const auto request = zbatch::fuzz::request_from(text);
    const auto reply = m.handle(request);
    const auto& response = reply.response;
    if (response.status < 100 || response.status > 599) {
      zbatch::fuzz::expect_same("model::handle status", std::to_string(response.status), "100..599",
                                text);
    }
    const auto type = response.headers.get("Content-Type").value_or("");
    if (reply.fault == mock::transport_fault::none && !response.body.empty() &&
        type.rfind("application/json", 0) == 0 && !broken_on_purpose(m, request) &&
        !nlohmann::json::accept(response.body)) {
      zbatch::fuzz::expect_same("model::handle body", response.body, "valid JSON", text);
    }
    clock->advance(20s);
  }
  return 0;
}
