#include "generate/interrupt.hpp"

#include <atomic>
#include <cerrno>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace zbatch::generate {
namespace {

int pipe_fds[2] = {-1, -1};
std::atomic<int> signals_seen{0};
/// The second signal's line (owned by the watcher); set before the handler is installed.
std::atomic<const char*> second_text{nullptr};
std::atomic<std::size_t> second_size{0};

extern "C" void on_signal(int) {
  if (signals_seen.fetch_add(1) >= 1) {
    if (const char* text = second_text.load(); text != nullptr) {
      [[maybe_unused]] const auto written = write(STDERR_FILENO, text, second_size.load());
    }
    _exit(130);
  }
  const char byte = 'i';
  const int saved = errno;
  [[maybe_unused]] const auto written = write(pipe_fds[1], &byte, 1);
  errno = saved;
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
  thread_ = std::thread([this] {
    char byte = 0;
    while (true) {
      const auto n = read(pipe_fds[0], &byte, 1);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0 || byte == 'q') {
        return;  // Closed or told to quit.
      }
      on_first_();
    }
  });
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
}

sigint_watcher::~sigint_watcher() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  second_text = nullptr;
  const char quit = 'q';
  [[maybe_unused]] const auto written = write(pipe_fds[1], &quit, 1);
  thread_.join();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  pipe_fds[0] = pipe_fds[1] = -1;
}

}  // namespace zbatch::generate
