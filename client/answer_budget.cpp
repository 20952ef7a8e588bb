#include "client/answer_budget.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace zbatch::client {
namespace {

using steady = std::chrono::steady_clock;

/// getpeername / getsockname as cpp-httplib reports them (IPv4 or IPv6 text, port).
void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  const int got = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                       : getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  if (got != 0) {
    return;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

/// The stream cpp-httplib reads one answer through (plain when `ssl` is null, else TLS on the
/// socket): every wait is a poll() of at most the idle time-out and never past the deadline, and
/// the bytes handed out before the headers are done count against the header limits.
class budget_stream final : public httplib::Stream {
 public:
  budget_stream(int fd, SSL* ssl, answer_budget& budget) : fd_(fd), ssl_(ssl), budget_(budget) {
    // cpp-httplib leaves the socket blocking after connecting, and a blocking SSL_read waits for
    // a whole TLS record: a server could hold it forever with half a record.
    const int flags = fcntl(fd_, F_GETFL, 0);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0) {
      fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    }
  }

  bool is_readable() const override {
    return begin_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0) || wait(POLLIN);
  }
  bool is_writable() const override { return wait(POLLOUT); }

  ssize_t read(char* ptr, std::size_t size) override {
    if (begin_ == end_) {
      const ssize_t got = fill();
      if (got <= 0) {
        return got;
      }
    }
    const std::size_t n = std::min(size, end_ - begin_);
    if (!budget_.headers_done && !spend_on_headers(buffer_ + begin_, n)) {
      return -1;
    }
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    if (size == 0) {
      return 0;
    }
    size = std::min<std::size_t>(size, INT_MAX);
    for (;;) {
      short want = 0;
      const ssize_t put = raw_write(ptr, size, want);
      if (want == 0) {
        return put;
      }
      if (!wait(want)) {
        return -1;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  /// Counts `n` bytes of the status line and headers; false (and the budget marked) once over.
  bool spend_on_headers(const char* data, std::size_t n) {
    budget_.header_bytes += n;
    budget_.header_lines += static_cast<int>(std::count(data, data + n, '\n'));
    if (budget_.header_bytes > budget_.max_header_bytes ||
        budget_.header_lines > budget_.max_header_lines) {
      budget_.headers_too_large = true;
      return false;
    }
    return true;
  }

  /// Refills the buffer: bytes read (> 0), 0 at the end of the stream, -1 on an error, the idle
  /// time-out or the deadline.
  ssize_t fill() {
    begin_ = end_ = 0;
    for (;;) {
      if (steady::now() >= budget_.deadline) {
        budget_.too_late = true;
        return -1;
      }
      short want = 0;
      const ssize_t got = raw_read(buffer_, sizeof(buffer_), want);
      if (want == 0) {
        end_ = got > 0 ? static_cast<std::size_t>(got) : 0;
        return got;
      }
      if (!wait(want)) {
        return -1;
      }
    }
  }

  /// One non-blocking read; `want` set to the poll event to wait for when it would block.
  ssize_t raw_read(char* into, std::size_t size, short& want) {
    if (ssl_ == nullptr) {
      ssize_t got;
      do {
        got = ::recv(fd_, into, size, 0);
      } while (got < 0 && errno == EINTR);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        want = POLLIN;
      }
      return got;
    }
    ERR_clear_error();
    const int got = SSL_read(ssl_, into, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
    return got > 0 ? got : tls_retry(got, want);
  }

  ssize_t raw_write(const char* from, std::size_t size, short& want) {
    if (ssl_ == nullptr) {
      ssize_t put;
      do {
        put = ::send(fd_, from, size, MSG_NOSIGNAL);
      } while (put < 0 && errno == EINTR);
      if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        want = POLLOUT;
      }
      return put;
    }
    ERR_clear_error();
    const int put = SSL_write(ssl_, from, static_cast<int>(size));
    return put > 0 ? put : tls_retry(put, want);
  }

  /// After an SSL_read / SSL_write that gave `result` <= 0: what to wait for, or the result as
  /// cpp-httplib's own TLS stream returns it (0 is the end of the stream, < 0 an error).
  ssize_t tls_retry(int result, short& want) const {
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
        want = POLLIN;
        break;
      case SSL_ERROR_WANT_WRITE:
        want = POLLOUT;
        break;
      default:
        break;
    }
    return result;
  }

  /// Waits for `events` at most the idle time-out and never past the deadline; false when the
  /// time ran out (the budget marked when it was the deadline).
  bool wait(short events) const {
    const auto now = steady::now();
    if (now >= budget_.deadline) {
      budget_.too_late = true;
      return false;
    }
    const auto span = std::min<steady::duration>(budget_.idle, budget_.deadline - now);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(span).count();
    pollfd watched{fd_, events, 0};
    int ready;
    do {
      ready = ::poll(&watched, 1, static_cast<int>(std::min<long long>(ms, INT_MAX)));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0 && steady::now() >= budget_.deadline) {
      budget_.too_late = true;
    }
    return ready > 0;
  }

  int fd_;
  SSL* ssl_;
  answer_budget& budget_;
  char buffer_[4096];
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// `Base` (ClientImpl or SSLClient) reading and writing through a `budget_stream`. Overrides the
/// library's private virtual process_socket, which builds the stream for each request.
template <class Base>
class budgeted_client final : public Base {
 public:
  budgeted_client(const std::string& host, int port, answer_budget& budget)
      : Base(host, port), budget_(budget) {}

 private:
  bool process_socket(const httplib::ClientImpl::Socket& socket,
                      std::function<bool(httplib::Stream&)> callback) override {
    budget_stream stream(socket.sock, socket.ssl, budget_);
    return callback(stream);
  }

  answer_budget& budget_;
};

}  // namespace

std::unique_ptr<httplib::ClientImpl> make_budgeted_client(const std::string& scheme,
                                                          const std::string& host, int port,
                                                          answer_budget& budget) {
  if (scheme == "https") {
    return std::make_unique<budgeted_client<httplib::SSLClient>>(host, port, budget);
  }
  return std::make_unique<budgeted_client<httplib::ClientImpl>>(host, port, budget);
}

}  // namespace zbatch::client
