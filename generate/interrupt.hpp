#pragma once
/// SIGINT handling for `zbatch generate`: the first SIGINT calls `on_first` once, from a watcher
/// thread (never from a signal handler); the second writes `on_second` to stderr and exits
/// the process at once with 130 (`write` and `_exit`, both async-signal-safe). Exiting at once is
/// safe because every file zbatch writes is replaced atomically and the journal tolerates a torn
/// last line.
///
/// How: the constructing thread blocks SIGINT and SIGTERM, so every thread started after it does
/// too, and the watcher reads them from a signalfd; a handler stays installed for threads started
/// before (the shared limit's permit client), which wakes the watcher through a pipe.
///
/// The same signal sent twice by one process within a second counts once: `timeout` signals
/// its command and then the command's process group, which read as a second Ctrl-C and quit
/// without the grace period.
///
/// Lifecycle: one instance at a time, built on the main thread before the batch's threads start;
/// construction blocks the signals and installs the handler (SIGINT, and SIGTERM treated the
/// same), destruction restores the previous handlers and signal mask and joins the watcher.

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
  void watch();  ///< The watcher thread: signals from the signalfd, wake-ups from the pipe.

  std::thread thread_;
  int signal_fd_ = -1;
  sigset_t old_mask_{};
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace zbatch::generate
