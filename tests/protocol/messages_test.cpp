// Submit/task messages: JSON mapping, field rules (prompt length in code points, seed, steps,
// guidance, size), task states and the service's body shapes.
#include "protocol/messages.hpp"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "protocol/errors.hpp"

namespace zbatch::protocol {
namespace {

std::string repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) {
    out += unit;
  }
  return out;
}

submit_request valid_request() {
  submit_request request;
  request.prompt = "a lighthouse at dawn";
  return request;
}

TEST(Utf8Length, CountsCodePoints) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("灯塔"), 2u);              // 3 bytes each
  EXPECT_EQ(utf8_length("\xF0\x9F\x8C\x85"), 1u);  // one emoji, 4 bytes
}

TEST(IsBlank, UnicodeSpaceAndInvisibleFormatCharactersShowNothing) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t\r\n"));
  EXPECT_TRUE(is_blank("\xE3\x80\x80"));               // U+3000 ideographic space
  EXPECT_TRUE(is_blank("\xC2\xA0 \xE2\x80\x8B"));      // no-break space, zero width space
  EXPECT_TRUE(is_blank("\xEF\xBB\xBF\xE2\x80\xAF"));   // BOM, narrow no-break space
  EXPECT_FALSE(is_blank("\xE3\x80\x80\xE7\x81\xAF"));  // U+3000 then 灯
  EXPECT_FALSE(is_blank(" a "));
  EXPECT_FALSE(is_blank("\xF0\x9F\x8C\x85"));  // an emoji shows something
  EXPECT_FALSE(is_blank("\xE3\x80"));          // a cut sequence is not white space
}

TEST(Validate, PromptLimitIsUnder2000CodePoints) {
  auto request = valid_request();
  request.prompt = std::string(1999, 'a');
  EXPECT_EQ(validate(request), std::nullopt);
  request.prompt = std::string(2000, 'a');
  auto error = validate(request);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "prompt");
  EXPECT_NE(error->message.find("2000"), std::string::npos);
  // 1999 Chinese characters are 5997 bytes but still within the limit.
  request.prompt = repeat("灯", 1999);
  EXPECT_EQ(validate(request), std::nullopt);
  request.prompt = repeat("灯", 2000);
  ASSERT_TRUE(validate(request));
  EXPECT_EQ(validate(request)->field, "prompt");
}

TEST(Validate, RequiredFields) {
  auto request = valid_request();
  request.prompt.clear();
  ASSERT_TRUE(validate(request));
  EXPECT_EQ(validate(request)->field, "prompt");
  request = valid_request();
  request.model.clear();
  ASSERT_TRUE(validate(request));
  EXPECT_EQ(validate(request)->field, "model");
}

TEST(Validate, NegativePromptLimit) {
  auto request = valid_request();
  request.negative_prompt = std::string(1999, 'n');
  EXPECT_EQ(validate(request), std::nullopt);
  request.negative_prompt = std::string(2000, 'n');
  ASSERT_TRUE(validate(request));
  EXPECT_EQ(validate(request)->field, "negative_prompt");
}

TEST(Validate, SeedRange) {
  auto request = valid_request();
  for (std::int64_t ok : {std::int64_t{0}, std::int64_t{42}, max_seed}) {
    request.seed = ok;
    EXPECT_EQ(validate(request), std::nullopt) << ok;
  }
  for (std::int64_t bad : {std::int64_t{-1}, max_seed + 1}) {
    request.seed = bad;
    auto error = validate(request);
    ASSERT_TRUE(error) << bad;
    EXPECT_EQ(error->field, "seed");
    EXPECT_NE(error->message.find("0..2147483647"), std::string::npos);
  }
}

TEST(Validate, StepsAndGuidanceRanges) {
  auto request = valid_request();
  for (int ok : {1, 8, 100}) {
    request.steps = ok;
    EXPECT_EQ(validate(request), std::nullopt) << ok;
  }
  for (int bad : {0, 101, -3}) {
    request.steps = bad;
    ASSERT_TRUE(validate(request)) << bad;
    EXPECT_EQ(validate(request)->field, "steps");
  }
  request.steps.reset();
  for (double ok : {1.5, 7.0, 20.0}) {
    request.guidance = ok;
    EXPECT_EQ(validate(request), std::nullopt) << ok;
  }
  for (double bad : {1.49, 20.01, std::nan("")}) {
    request.guidance = bad;
    ASSERT_TRUE(validate(request)) << bad;
    EXPECT_EQ(validate(request)->field, "guidance");
    EXPECT_NE(validate(request)->message.find("1.5..20"), std::string::npos);
  }
}

TEST(Validate, SizeLimits) {
  auto request = valid_request();
  request.size = image_size{512, 2048};
  EXPECT_EQ(validate(request), std::nullopt);
  request.size = image_size{511, 1024};
  ASSERT_TRUE(validate(request));
  EXPECT_EQ(validate(request)->field, "size");
  EXPECT_NE(validate(request)->message.find("512..2048"), std::string::npos);
}

TEST(SubmitJson, OnlySetFieldsAreSent) {
  auto minimal = to_json(valid_request());
  EXPECT_EQ(minimal, (nlohmann::json{{"model", "Tongyi-MAI/Z-Image-Turbo"},
                                     {"prompt", "a lighthouse at dawn"}}));
  auto request = valid_request();
  request.size = image_size{1024, 576};
  request.seed = 7;
  request.steps = 9;
  request.guidance = 2.5;
  request.negative_prompt = "fog";
  auto full = to_json(request);
  EXPECT_EQ(full["size"], "1024x576");
  EXPECT_EQ(full["seed"], 7);
  EXPECT_EQ(full["steps"], 9);
  EXPECT_EQ(full["guidance"], 2.5);
  EXPECT_EQ(full["negative_prompt"], "fog");
}

