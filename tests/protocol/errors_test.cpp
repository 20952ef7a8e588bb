// Error bodies, their text extraction, classification into error classes, Retry-After.
#include "protocol/errors.hpp"

#include <string>

#include <gtest/gtest.h>

#include "protocol/messages.hpp"

namespace zbatch::protocol {
namespace {

// A new user's check: a gateway's whole HTML page (newlines and all) filled the event line and
// the manifest. A page is its title; any other text one line.
TEST(Errors, AnHtmlPageIsItsTitleAndOtherTextOneLine) {
  const std::string page =
      "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 "
      "Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n";
  EXPECT_EQ(classify_http_error(504, page).message,
            "504 Gateway Time-out (an HTML page of " + std::to_string(page.size()) + " bytes)");
  EXPECT_EQ(classify_http_error(502, "  upstream\n  connect error\t or disconnect  ").message,
            "upstream connect error or disconnect");
}

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

TEST(QuotaMessages, OnlyKnownPhrasesNeverABareWord) {
  // Issue 12: an unknown text is not quota because it says "quota".
  EXPECT_FALSE(is_quota_message("Too many requests for this quota group, slow down"));
  EXPECT_FALSE(is_quota_message("quota"));
  EXPECT_FALSE(is_quota_message("Model id : x , has no provider supported"));
  EXPECT_TRUE(is_quota_message("REQUEST LIMIT EXCEEDED"));
}

TEST(QuotaMessages, DynamicLimitText) {
  EXPECT_TRUE(is_dynamic_limit_message(texts::dynamic_rate_limit(default_model)));
  EXPECT_TRUE(is_dynamic_limit_message("We have to rate limit you"));
  EXPECT_FALSE(is_dynamic_limit_message("Too many requests"));
  EXPECT_FALSE(is_dynamic_limit_message(texts::request_limit_exceeded));
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

TEST(ClassifyHttpError, UnknownTooManyRequestsIsDynamicButMarked) {
  for (const std::string& text :
       {std::string("Too many requests for this quota group"), std::string("")}) {
    auto error = classify_http_error(429, openai_error_body(text));
    EXPECT_EQ(error.kind, error_class::dynamic_429) << text;
    EXPECT_TRUE(error.unknown_429) << text;
  }
  // "has no provider supported" is known now (protocol doc, "What newer public material adds"):
  // seen as a 400 and as a 429, a model the service cannot serve, so no wait helps.
  for (int status : {400, 429}) {
    auto error = classify_http_error(status, openai_error_body(texts::no_provider("x")));
    EXPECT_EQ(error.kind, error_class::request_error) << status;
    EXPECT_FALSE(error.unknown_429) << status;
  }
  EXPECT_EQ(classify_http_error(429, "").kind, error_class::dynamic_429);
  EXPECT_TRUE(classify_http_error(429, "").unknown_429);
  EXPECT_FALSE(
      classify_http_error(429, error_body(429, texts::dynamic_rate_limit("m"), "r")).unknown_429);
  EXPECT_FALSE(
      classify_http_error(429, openai_error_body(texts::request_limit_exceeded)).unknown_429);
  EXPECT_FALSE(classify_http_error(503, "x").unknown_429);
}

TEST(ClassifyHttpError, GatewayAnswersAreMarkedTheServiceOwnAreNot) {
  // 502, 504 and 524 come from gateways, in any shape.
  for (int status : {502, 504, 524}) {
    for (const std::string& body :
         {std::string("<html><head><title>504 Gateway Time-out</title></head></html>"),
          std::string(R"({"message":"Endpoint request timed out"})"),
          error_body(status, "Gateway Timeout", "r"), std::string()}) {
      auto error = classify_http_error(status, body);
      EXPECT_EQ(error.kind, error_class::server_transport) << status << body;
      EXPECT_TRUE(error.from_gateway) << status << body;
      EXPECT_FALSE(error.ambiguous);  // a submit's reader decides that
    }
  }
  // Any other 5xx whose body is not the service's JSON error is a gateway's too.
  EXPECT_TRUE(classify_http_error(500, "<html>Internal Server Error</html>").from_gateway);
  EXPECT_TRUE(classify_http_error(503, R"({"message":"Service Unavailable"})").from_gateway);
  EXPECT_TRUE(classify_http_error(520, "").from_gateway);
  // The service's own JSON errors and its "Server is busy" are free refusals.
  EXPECT_FALSE(
      classify_http_error(500, error_body(500, "Internal Server Error", "r")).from_gateway);
  EXPECT_FALSE(classify_http_error(503, error_body(503, texts::server_busy, "r")).from_gateway);
  // OpenAI's shape on a 5xx may be a relay's, after the origin took the task; busy is free.
  EXPECT_TRUE(classify_http_error(503, openai_error_body("Service Unavailable")).from_gateway);
  EXPECT_FALSE(classify_http_error(503, openai_error_body(texts::server_busy)).from_gateway);
  EXPECT_FALSE(classify_http_error(503, std::string(texts::server_busy)).from_gateway);
  EXPECT_FALSE(classify_http_error(429, "<html>Too Many Requests</html>").from_gateway);
  EXPECT_FALSE(classify_http_error(404, "<html>Not Found</html>").from_gateway);
}

TEST(ClassifyHttpError, ModerationOnSubmitByCodeOrText) {
  auto text_code = classify_http_error(
      400, R"({"errors":{"code":"DataInspectionFailed","message":"Input data may contain )"
           R"(inappropriate content."},"request_id":"r"})");
  EXPECT_EQ(text_code.kind, error_class::moderation);
  EXPECT_EQ(text_code.code_name, "DataInspectionFailed");
  EXPECT_EQ(text_code.service_code, 0);
  EXPECT_EQ(classify_http_error(400, openai_error_body("<400> InternalError.Algo."
                                                       "DataInspectionFailed: Input text data "
                                                       "may contain inappropriate content."))
                .kind,
            error_class::moderation);
  EXPECT_EQ(classify_http_error(400, R"({"errors":{"code":"422","message":"m"}})").kind,
            error_class::moderation);
  EXPECT_EQ(classify_http_error(400, error_body(400, "bad size", "r")).kind,
            error_class::request_error);
}

