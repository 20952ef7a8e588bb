// The model without sockets: determinism, latency distributions and size scaling.
#include <algorithm>
#include <vector>

#include "tests/mock_api/fixture.hpp"

namespace zbatch::mock::testing {
namespace {

protocol::wire_request submit_request(const std::string& body = submit_body(),
                                      const std::string& key = default_key) {
  protocol::wire_request r;
  r.method = "POST";
  r.target = std::string(protocol::submit_path);
  r.headers.set("Authorization", "Bearer " + key);
  r.headers.set("X-ModelScope-Async-Mode", "true");
  r.body = body;
  return r;
}

protocol::wire_request poll_request(const std::string& id, const std::string& key = default_key) {
  protocol::wire_request r;
  r.method = "GET";
  r.target = "/v1/tasks/" + id;
  r.headers.set("Authorization", "Bearer " + key);
  r.headers.set("X-ModelScope-Task-Type", "image_generation");
  return r;
}

/// A fixed script of submits, polls and downloads against a model; the transcript of every answer.
std::vector<std::string> run_script(const mock_config& config, std::uint64_t seed) {
  auto clock = std::make_shared<manual_clock>();
  model m(config, clock, seed);
  m.set_public_base_url("http://sim.invalid");
  std::vector<std::string> transcript;
  std::vector<std::string> ids;
  auto record = [&](const reply& r) {
    std::string line = std::to_string(r.response.status) + " " + std::string(to_string(r.fault)) +
                       " " + std::to_string(r.delay.count()) + " " + std::to_string(r.truncate_at) +
                       " " + r.response.body.substr(0, 300);
    for (const auto& [name, value] : r.response.headers.fields()) {
      line += " " + name + "=" + value;
    }
    transcript.push_back(line);
  };
  for (int i = 0; i < 60; ++i) {
    const auto r = m.handle(
        submit_request(submit_body("p" + std::to_string(i % 7), i), "key" + std::to_string(i % 3)));
    record(r);
    if (r.response.status == 200) {
      auto parsed = json::parse(r.response.body, nullptr, false);
      if (!parsed.is_discarded() && parsed.contains("task_id")) {
        ids.push_back(parsed["task_id"]);
      }
    }
    clock->advance(700ms);
    for (const auto& id : ids) {
      const auto p = m.handle(poll_request(id, "key0"));
      record(p);
      protocol::wire_request get;
      get.method = "GET";
      get.target = "/images/" + id + ".png";
      const auto d = m.handle(get);
      transcript.push_back(std::to_string(d.response.status) + " " +
                           std::to_string(d.response.body.size()) + " " +
                           std::string(to_string(d.fault)));
    }
  }
  transcript.push_back(m.stats().dump());
  return transcript;
}

mock_config everything_on() {
  auto config = load_config("flaky", std::nullopt).value();
  config.throttle = load_config("modelscope-free", std::nullopt).value().throttle;
  config.throttle.quota.daily_credits = 6;
  config.throttle.retry_after_header = true;
  config.throttle.ratelimit_headers = true;
  config.faults.download.slow = 0.1;
  config.ids.reproducible = true;  // byte for byte, task ids included
  return config;
}

TEST(model_determinism, same_config_seed_and_requests_give_the_same_bytes) {
  const auto a = run_script(everything_on(), 1234);
  const auto b = run_script(everything_on(), 1234);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << "answer " << i;
  }
}

TEST(model_determinism, another_seed_gives_other_decisions) {
  EXPECT_NE(run_script(everything_on(), 1234), run_script(everything_on(), 4321));
}

TEST(model_determinism, script_exercises_faults_and_limits) {
  // Guards the two tests above: the script must actually meet faults, 429s and failures.
  const auto transcript = run_script(everything_on(), 1234);
  const auto stats = json::parse(transcript.back());
  EXPECT_GT(counter(stats, "/rate_limited/dynamic"), 0);
  EXPECT_GT(counter(stats, "/rate_limited/quota"), 0);
  EXPECT_GT(stats.at("faults").size(), 3u);
}

std::vector<double> generation_times(const latency_spec& spec, const std::string& size, int n) {
  auto config = quiet_config();
  config.generation.queue = latency_spec::fixed(0);
  config.generation.time = spec;
  auto clock = std::make_shared<manual_clock>();
  model m(config, clock, 99);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    const auto r = m.handle(submit_request(submit_body("x", i, size)));
    ids.push_back(json::parse(r.response.body).at("task_id"));
  }
  // Step the clock in 10 ms ticks and record when each task first reports SUCCEED.
  std::vector<double> done(ids.size(), -1);
  for (int tick = 1; tick <= 20000; ++tick) {
    clock->set(std::chrono::milliseconds(10 * tick));
    bool all = true;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (done[i] < 0) {
        const auto state = json::parse(m.handle(poll_request(ids[i])).response.body);
        if (state.at("task_status") == "SUCCEED") {
          done[i] = 10.0 * tick;
        } else {
          all = false;
        }
      }
    }
    if (all) {
      break;
    }
  }
  std::sort(done.begin(), done.end());
  return done;
}

