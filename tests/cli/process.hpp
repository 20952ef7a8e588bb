#pragma once
/// A `zbatch` child process for end-to-end tests: started with posix_spawn (stdout and stderr
/// to files), waited for, or signalled (SIGINT, SIGKILL) while it runs. The environment is the
/// test's own minus MODELSCOPE_API_KEY, plus the given key when non-empty.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/client/temp_dir.hpp"

extern char** environ;

namespace zbatch::test {

inline std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Polls `condition` until it holds or `limit` passes (a bounded wait on a condition; the 2 ms
/// pause only keeps the loop from spinning a core). Returns whether it held.
inline bool wait_for(const std::function<bool()>& condition,
                     std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

class child {
 public:
  child(const std::string& exe, const std::vector<std::string>& args,
        const std::filesystem::path& io_dir, const std::string& key = {})
      : out_(io_dir / "stdout"), err_(io_dir / "stderr") {
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("MODELSCOPE_API_KEY=", 0) != 0) {
        env_store.emplace_back(*e);
      }
    }
    if (!key.empty()) {
      env_store.push_back("MODELSCOPE_API_KEY=" + key);
    }
    std::vector<char*> env;
    for (auto& entry : env_store) {
      env.push_back(entry.data());
    }
    env.push_back(nullptr);
    std::vector<std::string> argv_store{exe};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_store) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), env.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~child() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  bool started() const { return pid_ > 0; }
  void signal(int sig) { ::kill(pid_, sig); }
  /// The signal sent by another process (`kill`), as a user's second request is: a signal sent
  /// twice by one process within a second counts once (generate/interrupt.hpp).
  bool signal_from_another_process(int sig) {
    const std::string command = "kill -" + std::to_string(sig) + " " + std::to_string(pid_);
    return std::system(command.c_str()) == 0;
  }
  /// Exit code, or 128 + signal number.
  int wait() {
    if (waited_) {
      return code_;
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return code_;
  }
  std::string out() const { return read_all(out_); }
  std::string err() const { return read_all(err_); }

 private:
  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
  bool waited_ = false;
  int code_ = -1;
};

/// What a finished run printed and returned; exit_code -1 when it could not start.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `exe` with `args` to its end in a temporary io directory; `key` as in `child`.
inline run_result run_to_end(const std::string& exe, const std::vector<std::string>& args,
                             const std::string& key = {}) {
  temp_dir io;
  child process(exe, args, io.path(), key);
  run_result result;
  if (process.started()) {
    result.exit_code = process.wait();
    result.out = process.out();
    result.err = process.err();
  }
  return result;
}

}  // namespace zbatch::test
