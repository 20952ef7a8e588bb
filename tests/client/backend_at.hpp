#pragma once
// An http_backend for a client test against a fake server at `url`, with a dummy key; a failure
// to create it fails the test. Header-only.

#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "client/http_backend.hpp"

namespace zbatch::test {

/// `options` with base URL `url` and key "k"; nullptr (and a test failure) when refused.
inline std::unique_ptr<client::http_backend> backend_at(const std::string& url,
                                                        client::http_options options) {
  options.base_url = url;
  options.api_key = "k";
  auto backend = client::http_backend::create(options);
  EXPECT_TRUE(backend.ok()) << backend.status().message();
  return backend.ok() ? std::move(*backend) : nullptr;
}

}  // namespace zbatch::test
