#include "fuzz/wire_text.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace zbatch::fuzz {

void expect_same(std::string_view what, const std::string& fast, const std::string& dom,
                 std::string_view input) {
  if (fast == dom) {
    return;
  }
  std::fprintf(stderr, "%.*s: the readers disagree\n  fast: %s\n  dom:  %s\n  input: %.*s\n",
               static_cast<int>(what.size()), what.data(), fast.c_str(), dom.c_str(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

}  // namespace zbatch::fuzz
