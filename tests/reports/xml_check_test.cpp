// The well-formedness checker is itself tested: a checker that accepts everything would make the
// HTML and JUnit tests unable to fail.
#include <gtest/gtest.h>

#include "tests/reports/xml_check.hpp"

namespace zbatch::reports::testing {
namespace {

TEST(xml_check, accepts_well_formed_documents) {
  const auto root = parse_xml(
      "<?xml version=\"1.0\"?>\n<!DOCTYPE html>\n<!-- c -->\n<a x=\"1 &amp; 2\" y='&#60;'>"
      "t&lt;<b/><c>d</c><![CDATA[<raw>]]></a>\n");
  EXPECT_EQ(root->name, "a");
  EXPECT_EQ(root->attribute("x"), "1 & 2");
  EXPECT_EQ(root->attribute("y"), "<");
  EXPECT_EQ(root->children.size(), 2u);
  EXPECT_EQ(root->all_text(), "t<<raw>d");
}

TEST(xml_check, rejects_malformed_documents) {
  for (const char* bad : {
           "<a><b></a></b>",        // misnested
           "<a>",                   // not closed
           "<a x=1/>",              // unquoted attribute
           "<a x=\"1\" x=\"2\"/>",  // duplicate attribute
           "<a>1 < 2</a>",          // raw <
           "<a>fish & chips</a>",   // bare &
           "<a>&nbsp;</a>",         // not an XML entity
           "<a x=\"<\"/>",          // < in attribute
           "<a/><b/>",              // two roots
           "<!-- a -- b --><a/>",   // -- in comment
           "<br>",                  // HTML void element without /
           "text",                  // no root
       }) {
    EXPECT_THROW(parse_xml(bad), xml_error) << bad;
  }
}

}  // namespace
}  // namespace zbatch::reports::testing
