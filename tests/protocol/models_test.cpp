// The model catalogue: its defaults from the protocol doc, the per-model checks, the latency
// interpolation, and `loras` / `image_url` through a submit body and back.

#include <variant>

#include <gtest/gtest.h>

#include "protocol/messages.hpp"
#include "protocol/messages_detail.hpp"
#include "protocol/models.hpp"

namespace zbatch::protocol {
namespace {

const model_rules& rules(const char* id) {
  const auto* found = find_model(default_catalogue(), id);
  EXPECT_NE(found, nullptr) << id;
  return *found;
}

TEST(Catalogue, DefaultsFollowTheProtocolDoc) {
  EXPECT_EQ(default_catalogue().size(), 4u);
  EXPECT_EQ(rules("Tongyi-MAI/Z-Image-Turbo").min_side, 512);
  EXPECT_EQ(rules("Tongyi-MAI/Z-Image-Turbo").max_side, 2048);
  EXPECT_EQ(rules("Qwen/Qwen-Image").min_side, 64);
  EXPECT_EQ(rules("Qwen/Qwen-Image").max_side, 1664);
  EXPECT_EQ(rules("black-forest-labs/FLUX.2-dev").max_side, 1024);
  EXPECT_EQ(rules("black-forest-labs/FLUX.2-dev").image_url, image_url_kind::list);
  EXPECT_EQ(rules("Qwen/Qwen-Image-Edit").image_url, image_url_kind::string);
  EXPECT_EQ(find_model(default_catalogue(), "no/such"), nullptr);
}

TEST(Catalogue, GenerationTimeInterpolatesTheMeasuredPoints) {
  const auto& turbo = rules("Tongyi-MAI/Z-Image-Turbo");
  EXPECT_DOUBLE_EQ(generation_ms(turbo, {512, 512}), 1700);
  EXPECT_DOUBLE_EQ(generation_ms(turbo, {1024, 1024}), 5800);
  EXPECT_NEAR(generation_ms(turbo, {1440, 1440}), 12000, 1e-6);
  // Between points: a power law, so 1024x512 lies between 512² and 1024².
  const double half = generation_ms(turbo, {1024, 512});
  EXPECT_GT(half, 1700);
  EXPECT_LT(half, 5800);
  // Past the last point: the last segment's slope, so above 12 s.
  EXPECT_GT(generation_ms(turbo, {2048, 2048}), 12000);
  // One point: proportional to pixels.
  EXPECT_DOUBLE_EQ(generation_ms(rules("Qwen/Qwen-Image"), {512, 512}), 7500);
}

TEST(Catalogue, ValidateUsesTheModelsRules) {
  submit_request request;
  request.model = "Qwen/Qwen-Image";
  request.prompt = "p";
  request.size = image_size{1664, 64};
  EXPECT_EQ(validate(request), std::nullopt);
  request.size = image_size{1665, 64};
  auto error = validate(request);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "size");
  EXPECT_NE(error->message.find("for Qwen/Qwen-Image (allowed 64..1664)"), std::string::npos)
      << error->message;
  // An unknown model: only the form is checked.
  request.model = "someone/else";
  request.size = image_size{4000, 16};
  EXPECT_EQ(validate(request), std::nullopt);
  EXPECT_EQ(validate_fields(request), std::nullopt);
}

TEST(Catalogue, LorasAndImageUrlRoundTripThroughASubmitBody) {
  submit_request request;
  request.model = "black-forest-labs/FLUX.2-dev";
  request.prompt = "p";
  request.loras = lora_set{false, {{"a/one", 0.25}, {"b/two", 0.75}}};
  request.image_url = image_url_value{true, {"https://x/a.png", "https://x/b.png"}};
  const auto body = to_json(request).dump();
  for (const auto& parsed : {parse_submit_body(body), detail::parse_submit_body_dom(body)}) {
    ASSERT_TRUE(std::holds_alternative<submit_request>(parsed)) << body;
    const auto& back = std::get<submit_request>(parsed);
    ASSERT_TRUE(back.loras);
    ASSERT_TRUE(back.image_url);
    EXPECT_EQ(back.image_url->urls, request.image_url->urls);
    EXPECT_TRUE(back.image_url->list);
    EXPECT_EQ(back.loras->weights.size(), 2u);
    EXPECT_FALSE(back.loras->single);
  }
  request.loras = lora_set{true, {{"a/one", 1.0}}};
  request.image_url = image_url_value{false, {"https://x/a.png"}};
  EXPECT_EQ(to_json(request)["loras"], "a/one");
  EXPECT_EQ(to_json(request)["image_url"], "https://x/a.png");
  const auto single = std::get<submit_request>(parse_submit_body(to_json(request).dump()));
  EXPECT_TRUE(single.loras->single);
  EXPECT_FALSE(single.image_url->list);
}

TEST(Catalogue, BadLorasAndImageUrlShapesAreRefusedByTheReader) {
  const auto error_of = [](const char* body) {
    const auto parsed = parse_submit_body(body);
    const auto* error = std::get_if<field_error>(&parsed);
    return error != nullptr ? error->field + ": " + error->message : std::string("(accepted)");
  };
  EXPECT_NE(error_of(R"({"model":"m","prompt":"p","loras":3})").find("loras must be"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":"m","prompt":"p","loras":{"a":0.5}})").find("sum of 1.0"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":"m","prompt":"p","image_url":[]})").find("image_url is empty"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model":"m","prompt":"p","image_url":[1]})").find("list of URLs"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"model":"m","prompt":"p","loras":null,"image_url":null})"), "(accepted)");
}

}  // namespace
}  // namespace zbatch::protocol
