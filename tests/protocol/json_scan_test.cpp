// The flat JSON reader: what it handles, what it reads, and every reason it declines.
#include "protocol/json_scan.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace zbatch::protocol::json_scan {
namespace {

bool handled(std::string_view text) {
  document doc;
  return doc.parse(text);
}

TEST(JsonScan, ReadsThePollShapes) {
  const std::string text =
      R"({"errors":{"code":422,"message":"Output data may contain inappropriate content."},)"
      R"("request_id":"r-1","task_status":"FAILED"})";
  document doc;
  ASSERT_TRUE(doc.parse(text));
  const auto& root = doc.root();
  EXPECT_TRUE(root.is_object());
  EXPECT_EQ(root.size, 3);
  const auto* errors = doc.find(root, "errors");
  ASSERT_NE(errors, nullptr);
  ASSERT_TRUE(errors->is_object());
  const auto* code = doc.find(*errors, "code");
  ASSERT_NE(code, nullptr);
  EXPECT_TRUE(code->is_integer());
  EXPECT_EQ(code->number, 422);
  EXPECT_EQ(doc.find(*errors, "message")->text(), "Output data may contain inappropriate content.");
  EXPECT_EQ(doc.find(root, "request_id")->text(), "r-1");
  EXPECT_EQ(doc.find(root, "task_status")->text(), "FAILED");
  EXPECT_EQ(doc.find(root, "message"), nullptr);  // only top-level members
  EXPECT_EQ(doc.find(*code, "code"), nullptr);    // not an object
  EXPECT_EQ(doc.find(root, "errors")->key(), "errors");

  ASSERT_TRUE(doc.parse(R"({"output_images":["http://h/images/a.png","http://h/images/b.png"],)"
                        R"("request_id":"r","task_id":"t","task_status":"SUCCEED"})"));
  const auto* images = doc.find(doc.root(), "output_images");
  ASSERT_NE(images, nullptr);
  ASSERT_TRUE(images->is_array());
  std::vector<std::string> urls;
  for (const auto& url : doc.children(*images)) {
    EXPECT_TRUE(url.is_string());
    EXPECT_EQ(url.key(), "");
    urls.emplace_back(url.text());
  }
  EXPECT_EQ(urls, (std::vector<std::string>{"http://h/images/a.png", "http://h/images/b.png"}));
  // Siblings after a container are still found (subtree skipping).
  EXPECT_EQ(doc.find(doc.root(), "task_status")->text(), "SUCCEED");

  ASSERT_TRUE(
      doc.parse(R"({"outputs":{},"request_id":"r","task_id":"t","task_status":"RUNNING"})"));
  const auto* outputs = doc.find(doc.root(), "outputs");
  ASSERT_NE(outputs, nullptr);
  EXPECT_TRUE(outputs->is_object());
  EXPECT_EQ(outputs->size, 0);
  EXPECT_FALSE(doc.children(*outputs).begin() != doc.children(*outputs).end());
}

TEST(JsonScan, ReadsScalarsAndWhitespace) {
  document doc;
  ASSERT_TRUE(
      doc.parse(" \t\r\n{ \"a\" : true ,\n\"b\":false,\"c\":null,\"d\":-0,\"e\":-17,"
                "\"f\":0,\"g\":123456789012345678,\"h\":\"\",\"i\":[ ],\"j\":[1, \"x\"],"
                "\"\":\"empty key\"} \n"));
  const auto& root = doc.root();
  EXPECT_EQ(root.size, 11);
  EXPECT_EQ(doc.find(root, "a")->type, kind::boolean);
  EXPECT_EQ(doc.find(root, "a")->number, 1);
  EXPECT_EQ(doc.find(root, "b")->number, 0);
  EXPECT_EQ(doc.find(root, "c")->type, kind::null);
  EXPECT_EQ(doc.find(root, "d")->number, 0);
  EXPECT_EQ(doc.find(root, "e")->number, -17);
  EXPECT_EQ(doc.find(root, "f")->number, 0);
  EXPECT_EQ(doc.find(root, "g")->number, 123456789012345678);
  EXPECT_TRUE(doc.find(root, "h")->is_string());
  EXPECT_EQ(doc.find(root, "h")->text(), "");
  EXPECT_EQ(doc.find(root, "i")->size, 0);
  EXPECT_EQ(doc.find(root, "j")->size, 2);
  EXPECT_EQ(doc.find(root, "")->text(), "empty key");
  EXPECT_EQ(doc.find(root, "zz"), nullptr);
  EXPECT_TRUE(doc.parse("{}"));
  EXPECT_EQ(doc.root().size, 0);
}

TEST(JsonScan, ReadsValidUtf8AsRawBytes) {
  document doc;
  const std::string text = "{\"message\":\"免费使用额度已用完 é \x7f 😀\"}";
  ASSERT_TRUE(doc.parse(text));
  EXPECT_EQ(doc.find(doc.root(), "message")->text(),
            nlohmann::json::parse(text)["message"].get<std::string>());
}

TEST(JsonScan, DeclinesEscapesAndControlCharacters) {
  EXPECT_FALSE(handled(R"({"a":"x\"y"})"));
  EXPECT_FALSE(handled(R"({"a":"\u00e9"})"));
  EXPECT_FALSE(handled(R"({"a":"\n"})"));
  EXPECT_FALSE(handled(R"({"a\/":"x"})"));  // in a key too
  EXPECT_FALSE(handled(std::string("{\"a\":\"x\ny\"}")));
  EXPECT_FALSE(handled(std::string("{\"a\":\"x\ty\"}")));
  EXPECT_FALSE(handled(std::string("{\"a\":\"x\0y\"}", 10)));
}

TEST(JsonScan, DeclinesInvalidUtf8) {
  for (const char* bad :
       {"\x80", "\xC0\xAF", "\xC1\xBF", "\xC3", "\xC3(", "\xE0\x80\xAF", "\xED\xA0\x80",
        "\xF0\x80\x80\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xE4\xB8"}) {
    const std::string text = std::string("{\"a\":\"") + bad + "\"}";
    EXPECT_FALSE(handled(text)) << text;
    // nlohmann refuses them too: the fast path must never accept what the DOM rejects.
    EXPECT_TRUE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
  }
  EXPECT_FALSE(handled("{\"a\xFF\":1}"));
  // Outside strings any non-ASCII byte is simply not JSON.
  EXPECT_FALSE(handled("{\"a\":1\xC2\xA0}"));
}

TEST(JsonScan, DeclinesNumbersItDoesNotRead) {
  for (const char* number : {"1234567890123456789", "-", "01", "-01", "+1", ".5", "1.", "1e", "1e+",
                             "1.e3", "1e400", "0x10", "Infinity", "NaN", "--1"}) {
    EXPECT_FALSE(handled(std::string("{\"code\":") + number + "}")) << number;
  }
}

TEST(JsonScan, ReadsRealsAsRealsWithoutTheirValue) {
  // The success body's input.guidanceScale (protocol doc, "What newer public material adds").
  for (const char* number : {"1.0", "1e3", "1E3", "-0.0", "0.5", "2.5e-3", "1E+10"}) {
    const std::string text = std::string("{\"g\":") + number + "}";  // the document views it
    protocol::json_scan::document doc;
    ASSERT_TRUE(doc.parse(text)) << number;
    EXPECT_EQ(doc.find(doc.root(), "g")->type, protocol::json_scan::kind::real) << number;
    EXPECT_FALSE(doc.find(doc.root(), "g")->is_integer()) << number;
    EXPECT_TRUE(doc.has_real());
    EXPECT_FALSE(nlohmann::json::parse(std::string("{\"g\":") + number + "}", nullptr, false)
                     .is_discarded());
  }
  protocol::json_scan::document doc;
  ASSERT_TRUE(doc.parse(R"({"g":2})"));
  EXPECT_FALSE(doc.has_real());
}

TEST(JsonScan, DeclinesDuplicateKeys) {
  EXPECT_FALSE(handled(R"({"a":1,"a":2})"));
  EXPECT_FALSE(handled(R"({"a":1,"b":{"c":1,"c":1}})"));
  EXPECT_FALSE(handled(R"({"a":{"x":1},"b":2,"a":3})"));
  EXPECT_TRUE(handled(R"({"a":{"a":1},"b":{"a":2}})"));  // the same name in different objects
}

TEST(JsonScan, DeclinesNonObjectsAndGarbage) {
  const std::vector<std::string> inputs{"",
                                        " ",
                                        "[]",
                                        "\"x\"",
                                        "1",
                                        "null",
                                        "true",
                                        "{} {}",
                                        "{}x",
                                        "{},",
                                        "{",
                                        "}",
                                        "{\"a\"}",
                                        "{\"a\":}",
                                        "{\"a\":1,}",
                                        "{,}",
                                        "[1,]",
                                        "{\"a\":[1,]}",
                                        "{\"a\" 1}",
                                        "{\"a\":1 \"b\":2}",
                                        "{a:1}",
                                        "{'a':1}",
                                        "{\"a\":tru}",
                                        "{\"a\":truex}",
                                        "{\"a\":nul}",
                                        "{\"a\":False}",
                                        "{\"a\":\"x}",
                                        "{\"a\":[1}",
                                        "{\"a\":{}",
                                        "{\"a\":1]",
                                        "{\"a\":[1}]",
                                        "\xEF\xBB\xBF{}",
                                        std::string("{}\0", 3),
                                        "{\"a\":1}/*c*/",
                                        "{\"a\":/*c*/1}"};
  for (const auto& input : inputs) {
    EXPECT_FALSE(handled(input)) << input;
  }
  // Whitespace JSON does not know.
  EXPECT_FALSE(handled("\v{}"));
  EXPECT_FALSE(handled("{}\f"));
}

TEST(JsonScan, DeclinesDeepNestingAndTooManyValues) {
  EXPECT_TRUE(handled(R"({"a":{"b":[]}})"));     // depth 3
  EXPECT_FALSE(handled(R"({"a":{"b":[[]]}})"));  // depth 4
  EXPECT_FALSE(handled(R"({"a":[{"b":{}}]})"));
  std::string many = "{\"a\":[";
  for (int i = 0; i < document::max_nodes - 2; ++i) {
    many += i == 0 ? "0" : ",0";
  }
  many += "]}";
  EXPECT_TRUE(handled(many));  // root + array + (max - 2) elements = max nodes
  many.insert(many.size() - 2, ",0");
  EXPECT_FALSE(handled(many));
}

TEST(JsonScan, ADocumentIsReusable) {
  document doc;
  ASSERT_TRUE(doc.parse(R"({"a":[1,2,3],"b":"x"})"));
  ASSERT_FALSE(doc.parse(R"({"a":1,"a":2})"));
  ASSERT_TRUE(doc.parse(R"({"c":"y"})"));
  EXPECT_EQ(doc.root().size, 1);
  EXPECT_EQ(doc.find(doc.root(), "a"), nullptr);
  EXPECT_EQ(doc.find(doc.root(), "c")->text(), "y");
}

}  // namespace
}  // namespace zbatch::protocol::json_scan
