#pragma once
/// A scripted stand-in for ModelScope's async image API on 127.0.0.1 (port 0), for tests that
/// need the service, or the gateways in front of it, to misbehave the way public bug reports say
/// they do, and that must know what the user paid: every task it creates is counted.
///
/// Protocol: `POST /v1/images/generations` creates and counts a task and answers
/// `{"task_id","request_id","task_status":"SUCCEED"}`; `GET /v1/tasks/{id}` answers RUNNING for
/// the task's `running_polls`, then SUCCEED with `output_images` on this server (or the scripted
/// terminal answer); `GET /images/{id}.png` serves a real PNG of the size the submit asked for
/// (1024x1024 when it named none). Task ids are "task-1", "task-2", ... in creation order, or
/// another prefix (`set_task_id_prefix`: opaque text such as "a b?x=1#frag/../../"); the poll and
/// image routes take the id percent-decoded from the path, the image URL carries it encoded.
///
/// Scripting: submits, tasks and images each have a default behaviour and a queue of one-shot
/// behaviours taken in order (the first submit takes the first queued `submit_behaviour`, the
/// first created task the first queued `task_behaviour` and `image_behaviour`). The functions of
/// `fake::` build the behaviours of issue 12 (a gateway 504 after the task was created,
/// moderation sent as a text code, an image URL that redirects, a closed image port, ...).
///
/// Lifecycle and threading: the constructor binds and serves on an owned thread; the destructor
/// wakes every delayed or held answer, stops and joins. Scripting and counters are thread-safe and
/// may be used while requests are in flight.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/size.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace zbatch::test::fake {

/// A fixed HTTP answer.
struct answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What one submit does.
struct submit_behaviour {
  bool creates_task = true;            ///< The service created (and charged) a task.
  std::chrono::milliseconds delay{0};  ///< Waited before answering (a gateway's time-out).
  std::optional<answer> reply;         ///< nullopt: the service's 200 with the task id.
  bool hang = false;  ///< Never answers: held until the server stops (the client times out).
  bool drop = false;  ///< Sends the headers of `reply` (or the 200), then closes mid-body.
};

/// How a created task ends.
struct task_behaviour {
  int running_polls = 0;           ///< RUNNING answers before the terminal one.
  std::optional<answer> terminal;  ///< nullopt: SUCCEED with the image URL.
  std::optional<answer> refusal;   ///< The first `refusals` polls get this (a 404 page, a 401).
  int refusals = 0;
};

/// What the task's image URL does.
struct image_behaviour {
  std::optional<std::string> url;  ///< The URL handed out instead of /images/{id}.png here.
  int redirects = 0;               ///< 302 hops before the file.
  bool relative_location = false;  ///< Redirects name a path ("/images/..."), not a full URL.
  bool redirect_loop = false;      ///< Every answer is a 302 to the same URL.
  std::optional<answer> reply;     ///< Served instead of the PNG (text/html, 503, ...).
  int reply_times = -1;            ///< Downloads that get `reply` before the PNG; -1: all.
  std::optional<protocol::image_size> served_size;  ///< A PNG of another size than asked.
  int cut_times = 0;  ///< Downloads that get the PNG's first half (Content-Length to match).
};

/// Counts of what the fake saw. `tasks_created` is what the user pays for.
struct counters {
  int submits_received = 0;
  int tasks_created = 0;
  int polls = 0;
  int downloads = 0;                     ///< Every GET of an image URL, redirect hops included.
  int images_served = 0;                 ///< PNG bodies sent.
  int downloads_with_authorization = 0;  ///< Image GETs that carried an Authorization header.
};

class service {
 public:
  service();
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  ///< "http://127.0.0.1:41234"

  /// What the ids of tasks created from now on start with ("task-" until set).
  void set_task_id_prefix(std::string prefix);
  /// Defaults for requests the queues do not cover.
  void set_default(submit_behaviour behaviour);
  void set_default(task_behaviour behaviour);
  void set_default(image_behaviour behaviour);
  /// One-shot behaviours, taken in order by the next submits / created tasks.
  void queue(submit_behaviour behaviour);
  void queue(task_behaviour behaviour);
  void queue(image_behaviour behaviour);

  counters counts() const;
  int tasks_created() const { return counts().tasks_created; }
  int submits_received() const { return counts().submits_received; }
  int polls() const { return counts().polls; }
  int downloads() const { return counts().downloads; }
  /// The PNG this fake serves for a task (what a correct download must have saved).
  std::string image_of(const std::string& task_id) const;

  void stop();  ///< Wakes held answers, stops serving, joins; idempotent.

 private:
  struct task {
    std::string prompt;
    std::int64_t seed = 0;
    protocol::image_size size;
    task_behaviour behaviour;
    image_behaviour image;
    int polls = 0;
    int refused_polls = 0;
    int downloads = 0;
  };

