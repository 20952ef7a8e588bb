#include "client/answer_budget.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <type_traits>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace zbatch::client {
namespace {

using steady = std::chrono::steady_clock;

/// Waits for `events` on `fd` at most `longest` and never past the budget's deadline; true when
/// the socket is ready. The budget is marked too late when the deadline ended (or forbade) the
/// wait.
bool wait_within(int fd, short events, steady::duration longest, answer_budget& budget) {
  const auto now = steady::now();
  if (now >= budget.deadline) {
    budget.too_late = true;
    return false;
  }
  const auto span = std::min<steady::duration>(longest, budget.deadline - now);
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(span).count();
  pollfd watched{fd, events, 0};
  int ready;
  do {
    ready = ::poll(&watched, 1, static_cast<int>(std::min<long long>(ms, INT_MAX)));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0 && steady::now() >= budget.deadline) {
    budget.too_late = true;
  }
  return ready > 0;
}

}  // namespace

void answer_budget::cancel_connects() {
  std::lock_guard<std::mutex> lock(connect_mutex_);
  connects_cancelled_ = true;
  if (connecting_fd_ >= 0) {
    ::shutdown(connecting_fd_, SHUT_RDWR);  // a connecting socket disconnects; poll() wakes
  }
}

bool answer_budget::watch_connect(int fd) {
  std::lock_guard<std::mutex> lock(connect_mutex_);
  connecting_fd_ = connects_cancelled_ ? -1 : fd;
  if (connects_cancelled_) {
    connect_cancelled = true;  // this request's flag, read by the connecting thread after it
  }
  return !connects_cancelled_;
}

namespace {

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
    // Connected non-blocking here (budgeted_client); kept so, as a blocking SSL_read waits for a
    // whole TLS record: a server could hold it forever with half a record.
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
    for (std::size_t i = 0; i < n; ++i) {
      ++budget_.header_line_bytes;
      if (data[i] == '\n') {
        if (budget_.header_lines++ > 0) {  // the status line is not a header line
          budget_.longest_header_line =
              std::max(budget_.longest_header_line, budget_.header_line_bytes);
        }
        budget_.header_line_bytes = 0;
      }
    }
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

  /// Waits for `events` at most the idle time-out and never past the deadline.
  bool wait(short events) const { return wait_within(fd_, events, budget_.idle, budget_); }

  int fd_;
  SSL* ssl_;
  answer_budget& budget_;
  char buffer_[4096];
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// What a connection needs of the client's settings (cpp-httplib's protected fields).
struct connect_settings {
  std::string node;  ///< The host, or the address cpp-httplib's host-to-IP map gives it.
  bool numeric = false;
  int port = 0;
  int family = AF_UNSPEC;
  bool tcp_nodelay = false;
  httplib::SocketOptions socket_options;
  steady::duration attempt_timeout{};  ///< The connection time-out: each address, each wait.
};

/// One non-blocking connection to `address`: the socket, or -1 with `error` set.
int connect_to(const addrinfo& address, const connect_settings& settings, answer_budget& budget,
               httplib::Error& error) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          address.ai_protocol);
  if (fd < 0) {
    error = httplib::Error::Connection;
    return -1;
  }
  const int yes = 1;
  const int no = 0;
  if (settings.tcp_nodelay) {
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  }
  if (settings.socket_options) {
    settings.socket_options(fd);
  }
  if (address.ai_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
  }
  if (!budget.watch_connect(fd)) {
    ::close(fd);
    error = httplib::Error::Canceled;
    return -1;
  }
  error = httplib::Error::Success;
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = httplib::Error::Connection;
    } else if (!wait_within(fd, POLLOUT, settings.attempt_timeout, budget)) {
      error = httplib::Error::ConnectionTimeout;
    } else {
      int failure = 0;
      socklen_t length = sizeof(failure);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) != 0 || failure != 0) {
        error = httplib::Error::Connection;
      }
    }
  }
  if (error != httplib::Error::Success) {
    if (!budget.watch_connect(-1)) {
      error = httplib::Error::Canceled;
    }
    ::close(fd);
    return -1;
  }
  return fd;  // still watched: the TLS handshake follows
}

