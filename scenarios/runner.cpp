#include "scenarios/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

// glibc's malloc_trim, not when a sanitizer owns the heap: under ASan, glibc's arenas are not the
// allocator, and trimming them from a thread made glibc abort at that thread's exit.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define ZBATCH_TRIM_MALLOC 1
#include <malloc.h>
#endif

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "actors/limiter_actor.hpp"
#include "actors/retry_policy.hpp"
#include "actors/shared_permits.hpp"
#include "client/http_backend.hpp"
#include "client/mock_admin.hpp"
#include "generate/shared_gate.hpp"
#include "mock_api/model.hpp"
#include "mock_api/server.hpp"
#include "protocol/wire.hpp"
#include "scenarios/metrics.hpp"
#include "scenarios/profile.hpp"
#include "scenarios/references.hpp"
#include "scenarios/thresholds.hpp"
#include "scenarios/workload.hpp"
#include "shared_limit/local_redis.hpp"
#include "shared_limit/memory_store.hpp"
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
    // Per image, as `zbatch generate` counts them: a submit left unanswered by a cancel too.
    record.submits_possibly_paid += image.ambiguous_submits;
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
  record.submits_accepted = result.counters.accepted;
  record.makespan_ms = ms(result.makespan_ms);
  return record;
}

/// Credits the mock charges per created task: none without a quota.
double charged_per_task(const mock::mock_config& config) {
  return config.throttle.quota.enabled ? config.throttle.quota.cost_per_task : 0.0;
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
  // What the service charged, not what the client saw accepted: a submit whose answer was lost
  // (a reset, a gateway 502, a garbled body after the task was created) is paid all the same.
  record.submits = static_cast<std::int64_t>(totals.tasks_created);
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
  if (stats.contains("tasks") && stats["tasks"].contains("created")) {
    record.submits = stats["tasks"]["created"].get<std::int64_t>();  // charged, as add_model_totals
  }
}

