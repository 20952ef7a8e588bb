#include "scenarios/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>

// glibc's malloc_trim, not when a sanitizer owns the heap: under ASan, glibc's arenas are not the
// allocator, and trimming them from a thread made glibc abort at that thread's exit.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define ZBATCH_TRIM_MALLOC 1
#include <malloc.h>
#endif

#include <httplib.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "client/http_backend.hpp"
#include "mock_api/model.hpp"
#include "mock_api/server.hpp"
#include "scenarios/metrics.hpp"
#include "scenarios/profile.hpp"
#include "scenarios/thresholds.hpp"
#include "scenarios/workload.hpp"
#include "sim/backend.hpp"
#include "sim/driver.hpp"

namespace zbatch::scenarios {
namespace {

using actors::millis;
using nlohmann::ordered_json;

constexpr int results_schema_version = 1;
/// Per-image records (with traces) kept in results.json per strategy: enough for timelines,
/// bounded so a 100,000-image scenario does not write a gigabyte.
constexpr std::size_t max_image_records = 1000;
/// Blocking I/O actors (each one connection) serving one http-mode run.
constexpr int http_connections = 64;

millis scaled(millis value, double factor) {
  return millis(
      static_cast<millis::rep>(std::llround(static_cast<double>(value.count()) * factor)));
}

std::vector<actors::image_job> make_jobs(const std::vector<planned_image>& plan, double scale) {
  std::vector<actors::image_job> jobs;
  jobs.reserve(plan.size());
  for (const auto& image : plan) {
    actors::image_job job;
    job.request.prompt = image.prompt;
    job.request.seed = image.seed;
    job.request.size = image.size;
    job.arrival = scaled(millis(image.arrival_ms), scale);
    job.batch = image.batch;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

/// Converts the coordinator's result (times in the run's clock) to a record in scenario time,
/// moving its strings out (a 100,000-image result is tens of megabytes).
run_record to_record(actors::batch_result&& result, const std::vector<actors::image_job>& jobs,
                     double to_scenario, std::uint64_t seed) {
  auto ms = [to_scenario](std::int64_t t) {
    return static_cast<std::int64_t>(std::llround(static_cast<double>(t) * to_scenario));
  };
  run_record record;
  record.seed = seed;
  record.images.reserve(result.images.size());
  for (auto& image : result.images) {
    image_record out;
    const auto& job = jobs.at(image.index);
    out.index = static_cast<int>(image.index);
    out.batch = job.batch;
    out.seed = job.request.seed.value_or(0);  // make_jobs sets both
    out.size = job.request.size.value_or(protocol::image_size{}).to_string();
    out.delivered = image.delivered;
    if (image.error) {
      out.error_class = std::string(protocol::to_string(*image.error));
    }
    out.message = std::move(image.message);
    out.attempts = image.attempts;
    out.queued_at_ms = ms(image.queued_at_ms);
    out.finished_at_ms = ms(image.finished_at_ms);
    if (image.index < max_image_records) {  // The coordinator traced only these (trace_limit).
      out.trace.reserve(image.trace.size());
      for (auto& event : image.trace) {
        out.trace.push_back(
            {ms(event.t_ms), std::string(actors::to_string(event.kind)), std::move(event.detail)});
      }
    }
    record.images.push_back(std::move(out));
  }
  record.http_429_dynamic = result.counters.http_429_dynamic;
  record.http_429_quota = result.counters.http_429_quota;
  record.retries = result.counters.retries;
  record.submits = result.counters.accepted;
  record.makespan_ms = ms(result.makespan_ms);
  return record;
}

/// Request counts and credits from the model in process.
void add_model_totals(run_record& record, mock::model& model) {
  const auto totals = model.totals();
  for (const char* endpoint : {"submit", "poll", "download"}) {
    auto it = totals.requests.find(endpoint);
    if (it == totals.requests.end()) {
      continue;
    }
    for (const auto& [status, count] : it->second) {
      record.requests[endpoint][status] = static_cast<std::int64_t>(count);
    }
  }
  record.credits_used = totals.credits_used - totals.credits_refunded;
}

/// Request counts and credits from the mock's /admin/stats document.
void add_mock_stats(run_record& record, const nlohmann::json& stats) {
  for (const char* endpoint : {"submit", "poll", "download"}) {
    if (stats.contains("requests") && stats["requests"].contains(endpoint)) {
      for (const auto& item : stats["requests"][endpoint].items()) {
        record.requests[endpoint][item.key()] = item.value().get<std::int64_t>();
      }
    }
  }
  record.credits_used =
      stats["credits"].value("used", 0.0) - stats["credits"].value("refunded", 0.0);
}

caf::actor_system_config& quiet(caf::actor_system_config& cfg, bool testing) {
  if (testing) {
    cfg.set("scheduler.policy", caf::atom("testing"));
  }
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

using shared_jobs = std::shared_ptr<const std::vector<actors::image_job>>;

/// Where a strategy's runs go in the start order (lower first): unbounded strategies, then the
/// rest by the number of tasks they let run at once when they start, lowest first.
int start_rank(const actors::strategy_spec& spec) {
  if (spec.inflight.adaptive) {
    return spec.inflight.initial;
  }
  return spec.inflight.limit > 0 ? spec.inflight.limit : 0;
}

run_record run_sim(const mock::mock_config& config, const shared_jobs& jobs,
                   const actors::strategy_spec& spec, std::uint64_t seed) {
  caf::actor_system_config cfg;
  caf::actor_system system(quiet(cfg, true));
  auto& scheduler = sim::testing_scheduler(system);
  auto model = std::make_shared<mock::model>(
      config, std::make_shared<sim::actor_clock_adapter>(system), seed);
  model->set_public_base_url("http://sim.invalid");
  model->set_placeholder_images(true);
  auto backend = sim::spawn_sim_backend(system, model);
  actors::batch_request request;
  request.shared_jobs = jobs;
  request.strategy = spec;
  request.seed = seed;
  request.trace_limit = max_image_records;
  auto result = sim::run_batch_sim(system, std::move(request), backend);
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  sim::run_until_idle(scheduler, 1'000'000);
  if (!result) {
    throw std::runtime_error("the simulated batch did not finish within the step limit");
  }
  // The model's tasks and the result are the largest things alive: never hold both copies.
  run_record totals;
  add_model_totals(totals, *model);
  model.reset();
  auto record = to_record(std::move(*result), *jobs, 1.0, seed);
  result.reset();
  record.requests = std::move(totals.requests);
  record.credits_used = totals.credits_used;
  return record;
}

nlohmann::json admin_call(const std::string& base_url, const std::string& method,
                          const std::string& path) {
  auto url = protocol::parse_url(base_url);
  httplib::Client http(url->host, url->port);
  http.set_tcp_nodelay(true);
  auto response = method == "POST" ? http.Post(path.c_str()) : http.Get(path.c_str());
  if (!response || response->status != 200) {
    throw run_refused("the mock at " + base_url + " did not answer " + method + " " + path +
                      " (is it a zbatch mock on loopback?)");
  }
  return nlohmann::json::parse(response->body, nullptr, false);
}

run_record run_over_http(const mock::mock_config& config, const shared_jobs& jobs,
                         const actors::strategy_spec& spec, std::uint64_t seed, double scale,
                         const run_options& options) {
  std::unique_ptr<mock::server> server;
  std::string base_url = options.base_url;
  std::string api_key = options.api_key;
  const bool live = options.mode == run_mode::live;
  if (!live) {
    api_key = "zbatch-scenario";
    if (base_url.empty()) {
      server = std::make_unique<mock::server>(scale_config(config, scale), seed);
      base_url = server->base_url();
    } else {
      admin_call(base_url, "POST", "/admin/reset");
    }
  }
  caf::actor_system_config cfg;
  caf::actor_system system(quiet(cfg, false));
  const auto read_timeout = std::max(millis(250), scaled(millis(60'000), scale));
  auto factory = [base_url, api_key, read_timeout]() -> std::unique_ptr<client::backend> {
    client::http_options http;
    http.base_url = base_url;
    http.api_key = api_key;
    http.read_timeout = read_timeout;
    std::string error;
    auto backend = client::http_backend::create(http, &error);
    if (!backend) {
      throw run_refused(error);
    }
    return backend;
  };
  auto backend = actors::spawn_blocking_backend(system, factory, http_connections);
  actors::batch_request request;
  request.shared_jobs = jobs;
  request.strategy = scale_strategy(spec, scale);
  request.seed = seed;
  request.trace_limit = max_image_records;
  auto result = actors::run_batch(system, std::move(request), backend);
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  auto record = to_record(std::move(result), *jobs, 1.0 / scale, seed);
  if (server) {
    add_model_totals(record, server->mock_model());
  } else if (!live) {
    add_mock_stats(record, admin_call(base_url, "GET", "/admin/stats"));
  } else {
    // The real API has no stats: count what the client sent.
    record.requests["submit"]["sent"] = result.counters.submits;
    record.requests["poll"]["sent"] = result.counters.polls;
    record.requests["download"]["sent"] = result.counters.downloads;
    record.credits_used =
        static_cast<double>(result.counters.accepted) * config.throttle.quota.cost_per_task;
  }
  return record;
}

std::string seconds(const ordered_json& value) {
  if (!value.is_number()) {
    return "-";
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << value.get<double>() / 1000.0;
  return out.str();
}

std::string number(const ordered_json& value, int precision) {
  if (!value.is_number()) {
    return "-";
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << value.get<double>();
  return out.str();
}

}  // namespace

std::string to_string(run_mode mode) {
  switch (mode) {
    case run_mode::sim:
      return "sim";
    case run_mode::http:
      return "http";
    case run_mode::live:
      return "live";
  }
  return "sim";
}

actors::strategy_spec strategy_of(const strategy_entry& entry) {
  if (!entry.spec_json.is_null()) {
    return actors::strategy_from_json(entry.spec_json, "strategies." + entry.label);
  }
  return actors::parse_strategy(entry.spec);
}

void check_scenario(const scenario& s) {
  const std::string origin = s.file.empty() ? s.name : s.file.string();
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < s.strategies.size(); ++i) {
    try {
      strategy_of(s.strategies[i]);
    } catch (const actors::strategy_error& e) {
      throw scenario_error(origin + ": strategies[" + std::to_string(i) + "]: " + e.what());
    }
    labels.push_back(s.strategies[i].label);
  }
  for (std::size_t i = 0; i < s.thresholds.size(); ++i) {
    std::string error;
    if (!parse_threshold(s.thresholds[i], labels, &error)) {
      throw scenario_error(origin + ": thresholds[" + std::to_string(i) + "]: " + error);
    }
  }
  resolve_profile(s);
}

actors::strategy_spec scale_strategy(actors::strategy_spec spec, double factor) {
  spec.pacing.gap = scaled(spec.pacing.gap, factor);
  spec.pacing.rate /= factor;
  spec.retry.base = scaled(spec.retry.base, factor);
  spec.retry.cap = scaled(spec.retry.cap, factor);
  spec.poll.interval = std::max(millis(1), scaled(spec.poll.interval, factor));
  spec.poll.cap = std::max(millis(1), scaled(spec.poll.cap, factor));
  spec.poll.deadline = scaled(spec.poll.deadline, factor);
  spec.circuit.open_for = scaled(spec.circuit.open_for, factor);
  return spec;
}

double live_cost_estimate(const scenario& s, const run_options& options) {
  const int repetitions = options.repetitions.value_or(s.repetitions);
  const auto config = resolve_profile(s);
  return static_cast<double>(s.workload.total_images()) * static_cast<double>(s.strategies.size()) *
         repetitions * config.throttle.quota.cost_per_task;
}

ordered_json run_scenario(const scenario& s, const run_options& options) {
  check_scenario(s);
  const auto config = resolve_profile(s);
  const std::uint64_t seed = options.seed.value_or(s.seed);
  const int repetitions = options.repetitions.value_or(s.repetitions);
  const double scale =
      options.mode == run_mode::sim
          ? 1.0
          : options.time_scale.value_or(options.mode == run_mode::live ? 1.0 : s.time_scale);
  if (options.mode == run_mode::live) {
    const int cap = options.max_images > 0 ? options.max_images : s.live_max_images;
    if (!options.allow_cost) {
      throw run_refused(
          "live mode sends real, paid requests: add --allow-cost to accept an "
          "estimated " +
          number(live_cost_estimate(s, options), 0) + " credits");
    }
    if (cap <= 0 || s.workload.total_images() > cap) {
      throw run_refused("live mode: the workload has " + std::to_string(s.workload.total_images()) +
                        " images per run, over the hard cap of " + std::to_string(cap) +
                        " (set --max-images or the scenario's live.max_images)");
    }
    if (options.api_key.empty()) {
      throw run_refused("live mode needs MODELSCOPE_API_KEY (or --api-key-file)");
    }
  }
  const auto limits = limits_from_config(config);

  ordered_json results;
  results["schema_version"] = results_schema_version;
  results["tool"] = "zbatch 0.1.0";
  results["scenario"] = {
      {"name", s.name}, {"description", s.description}, {"file", s.file.filename().string()}};
  results["mode"] = to_string(options.mode);
  results["seed"] = seed;
  results["repetitions"] = repetitions;
  results["time_scale"] = scale;
  results["profile"] = {{"name", s.profile.name}};
  // Every (strategy, repetition) run is independent: each owns its actor system and model, so
  // sim runs go to worker threads; results land in fixed slots, so the output does not depend on
  // which thread ran what. A strategy is summarized as soon as its last repetition ends and its
  // per-image data is freed then. Real-socket modes stay sequential: runs measure wall time.
  std::vector<std::vector<planned_image>> plans;
  plans.reserve(static_cast<std::size_t>(repetitions));
  for (int rep = 0; rep < repetitions; ++rep) {
    plans.push_back(plan_images(s.workload, seed + static_cast<std::uint64_t>(rep)));
  }
  // The coordinator's jobs, one read-only copy per repetition shared by every strategy's run.
  std::vector<shared_jobs> jobs;
  for (const auto& plan : plans) {
    jobs.push_back(std::make_shared<const std::vector<actors::image_job>>(make_jobs(plan, scale)));
  }
  const auto bound = compute_bound(plans.front(), limits);
  std::vector<std::vector<planned_image>>().swap(plans);  // The jobs carry all the runs need.
  results["bound"] = {{"makespan_ms", std::llround(bound.makespan_ms)},
                      {"explanation", bound.explanation}};
  const std::size_t strategy_count = s.strategies.size();
  const std::size_t run_count = strategy_count * static_cast<std::size_t>(repetitions);
  std::size_t threads = 1;
  if (options.mode == run_mode::sim) {
    threads = options.threads > 0 ? static_cast<std::size_t>(options.threads)
                                  : std::max(1u, std::thread::hardware_concurrency());
  }
  threads = std::min(threads, run_count);
  std::vector<std::vector<run_record>> runs(strategy_count);
  std::vector<int> runs_left(strategy_count, repetitions);
  for (auto& slot : runs) {
    slot.resize(static_cast<std::size_t>(repetitions));
  }
  std::vector<ordered_json> summaries(strategy_count);
  std::vector<std::exception_ptr> failures(run_count);
  // Start order, for the peak memory and the makespan of the whole comparison. An unbounded
  // strategy puts every image in flight at once, so its memory peaks at its start: start those
  // first, next to a run that has not grown yet (and they end early, losing images to 429s).
  // Then the lowest limits first: they stay under the service's limits and deliver (poll,
  // download) every image, so they are the long runs, and shorter ones fill the end.
  std::vector<std::size_t> order(run_count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return start_rank(strategy_of(s.strategies[a / static_cast<std::size_t>(repetitions)])) <
           start_rank(strategy_of(s.strategies[b / static_cast<std::size_t>(repetitions)]));
  });
  std::mutex mutex;  // Guards next_run, runs_left and on_line.
  std::size_t next_run = 0;
  auto work = [&]() {
    while (true) {
      std::size_t run = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next_run == run_count) {
          return;
        }
        run = order[next_run++];
      }
      const std::size_t i = run / static_cast<std::size_t>(repetitions);
      const int rep = static_cast<int>(run % static_cast<std::size_t>(repetitions));
      try {
        const std::uint64_t rep_seed = seed + static_cast<std::uint64_t>(rep);
        const auto spec = strategy_of(s.strategies[i]);
        auto record = options.mode == run_mode::sim
                          ? run_sim(config, jobs[rep], spec, rep_seed)
                          : run_over_http(config, jobs[rep], spec, rep_seed, scale, options);
#if defined(ZBATCH_TRIM_MALLOC)
        // A finished run leaves its thread's malloc arena full of free pages that the next run
        // (other sizes, other arena) may never reuse: hand them back, or the peak RSS of a
        // 100,000-image comparison grows by a tenth.
        malloc_trim(0);
#endif
        std::int64_t delivered = 0;
        for (const auto& image : record.images) {
          delivered += image.delivered ? 1 : 0;
        }
        const std::string line = s.strategies[i].label + " rep " + std::to_string(rep + 1) + "/" +
                                 std::to_string(repetitions) + ": " + std::to_string(delivered) +
                                 "/" + std::to_string(record.images.size()) + " delivered in " +
                                 seconds(record.makespan_ms) + " s";
        bool last = false;
        {
          std::lock_guard<std::mutex> lock(mutex);
          runs[i][static_cast<std::size_t>(rep)] = std::move(record);
          last = --runs_left[i] == 0;
          if (options.on_line) {
            options.on_line(line);
          }
        }
        if (last) {
          // Only this thread touches runs[i] now: every repetition of strategy i is in.
          summaries[i] =
              summarize(s.strategies[i].label, actors::to_compact(strategy_of(s.strategies[i])),
                        runs[i], bound.makespan_ms, max_image_records);
          std::vector<run_record>().swap(runs[i]);
        }
      } catch (...) {
        failures[run] = std::current_exception();
        std::lock_guard<std::mutex> lock(mutex);
        next_run = run_count;  // Start nothing new; the first failure is rethrown below.
      }
    }
  };
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back(work);
    }
    for (auto& thread : pool) {
      thread.join();
    }
  }
  for (const auto& failure : failures) {
    if (failure) {
      std::rethrow_exception(failure);
    }
  }
  ordered_json strategies = ordered_json::array();
  for (auto& summary : summaries) {
    strategies.push_back(std::move(summary));
  }
  std::vector<std::string> labels;
  for (const auto& entry : s.strategies) {
    labels.push_back(entry.label);
  }
  ordered_json thresholds = ordered_json::array();
  for (const auto& expr : s.thresholds) {
    const auto t = parse_threshold(expr, labels, nullptr);
    const auto outcome = evaluate(*t, strategies);
    thresholds.push_back(
        {{"expr", expr},
         {"passed", outcome.passed},
         {"value", outcome.measured ? ordered_json(*outcome.measured) : ordered_json(nullptr)}});
  }
  results["strategies"] = std::move(strategies);
  results["thresholds"] = std::move(thresholds);
  return results;
}

}  // namespace zbatch::scenarios
