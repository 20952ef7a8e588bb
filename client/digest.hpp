#pragma once
/// SHA-256 of a byte string as lower-case hex (OpenSSL EVP), for manifests and journals.
/// Pure function; thread-safe.

#include <string>
#include <string_view>

namespace zbatch::client {

/// 64 lower-case hex digits. Throws std::runtime_error only if OpenSSL itself fails.
std::string sha256_hex(std::string_view bytes);

}  // namespace zbatch::client