caf::actor_system_config& quiet(caf::actor_system_config& cfg, bool testing) {
  if (testing) {
    cfg.set("scheduler.policy", caf::atom("testing"));
  }
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

using shared_jobs = std::shared_ptr<const std::vector<actors::image_job>>;

/// How a run's coordinators share the API key: one coordinator (every scenario without
/// `clients`), or N of them limited by one shared store or each by its own limiter.
struct client_setup {
  int clients = 1;
  bool shared = false;
};

/// The jobs of N coordinators: batch b goes to client b % N; `index` maps each client's job
/// back to its place in the whole workload.
struct client_jobs {
  std::vector<shared_jobs> jobs;
  std::vector<std::vector<std::size_t>> index;
};

client_jobs split_jobs(const std::vector<actors::image_job>& jobs, int clients) {
  std::vector<std::vector<actors::image_job>> parts(static_cast<std::size_t>(clients));
  client_jobs out;
  out.index.resize(parts.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto client = static_cast<std::size_t>(jobs[i].batch % clients);
    parts[client].push_back(jobs[i]);
    out.index[client].push_back(i);
  }
  for (auto& part : parts) {
    out.jobs.push_back(std::make_shared<const std::vector<actors::image_job>>(std::move(part)));
  }
  return out;
}

/// One batch request per client: `whole` with the client's share of the jobs and a jitter seed of
/// its own (distinct processes draw distinct jitter: client c's seed is a fixed step away). Each
/// client traces all its images; to_record keeps the traces of the workload's first ones.
std::vector<actors::batch_request> client_requests(const actors::batch_request& whole,
                                                   const client_jobs& split) {
  std::vector<actors::batch_request> requests;
  for (std::size_t c = 0; c < split.jobs.size(); ++c) {
    auto part = whole;
    part.shared_jobs = split.jobs[c];
    part.seed = whole.seed + static_cast<std::uint64_t>(c) * 0x9E3779B97F4A7C15ULL;
    part.trace_limit = whole.trace_limit > 0 ? static_cast<std::size_t>(-1) : 0;
    requests.push_back(std::move(part));
  }
  return requests;
}

/// The coordinators' results as one batch of the whole workload: images back in workload order,
/// counters summed, the makespan of the last one to end (all start at time 0).
actors::batch_result merge_results(std::vector<std::optional<actors::batch_result>>& parts,
                                   const client_jobs& split, std::size_t total) {
  actors::batch_result out;
  out.images.resize(total);
  for (std::size_t c = 0; c < parts.size(); ++c) {
    auto& part = *parts[c];
    for (auto& image : part.images) {
      const auto global = split.index[c].at(image.index);
      image.index = global;
      out.images[global] = std::move(image);
    }
    const auto& n = part.counters;
    auto& sum = out.counters;
    sum.submits += n.submits;
    sum.accepted += n.accepted;
    sum.polls += n.polls;
    sum.downloads += n.downloads;
    sum.http_429_dynamic += n.http_429_dynamic;
    sum.http_429_quota += n.http_429_quota;
    sum.retries += n.retries;
    sum.ambiguous_submits += n.ambiguous_submits;
    sum.hung_resubmits += n.hung_resubmits;
    sum.circuit_openings += n.circuit_openings;
    sum.max_in_flight += n.max_in_flight;
    out.makespan_ms = std::max(out.makespan_ms, part.makespan_ms);
  }
  return out;
}

/// The next daily quota reset after virtual time `now_ms`: local midnight of the profile's
/// offset, the model's clock origin being Unix time 0 (as the model places it).
std::int64_t next_sim_quota_reset(std::int64_t now_ms, double utc_offset_hours) {
  constexpr std::int64_t day = 86'400'000;
  const auto offset = static_cast<std::int64_t>(std::llround(utc_offset_hours * 3'600'000.0));
  const auto local = now_ms + offset;
  const auto days = local >= 0 ? local / day : -((-local + day - 1) / day);  // floor
  return (days + 1) * day - offset;
}

/// The permit gate on `store` in virtual time. No heartbeat runs in virtual time and no
/// simulated client dies, so a lease lasts the whole run (30 days).
std::shared_ptr<actors::permit_gate> sim_gate(const shared_limit::memory_store& store,
                                              const actors::strategy_spec& spec,
                                              std::shared_ptr<const mock::clock> clock,
                                              double utc_offset_hours) {
  auto options = actors::shared_permit_options(spec);
  options.lease = millis(30LL * 86'400'000);
  options.process_id = "sim";
  auto permits = std::make_unique<shared_limit::permit_client>(
      std::make_unique<shared_limit::memory_store>(store.share()), std::move(options));
  auto quota_reset = [clock, utc_offset_hours](std::optional<millis> retry_after) {
    const auto now = std::chrono::duration_cast<millis>(clock->now()).count();
    return retry_after ? now + retry_after->count() : next_sim_quota_reset(now, utc_offset_hours);
  };
  return actors::make_shared_permit_gate(std::move(permits), quota_reset, spec.circuit.open_for);
}

/// The coordinators of one sim run, all on `backend`: one (the scenario without `clients`, as
/// it always ran), or one per client, each with its share of the jobs and its own jitter seed.
/// Shared: one limiter actor serves every client (limiter_actor.hpp), its store the shared one
/// on an in-memory store read on the virtual clock (as Redis would be); independent: each
/// client's batch has a limiter of its own, as separate processes would.
std::optional<actors::batch_result> play_clients(
    caf::actor_system& system, const actors::backend_actor& backend, actors::batch_request request,
    const client_setup& setup, std::shared_ptr<const mock::clock> clock, double utc_offset_hours) {
  if (setup.clients == 1) {
    return sim::run_batch_sim(system, std::move(request), backend);
  }
  const auto& jobs = *request.shared_jobs;
  const auto split = split_jobs(jobs, setup.clients);
  std::optional<shared_limit::memory_store> store;
  if (setup.shared) {
    store.emplace([clock] { return std::chrono::duration_cast<millis>(clock->now()).count(); });
  }
  caf::actor limiter;
  if (store) {
    limiter = actors::spawn_limiter(system,
                                    {sim_gate(*store, request.strategy, clock, utc_offset_hours)});
  }
  auto requests = client_requests(request, split);
  for (auto& part : requests) {
    part.limiter = limiter;
  }
  auto parts = sim::run_batches_sim(system, std::move(requests), backend);
  if (limiter) {
    caf::anon_send_exit(limiter, caf::exit_reason::user_shutdown);
  }
  for (const auto& part : parts) {
    if (!part) {
      return std::nullopt;
    }
  }
  return merge_results(parts, split, jobs.size());
}

/// One run in virtual time; the coordinator traces the first `trace_limit` images (the records
/// results.json keeps; none for the hindsight grid).
run_record run_sim(const mock::mock_config& config, const shared_jobs& jobs,
                   const actors::strategy_spec& spec, std::uint64_t seed, std::size_t trace_limit,
                   const client_setup& setup) {
  caf::actor_system_config cfg;
  caf::actor_system system(quiet(cfg, true));
  auto& scheduler = sim::testing_scheduler(system);
  // Sim results are byte-identical for a seed: task ids too are drawn from it.
  auto reproducible = config;
  reproducible.ids.reproducible = true;
  // The model and a shared store read one virtual clock.
  auto clock = std::make_shared<sim::actor_clock_adapter>(system);
  auto model = std::make_shared<mock::model>(std::move(reproducible), clock, seed);
  model->set_public_base_url("http://sim.invalid");
  model->set_placeholder_images(true);
  auto backend = sim::spawn_sim_backend(system, model);
  actors::batch_request request;
  request.shared_jobs = jobs;
  request.strategy = spec;
  request.seed = seed;
  request.trace_limit = trace_limit;
  auto result = play_clients(system, backend, std::move(request), setup, clock,
                             config.throttle.quota.reset_utc_offset_hours);
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  sim::run_until_idle(scheduler, 1'000'000);
  if (!result) {
    zbatch::raise(internal_error("the simulated batch did not finish within the step limit"));
  }
  // The model's tasks and the result are the largest things alive: never hold both copies.
  run_record totals;
  add_model_totals(totals, *model);
  model.reset();
  auto record = to_record(std::move(*result), *jobs, 1.0, seed);
  result.reset();
  record.requests = std::move(totals.requests);
  record.credits_used = totals.credits_used;
  record.submits = totals.submits;
  record.credits_per_submit = charged_per_task(config);
  return record;
}

/// `method` `path` on the mock at `base_url` (client/mock_admin.hpp: bounded in time and size),
/// its JSON object; raises unavailable naming the URL when it does not answer with one.
nlohmann::json admin_call(const std::string& base_url, const std::string& method,
                          const std::string& path) {
  const auto body = value_or_raise(client::call_mock_admin(base_url, method, path));
  auto document = nlohmann::json::parse(body, nullptr, false);
  if (!document.is_object()) {
    zbatch::raise(unavailable_error("the mock at " + base_url + " answered " + method + " " + path +
                                    " with something other than a JSON object (is it a zbatch "
                                    "mock on loopback?)"));
  }
  return document;
}

/// A backend pool of its own per client, as each process has: its connections to the service.
actors::backend_actor spawn_http_backend(caf::actor_system& system, const std::string& base_url,
                                         const std::string& api_key, millis read_timeout) {
  auto factory = [base_url, api_key, read_timeout]() -> std::unique_ptr<client::backend> {
    client::http_options http;
    http.base_url = base_url;
    http.api_key = api_key;
    http.read_timeout = read_timeout;
    auto backend = client::http_backend::create(http);
    if (!backend.ok()) {
      zbatch::raise(backend.status());
    }
    return *std::move(backend);
  };
  return actors::spawn_blocking_backend(system, factory, http_connections);
}

/// A password for a run's own redis-server (128 random bits, hex): no other local user's client
/// can reach the run's limits, and a ZBATCH_REDIS_PASSWORD in the environment is never used.
std::string random_password() {
  std::random_device random;
  std::ostringstream out;
  out << std::hex << std::setfill('0');
  for (int i = 0; i < 4; ++i) {
    out << std::setw(8) << random();
  }
  return out.str();
}

/// The redis-server one http run with a shared limiter shares its clients' limits through.
/// Started before the mock, stopped (SIGKILL: it persists nothing) when the run ends.
std::unique_ptr<shared_limit::local_redis> start_run_redis(int clients) {
  auto redis = std::make_unique<shared_limit::local_redis>(random_password());
  if (auto started = redis->start(); !started.ok()) {
    zbatch::raise(started.prefixed("clients: " + std::to_string(clients) +
                                   " clients in http mode share their limit through a local "
                                   "redis-server: "));
  }
  return redis;
}

/// Each client's permit gate on `redis`, built as `zbatch generate --shared-limit` builds it
/// (generate/shared_gate.hpp): a connection, a process id and a heartbeat of its own, so Redis
/// sees N processes on one key. Notices (degraded, rejoined) go to the progress lines.
std::shared_ptr<actors::permit_gate> redis_gate(const shared_limit::local_redis& redis,
                                                const actors::strategy_spec& strategy,
                                                const std::string& api_key, int client,
                                                const run_options& options,
                                                const std::shared_ptr<std::mutex>& lines) {
  generate::shared_limit_options shared;
  shared.url = redis.url();
  shared.password_file = redis.password_file().string();
  auto on_notice = [&options, lines, client](const std::string& text) {
    if (options.on_line) {
      std::lock_guard<std::mutex> lock(*lines);
      options.on_line("client " + std::to_string(client + 1) + ": " + text);
    }
  };
  return value_or_raise(generate::connect_shared_limit(shared, strategy, api_key, on_notice));
}

/// Plays `request` over `base_url`: one coordinator, or (`setup.clients` > 1) one per client
/// with a backend of its own, all started at once and each limited by its own limiter actor:
/// in-process (independent) or on `redis` (shared). The clients' results merge as in sim mode;
/// each one's clock starts at its own spawn, a few milliseconds apart at most.
actors::batch_result play_http_clients(caf::actor_system& system, actors::batch_request request,
                                       const client_setup& setup, const std::string& base_url,
                                       const std::string& api_key, millis read_timeout,
                                       const shared_limit::local_redis* redis,
                                       const run_options& options) {
  if (setup.clients == 1) {
    auto backend = spawn_http_backend(system, base_url, api_key, read_timeout);
    auto result = actors::run_batch(system, std::move(request), backend);
    caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
    return result;
  }
  const auto& jobs = *request.shared_jobs;
  const auto split = split_jobs(jobs, setup.clients);
  auto requests = client_requests(request, split);
  auto lines = std::make_shared<std::mutex>();
  std::vector<actors::backend_actor> backends;
  std::vector<std::unique_ptr<actors::batch_runner>> runners;
  for (std::size_t c = 0; c < requests.size(); ++c) {
    if (redis != nullptr) {
      requests[c].permits =
          redis_gate(*redis, request.strategy, api_key, static_cast<int>(c), options, lines);
    }
    backends.push_back(spawn_http_backend(system, base_url, api_key, read_timeout));
  }
  for (std::size_t c = 0; c < requests.size(); ++c) {
    runners.push_back(
        std::make_unique<actors::batch_runner>(system, std::move(requests[c]), backends[c]));
  }
  std::vector<std::optional<actors::batch_result>> parts;
  for (auto& runner : runners) {
    parts.emplace_back(runner->wait());
  }
  for (const auto& backend : backends) {
    caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  }
  return merge_results(parts, split, jobs.size());
}

/// No image was accepted and every one failed in transport before its request could have
/// left (a refused connection, an unknown host: not ambiguous).
bool reached_nothing(const actors::batch_result& result) {
  return result.counters.accepted == 0 && !result.images.empty() &&
         std::all_of(result.images.begin(), result.images.end(), [](const auto& image) {
           return !image.delivered && !image.ambiguous && !image.resumed &&
                  image.error == protocol::error_class::server_transport;
         });
}

run_record run_over_http(const mock::mock_config& config, const shared_jobs& jobs,
                         const actors::strategy_spec& spec, std::uint64_t seed, double scale,
                         const run_options& options, const client_setup& setup) {
  // First, so the server's process holds none of the mock's sockets.
  std::unique_ptr<shared_limit::local_redis> redis;
  if (setup.clients > 1 && setup.shared) {
    redis = start_run_redis(setup.clients);
  }
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
  actors::batch_request request;
  request.shared_jobs = jobs;
  request.strategy = scale_strategy(spec, scale);
  request.clock_scale = scale;
  request.seed = seed;
  request.trace_limit = max_image_records;
  auto result = play_http_clients(system, std::move(request), setup, base_url, api_key,
                                  read_timeout, redis.get(), options);
  if (live && reached_nothing(result)) {
    // A table would rank strategies on a service nobody reached, and a failed threshold would
    // hide it (a new user's check: exit 1, as if measured).
    zbatch::raise(unavailable_error("live mode: no request reached " + base_url + " (" +
                                    result.images.front().message + "); nothing was sent or paid"));
  }
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
  record.credits_per_submit = live ? config.throttle.quota.cost_per_task : charged_per_task(config);
  return record;
}

/// `value` with exactly `decimals` decimals ("18.0"), for progress lines and messages.
std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

/// A scenario checked for a run: each strategy and threshold parsed once, in file order, and
/// the mock config of its profile.
struct checked_scenario {
  std::vector<actors::strategy_spec> strategies;
  std::vector<threshold> thresholds;
  mock::mock_config config;
};

/// A label that is a preset's name must play that preset: the reports read "adaptive" as the
/// preset (adaptive against the hindsight-best), and a new user's "adaptive" labelling a
/// concurrent spec was reported as adaptive taking 0.49x the best's time.
void refuse_a_preset_label_on_another_spec(const std::string& label,
                                           const actors::strategy_spec& spec,
                                           const std::string& where) {
  const auto& names = actors::preset_names();  // "Adaptive" reads as adaptive too
  const auto name = std::find_if(names.begin(), names.end(), [&label](const std::string& n) {
    return protocol::iequals(n, label);
  });
  if (name == names.end() ||
      actors::to_compact(actors::preset(*name).value()) == actors::to_compact(spec)) {
    return;
  }
  zbatch::raise(invalid_argument_error(
      where + "label \"" + label + "\" is a preset's name, but the spec is not that preset (" +
      actors::to_compact(spec) + "): reports would read it as the preset; give it another label"));
}

/// Raises naming the file and the field (check_scenario's contract).
checked_scenario check(const scenario& s) {
  const std::string origin = s.file.empty() ? s.name : s.file.string();
  checked_scenario out;
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < s.strategies.size(); ++i) {
    auto strategy = strategy_of(s.strategies[i]);
    if (!strategy.ok()) {
      zbatch::raise(
          strategy.status().prefixed(origin + ": strategies[" + std::to_string(i) + "]: "));
    }
    refuse_a_preset_label_on_another_spec(s.strategies[i].label, *strategy,
                                          origin + ": strategies[" + std::to_string(i) + "]: ");
    out.strategies.push_back(*std::move(strategy));
    labels.push_back(s.strategies[i].label);
  }
  for (std::size_t i = 0; i < s.thresholds.size(); ++i) {
    auto parsed =
        parse_threshold(s.thresholds[i], labels, s.clients > 1 && s.limiter == limiter_kind::both);
    if (!parsed.ok()) {
      zbatch::raise(parsed.status().prefixed(origin + ": thresholds[" + std::to_string(i) + "]: "));
    }
    out.thresholds.push_back(std::move(*parsed));
  }
  out.config = value_or_raise(resolve_profile(s));
  return out;
}

