// `zbatch generate`: N variants of one prompt (seeds S, S+1, ...), one after another, against the
// real API, any base URL, or the bundled mock started in process (--mock). Parsing and checking
// of the options lives here; the loop lives in client/serial_batch.
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "client/http_backend.hpp"
#include "client/serial_batch.hpp"
#include "mock_api/config.hpp"
#include "mock_api/server.hpp"
#include "protocol/messages.hpp"
#include "protocol/size.hpp"

namespace zbatch::cli {
namespace {

constexpr int max_count = 1000;
/// A stand-in key for the bundled mock (the user's real key never goes to it) and for loopback
/// servers when no key is set.
constexpr const char* mock_api_key = "zbatch-mock-key";

/// Bad usage: the message names the option and what is allowed.
struct usage_error {
  std::string message;
};

std::int64_t parse_integer(const std::string& option, const std::string& text, std::int64_t low,
                           std::int64_t high) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < low || value > high) {
    throw usage_error{option + " must be an integer from " + std::to_string(low) + " to " +
                      std::to_string(high) + " (got \"" + text + "\")"};
  }
  return value;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

std::string seconds(std::int64_t ms) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(ms) / 1000.0 << " s";
  return out.str();
}

/// What the options say, checked.
struct generate_plan {
  client::batch_spec spec;
  bool use_mock = false;
  std::string mock_profile = "ideal";
  client::http_options http;
};

struct raw_options {
  std::string prompt;
  std::string count;
  std::string size;
  std::string aspect;
  std::string base_size;
  std::string seed;
  std::string model{protocol::default_model};
  std::string base_url;
  std::string poll_interval_ms = "1000";
  std::string deadline_s = "300";
  std::vector<std::string> mock;
  bool mock_given = false;
  std::string api_key_file;
  std::string out;
};