TEST(model_latency, lognormal_generation_matches_median_and_p99) {
  const auto times = generation_times(latency_spec::lognormal(3000, 9000), "", 400);
  ASSERT_GT(times.front(), 0);
  const double median = times[times.size() / 2];
  const double p99 = times[times.size() * 99 / 100];
  EXPECT_NEAR(median, 3000, 300);
  EXPECT_NEAR(p99, 9000, 2500);
  EXPECT_GT(times.back(), 6000);  // a real tail
}

TEST(model_latency, uniform_generation_stays_in_range) {
  latency_spec spec;
  spec.type = latency_spec::kind::uniform;
  spec.min_ms = 1000;
  spec.max_ms = 2000;
  const auto times = generation_times(spec, "", 100);
  EXPECT_GE(times.front(), 1000);
  EXPECT_LE(times.back(), 2010);
  EXPECT_LT(times.front(), 1200);
  EXPECT_GT(times.back(), 1800);
}

TEST(model_latency, generation_time_scales_with_size) {
  const auto small = generation_times(latency_spec::fixed(3000), "512x512", 1);
  const auto base = generation_times(latency_spec::fixed(3000), "1024x1024", 1);
  const auto large = generation_times(latency_spec::fixed(3000), "2048x2048", 1);
  EXPECT_EQ(small[0], 750);
  EXPECT_EQ(base[0], 3000);
  EXPECT_EQ(large[0], 12000);
}

/// When one task of `model_id` at `size` first reports SUCCEED (ms), in catalogue mode.
double catalogue_time(mock_config config, const std::string& model_id, const std::string& size) {
  config.generation.queue = latency_spec::fixed(0);
  config.generation.size_latency = "catalogue";
  auto clock = std::make_shared<manual_clock>();
  model m(config, clock, 5);
  const json body{{"model", model_id}, {"prompt", "x"}, {"seed", 1}, {"size", size}};
  const auto r = m.handle(submit_request(body.dump()));
  const std::string id = json::parse(r.response.body).at("task_id");
  for (int tick = 1; tick <= 10000; ++tick) {
    clock->set(std::chrono::milliseconds(10 * tick));
    if (json::parse(m.handle(poll_request(id)).response.body).at("task_status") == "SUCCEED") {
      return 10.0 * tick;
    }
  }
  return -1;
}

TEST(model_latency, catalogue_mode_follows_the_measured_figures) {
  // Protocol doc, "Measured generation times" (Z-Image-Turbo): 512² 1.7 s, 1024² 5.8 s, 1440² 12 s.
  const auto config = quiet_config();  // a fixed `time`: no spread, exactly the median
  EXPECT_EQ(catalogue_time(config, "Tongyi-MAI/Z-Image-Turbo", "512x512"), 1700);
  EXPECT_EQ(catalogue_time(config, "Tongyi-MAI/Z-Image-Turbo", "1024x1024"), 5800);
  EXPECT_EQ(catalogue_time(config, "Tongyi-MAI/Z-Image-Turbo", "1440x1440"), 12000);
  const double between = catalogue_time(config, "Tongyi-MAI/Z-Image-Turbo", "768x768");
  EXPECT_GT(between, 1700);
  EXPECT_LT(between, 5800);
  // A model without a measured figure: 30 s at 1024², by pixels elsewhere.
  EXPECT_EQ(catalogue_time(config, "Qwen/Qwen-Image", "1024x1024"), 30000);
  EXPECT_EQ(catalogue_time(config, "Qwen/Qwen-Image", "1024x512"), 15000);
}

TEST(model_latency, catalogue_latency_is_configurable) {
  auto parsed = parse_config(
      R"({"catalogue": {"Qwen/Qwen-Image": {"latency_ms": [{"side": 1024, "ms": 2000}]}}})", "t");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(catalogue_time(*parsed, "Qwen/Qwen-Image", "1024x1024"), 2000);
  // A spread `time` multiplies the median by draw / median: no longer exactly the median.
  auto spread = *parsed;
  spread.generation.time = latency_spec::lognormal(3000, 9000);
  const double drawn = catalogue_time(spread, "Qwen/Qwen-Image", "1024x1024");
  EXPECT_GT(drawn, 0);
  EXPECT_NE(drawn, 2000);  // a draw from the lognormal around the median, not the median itself
}

