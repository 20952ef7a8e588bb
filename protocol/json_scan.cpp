#include "protocol/json_scan.hpp"

namespace zbatch::protocol::json_scan {
namespace {

// JSON's four whitespace bytes, the same set nlohmann's lexer skips.
inline void skip_ws(const char*& p, const char* end) {
  while (p != end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
    ++p;
  }
}

inline bool in(unsigned char c, unsigned char low, unsigned char high) {
  return c >= low && c <= high;
}

/// Skips one multi-byte UTF-8 sequence starting at `p` (a byte >= 0x80). Accepts exactly what
/// nlohmann's lexer accepts (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
bool skip_utf8(const char*& p, const char* end) {
  const auto byte = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p[i]); };
  const auto left = end - p;
  const unsigned char c = byte(0);
  int length = 0;
  bool second_ok = false;
  if (in(c, 0xC2, 0xDF)) {
    length = 2;
    second_ok = left >= 2 && in(byte(1), 0x80, 0xBF);
  } else if (c == 0xE0) {
    length = 3;
    second_ok = left >= 3 && in(byte(1), 0xA0, 0xBF);
  } else if (in(c, 0xE1, 0xEC) || c == 0xEE || c == 0xEF) {
    length = 3;
    second_ok = left >= 3 && in(byte(1), 0x80, 0xBF);
  } else if (c == 0xED) {
    length = 3;
    second_ok = left >= 3 && in(byte(1), 0x80, 0x9F);
  } else if (c == 0xF0) {
    length = 4;
    second_ok = left >= 4 && in(byte(1), 0x90, 0xBF);
  } else if (in(c, 0xF1, 0xF3)) {
    length = 4;
    second_ok = left >= 4 && in(byte(1), 0x80, 0xBF);
  } else if (c == 0xF4) {
    length = 4;
    second_ok = left >= 4 && in(byte(1), 0x80, 0x8F);
  }
  if (!second_ok) {
    return false;
  }
  for (int i = 2; i < length; ++i) {
    if (!in(byte(i), 0x80, 0xBF)) {
      return false;
    }
  }
  p += length;
  return true;
}

/// Reads a string at `p` (on its opening quote). Gives up on escapes and control characters.
bool scan_string(const char*& p, const char* end, const char*& data, std::uint32_t& size) {
  ++p;
  const char* start = p;
  while (p != end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      data = start;
      size = static_cast<std::uint32_t>(p - start);
      ++p;
      return true;
    }
    if (c < 0x20 || c == '\\') {
      return false;
    }
    if (c < 0x80) {
      ++p;
    } else if (!skip_utf8(p, end)) {
      return false;
    }
  }
  return false;  // unterminated
}

/// Reads an integer at `p` ('-' or a digit), or a number with a fraction or exponent (`real`
/// set, no value kept: the success body's `guidanceScale`). Gives up on integers longer than
/// max_integer_digits (nlohmann turns those into floats) and on exponents of more than two digits
/// (nlohmann refuses a float that overflows); "1.", ".5", "1e" are invalid JSON and fail.
bool scan_number(const char*& p, const char* end, std::int64_t& value, bool& real) {
  real = false;
  const bool negative = *p == '-';
  if (negative) {
    ++p;
  }
  if (p == end || *p < '0' || *p > '9') {
    return false;
  }
  std::int64_t magnitude = 0;
  if (*p == '0') {
    ++p;  // a leading zero stands alone; "01" then fails on the '1' as nlohmann's parser does
  } else {
    int digits = 0;
    while (p != end && *p >= '0' && *p <= '9') {
      if (++digits > document::max_integer_digits) {
        return false;
      }
      magnitude = magnitude * 10 + (*p - '0');
      ++p;
    }
  }
  const auto digits = [&]() {
    const char* first = p;
    while (p != end && *p >= '0' && *p <= '9') {
      ++p;
    }
    return p - first;
  };
  if (p != end && *p == '.') {
    ++p;
    real = true;
    if (digits() == 0) {
      return false;
    }
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    ++p;
    real = true;
    if (p != end && (*p == '+' || *p == '-')) {
      ++p;
    }
    const auto exponent = digits();
    if (exponent == 0 || exponent > 2) {
      return false;
    }
  }
  value = real ? 0 : (negative ? -magnitude : magnitude);
  return true;
}

