// The coordinator's production hooks in virtual time: journaling before the first poll, resume of
// known tasks without a new submit, the submit cap, and the graceful drain.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

using protocol::error_class;

/// A backend in front of another that logs every poll ("poll <task>") into `log`.
actors::backend_actor spawn_poll_logger(caf::actor_system& system, actors::backend_actor inner,
                                        std::shared_ptr<std::vector<std::string>> log) {
  // inner and log travel as spawn arguments, not captures: CAF 0.17 binds a null tuple for a
  // function actor spawned without arguments, which UBSan reports.
  return system.spawn(
      [](actors::backend_actor::pointer self, actors::backend_actor inner,
         std::shared_ptr<std::vector<std::string>> log) -> actors::backend_actor::behavior_type {
        return {
            [self, inner](actors::submit_atom atom, protocol::submit_request& request) {
              auto promise = self->make_response_promise<actors::submit_outcome>();
              self->request(inner, caf::infinite, atom, std::move(request))
                  .then([promise](actors::submit_outcome& out) mutable { promise.deliver(out); },
                        [promise](caf::error& error) mutable { promise.deliver(error); });
              return promise;
            },
            [self, inner, log](actors::poll_atom atom, std::string& task_id) {
              log->push_back("poll " + task_id);
              auto promise = self->make_response_promise<actors::poll_outcome>();
              self->request(inner, caf::infinite, atom, std::move(task_id))
                  .then([promise](actors::poll_outcome& out) mutable { promise.deliver(out); },
                        [promise](caf::error& error) mutable { promise.deliver(error); });
              return promise;
            },
            [self, inner](actors::download_atom atom, std::string& url) {
              auto promise = self->make_response_promise<actors::download_outcome>();
              self->request(inner, caf::infinite, atom, std::move(url))
                  .then([promise](actors::download_outcome& out) mutable { promise.deliver(out); },
                        [promise](caf::error& error) mutable { promise.deliver(error); });
              return promise;
            },
        };
      },
      inner, log);
}

class hooks_test : public sim_test {
 protected:
  /// Runs a batch with these callbacks; `on_spawn` sees the coordinator handle first.
  actors::batch_result run_with(actors::batch_request request, actors::batch_callbacks callbacks,
                                actors::backend_actor backend = {}) {
    std::optional<actors::batch_result> result;
    callbacks.on_done = [&result](actors::batch_result done) { result = std::move(done); };
    *coordinator_ = actors::spawn_batch(system_, std::move(request), backend ? backend : backend_,
                                        std::move(callbacks));
    drive(result);
    EXPECT_TRUE(result.has_value()) << "the batch did not finish";
    return result ? std::move(*result) : actors::batch_result{};
  }

  /// Runs the scheduler, timeouts included, until `result` is set or nothing is left to run.
  void drive(const std::optional<actors::batch_result>& result) {
    for (int i = 0; i < 1'000'000 && !result; ++i) {
      scheduler_.run();
      if (result || !scheduler_.has_pending_timeout()) {
        break;
      }
      scheduler_.trigger_timeout();
    }
  }

  actors::batch_request request(const std::string& strategy, int images) {
    actors::batch_request out;
    out.jobs = jobs(images);
    out.strategy = actors::parse_strategy(strategy).value();
    return out;
  }

  std::shared_ptr<caf::actor> coordinator_ = std::make_shared<caf::actor>();
};

TEST_F(hooks_test, accepted_tasks_are_reported_before_their_first_poll) {
  start_mock(exact_config(0));
  auto log = std::make_shared<std::vector<std::string>>();
  auto logger = spawn_poll_logger(system_, backend_, log);
  actors::batch_callbacks callbacks;
  std::vector<std::pair<std::size_t, std::string>> accepted;
  callbacks.on_accepted = [&](std::size_t index, const std::string& task_id) {
    accepted.emplace_back(index, task_id);
    log->push_back("accepted " + task_id);
  };
  // Polls every 10 ms: without the acknowledgement a poll could overtake the callback.
  auto result = run_with(request("bounded,inflight=3,poll=10ms", 3), callbacks, logger);
  caf::anon_send_exit(logger, caf::exit_reason::user_shutdown);
  ASSERT_EQ(result.delivered(), 3u);
  ASSERT_EQ(accepted.size(), 3u);
  for (const auto& [index, task_id] : accepted) {
    EXPECT_EQ(result.images[index].task_id, task_id);
    const auto first_accept = std::find(log->begin(), log->end(), "accepted " + task_id);
    const auto first_poll = std::find(log->begin(), log->end(), "poll " + task_id);
    ASSERT_NE(first_poll, log->end()) << task_id;
    EXPECT_LT(first_accept, first_poll) << task_id;
  }
}

