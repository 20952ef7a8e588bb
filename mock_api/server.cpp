#include "mock_api/server.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <stdexcept>

#include <httplib.h>

namespace zbatch::mock {
namespace {

int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return -1;
}

/// Calls `visit(fd, local_port, peer_port)` for every open socket of this process (peer_port is 0
/// for a socket without a peer, such as a listening one) until it returns false. httplib 0.11
/// exposes no sockets, so the server finds the ones it needs through /proc/self/fd (Linux).
template <class Visit>
void for_each_socket(Visit visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return;
  }
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long number = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || number == dirfd(dir)) {
      continue;
    }
    const int fd = static_cast<int>(number);
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
      continue;  // not a socket
    }
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int peer_port =
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0 ? port_of(peer) : 0;
    if (!visit(fd, port_of(local), peer_port)) {
      break;
    }
  }
  closedir(dir);
}

/// The accepted socket of this request: the open socket whose local and peer ports are the
/// request's (only looked up when a fault needs the socket).
int find_connection_socket(int local_port, int remote_port) {
  int found = -1;
  for_each_socket([&](int fd, int local, int peer) {
    if (local == local_port && peer == remote_port) {
      found = fd;
      return false;
    }
    return true;
  });
  return found;
}

/// Drops the connection without an answer. With `reset`, SO_LINGER 0 makes the close send RST;
/// otherwise shutdown sends FIN. The descriptor is then atomically replaced by /dev/null (dup2),
/// which closes the socket now while httplib keeps a valid descriptor number: its attempt to
/// write the response fails harmlessly and its own close() cannot hit a reused descriptor.
void drop_connection(int fd, bool reset) {
  if (fd < 0) {
    return;
  }
  if (reset) {
    linger option{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
  } else {
    shutdown(fd, SHUT_RDWR);
  }
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, fd);
    close(null_fd);
  }
}

/// cpp-httplib 0.11 listens with a backlog of 5: a burst of connections (256 clients starting at
/// once) overflows it and the kernel drops handshakes, stalling clients for a second or more.
/// Calling listen() again on the listening socket raises the backlog in place.
void raise_listen_backlog(int port) {
  for_each_socket([port](int fd, int local, int /*peer*/) {
    int listening = 0;
    socklen_t length = sizeof listening;
    if (local == port && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 &&
        listening != 0) {
      listen(fd, SOMAXCONN);
    }
    return true;
  });
}

/// Shuts down every connection accepted on `port` so that workers idling in keep-alive waits
/// notice at once; without this, stop() waits out the keep-alive timeout of idle clients.
void shutdown_connections(int port) {
  for_each_socket([port](int fd, int local, int peer) {
    if (local == port && peer != 0) {
      shutdown(fd, SHUT_RDWR);
    }
    return true;
  });
}

/// True when the peer has closed (or reset) its side.
bool peer_gone(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) {
    return false;
  }
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    return true;
  }
  char byte;
  return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/// `Date` header text (IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT") of the wall clock now.
std::string http_date_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[40];
  const auto n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return std::string(text, n);
}

}  // namespace

server_options options_for_clients(std::size_t connections) {
  server_options options;
  options.threads = connections + 4;
  return options;
}

server::server(mock_config config, std::uint64_t seed, server_options options)
    : server(std::make_shared<model>(std::move(config), std::make_shared<steady_clock>(), seed),
             std::move(options)) {}

