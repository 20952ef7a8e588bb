#pragma once
/// A hostile server on 127.0.0.1 (port 0) whose answers never finish their headers (issue 17,
/// hostile servers): after a request's headers it sends a status line and then header lines
/// without end, fast (`lines`), one header line that never ends (`one_line`), or a short header
/// line every `pause` (`trickle`); or it never answers (`silent`), or its headers end and the body
/// never does (`endless_body`: no length, 64 KiB blocks). Or, to a TLS client, a handshake that
/// never finishes: the ClientHello read and never answered (`tls_silent`), or a 16 KiB handshake
/// record announced and its bytes sent one every `pause` (`tls_trickle`). Each connection goes on
/// until the client closes it or `max_bytes` were sent. It counts what it managed to send: what a
/// test asserts instead of the client's memory or the wall clock.
///
/// Lifecycle and threading: the constructor binds and accepts on an owned thread, one thread per
/// connection; the destructor stops them (a trickle's pause is cut short) and joins. Counters are
/// thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zbatch::test::fake {

class header_flood {
 public:
  enum class shape { lines, one_line, trickle, silent, endless_body, tls_silent, tls_trickle };

  header_flood(shape what, std::uint64_t max_bytes,
               std::chrono::milliseconds pause = std::chrono::milliseconds{0});
  ~header_flood();
  header_flood(const header_flood&) = delete;
  header_flood& operator=(const header_flood&) = delete;

  int port() const { return port_; }
  std::string url() const;  ///< "http://127.0.0.1:41234"

  std::uint64_t bytes_sent() const { return bytes_sent_.load(); }  ///< All connections.
  int connections() const { return connections_.load(); }
  /// Connections the client closed before `max_bytes` were sent.
  int connections_cut() const { return connections_cut_.load(); }
  /// Connections that opened with a TLS ClientHello record (the tls_ shapes read one).
  int hellos() const { return hellos_.load(); }
  /// Largest count of bytes one connection sent.
  std::uint64_t most_on_one_connection() const { return most_on_one_.load(); }
  /// Waits (at most `limit`) until every connection accepted so far has ended: the flood sees the
  /// client's close only at its next send. True when they all ended.
  bool wait_until_connections_end(std::chrono::milliseconds limit);

 private:
  void accept_loop();
  void serve(int fd);
  /// Sends `first`, then `block` again and again (after a pause when trickling) until `max_bytes`
  /// were sent or the client left; the bytes sent, and whether the client left.
  std::uint64_t send_flood(int fd, const std::string& first, const std::string& block, bool& cut);
  /// Waits until the client closes `fd` (true) or the fake stops (false).
  bool wait_for_close(int fd);
  bool pause_or_stop();  ///< False once stopping.

  shape shape_;
  std::uint64_t max_bytes_;
  std::chrono::milliseconds pause_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int connections_ended_ = 0;
  std::vector<std::thread> connections_threads_;
  std::vector<int> connection_fds_;
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> most_on_one_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> connections_cut_{0};
  std::atomic<int> hellos_{0};
};

}  // namespace zbatch::test::fake
