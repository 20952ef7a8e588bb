// zbatch: one executable, one subcommand per job. Thin: all logic lives in the component libraries.
#include <cstring>
#include <iostream>
#include <string_view>

#include "cli/commands.hpp"

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
};

void print_usage(std::ostream& out) {
  out << "usage: zbatch <command> [options]   (zbatch <command> --help for its options)\n\n"
         "commands:\n";
  for (const auto& c : commands) {
    out << "  " << c.name << std::string(12 - std::strlen(c.name), ' ') << c.summary << "\n";
  }
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
  for (const auto& c : commands) {
    if (name == c.name) {
      return c.run(argc - 1, argv + 1);
    }
  }
  std::cerr << "zbatch: unknown command '" << name << "'\n";
  print_usage(std::cerr);
  return zbatch::cli::exit_usage;
}
