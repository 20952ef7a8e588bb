// Header lists, URL parsing, loopback detection and key redaction.
#include "protocol/wire.hpp"

#include <string>

#include <gtest/gtest.h>

namespace zbatch::protocol {
namespace {

TEST(HeaderList, CaseInsensitiveSetAddGet) {
  header_list headers;
  headers.add("X-Thing", "1");
  headers.add("x-thing", "2");
  EXPECT_EQ(headers.get("X-THING"), "1");
  EXPECT_EQ(headers.fields().size(), 2u);
  headers.set("X-Thing", "3");
  EXPECT_EQ(headers.fields().size(), 1u);
  EXPECT_EQ(headers.get("x-thing"), "3");
  EXPECT_FALSE(headers.has("Authorization"));
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_FALSE(iequals("Content-Type", "content-typ"));
}

TEST(ParseUrl, AbsoluteHttpAndHttps) {
  auto url = parse_url("http://127.0.0.1:8080/v1/tasks/x?y=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/v1/tasks/x?y=1");
  EXPECT_EQ(url->origin(), "http://127.0.0.1:8080");

  url = parse_url("HTTPS://api-inference.modelscope.cn");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/");
  EXPECT_EQ(url->origin(), "https://api-inference.modelscope.cn");

  url = parse_url("http://example.com?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->origin(), "http://example.com");
}

TEST(ParseUrl, Ipv6) {
  auto url = parse_url("http://[::1]:9000/images/a.png");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->target, "/images/a.png");
}

TEST(ParseUrl, RejectsWithAReason) {
  for (const char* bad : {"example.com", "ftp://example.com/", "http://user:pw@example.com/",
                          "http://host:0/", "http://host:70000/", "http://host:abc/", "http://:80/",
                          "http:///x", "http://[::1/", "http://host:/"}) {
    std::string why;
    EXPECT_EQ(parse_url(bad, &why), std::nullopt) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Loopback, OnlyRealLoopbackAddresses) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "LocalHost", "::1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"128.0.0.1", "example.com", "127.evil.example", "127.0.0.1.nip.io",
                           "0.0.0.0", "localhost.example", "", "1.127.0.0"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(Redact, EveryOccurrenceAndNothingElse) {
  EXPECT_EQ(redact("Bearer ms-secret and ms-secret", "ms-secret"),
            "Bearer [REDACTED] and [REDACTED]");
  EXPECT_EQ(redact("nothing here", "ms-secret"), "nothing here");
  EXPECT_EQ(redact("keep", ""), "keep");
  // A secret that occurs inside the replacement text does not loop forever.
  EXPECT_EQ(redact("RED RED", "RED"), "[REDACTED] [REDACTED]");
}

}  // namespace
}  // namespace zbatch::protocol
