#include "base/json_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace zbatch::base {
namespace {

using nlohmann::json;

/// The value as the message quotes it; long values are cut, the message is about where they are.
std::string quote(const json& value) {
  constexpr std::size_t longest = 60;
  std::string text = value.dump();
  if (text.size() > longest) {
    text = text.substr(0, longest) + "...";
  }
  return text;
}

std::string range(std::int64_t low, std::int64_t high) {
  return "allowed " + std::to_string(low) + ".." + std::to_string(high);
}

std::string range(double low, double high) {
  return "allowed " + format_number(low) + ".." + format_number(high);
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "\"" : ", \"") + item + "\"";
  }
  return out;
}

const json& null_value() {
  static const json null;
  return null;
}

}  // namespace

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

namespace {

/// nlohmann's parse error ("[json.exception.parse_error.101] parse error at line 3, column 3:
/// syntax error while parsing object key - unexpected '}'; expected string literal") in words:
/// "unexpected '}' where a quoted key was expected (in an object key)".
std::string plain_parse_error(std::string text) {
  if (const auto pos = text.find(": "); pos != std::string::npos) {
    text = text.substr(pos + 2);
  }
  std::string context;
  const std::string prefix = "syntax error while parsing ";
  if (text.rfind(prefix, 0) == 0) {
    const auto dash = text.find(" - ");
    context = text.substr(prefix.size(), dash == std::string::npos ? 0 : dash - prefix.size());
    text = dash == std::string::npos ? text : text.substr(dash + 3);
  }
  std::string last_read;
  if (const auto pos = text.find("; last read: "); pos != std::string::npos) {
    last_read = text.substr(pos + 13);
    text = text.substr(0, pos);
  }
  std::string out;
  if (text.rfind("unexpected end of input", 0) == 0) {
    out = "the text ends before the JSON does (a truncated file?)";
  } else if (text.find("ill-formed UTF-8") != std::string::npos) {
    // Never the bytes read: they are not text (a new user's check echoed them raw).
    out = "a byte that is not UTF-8 inside a string (the file must be UTF-8 text)";
  } else if (text.rfind("invalid string: ", 0) == 0) {
    // nlohmann says what is wrong ("control character U+0000 (NUL) must be escaped to
    // \u0000", a lone surrogate, ...): more use than "needs double quotes".
    out = "invalid text in a string: " + text.substr(16);
  } else if (text.rfind("invalid literal", 0) == 0 || text.rfind("invalid string", 0) == 0 ||
             text.rfind("invalid number", 0) == 0) {
    out = "unexpected text " + (last_read.empty() ? std::string("here") : last_read) +
          " (text needs double quotes; true, false and null are lowercase)";
  } else if (const auto expected = text.find("; expected "); expected != std::string::npos) {
    std::string wanted = text.substr(expected + 11);
    if (wanted == "string literal") {
      wanted = "a quoted key";
    } else if (wanted == "'[', '{', or a literal") {
      wanted = "a value";
    }
    out = text.substr(0, expected) + " where " + wanted + " was expected";
  } else {
    out = text;
  }
  if (!context.empty() && context != "value") {
    out += " (in " + (context == "value" ? std::string("a value") : "an " + context) + ")";
  }
  return out;
}

}  // namespace

namespace {

/// "LINE:COLUMN" of byte `offset` of `text` (both from 1, as editors show them), the first line
/// being `first_line`.
std::string line_and_column(std::string_view text, std::size_t offset, std::size_t first_line) {
  std::size_t line = first_line;
  std::size_t column = 1;
  const std::size_t end = std::min(offset, text.size());
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

/// A SAX walk that follows the JSON path of what it reads, named as json_reader names it
/// (`a.b[2].c`); the walks below add what they look for.
class path_walk : public nlohmann::json_sax<json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& name) override {
    levels_.back().key = name;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 protected:
  struct level {
    bool object;
    std::string key;             ///< In an object: the last key read.
    std::set<std::string> keys;  ///< In an object: every key read (duplicate_finder).
    std::size_t index = 0;       ///< In an array: the element being read.
  };
  /// The path to the value being read ("" for the root).
  std::string path_here() const {
    std::string path;
    for (const auto& l : levels_) {
      path += l.object ? (path.empty() ? "" : ".") + l.key : "[" + std::to_string(l.index) + "]";
    }
    return path;
  }
  std::vector<level> levels_;

