// The model's hot-path bodies are appended by hand (no JSON DOM): they must stay byte-identical
// to what the protocol library's DOM functions dump, for plain and for awkward strings.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mock_api/model.hpp"
#include "protocol/messages.hpp"

namespace zbatch::mock {
namespace {

using protocol::task_state;
using protocol::task_status;

const std::vector<std::string> awkward = {
    "",
    "plain text",
    "quote \" and backslash \\ and slash /",
    "newline\n tab\t cr\r bell\x07 nul-free control \x01\x1f",
    "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x96\xbc",  // UTF-8: é, ✓, 🖼
    "Task failed: internal error during generation",
};

task_state state_of(task_status status, const std::string& text) {
  task_state state;
  state.task_id = "3f2a9c1e-0000-4000-8000-00000000abcd";
  state.request_id = text.empty() ? "r-1" : text;
  state.status = status;
  return state;
}

TEST(wire_body, task_states_match_the_dom) {
  for (const auto& text : awkward) {
    SCOPED_TRACE(text);
    for (auto status : {task_status::pending, task_status::running, task_status::processing,
                        task_status::succeed, task_status::failed}) {
      auto state = state_of(status, text);
      if (status == task_status::succeed) {
        state.output_images = {"http://127.0.0.1:1/images/a.png", text};
      }
      if (status == task_status::failed) {
        state.error_code = 422;
        state.error_message = text;
      }
      EXPECT_EQ(wire_body::task_state(state), protocol::to_json(state).dump());
      state.raw_status = "PROCESSING";
      EXPECT_EQ(wire_body::task_state(state), protocol::to_json(state).dump());
    }
  }
  auto no_images = state_of(task_status::succeed, "r");
  EXPECT_EQ(wire_body::task_state(no_images), protocol::to_json(no_images).dump());
}

TEST(wire_body, accepted_and_error_bodies_match_the_dom) {
  for (const auto& text : awkward) {
    SCOPED_TRACE(text);
    const nlohmann::json accepted{
        {"task_id", "t-1"}, {"request_id", text}, {"task_status", "SUCCEED"}};
    EXPECT_EQ(wire_body::accepted("t-1", text), accepted.dump());
    for (int code : {400, 401, 404, 429, 500, 503}) {
      EXPECT_EQ(wire_body::error(code, text, "req-7"), protocol::error_body(code, text, "req-7"));
      EXPECT_EQ(wire_body::error(code, "m", text), protocol::error_body(code, "m", text));
    }
  }
}

}  // namespace
}  // namespace zbatch::mock
