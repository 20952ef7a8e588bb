// parse_submit_body's json_scan fast path against the nlohmann DOM path it short-cuts: identical
// requests or identical field errors on real submit bodies, edge cases and seeded mutations.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/json_scan.hpp"
#include "protocol/messages.hpp"
#include "protocol/messages_detail.hpp"
#include "tests/protocol/json_mutations.hpp"

namespace zbatch::protocol {
namespace {

std::string describe(const std::variant<submit_request, field_error>& parsed) {
  if (const auto* error = std::get_if<field_error>(&parsed)) {
    return "error " + error->field + "|" + error->message;
  }
  const auto& r = std::get<submit_request>(parsed);
  return "request " + r.model + "|" + r.prompt + "|" + r.negative_prompt.value_or("<none>") + "|" +
         (r.size ? r.size->to_string() : "-") + "|" + (r.seed ? std::to_string(*r.seed) : "-") +
         "|" + (r.steps ? std::to_string(*r.steps) : "-") + "|" +
         (r.guidance ? std::to_string(*r.guidance) : "-");
}

bool expect_same(const std::string& body) {
  EXPECT_EQ(describe(parse_submit_body(body)), describe(detail::parse_submit_body_dom(body)))
      << "parse_submit_body on: " << body;
  json_scan::document doc;
  return doc.parse(body);
}

std::vector<std::string> corpus() {
  std::vector<std::string> bodies;
  submit_request request;
  request.prompt = "A seamless geometric pattern, two colors";
  bodies.push_back(to_json(request).dump());
  request.seed = 1042;
  request.size = image_size{1024, 1024};
  bodies.push_back(to_json(request).dump());
  request.steps = 9;
  request.negative_prompt = "blurry";
  bodies.push_back(to_json(request).dump());
  request.guidance = 7;
  bodies.push_back(to_json(request).dump());
  request.guidance = 3.5;
  bodies.push_back(to_json(request).dump());
  request.prompt = "灯塔 \"quoted\"\n";
  bodies.push_back(to_json(request).dump());
  for (const char* body : {
           R"({"model":"Tongyi-MAI/Z-Image-Turbo","prompt":"p"})",
           R"({"model":"m","prompt":"p","seed":-1})",
           R"({"model":"m","prompt":"p","seed":2147483648})",
           R"({"model":"m","prompt":"p","seed":"5"})",
           R"({"model":"m","prompt":"p","seed":5.0})",
           R"({"model":"m","prompt":"p","seed":null,"steps":null,"size":null,"guidance":null})",
           R"({"model":"m","prompt":"p","steps":0})",
           R"({"model":"m","prompt":"p","steps":101})",
           R"({"model":"m","prompt":"p","steps":true})",
           R"({"model":"m","prompt":"p","steps":99999999999})",
           R"({"model":"m","prompt":"p","guidance":1})",
           R"({"model":"m","prompt":"p","guidance":20})",
           R"({"model":"m","prompt":"p","guidance":"7"})",
           R"({"model":"m","prompt":"p","guidance":[7]})",
           R"({"model":"m","prompt":"p","size":"1024x1024"})",
           R"({"model":"m","prompt":"p","size":"100x100"})",
           R"({"model":"m","prompt":"p","size":"big"})",
           R"({"model":"m","prompt":"p","size":1024})",
           R"({"model":"m","prompt":"p","negative_prompt":null})",
           R"({"model":"m","prompt":"p","negative_prompt":5})",
           R"({"model":"m","prompt":"p","negative_prompt":""})",
           R"({"model":"m","prompt":""})",
           R"({"model":"","prompt":"p"})",
           R"({"model":5,"prompt":7})",
           R"({"prompt":"p"})",
           R"({"model":"m"})",
           R"({"model":"m","prompt":"p","prompt":"q"})",
           R"({"model":"m","prompt":"p\u00e9"})",
           R"({"model":"m","prompt":"p","loras":{"a":1},"extra":[1,2]})",
           R"([])",
           R"({})",
           "",
           "not json",
       }) {
    bodies.emplace_back(body);
  }
  bodies.push_back(R"({"model":"m","prompt":")" + std::string(2000, 'x') + R"("})");
  bodies.push_back(R"({"model":"m","prompt":")" + std::string(1999, 'x') + R"("})");
  return bodies;
}

TEST(MessagesEquivalence, CorpusGivesIdenticalResults) {
  const auto bodies = corpus();
  std::size_t handled = 0;
  for (const auto& body : bodies) {
    handled += expect_same(body) ? 1 : 0;
  }
  EXPECT_GT(handled, bodies.size() / 2);
  EXPECT_LT(handled, bodies.size());
}

TEST(MessagesEquivalence, MutationsGiveIdenticalResults) {
  const auto bodies = corpus();
  testing::rng random(77);
  std::size_t handled = 0;
  std::size_t total = 0;
  for (const auto& body : bodies) {
    for (int i = 0; i < 80; ++i) {
      handled += expect_same(testing::mutate(body, random)) ? 1 : 0;
      ++total;
    }
    if (HasFailure()) {
      break;  // one divergence is enough to read
    }
  }
  EXPECT_GE(total, 3000u);
  EXPECT_GT(handled, total / 20);
  EXPECT_LT(handled, total);
}

}  // namespace
}  // namespace zbatch::protocol