TEST(ParseSubmitBody, RoundTrip) {
  auto request = valid_request();
  request.size = image_size{576, 1024};
  request.seed = max_seed;
  request.steps = 100;
  request.guidance = 20;
  auto parsed = parse_submit_body(to_json(request).dump());
  ASSERT_TRUE(std::holds_alternative<submit_request>(parsed));
  const auto& back = std::get<submit_request>(parsed);
  EXPECT_EQ(back.model, request.model);
  EXPECT_EQ(back.prompt, request.prompt);
  EXPECT_EQ(back.size, request.size);
  EXPECT_EQ(back.seed, request.seed);
  EXPECT_EQ(back.steps, request.steps);
  EXPECT_EQ(back.guidance, request.guidance);
}

std::string field_of(std::string_view body) {
  auto parsed = parse_submit_body(body);
  if (!std::holds_alternative<field_error>(parsed)) {
    return "(accepted)";
  }
  return std::get<field_error>(parsed).field;
}

TEST(ParseSubmitBody, RejectsWhatTheServiceRejects) {
  EXPECT_EQ(field_of("not json"), "body");
  EXPECT_EQ(field_of("[1]"), "body");
  EXPECT_EQ(field_of(R"({"prompt":"p"})"), "model");
  EXPECT_EQ(field_of(R"({"model":"m"})"), "prompt");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":5})"), "prompt");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","seed":-1})"), "seed");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","seed":1.5})"), "seed");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","seed":"3"})"), "seed");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","seed":2147483648})"), "seed");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","steps":0})"), "steps");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","steps":101})"), "steps");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","guidance":1})"), "guidance");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","guidance":"2"})"), "guidance");
  // The reader checks a size's form; its range is the model's (models.hpp, check_for_model).
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","size":"100x100"})"), "(accepted)");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","size":"0x100"})"), "size");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","size":"big"})"), "size");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":")" + std::string(2000, 'a') + "\"}"), "prompt");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":")" + std::string(1999, 'a') + "\"}"), "(accepted)");
  EXPECT_EQ(field_of(R"({"model":"m","prompt":"p","seed":null})"), "(accepted)");
}

TEST(TaskStatus, KnownAndUnknownValues) {
  EXPECT_EQ(task_status_from_string("PENDING"), task_status::pending);
  EXPECT_EQ(task_status_from_string("RUNNING"), task_status::running);
  EXPECT_EQ(task_status_from_string("PROCESSING"), task_status::processing);
  EXPECT_EQ(task_status_from_string("SUCCEED"), task_status::succeed);
  EXPECT_EQ(task_status_from_string("FAILED"), task_status::failed);
  EXPECT_EQ(task_status_from_string("QUEUED"), task_status::unknown);
  EXPECT_EQ(task_status_from_string("succeed"), task_status::unknown);
  task_state state;
  state.status = task_status::unknown;
  EXPECT_FALSE(state.terminal());
  state.status = task_status::succeed;
  EXPECT_TRUE(state.terminal());
  state.status = task_status::failed;
  EXPECT_TRUE(state.terminal());
}

TEST(TaskJson, ShapesOfTheService) {
  task_state running;
  running.task_id = "t";
  running.request_id = "r";
  running.status = task_status::running;
  auto body = to_json(running);
  EXPECT_EQ(body["task_status"], "RUNNING");
  EXPECT_TRUE(body["outputs"].is_object());
  EXPECT_EQ(body["task_id"], "t");

  running.raw_status = "PROCESSING";
  EXPECT_EQ(to_json(running)["task_status"], "PROCESSING");

  task_state done = running;
  done.status = task_status::succeed;
  done.raw_status.clear();
  done.output_images = {"http://127.0.0.1:1/images/t.png"};
  body = to_json(done);
  EXPECT_EQ(body["task_status"], "SUCCEED");
  EXPECT_EQ(body["output_images"][0], "http://127.0.0.1:1/images/t.png");

  task_state failed = running;
  failed.status = task_status::failed;
  failed.raw_status.clear();
  failed.error_code = 422;
  failed.error_message = std::string(texts::moderation);
  body = to_json(failed);
  EXPECT_EQ(body["task_status"], "FAILED");
  EXPECT_FALSE(body.contains("task_id"));
  EXPECT_EQ(body["errors"]["code"], 422);
  EXPECT_EQ(body["request_id"], "r");
}

TEST(ErrorBodies, ReadBackByExtraction) {
  auto text = extract_error_text(error_body(400, texts::sync_not_supported, "req-9"));
  EXPECT_EQ(text.message, texts::sync_not_supported);
  EXPECT_EQ(text.code, 400);
  EXPECT_EQ(text.request_id, "req-9");
  EXPECT_EQ(extract_error_text(openai_error_body("x \"quoted\"")).message, "x \"quoted\"");
}

TEST(Texts, ModelIdAppearsInTemplates) {
  EXPECT_EQ(texts::dynamic_rate_limit("a/b").rfind("We have to rate limit you for model a/b", 0),
            0u);
  EXPECT_EQ(texts::daily_quota("a/b").rfind("You have exceeded today's quota for model a/b", 0),
            0u);
}

}  // namespace
}  // namespace zbatch::protocol