 private:
  bool open(bool object) {
    levels_.push_back({object, {}, {}, 0});
    return true;
  }
  bool close() {
    levels_.pop_back();
    return value();
  }
  /// A value was read: in an array, the next one is the next element.
  bool value() {
    if (!levels_.empty() && !levels_.back().object) {
      ++levels_.back().index;
    }
    return true;
  }
};

/// Finds where the parse of a document fails: nlohmann's DOM parser throws out_of_range for a
/// number too large for a double ("1E400") without saying where it is, while its SAX interface
/// is handed the position and the number's text. It also follows the JSON path, so the message
/// names the field (its range is the component's, unknown before the document is read).
class failure_locator : public path_walk {
 public:
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) override {
    // The position is just past the token; the message points at its start.
    start = position >= last_token.size() ? position - last_token.size() : 0;
    token = last_token;
    path = path_here();
    return false;
  }

  std::size_t start = 0;
  std::string path;   ///< Where the number is, as json_reader names it ("" for the root).
  std::string token;  ///< The number's text as written.
};

/// Finds a key given twice in one object, which nlohmann's parser takes silently (the last
/// wins): in a hand-written input one of the two was a mistake, and nobody can tell which.
class duplicate_finder : public path_walk {
 public:
  bool key(string_t& name) override {
    path_walk::key(name);
    if (!levels_.back().keys.insert(name).second) {
      path = path_here();
      return false;
    }
    return true;
  }

  std::string path;  ///< The key given twice, as json_reader names it; empty: none.
};

/// `document`: the origin as a whole-document error names it ("FILE", "FILE:LINE").
result<json> parse_json_from(std::string_view text, const std::string& origin,
                             std::size_t first_line, const std::string& document) {
  try {
    auto parsed = json::parse(text);
    duplicate_finder duplicates;
    json::sax_parse(text, &duplicates);
    if (!duplicates.path.empty()) {
      return invalid_argument_error(document + ": " + duplicates.path +
                                    ": is given twice (each key of an object once: which was "
                                    "meant?)");
    }
    return parsed;
  } catch (const json::parse_error& e) {
    return invalid_argument_error(origin + ":" +
                                  line_and_column(text, e.byte == 0 ? 0 : e.byte - 1, first_line) +
                                  ": not valid JSON: " + plain_parse_error(e.what()));
  } catch (const json::out_of_range& e) {
    // A number too large for a double ("1E400"): nlohmann reports it as out_of_range 406
    // ("number overflow parsing '1E400'"), with no position. Found by fuzz/scenarios_file.
    failure_locator locator;
    json::sax_parse(text, &locator);
    if (locator.token.empty()) {  // Not a number overflow after all: keep nlohmann's words.
      std::string what = e.what();
      if (const auto bracket = what.find("] "); bracket != std::string::npos) {
        what.erase(0, bracket + 2);
      }
      return invalid_argument_error(origin + ": not valid JSON: " + what);
    }
    return invalid_argument_error(origin + ":" + line_and_column(text, locator.start, first_line) +
                                  ": " + (locator.path.empty() ? "(root)" : locator.path) +
                                  ": the number " + locator.token +
                                  " is too large (a number goes up to about 1.8e+308)");
  }
}

}  // namespace

result<json> parse_json(std::string_view text, const std::string& origin) {
  return parse_json_from(text, origin, 1, origin);
}

result<json> parse_json_line(std::string_view line, const std::string& file,
                             std::size_t line_number) {
  return parse_json_from(line, file, line_number, file + ":" + std::to_string(line_number));
}

result<json> read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    // Why, as the system says it ("No such file or directory", "Permission denied").
    const int why = errno;
    return not_found_error(file.string() + ": cannot be read (" + std::strerror(why) + ")");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    return not_found_error(file.string() + ": cannot be read (it is a directory)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_json(text.str(), file.string());
}

json_reader::json_reader(const json& document, std::string origin, std::string path)
    : node_(&document), origin_(std::move(origin)), path_(std::move(path)) {}