// The service's own "Task not found" (the mock's 404), not a gateway's 404 page or a 401.
TEST(ClassifyHttpError, TaskUnknownIsTheServicesOwn404) {
  EXPECT_TRUE(is_task_unknown(classify_http_error(404, error_body(404, "Task not found: t", "r"))));
  EXPECT_FALSE(is_task_unknown(classify_http_error(
      404, "<html><head><title>404 Not Found</title></head><body>task not found</body></html>")));
  EXPECT_FALSE(is_task_unknown(classify_http_error(401, error_body(401, "Task not found", "r"))));
  EXPECT_FALSE(is_task_unknown(classify_http_error(404, error_body(404, "Not Found: /x", "r"))));
}

// A new user's check: five empty-bodied 429s stopped the batch naming no cause.
TEST(ClassifyHttpError, AnEmptyBodySaysSo) {
  const auto error = classify_http_error(429, "");
  EXPECT_EQ(error.kind, error_class::dynamic_429);
  EXPECT_EQ(error.message, "an empty body");
  EXPECT_EQ(classify_http_error(503, "  ").message, "an empty body");
}

TEST(ClassifyErrorInSuccess, ClassifiedByContent) {
  auto dynamic =
      classify_error_in_success(200, error_body(429, texts::dynamic_rate_limit("m"), "r"));
  ASSERT_TRUE(dynamic);
  EXPECT_EQ(dynamic->kind, error_class::dynamic_429);
  EXPECT_EQ(dynamic->http_status, 200);
  EXPECT_EQ(dynamic->service_code, 429);
  EXPECT_EQ(dynamic->request_id, "r");
  EXPECT_NE(dynamic->message.find("inside HTTP 200"), std::string::npos);
  EXPECT_EQ(classify_error_in_success(200, R"({"errors":{"code":"429","message":"?"}})")->kind,
            error_class::dynamic_429);
  EXPECT_TRUE(
      classify_error_in_success(200, R"({"errors":{"code":"429","message":"?"}})")->unknown_429);
  EXPECT_EQ(classify_error_in_success(200, openai_error_body(texts::request_limit_exceeded))->kind,
            error_class::quota_429);
  EXPECT_EQ(classify_error_in_success(200, openai_error_body(texts::dynamic_rate_limit("m")))->kind,
            error_class::dynamic_429);
  EXPECT_EQ(classify_error_in_success(200, error_body(401, "bad token", "r"))->kind,
            error_class::request_error);
  EXPECT_EQ(classify_error_in_success(200, error_body(503, texts::server_busy, "r"))->kind,
            error_class::server_transport);
  EXPECT_FALSE(classify_error_in_success(200, error_body(502, "x", "r"))->from_gateway);
  // A new user's check: a relay's error in a 200 (no code, or a 5xx code in OpenAI's shape),
  // and an error text naming no refusal, may follow a created task: a submit holds it.
  EXPECT_TRUE(
      classify_error_in_success(200, openai_error_body("upstream connect error"))->from_gateway);
  EXPECT_TRUE(
      classify_error_in_success(200, R"({"error":{"code":504,"message":"upstream connect error"}})")
          ->from_gateway);
  EXPECT_TRUE(
      classify_error_in_success(200, R"({"errors":{"message":"Internal error"}})")->from_gateway);
  EXPECT_FALSE(classify_error_in_success(200, openai_error_body(texts::server_busy))->from_gateway);
  EXPECT_FALSE(classify_error_in_success(200, error_body(401, "bad token", "r"))->from_gateway);
  EXPECT_FALSE(classify_error_in_success(200, openai_error_body(texts::dynamic_rate_limit("m")))
                   ->from_gateway);
  EXPECT_EQ(classify_error_in_success(
                200, R"({"errors":{"code":"DataInspectionFailed","message":"Input data may )"
                     R"(contain inappropriate content."}})")
                ->kind,
            error_class::moderation);
  EXPECT_EQ(classify_error_in_success(200, openai_error_body(texts::server_busy))->kind,
            error_class::server_transport);
  EXPECT_EQ(classify_error_in_success(200, openai_error_body("something else"))->kind,
            error_class::malformed);
  EXPECT_EQ(classify_error_in_success(200, R"({"message":"m","code":"Throttling"})")->code_name,
            "Throttling");
  // Not error envelopes.
  for (const char* body :
       {R"({"task_id":"t","request_id":"r","task_status":"SUCCEED"})", R"({"request_id":"r"})",
        "not json", "", "[]", R"({"status_code":200,"code":"","message":""})"}) {
    EXPECT_FALSE(classify_error_in_success(200, body)) << body;
  }
}

