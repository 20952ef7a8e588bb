#pragma once
/// A small strict XML parser for the tests: checks that report.html (kept XHTML-compatible) and
/// junit.xml are well-formed and builds a tree to query. Rejects unbalanced or misnested tags,
/// unquoted or duplicate attributes, a raw '<' or a bare '&' in text or attribute values,
/// unknown entities, "--" inside comments, and anything but one root element.

#include <cctype>
#include <cstddef>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace zbatch::reports::testing {

struct xml_node {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<xml_node>> children;
  std::string text;  ///< Character data directly inside, entities decoded.

  std::string attribute(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? std::string() : it->second;
  }

  /// Every descendant (not this node) for which `match` is true, in document order.
  std::vector<const xml_node*> find_all(const std::function<bool(const xml_node&)>& match) const {
    std::vector<const xml_node*> out;
    for (const auto& child : children) {
      if (match(*child)) {
        out.push_back(child.get());
      }
      auto below = child->find_all(match);
      out.insert(out.end(), below.begin(), below.end());
    }
    return out;
  }

  std::vector<const xml_node*> find_all(const std::string& element) const {
    return find_all([&](const xml_node& n) { return n.name == element; });
  }

  /// The concatenated text of this node and its descendants.
  std::string all_text() const {
    std::string out = text;
    for (const auto& child : children) {
      out += child->all_text();
    }
    return out;
  }
};

class xml_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class xml_parser {
 public:
  explicit xml_parser(const std::string& text) : s_(text) {}

  /// Parses the whole document; throws xml_error with the byte offset of the first problem.
  std::unique_ptr<xml_node> parse() {
    if (starts_with("<?xml")) {
      skip_processing_instruction();
    }
    skip_misc();
    if (starts_with("<!DOCTYPE")) {
      const std::size_t end = s_.find('>', pos_);
      if (end == std::string::npos || s_.find('[', pos_) < end) {
        fail("DOCTYPE without end or with an internal subset");
      }
      pos_ = end + 1;
      skip_misc();
    }
    if (pos_ >= s_.size() || s_[pos_] != '<') {
      fail("no root element");
    }
    auto root = element();
    skip_misc();
    if (pos_ != s_.size()) {
      fail("content after the root element");
    }
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw xml_error("offset " + std::to_string(pos_) + ": " + what + " near \"" +
                    s_.substr(pos_, 40) + "\"");
  }

  bool starts_with(const char* prefix) const {
    return s_.compare(pos_, std::strlen(prefix), prefix) == 0;
  }

  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) {
      ++pos_;
    }
  }

  // Whitespace, comments and processing instructions outside the root.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts_with("<!--")) {
        comment();
      } else if (starts_with("<?")) {
        skip_processing_instruction();
      } else {
        return;
      }
    }
  }

  void skip_processing_instruction() {
    const std::size_t end = s_.find("?>", pos_);
    if (end == std::string::npos) {
      fail("unterminated processing instruction");
    }
    pos_ = end + 2;
  }

  void comment() {
    const std::size_t end = s_.find("-->", pos_ + 4);
    if (end == std::string::npos) {
      fail("unterminated comment");
    }
    if (s_.find("--", pos_ + 4) < end) {
      fail("\"--\" inside a comment");
    }
    pos_ = end + 3;
  }

  static bool name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  }
  static bool name_char(char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  }

  std::string name() {
    if (pos_ >= s_.size() || !name_start(s_[pos_])) {
      fail("a name expected");
    }
    const std::size_t start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  // Decodes one entity or character reference at '&'.
  std::string reference() {
    const std::size_t end = s_.find(';', pos_);
    if (end == std::string::npos || end - pos_ > 12) {
      fail("bare '&' (not an entity reference)");
    }
    const std::string entity = s_.substr(pos_ + 1, end - pos_ - 1);
    std::string out;
    if (entity == "amp") {
      out = "&";
    } else if (entity == "lt") {
      out = "<";
    } else if (entity == "gt") {
      out = ">";
    } else if (entity == "quot") {
      out = "\"";
    } else if (entity == "apos") {
      out = "'";
    } else if (entity.size() > 1 && entity[0] == '#') {
      const bool hex = entity[1] == 'x';
      const std::string digits = entity.substr(hex ? 2 : 1);
      if (digits.empty() || digits.find_first_not_of(hex ? "0123456789abcdefABCDEF"
                                                         : "0123456789") != std::string::npos) {
        fail("bad character reference");
      }
      const unsigned long code = std::stoul(digits, nullptr, hex ? 16 : 10);
      out = code < 0x80 ? std::string(1, static_cast<char>(code)) : std::string("?");
    } else {
      fail("unknown entity &" + entity + ";");
    }
    pos_ = end + 1;
    return out;
  }

  std::unique_ptr<xml_node> element() {
    ++pos_;  // '<'
    auto node = std::make_unique<xml_node>();
    node->name = name();
    for (;;) {
      const std::size_t before = pos_;
      skip_space();
      if (starts_with("/>")) {
        pos_ += 2;
        return node;
      }
      if (starts_with(">")) {
        ++pos_;
        break;
      }
      if (pos_ == before) {
        fail("whitespace expected between attributes");
      }
      const std::string key = name();
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != '=') {
        fail("attribute " + key + " without a value");
      }
      ++pos_;
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
        fail("unquoted value of attribute " + key);
      }
      const char quote = s_[pos_++];
      std::string value;
      while (pos_ < s_.size() && s_[pos_] != quote) {
        if (s_[pos_] == '<') {
          fail("'<' inside attribute " + key);
        }
        if (s_[pos_] == '&') {
          value += reference();
        } else {
          value += s_[pos_++];
        }
      }
      if (pos_ >= s_.size()) {
        fail("unterminated attribute " + key);
      }
      ++pos_;
      if (!node->attributes.emplace(key, value).second) {
        fail("duplicate attribute " + key);
      }
    }
    // Content.
    for (;;) {
      if (pos_ >= s_.size()) {
        fail("element <" + node->name + "> not closed");
      }
      if (starts_with("</")) {
        pos_ += 2;
        const std::string closing = name();
        if (closing != node->name) {
          fail("</" + closing + "> closes <" + node->name + ">");
        }
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '>') {
          fail("'>' expected");
        }
        ++pos_;
        return node;
      }
      if (starts_with("<!--")) {
        comment();
      } else if (starts_with("<![CDATA[")) {
        const std::size_t end = s_.find("]]>", pos_);
        if (end == std::string::npos) {
          fail("unterminated CDATA");
        }
        node->text += s_.substr(pos_ + 9, end - pos_ - 9);
        pos_ = end + 3;
      } else if (starts_with("<?")) {
        skip_processing_instruction();
      } else if (s_[pos_] == '<') {
        node->children.push_back(element());
      } else if (s_[pos_] == '&') {
        node->text += reference();
      } else {
        node->text += s_[pos_++];
      }
    }
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

inline std::unique_ptr<xml_node> parse_xml(const std::string& text) {
  return xml_parser(text).parse();
}

}  // namespace zbatch::reports::testing