json_reader::json_reader(const json* node, const json_reader& parent, std::string path)
    : node_(node), origin_(parent.origin_), path_(std::move(path)) {}

const json& json_reader::node() const { return node_ != nullptr ? *node_ : null_value(); }

void json_reader::fail(const std::string& problem) const {
  std::string message = origin_.empty() ? std::string() : origin_ + ": ";
  message += (path_.empty() ? "(root)" : path_) + ": " + problem;
  zbatch::raise(invalid_argument_error(message));
}

void json_reader::fail_expected(const std::string& what) const {
  require(what);
  fail("must be " + what + ", got " + quote(*node_));
}

void json_reader::require(const std::string& what) const {
  if (!present()) {
    fail("is required: " + what);
  }
}

json_reader json_reader::field(const std::string& key) {
  if (std::find(asked_.begin(), asked_.end(), key) == asked_.end()) {
    asked_.push_back(key);
  }
  const json* child = nullptr;
  if (node_ != nullptr && node_->is_object()) {
    if (const auto it = node_->find(key); it != node_->end()) {
      child = &*it;
    }
  }
  return json_reader(child, *this, path_.empty() ? key : path_ + "." + key);
}

json_reader json_reader::element(std::size_t index) const {
  const json* child = nullptr;
  if (node_ != nullptr && node_->is_array() && index < node_->size()) {
    child = &(*node_)[index];
  }
  return json_reader(child, *this, path_ + "[" + std::to_string(index) + "]");
}

std::optional<json_reader> json_reader::object(const std::string& key) {
  auto child = field(key);
  if (!child.present()) {
    return std::nullopt;
  }
  child.expect_object();
  return child;
}

void json_reader::reject_unknown_fields() const {
  if (node_ == nullptr || !node_->is_object()) {
    return;
  }
  for (const auto& item : node_->items()) {
    if (std::find(asked_.begin(), asked_.end(), item.key()) == asked_.end()) {
      auto known = asked_;
      std::sort(known.begin(), known.end());
      std::string list;
      for (const auto& key : known) {
        list += (list.empty() ? "" : ", ") + key;
      }
      json_reader(&item.value(), *this, path_.empty() ? item.key() : path_ + "." + item.key())
          .fail("unknown field (allowed " + list + ")");
    }
  }
}

void json_reader::expect_fields(const std::vector<std::string>& allowed) {
  expect_object();
  for (const auto& key : allowed) {
    if (std::find(asked_.begin(), asked_.end(), key) == asked_.end()) {
      asked_.push_back(key);
    }
  }
  reject_unknown_fields();
}

void json_reader::expect_object() const {
  if (!present() || !node_->is_object()) {
    fail_expected("a JSON object");
  }
}

std::size_t json_reader::array(const std::string& what, bool non_empty) const {
  const std::string expected = (non_empty ? "a non-empty array of " : "an array of ") + what;
  if (!present() || !node_->is_array() || (non_empty && node_->empty())) {
    fail_expected(expected);
  }
  return node_->size();
}

namespace {

/// Every whole number up to 2^53 is a double; beyond it doubles skip some, so the one read may
/// not be the one written.
constexpr double exact_whole_limit = 9007199254740992.0;

std::string integer_expected(std::int64_t low, std::int64_t high) {
  return "an integer (" + range(low, high) + ")";
}

/// A whole number as the messages print it: all its digits while a double holds them exactly.
std::string whole_text(double value) {
  return std::abs(value) <= exact_whole_limit ? std::to_string(static_cast<std::int64_t>(value))
                                              : format_number(value);
}

/// A number that reads as a double: written with an exponent or a fraction part (2.147483647e9,
/// 1e3, 3.0), or a whole number beyond 64 bits. A whole value in range is that integer.
std::int64_t whole_double(const json_reader& at, std::int64_t low, std::int64_t high) {
  const auto value = at.node().get<double>();
  if (!std::isfinite(value) || value != std::floor(value)) {
    at.fail_expected(integer_expected(low, high));
  }
  if (value < static_cast<double>(low) || value > static_cast<double>(high)) {
    at.fail(whole_text(value) + " is out of range (" + range(low, high) + ")");
  }
  if (std::abs(value) > exact_whole_limit) {
    at.fail(at.node().dump() + " is beyond 9007199254740992, where a number written with an " +
            "exponent or a fraction part may have been rounded: write its digits");
  }
  return static_cast<std::int64_t>(value);
}

}  // namespace