server::server(std::shared_ptr<model> mock, server_options options)
    : model_(std::move(mock)),
      options_(std::move(options)),
      http_(std::make_unique<httplib::Server>()) {
  const bool loopback = protocol::is_loopback_host(options_.host);
  if (!loopback && options_.admin_token.empty()) {
    throw std::invalid_argument(
        "--admin-token is required when the mock binds to a non-loopback "
        "address (--host " +
        options_.host + ")");
  }
  model_->set_admin_token(options_.admin_token);

  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_max_count(1000000);
  http_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  http_->set_read_timeout(options_.read_timeout_s, 0);
  http_->set_write_timeout(options_.read_timeout_s, 0);
  http_->set_payload_max_length(16 * 1024 * 1024);

  auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    handle(&request, &response);
  };
  http_->Get(".*", handler);
  // POST reads its own body: httplib 0.11 reads a POST without Content-Length or chunking until
  // the client closes (30 s for `curl -X POST .../admin/reset`), where HTTP/1.1 says it has no
  // body (RFC 9112 §6.3).
  http_->Post(".*", [this](const httplib::Request& request, httplib::Response& response,
                           const httplib::ContentReader& read) {
    std::string body;
    if (request.has_header("Content-Length") || request.has_header("Transfer-Encoding")) {
      read([&body](const char* data, std::size_t size) {
        body.append(data, size);
        return true;
      });
    }
    handle(&request, &response, &body);
  });
  http_->Put(".*", handler);
  http_->Delete(".*", handler);
  http_->Patch(".*", handler);

  port_ = start(*http_, options_.port, thread_);
  if (options_.images_port >= 0) {
    images_http_ = std::make_unique<httplib::Server>();
    images_http_->set_tcp_nodelay(true);
    images_http_->set_keep_alive_max_count(1000000);
    images_http_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
    images_http_->set_read_timeout(options_.read_timeout_s, 0);
    images_http_->set_write_timeout(options_.read_timeout_s, 0);
    // Object storage serves files, not the API: anything but /images/* is 404 here.
    images_http_->Get(".*", [this](const httplib::Request& request, httplib::Response& response) {
      if (request.path.rfind("/images/", 0) != 0) {
        response.status = 404;
        response.set_content("Not Found", "text/plain");
        return;
      }
      handle(&request, &response);
    });
    images_port_ = start(*images_http_, options_.images_port, images_thread_);
  }
  const bool wildcard = options_.host == "0.0.0.0" || options_.host == "::";
  // Behind a wildcard bind the model builds image URLs from the request's Host header instead.
  if (!wildcard) {
    model_->set_public_base_url(images_url());
  }
}

int server::start(httplib::Server& http, int port, std::thread& thread) {
  const int bound = port == 0 ? http.bind_to_any_port(options_.host)
                              : (http.bind_to_port(options_.host, port) ? port : -1);
  if (bound <= 0) {
    throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(port) +
                             " (address in use or not local?)");
  }
  raise_listen_backlog(bound);
  // httplib builds the worker pool inside listen, after is_running() turns true: a request
  // accepted before the pool's threads exist waits for all of them (320 by default, both
  // origins: 50 to 300 ms on a busy 2-core machine, which a scenario's http run counted into its
  // first submit and first download). Wait for the pool, not only the accept loop.
  const std::size_t threads = std::max<std::size_t>(options_.threads, 1);
  auto pool_ready = std::make_shared<std::atomic<bool>>(false);
  http.new_task_queue = [threads, pool_ready] {
    auto* pool = new httplib::ThreadPool(threads);
    *pool_ready = true;
    return pool;
  };
  auto listen_returned = std::make_shared<std::atomic<bool>>(false);
  thread = std::thread([&http, listen_returned] {
    http.listen_after_bind();
    *listen_returned = true;
  });
  // httplib's stop() does nothing until the accept loop runs: wait for it, so that a stop()
  // right after construction cannot leave the serving thread blocked in accept() forever.
  while ((!http.is_running() || !*pool_ready) && !*listen_returned) {
    std::this_thread::yield();
  }
  return bound;
}

server::~server() { stop(); }

std::string server::url_of(int port) const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port);
}

std::string server::base_url() const { return url_of(port_); }

std::string server::images_url() const { return url_of(images_port_ > 0 ? images_port_ : port_); }

