// The hung-task policy and the fitted polls in virtual time (issue 13): a scripted backend whose
// tasks take a fixed time, never finish, or SUCCEED with an image that cannot be downloaded.
// Every figure is exact.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <caf/typed_event_based_actor.hpp>

#include "actors/rate_limiter.hpp"
#include "tests/sim/sim_fixture.hpp"

namespace zbatch::sim::testing {
namespace {

using actors::millis;

constexpr std::int64_t never = -1;

/// What the scripted service does with the n-th submit (in the order they arrive).
struct task_script {
  std::int64_t latency_ms = 4000;  ///< SUCCEED once this long after the submit; `never`: RUNNING.
  bool download_fails = false;     ///< The SUCCEEDed task's image always fails to download.
  bool poll_malformed = false;     ///< Every poll of the task is answered with a malformed body.
};

struct scripted_state {
  std::vector<task_script> script;
  task_script otherwise;  ///< For submits beyond the script.
  std::shared_ptr<int> submits;
  std::map<std::string, std::pair<actors::time_point, task_script>> tasks;
};

actors::backend_actor::behavior_type scripted_backend(
    actors::backend_actor::stateful_pointer<scripted_state> self, std::vector<task_script> script,
    task_script otherwise, std::shared_ptr<int> submits) {
  self->state.script = std::move(script);
  self->state.otherwise = otherwise;
  self->state.submits = std::move(submits);
  return {
      [self](actors::submit_atom, const protocol::submit_request&) -> actors::submit_outcome {
        auto& st = self->state;
        const auto n = static_cast<std::size_t>((*st.submits)++);
        const auto& what = n < st.script.size() ? st.script[n] : st.otherwise;
        const auto id = "t" + std::to_string(n);
        st.tasks[id] = {self->clock().now(), what};
        return protocol::submit_accepted{id, "r" + std::to_string(n), std::nullopt};
      },
      [self](actors::poll_atom, const std::string& id) -> actors::poll_outcome {
        const auto& [created, what] = self->state.tasks.at(id);
        if (what.poll_malformed) {
          protocol::api_error error;
          error.kind = protocol::error_class::malformed;
          error.message = "poll answer is not JSON";
          return error;
        }
        protocol::task_state state;
        state.task_id = id;
        state.status = protocol::task_status::running;
        if (what.latency_ms != never && self->clock().now() - created >= millis{what.latency_ms}) {
          state.status = protocol::task_status::succeed;
          state.output_images = {"https://img.example/" + id + ".png"};
        }
        return state;
      },
      [self](actors::download_atom, const std::string& url) -> actors::download_outcome {
        const auto id = url.substr(url.rfind('/') + 1, url.size() - url.rfind('/') - 5);
        if (self->state.tasks.at(id).second.download_fails) {
          protocol::api_error error;
          error.kind = protocol::error_class::server_transport;
          error.message = "connection reset while downloading";
          return error;
        }
        return client::downloaded_image{"png-bytes", "image/png",
                                        client::image_info{client::image_format::png, 1024, 1024}};
      },
  };
}

class hung_test : public sim_test {
 protected:
  /// Five 4 s tasks (the latencies the give-up learns from), then `last` for image 5; later
  /// submits (knowing resubmits) follow `otherwise`.
  actors::batch_result run_hung(const std::string& strategy, task_script last,
                                task_script otherwise = {}, int max_submits = 0,
                                std::optional<protocol::image_size> last_size = std::nullopt) {
    std::vector<task_script> script(5);
    script.push_back(last);
    backend_ = system_.spawn(scripted_backend, script, otherwise, submits_);
    actors::batch_request request;
    request.jobs = jobs(6);
    if (last_size) {
      request.jobs[5].request.size = last_size;
    }
    request.strategy = actors::parse_strategy(strategy).value();
    request.max_submits = max_submits;
    auto result = run_batch_sim(system_, std::move(request), backend_, {}, {}, 10'000'000);
    EXPECT_TRUE(result.has_value()) << "the batch did not finish";
    return result ? std::move(*result) : actors::batch_result{};
  }

  /// One image per scripted task, submitted one at a time (in-flight limit 1).
  actors::batch_result run_serial(const std::string& strategy, std::vector<task_script> script) {
    const auto images = static_cast<int>(script.size());
    backend_ = system_.spawn(scripted_backend, std::move(script), task_script{}, submits_);
    actors::batch_request request;
    request.jobs = jobs(images);
    request.strategy = actors::parse_strategy(strategy).value();
    auto result = run_batch_sim(system_, std::move(request), backend_, {}, {}, 10'000'000);
    EXPECT_TRUE(result.has_value()) << "the batch did not finish";
    return result ? std::move(*result) : actors::batch_result{};
  }

