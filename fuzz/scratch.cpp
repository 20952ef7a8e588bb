#include "fuzz/scratch.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

#include <unistd.h>

namespace zbatch::fuzz {
namespace {

std::filesystem::path make_scratch() {
  std::error_code ec;
  const char* tmpdir = std::getenv("TMPDIR");
  const std::filesystem::path parent =
      std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
          ? std::filesystem::path("/dev/shm")
          : std::filesystem::path(tmpdir != nullptr ? tmpdir : "/tmp");
  std::string pattern = (parent / "zbatch-fuzz-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("zbatch fuzz: mkdtemp");
    std::abort();
  }
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir(), ignored);
  });
  return pattern;
}

}  // namespace

const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = make_scratch();
  return dir;
}

void write_file(const std::filesystem::path& file, std::string_view bytes) {
  std::FILE* out = std::fopen(file.c_str(), "wb");
  if (out == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size() ||
      std::fclose(out) != 0) {
    std::perror(("zbatch fuzz: " + file.string()).c_str());
    std::abort();
  }
}

}  // namespace zbatch::fuzz
