// Reading the hot API answers: client::read_poll on the three poll shapes (running, done,
// failed), client::read_submit on an accepted submit and protocol::classify_http_error on a 429
// envelope (plus writing and reading a submit body: make_submit, parse_submit_body), each with the
// json_scan fast path (`/fast`) and with the forced nlohmann DOM path it falls back to (`/dom`), in
// the same run. The bodies are the mock's own (mock::wire_body), so they are byte for byte what a
// simulation reads. items_per_second is answers read per second; the fast/dom ratio of a pair is
// the speed-up.
#include <string>

#include <benchmark/benchmark.h>

#include "client/codec.hpp"
#include "mock_api/model.hpp"
#include "protocol/errors_detail.hpp"
#include "protocol/messages.hpp"
#include "protocol/messages_detail.hpp"

namespace {

using zbatch::protocol::task_status;

constexpr const char* task_id = "5b0a6c2e-9d3f-4e51-8a7b-1c2d3e4f5a6b";
constexpr const char* request_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

zbatch::protocol::wire_response ok(std::string body) {
  zbatch::protocol::wire_response response;
  response.status = 200;
  response.headers.set("Content-Type", "application/json");
  response.body = std::move(body);
  return response;
}

zbatch::protocol::wire_response poll_answer(task_status status) {
  zbatch::protocol::task_state state;
  state.task_id = task_id;
  state.request_id = request_id;
  state.status = status;
  if (status == task_status::succeed) {
    state.output_images = {std::string("http://127.0.0.1:8080/images/") + task_id + ".png"};
  }
  if (status == task_status::failed) {
    state.error_code = 422;
    state.error_message = std::string(zbatch::protocol::texts::moderation);
  }
  return ok(zbatch::mock::wire_body::task_state(state));
}

void BM_read_poll(benchmark::State& state, task_status status, bool fast) {
  const auto response = poll_answer(status);
  for (auto _ : state) {
    auto result = fast ? zbatch::client::read_poll(response, task_id)
                       : zbatch::client::detail::read_poll_dom(response, task_id);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(response.body.size()) + " B");
}

void BM_read_submit(benchmark::State& state, bool fast) {
  const auto response = ok(zbatch::mock::wire_body::accepted(task_id, request_id));
  for (auto _ : state) {
    auto result = fast ? zbatch::client::read_submit(response)
                       : zbatch::client::detail::read_submit_dom(response);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_classify_429(benchmark::State& state, bool fast) {
  const auto body = zbatch::mock::wire_body::error(
      429, zbatch::protocol::texts::dynamic_rate_limit(zbatch::protocol::default_model),
      request_id);
  for (auto _ : state) {
    auto error = fast ? zbatch::protocol::classify_http_error(429, body)
                      : zbatch::protocol::detail::classify_http_error_dom(429, body);
    benchmark::DoNotOptimize(error);
  }
  state.SetItemsProcessed(state.iterations());
}

zbatch::protocol::submit_request sim_request() {
  zbatch::protocol::submit_request request;  // what the simulator's jobs submit
  request.prompt = "A seamless geometric pattern, two colors";
  request.seed = 1042;
  request.size = zbatch::protocol::image_size{1024, 1024};
  return request;
}

void BM_make_submit(benchmark::State& state, bool fast) {
  const auto request = sim_request();
  for (auto _ : state) {
    if (fast) {
      auto wire = zbatch::client::make_submit(request, "ms-key");
      benchmark::DoNotOptimize(wire);
    } else {
      auto body = zbatch::protocol::to_json(request).dump();  // what make_submit did before
      benchmark::DoNotOptimize(body);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_parse_submit_body(benchmark::State& state, bool fast) {
  const auto body = zbatch::protocol::to_json(sim_request()).dump();
  for (auto _ : state) {
    auto parsed = fast ? zbatch::protocol::parse_submit_body(body)
                       : zbatch::protocol::detail::parse_submit_body_dom(body);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_read_poll, running_fast, task_status::running, true);
BENCHMARK_CAPTURE(BM_read_poll, running_dom, task_status::running, false);
BENCHMARK_CAPTURE(BM_read_poll, succeed_fast, task_status::succeed, true);
BENCHMARK_CAPTURE(BM_read_poll, succeed_dom, task_status::succeed, false);
BENCHMARK_CAPTURE(BM_read_poll, failed_fast, task_status::failed, true);
BENCHMARK_CAPTURE(BM_read_poll, failed_dom, task_status::failed, false);
BENCHMARK_CAPTURE(BM_read_submit, fast, true);
BENCHMARK_CAPTURE(BM_read_submit, dom, false);
BENCHMARK_CAPTURE(BM_classify_429, fast, true);
BENCHMARK_CAPTURE(BM_classify_429, dom, false);
// make_submit/dom is only the DOM dump, so the fast figure (the whole wire request, headers
// included) is the conservative side of that ratio.
BENCHMARK_CAPTURE(BM_make_submit, fast, true);
BENCHMARK_CAPTURE(BM_make_submit, dom, false);
BENCHMARK_CAPTURE(BM_parse_submit_body, fast, true);
BENCHMARK_CAPTURE(BM_parse_submit_body, dom, false);

}  // namespace

BENCHMARK_MAIN();