  /// When image `index` was polled, in ms after its task was accepted.
  static std::vector<std::int64_t> polls_after_acceptance(const actors::batch_result& result,
                                                          std::size_t index) {
    std::int64_t accepted = -1;
    std::vector<std::int64_t> out;
    for (const auto& event : result.images[index].trace) {
      if (event.kind == actors::trace_kind::accepted) {
        accepted = event.t_ms;
      } else if (event.kind == actors::trace_kind::poll && accepted >= 0) {
        out.push_back(event.t_ms - accepted);
      }
    }
    return out;
  }

  /// When image 5 was given up as hung (ms since the start), or -1.
  static std::int64_t gave_up_at(const actors::batch_result& result) {
    for (const auto& event : result.images[5].trace) {
      if (event.kind == actors::trace_kind::error &&
          event.detail.find("given up as hung") != std::string::npos) {
        return event.t_ms;
      }
    }
    return -1;
  }

  std::shared_ptr<int> submits_ = std::make_shared<int>(0);
};

// All six images start at 0 s; the five 4 s tasks are seen SUCCEEDed at 4 s (polls every second),
// so from then on a task is given up max(5 s floor, 3 × p95 = 12 s) after its acceptance. Polls
// stay every second (fit=off) so that every figure below is a whole second.
const std::string strategy =
    "adaptive,inflight=8,poll=1s:x1:cap=1s:deadline=300s:hung=p95x3:floor=5s:resubmit=1:fit=off";

TEST_F(hung_test, a_never_finishing_task_is_given_up_after_factor_times_the_quantile) {
  const auto result = run_hung(strategy, {never});
  EXPECT_EQ(gave_up_at(result), 12000) << "3 × the 4 s p95, not the 300 s deadline";
  ASSERT_TRUE(result.images[5].delivered) << result.images[5].message;
  EXPECT_EQ(result.images[5].attempts, 2);
  EXPECT_EQ(result.counters.hung_resubmits, 1);
  EXPECT_EQ(result.counters.submits, 7) << "the second submit is counted (and paid)";
  EXPECT_EQ(*submits_, 7);
  EXPECT_EQ(result.images[5].task_id, "t6");
  EXPECT_EQ(result.makespan_ms, 16000) << "resubmitted at 12 s, a 4 s task";
}

// A 2048x2048 image among 1024x1024 ones is 4 times the work, not hung: its give-up is 4 x 12 s
// (before, 12 s: it was resubmitted and paid twice in mixed-size batches).
TEST_F(hung_test, a_larger_image_is_given_time_in_proportion_to_its_pixels) {
  const auto result = run_hung(strategy, {14000}, {}, 0, protocol::image_size{2048, 2048});
  EXPECT_EQ(gave_up_at(result), -1) << "14 s is within 4 x 12 s";
  ASSERT_TRUE(result.images[5].delivered) << result.images[5].message;
  EXPECT_EQ(result.counters.submits, 6) << "no second, paid submit";
  EXPECT_EQ(result.counters.hung_resubmits, 0);
}

TEST_F(hung_test, a_never_finishing_large_image_is_given_up_at_its_own_time) {
  const auto result = run_hung(strategy, {never}, {}, 0, protocol::image_size{2048, 2048});
  EXPECT_EQ(gave_up_at(result), 48000);
}

TEST_F(hung_test, the_floor_applies_when_the_latencies_are_short) {
  const auto result = run_hung(
      "adaptive,inflight=8,poll=1s:x1:cap=1s:deadline=300s:hung=p95x3:floor=30s:fit=off", {never});
  EXPECT_EQ(gave_up_at(result), 30000) << "max(30 s floor, 12 s)";
  EXPECT_TRUE(result.images[5].delivered);
  EXPECT_EQ(result.makespan_ms, 34000);
}

TEST_F(hung_test, the_old_task_is_taken_when_it_finishes_first) {
  // Image 5's first task takes 13 s (given up at 12 s); its second one would take 100 s.
  const auto result = run_hung(strategy, {13000}, {100000});
  EXPECT_EQ(gave_up_at(result), 12000);
  ASSERT_TRUE(result.images[5].delivered);
  EXPECT_EQ(result.images[5].task_id, "t5") << "whichever SUCCEEDs first";
  EXPECT_EQ(result.counters.submits, 7);
  EXPECT_LT(result.makespan_ms, 20000) << "not the new task's 100 s";
}

TEST_F(hung_test, the_second_submit_respects_the_submit_cap) {
  const auto result = run_hung(strategy, {never}, {}, /*max_submits=*/6);
  EXPECT_EQ(gave_up_at(result), 12000);
  EXPECT_FALSE(result.images[5].delivered);
  EXPECT_EQ(result.images[5].error, protocol::error_class::cancelled);
  EXPECT_NE(result.images[5].message.find("submit cap"), std::string::npos)
      << result.images[5].message;
  EXPECT_EQ(result.counters.submits, 6);
  EXPECT_EQ(*submits_, 6);
  EXPECT_TRUE(result.submit_capped);
}

TEST_F(hung_test, one_knowing_resubmit_per_image_then_the_image_fails) {
  const auto result = run_hung(strategy, {never}, {never});
  EXPECT_FALSE(result.images[5].delivered);
  EXPECT_EQ(result.images[5].error, protocol::error_class::deadline);
  EXPECT_EQ(result.counters.hung_resubmits, 1);
  EXPECT_EQ(*submits_, 7) << "at most two tasks for one image";
  EXPECT_EQ(result.makespan_ms, 24000) << "each given up after 12 s, not 300 s";
}

TEST_F(hung_test, a_succeeded_task_whose_download_fails_is_never_resubmitted) {
  // MONEY SAFETY: SUCCEEDed at 4 s (paid), every download fails: the image waits for its fixed
  // deadline, never for the 12 s hung give-up, and no second task is bought.
  const auto result =
      run_hung("adaptive,inflight=8,poll=1s:x1:cap=1s:deadline=60s:hung=p95x3:floor=5s:resubmit=1",
               {4000, /*download_fails=*/true});
  EXPECT_EQ(gave_up_at(result), -1);
  EXPECT_FALSE(result.images[5].delivered);
  EXPECT_EQ(result.images[5].error, protocol::error_class::deadline);
  EXPECT_NE(result.images[5].message.find("SUCCEEDED (paid)"), std::string::npos)
      << result.images[5].message;
  EXPECT_EQ(result.counters.hung_resubmits, 0);
  EXPECT_EQ(result.counters.submits, 6);
  EXPECT_EQ(*submits_, 6);
  EXPECT_EQ(result.makespan_ms, 60000);
}

// Issue 17 item 9: a task whose polls were never answered validly is not "still running" at the
// deadline; the message says that no valid answer came and what the last one was.
TEST_F(hung_test, a_deadline_after_failed_polls_names_the_last_poll_error) {
  task_script garbled;
  garbled.latency_ms = never;
  garbled.poll_malformed = true;
  const auto result = run_hung("bounded,retry=none,poll=1s:deadline=20s", garbled);
  const auto& message = result.images[5].message;
  EXPECT_NE(message.find("no valid poll answer before the poll deadline (20000 ms)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("poll answer is not JSON"), std::string::npos) << message;
  EXPECT_EQ(message.find("still running"), std::string::npos) << message;
}

// Fitted polls: the first five tasks (2..6 s) are polled on the spec's schedule (1, 2.1, 3.31,
// 4.641, 6.105 s after acceptance) and seen done at 2.1, 3.31, 4.641, 6.105 and 6.105 s. From
// then on a task is polled first at their p10 (2.1 s), then every (p90 6.105 - 2.1 s) / 8 = 500 ms
// up to the p90, then from that gap growing x1.1.
const std::string fitted = "bounded,inflight=1,poll=1s:x1.1:cap=5s:fit=8";

std::vector<task_script> five_learned_then(std::vector<std::int64_t> latencies) {
  std::vector<task_script> script;
  for (const std::int64_t ms : {2000, 3000, 4000, 5000, 6000}) {
    script.push_back({ms});
  }
  for (const auto ms : latencies) {
    script.push_back({ms});
  }
  return script;
}

TEST_F(hung_test, fitted_polls_start_at_the_p10_and_step_to_the_p90) {
  const auto result = run_serial(fitted, five_learned_then({4200}));
  ASSERT_TRUE(result.images[5].delivered) << result.images[5].message;
  EXPECT_EQ(polls_after_acceptance(result, 4),
            (std::vector<std::int64_t>{1000, 2100, 3310, 4641, 6105}))
      << "before five latencies: the spec's schedule";
  EXPECT_EQ(polls_after_acceptance(result, 5),
            (std::vector<std::int64_t>{2100, 2600, 3100, 3600, 4100, 4600}))
      << "a 4.2 s task is seen done 400 ms after it ends (the spec's schedule: 441 ms, and "
         "four polls spent before 3.31 s where it spends two before 2.6 s)";
}

TEST_F(hung_test, past_the_p90_fitted_polls_grow_from_the_fitted_gap) {
  const auto result = run_serial(fitted, five_learned_then({4200, 7000}));
  ASSERT_TRUE(result.images[6].delivered) << result.images[6].message;
  const auto polls = polls_after_acceptance(result, 6);
  ASSERT_GE(polls.size(), 3u);
  EXPECT_EQ(std::vector<std::int64_t>(polls.end() - 3, polls.end()),
            (std::vector<std::int64_t>{6100, 6600, 7100}))
      << "6.6 s is past the p90: the next wait is the 500 ms gap, not the spec's first 1 s";
}

TEST_F(hung_test, without_fit_the_spec_schedule_applies_throughout) {
  const auto result =
      run_serial("bounded,inflight=1,poll=1s:x1.1:cap=5s", five_learned_then({4200}));
  EXPECT_EQ(polls_after_acceptance(result, 5), (std::vector<std::int64_t>{1000, 2100, 3310, 4641}));
}

}  // namespace
}  // namespace zbatch::sim::testing