/// The scenario's numbers after the options' overrides.
struct run_settings {
  std::uint64_t seed = 0;
  int repetitions = 1;
  double scale = 1.0;  ///< http mode's compressed clock; 1 in sim (virtual time) and live.
};

run_settings settings_of(const scenario& s, const run_options& options) {
  run_settings out;
  out.seed = options.seed.value_or(s.seed);
  out.repetitions = options.repetitions.value_or(s.repetitions);
  if (options.mode != run_mode::sim) {
    out.scale = options.time_scale.value_or(options.mode == run_mode::live ? 1.0 : s.time_scale);
  }
  return out;
}

/// Raises failed_precondition unless the user accepted the cost, the workload fits the image cap
/// and there is a key: a live run sends real, paid requests. Every refusal at once, one per line,
/// so that one fix does not lead to the next refusal.
void refuse_unaccepted_live_run(const scenario& s, const run_options& options) {
  const int cap = options.max_images > 0 ? options.max_images : s.live_max_images;
  const auto images = std::to_string(s.workload.total_images());
  std::vector<std::string> refusals;
  if (!options.allow_cost) {
    refusals.push_back(
        "live mode sends real, paid requests: add --allow-cost to accept an "
        "estimated " +
        fixed(value_or_raise(live_cost_estimate(s, options)), 0) + " credits");
  }
  if (cap <= 0) {
    refusals.push_back(
        "live mode needs a hard cap on the images it may pay for: set --max-images N (1..1000) "
        "or the scenario's live.max_images (this workload has " +
        images + " images per run)");
  } else if (s.workload.total_images() > cap) {
    refusals.push_back("live mode: the workload has " + images +
                       " images per run, over the hard cap of " + std::to_string(cap) +
                       " (set --max-images or the scenario's live.max_images)");
  }
  if (options.api_key.empty()) {
    refusals.push_back("live mode needs MODELSCOPE_API_KEY (or --api-key-file)");
  }
  if (!refusals.empty()) {
    std::string message = refusals.front();
    for (std::size_t i = 1; i < refusals.size(); ++i) {
      message += "\n" + refusals[i];
    }
    zbatch::raise(failed_precondition_error(message));
  }
}