TEST(model_latency, response_delay_is_returned_not_slept) {
  auto config = quiet_config();
  config.response_delay = latency_spec::fixed(250);
  model m(config, std::make_shared<manual_clock>(), 1);
  const auto r = m.handle(submit_request());
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.delay, std::chrono::milliseconds(250));
  auto with_override = submit_request();
  with_override.headers.set("x-zbatch-fault-delay-ms", "100");
  EXPECT_EQ(m.handle(with_override).delay, std::chrono::milliseconds(350));
  EXPECT_EQ(counter(m.stats(), "/faults/delay"), 1);
}

TEST(model_latency, uniform_response_delay_draws_within_bounds) {
  auto config = quiet_config();
  config.response_delay.type = latency_spec::kind::uniform;
  config.response_delay.min_ms = 10;
  config.response_delay.max_ms = 20;
  model m(config, std::make_shared<manual_clock>(), 1);
  duration low = std::chrono::hours(1);
  duration high{0};
  for (int i = 0; i < 200; ++i) {
    const auto d = m.handle(poll_request("none")).delay;
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_GE(low, std::chrono::milliseconds(10));
  EXPECT_LE(high, std::chrono::milliseconds(20));
  EXPECT_LT(low, std::chrono::milliseconds(11));
  EXPECT_GT(high, std::chrono::milliseconds(19));
}

TEST(model_routes, processing_label_and_simulator_base_url) {
  auto config = quiet_config();
  config.generation.running_status = "PROCESSING";
  auto clock = std::make_shared<manual_clock>();
  model m(config, clock, 1);
  m.set_public_base_url("http://sim.invalid/");
  const auto id = json::parse(m.handle(submit_request()).response.body).at("task_id");
  clock->advance(2s);
  EXPECT_EQ(json::parse(m.handle(poll_request(id)).response.body).at("task_status"), "PROCESSING");
  clock->advance(2s);
  EXPECT_EQ(json::parse(m.handle(poll_request(id)).response.body).at("output_images").at(0),
            "http://sim.invalid/images/" + id.get<std::string>() + ".png");
}

// The client percent-encodes a task id as one path segment (ids are opaque text): the mock
// decodes it, so an id encoded byte for byte is the same task.
TEST(model_routes, a_polled_task_id_is_percent_decoded) {
  auto clock = std::make_shared<manual_clock>();
  model m(quiet_config(), clock, 1);
  const std::string id = json::parse(m.handle(submit_request()).response.body).at("task_id");
  std::string encoded;
  for (const unsigned char c : id) {
    static constexpr char hex[] = "0123456789abcdef";
    encoded += {'%', hex[c >> 4], hex[c & 0x0F]};
  }
  const auto polled = m.handle(poll_request(encoded));
  ASSERT_EQ(polled.response.status, 200) << polled.response.body;
  EXPECT_EQ(json::parse(polled.response.body).at("task_id"), id);
  const auto other = m.handle(poll_request(id + "%3F0"));
  EXPECT_EQ(other.response.status, 404);
  EXPECT_NE(other.response.body.find("Task not found: " + id + "?0"), std::string::npos)
      << other.response.body;
}

TEST(model_routes, key_label_never_contains_the_key) {
  const auto label = key_label("ms-very-secret-token");
  EXPECT_EQ(label.find("secret"), std::string::npos);
  EXPECT_EQ(label, key_label("ms-very-secret-token"));
  EXPECT_NE(label, key_label("ms-other"));
}

// Found by fuzz/mock_api_requests.cpp: an error answer that echoes request bytes which are not
// UTF-8 (a path, a task id, a fault header's value) threw nlohmann's type_error out of handle()
// instead of answering. Now the answer is the service's JSON error, the bytes replaced by U+FFFD.
TEST(model_routes, error_answers_echoing_invalid_utf8_are_valid_json) {
  auto clock = std::make_shared<manual_clock>();
  model m(quiet_config(), clock, 1);
  const std::string bad = "\x92\xff\xc3";
  protocol::wire_request unknown;
  unknown.method = "POST";
  unknown.target = "/v1/" + bad;
  auto fault = submit_request();
  fault.headers.set("x-zbatch-fault-task", bad);
  for (const auto& [request, status] :
       {std::pair{unknown, 404}, std::pair{poll_request(bad), 404}, std::pair{fault, 400}}) {
    const auto r = m.handle(request);
    EXPECT_EQ(r.response.status, status) << request.target;
    const auto body = json::parse(r.response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.response.body;
    EXPECT_NE(body.at("errors").at("message").get<std::string>().find("\xEF\xBF\xBD"),
              std::string::npos)
        << r.response.body;
  }
}

}  // namespace
}  // namespace zbatch::mock::testing
