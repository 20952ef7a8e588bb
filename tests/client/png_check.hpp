#pragma once
/// An independent PNG reader for tests: checks what a decoder would, without trusting the mock's
/// encoder (signature, chunk layout, every CRC, IHDR, IDAT inflating to the right length).

#include <string>
#include <string_view>

namespace zbatch::test {

struct png_info {
  bool ok = false;
  std::string problem;  ///< What was wrong when !ok.
  int width = 0;
  int height = 0;
  int chunks = 0;
};

png_info check_png(std::string_view bytes);

}  // namespace zbatch::test