/// The fields of results.json that come before the bound (docs/results-schema.md's order).
ordered_json results_header(const scenario& s, const run_options& options,
                            const run_settings& settings) {
  ordered_json results;
  results["schema_version"] = results_schema_version;
  results["tool"] = "zbatch 0.1.0";
  results["scenario"] = {
      {"name", s.name}, {"description", s.description}, {"file", s.file.filename().string()}};
  results["mode"] = to_string(options.mode);
  results["seed"] = settings.seed;
  results["repetitions"] = settings.repetitions;
  results["time_scale"] = settings.scale;
  results["profile"] = {{"name", s.profile.name}};
  // Only a several-client scenario says so: every other results.json stays as it was.
  if (s.clients > 1) {
    results["clients"] = s.clients;
    results["limiter"] = to_string(s.limiter);
  }
  return results;
}

/// What every strategy's runs play: the coordinator's jobs of each repetition (one read-only
/// copy shared by all strategies), the same in virtual time for the hindsight grid (the same
/// copies unless the clock is compressed), and the bound and clairvoyant makespan of the first
/// repetition's images.
struct prepared_workload {
  std::vector<shared_jobs> jobs;
  std::vector<shared_jobs> sim_jobs;
  bound_result bound;
  std::optional<bound_result> clairvoyant;
  double longest_image_ms = 0;  ///< The largest median image time of the first repetition.
};

