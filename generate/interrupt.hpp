#pragma once
/// SIGINT handling for `zbatch generate`: the first SIGINT calls `on_first` once, from a watcher
/// thread (never from the signal handler); the second writes `on_second` to stderr and exits
/// the process at once with 130 from the handler itself (`write` and `_exit`, both
/// async-signal-safe). Exiting at once is safe because every file
/// zbatch writes is replaced atomically and the journal tolerates a torn last line.
///
/// Lifecycle: one instance at a time; construction installs the handler (SIGINT, and SIGTERM
/// treated the same), destruction restores the previous handlers and joins the watcher.

#include <functional>
#include <string>
#include <thread>

#include <signal.h>

namespace zbatch::generate {

class sigint_watcher {
 public:
  explicit sigint_watcher(std::function<void()> on_first, std::string on_second = {});
  ~sigint_watcher();
  sigint_watcher(const sigint_watcher&) = delete;
  sigint_watcher& operator=(const sigint_watcher&) = delete;

 private:
  std::function<void()> on_first_;
  std::string on_second_;  ///< Kept alive here: the handler writes its bytes.
  std::thread thread_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace zbatch::generate
