// sha256_hex and write_file_atomic.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <gtest/gtest.h>

#include "client/atomic_file.hpp"
#include "client/digest.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch::client {
namespace {

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(sha256_hex(std::string("\0\1", 2)).size(), 64u);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(AtomicFile, WritesReplacesAndLeavesNoTemporaries) {
  test::temp_dir dir;
  const auto path = dir.path() / "manifest.json";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_all(path), "first");
  write_file_atomic(path, std::string("se\0cond", 7));
  EXPECT_EQ(read_all(path), std::string("se\0cond", 7));
  write_file_atomic(path, "");
  EXPECT_EQ(read_all(path), "");
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "manifest.json");
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, FailureNamesThePath) {
  test::temp_dir dir;
  const auto path = dir.path() / "missing-dir" / "x.png";
  try {
    write_file_atomic(path, "x");
    FAIL() << "expected an error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing-dir"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace zbatch::client
