#include "protocol/wire.hpp"

#include <algorithm>
#include <cctype>

namespace zbatch::protocol {

namespace {

/// ASCII only, as HTTP field names and tokens are (and std::tolower's locale lookup is slow).
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

void header_list::set(std::string name, std::string value) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&](const auto& field) { return iequals(field.first, name); }),
                fields_.end());
  fields_.emplace_back(std::move(name), std::move(value));
}

void header_list::add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

const std::string* header_list::find(std::string_view name) const {
  for (const auto& [key, value] : fields_) {
    if (iequals(key, name)) {
      return &value;
    }
  }
  return nullptr;
}

std::optional<std::string> header_list::get(std::string_view name) const {
  const auto* value = find(name);
  return value != nullptr ? std::optional<std::string>(*value) : std::nullopt;
}

std::string parsed_url::origin() const {
  std::string out = scheme + "://" + host;
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (!default_port) {
    out += ":" + std::to_string(port);
  }
  return out;
}

std::optional<parsed_url> parse_url(std::string_view url, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<parsed_url> {
    if (error != nullptr) {
      *error = why;
    }
    return std::nullopt;
  };
  parsed_url out;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("expected an absolute URL starting with http:// or https://");
  }
  out.scheme = std::string(url.substr(0, scheme_end));
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.scheme != "http" && out.scheme != "https") {
    return fail("the scheme must be http or https");
  }
  auto rest = url.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?");
  auto authority = rest.substr(0, path_start);
  out.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (!out.target.empty() && out.target.front() == '?') {
    out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail("credentials in the URL are not supported");
  }
  out.port = out.scheme == "https" ? 443 : 80;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail("unterminated IPv6 address");
    }
    out.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() != ':') {
      return fail("unexpected text after the IPv6 address");
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (!authority.empty()) {  // ":port"
    const auto digits = authority.substr(1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return fail("the port must be a number from 1 to 65535");
    }
    out.port = std::stoi(std::string(digits));
    if (out.port < 1 || out.port > 65535) {
      return fail("the port must be a number from 1 to 65535");
    }
  }
  if (out.host.empty()) {
    return fail("the URL has no host");
  }
  return out;
}

namespace {

/// True for a dotted-quad IPv4 literal (four decimal parts 0..255), nothing else.
bool is_ipv4_literal(std::string_view host) {
  int parts = 0;
  while (true) {
    const auto dot = host.find('.');
    const auto part = host.substr(0, dot);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
        std::stoi(std::string(part)) > 255) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) {
      return parts == 4;
    }
    host = host.substr(dot + 1);
  }
}

}  // namespace

std::string encode_path_segment(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
        (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0x0F];
    }
  }
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  const char lower = ascii_lower(c);
  return lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : -1;
}

}  // namespace

std::string decode_percent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool is_loopback_host(std::string_view host) {
  // "127.example.com" is a DNS name anyone can point anywhere: only the literal counts.
  return iequals(host, "localhost") || host == "::1" ||
         (host.substr(0, 4) == "127." && is_ipv4_literal(host));
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) {
    return text;
  }
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "[REDACTED]");
    pos += 10;
  }
  return text;
}

}  // namespace zbatch::protocol
