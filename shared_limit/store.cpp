#include "shared_limit/store.hpp"

#include <openssl/evp.h>

#include <memory>

namespace zbatch::shared_limit {

std::string key_namespace(const std::string& api_key) {
  const std::string input = "zbatch-shared-limit:" + api_key;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), input.data(), input.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    length = 0;  // cannot happen with a working libcrypto; still never the key itself
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "zbatch:";
  for (unsigned int i = 0; i < length && i < 8; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace zbatch::shared_limit