/// A connected non-blocking socket to the first of getaddrinfo's addresses that answers (as
/// cpp-httplib tries them), or -1 with `error` set; none is tried once the deadline passed.
int connect_within(const connect_settings& settings, answer_budget& budget, httplib::Error& error) {
  addrinfo hints{};
  hints.ai_family = settings.numeric ? AF_UNSPEC : settings.family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = settings.numeric ? AI_NUMERICHOST : 0;
  addrinfo* found = nullptr;
  if (getaddrinfo(settings.node.c_str(), std::to_string(settings.port).c_str(), &hints, &found) !=
      0) {
    error = httplib::Error::Connection;
    return -1;
  }
  int fd = -1;
  error = httplib::Error::Connection;
  for (const addrinfo* address = found;
       address != nullptr && fd < 0 && !budget.too_late && !budget.connect_cancelled;
       address = address->ai_next) {
    fd = connect_to(*address, settings, budget, error);
  }
  freeaddrinfo(found);
  return fd;
}

/// Whether `cert` names `host`: an IP address against the certificate's IP names, a host name by
/// RFC 6125 (DNS names, wildcards in the leftmost label; the common name only without any).
bool certificate_names(X509* cert, const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1 || inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  }
  return X509_check_host(cert, host.data(), host.size(), 0, nullptr) == 1;
}

/// SSL_connect on the non-blocking `fd`, every wait at most `step_timeout` and never past the
/// deadline; then, when `verify`, the chain's verify result and the host name, as cpp-httplib's
/// initialize_ssl checks them. The connection, or nullptr with `error` set.
SSL* handshake_within(int fd, SSL_CTX* ctx, const std::string& host, bool verify,
                      steady::duration step_timeout, answer_budget& budget, httplib::Error& error) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    error = httplib::Error::SSLConnection;
    return nullptr;
  }
  SSL_set_tlsext_host_name(ssl, host.c_str());
  if (verify) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);  // checked below, after the handshake
  }
  error = httplib::Error::Success;
  for (;;) {
    ERR_clear_error();
    const int done = SSL_connect(ssl);
    if (done == 1) {
      break;
    }
    const int why = SSL_get_error(ssl, done);
    const short want = why == SSL_ERROR_WANT_READ    ? POLLIN
                       : why == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                     : 0;
    if (want == 0 || !wait_within(fd, want, step_timeout, budget)) {
      error = httplib::Error::SSLConnection;
      break;
    }
  }
  if (error == httplib::Error::Success && verify) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (SSL_get_verify_result(ssl) != X509_V_OK || cert == nullptr ||
        !certificate_names(cert, host)) {
      error = httplib::Error::SSLServerVerification;
    }
    X509_free(cert);
  }
  if (error != httplib::Error::Success) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

/// `Base` (ClientImpl or SSLClient) connecting, shaking hands, reading and writing within the
/// budget (answer_budget.hpp says how and why). Overrides the library's virtual
/// create_and_connect_socket and its private virtuals process_socket (which builds the stream
/// for each request) and is_ssl.
template <class Base>
class budgeted_client final : public Base {
  static constexpr bool tls = std::is_same_v<Base, httplib::SSLClient>;

 public:
  budgeted_client(const std::string& host, int port, answer_budget& budget)
      : Base(host, port), budget_(budget) {}

 private:
  bool create_and_connect_socket(httplib::ClientImpl::Socket& socket,
                                 httplib::Error& error) override {
    const bool made = connect_within_budget(socket, error);
    if (!made && budget_.too_late) {
      budget_.too_late_to_connect = true;
    }
    return made;
  }

  bool connect_within_budget(httplib::ClientImpl::Socket& socket, httplib::Error& error) {
    if (!this->proxy_host_.empty() || !this->interface_.empty() || !this->is_valid()) {
      error = httplib::Error::Connection;  // not supported here (answer_budget.hpp)
      return false;
    }
    const int fd = connect_within(settings(), budget_, error);
    if (fd < 0) {
      return false;
    }
    if constexpr (tls) {
      SSL* ssl = nullptr;
      if (!load_certificates()) {
        error = httplib::Error::SSLLoadingCerts;
      } else {
        ssl = handshake_within(fd, this->ssl_context(), this->host_,
                               this->server_certificate_verification_, attempt_timeout(), budget_,
                               error);
      }
      if (!budget_.watch_connect(-1)) {  // cancelled meanwhile: the socket is shut down
        error = httplib::Error::Canceled;
        SSL_free(ssl);
        ssl = nullptr;
      }
      if (ssl == nullptr) {
        ::close(fd);
        return false;
      }
      socket.ssl = ssl;
      skip_library_handshake_ = true;
    } else if (!budget_.watch_connect(-1)) {
      error = httplib::Error::Canceled;
      ::close(fd);
      return false;
    }
    socket.sock = fd;
    return true;
  }

