#pragma once
/// The mock's HTTP shell: a cpp-httplib server that turns each request into a `wire_request`,
/// asks the model, then enacts the reply: sleeps the delay, writes the answer, or plays the
/// transport fault (reset, close, hang, truncate, slow).
///
/// Lifecycle: the constructor binds (default 127.0.0.1, port 0 = any free port), and a second
/// port for the images unless `images_port` is -1, and starts serving on owned threads;
/// `port()`/`base_url()` are valid as soon as it returns. `stop()` (also called by the destructor)
/// releases delayed and held connections, stops accepting and joins the serving thread. Requests
/// are served by a pool of `threads` workers (one per keep-alive connection), so at least that many
/// connections can be open at once. Thread-safe: `stop()` may be called from any thread (e.g. a
/// signal watcher).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "mock_api/config.hpp"
#include "mock_api/model.hpp"

namespace httplib {
class Server;
}

namespace zbatch::mock {

struct server_options {
  std::string host = "127.0.0.1";
  int port = 0;  ///< 0: any free port (read it back with port()).
  /// Required (non-empty) when `host` is not a loopback address; guards /admin/*.
  std::string admin_token;
  std::size_t threads = 320;  ///< Worker threads = concurrent keep-alive connections served.
  /// Seconds an idle keep-alive connection stays open (cpp-httplib's runtime setter). 60 by
  /// default: public clients poll every 1-5 s on one kept-alive connection, and a time-out at
  /// their poll interval lets a request race the server's close (issue 14). 0 closes a
  /// connection that is idle for more than a few milliseconds.
  int keep_alive_timeout_s = 60;
  int read_timeout_s = 30;
  /// The second origin the image URLs point to, like the service's object-storage host
  /// (protocol doc, "What newer public material adds": output URLs are on another host): a
  /// second listening port on `host` that serves only /images/*. 0: any free port (default);
  /// -1: no second origin, image URLs point to the API's own port (which serves them too).
  int images_port = 0;
  /// The `Server` header of every answer. The service's own value is unknown (public material
  /// does not show it); every answer also carries `Date` (RFC 9110 IMF-fixdate, wall clock).
  std::string server_header = "zbatch-mock";
};

/// The options (127.0.0.1, any free ports) of a mock serving one client that keeps up to
/// `connections` connections alive to each origin: a worker each, and 4 spare. Fewer workers
/// than connections leave the extra ones unserved until another's keep-alive ends (60 s):
/// `zbatch generate --mock` ran 8 workers for its 16 connections, and a new user's 12 images
/// took 63 s instead of 3 s, 2 of them resubmitted as hung (paid twice).
server_options options_for_clients(std::size_t connections);

class server {
 public:
  /// Serves an existing model (shared with the caller, e.g. a test that inspects its stats).
  /// Throws std::runtime_error when the address cannot be bound, or std::invalid_argument for a
  /// non-loopback host without an admin token.
  explicit server(std::shared_ptr<model> model, server_options options = {});
  /// Convenience: a model on the steady clock with this config and seed.
  explicit server(mock_config config, std::uint64_t seed = 1, server_options options = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int port() const { return port_; }
  /// The keep-alive idle time-out handed to cpp-httplib, seconds.
  int keep_alive_timeout_s() const { return options_.keep_alive_timeout_s; }
  /// "http://127.0.0.1:41234": what clients use.
  std::string base_url() const;
  /// The images' origin ("http://127.0.0.1:41235"), or base_url() without a second origin.
  std::string images_url() const;
  /// The second origin's port, or -1 without one.
  int images_port() const { return images_port_; }
  model& mock_model() { return *model_; }
  std::shared_ptr<model> shared_model() const { return model_; }

  /// Stops serving and joins; idempotent.
  void stop();
  /// Blocks until stop() has been called and the serving thread ended.
  void wait();

 private:
  /// `body`: the request's body when the handler read it itself (POST), else `request`'s.
  void handle(const void* request, void* response, const std::string* body = nullptr);
  /// Binds `http` to `port` (0: any) on the host, starts its accept loop on `thread`; returns
  /// the port. Throws std::runtime_error when it cannot bind.
  int start(httplib::Server& http, int port, std::thread& thread);
  std::string url_of(int port) const;
  bool sleep_interruptibly(duration how_long);

  std::shared_ptr<model> model_;
  server_options options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Server> images_http_;  ///< The second origin, when there is one.
  int images_port_ = -1;
  std::thread images_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace zbatch::mock