generate_plan make_plan(const raw_options& raw) {
  generate_plan plan;
  auto& spec = plan.spec;
  spec.request.model = raw.model;
  spec.request.prompt = raw.prompt;
  spec.count = static_cast<int>(parse_integer("--count", raw.count, 1, max_count));

  if (!raw.size.empty() && !raw.aspect.empty()) {
    throw usage_error{"--size and --aspect are mutually exclusive: give one of them"};
  }
  if (!raw.base_size.empty() && raw.aspect.empty()) {
    throw usage_error{"--base-size needs --aspect (allowed " + join(protocol::aspect_ratios()) +
                      ")"};
  }
  std::string why;
  if (!raw.size.empty()) {
    spec.request.size = protocol::parse_size(raw.size, &why);
    if (!spec.request.size) {
      throw usage_error{"--size: " + why};
    }
  } else if (!raw.aspect.empty()) {
    const int base = raw.base_size.empty()
                         ? protocol::default_base_size
                         : static_cast<int>(parse_integer("--base-size", raw.base_size,
                                                          protocol::min_side, protocol::max_side));
    spec.request.size = protocol::size_for_aspect(raw.aspect, base, &why);
    if (!spec.request.size) {
      throw usage_error{"--aspect: " + why};
    }
  } else {
    spec.request.size = protocol::image_size{};
  }

  // Seeds S..S+N-1 must all be valid seeds.
  const std::int64_t last_base = protocol::max_seed - (spec.count - 1);
  if (raw.seed.empty()) {
    std::random_device device;
    std::uniform_int_distribution<std::int64_t> pick(0, last_base);
    spec.base_seed = pick(device);
  } else {
    spec.base_seed = parse_integer("--seed", raw.seed, 0, protocol::max_seed);
    if (spec.base_seed > last_base) {
      throw usage_error{"--seed " + raw.seed + " with --count " + raw.count +
                        " would use seeds above 2147483647 (allowed --seed 0.." +
                        std::to_string(last_base) + " for this count)"};
    }
  }
  auto check_request = spec.request;
  check_request.seed = spec.base_seed;
  if (auto error = protocol::validate(check_request)) {
    throw usage_error{"--" + error->field + ": " + error->message};
  }

  spec.job.poll_interval = std::chrono::milliseconds(
      parse_integer("--poll-interval-ms", raw.poll_interval_ms, 10, 600'000));
  spec.job.max_poll_interval = std::max(spec.job.max_poll_interval, spec.job.poll_interval);
  spec.job.deadline =
      std::chrono::seconds(parse_integer("--deadline-s", raw.deadline_s, 1, 86'400));

  if (raw.out.empty()) {
    throw usage_error{"--out is required: the directory for the images and manifest.json"};
  }
  std::error_code ec;
  if (std::filesystem::exists(raw.out, ec) && !std::filesystem::is_directory(raw.out, ec)) {
    throw usage_error{"--out " + raw.out + " exists and is not a directory"};
  }
  spec.out_dir = raw.out;

  plan.use_mock = raw.mock_given;
  if (plan.use_mock) {
    if (!raw.base_url.empty()) {
      throw usage_error{
          "--mock and --base-url are mutually exclusive: --mock starts its own "
          "server"};
    }
    // A bare --mock reaches us as no value or as one empty value, depending on CLI11's version.
    if (!raw.mock.empty() && !raw.mock.front().empty()) {
      plan.mock_profile = raw.mock.front();
    }
    const auto names = mock::profile_names();
    if (std::find(names.begin(), names.end(), plan.mock_profile) == names.end()) {
      throw usage_error{"--mock: unknown profile \"" + plan.mock_profile + "\" (allowed " +
                        join(names) + ")"};
    }
    plan.http.api_key = mock_api_key;
  } else {
    plan.http.base_url =
        raw.base_url.empty() ? std::string(protocol::default_base_url) : raw.base_url;
    if (!raw.api_key_file.empty()) {
      auto key = client::read_api_key_file(raw.api_key_file, &why);
      if (!key) {
        throw usage_error{"--api-key-file: " + why};
      }
      plan.http.api_key = *key;
    } else {
      plan.http.api_key = client::api_key_from_environment();
    }
    // Checked here, before anything is sent: a remote host needs HTTPS and a key.
    why = client::check_options(plan.http);
    if (!why.empty()) {
      throw usage_error{"--base-url: " + protocol::redact(why, plan.http.api_key)};
    }
    // A loopback server (`zbatch mock`, a local proxy) still wants a non-empty bearer token.
    if (plan.http.api_key.empty()) {
      plan.http.api_key = mock_api_key;
    }
  }
  return plan;
}

int run_plan(generate_plan& plan) {
  std::unique_ptr<mock::server> mock_server;
  if (plan.use_mock) {
    mock::server_options options;  // 127.0.0.1, any free port
    mock_server = std::make_unique<mock::server>(mock::load_config(plan.mock_profile, std::nullopt),
                                                 1, options);
    plan.http.base_url = mock_server->base_url();
  }
  std::string why;
  auto api = client::http_backend::create(plan.http, &why);
  if (!api) {
    std::cerr << "zbatch generate: --base-url: " << why << "\n";
    return exit_usage;
  }
  auto& spec = plan.spec;
  spec.base_url = plan.http.base_url;

  std::cout << "zbatch generate: " << spec.count << " variant(s) of \"" << spec.request.prompt
            << "\" at " << spec.request.size->to_string() << ", seeds " << spec.base_seed << ".."
            << spec.base_seed + spec.count - 1 << ", against " << spec.base_url
            << (plan.use_mock ? " (bundled mock, profile " + plan.mock_profile + ")" : "") << "\n"
            << std::flush;

  client::wall_clock clock;
  std::vector<std::int64_t> latencies;
  auto report = [&](const client::batch_image& image) {
    const auto& r = image.record;
    std::cout << "  [" << image.index + 1 << "/" << spec.count << "] seed " << r.seed << "  ";
    if (r.delivered) {
      latencies.push_back(r.latency_ms);
      std::cout << "delivered  " << seconds(r.latency_ms) << "  "
                << (spec.out_dir / image.file).string() << " (" << r.bytes << " bytes)";
    } else {
      std::cout << "FAILED     " << seconds(r.latency_ms) << "  " << r.error->describe();
    }
    std::cout << "\n" << std::flush;
  };
  client::batch_outcome outcome;
  try {
    outcome = client::run_serial_batch(*api, spec, clock, report);
  } catch (const std::system_error& e) {
    std::cerr << "zbatch generate: --out: cannot write: " << e.what() << "\n";
    return exit_partial;
  }

  std::cout << "delivered " << outcome.delivered << "/" << spec.count << ", failed "
            << outcome.failed << "; total " << seconds(outcome.total_ms);
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    std::cout << "; latency min/median/max " << seconds(latencies.front()) << " / "
              << seconds(latencies[latencies.size() / 2]) << " / " << seconds(latencies.back());
  }
  std::cout << "\nmanifest: " << (spec.out_dir / "manifest.json").string() << "\n";
  return outcome.failed == 0 ? exit_ok : exit_partial;
}

}  // namespace

int run_generate(int argc, char** argv) {
  CLI::App app{"Generate N variants of one prompt (seeds S, S+1, ...), one after another",
               "zbatch generate"};
  raw_options raw;
  app.add_option("--prompt", raw.prompt, "the prompt (fewer than 2000 characters)")->required();
  app.add_option("--count", raw.count, "number of variants, 1..1000")->required();
  app.add_option("--size", raw.size, "WIDTHxHEIGHT, each side 512..2048 (default 1024x1024)");
  app.add_option("--aspect", raw.aspect,
                 "aspect ratio instead of --size: " + join(protocol::aspect_ratios()));
  app.add_option("--base-size", raw.base_size, "long side for --aspect, 512..2048 (default 1024)");
  app.add_option("--seed", raw.seed, "seed of the first variant, 0..2147483647 (default random)");
  app.add_option("--model", raw.model, "model id (default Tongyi-MAI/Z-Image-Turbo)");
  app.add_option("--base-url", raw.base_url,
                 "API base URL (default https://api-inference.modelscope.cn)");
  app.add_option("--poll-interval-ms", raw.poll_interval_ms,
                 "wait between task polls, 10..600000 (default 1000)");
  app.add_option("--deadline-s", raw.deadline_s,
                 "per-image deadline from submit to download, 1..86400 (default 300)");
  app.add_option("--mock", raw.mock,
                 "start the bundled mock in process and use it; optional profile: " +
                     join(mock::profile_names()) + " (default ideal)")
      ->expected(0, 1);
  app.add_option("--api-key-file", raw.api_key_file,
                 "read the API key from this file instead of MODELSCOPE_API_KEY");
  app.add_option("--out", raw.out, "output directory for the images and manifest.json")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "zbatch generate: " << e.what()
              << "\nrun 'zbatch generate --help' for the options\n";
    return exit_usage;
  }
  raw.mock_given = app.count("--mock") > 0;

  generate_plan plan;
  try {
    plan = make_plan(raw);
  } catch (const usage_error& e) {
    std::cerr << "zbatch generate: " << e.message << "\n";
    return exit_usage;
  }
  // A peer that closes mid-write (TLS writes can raise it) must be an error value, not a kill.
  signal(SIGPIPE, SIG_IGN);
  try {
    return run_plan(plan);
  } catch (const mock::config_error& e) {
    std::cerr << "zbatch generate: --mock: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "zbatch generate: " << e.what() << "\n";
    return exit_partial;
  }
}

}  // namespace zbatch::cli
