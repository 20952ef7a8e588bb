#include "shared_limit/local_redis.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

extern char** environ;

namespace zbatch::shared_limit {
namespace {

std::filesystem::path make_temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "zbatch-redis-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return {};
  }
  return pattern;
}

/// Spawns `exe config` with stdin/stdout/stderr on /dev/null (its log goes to the file the
/// config names) and none of the caller's other descriptors: a listening socket of the caller's
/// (the mock's) must not live on in the child.
pid_t spawn_server(const std::string& exe, const std::string& config) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd < 3; ++fd) {
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::string exe_arg = exe;
  std::string config_arg = config;
  char* argv[] = {exe_arg.data(), config_arg.data(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ) != 0) {
    pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace

std::string find_redis_server() {
  if (const char* chosen = std::getenv("ZBATCH_REDIS_SERVER"); chosen != nullptr && *chosen) {
    return ::access(chosen, X_OK) == 0 ? std::string(chosen) : std::string();
  }
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    const auto path = std::filesystem::path(dir) / "redis-server";
    if (::access(path.c_str(), X_OK) == 0) {
      return path.string();
    }
  }
  return {};
}

std::string redis_server_missing() {
  const char* chosen = std::getenv("ZBATCH_REDIS_SERVER");
  return chosen != nullptr && *chosen
             ? std::string("ZBATCH_REDIS_SERVER=") + chosen + " is not an executable redis-server"
             : "redis-server is not installed (looked in /usr/bin, /usr/local/bin, /usr/sbin; "
               "scripts/install-deps.sh installs the Debian package redis-server, or set "
               "ZBATCH_REDIS_SERVER to its path)";
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof addr;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

local_redis::local_redis(std::string password)
    : password_(std::move(password)), dir_(make_temp_dir()), port_(free_loopback_port()) {}

local_redis::~local_redis() {
  kill();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string local_redis::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

std::filesystem::path local_redis::password_file() const {
  return password_.empty() ? std::filesystem::path() : dir_ / "password";
}

status local_redis::start() {
  auto why = start_once();
  for (int tries = 0;
       !started_once_ && !why.ok() && why.code() == status_code::unavailable && tries < 3;
       ++tries) {
    port_ = free_loopback_port();
    why = start_once();
  }
  started_once_ = started_once_ || why.ok();
  return why;
}

status local_redis::start_once() {
  const auto exe = find_redis_server();
  if (exe.empty()) {
    return failed_precondition_error(redis_server_missing());
  }
  if (dir_.empty() || port_ == 0) {
    return unavailable_error("no temp dir or no free loopback port for redis-server");
  }
  const auto config = dir_ / "redis.conf";
  {
    std::ofstream out(config);
    out << "bind 127.0.0.1\nport " << port_ << "\nsave \"\"\nappendonly no\ndir " << dir_.string()
        << "\nlogfile " << (dir_ / "redis.log").string()
        << "\ndaemonize no\nprotected-mode yes\ntcp-backlog 4096\nmaxclients 4000\n";
    if (!password_.empty()) {
      out << "requirepass " << password_ << "\n";
      std::ofstream(dir_ / "password") << password_ << "\n";
    }
  }
  pid_ = spawn_server(exe, config.string());
  if (pid_ < 0) {
    return unavailable_error("cannot start " + exe);
  }
  // Bounded poll for PING (the server needs a few milliseconds to listen).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (ping()) {
      return ok_status();
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return unavailable_error("redis-server exited at start on port " + std::to_string(port_) +
                               "; see " + (dir_ / "redis.log").string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill();
  return unavailable_error("redis-server did not answer PING within 10 s on port " +
                           std::to_string(port_));
}

void local_redis::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

bool local_redis::ping() const {
  const timeval timeout{0, 500'000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  bool ok = false;
  if (c != nullptr && c->err == 0) {
    redisSetTimeout(c, timeout);
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

}  // namespace zbatch::shared_limit