void server::stop() {
  std::lock_guard<std::mutex> guard(stop_mutex_);
  if (stopped_) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  http_->stop();
  shutdown_connections(port_);
  if (thread_.joinable()) {
    thread_.join();
  }
  if (images_http_) {
    images_http_->stop();
    shutdown_connections(images_port_);
    if (images_thread_.joinable()) {
      images_thread_.join();
    }
  }
  stopped_ = true;
}

void server::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait(lock, [this] { return stopping_.load(); });
  lock.unlock();
  std::lock_guard<std::mutex> guard(stop_mutex_);  // stop() holds it until joined
}

bool server::sleep_interruptibly(duration how_long) {
  if (how_long <= duration::zero()) {
    return !stopping_;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, how_long, [this] { return stopping_.load(); });
}

void server::handle(const void* raw_request, void* raw_response, const std::string* body) {
  const auto& request = *static_cast<const httplib::Request*>(raw_request);
  auto& response = *static_cast<httplib::Response*>(raw_response);

  protocol::wire_request wire;
  wire.method = request.method;
  wire.target = request.target.empty() ? request.path : request.target;
  for (const auto& [name, value] : request.headers) {
    wire.headers.add(name, value);
  }
  wire.body = body != nullptr ? *body : request.body;

  reply answer = model_->handle(wire);
  if (answer.delay > duration::zero()) {
    // The default 50 us timer slack of a worker thread shows up in the tail of injected delays.
    thread_local const bool tight_timers = prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) == 0;
    (void)tight_timers;
    sleep_interruptibly(answer.delay);
  }

  switch (answer.fault) {
    case transport_fault::reset:
    case transport_fault::close:
      drop_connection(find_connection_socket(request.local_port, request.remote_port),
                      answer.fault == transport_fault::reset);
      response.status = 500;
      return;
    case transport_fault::hang: {
      const int fd = find_connection_socket(request.local_port, request.remote_port);
      const auto until = std::chrono::steady_clock::now() + answer.hold_max;
      // Hold until the client gives up, the bound passes or the server stops.
      while (!stopping_ && std::chrono::steady_clock::now() < until && fd >= 0 && !peer_gone(fd)) {
        sleep_interruptibly(std::chrono::milliseconds(20));
      }
      drop_connection(fd, true);
      response.status = 500;
      return;
    }
    default:
      break;
  }

  response.status = answer.response.status;
  response.set_header("Date", http_date_now());
  response.set_header("Server", options_.server_header);
  std::string content_type = "application/json";
  for (const auto& [name, value] : answer.response.headers.fields()) {
    if (protocol::iequals(name, "Content-Type")) {
      content_type = value;
    } else if (!protocol::iequals(name, "Content-Length")) {
      response.set_header(name, value);
    }
  }
  if (answer.fault == transport_fault::truncate) {
    auto body = std::make_shared<std::string>(std::move(answer.response.body));
    const std::size_t cut = std::min(answer.truncate_at, body->size());
    // Content-Length announces the whole body; returning false after `cut` bytes closes the
    // connection, so the client sees a short body.
    response.set_content_provider(
        body->size(), content_type,
        [body, cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
          if (offset < cut) {
            sink.write(body->data() + offset, cut - offset);
            return true;
          }
          return false;
        });
    return;
  }
  if (answer.fault == transport_fault::slow) {
    auto body = std::make_shared<std::string>(std::move(answer.response.body));
    constexpr std::size_t pieces = 20;
    const std::size_t piece = std::max<std::size_t>(1, (body->size() + pieces - 1) / pieces);
    const duration pause = answer.dribble / static_cast<int>(pieces);
    response.set_content_provider(
        body->size(), content_type,
        [this, body, piece, pause](std::size_t offset, std::size_t, httplib::DataSink& sink) {
          if (offset > 0 && !sleep_interruptibly(pause)) {
            return false;
          }
          const std::size_t n = std::min(piece, body->size() - offset);
          sink.write(body->data() + offset, n);
          return true;
        });
    return;
  }
  response.set_content(answer.response.body, content_type);
}

}  // namespace zbatch::mock
