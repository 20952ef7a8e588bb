#include "tests/fakes/fake_service.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "mock_api/png.hpp"
#include "protocol/messages.hpp"

namespace zbatch::test::fake {
namespace {

using nlohmann::json;

answer json_answer(int status, std::string body) {
  answer out;
  out.status = status;
  out.body = std::move(body);
  return out;
}

answer html_answer(int status, std::string_view title) {
  answer out;
  out.status = status;
  out.content_type = "text/html";
  out.body = "<html><head><title>" + std::string(title) + "</title></head><body><center><h1>" +
             std::string(title) + "</h1></center><hr><center>nginx</center></body></html>\n";
  return out;
}

void write(httplib::Response& response, const answer& reply) {
  response.status = reply.status;
  for (const auto& [name, value] : reply.headers) {
    response.set_header(name, value);
  }
  response.set_content(reply.body, reply.content_type.c_str());
}

/// Announces the whole body, sends half of it, then closes the connection.
void write_truncated(httplib::Response& response, const answer& reply) {
  response.status = reply.status;
  auto body = std::make_shared<std::string>(reply.body.empty() ? std::string(64, ' ') : reply.body);
  const std::size_t cut = body->size() / 2;
  response.set_content_provider(
      body->size(), reply.content_type.c_str(),
      [body, cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
        if (offset < cut) {
          sink.write(body->data() + offset, cut - offset);
          return true;
        }
        return false;
      });
}

template <class T>
T take(std::deque<T>& queue, const T& fallback) {
  if (queue.empty()) {
    return fallback;
  }
  T out = std::move(queue.front());
  queue.pop_front();
  return out;
}

}  // namespace

service::service() : http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  http_->set_tcp_nodelay(true);
  // Bounds how long stop() waits for a client that keeps an idle connection open.
  http_->set_keep_alive_timeout(1);
  http_->Post(std::string(protocol::submit_path),
              [this](const httplib::Request& req, httplib::Response& res) { on_submit(req, res); });
  // httplib matches the decoded path: an id may hold '/' (set_task_id_prefix).
  http_->Get(R"(/v1/tasks/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { on_poll(req, res); });
  http_->Get(R"(/images/(.+)\.png)",
             [this](const httplib::Request& req, httplib::Response& res) { on_image(req, res); });
  port_ = http_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    throw std::runtime_error("fake service: cannot bind 127.0.0.1");
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() does nothing until the accept loop runs: wait for it (as mock_api/server.cpp does).
  while (!http_->is_running()) {
    std::this_thread::yield();
  }
}

service::~service() { stop(); }

void service::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) {
      return;
    }
    stopping_ = true;
    stopped_ = true;
  }
  wake_.notify_all();
  http_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string service::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void service::set_task_id_prefix(std::string prefix) {
  std::lock_guard<std::mutex> lock(mutex_);
  task_id_prefix_ = std::move(prefix);
}

void service::set_default(submit_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_submit_ = std::move(behaviour);
}
void service::set_default(task_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_task_ = std::move(behaviour);
}
void service::set_default(image_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_image_ = std::move(behaviour);
}
void service::queue(submit_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  submits_.push_back(std::move(behaviour));
}
void service::queue(task_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  tasks_queue_.push_back(std::move(behaviour));
}
void service::queue(image_behaviour behaviour) {
  std::lock_guard<std::mutex> lock(mutex_);
  images_queue_.push_back(std::move(behaviour));
}

counters service::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

std::string service::image_of(const std::string& task_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return {};
  }
  const auto size = it->second.image.served_size.value_or(it->second.size);
  return mock::render_png(it->second.prompt, it->second.seed, size.width, size.height);
}

void service::wait_for(std::chrono::milliseconds how_long) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, how_long, [this] { return stopping_; });
}

std::string service::create_task(const std::string& body) {
  const std::string id = task_id_prefix_ + std::to_string(++counts_.tasks_created);
  task created;
  auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    created.prompt = parsed.value("prompt", "");
    created.seed = parsed.value("seed", std::int64_t{0});
    if (auto size = protocol::parse_size(parsed.value("size", ""))) {
      created.size = *size;
    }
  }
  created.behaviour = take(tasks_queue_, default_task_);
  created.image = take(images_queue_, default_image_);
  tasks_.emplace(id, std::move(created));
  return id;
}