prepared_workload prepare_workload(const scenario& s, const run_settings& settings,
                                   const api_limits& limits) {
  prepared_workload out;
  for (int rep = 0; rep < settings.repetitions; ++rep) {
    // The plan itself is dropped here: the jobs carry all the runs need.
    const auto plan = plan_images(s.workload, settings.seed + static_cast<std::uint64_t>(rep));
    out.jobs.push_back(
        std::make_shared<const std::vector<actors::image_job>>(make_jobs(plan, settings.scale)));
    out.sim_jobs.push_back(
        settings.scale == 1.0
            ? out.jobs.back()
            : std::make_shared<const std::vector<actors::image_job>>(make_jobs(plan, 1.0)));
    if (rep == 0) {
      out.bound = compute_bound(plan, limits);
      out.clairvoyant = compute_clairvoyant(plan, limits);
      for (const auto& image : plan) {
        out.longest_image_ms = std::max(out.longest_image_ms, limits.image_ms(image.size));
      }
    }
  }
  return out;
}

/// Strategies whose poll deadline ends before a median image of the workload is ready: they give
/// up tasks they paid for (a new user's scenario of 10-minute images: every preset's 5-minute
/// deadline delivered 0-3 % and the recommendation said nothing). Empty when none.
ordered_json deadline_warnings(const scenario& s, const std::vector<actors::strategy_spec>& specs,
                               double longest_image_ms) {
  ordered_json out = ordered_json::array();
  std::vector<std::string> short_ones;
  double deadline_ms = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto deadline = static_cast<double>(specs[i].poll.deadline.count());
    if (deadline > 0 && deadline < longest_image_ms) {
      short_ones.push_back(s.strategies[i].label);
      deadline_ms = std::max(deadline_ms, deadline);
    }
  }
  if (short_ones.empty()) {
    return out;
  }
  std::string names;
  for (const auto& name : short_ones) {
    names += (names.empty() ? "" : ", ") + name;
  }
  const auto minutes = [](double ms) { return std::to_string(std::llround(ms / 60'000)); };
  out.push_back(names + ": the poll deadline (at most " + minutes(deadline_ms) +
                " min) ends before a median image of this workload is ready (" +
                minutes(longest_image_ms) +
                " min): tasks are given up after they were paid; give the strategy a longer "
                "one (e.g. --strategy 'adaptive,poll=1s:deadline=" +
                minutes(2 * longest_image_ms) + "m')");
  return out;
}

/// One set of runs to play: labelled strategies, each over every repetition's jobs, measured
/// against `references`. The scenario's strategies are one set, the hindsight grid another.
struct run_set {
  std::vector<std::string> labels;
  std::vector<actors::strategy_spec> specs;
  run_mode mode = run_mode::sim;  ///< The grid plays in virtual time whatever the scenario's mode.
  const std::vector<shared_jobs>* jobs = nullptr;  ///< Per repetition.
  run_references references;
  std::size_t image_records = max_image_records;  ///< Records kept per strategy.
  bool progress_lines = true;                     ///< One `on_line` call per run.
  client_setup clients;                           ///< Coordinators per run.
  std::string line_tag;  ///< After the label in progress lines, e.g. " (independent limiters)".
};

/// Where a strategy's runs go in the start order (lower first): unbounded strategies, then the
/// rest by the number of tasks they let run at once when they start, lowest first.
int start_rank(const actors::strategy_spec& spec) {
  if (spec.inflight.adaptive) {
    return spec.inflight.initial;
  }
  return spec.inflight.limit > 0 ? spec.inflight.limit : 0;
}

/// The runs (strategy × repetitions + repetition) in the order they start, for the peak memory
/// and the makespan of the whole comparison. An unbounded strategy puts every image in flight at
/// once, so its memory peaks at its start: start those first, next to a run that has not grown
/// yet (and they end early, losing images to 429s). Then the lowest limits first: they stay under
/// the service's limits and deliver (poll, download) every image, so they are the long runs, and
/// shorter ones fill the end.
std::vector<std::size_t> start_order(const std::vector<actors::strategy_spec>& strategies,
                                     int repetitions) {
  std::vector<int> rank;
  for (const auto& spec : strategies) {
    rank.push_back(start_rank(spec));
  }
  const auto per_strategy = static_cast<std::size_t>(repetitions);
  std::vector<std::size_t> order(strategies.size() * per_strategy);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rank[a / per_strategy] < rank[b / per_strategy];
  });
  return order;
}

/// "serial rep 1/3: 4/4 delivered in 18.0 s"
std::string progress_line(const std::string& label, int rep, int repetitions,
                          const run_record& record) {
  std::int64_t delivered = 0;
  for (const auto& image : record.images) {
    delivered += image.delivered ? 1 : 0;
  }
  return label + " rep " + std::to_string(rep + 1) + "/" + std::to_string(repetitions) + ": " +
         std::to_string(delivered) + "/" + std::to_string(record.images.size()) + " delivered in " +
         fixed(static_cast<double>(record.makespan_ms) / 1000.0, 1) + " s";
}

/// Plays every (strategy, repetition) run of one set and summarizes each strategy as soon as
/// its last repetition ends, freeing its per-image data then. Every run is independent (it owns
/// its actor system and model), so sim runs go to worker threads; results land in fixed slots,
/// so the output does not depend on which thread ran what. Real-socket modes stay sequential:
/// their runs measure wall time. One object per set, used once.
class comparison_runs {
 public:
  comparison_runs(const run_options& options, const mock::mock_config& config,
                  const run_settings& settings, const run_set& set)
      : options_(options),
        config_(config),
        settings_(settings),
        set_(set),
        order_(start_order(set.specs, settings.repetitions)),
        runs_(set.specs.size(),
              std::vector<run_record>(static_cast<std::size_t>(settings.repetitions))),
        runs_left_(set.specs.size(), settings.repetitions),
        summaries_(set.specs.size()),
        failures_(order_.size()) {}

