// The batch over the blocking backend pool on the real scheduler, with an in-process fake of
// client::backend (no sockets; the loopback run against zbatch mock is in tests/sim).

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"

namespace zbatch::actors {
namespace {

struct fake_log {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::atomic<int> submits{0};
  std::atomic<int> made{0};
};

/// The signature, IHDR and IEND chunks of a 1x1 PNG: enough for the worker's image check,
/// which reads chunk headers, not pixels; the bytes after IEND can say which URL they came from.
std::string png_header() {
  return std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0", 29) +
         std::string(4, '\0') + std::string("\0\0\0\0IEND\xAE\x42\x60\x82", 12);
}

class fake_backend final : public client::backend {
 public:
  explicit fake_backend(std::shared_ptr<fake_log> log) : log_(std::move(log)) { ++log_->made; }
  client::result<protocol::submit_accepted> submit(const protocol::submit_request& r) override {
    seen();
    ++log_->submits;
    return protocol::submit_accepted{"task-" + std::to_string(*r.seed), "req", std::nullopt};
  }
  client::result<protocol::task_state> poll(const std::string& task_id) override {
    seen();
    protocol::task_state state;
    state.task_id = task_id;
    state.status = protocol::task_status::succeed;
    state.raw_status = "SUCCEED";
    state.output_images = {"http://127.0.0.1:1/img/" + task_id + ".png"};
    return state;
  }
  client::result<client::downloaded_image> download(const std::string& url) override {
    seen();
    return client::downloaded_image{png_header() + "bytes of " + url, "image/png"};
  }

 private:
  void seen() {
    std::lock_guard<std::mutex> guard(log_->mutex);
    log_->threads.insert(std::this_thread::get_id());
  }
  std::shared_ptr<fake_log> log_;
};

TEST(blocking_backend, run_batch_delivers_through_detached_io_actors) {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system(cfg);
  auto log = std::make_shared<fake_log>();
  auto backend = spawn_blocking_backend(
      system, [log] { return std::make_unique<fake_backend>(log); }, 2);
  batch_request request;
  for (int i = 0; i < 6; ++i) {
    image_job job;
    job.request.prompt = "p";
    job.request.seed = i;
    request.jobs.push_back(job);
  }
  request.strategy = parse_strategy("concurrent,poll=10ms").value();
  request.keep_bytes = true;
  std::atomic<int> progress{0};
  const auto result =
      run_batch(system, std::move(request), backend, [&](const progress_event&) { ++progress; });
  EXPECT_EQ(result.delivered(), 6u);
  EXPECT_EQ(result.images[3].bytes, png_header() + "bytes of http://127.0.0.1:1/img/task-3.png");
  EXPECT_EQ(result.images[3].task_id, "task-3");
  EXPECT_EQ(progress.load(), 7);
  EXPECT_EQ(log->submits.load(), 6);
  EXPECT_LE(log->made.load(), 2);  // never more backends than connections
  EXPECT_LE(log->threads.size(), 2u);
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
}

TEST(blocking_backend, rejects_bad_arguments) {
  caf::actor_system_config cfg;
  caf::actor_system system(cfg);
  EXPECT_THROW(spawn_blocking_backend(system, {}, 1), std::invalid_argument);
  auto log = std::make_shared<fake_log>();
  EXPECT_THROW(spawn_blocking_backend(
                   system, [log] { return std::make_unique<fake_backend>(log); }, 0),
               std::invalid_argument);
  EXPECT_THROW(spawn_batch(system, batch_request{}, backend_actor{}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace zbatch::actors
