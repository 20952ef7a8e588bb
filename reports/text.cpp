#include "reports/text.hpp"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace zbatch::reports {

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0 at all.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string markdown_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '|':
      case '\\':
      case '`':
      case '*':
      case '_':
      case '<':
      case '>':
      case '[':
      case ']':
        out += '\\';
        out += c;
        break;
      case '\n':
      case '\r':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) {
    return text;
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') {
      out += "\"\"";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) {
    return value > 0 ? "inf" : (value < 0 ? "-inf" : "nan");
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  std::string out = buffer;
  if (out == "-0" || out.rfind("-0.", 0) == 0) {
    // Drop the sign of a value that rounds to zero ("-0.0" reads as a bug).
    bool all_zero = out.find_first_not_of("-0.") == std::string::npos;
    if (all_zero) {
      out.erase(0, 1);
    }
  }
  return out;
}

std::string format_decimal(double value, int decimals) {
  std::string out = format_fixed(value, decimals);
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') {
      out.pop_back();
    }
    if (!out.empty() && out.back() == '.') {
      out.pop_back();
    }
  }
  return out;
}

std::string format_seconds(std::optional<double> ms) {
  if (!ms) {
    return "n/a";
  }
  return format_fixed(*ms / 1000.0, 1) + " s";
}

std::string format_percent(std::optional<double> ratio) {
  if (!ratio) {
    return "n/a";
  }
  return format_decimal(*ratio * 100.0, 1) + "%";
}

std::string format_exact(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  return nlohmann::json(value).dump();
}

}  // namespace zbatch::reports