TEST_F(hooks_test, known_tasks_are_polled_again_not_resubmitted) {
  start_mock(exact_config(0));
  // First run: cancelled at 1 s, while every task is still generating (3 s).
  std::vector<std::string> task_ids(3);
  actors::batch_callbacks first;
  first.on_accepted = [&](std::size_t index, const std::string& task_id) {
    task_ids[index] = task_id;
  };
  auto req = request("bounded,inflight=3", 3);
  caf::actor coordinator;
  std::optional<actors::batch_result> cut;
  first.on_done = [&cut](actors::batch_result done) { cut = std::move(done); };
  coordinator = actors::spawn_batch(system_, std::move(req), backend_, first);
  caf::delayed_anon_send(coordinator, std::chrono::seconds(1), actors::cancel_atom::value);
  for (int i = 0; i < 100'000 && !cut; ++i) {
    scheduler_.run();
    if (cut || !scheduler_.has_pending_timeout()) {
      break;
    }
    scheduler_.trigger_timeout();
  }
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->delivered(), 0u);
  for (const auto& id : task_ids) {
    ASSERT_FALSE(id.empty());
  }

  // Second run: images 0 and 1 resume their tasks, image 2 has an id the service never issued.
  auto again = request("bounded,inflight=3", 3);
  again.jobs[0].resume_task_id = task_ids[0];
  again.jobs[1].resume_task_id = task_ids[1];
  again.jobs[2].resume_task_id = "no-such-task";
  std::vector<std::size_t> journaled;
  actors::batch_callbacks second;
  second.on_accepted = [&](std::size_t index, const std::string&) { journaled.push_back(index); };
  auto result = run_with(std::move(again), second);
  EXPECT_EQ(result.delivered(), 3u);
  EXPECT_TRUE(result.images[0].resumed);
  EXPECT_EQ(result.images[0].attempts, 0);
  EXPECT_EQ(result.images[0].task_id, task_ids[0]);
  EXPECT_EQ(result.images[1].attempts, 0);
  EXPECT_EQ(result.images[2].attempts, 1);  // The unknown task: one fresh submit.
  EXPECT_NE(result.images[2].task_id, "no-such-task");
  EXPECT_EQ(result.counters.submits, 1);
  EXPECT_EQ(journaled, std::vector<std::size_t>{2});  // Only the new task is journaled.
  const auto size = protocol::image_size{1024, 1024};
  EXPECT_EQ(model_->submits_for("a lighthouse at dusk", 1000, size), 1u);
  EXPECT_EQ(model_->submits_for("a lighthouse at dusk", 1001, size), 1u);
  EXPECT_EQ(model_->submits_for("a lighthouse at dusk", 1002, size), 2u);
}

TEST_F(hooks_test, a_failed_resumed_task_goes_back_to_the_strategy) {
  auto config = exact_config(0);
  config.faults.task.system = 1.0;  // Every task FAILS (system, refunded).
  start_mock(config);
  std::string task_id;
  actors::batch_callbacks first;
  first.on_accepted = [&](std::size_t, const std::string& id) { task_id = id; };
  auto failed = run_with(request("bounded", 1), first);
  ASSERT_EQ(failed.delivered(), 0u);
  ASSERT_FALSE(task_id.empty());

  auto healthy = exact_config(0);
  model_->replace_config(healthy);
  // One retry allowed: the FAILED task uses it for a fresh submit, which succeeds.
  auto again = request("bounded,retry=1:const:base=1s", 1);
  again.jobs[0].resume_task_id = task_id;
  auto result = run_with(std::move(again), {});
  EXPECT_EQ(result.delivered(), 1u);
  EXPECT_TRUE(result.images[0].resumed);
  EXPECT_EQ(result.images[0].attempts, 1);
  EXPECT_EQ(result.images[0].retries, 1);

  // Without a retry the strategy gives the image up with the task's class.
  auto no_retry = request("bounded", 1);
  no_retry.jobs[0].resume_task_id = task_id;
  auto given_up = run_with(std::move(no_retry), {});
  EXPECT_EQ(given_up.delivered(), 0u);
  EXPECT_EQ(given_up.images[0].error, error_class::task_failed);
  EXPECT_EQ(given_up.counters.submits, 0);
}

// A new user's check: an image refused with a 429 before the cap was reached read "not
// submitted", though its submit was sent (and counted against the cap).
TEST_F(hooks_test, an_image_refused_before_the_cap_is_not_submitted_again) {
  auto config = exact_config(0);
  config.throttle.in_flight_cap = 1;  // "off": a second task in flight is refused
  start_mock(config);
  auto req = request("bounded,inflight=2,r429=5,poll=50ms", 2);
  req.max_submits = 2;
  auto result = run_with(std::move(req), {});
  EXPECT_EQ(result.delivered(), 1u);
  EXPECT_EQ(result.counters.submits, 2);
  for (const auto& image : result.images) {
    if (!image.delivered) {
      EXPECT_EQ(image.attempts, 1);
      EXPECT_NE(image.message.find("not submitted again: submit cap reached"), std::string::npos)
          << image.message;
    }
  }
}

