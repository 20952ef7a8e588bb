#pragma once
/// A `redis-server` child for tests: shared_limit::local_redis (127.0.0.1, a free port, no
/// persistence, its files in a temp dir, optionally a password), with `start` answering the
/// reason it failed as text (empty when it runs), for `ASSERT_TRUE(why.empty()) << why`. A
/// missing `redis-server` is a failure with a message (scripts/install-deps.sh installs it),
/// never a silent skip. `kill` sends SIGKILL (a crash) and `start` again restarts it on the same
/// port, empty. The destructor kills it.

#include <string>
#include <utility>

#include "shared_limit/local_redis.hpp"

namespace zbatch::test {

using shared_limit::find_redis_server;

inline int free_port() { return shared_limit::free_loopback_port(); }

class redis_server : public shared_limit::local_redis {
 public:
  explicit redis_server(std::string password = {})
      : shared_limit::local_redis(std::move(password)) {}

  /// Empty when it runs and answers PING; else why not.
  std::string start() {
    const auto started = shared_limit::local_redis::start();
    return started.ok() ? std::string() : started.message();
  }
};

}  // namespace zbatch::test
