// The json_scan fast path against the nlohmann DOM path it short-cuts: on the mock's real answers,
// the protocol doc's error envelopes, edge cases and thousands of seeded mutations of them,
// read_poll, read_submit, classify_http_error and extract_error_text must give identical results.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client/codec.hpp"
#include "mock_api/clock.hpp"
#include "mock_api/config.hpp"
#include "mock_api/model.hpp"
#include "protocol/errors_detail.hpp"
#include "protocol/json_scan.hpp"
#include "protocol/messages_detail.hpp"
#include "tests/client/wire_answers.hpp"
#include "tests/protocol/json_mutations.hpp"

namespace zbatch::client {
namespace {

using namespace std::chrono_literals;

using test::answer;

// ---- comparing results ------------------------------------------------------------------------

std::string describe(const protocol::api_error& e) {
  // retry_at_unix_s only by presence: each path reads the clock itself.
  return std::string(protocol::to_string(e.kind)) + "|" + std::to_string(e.http_status) + "|" +
         std::to_string(e.service_code) + "|" + e.code_name + "|" + e.message + "|" + e.request_id +
         "|" + (e.retry_after_ms ? std::to_string(*e.retry_after_ms) : "-") + "|" +
         (e.retry_at_unix_s ? "at" : "-") + "|" + (e.ambiguous ? "ambiguous" : "sure") + "|" +
         (e.unknown_429 ? "unknown" : "known") + "|" + (e.from_gateway ? "gateway" : "origin");
}

std::string describe(const std::optional<protocol::api_error>& e) {
  return e ? describe(*e) : "none";
}

std::string describe(const result<protocol::task_state>& r) {
  if (!r) {
    return "error " + describe(r.error());
  }
  const auto& s = r.value();
  std::string out = "state " + s.task_id + "|" + s.request_id + "|" +
                    std::string(protocol::to_string(s.status)) + "|" + s.raw_status + "|" +
                    std::to_string(s.error_code) + "|" + s.error_message + "|";
  for (const auto& url : s.output_images) {
    out += url + ",";
  }
  return out;
}

std::string describe(const result<protocol::submit_accepted>& r) {
  return r ? "accepted " + r.value().task_id + "|" + r.value().request_id
           : "error " + describe(r.error());
}

std::string describe(const protocol::error_text& t) {
  return t.message + "|" + t.request_id + "|" + std::to_string(t.code) + "|" + t.code_name + "|" +
         (t.envelope ? "envelope" : "bare");
}

/// Checks every reader on `body`; returns whether json_scan handled it (for coverage counts).
bool expect_same(const std::string& body) {
  for (int status : {200, 201}) {
    const auto response = answer(status, body);
    EXPECT_EQ(describe(read_poll(response, "task-arg")),
              describe(detail::read_poll_dom(response, "task-arg")))
        << "read_poll " << status << " on: " << body;
    EXPECT_EQ(describe(read_submit(response)), describe(detail::read_submit_dom(response)))
        << "read_submit " << status << " on: " << body;
    EXPECT_EQ(describe(protocol::classify_error_in_success(status, body)),
              describe(protocol::detail::classify_error_in_success_dom(status, body)))
        << "classify_error_in_success " << status << " on: " << body;
  }
  for (int status : {429, 400, 403, 503, 502, 302}) {
    auto response = answer(status, body);
    response.headers.set("Retry-After", "3");
    EXPECT_EQ(describe(read_poll(response, "t")), describe(detail::read_poll_dom(response, "t")))
        << "read_poll " << status << " on: " << body;
    EXPECT_EQ(describe(read_submit(response)), describe(detail::read_submit_dom(response)))
        << "read_submit " << status << " on: " << body;
    EXPECT_EQ(describe(protocol::classify_http_error(status, body)),
              describe(protocol::detail::classify_http_error_dom(status, body)))
        << "classify_http_error " << status << " on: " << body;
  }
  EXPECT_EQ(describe(protocol::extract_error_text(body)),
            describe(protocol::detail::extract_error_text_dom(body)))
      << "extract_error_text on: " << body;
  protocol::json_scan::document doc;
  return doc.parse(body);
}

// ---- the corpus -------------------------------------------------------------------------------

protocol::wire_request submit_request(const std::string& key, const std::string& fault_name,
                                      const std::string& fault_value, int seed, bool async = true) {
  protocol::submit_request body;
  body.prompt = "a lighthouse " + std::to_string(seed);
  body.seed = seed;
  protocol::wire_request r;
  r.method = "POST";
  r.target = std::string(protocol::submit_path);
  if (!key.empty()) {
    r.headers.set("Authorization", "Bearer " + key);
  }
  if (async) {
    r.headers.set("X-ModelScope-Async-Mode", "true");
  }
  if (!fault_name.empty()) {
    r.headers.set(fault_name, fault_value);
  }
  r.body = protocol::to_json(body).dump();
  return r;
}

protocol::wire_request poll_request(const std::string& id, bool task_type = true) {
  protocol::wire_request r;
  r.method = "GET";
  r.target = "/v1/tasks/" + id;
  r.headers.set("Authorization", "Bearer ms-key");
  if (task_type) {
    r.headers.set("X-ModelScope-Task-Type", "image_generation");
  }
  return r;
}

/// Every answer shape the mock's model produces on the submit and task endpoints.
std::vector<std::string> model_answers() {
  namespace fh = mock::fault_headers;
  auto clock = std::make_shared<mock::manual_clock>();
  mock::model m(mock::load_config("ideal", std::nullopt).value(), clock, 7);
  m.set_public_base_url("http://127.0.0.1:8080");
  std::vector<std::string> bodies;
  std::vector<std::string> ids;
  const std::vector<std::pair<std::string, std::string>> faults{
      {"", ""},
      {std::string(fh::task), "succeed"},
      {std::string(fh::task), "moderation"},
      {std::string(fh::task), "system"},
      {std::string(fh::task), "never"},
      {std::string(fh::abort), "429"},
      {std::string(fh::abort), "quota"},
      {std::string(fh::abort), "busy"},
      {std::string(fh::abort), "500"},
      {std::string(fh::abort), "502"},
      {std::string(fh::abort), "503"},
      {std::string(fh::abort), "404"},
      {std::string(fh::transport), "malformed"},
  };
  int seed = 0;
  for (const auto& [name, value] : faults) {
    const auto r = m.handle(submit_request("ms-key", name, value, ++seed));
    bodies.push_back(r.response.body);
    auto accepted = read_submit(r.response);
    if (accepted) {
      ids.push_back(accepted.value().task_id);
    }
  }
  bodies.push_back(m.handle(submit_request("", "", "", ++seed)).response.body);  // no key: 401
  bodies.push_back(m.handle(submit_request("ms-key", "", "", ++seed, false)).response.body);
  auto bad = submit_request("ms-key", "", "", ++seed);
  bad.body = R"({"model":"Tongyi-MAI/Z-Image-Turbo","prompt":"x","steps":0})";
  bodies.push_back(m.handle(bad).response.body);
  for (int round = 0; round < 4; ++round) {  // pending/running shapes, then the terminal ones
    for (const auto& id : ids) {
      bodies.push_back(m.handle(poll_request(id)).response.body);
    }
    clock->advance(20s);
  }
  bodies.push_back(m.handle(poll_request(ids.at(0), false)).response.body);
  bodies.push_back(m.handle(poll_request("no-such-task")).response.body);
  return bodies;
}

std::vector<std::string> corpus() {
  auto bodies = model_answers();
  protocol::task_state state;
  state.task_id = "t-1";
  state.request_id = "r-1";
  for (auto status : {protocol::task_status::pending, protocol::task_status::running,
                      protocol::task_status::processing, protocol::task_status::unknown}) {
    state.status = status;
    bodies.push_back(mock::wire_body::task_state(state));
  }
  state.status = protocol::task_status::succeed;
  state.output_images = {"http://127.0.0.1/images/t-1.png", "https://cdn.example/x.jpg"};
  bodies.push_back(mock::wire_body::task_state(state));
  state.output_images.clear();
  bodies.push_back(mock::wire_body::task_state(state));  // SUCCEED with []
  state.status = protocol::task_status::failed;
  for (const auto& [code, message] :
       std::vector<std::pair<int, std::string>>{{422, std::string(protocol::texts::moderation)},
                                                {500, "task not found"},
                                                {0, ""},
                                                {-1, "负数 \"quoted\" \\ back\tslash"}}) {
    state.error_code = code;
    state.error_message = message;
    bodies.push_back(mock::wire_body::task_state(state));
  }
  bodies.push_back(mock::wire_body::accepted("t-2", "r-2"));
  bodies.push_back(mock::wire_body::error(429, protocol::texts::dynamic_rate_limit("m"), "r"));
  bodies.push_back(protocol::error_body(429, protocol::texts::daily_quota("m"), "r"));
  bodies.push_back(protocol::openai_error_body("免费使用额度已用完"));
  bodies.push_back(protocol::openai_error_body(protocol::texts::request_limit_exceeded));
  bodies.push_back(protocol::error_body(503, protocol::texts::server_busy, "r"));
  // The protocol doc's shapes, literally.
  for (
      const char* body : {
          R"({"errors":{"message":"image-gen task currently does not support synchronous calls. ..."},"request_id":"<uuid>"})",
          R"({"task_id":"<uuid>","request_id":"<uuid>","task_status":"SUCCEED"})",
          R"({"task_id":"a","request_id":"b","task_status":"PENDING","outputs":{}})",
          R"({"task_id":"a","request_id":"b","task_status":"SUCCEED","output_images":["https://.../x.jpg"]})",
          R"({"request_id":"b","task_status":"FAILED","errors":{"code":422,"message":"Output data may contain inappropriate content."}})",
          R"({"errors":{"code":500,"message":"task not found"},"task_status":"FAILED"})",
          R"({"errors":{"message":"x","code":429},"request_id":"r"})",
          R"({"error":{"message":"We have to rate limit you"}})",
          "Server is busy, please try again later",
          // Issue 12: text codes, moderation texts, gateways, errors inside a 200.
          R"({"request_id":"r","task_status":"FAILED","errors":{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content."}})",
          R"({"task_status":"FAILED","errors":{"code":"InternalError.Algo.DataInspectionFailed","message":"Input text data may contain inappropriate content."}})",
          R"({"task_status":"FAILED","errors":{"code":"data_inspection_failed","message":"m"}})",
          R"({"task_status":"FAILED","errors":{"code":429,"message":"We have to rate limit you"}})",
          R"({"errors":{"code":"429","message":"Too many requests for this quota group"}})",
          R"({"error":{"code":"IPInfringementSuspect","message":"m"},"request_id":"r"})",
          R"({"message":"Endpoint request timed out"})",
          "<html><head><title>524: A timeout occurred</title></head></html>",
      }) {
    bodies.emplace_back(body);
  }
  // Edge cases: whitespace, escapes, unicode, numbers, duplicates, wrong types, truncation.
  for (const char* body : {
           " \n{ \"task_id\" : \"t\" , \"task_status\" :\t\"RUNNING\" }\r\n",
           R"({"task_id":"t\u0031","task_status":"RUNNING"})",
           R"({"task_id":"t","task_status":"SUC\u0043EED","output_images":["u"]})",
           R"({"task_id":"t","task_status":"SUCCEED","output_images":["h\/x.png"]})",
           R"({"task_id":"t","task_status":"SUCCEED","output_images":["a",""]})",
           R"({"task_id":"t","task_status":"SUCCEED","output_images":["a",null]})",
           R"({"task_id":"t","task_status":"SUCCEED","output_images":[["a"]]})",
           R"({"task_id":"t","task_status":"SUCCEED","output_images":{}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":1.0,"message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":1e3,"message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":-0,"message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":4294967718,"message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":-4294967000,"message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":99999999999999999999}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"code":"422","message":"m"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":[422,"m"]})",
           R"({"task_id":"t","task_status":"FAILED","errors":"m"})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"message":"é 😀"}})",
           R"({"task_id":"t","task_status":"FAILED","errors":{"message":""}})",
           R"({"task_id":"t","task_id":"u","task_status":"RUNNING"})",
           R"({"task_id":"t","task_status":"RUNNING","task_status":"SUCCEED"})",
           R"({"errors":{"code":1,"code":2,"message":"m"},"task_status":"FAILED"})",
           R"({"task_id":"","request_id":"","task_status":""})",
           R"({"task_id":5,"request_id":true,"task_status":null})",
           R"({"task_id":"t","task_status":7})",
           R"({"task_id":"t","task_status":"RUNNING",})",
           R"({"task_id":"t","task_status":"RUNNING"}})",
           R"({"task_id":"t","task_status":"RUNNING"} x)",
           R"({"task_id":"t","task_status":"RUN)",
           R"({"task_id":"t","task_status")",
           R"({"task_id":"t")",
           R"({"a":{"b":{"c":{"d":{}}}},"task_id":"t","task_status":"RUNNING"})",
           R"([{"task_id":"t","task_status":"RUNNING"}])",
           R"("task_id")",
           R"(null)",
           R"({})",
           R"({"message":"top level","code":"12abc","request_id":"r"})",
           R"({"message":"top level","code":"x","request_id":"r"})",
           R"({"message":"top level","code":"99999999999","request_id":"r"})",
           R"({"errors":{"code":429},"error":{"message":"second"},"message":"third"})",
           R"({"errors":5,"error":{"code":" 7","message":"second"}})",
           R"({"request_id":["r"],"message":"m"})",
           "\xEF\xBB\xBF{\"task_id\":\"t\",\"task_status\":\"RUNNING\"}",
           "{\"task_id\":\"t\xC3\",\"task_status\":\"RUNNING\"}",
           "{\"task_id\":\"t\xED\xA0\x80\",\"task_status\":\"RUNNING\"}",
           "",
           "   ",
       }) {
    bodies.emplace_back(body);
  }
  bodies.emplace_back(std::string("{\"task_id\":\"t\0\",\"task_status\":\"RUNNING\"}", 40));
  std::string long_message = R"({"errors":{"code":429,"message":")";
  long_message += std::string(500, 'q');
  long_message += R"("},"request_id":"r"})";
  bodies.push_back(long_message);
  bodies.push_back(std::string(400, 'x'));  // non-JSON, longer than the raw-text cap
  return bodies;
}