  /// cpp-httplib's SSLClient::send calls its own handshake when is_ssl() right after connecting;
  /// that one call is told no, once this client has shaken hands itself.
  bool is_ssl() const override {
    if constexpr (tls) {
      const bool skip = skip_library_handshake_;
      skip_library_handshake_ = false;
      return !skip;
    }
    return false;
  }

  bool process_socket(const httplib::ClientImpl::Socket& socket,
                      std::function<bool(httplib::Stream&)> callback) override {
    skip_library_handshake_ = false;
    budget_stream stream(socket.sock, socket.ssl, budget_);
    return callback(stream);
  }

  connect_settings settings() const {
    connect_settings out;
    const auto mapped = this->addr_map_.find(this->host_);
    out.numeric = mapped != this->addr_map_.end();
    out.node = out.numeric ? mapped->second : this->host_;
    out.port = this->port_;
    out.family = this->address_family_;
    out.tcp_nodelay = this->tcp_nodelay_;
    out.socket_options = this->socket_options_;
    out.attempt_timeout = attempt_timeout();
    return out;
  }

  steady::duration attempt_timeout() const {
    return std::chrono::seconds(this->connection_timeout_sec_) +
           std::chrono::microseconds(this->connection_timeout_usec_);
  }

  /// The trusted certificates, loaded once per client as cpp-httplib's load_certs does: the CA
  /// file, else the CA directory, else the system's default paths. False when they cannot be.
  bool load_certificates() {
    if (!this->server_certificate_verification_) {
      return true;
    }
    std::call_once(certificates_loaded_, [this] {
      SSL_CTX* ctx = this->ssl_context();
      if (!this->ca_cert_file_path_.empty()) {
        certificates_ok_ =
            SSL_CTX_load_verify_locations(ctx, this->ca_cert_file_path_.c_str(), nullptr) == 1;
      } else if (!this->ca_cert_dir_path_.empty()) {
        certificates_ok_ =
            SSL_CTX_load_verify_locations(ctx, nullptr, this->ca_cert_dir_path_.c_str()) == 1;
      } else {
        certificates_ok_ = SSL_CTX_set_default_verify_paths(ctx) == 1;
      }
    });
    return certificates_ok_;
  }

  answer_budget& budget_;
  mutable bool skip_library_handshake_ = false;
  std::once_flag certificates_loaded_;
  bool certificates_ok_ = false;
};

}  // namespace

std::string header_line_text(const answer_budget& budget) {
  return "an answer header line of " + std::to_string(budget.longest_header_line) +
         " bytes, longer than cpp-httplib 0.11 reads (" +
         std::to_string(CPPHTTPLIB_HEADER_MAX_LENGTH / 1024) + " KiB): the answer was dropped";
}

std::string connect_failure_reason(httplib::Error error) {
  return error == httplib::Error::ConnectionTimeout ? "no answer to the connect within its time-out"
                                                    : "refused, or no such host";
}

std::string transport_text(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
      return "could not connect (" + connect_failure_reason(error) + ")";
    case httplib::Error::Read:
      return "connection closed before a complete answer";
    case httplib::Error::Write:
      return "connection closed while sending the request";
    default:
      return httplib::to_string(error);
  }
}

std::unique_ptr<httplib::ClientImpl> make_budgeted_client(const std::string& scheme,
                                                          const std::string& host, int port,
                                                          answer_budget& budget) {
  if (scheme == "https") {
    return std::make_unique<budgeted_client<httplib::SSLClient>>(host, port, budget);
  }
  return std::make_unique<budgeted_client<httplib::ClientImpl>>(host, port, budget);
}

}  // namespace zbatch::client
