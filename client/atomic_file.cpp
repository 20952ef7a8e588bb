#include "client/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace zbatch::client {
namespace {

[[noreturn]] void fail(const std::string& step, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), step + " " + path.string());
}

/// Closes the descriptor on every path out of write_file_atomic.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  static std::atomic<unsigned> counter{0};
  const auto directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  auto temp = path;
  temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);

  fd_guard file;
  file.fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file.fd < 0) {
    fail("cannot create", temp);
  }
  const char* data = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const auto written = ::write(file.fd, data, left);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int saved = errno;
      ::unlink(temp.c_str());
      errno = saved;
      fail("cannot write", temp);
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
  if (::fsync(file.fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("cannot fsync", temp);
  }
  ::close(file.fd);
  file.fd = -1;
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("cannot rename into", path);
  }
  // The rename itself is durable only once the directory entry is on disk.
  fd_guard dir;
  dir.fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir.fd < 0 || ::fsync(dir.fd) != 0) {
    fail("cannot fsync directory", directory);
  }
}

}  // namespace zbatch::client