TEST_F(hooks_test, the_submit_cap_is_never_exceeded) {
  start_mock(exact_config(0));
  auto req = request("bounded,inflight=5", 5);
  req.max_submits = 3;
  auto result = run_with(std::move(req), {});
  EXPECT_EQ(result.delivered(), 3u);
  EXPECT_TRUE(result.submit_capped);
  EXPECT_EQ(result.counters.submits, 3);
  EXPECT_EQ(count_failed(result, error_class::cancelled), 2);
  for (const auto& image : result.images) {
    if (!image.delivered) {
      EXPECT_NE(image.message.find("not submitted: submit cap reached"), std::string::npos)
          << image.message;
      EXPECT_EQ(image.attempts, 0);
    }
  }
  // Resumed tasks cost no submit: they run even when the cap is used up.
  auto resumed = request("bounded,inflight=5", 2);
  resumed.jobs[0].resume_task_id = result.images[0].task_id;
  resumed.max_submits = 1;
  auto second = run_with(std::move(resumed), {});
  EXPECT_EQ(second.delivered(), 2u);
  EXPECT_EQ(second.counters.submits, 1);
  EXPECT_FALSE(second.submit_capped);
}

TEST_F(hooks_test, a_models_quota_cap_holds_within_one_burst_of_starts) {
  // One limiter ask grants a burst of starts (limiter_actor.hpp): the model's cap from the quota
  // plan must bound the burst, not only the next pump turn.
  start_mock(exact_config(0));
  auto req = request("bounded,inflight=5", 5);
  const std::string model = req.jobs[0].request.model;
  req.model_quota_submits[model] = 2;
  auto result = run_with(std::move(req), {});
  EXPECT_EQ(result.counters.submits, 2);
  EXPECT_EQ(result.delivered(), 2u);
  EXPECT_EQ(count_failed(result, error_class::quota_429), 3);
  for (const auto& image : result.images) {
    if (!image.delivered) {
      EXPECT_EQ(image.attempts, 0) << image.message;
    }
  }
}

TEST_F(hooks_test, the_cap_also_stops_retries) {
  start_mock(exact_config(1));
  // concurrent + retries under an in-flight cap of 1: the 429s would be retried, but the cap of
  // 4 submits stops them.
  auto req = request("concurrent,retry=5:const:base=1s", 4);
  req.max_submits = 4;
  auto result = run_with(std::move(req), {});
  EXPECT_EQ(result.counters.submits, 4);
  EXPECT_EQ(result.delivered(), 1u);
  EXPECT_TRUE(result.submit_capped);
}

TEST_F(hooks_test, a_drain_lets_running_attempts_finish_within_the_grace) {
  start_mock(exact_config(0));
  actors::batch_callbacks callbacks;
  int accepted = 0;
  auto coordinator = coordinator_;
  callbacks.on_accepted = [&accepted, coordinator](std::size_t, const std::string&) {
    if (++accepted == 2) {
      actors::drain_batch(*coordinator, std::chrono::seconds(10));
    }
  };
  auto result = run_with(request("bounded", 4), callbacks);
  EXPECT_TRUE(result.drained);
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.delivered(), 2u);
  EXPECT_EQ(count_failed(result, error_class::cancelled), 2);
  EXPECT_EQ(result.counters.submits, 2);
  EXPECT_EQ(result.makespan_ms, 3000);  // The running tasks' 3 s, not the grace.
  EXPECT_TRUE(result.images[0].delivered);
  EXPECT_TRUE(result.images[1].delivered);
  EXPECT_NE(result.images[2].message.find("winding down"), std::string::npos);
}

TEST_F(hooks_test, a_drain_cancels_what_outlasts_the_grace) {
  start_mock(exact_config(0));
  actors::batch_callbacks callbacks;
  auto coordinator = coordinator_;
  callbacks.on_accepted = [coordinator](std::size_t, const std::string&) {
    actors::drain_batch(*coordinator, std::chrono::seconds(1));
  };
  std::vector<std::size_t> finished;
  callbacks.on_image = [&finished](actors::image_result& image) {
    finished.push_back(image.index);
  };
  auto result = run_with(request("bounded", 3), callbacks);
  EXPECT_TRUE(result.drained);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.delivered(), 0u);
  EXPECT_EQ(result.makespan_ms, 1000);
  EXPECT_EQ(finished.size(), 3u);  // on_image saw every image, cancelled ones included.
  // The tasks accepted before the drain keep their ids for a resume.
  EXPECT_FALSE(result.images[0].task_id.empty());
}

