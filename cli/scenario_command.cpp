// `zbatch scenario run FILE`: one workload under every strategy of a scenario file, compared in
// virtual time (sim), over loopback sockets (http) or against the real API (live). The runner
// lives in scenarios/; this file parses options, prints the table and writes the results.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/suggest.hpp"
#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "client/http_backend.hpp"
#include "protocol/wire.hpp"
#include "reports/render.hpp"
#include "reports/terminal.hpp"
#include "scenarios/runner.hpp"
#include "scenarios/scenario.hpp"

namespace zbatch::cli {
namespace {

namespace fs = std::filesystem;

/// The options of `scenario run` that only one mode (or two) reads. Given in another mode they
/// would be silently ignored: a note says so (a user who passed --time-scale to a sim run
/// expected it to change something).
void note_options_the_mode_ignores(const CLI::App& run, const std::string& mode) {
  struct only {
    const char* option;
    std::vector<std::string> modes;
  };
  const only table[] = {{"--time-scale", {"http"}},   {"--base-url", {"http", "live"}},
                        {"--api-key-file", {"live"}}, {"--allow-cost", {"live"}},
                        {"--max-images", {"live"}},   {"--threads", {"sim"}}};
  for (const auto& entry : table) {
    const auto* option = run.get_option_no_throw(entry.option);
    if (option == nullptr || option->count() == 0 ||
        std::find(entry.modes.begin(), entry.modes.end(), mode) != entry.modes.end()) {
      continue;
    }
    std::string modes;
    for (const auto& m : entry.modes) {
      modes += (modes.empty() ? "" : " or ") + m;
    }
    std::cerr << "zbatch scenario: note: " << entry.option << " applies to --mode " << modes
              << " only; ignored in " << mode << " mode\n";
  }
}

/// Reports of an earlier run removed from --out (reports::remove_reports): say which, so a
/// user who looked for them knows why they are gone.
void note_removed_reports(const std::vector<fs::path>& removed) {
  if (removed.empty()) {
    return;
  }
  std::string names;
  for (const auto& path : removed) {
    names += (names.empty() ? "" : ", ") + path.filename().string();
  }
  std::cerr << "zbatch scenario: note: removed " << names << " of an earlier run from "
            << removed.front().parent_path().string()
            << " (they described other results; --report writes this run's)\n";
}

/// The directories `create_directories(dir)` is about to create, outermost first: on a run that
/// fails they are removed again if still empty, so a failed run leaves no empty --out behind.
std::vector<fs::path> missing_directories(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::path at = fs::absolute(dir, ec); !at.empty() && !fs::exists(at, ec);
       at = at.parent_path()) {
    out.insert(out.begin(), at);
    if (at == at.parent_path()) {
      break;
    }
  }
  return out;
}

void remove_if_empty(const std::vector<fs::path>& created) {
  std::error_code ec;
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    if (!fs::remove(*it, ec)) {  // false (or an error) when it is not empty: stop there
      return;
    }
  }
}

std::vector<std::string> builtin_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(ZBATCH_SCENARIO_DIR, ec)) {
    if (entry.path().extension() == ".json") {
      names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// A bare name ("preview-4") means the built-in scenario of that name; a name that is neither a
/// file nor a built-in scenario is refused pointing to `zbatch scenario list`.
result<fs::path> resolve_scenario_file(const std::string& argument) {
  fs::path path(argument);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    return path;
  }
  const auto names = builtin_names();
  const bool bare = !path.has_extension() && argument.find('/') == std::string::npos;
  if (bare) {
    const fs::path builtin = fs::path(ZBATCH_SCENARIO_DIR) / (argument + ".json");
    if (fs::exists(builtin, ec)) {
      return builtin;
    }
  }
  return not_found_error("no scenario file or built-in scenario named '" + argument + "'" +
                         base::did_you_mean(bare ? argument : path.stem().string(), names) +
                         "; `zbatch scenario list` lists the built-in scenarios");
}

int list_builtins() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(ZBATCH_SCENARIO_DIR)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const auto s = scenarios::load_scenario(file);
    if (!s.ok()) {
      std::cerr << "zbatch scenario list: " << s.status().message() << "\n";
      return exit_usage;
    }
    std::cout << s->name << "\t" << s->workload.total_images() << " images, profile "
              << s->profile.name << "\n    " << s->description << "\n";
  }
  return exit_ok;
}

void write_file(const fs::path& path, const std::string& text) {
  const auto temporary = fs::path(path.string() + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      throw std::runtime_error(path.string() + ": cannot be written");
    }
  }
  fs::rename(temporary, path);
}

}  // namespace

