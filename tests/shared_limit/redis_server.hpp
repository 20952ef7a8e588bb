#pragma once
/// A `redis-server` child for tests: 127.0.0.1, a free port (found by binding a socket: Redis has
/// no `--port 0`), no persistence (`save ""`, `appendonly no`), its files in a temp dir,
/// optionally a password (in the config file, not on the command line). `start` waits for PING
/// in a bounded poll; `kill` sends SIGKILL (a crash) and `start` again restarts it on the same
/// port, empty. The destructor kills it. A missing `redis-server` is a failure with a message
/// (scripts/install-deps.sh installs it), never a silent skip.

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/client/temp_dir.hpp"

extern char** environ;

namespace zbatch::test {

inline std::string find_redis_server() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    const auto path = std::filesystem::path(dir) / "redis-server";
    if (::access(path.c_str(), X_OK) == 0) {
      return path.string();
    }
  }
  return {};
}

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class redis_server {
 public:
  explicit redis_server(std::string password = {}) : password_(std::move(password)) {
    port_ = free_port();
  }
  ~redis_server() { kill(); }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// Empty when it runs and answers PING; else why not. The first start tries another free port
  /// when the one found was taken meanwhile (tests run in parallel); a restart keeps its port.
  std::string start() {
    std::string why = start_once();
    for (int tries = 0; !started_once_ && !why.empty() && tries < 3; ++tries) {
      port_ = free_port();
      why = start_once();
    }
    started_once_ = started_once_ || why.empty();
    return why;
  }

  std::string start_once() {
    const auto exe = find_redis_server();
    if (exe.empty()) {
      return "redis-server is not installed (run scripts/install-deps.sh, which installs the "
             "Debian package redis-server)";
    }
    const auto config = dir_.path() / "redis.conf";
    {
      std::ofstream out(config);
      out << "bind 127.0.0.1\nport " << port_ << "\nsave \"\"\nappendonly no\ndir "
          << dir_.path().string() << "\nlogfile " << (dir_.path() / "redis.log").string()
          << "\ndaemonize no\nprotected-mode yes\ntcp-backlog 4096\nmaxclients 4000\n";
      if (!password_.empty()) {
        out << "requirepass " << password_ << "\n";
      }
    }
    std::string exe_arg = exe;
    std::string config_arg = config.string();
    char* argv[] = {exe_arg.data(), config_arg.data(), nullptr};
    if (posix_spawn(&pid_, exe.c_str(), nullptr, nullptr, argv, environ) != 0) {
      pid_ = -1;
      return "cannot start " + exe;
    }
    // Bounded poll for PING (the server needs a few milliseconds to listen).
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
      if (ping()) {
        return {};
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "redis-server exited at start; see " + (dir_.path() / "redis.log").string();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "redis-server did not answer PING within 10 s on port " + std::to_string(port_);
  }

  /// SIGKILL, as a crash; waits for the process.
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  bool ping() const {
    redisContext* c = redisConnect("127.0.0.1", port_);
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      if (!password_.empty()) {
        freeReplyObject(redisCommand(c, "AUTH %s", password_.c_str()));
      }
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
      freeReplyObject(r);
    }
    redisFree(c);
    return ok;
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  std::string password_;
  temp_dir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool started_once_ = false;
};

}  // namespace zbatch::test
