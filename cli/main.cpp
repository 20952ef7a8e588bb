// zbatch: one executable, one subcommand per job. Thin: all logic lives in the component libraries.
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/suggest.hpp"
#include "cli/commands.hpp"
#include "cli/help.hpp"

namespace {

struct command {
  const char* name;
  const char* summary;
  int (*run)(int, char**);
};

const command commands[] = {
    {"generate", "generate a batch of images (real API or a mock)", zbatch::cli::run_generate},
    {"mock", "run the bundled mock ModelScope API server", zbatch::cli::run_mock},
    {"scenario", "compare strategies on a scenario (sim, http or live)", zbatch::cli::run_scenario},
    {"report", "render or compare scenario results", zbatch::cli::run_report},
    {"strategy", "list the strategy presets, or explain one (or a spec)",
     zbatch::cli::run_strategy},
};

void print_usage(std::ostream& out) {
  out << "zbatch: batch image generation against ModelScope's asynchronous image API, and a\n"
         "comparison of batching strategies on a bundled mock of it.\n\n"
         "usage: zbatch <command> [options]   (zbatch <command> --help for its options)\n"
         "       zbatch --version\n\n"
         "commands:\n";
  for (const auto& c : commands) {
    out << "  " << c.name << std::string(12 - std::strlen(c.name), ' ') << c.summary << "\n";
  }
  out << "\n"
      << zbatch::cli::help_footer(
             "", {"zbatch generate --mock --prompt \"a red fox in snow\" --count 4 --out out/fox",
                  "zbatch scenario run preview-4 --out out/preview-4 --report",
                  "zbatch strategy show adaptive"});
}

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const auto& c : commands) {
    names.emplace_back(c.name);
  }
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return zbatch::cli::exit_usage;
  }
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return zbatch::cli::exit_ok;
  }
  if (name == "--version" || name == "-V" || name == "version") {
    std::cout << zbatch::cli::version_text() << "\n";
    return zbatch::cli::exit_ok;
  }
  for (const auto& c : commands) {
    if (name == c.name) {
      return c.run(argc - 1, argv + 1);
    }
  }
  std::string list;
  for (const auto& c : command_names()) {
    list += (list.empty() ? "" : ", ") + c;
  }
  std::cerr << "zbatch: unknown command '" << name << "'"
            << zbatch::base::did_you_mean(name, command_names()) << "; the commands are " << list
            << " (zbatch --help shows what each does)\n";
  return zbatch::cli::exit_usage;
}
