#include "tests/fakes/header_flood.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace zbatch::test::fake {
namespace {

/// Reads until the end of the request's headers (its body, if any, is left unread).
bool read_request_head(int fd) {
  std::string head;
  char byte;
  while (head.size() < 64 * 1024) {
    if (::recv(fd, &byte, 1, 0) != 1) {
      return false;
    }
    head.push_back(byte);
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) {
      return true;
    }
  }
  return false;
}

/// What the flood repeats: 64 KiB of short header lines, or of one line's value.
std::string flood_block(header_flood::shape what) {
  std::string block;
  if (what == header_flood::shape::one_line) {
    return std::string(64 * 1024, 'a');
  }
  for (int i = 0; block.size() < 64 * 1024; ++i) {
    block += "X-Flood-" + std::to_string(i) + ": 0123456789\r\n";
  }
  return block;
}

}  // namespace

header_flood::header_flood(shape what, std::uint64_t max_bytes, std::chrono::milliseconds pause)
    : shape_(what), max_bytes_(max_bytes), pause_(pause) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("header_flood: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

header_flood::~header_flood() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  for (const int fd : connection_fds_) {
    ::shutdown(fd, SHUT_RDWR);  // wakes a send() blocked on a client that stopped reading
  }
  for (auto& connection : connections_threads_) {
    connection.join();
  }
  for (const int fd : connection_fds_) {
    ::close(fd);
  }
}

std::string header_flood::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void header_flood::accept_loop() {
  for (;;) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    std::lock_guard<std::mutex> lock(mutex_);
    if (fd < 0 || stopping_) {
      if (fd >= 0) {
        ::close(fd);
      }
      return;
    }
    connections_.fetch_add(1);
    connection_fds_.push_back(fd);
    connections_threads_.emplace_back([this, fd] { serve(fd); });
  }
}

bool header_flood::pause_or_stop() {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, pause_, [this] { return stopping_; });
  return !stopping_;
}

void header_flood::serve(int fd) {
  std::uint64_t sent = 0;
  bool cut = false;
  if (read_request_head(fd)) {
    const std::string status = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                               std::string(shape_ == shape::one_line ? "X-Flood: " : "");
    const std::string block =
        shape_ == shape::trickle ? std::string("X-Trickle: 0123456789\r\n") : flood_block(shape_);
    std::string_view next = status;
    while (sent < max_bytes_) {
      const auto n = std::min<std::uint64_t>(next.size(), max_bytes_ - sent);
      const ssize_t put = ::send(fd, next.data(), n, MSG_NOSIGNAL);
      if (put <= 0) {
        cut = true;  // the client closed (or reset) the connection
        break;
      }
      sent += static_cast<std::uint64_t>(put);
      bytes_sent_.fetch_add(static_cast<std::uint64_t>(put));
      next.remove_prefix(static_cast<std::size_t>(put));
      if (next.empty()) {
        if (shape_ == shape::trickle && !pause_or_stop()) {
          break;
        }
        next = block;
      }
    }
  }
  if (cut) {
    connections_cut_.fetch_add(1);
  }
  std::uint64_t most = most_on_one_.load();
  while (sent > most && !most_on_one_.compare_exchange_weak(most, sent)) {
  }
  ::shutdown(fd, SHUT_RDWR);  // closed by the destructor, so no other fd reuses the number
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++connections_ended_;
  }
  wake_.notify_all();
}

bool header_flood::wait_until_connections_end(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mutex_);
  return wake_.wait_for(lock, limit, [this] { return connections_ended_ == connections_.load(); });
}

}  // namespace zbatch::test::fake