// ---- the tests --------------------------------------------------------------------------------

TEST(CodecEquivalence, TheMockAnswersTakeTheFastPath) {
  // Without this the equivalence below could pass with a fast path that never answers.
  const auto bodies = model_answers();
  ASSERT_GE(bodies.size(), 30u);
  std::size_t json_bodies = 0;
  for (const auto& body : bodies) {
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) {
      continue;  // the injected "malformed" answer and the 502 gateway page
    }
    ++json_bodies;
    protocol::json_scan::document doc;
    EXPECT_TRUE(doc.parse(body)) << body;
  }
  EXPECT_GE(json_bodies, bodies.size() - 2);
}

TEST(CodecEquivalence, CorpusGivesIdenticalResults) {
  const auto bodies = corpus();
  std::size_t handled = 0;
  for (const auto& body : bodies) {
    handled += expect_same(body) ? 1 : 0;
  }
  // Both sides of the switch are exercised.
  EXPECT_GT(handled, bodies.size() / 2);
  EXPECT_LT(handled, bodies.size());
}

TEST(CodecEquivalence, MutationsGiveIdenticalResults) {
  const auto bodies = corpus();
  testing::rng random(20240611);
  std::size_t handled = 0;
  std::size_t total = 0;
  constexpr int per_body = 40;
  for (const auto& body : bodies) {
    for (int i = 0; i < per_body; ++i) {
      handled += expect_same(testing::mutate(body, random)) ? 1 : 0;
      ++total;
    }
    if (HasFailure()) {
      break;  // one divergence is enough to read; do not bury it
    }
  }
  EXPECT_GE(total, 3000u);
  // Many mutations stay valid JSON the fast path reads; many do not.
  EXPECT_GT(handled, total / 20);
  EXPECT_LT(handled, total);
}