void service::on_submit(const httplib::Request& request, httplib::Response& response) {
  submit_behaviour behaviour;
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.submits_received;
    behaviour = take(submits_, default_submit_);
    if (behaviour.creates_task) {
      id = create_task(request.body);
    }
  }
  if (behaviour.hang) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [this] { return stopping_; });
    response.status = 500;
    return;
  }
  if (behaviour.delay.count() > 0) {
    wait_for(behaviour.delay);
  }
  const answer reply = behaviour.reply.value_or(json_answer(
      200, json{{"task_id", id}, {"request_id", "req-" + id}, {"task_status", "SUCCEED"}}.dump()));
  if (behaviour.drop) {
    write_truncated(response, reply);
  } else {
    write(response, reply);
  }
}

std::string service::image_url(const std::string& id, const image_behaviour& image) const {
  return image.url.value_or(base_url() + "/images/" + protocol::encode_path_segment(id) + ".png");
}

void service::on_poll(const httplib::Request& request, httplib::Response& response) {
  const std::string id = request.matches[1];
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_.polls;
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    write(response,
          json_answer(
              200, json{{"errors", {{"code", 500}, {"message", protocol::texts::task_not_found}}},
                        {"task_status", "FAILED"}}
                       .dump()));
    return;
  }
  auto& t = it->second;
  const json head{{"task_id", id}, {"request_id", "req-poll-" + std::to_string(counts_.polls)}};
  if (t.refused_polls < t.behaviour.refusals) {
    ++t.refused_polls;
    write(response, *t.behaviour.refusal);
    return;
  }
  if (t.polls++ < t.behaviour.running_polls) {
    auto running = head;
    running["task_status"] = "RUNNING";
    running["outputs"] = json::object();
    write(response, json_answer(200, running.dump()));
    return;
  }
  if (t.behaviour.terminal) {
    write(response, *t.behaviour.terminal);
    return;
  }
  auto done = head;
  done["task_status"] = "SUCCEED";
  done["output_images"] = json::array({image_url(id, t.image)});
  write(response, json_answer(200, done.dump()));
}

void service::on_image(const httplib::Request& request, httplib::Response& response) {
  const std::string id = request.matches[1];
  task copy;
  bool cut = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.downloads;
    if (request.has_header("Authorization")) {
      ++counts_.downloads_with_authorization;
    }
    auto it = tasks_.find(id);
    if (it == tasks_.end()) {
      write(response, html_answer(404, "404 Not Found"));
      return;
    }
    auto& image = it->second.image;
    const int hop = request.has_param("hop") ? std::stoi(request.get_param_value("hop")) : 0;
    const std::string path = "/images/" + protocol::encode_path_segment(id) + ".png";
    if (image.redirect_loop || hop < image.redirects) {
      const std::string next = path + "?hop=" + std::to_string(image.redirect_loop ? 0 : hop + 1);
      response.status = 302;
      response.set_header("Location", image.relative_location ? next : base_url() + next);
      response.set_content("<html><body>Found</body></html>", "text/html");
      return;
    }
    const int served = it->second.downloads++;
    if (image.reply && (image.reply_times < 0 || served < image.reply_times)) {
      write(response, *image.reply);
      return;
    }
    ++counts_.images_served;
    copy = it->second;
    cut = served < image.cut_times;
  }
  const auto size = copy.image.served_size.value_or(copy.size);
  auto png = mock::render_png(copy.prompt, copy.seed, size.width, size.height);
  if (cut) {
    png.resize(png.size() / 2);
  }
  response.set_content(png, "image/png");
}

// ---- behaviours --------------------------------------------------------------------------------

submit_behaviour gateway_after_create(int status, bool html, std::chrono::milliseconds delay) {
  submit_behaviour out;
  out.delay = delay;
  if (html) {
    out.reply = status == 524 ? html_answer(524, "524: A timeout occurred")
                              : html_answer(status, status == 504 ? "504 Gateway Time-out"
                                                                  : "502 Bad Gateway");
  } else {
    // API gateways answer with their own small JSON, not the service's error shape.
    out.reply = json_answer(status, R"({"message":"Endpoint request timed out"})");
  }
  return out;
}

submit_behaviour relay_error_after_create(int status) {
  submit_behaviour out;
  out.reply = json_answer(
      status, R"({"error":{"message":"upstream request timeout","type":"upstream_error"}})");
  return out;
}