  /// Plays all runs and returns one strategy summary per strategy, in file order. Rethrows the
  /// first failure (after the runs already started have ended).
  std::vector<ordered_json> play() {
    const std::size_t threads = thread_count();
    if (threads <= 1) {
      work();
    } else {
      std::vector<std::thread> pool;
      for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([this] { work(); });
      }
      for (auto& thread : pool) {
        thread.join();
      }
    }
    for (const auto& failure : failures_) {
      if (failure) {
        std::rethrow_exception(failure);
      }
    }
    return std::move(summaries_);
  }

 private:
  std::size_t thread_count() const {
    std::size_t threads = 1;
    if (set_.mode == run_mode::sim) {
      threads = options_.threads > 0 ? static_cast<std::size_t>(options_.threads)
                                     : std::max(1u, std::thread::hardware_concurrency());
    }
    return std::min(threads, order_.size());
  }

  /// One worker: takes the next run in start order until none is left or one failed.
  void work() {
    while (true) {
      std::size_t run = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (next_run_ == order_.size()) {
          return;
        }
        run = order_[next_run_++];
      }
      const auto per_strategy = static_cast<std::size_t>(settings_.repetitions);
      const std::size_t strategy = run / per_strategy;
      const int rep = static_cast<int>(run % per_strategy);
      try {
        finish(strategy, rep, play_one(strategy, rep));
      } catch (...) {
        failures_[run] = std::current_exception();
        std::lock_guard<std::mutex> lock(mutex_);
        next_run_ = order_.size();  // Start nothing new; the first failure is rethrown.
      }
    }
  }

  run_record play_one(std::size_t strategy, int rep) const {
    const std::uint64_t seed = settings_.seed + static_cast<std::uint64_t>(rep);
    const auto& spec = set_.specs[strategy];
    const auto& jobs = (*set_.jobs)[static_cast<std::size_t>(rep)];
    auto record =
        set_.mode == run_mode::sim
            ? run_sim(config_, jobs, spec, seed, set_.image_records, set_.clients)
            : run_over_http(config_, jobs, spec, seed, settings_.scale, options_, set_.clients);
#if defined(ZBATCH_TRIM_MALLOC)
    // A finished run leaves its thread's malloc arena full of free pages that the next run
    // (other sizes, other arena) may never reuse: hand them back, or the peak RSS of a
    // 100,000-image comparison grows by a tenth.
    malloc_trim(0);
#endif
    return record;
  }

  /// Files the run in its slot and reports it; the last repetition of a strategy summarizes it.
  void finish(std::size_t strategy, int rep, run_record record) {
    const auto& label = set_.labels[strategy];
    const std::string line =
        progress_line(label + set_.line_tag, rep, settings_.repetitions, record);
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      runs_[strategy][static_cast<std::size_t>(rep)] = std::move(record);
      last = --runs_left_[strategy] == 0;
      if (options_.on_line && set_.progress_lines) {
        options_.on_line(line);
      }
    }
    if (last) {
      // Only this thread touches runs_[strategy] now: every repetition of it is in.
      summaries_[strategy] = summarize(label, actors::to_compact(set_.specs[strategy]),
                                       runs_[strategy], set_.references, set_.image_records);
      std::vector<run_record>().swap(runs_[strategy]);
    }
  }

  const run_options& options_;
  const mock::mock_config& config_;
  const run_settings& settings_;
  const run_set& set_;
  const std::vector<std::size_t> order_;
  std::mutex mutex_;  // Guards next_run_, runs_left_ and options_.on_line.
  std::size_t next_run_ = 0;
  std::vector<std::vector<run_record>> runs_;  // [strategy][repetition]
  std::vector<int> runs_left_;
  std::vector<ordered_json> summaries_;
  std::vector<std::exception_ptr> failures_;  // One slot per run.
};

/// The `thresholds` of results.json: each expression, passed or not, and the measured value.
ordered_json threshold_results(const checked_scenario& checked, const ordered_json& strategies) {
  ordered_json out = ordered_json::array();
  for (const auto& t : checked.thresholds) {
    const auto outcome = evaluate(t, strategies);
    out.push_back(
        {{"expr", t.expr},
         {"passed", outcome.passed},
         {"value", outcome.measured ? ordered_json(*outcome.measured) : ordered_json(nullptr)}});
  }
  return out;
}

/// The figures of a strategy summary the hindsight pick reads.
entry_figures figures_of(const ordered_json& summary) {
  auto number = [&](const char* key) -> std::optional<double> {
    const auto& value = summary[key];
    return value.is_number() ? std::optional<double>(value.get<double>()) : std::nullopt;
  };
  entry_figures out;
  out.makespan_ms = number("makespan_ms").value_or(0);
  out.deliverable_success_rate = number("deliverable_success_rate");
  // The high end: a grid entry whose lost answers may each hide a charged task is not cheap.
  out.submits_per_image = number("submits_per_image_high");
  out.dynamic_429_per_image = number("dynamic_429_per_image");
  return out;
}

/// The hindsight-best reference: results.json's `hindsight` and, per repetition, the best
/// entry's makespan (empty when the grid was not played).
struct hindsight_result {
  ordered_json document;
  std::vector<std::int64_t> makespans_ms;
};

/// The coordinators the scenario's rows (and the hindsight grid) play: its clients, sharing one
/// limit unless the scenario compares independent limiters alone.
client_setup primary_clients(const scenario& s) {
  return {s.clients, s.clients > 1 && s.limiter != limiter_kind::independent};
}

/// Several clients play in sim and http mode; live mode would need N real processes' worth of
/// paid requests and is refused. In http mode a shared limiter needs `redis-server` on this
/// machine: refused before anything runs (not after the hindsight grid) when it is missing.
void refuse_unplayable_clients(const scenario& s, const run_options& options) {
  if (s.clients <= 1) {
    return;
  }
  const std::string origin = s.file.empty() ? s.name : s.file.string();
  const std::string field = origin + ": clients: " + std::to_string(s.clients) + " clients ";
  if (options.mode == run_mode::live) {
    zbatch::raise(invalid_argument_error(
        field +
        "play in sim and http mode only (live mode: run N `zbatch generate --shared-limit` "
        "processes, as bench/shared_limit.sh does against the mock)"));
  }
  if (options.mode == run_mode::http && s.limiter != limiter_kind::independent &&
      shared_limit::find_redis_server().empty()) {
    zbatch::raise(failed_precondition_error(
        field + "in http mode share their limit through a redis-server on 127.0.0.1: " +
        shared_limit::redis_server_missing() + " (`limiter: \"independent\"` needs none)"));
  }
}

