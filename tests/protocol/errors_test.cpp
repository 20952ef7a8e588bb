// Error bodies, their text extraction, classification into error classes, Retry-After.
#include "protocol/errors.hpp"

#include <string>

#include <gtest/gtest.h>

#include "protocol/messages.hpp"

namespace zbatch::protocol {
namespace {

TEST(ExtractErrorText, ErrorsEnvelopeWithCodeAndRequestId) {
  auto text = extract_error_text(
      R"({"errors":{"code":400,"message":"prompt is required"},"request_id":"r-1"})");
  EXPECT_EQ(text.message, "prompt is required");
  EXPECT_EQ(text.code, 400);
  EXPECT_EQ(text.request_id, "r-1");
}

TEST(ExtractErrorText, OpenAiEnvelope) {
  auto text = extract_error_text(R"({"error":{"message":"Request limit exceeded."}})");
  EXPECT_EQ(text.message, "Request limit exceeded.");
  EXPECT_EQ(text.code, 0);
  EXPECT_EQ(text.request_id, "");
}

TEST(ExtractErrorText, ErrorsWinsOverErrorWhichWinsOverMessage) {
  auto both = extract_error_text(
      R"({"message":"third","error":{"message":"second"},"errors":{"message":"first"}})");
  EXPECT_EQ(both.message, "first");
  auto two = extract_error_text(R"({"message":"third","error":{"message":"second"}})");
  EXPECT_EQ(two.message, "second");
  // An envelope without a message does not hide the next place to look.
  auto empty_errors = extract_error_text(R"({"errors":{"code":5},"error":{"message":"second"}})");
  EXPECT_EQ(empty_errors.message, "second");
}

TEST(ExtractErrorText, PlainMessageKeepsRequestId) {
  auto text = extract_error_text(R"({"message":"Server is busy","request_id":"abc","code":"503"})");
  EXPECT_EQ(text.message, "Server is busy");
  EXPECT_EQ(text.request_id, "abc");
  EXPECT_EQ(text.code, 503);  // some gateways send the code as a string
}

TEST(ExtractErrorText, RawTextWhenNoKnownField) {
  EXPECT_EQ(extract_error_text(R"({"detail":"nope"})").message, R"({"detail":"nope"})");
  EXPECT_EQ(extract_error_text(R"({"detail":"nope","request_id":"x"})").request_id, "x");
}

TEST(ExtractErrorText, NonJsonBodyIsTrimmedRawText) {
  EXPECT_EQ(extract_error_text("  \n<html>502 Bad Gateway</html>\r\n").message,
            "<html>502 Bad Gateway</html>");
  EXPECT_EQ(extract_error_text("").message, "");
  EXPECT_EQ(extract_error_text("[1,2]").message, "[1,2]");
  auto long_text = extract_error_text(std::string(5000, 'x')).message;
  EXPECT_LT(long_text.size(), 400u);
  EXPECT_EQ(long_text.substr(long_text.size() - 3), "...");
}

TEST(QuotaMessages, AllQuotaTextsOfTheProtocolDoc) {
  EXPECT_TRUE(is_quota_message("Request limit exceeded."));
  EXPECT_TRUE(is_quota_message(
      "You have exceeded today's quota for model Tongyi-MAI/Z-Image-Turbo, please try again "
      "tomorrow"));
  EXPECT_TRUE(is_quota_message("insufficient balance"));
  EXPECT_TRUE(is_quota_message("免费使用额度已用完"));
  EXPECT_TRUE(is_quota_message(texts::request_limit_exceeded));
  EXPECT_TRUE(is_quota_message(texts::daily_quota(default_model)));
}

TEST(QuotaMessages, DynamicLimitIsNotQuota) {
  EXPECT_FALSE(is_quota_message(
      "We have to rate limit you for model Tongyi-MAI/Z-Image-Turbo. Please try again later."));
  EXPECT_FALSE(is_quota_message(texts::dynamic_rate_limit(default_model)));
  EXPECT_FALSE(is_quota_message(""));
}

TEST(ClassifyHttpError, TooManyRequestsSplitsByMessage) {
  auto dynamic = classify_http_error(429, error_body(429, texts::dynamic_rate_limit("m"), "r"));
  EXPECT_EQ(dynamic.kind, error_class::dynamic_429);
  EXPECT_EQ(dynamic.http_status, 429);
  EXPECT_EQ(dynamic.request_id, "r");
  for (const std::string& quota :
       {std::string(texts::request_limit_exceeded), texts::daily_quota("m"),
        std::string("insufficient balance"), std::string("免费使用额度已用完")}) {
    EXPECT_EQ(classify_http_error(429, openai_error_body(quota)).kind, error_class::quota_429)
        << quota;
    EXPECT_EQ(classify_http_error(429, error_body(429, quota, "r")).kind, error_class::quota_429)
        << quota;
  }
  // A 429 without any text is a dynamic limit: backing off is the safe reading.
  EXPECT_EQ(classify_http_error(429, "").kind, error_class::dynamic_429);
}

TEST(ClassifyHttpError, RequestErrorsAreFatal) {
  for (int status : {400, 401, 403, 404, 409, 413}) {
    auto error = classify_http_error(status, error_body(status, "bad", "rid"));
    EXPECT_EQ(error.kind, error_class::request_error) << status;
    EXPECT_EQ(error.http_status, status);
    EXPECT_EQ(error.service_code, status);
    EXPECT_EQ(error.message, "bad");
    EXPECT_FALSE(is_retryable(error.kind));
  }
  auto sync = classify_http_error(400, error_body(400, texts::sync_not_supported, "x"));
  EXPECT_EQ(sync.kind, error_class::request_error);
  EXPECT_EQ(sync.message, texts::sync_not_supported);
}

TEST(ClassifyHttpError, ServerAndBusyAreRetryable) {
  for (int status : {500, 502, 503, 504}) {
    EXPECT_EQ(classify_http_error(status, "oops").kind, error_class::server_transport) << status;
  }
  EXPECT_EQ(classify_http_error(400, error_body(400, texts::server_busy, "r")).kind,
            error_class::server_transport);
  EXPECT_TRUE(is_retryable(error_class::server_transport));
}

TEST(ClassifyHttpError, NonErrorStatusIsMalformed) {
  auto error = classify_http_error(302, "");
  EXPECT_EQ(error.kind, error_class::malformed);
  EXPECT_NE(error.message.find("302"), std::string::npos);
}

TEST(ClassifyTaskFailure, ModerationVersusSystem) {
  auto moderation = classify_task_failure(422, texts::moderation, "r1");
  EXPECT_EQ(moderation.kind, error_class::moderation);
  EXPECT_EQ(moderation.service_code, 422);
  EXPECT_EQ(moderation.http_status, 0);
  EXPECT_EQ(moderation.request_id, "r1");
  EXPECT_FALSE(is_retryable(moderation.kind));
  auto system = classify_task_failure(500, texts::task_not_found);
  EXPECT_EQ(system.kind, error_class::task_failed);
  EXPECT_EQ(system.message, texts::task_not_found);
  EXPECT_TRUE(is_retryable(system.kind));
}

TEST(ErrorClass, NamesRoundTripAndRetryability) {
  const error_class all[] = {
      error_class::dynamic_429,   error_class::quota_429,  error_class::server_transport,
      error_class::request_error, error_class::moderation, error_class::task_failed,
      error_class::malformed,     error_class::deadline,   error_class::cancelled};
  for (auto kind : all) {
    auto name = to_string(kind);
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(error_class_from_string(name), kind) << name;
  }
  EXPECT_EQ(error_class_from_string("nope"), std::nullopt);
  EXPECT_TRUE(is_retryable(error_class::dynamic_429));
  EXPECT_FALSE(is_retryable(error_class::quota_429));
  EXPECT_FALSE(is_retryable(error_class::deadline));
  EXPECT_FALSE(is_retryable(error_class::cancelled));
}

TEST(ApiError, DescribeNamesClassStatusAndMessage) {
  auto error = classify_http_error(429, openai_error_body("Request limit exceeded."));
  EXPECT_EQ(error.describe(), "quota_429 (HTTP 429): Request limit exceeded.");
  EXPECT_EQ(classify_task_failure(422, "bad").describe(), "moderation (code 422): bad");
}

TEST(RetryAfter, DeltaSeconds) {
  EXPECT_EQ(parse_retry_after("120", 0), 120'000);
  EXPECT_EQ(parse_retry_after(" 5 ", 0), 5'000);
  EXPECT_EQ(parse_retry_after("0", 0), 0);
  EXPECT_EQ(parse_retry_after("99999999999999", 0), 3'600'000);  // capped, no overflow
  EXPECT_EQ(parse_retry_after("7200", 0, 60'000), 60'000);
}

TEST(RetryAfter, HttpDate) {
  const std::int64_t date = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 30), 30'000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 100), 0);  // past
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 86400), 3'600'000);
}

TEST(RetryAfter, GarbageIsRejected) {
  EXPECT_EQ(parse_retry_after("", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), std::nullopt);
}

}  // namespace
}  // namespace zbatch::protocol