TEST(ErrorCode, NumbersNumericStringsAndNames) {
  EXPECT_EQ(error_code_from_string("422").number, 422);
  EXPECT_EQ(error_code_from_string("422").name, "");
  EXPECT_EQ(error_code_from_string("DataInspectionFailed").number, 0);
  EXPECT_EQ(error_code_from_string("DataInspectionFailed").name, "DataInspectionFailed");
  EXPECT_EQ(error_code_from_string("").name, "");
  auto text = extract_error_text(R"({"errors":{"code":"DataInspectionFailed","message":"m"}})");
  EXPECT_EQ(text.code, 0);
  EXPECT_EQ(text.code_name, "DataInspectionFailed");
  EXPECT_TRUE(text.envelope);
  EXPECT_FALSE(extract_error_text(R"({"message":"m"})").envelope);
  EXPECT_FALSE(extract_error_text("<html>").envelope);
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

TEST(ClassifyTaskFailure, ModerationByTextCodesAndTexts) {
  // Issue 12: the code as text, and 422 as a string, are moderation too.
  for (const char* name :
       {"DataInspectionFailed", "data_inspection_failed", "InternalError.Algo.DataInspectionFailed",
        "IPInfringementSuspect", "datainspectionfailed"}) {
    auto error = classify_task_failure(0, "blocked", "r", name);
    EXPECT_EQ(error.kind, error_class::moderation) << name;
    EXPECT_EQ(error.code_name, name);
  }
  EXPECT_EQ(classify_task_failure(0, "Output data may contain inappropriate content.").kind,
            error_class::moderation);
  EXPECT_EQ(classify_task_failure(500, "Input data may contain Inappropriate Content").kind,
            error_class::moderation);
  // A media download failure is not moderation, whatever its name resembles.
  EXPECT_EQ(classify_task_failure(0, "cannot fetch", "", "InvalidParameter.DataInspection").kind,
            error_class::task_failed);
  EXPECT_EQ(classify_task_failure(0, "m", "", "InternalError").kind, error_class::task_failed);
  EXPECT_TRUE(is_moderation(422, "", ""));
  EXPECT_FALSE(is_moderation(400, "", "bad request"));
}

TEST(ClassifyTaskFailure, RateLimitInsideThePollIsA429) {
  auto dynamic = classify_task_failure(429, texts::dynamic_rate_limit("m"), "r");
  EXPECT_EQ(dynamic.kind, error_class::dynamic_429);
  EXPECT_FALSE(dynamic.unknown_429);
  EXPECT_EQ(classify_task_failure(429, texts::request_limit_exceeded).kind, error_class::quota_429);
  EXPECT_TRUE(classify_task_failure(429, "slow down").unknown_429);
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
  // Issue 12: a long wait comes back as sent (it was silently capped at an hour), so the
  // caller can turn it into a stop; only beyond 30 days is it clamped, and never overflows.
  EXPECT_EQ(parse_retry_after("7200", 0), 7'200'000);
  EXPECT_EQ(parse_retry_after("86400", 0), 86'400'000);
  EXPECT_EQ(parse_retry_after("2592000", 0), max_retry_after_ms);  // exactly 30 days
  EXPECT_EQ(parse_retry_after("2592001", 0), max_retry_after_ms);
  EXPECT_EQ(parse_retry_after("99999999999999", 0), max_retry_after_ms);
  EXPECT_EQ(max_retry_after_ms, 2'592'000'000);
}

TEST(RetryAfter, HttpDate) {
  const std::int64_t date = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 30), 30'000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 100), 0);  // past
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 86400), 86'400'000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 0), max_retry_after_ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 2147483000 08:49:37 GMT", 0), max_retry_after_ms);
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
