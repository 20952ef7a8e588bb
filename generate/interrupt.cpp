#include "generate/interrupt.hpp"

#include <atomic>
#include <cerrno>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace zbatch::generate {
namespace {

int pipe_fds[2] = {-1, -1};
std::atomic<int> signals_seen{0};
/// The second signal's line (owned by the watcher); set before the handler is installed.
std::atomic<const char*> second_text{nullptr};
std::atomic<std::size_t> second_size{0};

/// The second signal: its line, then exit at once (`write` and `_exit` are async-signal-safe).
[[noreturn]] void exit_on_second() {
  if (const char* text = second_text.load(); text != nullptr) {
    [[maybe_unused]] const auto written = write(STDERR_FILENO, text, second_size.load());
  }
  _exit(130);
}

/// Only for threads started before the watcher (every later one has the signals blocked, so the
/// watcher's signalfd takes them): the first signal wakes the watcher through the pipe.
extern "C" void on_signal(int) {
  if (signals_seen.fetch_add(1) >= 1) {
    exit_on_second();
  }
  const char byte = 'i';
  const int saved = errno;
  [[maybe_unused]] const auto written = write(pipe_fds[1], &byte, 1);
  errno = saved;
}

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

sigint_watcher::sigint_watcher(std::function<void()> on_first, std::string on_second)
    : on_first_(std::move(on_first)), on_second_(std::move(on_second)) {
  second_text = on_second_.empty() ? nullptr : on_second_.c_str();
  second_size = on_second_.size();
  if (pipe(pipe_fds) != 0) {
    throw std::runtime_error("cannot create the signal pipe");
  }
  fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK);
  signals_seen = 0;
  // Blocked in this thread, and so in every thread it starts from now on (the watcher, CAF's):
  // the signals then wait in the signalfd, read by the watcher, instead of interrupting whichever
  // thread the kernel picks. A handler running on a thread stuck in a restarted system call can
  // be held back indefinitely; under ThreadSanitizer, which defers handlers until the thread
  // leaves its current call, a Ctrl-C then took effect only when the batch had finished.
  const sigset_t signals = watched_signals();
  pthread_sigmask(SIG_BLOCK, &signals, &old_mask_);
  signal_fd_ = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    throw std::runtime_error("cannot create the signal fd");
  }
  thread_ = std::thread([this] { watch(); });
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
}

void sigint_watcher::watch() {
  pollfd sources[2] = {{signal_fd_, POLLIN, 0}, {pipe_fds[0], POLLIN, 0}};
  while (true) {
    if (poll(sources, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    signalfd_siginfo info{};
    if ((sources[0].revents & POLLIN) != 0 &&
        read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      if (signals_seen.fetch_add(1) >= 1) {
        exit_on_second();
      }
      on_first_();
    }
    if ((sources[1].revents & POLLIN) != 0) {
      char byte = 0;
      const auto n = read(pipe_fds[0], &byte, 1);
      if (n <= 0 || byte == 'q') {
        return;  // Closed or told to quit.
      }
      on_first_();  // the first signal, taken by a thread started before the watcher
    }
  }
}

sigint_watcher::~sigint_watcher() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  second_text = nullptr;
  const char quit = 'q';
  [[maybe_unused]] const auto written = write(pipe_fds[1], &quit, 1);
  thread_.join();
  close(signal_fd_);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  pipe_fds[0] = pipe_fds[1] = -1;
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace zbatch::generate
