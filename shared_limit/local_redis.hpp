#pragma once
/// A `redis-server` child process on 127.0.0.1 for the shared limit of several clients that one
/// program runs itself (the scenario runner's http mode with `clients`, the tests): a free port
/// (found by binding a socket: Redis has no `--port 0`), no persistence (`save ""`, `appendonly
/// no`), its config, log and an optional password file in a temp dir of its own (the password in
/// the config file, never on the command line). A missing `redis-server` is an error with a
/// message (scripts/install-deps.sh installs the Debian package), never a silent skip.
///
/// Lifetime: `start` spawns it and waits for PING in a bounded poll (10 s); `kill` sends SIGKILL
/// (a crash, as the tests want it; nothing is persisted, so it loses nothing else) and reaps it;
/// `start` again restarts it on the same port, empty. The destructor kills it and removes the
/// temp dir. Threading: one owner thread.

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "base/status.hpp"

namespace zbatch::shared_limit {

/// The path of `redis-server`: ZBATCH_REDIS_SERVER when set (a build of its own, or a test
/// naming a path that does not exist), else the first of /usr/bin, /usr/local/bin and /usr/sbin
/// that has one; empty when that is not an executable file.
std::string find_redis_server();

/// What to say when find_redis_server() is empty: where it looked and how to install it.
std::string redis_server_missing();

/// A TCP port free on 127.0.0.1 right now (another process may take it before it is used).
int free_loopback_port();

class local_redis {
 public:
  /// `password`: empty for none; else Redis requires it (`requirepass`) and `password_file()`
  /// holds it.
  explicit local_redis(std::string password = {});
  ~local_redis();
  local_redis(const local_redis&) = delete;
  local_redis& operator=(const local_redis&) = delete;

  /// Runs the server until it answers PING. failed_precondition when there is no `redis-server`
  /// (redis_server_missing()); unavailable when it exits at start or does not answer within 10 s
  /// (the message names its log). The first start tries another free port (up to 3 more) when the
  /// one found was taken meanwhile; a restart keeps its port.
  status start();
  /// SIGKILL and reap (nothing when it does not run).
  void kill();
  /// Whether it answers PING now (one connection, 500 ms timeout).
  bool ping() const;

  int port() const { return port_; }
  /// `redis://127.0.0.1:PORT` (no password: that goes through `password_file`).
  std::string url() const;
  const std::filesystem::path& dir() const { return dir_; }
  /// The file holding the password (first line), as `--shared-limit-password-file` reads it;
  /// empty without a password.
  std::filesystem::path password_file() const;

 private:
  status start_once();

  std::string password_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool started_once_ = false;
};

}  // namespace zbatch::shared_limit