TEST(CodecEquivalence, SubmitBodyIsTheDomDumpByteForByte) {
  // make_submit appends the body unless it has a guidance; it must be exactly what nlohmann dumps.
  const std::vector<std::string> texts{"",
                                       "A seamless geometric pattern, two colors",
                                       "Tongyi-MAI/Z-Image-Turbo",
                                       "quote \" inside",
                                       "back\\slash",
                                       "tab\tnewline\n",
                                       std::string("nul\0byte", 8),
                                       "del\x7f",
                                       "灯塔 é 😀",
                                       "<>&'/ {}[]:,"};
  testing::rng random(5);
  for (int i = 0; i < 2000; ++i) {
    protocol::submit_request request;
    request.model = texts[random.below(texts.size())];
    request.prompt = texts[random.below(texts.size())];
    if (random.below(2) == 0) {
      request.negative_prompt = texts[random.below(texts.size())];
    }
    if (random.below(2) == 0) {
      request.size = protocol::image_size{static_cast<int>(random.below(3000)) - 100,
                                          static_cast<int>(random.below(3000))};
    }
    if (random.below(2) == 0) {
      request.seed = static_cast<std::int64_t>(random.next());  // any int64, negative included
    }
    if (random.below(2) == 0) {
      request.steps = static_cast<int>(random.below(300)) - 100;
    }
    if (random.below(4) == 0) {
      request.guidance = static_cast<double>(random.below(400)) / 16.0;
    }
    const auto expected = protocol::to_json(request).dump();
    const auto wire = make_submit(request, "ms-key");
    ASSERT_EQ(wire.body, expected) << "request " << i;
    // And the mock reads it back the same way either path.
    EXPECT_EQ(protocol::parse_submit_body(wire.body).index(),
              protocol::detail::parse_submit_body_dom(wire.body).index());
  }
}

}  // namespace
}  // namespace zbatch::client