TEST_F(hooks_test, finished_images_reach_on_image_with_their_bytes) {
  start_mock(exact_config(0));
  auto req = request("bounded", 2);
  req.keep_bytes = true;
  actors::batch_callbacks callbacks;
  std::size_t bytes = 0;
  callbacks.on_image = [&bytes](actors::image_result& image) {
    EXPECT_TRUE(image.delivered);
    bytes += image.bytes.size();
    std::string().swap(image.bytes);  // The callee may take the bytes.
  };
  auto result = run_with(std::move(req), callbacks);
  EXPECT_EQ(result.delivered(), 2u);
  EXPECT_GT(bytes, 0u);
  EXPECT_TRUE(result.images[0].bytes.empty());
}

// A cancel while submits are on their way: the answers are awaited so accepted task ids are
// journaled (on_accepted) before the batch ends; none is polled.
TEST_F(hooks_test, a_cancel_journals_the_tasks_of_submits_already_sent) {
  auto config = exact_config(0);
  config.response_delay = mock::latency_spec::fixed(2000);
  start_mock(config);
  auto log = std::make_shared<std::vector<std::string>>();
  auto backend = spawn_poll_logger(system_, backend_, log);
  std::vector<std::string> journaled;
  actors::batch_callbacks callbacks;
  callbacks.on_accepted = [&journaled](std::size_t, const std::string& task_id) {
    journaled.push_back(task_id);
  };
  actors::batch_request req = request("concurrent", 3);
  std::optional<actors::batch_result> result;
  callbacks.on_done = [&result](actors::batch_result done) { result = std::move(done); };
  *coordinator_ = actors::spawn_batch(system_, std::move(req), backend, std::move(callbacks));
  caf::delayed_anon_send(*coordinator_, std::chrono::milliseconds(500), actors::cancel_atom::value);
  drive(result);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->cancelled);
  EXPECT_EQ(journaled.size(), 3u);
  for (const auto& image : result->images) {
    EXPECT_FALSE(image.delivered);
    EXPECT_FALSE(image.task_id.empty()) << image.index;
    EXPECT_EQ(image.ambiguous_submits, 0);
  }
  EXPECT_TRUE(log->empty()) << "no task is polled after the cancel";
  EXPECT_EQ(result->makespan_ms, 2000);
}

// A cancel while submits are on their way and the pacing has set a wake for the next start
// (token bucket: 2 at once, the next at 2 s): the wake comes while the cancel waits for the
// answers (3 s), and must start nothing. Found while adding the retry budget's deferrals: the
// pump ran on that wake and submitted an image the cancel had already failed.
TEST_F(hooks_test, a_wake_while_a_cancel_waits_for_answers_submits_nothing) {
  auto config = exact_config(0);
  config.response_delay = mock::latency_spec::fixed(3000);
  start_mock(config);
  actors::batch_callbacks callbacks;
  callbacks.on_accepted = [](std::size_t, const std::string&) {};
  std::optional<actors::batch_result> result;
  callbacks.on_done = [&result](actors::batch_result done) { result = std::move(done); };
  *coordinator_ =
      actors::spawn_batch(system_, request("token-bucket", 4), backend_, std::move(callbacks));
  caf::delayed_anon_send(*coordinator_, std::chrono::milliseconds(100), actors::cancel_atom::value);
  drive(result);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->cancelled);
  EXPECT_EQ(result->counters.submits, 2);
  EXPECT_EQ(counts_->submit["200"], 2) << "a cancelled image was submitted";
  EXPECT_EQ(result->makespan_ms, 3000);
}

// Answers slower than the cancel waits for: the submits count as possibly paid.
TEST_F(hooks_test, a_cancel_counts_unanswered_submits_as_possibly_paid) {
  auto config = exact_config(0);
  config.response_delay = mock::latency_spec::fixed(60'000);
  start_mock(config);
  actors::batch_callbacks callbacks;
  callbacks.on_accepted = [](std::size_t, const std::string&) {};
  std::optional<actors::batch_result> result;
  callbacks.on_done = [&result](actors::batch_result done) { result = std::move(done); };
  *coordinator_ =
      actors::spawn_batch(system_, request("concurrent", 2), backend_, std::move(callbacks));
  caf::delayed_anon_send(*coordinator_, std::chrono::milliseconds(500), actors::cancel_atom::value);
  drive(result);
  ASSERT_TRUE(result.has_value());
  for (const auto& image : result->images) {
    EXPECT_EQ(image.ambiguous_submits, 1) << image.index;
    EXPECT_NE(image.message.find("possibly paid"), std::string::npos) << image.message;
  }
  EXPECT_EQ(result->makespan_ms, 10'500);
}

}  // namespace
}  // namespace zbatch::sim::testing
