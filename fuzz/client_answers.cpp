// client/: the codec's readers of whole answers (status, headers, body). Input: an answer as
// fuzz/wire_text.hpp spells it ("429\nRetry-After: 3\n\n{...}"). read_submit and read_poll
// must agree with their DOM twins; read_download and redirect_target must not crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "client/codec.hpp"
#include "fuzz/describe.hpp"
#include "fuzz/wire_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace client = zbatch::client;
  using zbatch::fuzz::describe;
  using zbatch::fuzz::expect_same;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto response = zbatch::fuzz::response_from(input);
  expect_same("read_submit", describe(client::read_submit(response)),
              describe(client::detail::read_submit_dom(response)), input);
  expect_same("read_poll", describe(client::read_poll(response, "task-1")),
              describe(client::detail::read_poll_dom(response, "task-1")), input);
  const auto image = client::read_download(response);
  if (image.ok() && !image.value().info) {
    expect_same("read_download", "an image without its format", "probed image", input);
  }
  (void)client::redirect_target(response, "http://127.0.0.1:8080/images/a.png?x=1");
  return 0;
}
