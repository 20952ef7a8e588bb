// `zbatch mock`: runs the bundled mock ModelScope API until SIGINT/SIGTERM. The first stdout line
// is the base URL, so scripts can read it.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "mock_api/config.hpp"
#include "mock_api/model.hpp"
#include "mock_api/server.hpp"

namespace zbatch::cli {

int run_mock(int argc, char** argv) {
  CLI::App app{"Run the bundled mock ModelScope API server", "zbatch mock"};
  app.footer(help_footer("mock", {"zbatch mock --port 8000 --profile modelscope-free",
                                  "zbatch mock --config my-limits.json --seed 7"}));
  std::string host = "127.0.0.1";
  int port = 0;
  std::string config_file;
  std::string profile = "ideal";
  std::uint64_t seed = 1;
  std::string admin_token;
  std::size_t threads = 320;
  int keep_alive_s = 60;
  int images_port = 0;
  app.add_option("--host", host, "address to bind (default 127.0.0.1)")->type_name("ADDRESS");
  app.add_option("--port", port, "port to bind, 0..65535, 0 for any free port (default 0)")
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  app.add_option("--images-port", images_port,
                 "port of the images' second origin, -1..65535, 0 for any free port, -1 for "
                 "none (default 0)")
      ->check(CLI::Range(-1, 65535))
      ->type_name("PORT");
  app.add_option("--config", config_file, "JSON config applied on top of the profile")
      ->type_name("FILE");
  std::string profiles;
  for (const auto& name : mock::profile_names()) {
    profiles += (profiles.empty() ? "" : ", ") + name;
  }
  app.add_option("--profile", profile, "shipped profile: " + profiles + " (default ideal)")
      ->type_name("NAME");
  app.add_option("--seed", seed, "seed of every random decision (default 1), 0..2^63-1")
      ->type_name("N")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{INT64_MAX}));  // -1 would wrap to 2^64-1
  app.add_option("--admin-token", admin_token,
                 "token guarding /admin/* (required for a non-loopback --host)")
      ->type_name("TOKEN");
  app.add_option("--threads", threads,
                 "worker threads = concurrent connections, 1..4096 (default 320)")
      ->check(CLI::Range(1, 4096))
      ->type_name("N");
  app.add_option("--keep-alive-s", keep_alive_s,
                 "seconds an idle keep-alive connection stays open, 0..86400 (default 60)")
      ->check(CLI::Range(0, 86400))
      ->type_name("SECONDS");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failed(e, app, "zbatch mock");
  }

  const auto loaded = mock::load_config(
      profile, config_file.empty() ? std::nullopt : std::optional<std::string>(config_file));
  if (!loaded.ok()) {
    std::cerr << "zbatch mock: " << loaded.status().message() << "\n";
    return exit_usage;
  }
  const mock::mock_config& config = *loaded;

  // Block the signals before any thread starts so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto model = std::make_shared<mock::model>(config, std::make_shared<mock::steady_clock>(), seed);
  model->set_clock_origin_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  mock::server_options options;
  options.host = host;
  options.port = port;
  options.admin_token = admin_token;
  options.threads = threads;
  options.keep_alive_timeout_s = keep_alive_s;
  options.images_port = images_port;
  std::unique_ptr<mock::server> server;
  try {
    server = std::make_unique<mock::server>(model, options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "zbatch mock: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "zbatch mock: --host/--port: " << e.what() << "\n";
    return exit_usage;
  }
  std::cout << server->base_url() << std::endl;
  std::cerr << "zbatch mock: profile " << profile << ", seed " << seed
            << (config_file.empty() ? "" : ", config " + config_file) << "; images from "
            << server->images_url() << "; stop with Ctrl-C\n";

  int received = 0;
  sigwait(&signals, &received);
  std::cerr << "zbatch mock: stopping\n";
  server->stop();
  return exit_ok;
}

}  // namespace zbatch::cli
