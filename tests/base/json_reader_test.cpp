// The JSON reader: one wording per kind of mistake, each naming the origin, the JSON path and
// what is allowed; optional fields keep their defaults; unknown fields are caught.
#include "base/json_reader.hpp"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace zbatch::base {
namespace {

using nlohmann::json;

/// What reading `text` with `body` raised, or "(no error)".
template <class Body>
std::string error_of(const std::string& text, Body body) {
  const json document = json::parse(text);
  json_reader reader(document, "f.json");
  try {
    body(reader);
  } catch (const status_error& e) {
    EXPECT_EQ(e.status().code(), status_code::invalid_argument);
    return e.what();
  }
  return "(no error)";
}

TEST(json_reader, values_are_read_with_their_paths) {
  const json document = json::parse(R"({"a": {"n": 3, "x": [1.5, "s"]}, "b": true})");
  json_reader root(document, "f.json");
  auto a = root.field("a");
  EXPECT_EQ(a.path(), "a");
  EXPECT_EQ(a.field("n").integer(0, 5), 3);
  EXPECT_EQ(a.field("x").array("items"), 2u);
  EXPECT_EQ(a.field("x").element(0).number(0, 2), 1.5);
  EXPECT_EQ(a.field("x").element(1).path(), "a.x[1]");
  EXPECT_EQ(a.field("x").element(1).string(), "s");
  EXPECT_TRUE(root.field("b").boolean());
  EXPECT_FALSE(root.has("c"));
}

TEST(json_reader, missing_values_are_required_with_what_is_allowed) {
  EXPECT_EQ(error_of("{}", [](json_reader& r) { r.field("n").integer(1, 9); }),
            "f.json: n: is required: an integer (allowed 1..9)");
  EXPECT_EQ(error_of(R"({"n": null})", [](json_reader& r) { r.field("n").string(); }),
            "f.json: n: is required: a non-empty string");
  EXPECT_EQ(error_of("{}",
                     [](json_reader& r) {
                       r.field("k").one_of({"a", "b"});
                     }),
            "f.json: k: is required: one of \"a\", \"b\"");
}

TEST(json_reader, wrong_types_name_the_expected_type_and_the_value) {
  EXPECT_EQ(error_of(R"({"n": "one"})", [](json_reader& r) { r.field("n").integer(0, 100); }),
            "f.json: n: must be an integer (allowed 0..100), got \"one\"");
  EXPECT_EQ(error_of(R"({"n": 1.5})", [](json_reader& r) { r.field("n").integer(0, 100); }),
            "f.json: n: must be an integer (allowed 0..100), got 1.5");
  EXPECT_EQ(error_of(R"({"b": 1})", [](json_reader& r) { r.field("b").boolean(); }),
            "f.json: b: must be true or false, got 1");
  EXPECT_EQ(error_of(R"({"s": ""})", [](json_reader& r) { r.field("s").string(); }),
            "f.json: s: must be a non-empty string, got \"\"");
  EXPECT_EQ(error_of(R"({"o": [1]})", [](json_reader& r) { r.object("o"); }),
            "f.json: o: must be a JSON object, got [1]");
  EXPECT_EQ(error_of(R"({"l": []})", [](json_reader& r) { r.field("l").array("names", true); }),
            "f.json: l: must be a non-empty array of names, got []");
  EXPECT_EQ(error_of("[1]", [](json_reader& r) { r.expect_object(); }),
            "f.json: (root): must be a JSON object, got [1]");
}

TEST(json_reader, values_of_several_shapes_fail_as_the_typed_getters_do) {
  EXPECT_EQ(error_of(R"({"p": 3})", [](json_reader& r) { r.field("p").fail_expected("a name"); }),
            "f.json: p: must be a name, got 3");
  EXPECT_EQ(error_of("{}", [](json_reader& r) { r.field("p").fail_expected("a name"); }),
            "f.json: p: is required: a name");
}

TEST(json_reader, out_of_range_values_name_the_range) {
  EXPECT_EQ(error_of(R"({"n": 0})", [](json_reader& r) { r.field("n").integer(1, 100000); }),
            "f.json: n: 0 is out of range (allowed 1..100000)");
  EXPECT_EQ(error_of(R"({"p": 1.5})", [](json_reader& r) { r.field("p").number(0, 1); }),
            "f.json: p: 1.5 is out of range (allowed 0..1)");
  EXPECT_EQ(error_of(R"({"p": 2e6})", [](json_reader& r) { r.field("p").number(0.001, 1e6); }),
            "f.json: p: 2000000.0 is out of range (allowed 0.001..1e+06)");
  // Above INT64_MAX: out of range, not wrapped to a negative number.
  EXPECT_EQ(error_of(R"({"n": 18446744073709551615})",
                     [](json_reader& r) { r.field("n").integer(0, 9223372036854775807); }),
            "f.json: n: 18446744073709551615 is out of range (allowed 0..9223372036854775807)");
}

TEST(json_reader, unknown_choices_list_the_allowed_ones) {
  EXPECT_EQ(error_of(R"({"k": "c"})",
                     [](json_reader& r) {
                       r.field("k").one_of({"a", "b"});
                     }),
            "f.json: k: has an unknown value \"c\" (allowed \"a\", \"b\")");
  const json document = json::parse(R"({"k": "b"})");
  EXPECT_EQ(json_reader(document, "f").field("k").one_of({"a", "b"}), 1u);
}

TEST(json_reader, unknown_fields_are_the_keys_nobody_asked_for) {
  const auto body = [](json_reader& r) {
    auto o = r.object("o");
    int n = 0;
    o->read("n", n, 0, 9);
    o->has("m");
    o->reject_unknown_fields();
  };
  EXPECT_EQ(error_of(R"({"o": {"n": 1, "m": null}})", body), "(no error)");
  EXPECT_EQ(error_of(R"({"o": {"n": 1, "nn": 2}})", body),
            "f.json: o.nn: unknown field (allowed m, n)");
}

TEST(json_reader, expected_fields_are_checked_before_anything_is_read) {
  // A misspelt required field reads as unknown, not as missing.
  const auto body = [](json_reader& r) {
    r.expect_fields({"name", "size"});
    r.field("name").string();
  };
  EXPECT_EQ(error_of(R"({"nmae": "x"})", body), "f.json: nmae: unknown field (allowed name, size)");
  EXPECT_EQ(error_of(R"({"name": "x", "size": 1})", body), "(no error)");
  EXPECT_EQ(error_of("3", body), "f.json: (root): must be a JSON object, got 3");
}

TEST(json_reader, optional_fields_keep_their_defaults) {
  const json document = json::parse(R"({"i": 4, "d": null, "k": "b"})");
  json_reader r(document, "f");
  int i = 1;
  double d = 2.5;
  bool b = true;
  std::string k = "a";
  std::optional<double> o;
  double any = 0;
  std::string text = "t";
  r.read("i", i, 0, 9);
  r.read("i", any);
  r.read("s", text);
  r.read("d", d, 0, 9);
  r.read("b", b);
  r.read("k", k, {"a", "b"});
  r.read("o", o, 0, 1);
  EXPECT_EQ(i, 4);
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(k, "b");
  EXPECT_FALSE(o.has_value());
  EXPECT_EQ(any, 4);
  EXPECT_EQ(text, "t");
}

TEST(json_reader, null_is_absent_except_for_number_or_null) {
  const json document = json::parse(R"({"a": null, "b": 2})");
  json_reader r(document, "f");
  EXPECT_FALSE(r.field("a").present());
  EXPECT_TRUE(r.field("a").exists());
  EXPECT_EQ(r.field("a").number_or_null(), std::nullopt);
  EXPECT_EQ(r.field("b").number_or_null(), 2.0);
  EXPECT_EQ(error_of("{}", [](json_reader& x) { x.field("c").number_or_null(); }),
            "f.json: c: is required: a number or null");
}

TEST(json_reader, errors_are_raised_as_a_status) {
  EXPECT_EQ(capture([] {
              const json document = json::object();
              json_reader(document, "f.json").field("n").integer(0, 1);
            }),
            invalid_argument_error("f.json: n: is required: an integer (allowed 0..1)"));
  // Without an origin the message starts at the path.
  EXPECT_EQ(capture([] {
              const json document = json::object();
              json_reader(document, "", "strategies[1]").field("retry").expect_object();
            }).message(),
            "strategies[1].retry: is required: a JSON object");
}

// A new user's check: 99999999999999999999999 read as "must be an integer ... got 9.99e+22",
// and 1e-400 (which reads as 0.0) as "0.0 is out of range".
TEST(json_reader, numbers_beyond_what_a_double_holds_are_out_of_range) {
  EXPECT_EQ(error_of(R"({"n": 99999999999999999999999})",
                     [](json_reader& r) { r.field("n").integer(1, 1000); }),
            "f.json: n: 1e+23 is out of range (allowed 1..1000)");
  EXPECT_EQ(error_of(R"({"n": -99999999999999999999999})",
                     [](json_reader& r) { r.field("n").integer(0, 1000); }),
            "f.json: n: -1e+23 is out of range (allowed 0..1000)");
  EXPECT_EQ(error_of(R"({"t": 1e-400})", [](json_reader& r) { r.field("t").number(0.0001, 10); }),
            "f.json: t: reads as 0 (0, or a number too small to hold), which is out of range "
            "(allowed 0.0001..10)");
  // Where 0 is allowed, an underflow is 0.
  const json zero = json::parse(R"({"t": 1e-400})");
  EXPECT_EQ(json_reader(zero, "f").field("t").number(0, 1), 0.0);
}

// A new user's check: a seed of 2.147483647e9 read as "must be an integer ..., got 2147483647.0".
TEST(json_reader, whole_numbers_written_with_an_exponent_are_integers) {
  const json document = json::parse(R"({"a": 2.147483647e9, "b": 1e3, "c": 3.0, "d": -2E1})");
  json_reader r(document, "f");
  EXPECT_EQ(r.field("a").integer(0, 2147483647), 2147483647);
  EXPECT_EQ(r.field("b").integer(0, 1000), 1000);
  EXPECT_EQ(r.field("c").integer(0, 9), 3);
  EXPECT_EQ(r.field("d").integer(-20, 0), -20);
  EXPECT_EQ(error_of(R"({"n": 1.5e0})", [](json_reader& x) { x.field("n").integer(0, 100); }),
            "f.json: n: must be an integer (allowed 0..100), got 1.5");
  // Out of range with every digit, not as 2.14748e+09.
  EXPECT_EQ(error_of(R"({"n": 2.147483648e9})",
                     [](json_reader& x) { x.field("n").integer(0, 2147483647); }),
            "f.json: n: 2147483648 is out of range (allowed 0..2147483647)");
  // Beyond 2^53 a double skips whole numbers: the one written may have been rounded.
  EXPECT_EQ(error_of(R"({"n": 1e18})",
                     [](json_reader& x) { x.field("n").integer(0, 9223372036854775807); }),
            "f.json: n: 1e+18 is beyond 9007199254740992, where a number written with an "
            "exponent or a fraction part may have been rounded: write its digits");
}

TEST(json_reader, long_values_are_cut_in_messages) {
  const std::string text = R"({"n": ")" + std::string(100, 'x') + R"("})";
  const auto message = error_of(text, [](json_reader& r) { r.field("n").integer(0, 1); });
  EXPECT_EQ(message.size(),
            std::string("f.json: n: must be an integer (allowed 0..1), got ").size() + 63);
  EXPECT_EQ(message.substr(message.size() - 3), "...");
}

TEST(parse_json, a_number_too_large_for_a_double_is_an_error_not_an_exception) {
  // fuzz/scenarios_file's crash: nlohmann throws out_of_range (not parse_error) for 1E131111.
  const auto parsed = parse_json("{\"seed\": 1E131111}", "big.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), status_code::invalid_argument);
  EXPECT_EQ(parsed.status().message(),
            "big.json:1:10: seed: the number 1E131111 is too large (a number goes up to about "
            "1.8e+308)");
}

// A new user's check: 1E400 said neither line nor column, then not the field.
TEST(parse_json, a_number_too_large_names_its_line_column_and_field) {
  EXPECT_EQ(parse_json("{\n  \"version\": 1,\n  \"repetitions\": -1E400\n}\n", "s.json")
                .status()
                .message(),
            "s.json:3:18: repetitions: the number -1E400 is too large (a number goes up to about "
            "1.8e+308)");
  // A line of a JSON-lines file counts its columns on that line.
  EXPECT_EQ(parse_json_line("{\"count\": 1E400}", "b.jsonl", 7).status().message(),
            "b.jsonl:7:11: count: the number 1E400 is too large (a number goes up to about "
            "1.8e+308)");
  // The path as the readers name it: nested objects, array elements, the document itself.
  EXPECT_EQ(
      parse_json(R"({"a": [1, {"b": {"c": [2, 3, 1e999]}}], "d": 1})", "p.json").status().message(),
      "p.json:1:30: a[1].b.c[2]: the number 1e999 is too large (a number goes up to about "
      "1.8e+308)");
  EXPECT_EQ(parse_json("1E400", "r.json").status().message(),
            "r.json:1:1: (root): the number 1E400 is too large (a number goes up to about "
            "1.8e+308)");
  EXPECT_EQ(parse_json_line("{\"a\": }", "b.jsonl", 2).status().message(),
            "b.jsonl:2:7: not valid JSON: unexpected '}' where a value was expected");
}

// nlohmann's parser keeps the last of two equal keys silently: `{"prompt": "a", "prompt": "b"}`
// made image "b" with no word about "a".
TEST(parse_json, a_key_given_twice_in_one_object_names_its_path) {
  EXPECT_EQ(parse_json_line(R"({"prompt": "a fox", "seed": 1, "prompt": "a cat"})", "b.jsonl", 4)
                .status()
                .message(),
            "b.jsonl:4: prompt: is given twice (each key of an object once: which was meant?)");
  EXPECT_EQ(parse_json(
                R"({"workload": {"batches": 1}, "x": [{"a": 1}, {"a": 2, "b": {"c": 1, "c": 2}}]})",
                "s.json")
                .status()
                .message(),
            "s.json: x[1].b.c: is given twice (each key of an object once: which was meant?)");
  // Equal keys in different objects are fine.
  EXPECT_TRUE(parse_json(R"({"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 3}, {"k": 4}]})", "s").ok());
}