int run_scenario(int argc, char** argv) {
  CLI::App app{"Play one workload under every strategy of a scenario and compare them.",
               "zbatch scenario"};
  app.require_subcommand(1);
  const std::vector<std::string> examples{
      "zbatch scenario list", "zbatch scenario run preview-4 --out out/preview-4 --report",
      "zbatch scenario run preview-4 --mode http --repeat 3 --out out/preview-4-http"};
  app.footer(help_footer("scenario", examples));
  auto* list = app.add_subcommand("list", "list the built-in scenarios");
  list->footer(help_footer("scenario list", {"zbatch scenario list"}));
  auto* run = app.add_subcommand("run", "run a scenario file (or a built-in scenario by name)");
  run->footer(help_footer("scenario", examples));
  std::string file;
  std::string mode = "sim";
  std::optional<std::uint64_t> seed;
  std::optional<int> repeat;
  std::optional<double> time_scale;
  std::string out_dir;
  std::string base_url;
  std::string api_key_file;
  bool allow_cost = false;
  int max_images = 0;
  int threads = 0;
  bool report = false;
  bool quiet = false;
  bool no_hindsight = false;
  run->add_option("file", file, "scenario file, or the name of a built-in scenario")
      ->required()
      ->type_name("FILE|NAME");
  run->add_option("--mode", mode,
                  "sim (virtual time), http (loopback mock; a scenario with clients > 1 and a "
                  "shared limiter also needs redis-server installed, else exit 2) or live (real "
                  "API)")
      ->check(CLI::IsMember({"sim", "http", "live"}))
      ->type_name("MODE");
  run->add_option("--seed", seed, "seed of the first repetition (overrides the scenario's)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{INT64_MAX}))  // as a scenario file's
      ->type_name("N");
  run->add_option("--repeat", repeat, "repetitions (overrides the scenario's), 1..1000")
      ->check(CLI::Range(1, 1000))
      ->type_name("N");
  run->add_option("--time-scale", time_scale, "http: wall seconds per scenario second, 0.0001..10")
      ->check(finite_range(0.0001, 10.0))
      ->type_name("NUMBER");
  run->add_option("--out", out_dir, "directory for results.json (and the reports)")
      ->required()
      ->type_name("DIR")
      ->check(CLI::Validator(
          [](const std::string& dir) {
            return dir.empty() ? std::string(
                                     "empty: give the directory for results.json and "
                                     "the reports")
                               : std::string();
          },
          "DIR"));
  run->add_option("--base-url", base_url,
                  "http: an already running `zbatch mock`; live: the API (default the real one)")
      ->type_name("URL");
  run->add_option("--api-key-file", api_key_file, "live: read the key from this file")
      ->type_name("FILE");
  run->add_flag("--allow-cost", allow_cost, "live: accept that the run spends real credits");
  run->add_option("--max-images", max_images, "live: hard cap on images per run, 1..1000")
      ->check(CLI::Range(1, 1000))
      ->type_name("N");
  run->add_option("--threads", threads,
                  "sim: runs played at once, 1..64 (default one per core; results do not depend "
                  "on it)")
      ->check(CLI::Range(1, 64))
      ->type_name("N");
  run->add_flag("--no-hindsight", no_hindsight,
                "skip the hindsight grid (28 static strategies in sim on the same seeds)");
  run->add_flag("--report", report, "also write report.md, report.html, results.csv, junit.xml");
  run->add_flag(
      "--quiet,-q", quiet,
      "print only the table, its recommendation and the thresholds: no line per finished run, no "
      "'wrote FILE' lines (errors and notes on ignored options still go to stderr; live mode still "
      "states its cost)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failed(e, app, "zbatch scenario");
  }
  if (list->parsed()) {
    return list_builtins();
  }
  // A bad scenario or a refused run exits 2; a run that failed inside (internal), a peer that did
  // not answer (unavailable: the mock at --base-url, a run's redis-server) or a library's
  // exception (a port that cannot be bound, a file that cannot be written) exits 3.
  const auto fail = [](const status& error) {
    std::cerr << "zbatch scenario: " << error.message() << "\n";
    const bool inside =
        error.code() == status_code::internal || error.code() == status_code::unavailable;
    return inside ? exit_run_failed : exit_usage;
  };
  // As in generate: a peer that closes mid-write (OpenSSL writes with plain write(), live mode's
  // TLS) must be an error value, not a kill.
  signal(SIGPIPE, SIG_IGN);
  try {
    const auto resolved = resolve_scenario_file(file);
    if (!resolved.ok()) {
      return fail(resolved.status());
    }
    const auto loaded = scenarios::load_scenario(*resolved);
    if (!loaded.ok()) {
      return fail(loaded.status());
    }
    const scenarios::scenario& s = *loaded;
    scenarios::run_options options;
    options.mode = mode == "sim"    ? scenarios::run_mode::sim
                   : mode == "http" ? scenarios::run_mode::http
                                    : scenarios::run_mode::live;
    options.seed = seed;
    options.repetitions = repeat;
    // Repetition r plays seed + r: the last one must stay within the seeds a file may give
    // (a new user's check: --seed 2^63-1 --repeat 2 wrote a run seed of 2^63).
    const std::uint64_t first = seed.value_or(s.seed);
    const auto reps = static_cast<std::uint64_t>(repeat.value_or(s.repetitions));
    if (first > static_cast<std::uint64_t>(INT64_MAX) - (reps - 1)) {
      std::cerr << "zbatch scenario: seed " << first << " with " << reps
                << " repetitions: the last repetition's seed would pass 2^63-1 (allowed 0.."
                << static_cast<std::uint64_t>(INT64_MAX) - (reps - 1) << " for " << reps
                << " repetitions)\n";
      return exit_usage;
    }
    options.time_scale = time_scale;
    options.base_url = base_url;
    options.allow_cost = allow_cost;
    options.max_images = max_images;
    options.threads = threads;
    options.hindsight = !no_hindsight;
    if (options.mode == scenarios::run_mode::http && !base_url.empty()) {
      const auto url = protocol::parse_url(base_url);
      if (!url || !protocol::is_loopback_host(url->host)) {
        std::cerr << "zbatch scenario: --base-url in http mode must be a zbatch mock on a "
                     "loopback address (got \""
                  << base_url << "\")\n";
        return exit_usage;
      }
    }
    if (options.mode == scenarios::run_mode::live) {
      if (options.base_url.empty()) {
        options.base_url = std::string(protocol::default_base_url);
      }
      if (!api_key_file.empty()) {
        auto key = client::read_api_key_file(api_key_file);
        if (!key.ok()) {
          std::cerr << "zbatch scenario: --api-key-file: " << key.status().message() << "\n";
          return exit_usage;
        }
        options.api_key = *key;
      } else {
        options.api_key = client::api_key_from_environment();
      }
      const auto cost = scenarios::live_cost_bound_of(s, options);
      if (!cost.ok()) {
        return fail(cost.status());
      }
      // Each strategy's worst case: every resubmit its spec allows may be charged.
      std::string per_strategy;
      for (const auto& bound : cost->strategies) {
        per_strategy += (per_strategy.empty() ? "" : ", ") + bound.label + " " +
                        std::to_string(bound.submits_per_image);
      }
      std::cout << "live mode: a run would spend at most " << cost->credits << " credits ("
                << s.workload.total_images() << " images x " << repeat.value_or(s.repetitions)
                << " repetitions x the paid submits each image may take: " << per_strategy << " x "
                << cost->cost_per_task
                << " credits per task), if the checks before any request pass\n";
    }
    if (!quiet) {
      options.on_line = [](const std::string& line) { std::cerr << "  " << line << "\n"; };
    }
    if (const auto checked = scenarios::check_scenario(s); !checked.ok()) {
      return fail(checked);
    }
    note_options_the_mode_ignores(*run, mode);
    // A directory where results.json or a report goes was found after the whole run played (a
    // new user's check: exit 3, "filesystem error: cannot rename", the table never printed).
    std::vector<std::string> outputs{"results.json"};
    outputs.insert(outputs.end(), std::begin(reports::report_names),
                   std::end(reports::report_names));
    for (const auto& name : outputs) {
      std::error_code kind_ec;
      const auto path = fs::path(out_dir) / name;
      const auto kind = fs::status(path, kind_ec).type();
      if (kind != fs::file_type::not_found && kind != fs::file_type::regular &&
          kind != fs::file_type::none) {
        std::cerr << "zbatch scenario: --out " << out_dir << ": " << path.string()
                  << " is not a regular file, so the run's results could not be written there; "
                     "move it away or choose another --out\n";
        return exit_usage;
      }
    }
    std::error_code ec;
    const auto created = missing_directories(out_dir);
    fs::create_directories(out_dir, ec);
    if (ec) {
      std::cerr << "zbatch scenario: --out " << out_dir << ": " << ec.message() << "\n";
      return exit_usage;
    }
    const auto ran = scenarios::run_scenario(s, options);
    if (!ran.ok()) {
      remove_if_empty(created);
      return fail(ran.status());
    }
    const auto& results = *ran;
    write_file(fs::path(out_dir) / "results.json", results.dump(2) + "\n");
    std::cout << reports::terminal_table(results);
    if (!quiet) {
      std::cout << "\nwrote " << (fs::path(out_dir) / "results.json").string() << "\n";
    }
    if (!report) {
      note_removed_reports(reports::remove_reports(out_dir));
    }
    if (report) {
      const auto written = reports::render_all(results, out_dir);
      if (!written.ok()) {
        std::cerr << "zbatch scenario: " << written.status().message() << "\n";
        return exit_run_failed;
      }
      for (const auto& path : *written) {
        if (!quiet) {
          std::cout << "wrote " << path.string() << "\n";
        }
      }
    }
    for (const auto& t : results["thresholds"]) {
      if (!t["passed"].get<bool>()) {
        return exit_partial;
      }
    }
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "zbatch scenario: " << e.what() << "\n";
    return exit_run_failed;
  }
}

}  // namespace zbatch::cli