  void on_submit(const httplib::Request& request, httplib::Response& response);
  void on_poll(const httplib::Request& request, httplib::Response& response);
  void on_image(const httplib::Request& request, httplib::Response& response);
  std::string create_task(const std::string& body);  // caller holds mutex_
  std::string image_url(const std::string& id, const image_behaviour& image) const;
  void wait_for(std::chrono::milliseconds how_long);

  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool stopped_ = false;
  counters counts_;
  std::string task_id_prefix_ = "task-";
  submit_behaviour default_submit_;
  task_behaviour default_task_;
  image_behaviour default_image_;
  std::deque<submit_behaviour> submits_;
  std::deque<task_behaviour> tasks_queue_;
  std::deque<image_behaviour> images_queue_;
  std::map<std::string, task> tasks_;
};

// ---- the behaviours of issue 12 ----------------------------------------------------------------

/// A task is created and charged, then `delay` later a gateway answers `status` (502, 504, 524)
/// as the gateway's HTML page (`html`) or as a small JSON body without the service's shape.
submit_behaviour gateway_after_create(int status, bool html, std::chrono::milliseconds delay = {});
/// A task is created and charged, then a relay in front of the service (OpenAI-compatible
/// gateways such as new-api) answers `status` in OpenAI's error shape
/// (`{"error":{"message":"upstream request timeout","type":"upstream_error"}}`).
submit_behaviour relay_error_after_create(int status);
/// A task is created, then no answer ever comes (the client's read time-out fires: give the
/// client a short one, e.g. 300 ms; the held request is released when the fake stops).
submit_behaviour hang_after_create();
/// A task is created, then the connection closes after the headers.
submit_behaviour drop_after_create();
/// A task is created, then a 200 comes whose body is not the service's answer (cut JSON without
/// a task id): what a confused gateway or a cut upstream sends (the mock's `malformed` fault).
submit_behaviour garbled_after_create();
/// The service refuses for free: no task, `status` with the service's JSON error shape
/// (`{"errors":{"code":status,"message":..},"request_id":..}`).
submit_behaviour refused(int status, std::string_view message);
/// The batch-fatal refusals: 401 (the doc's unbound-account text), 403, 404 unknown model.
submit_behaviour unauthorized();
submit_behaviour forbidden();
submit_behaviour unknown_model();
/// 503 "Server is busy, please try again later" in the service's JSON shape: no task.
submit_behaviour busy();
/// 429 with `message` (OpenAI-style body when `openai_shape`), with Retry-After when given.
submit_behaviour rate_limited(std::string_view message,
                              std::optional<std::string> retry_after = std::nullopt,
                              bool openai_shape = false);
/// HTTP 200 whose body is an error envelope (`{"errors":{"code":code,"message":..}}`): no task.
submit_behaviour error_in_200(int code, std::string_view message);

/// The texts a 429 can carry: the dynamic limit, the quota texts of the protocol doc, and an
/// unknown one that contains the word "quota" (so a bare substring test would misread it).
std::string dynamic_429_text();
std::vector<std::string> quota_429_texts();
std::string unknown_429_text();

/// The task ends FAILED with `errors.code` written as given (`422`, `"422"`,
/// `"DataInspectionFailed"`) and `message`, after `running_polls` RUNNING answers.
task_behaviour task_fails(std::string_view code_json, std::string_view message,
                          int running_polls = 0);
/// Moderation as ModelScope-compatible services send it with a text code.
task_behaviour moderated_text_code();
/// Moderation with the code 422 written as the string "422".
task_behaviour moderated_string_422();
/// The first `times` polls of the task are answered `status` (404: nginx's HTML page; 401 and
/// others: the service's JSON error), then the task SUCCEEDs as usual.
task_behaviour polls_refused(int status, int times);
/// A poll answered with HTTP 200 and an error envelope instead of a task state.
task_behaviour poll_error_in_200(int code, std::string_view message);

/// The image URL answers 302 (`hops` times) to the real file.
image_behaviour redirect_to_file(int hops = 1, bool relative = false);
/// The image URL redirects to itself forever.
image_behaviour redirect_loop();
/// The image URL points at a loopback port nothing listens on (connection refused).
image_behaviour refused_image_host();
/// The image URL answers 200 with a small text/html page.
image_behaviour html_instead_of_image();
/// The first `times` downloads get the first half of the PNG, with a Content-Length to match.
image_behaviour cut_image(int times);
/// The image host answers `status` (e.g. 503, 404) `times` times (-1: always), then the file.
image_behaviour image_host_status(int status, int times = -1);

/// A loopback TCP port nothing listens on: bound (so the kernel picked it free), then closed.
int closed_port();

}  // namespace zbatch::test::fake