// New users' checks: a byte that is not UTF-8 was echoed raw under "text needs double quotes",
// and an unescaped control character read the same.
TEST(parse_json, bad_bytes_in_a_string_say_what_is_wrong_without_echoing_them) {
  const std::string utf8 =
      std::string(parse_json_line("{\"prompt\":\"a\xff\xfe\"}", "b.jsonl", 2).status().message());
  EXPECT_NE(utf8.find("b.jsonl:2:"), std::string::npos) << utf8;
  EXPECT_NE(utf8.find("a byte that is not UTF-8 inside a string (the file must be UTF-8 text)"),
            std::string::npos)
      << utf8;
  EXPECT_EQ(utf8.find('\xff'), std::string::npos) << "never the byte itself";
  const std::string control =
      std::string(parse_json(std::string("{\"p\":\"a\x01\"}"), "c.json").status().message());
  EXPECT_NE(control.find("invalid text in a string: control character U+0001"), std::string::npos)
      << control;
}

TEST(parse_json, syntax_errors_name_line_and_column) {
  const auto parsed = parse_json("{\n  \"a\": 1,\n  }\n", "my.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), status_code::invalid_argument);
  const std::string what = parsed.status().message();
  // In words, not the JSON library's exception text.
  EXPECT_EQ(what,
            "my.json:3:3: not valid JSON: unexpected '}' where a quoted key was expected (in "
            "an object key)");
  EXPECT_FALSE(parse_json("", "x").ok());
  EXPECT_EQ((*parse_json("[1]", "x"))[0], 1);
}

TEST(read_json_file, reads_a_file_or_names_it) {
  EXPECT_EQ(
      read_json_file("/nonexistent/zbatch.json").status(),
      not_found_error("/nonexistent/zbatch.json: cannot be read (No such file or directory)"));
  // A directory opens as a stream on Linux: named as what it is (a new user's check: the
  // message gave no reason).
  EXPECT_EQ(
      read_json_file(std::filesystem::temp_directory_path()).status().message(),
      std::filesystem::temp_directory_path().string() + ": cannot be read (it is a directory)");
  const auto file = std::filesystem::temp_directory_path() / "zbatch_json_reader_test.json";
  std::ofstream(file) << R"({"a": [1, 2]})";
  EXPECT_EQ((*read_json_file(file))["a"][1], 2);
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace zbatch::base