/// Each strategy's figures with independent limiters, beside the shared ones of its row
/// (`limiter: both`): the same summary without per-image records.
void add_independent_figures(ordered_json& strategies, std::vector<ordered_json> independent) {
  for (std::size_t i = 0; i < independent.size(); ++i) {
    independent[i].erase("image_records");
    independent[i].erase("image_records_omitted");
    strategies[i]["independent"] = std::move(independent[i]);
  }
}

/// Plays the grid (scenarios/references.hpp) in virtual time on the scenario's seeds and picks
/// the best entry.
hindsight_result play_hindsight(const scenario& s, const run_options& options,
                                const checked_scenario& checked, const run_settings& settings,
                                const prepared_workload& workload) {
  run_set grid;
  for (const auto& entry : hindsight_grid()) {
    grid.labels.push_back(entry.name);
    grid.specs.push_back(entry.spec);
  }
  grid.jobs = &workload.sim_jobs;
  grid.references.bound_ms = workload.bound.makespan_ms;
  grid.image_records = 0;
  grid.progress_lines = false;
  grid.clients = primary_clients(s);
  const auto summaries = comparison_runs(options, checked.config, settings, grid).play();
  std::vector<entry_figures> figures;
  for (const auto& summary : summaries) {
    figures.push_back(figures_of(summary));
  }
  hindsight_rules rules;
  rules.max_429_per_image = s.max_429_per_image;
  const auto pick = pick_hindsight_best(figures, rules);
  ordered_json entries = ordered_json::array();
  for (std::size_t i = 0; i < summaries.size(); ++i) {
    ordered_json entry;
    entry["name"] = grid.labels[i];
    for (const char* key :
         {"makespan_ms", "success_rate", "deliverable_success_rate", "submits_per_image",
          "submits_per_image_high", "dynamic_429_per_image"}) {
      entry[key] = summaries[i][key];
    }
    entry["verdict"] = pick.verdicts[i];
    entries.push_back(std::move(entry));
  }
  hindsight_result out;
  ordered_json& doc = out.document;
  doc["rule"] =
      "the shortest mean makespan among the grid's static strategies that deliver as many "
      "deliverable images as any (within 0.5% of the most), pay at most 1.05 submits (possibly "
      "paid ones counted) and draw at "
      "most the politeness budget of dynamic 429s per delivered image";
  doc["success_floor"] = pick.success_floor;
  doc["max_submits_per_image"] = pick.max_submits_per_image;
  doc["max_429_per_image"] = pick.max_429_per_image;
  doc["relaxed"] = pick.relaxed;
  if (pick.best) {
    const auto& best = summaries[*pick.best];
    ordered_json chosen = entries[*pick.best];
    chosen.erase("verdict");
    chosen["spec"] = best["spec"];
    ordered_json makespans = ordered_json::array();
    for (const auto& run : best["runs"]) {
      out.makespans_ms.push_back(run["makespan_ms"].get<std::int64_t>());
      makespans.push_back(run["makespan_ms"]);
    }
    chosen["runs_makespan_ms"] = std::move(makespans);
    doc["best"] = std::move(chosen);
  } else {
    doc["best"] = nullptr;
  }
  doc["grid"] = std::move(entries);
  if (options.on_line) {
    options.on_line("hindsight grid: " + std::to_string(summaries.size()) +
                    " static strategies x " + std::to_string(settings.repetitions) +
                    " repetitions (sim); best " +
                    (pick.best ? grid.labels[*pick.best] + " in " +
                                     fixed(figures[*pick.best].makespan_ms / 1000.0, 1) + " s"
                               : std::string("none")));
  }
  return out;
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

result<actors::strategy_spec> strategy_of(const strategy_entry& entry) {
  if (!entry.spec_json.is_null()) {
    return actors::strategy_from_json(entry.spec_json, "strategies." + entry.label);
  }
  return actors::parse_strategy(entry.spec);
}

status check_scenario(const scenario& s) {
  return capture([&] { check(s); });
}

actors::strategy_spec scale_strategy(actors::strategy_spec spec, double factor) {
  spec.pacing.gap = scaled(spec.pacing.gap, factor);
  spec.pacing.rate /= factor;
  spec.retry.base = scaled(spec.retry.base, factor);
  spec.retry.cap = scaled(spec.retry.cap, factor);
  spec.poll.interval = std::max(millis(1), scaled(spec.poll.interval, factor));
  spec.poll.cap = std::max(millis(1), scaled(spec.poll.cap, factor));
  spec.poll.deadline = scaled(spec.poll.deadline, factor);
  // The durations that are the service's or the policy's constants too: left at 1 s, 250 ms and
  // 30 s of wall time they were 100, 25 and 3,000 s of a 0.01 scenario (a new user's preview-4
  // in http mode: two repetitions of adaptive paused 100 s on a "rate" 429, 120 s against 20;
  // flaky's never-ending tasks waited for the deadline, 314 s against the sim's 56 s).
  spec.inflight.rate_window = std::max(millis(1), scaled(spec.inflight.rate_window, factor));
  spec.poll.fit_min_gap = std::max(millis(1), scaled(spec.poll.fit_min_gap, factor));
  spec.poll.hung.floor = std::max(millis(1), scaled(spec.poll.hung.floor, factor));
  spec.circuit.open_for = scaled(spec.circuit.open_for, factor);
  return spec;
}

result<live_cost_bound> live_cost_bound_of(const scenario& s, const run_options& options) {
  const int repetitions = options.repetitions.value_or(s.repetitions);
  const auto config = resolve_profile(s);
  if (!config.ok()) {
    return config.status();
  }
  live_cost_bound out;
  out.cost_per_task = config->throttle.quota.cost_per_task;
  for (const auto& entry : s.strategies) {
    const auto spec = strategy_of(entry);
    if (!spec.ok()) {
      return spec.status();
    }
    live_cost_bound::strategy_bound bound;
    bound.label = entry.label;
    bound.submits_per_image = actors::max_paid_submits_per_image(*spec);
    bound.credits = static_cast<double>(s.workload.total_images()) * repetitions *
                    bound.submits_per_image * config->throttle.quota.cost_per_task;
    out.credits += bound.credits;
    out.strategies.push_back(std::move(bound));
  }
  return out;
}

result<double> live_cost_estimate(const scenario& s, const run_options& options) {
  auto bound = live_cost_bound_of(s, options);
  if (!bound.ok()) {
    return bound.status();
  }
  return bound->credits;
}

namespace {

/// run_scenario's steps; a failure anywhere below raises a status_error.
/// A threshold on a reference this run will not have fails after the whole run with "measured
/// -" (a new user's check): refused before anything plays, saying why (invalid_argument).
void refuse_thresholds_without_their_reference(const scenario& s, const checked_scenario& checked,
                                               const run_options& options, bool has_clairvoyant) {
  const bool has_hindsight = options.hindsight && options.mode != run_mode::live;
  // Named like every other error of the file (check()): FILE: thresholds[i]: ...
  const std::string origin = s.file.empty() ? s.name : s.file.string();
  for (std::size_t i = 0; i < checked.thresholds.size(); ++i) {
    const auto& t = checked.thresholds[i];
    const std::string where = origin + ": thresholds[" + std::to_string(i) + "]: ";
    const std::string& metric = t.metric.empty() ? std::string() : t.metric.back();
    if (!has_hindsight && (metric == "efficiency_vs_hindsight" || metric == "regret_ms")) {
      zbatch::raise(invalid_argument_error(
          where + "\"" + t.expr + "\" needs the hindsight grid, which this run does not play" +
          (options.mode == run_mode::live ? " (live mode)" : " (--no-hindsight)")));
    }
    if (!has_clairvoyant && metric == "efficiency_vs_clairvoyant") {
      zbatch::raise(invalid_argument_error(
          where + "\"" + t.expr + "\" needs the clairvoyant reference, which only a profile " +
          "whose limit is a schedule has; " + s.name + "'s is not"));
    }
  }
}

ordered_json run_checked_scenario(const scenario& s, const run_options& options) {
  const auto checked = check(s);
  refuse_unplayable_clients(s, options);
  if (options.mode == run_mode::http && !options.base_url.empty()) {
    // A mock that is down is said at once, not after the hindsight grid has played.
    admin_call(options.base_url, "GET", "/admin/stats");
  }
  const auto settings = settings_of(s, options);
  if (options.mode == run_mode::live) {
    refuse_unaccepted_live_run(s, options);
  }
  ordered_json results = results_header(s, options, settings);
  const auto workload = prepare_workload(s, settings, limits_from_config(checked.config));
  refuse_thresholds_without_their_reference(s, checked, options, workload.clairvoyant.has_value());
  results["bound"] = {{"makespan_ms", std::llround(workload.bound.makespan_ms)},
                      {"explanation", workload.bound.explanation}};
  // The grid plays against the mock's model: a live run has no model of the real API to play.
  hindsight_result hindsight;
  if (options.hindsight && options.mode != run_mode::live) {
    hindsight = play_hindsight(s, options, checked, settings, workload);
  }
  results["hindsight"] = std::move(hindsight.document);
  // The scenario's budgets as set, for a run without the grid: its recommendation still leaves
  // out a strategy that hammers (a new user's check: "hammer" recommended with --no-hindsight).
  hindsight_rules rules;
  results["budgets"] = {{"max_submits_per_image", rules.max_submits_per_image},
                        {"max_429_per_image", s.max_429_per_image}};
  results["clairvoyant"] =
      workload.clairvoyant
          ? ordered_json{{"makespan_ms", std::llround(workload.clairvoyant->makespan_ms)},
                         {"explanation", workload.clairvoyant->explanation}}
          : ordered_json(nullptr);
  run_set set;
  set.labels.reserve(s.strategies.size());
  for (const auto& entry : s.strategies) {
    set.labels.push_back(entry.label);
  }
  set.specs = checked.strategies;
  set.mode = options.mode;
  set.clients = primary_clients(s);
  if (s.clients > 1) {
    set.line_tag = set.clients.shared ? " (shared limiter)" : " (independent limiters)";
  }
  set.jobs = &workload.jobs;
  set.references.bound_ms = workload.bound.makespan_ms;
  set.references.hindsight_ms = std::move(hindsight.makespans_ms);
  if (workload.clairvoyant) {
    set.references.clairvoyant_ms = workload.clairvoyant->makespan_ms;
  }
  ordered_json strategies = ordered_json::array();
  for (auto& summary : comparison_runs(options, checked.config, settings, set).play()) {
    strategies.push_back(std::move(summary));
  }
  if (s.clients > 1 && s.limiter == limiter_kind::both) {
    auto independent = set;
    independent.clients.shared = false;
    independent.image_records = 0;
    independent.line_tag = " (independent limiters)";
    add_independent_figures(strategies,
                            comparison_runs(options, checked.config, settings, independent).play());
  }
  results["strategies"] = std::move(strategies);
  results["thresholds"] = threshold_results(checked, results["strategies"]);
  if (auto warnings = deadline_warnings(s, checked.strategies, workload.longest_image_ms);
      !warnings.empty()) {
    results["warnings"] = std::move(warnings);
  }
  return results;
}

}  // namespace

result<ordered_json> run_scenario(const scenario& s, const run_options& options) {
  return capture([&] { return run_checked_scenario(s, options); });
}

}  // namespace zbatch::scenarios
