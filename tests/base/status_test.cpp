// status and result<T>: OK carries no message, a failure keeps its code and its exact message,
// a result holds a value or its error, and ZBATCH_RETURN_IF_ERROR passes a failure up.
#include "base/status.hpp"

#include <memory>
#include <string>
#include <variant>

#include <gtest/gtest.h>

namespace zbatch {
namespace {

TEST(status, default_is_ok_without_message) {
  const status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), status_code::ok);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_EQ(s, ok_status());
  EXPECT_TRUE(status(status_code::ok, "ignored").message().empty());
}

TEST(status, a_failure_keeps_its_code_and_message_as_written) {
  const auto s = invalid_argument_error("f.json: a.b: must be an integer (allowed 1..3)");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), status_code::invalid_argument);
  EXPECT_EQ(s.message(), "f.json: a.b: must be an integer (allowed 1..3)");
  EXPECT_EQ(s.to_string(), "INVALID_ARGUMENT: f.json: a.b: must be an integer (allowed 1..3)");
  EXPECT_EQ(not_found_error("x").code(), status_code::not_found);
  EXPECT_EQ(failed_precondition_error("x").code(), status_code::failed_precondition);
  EXPECT_EQ(unavailable_error("x").code(), status_code::unavailable);
  EXPECT_EQ(data_loss_error("x").code(), status_code::data_loss);
  EXPECT_EQ(internal_error("x").code(), status_code::internal);
  EXPECT_NE(not_found_error("x"), internal_error("x"));
}

TEST(status, prefixed_adds_in_front_and_leaves_ok_alone) {
  EXPECT_EQ(not_found_error("no such preset").prefixed("--strategy: "),
            not_found_error("--strategy: no such preset"));
  EXPECT_TRUE(ok_status().prefixed("--strategy: ").ok());
  EXPECT_EQ(ok_status().prefixed("--strategy: ").message(), "");
}

result<int> half(int n) {
  if (n % 2 != 0) {
    return invalid_argument_error(std::to_string(n) + " is odd");
  }
  return n / 2;
}

TEST(result, holds_a_value_or_its_status) {
  const auto good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(static_cast<bool>(good));
  EXPECT_EQ(good.value(), 4);
  EXPECT_EQ(*good, 4);
  EXPECT_TRUE(good.status().ok());
  EXPECT_THROW((void)good.error(), std::bad_variant_access);

  const auto bad = half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), invalid_argument_error("3 is odd"));
  EXPECT_EQ(bad.error().message(), "3 is odd");
  EXPECT_THROW((void)bad.value(), std::bad_variant_access);
}

TEST(result, moves_its_value_out_and_reaches_members) {
  result<std::string> text(std::string("abc"));
  EXPECT_EQ(text->size(), 3u);
  text->append("d");
  EXPECT_EQ(std::move(text).value(), "abcd");

  result<std::unique_ptr<int>> owned(std::make_unique<int>(7));
  const std::unique_ptr<int> taken = *std::move(owned);
  EXPECT_EQ(*taken, 7);
}

struct custom_error {
  int code = 0;
};

TEST(result, takes_another_error_type) {
  const result<int, custom_error> bad(custom_error{42});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 42);
  const result<int, custom_error> good(1);
  EXPECT_EQ(*good, 1);
}

status check_even(int n) { return n % 2 == 0 ? ok_status() : invalid_argument_error("odd"); }

result<int> quarter(int n) {
  ZBATCH_RETURN_IF_ERROR(check_even(n));
  return n / 4;
}

TEST(result, return_if_error_passes_the_failure_up) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(3).status(), invalid_argument_error("odd"));
}

int deep(int n) {
  if (n < 0) {
    raise(invalid_argument_error("negative"));
  }
  return n * 2;
}

TEST(capture, turns_a_raised_status_back_into_a_returned_one) {
  EXPECT_EQ(*capture([] { return deep(2); }), 4);
  EXPECT_EQ(capture([] { return deep(-1); }).status(), invalid_argument_error("negative"));
  EXPECT_TRUE(capture([] { deep(1); }).ok());
  EXPECT_EQ(capture([] { deep(-1); }), invalid_argument_error("negative"));
  EXPECT_EQ(*capture([] { return value_or_raise(half(6)); }), 3);
  EXPECT_EQ(capture([] { return value_or_raise(half(5)); }).status(),
            invalid_argument_error("5 is odd"));
}

}  // namespace
}  // namespace zbatch
