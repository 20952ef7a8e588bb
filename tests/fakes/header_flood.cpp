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

/// Reads `size` bytes; false when the connection ended first.
bool read_exactly(int fd, char* into, std::size_t size) {
  while (size > 0) {
    const ssize_t got = ::recv(fd, into, size, 0);
    if (got <= 0) {
      return false;
    }
    into += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

/// Reads one TLS record whole; true when it was a handshake record (what a ClientHello opens).
bool read_client_hello(int fd) {
  char head[5];
  if (!read_exactly(fd, head, sizeof(head)) || head[0] != 0x16) {
    return false;
  }
  const auto length = static_cast<std::size_t>(static_cast<unsigned char>(head[3]) << 8 |
                                               static_cast<unsigned char>(head[4]));
  std::string record(length, '\0');
  return read_exactly(fd, record.data(), length);
}

/// What a connection opens its answer with: a status line (and a header name for `one_line`, the
/// end of the headers for `endless_body`), or the header of a 16 KiB TLS handshake record and the
/// ServerHello's type byte.
std::string opening(header_flood::shape what) {
  if (what == header_flood::shape::tls_trickle) {
    return std::string("\x16\x03\x03\x40\x00\x02", 6);
  }
  if (what == header_flood::shape::endless_body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
  }
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
         std::string(what == header_flood::shape::one_line ? "X-Flood: " : "");
}

/// What the flood repeats: 64 KiB of short header lines, or of one line's value; what a trickle
/// sends after each pause.
std::string flood_block(header_flood::shape what) {
  std::string block;
  if (what == header_flood::shape::trickle) {
    return "X-Trickle: 0123456789\r\n";
  }
  if (what == header_flood::shape::tls_trickle) {
    return std::string(1, '\0');  // one byte of the record's body at a time
  }
  if (what == header_flood::shape::endless_body) {
    return std::string(64 * 1024, ' ');  // JSON whitespace: never a document, never an end
  }
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
  const bool tls = shape_ == shape::tls_silent || shape_ == shape::tls_trickle;
  if (tls ? read_client_hello(fd) : read_request_head(fd)) {
    if (tls) {
      hellos_.fetch_add(1);
    }
    if (shape_ == shape::tls_silent || shape_ == shape::silent) {
      cut = wait_for_close(fd);
    } else {
      sent = send_flood(fd, opening(shape_), flood_block(shape_), cut);
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

std::uint64_t header_flood::send_flood(int fd, const std::string& first, const std::string& block,
                                       bool& cut) {
  const bool trickling = shape_ == shape::trickle || shape_ == shape::tls_trickle;
  std::uint64_t sent = 0;
  std::string_view next = first;
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
      if (trickling && !pause_or_stop()) {
        break;
      }
      next = block;
    }
  }
  return sent;
}

bool header_flood::wait_for_close(int fd) {
  char byte;
  while (::recv(fd, &byte, 1, 0) > 0) {
  }
  std::lock_guard<std::mutex> lock(mutex_);
  return !stopping_;  // the destructor's shutdown ends the wait too: that is no client's close
}

bool header_flood::wait_until_connections_end(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mutex_);
  return wake_.wait_for(lock, limit, [this] { return connections_ended_ == connections_.load(); });
}

}  // namespace zbatch::test::fake