std::int64_t json_reader::integer(std::int64_t low, std::int64_t high) const {
  if (present() && node_->is_number_float()) {
    return whole_double(*this, low, high);
  }
  if (!present() || !node_->is_number_integer()) {
    fail_expected(integer_expected(low, high));
  }
  // Above INT64_MAX nlohmann holds an unsigned that get<int64_t> would wrap to a negative.
  const bool too_big = node_->is_number_unsigned() &&
                       node_->get<std::uint64_t>() >
                           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const auto value = node_->get<std::int64_t>();
  if (too_big || value < low || value > high) {
    fail(node_->dump() + " is out of range (" + range(low, high) + ")");
  }
  return value;
}

double json_reader::number(double low, double high) const {
  const std::string expected = "a number (" + range(low, high) + ")";
  if (!present() || !node_->is_number()) {
    fail_expected(expected);
  }
  const auto value = node_->get<double>();
  if (value == 0 && node_->is_number_float() && (low > 0 || high < 0)) {
    // 1e-400 reads as 0.0: printing "0.0" would not be the number the user wrote.
    fail("reads as 0 (0, or a number too small to hold), which is out of range (" +
         range(low, high) + ")");
  }
  if (!std::isfinite(value) || value < low || value > high) {
    fail(node_->dump() + " is out of range (" + range(low, high) + ")");
  }
  return value;
}

double json_reader::number() const {
  if (!present() || !node_->is_number()) {
    fail_expected("a number");
  }
  return node_->get<double>();
}

std::optional<double> json_reader::number_or_null() const {
  if (node_ == nullptr) {
    fail("is required: a number or null");
  }
  if (node_->is_null()) {
    return std::nullopt;
  }
  if (!node_->is_number()) {
    fail_expected("a number or null");
  }
  return node_->get<double>();
}

bool json_reader::boolean() const {
  if (!present() || !node_->is_boolean()) {
    fail_expected("true or false");
  }
  return node_->get<bool>();
}

std::string json_reader::string() const {
  if (!present() || !node_->is_string() || node_->get_ref<const std::string&>().empty()) {
    fail_expected("a non-empty string");
  }
  return node_->get<std::string>();
}

std::string json_reader::string_or_empty() const {
  if (!present() || !node_->is_string()) {
    fail_expected("a string");
  }
  return node_->get<std::string>();
}

std::size_t json_reader::one_of(const std::vector<std::string>& allowed) const {
  require("one of " + quoted_list(allowed));
  if (node_->is_string()) {
    const auto& text = node_->get_ref<const std::string&>();
    if (const auto it = std::find(allowed.begin(), allowed.end(), text); it != allowed.end()) {
      return static_cast<std::size_t>(it - allowed.begin());
    }
  }
  fail("has an unknown value " + quote(*node_) + " (allowed " + quoted_list(allowed) + ")");
}

void json_reader::read(const std::string& key, int& out, int low, int high) {
  if (const auto value = field(key); value.present()) {
    out = static_cast<int>(value.integer(low, high));
  }
}

void json_reader::read(const std::string& key, double& out, double low, double high) {
  if (const auto value = field(key); value.present()) {
    out = value.number(low, high);
  }
}

void json_reader::read(const std::string& key, double& out) {
  if (const auto value = field(key); value.present()) {
    out = value.number();
  }
}

void json_reader::read(const std::string& key, std::optional<double>& out, double low,
                       double high) {
  if (const auto value = field(key); value.present()) {
    out = value.number(low, high);
  }
}

void json_reader::read(const std::string& key, bool& out) {
  if (const auto value = field(key); value.present()) {
    out = value.boolean();
  }
}

void json_reader::read(const std::string& key, std::string& out) {
  if (const auto value = field(key); value.present()) {
    out = value.string_or_empty();
  }
}

void json_reader::read(const std::string& key, std::string& out,
                       const std::vector<std::string>& allowed) {
  if (const auto value = field(key); value.present()) {
    out = allowed[value.one_of(allowed)];
  }
}

}  // namespace zbatch::base