bool scan_literal(const char*& p, const char* end, std::string_view word) {
  if (static_cast<std::size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
    return false;
  }
  p += word.size();
  return true;
}

}  // namespace

bool document::parse(std::string_view text) noexcept {
  count_ = 0;
  has_real_ = false;
  const char* p = text.data();
  const char* end = p + text.size();
  skip_ws(p, end);
  if (p == end || *p != '{') {
    return false;
  }
  if (!parse_value(p, end, 1, {})) {
    return false;
  }
  skip_ws(p, end);
  return p == end;
}

bool document::parse_value(const char*& p, const char* end, int depth,
                           std::string_view key) noexcept {
  // `p` is on the value's first byte (the caller skipped whitespace and checked p != end).
  if (count_ == max_nodes) {
    return false;
  }
  const std::uint16_t index = count_++;
  node& n = nodes_[index];
  n.size = 0;
  n.key_data = key.data();
  n.key_size = static_cast<std::uint32_t>(key.size());
  n.text_data = nullptr;
  n.text_size = 0;
  n.number = 0;
  switch (*p) {
    case '{':
    case '[': {
      if (depth > max_depth) {
        return false;
      }
      const bool object = *p == '{';
      const char close = object ? '}' : ']';
      n.type = object ? kind::object : kind::array;
      ++p;
      skip_ws(p, end);
      if (p != end && *p == close) {
        ++p;
        n.end = count_;
        return true;
      }
      while (true) {
        std::string_view member;
        if (object) {
          const char* data = nullptr;
          std::uint32_t size = 0;
          if (p == end || *p != '"' || !scan_string(p, end, data, size)) {
            return false;
          }
          member = std::string_view(data, size);
          // Duplicate keys: nlohmann keeps the last one; rather than mimic that, give up.
          for (std::uint16_t j = index + 1; j < count_; j = nodes_[j].end) {
            if (nodes_[j].key() == member) {
              return false;
            }
          }
          skip_ws(p, end);
          if (p == end || *p != ':') {
            return false;
          }
          ++p;
          skip_ws(p, end);
        }
        if (p == end || !parse_value(p, end, depth + 1, member)) {
          return false;
        }
        ++n.size;  // bounded by max_nodes, so no overflow
        skip_ws(p, end);
        if (p == end) {
          return false;
        }
        if (*p == ',') {
          ++p;
          skip_ws(p, end);
          continue;
        }
        if (*p != close) {
          return false;
        }
        ++p;
        n.end = count_;
        return true;
      }
    }
    case '"': {
      n.type = kind::string;
      n.end = count_;
      return scan_string(p, end, n.text_data, n.text_size);
    }
    case 't':
      n.type = kind::boolean;
      n.number = 1;
      n.end = count_;
      return scan_literal(p, end, "true");
    case 'f':
      n.type = kind::boolean;
      n.end = count_;
      return scan_literal(p, end, "false");
    case 'n':
      n.type = kind::null;
      n.end = count_;
      return scan_literal(p, end, "null");
    default:
      if (*p == '-' || (*p >= '0' && *p <= '9')) {
        n.end = count_;
        bool real = false;
        const bool ok = scan_number(p, end, n.number, real);
        n.type = real ? kind::real : kind::integer;
        has_real_ = has_real_ || real;
        return ok;
      }
      return false;
  }
}

const node* document::find(const node& object, std::string_view key) const {
  if (object.type != kind::object) {
    return nullptr;
  }
  for (std::uint16_t j = index_of(object) + 1; j < object.end; j = nodes_[j].end) {
    if (nodes_[j].key() == key) {
      return &nodes_[j];
    }
  }
  return nullptr;
}

document::child_range document::children(const node& container) const {
  const std::uint16_t first = index_of(container) + 1;
  if (container.type != kind::object && container.type != kind::array) {
    return {nodes_, first, first};
  }
  return {nodes_, first, container.end};
}

}  // namespace zbatch::protocol::json_scan