submit_behaviour hang_after_create() {
  submit_behaviour out;
  out.hang = true;
  return out;
}

submit_behaviour drop_after_create() {
  submit_behaviour out;
  out.drop = true;
  return out;
}

submit_behaviour refused(int status, std::string_view message) {
  submit_behaviour out;
  out.creates_task = false;
  out.reply = json_answer(status, protocol::error_body(status, message, "req-refused"));
  return out;
}

submit_behaviour busy() { return refused(503, protocol::texts::server_busy); }

submit_behaviour unauthorized() {
  return refused(401, "Please bind your Alibaba Cloud account before use.");
}

submit_behaviour forbidden() { return refused(403, "You do not have access to this model."); }

submit_behaviour unknown_model() {
  return refused(404, "Model id : Nobody/No-Such-Model , has no provider supported");
}

submit_behaviour rate_limited(std::string_view message, std::optional<std::string> retry_after,
                              bool openai_shape) {
  submit_behaviour out;
  out.creates_task = false;
  out.reply = json_answer(429, openai_shape ? protocol::openai_error_body(message)
                                            : protocol::error_body(429, message, "req-429"));
  if (retry_after) {
    out.reply->headers.emplace_back("Retry-After", *retry_after);
  }
  return out;
}

submit_behaviour garbled_after_create() {
  submit_behaviour out;
  out.reply = json_answer(200, R"({"request_id": "req-cut", "task_status": RUNNING, )");
  return out;
}

submit_behaviour error_in_200(int code, std::string_view message) {
  submit_behaviour out;
  out.creates_task = false;
  out.reply = json_answer(200, protocol::error_body(code, message, "req-200"));
  return out;
}

std::string dynamic_429_text() {
  return protocol::texts::dynamic_rate_limit(protocol::default_model);
}

std::vector<std::string> quota_429_texts() {
  return {std::string(protocol::texts::request_limit_exceeded),
          protocol::texts::daily_quota(protocol::default_model), "insufficient balance",
          "免费使用额度已用完"};
}

std::string unknown_429_text() { return "Too many requests for this quota group, slow down"; }

task_behaviour task_fails(std::string_view code_json, std::string_view message, int running_polls) {
  task_behaviour out;
  out.running_polls = running_polls;
  json errors{{"code", json::parse(code_json)}, {"message", message}};
  out.terminal = json_answer(
      200,
      json{{"request_id", "req-failed"}, {"task_status", "FAILED"}, {"errors", errors}}.dump());
  return out;
}

task_behaviour moderated_text_code() {
  return task_fails(R"("DataInspectionFailed")", "Output data may contain inappropriate content.");
}

task_behaviour moderated_string_422() {
  return task_fails(R"("422")", protocol::texts::moderation);
}

task_behaviour polls_refused(int status, int times) {
  task_behaviour out;
  out.refusal = status == 404
                    ? html_answer(404, "404 Not Found")
                    : json_answer(status, protocol::error_body(status, "Invalid API token",
                                                               "req-poll-refused"));
  out.refusals = times;
  return out;
}

task_behaviour poll_error_in_200(int code, std::string_view message) {
  task_behaviour out;
  out.terminal = json_answer(200, protocol::error_body(code, message, "req-poll-error"));
  return out;
}

image_behaviour redirect_to_file(int hops, bool relative) {
  image_behaviour out;
  out.redirects = hops;
  out.relative_location = relative;
  return out;
}

image_behaviour redirect_loop() {
  image_behaviour out;
  out.redirect_loop = true;
  return out;
}

image_behaviour refused_image_host() {
  image_behaviour out;
  out.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/images/lost.png";
  return out;
}

image_behaviour html_instead_of_image() {
  image_behaviour out;
  out.reply = html_answer(200, "Welcome");
  return out;
}

image_behaviour cut_image(int times) {
  image_behaviour out;
  out.cut_times = times;
  return out;
}

image_behaviour image_host_status(int status, int times) {
  image_behaviour out;
  // Object storage answers errors as its own small documents, never in the service's shape.
  out.reply = status >= 500 ? html_answer(status, std::to_string(status) + " Service Unavailable")
                            : html_answer(status, std::to_string(status) + " NoSuchKey");
  out.reply_times = times;
  return out;
}

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("fake service: cannot bind a loopback socket");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace zbatch::test::fake
