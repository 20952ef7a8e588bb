#include "generate/interrupt.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
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

/// The first signal's sender and time: `timeout` signals its command and then the command's
/// process group, so one request arrives twice from one process within microseconds; that echo
/// is not the user's second Ctrl-C (which comes from the terminal, sender 0, or is later).
std::atomic<pid_t> first_sender{0};
std::atomic<int> first_signo{0};
std::atomic<std::int64_t> first_at_ns{0};
constexpr std::int64_t echo_window_ns = 1'000'000'000;

std::int64_t monotonic_ns() {  // clock_gettime is async-signal-safe
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

/// Counts a signal from `sender`; true when it is the first request (echoes are dropped, a
/// second request exits at once). Called from the watcher and from the handler.
bool first_request(int signo, pid_t sender) {
  if (signals_seen.load() >= 1) {
    if (sender != 0 && sender == first_sender.load() && signo == first_signo.load() &&
        monotonic_ns() - first_at_ns.load() < echo_window_ns) {
      return false;  // the same request, sent to the process and then to its group
    }
    exit_on_second();
  }
  first_sender = sender;
  first_signo = signo;
  first_at_ns = monotonic_ns();
  if (signals_seen.fetch_add(1) >= 1) {
    exit_on_second();  // both paths took a first signal at once: the second is a second
  }
  return true;
}

/// Only for threads started before the watcher (every later one has the signals blocked, so the
/// watcher's signalfd takes them): the first signal wakes the watcher through the pipe.
extern "C" void on_signal(int signo, siginfo_t* info, void*) {
  const int saved = errno;
  if (first_request(signo, info != nullptr ? info->si_pid : 0)) {
    const char byte = 'i';
    [[maybe_unused]] const auto written = write(pipe_fds[1], &byte, 1);
  }
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
  first_sender = 0;
  // Blocked in this thread, and so in every thread it starts from now on (the watcher, CAF's):
  // the signals then wait in the signalfd, read by the watcher, instead of interrupting whichever
  // thread the kernel picks. A handler running on a thread stuck in a restarted system call can
  // be held back indefinitely; under ThreadSanitizer, which defers handlers until the thread
  // leaves its current call, a Ctrl-C then took effect only when the batch had finished.
  const sigset_t signals = watched_signals();
  pthread_sigmask(SIG_BLOCK, &signals, &old_mask_);
  // Non-blocking: a pending signal that woke poll may be taken by a thread started before the
  // watcher (through the handler) before the watcher reads it; a blocking read then waited for
  // ever, and the batch ignored the signal and never exited (found under `timeout`).
  signal_fd_ = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    throw std::runtime_error("cannot create the signal fd");
  }
  thread_ = std::thread([this] { watch(); });
  struct sigaction action {};
  action.sa_sigaction = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_SIGINFO;
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
        read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info)) &&
        first_request(static_cast<int>(info.ssi_signo), static_cast<pid_t>(info.ssi_pid))) {
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
