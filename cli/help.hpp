#pragma once
/// What every `zbatch` command says about itself: the exit codes (one list, shown by every
/// --help, the man page and README.md), the help footer with examples, the version, and the
/// parser's errors rewritten as sentences that name the option and its allowed values.

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace zbatch::cli {

/// One exit code and the commands that use it.
struct exit_code_doc {
  int code;
  const char* meaning;
};

/// The exit codes of `command` ("generate", "scenario", ...; "" for all of them).
std::vector<exit_code_doc> exit_codes(std::string_view command);

/// "Examples:\n  ...\n\nExit codes:\n  0  ...\n": the footer of every --help.
std::string help_footer(std::string_view command, const std::vector<std::string>& examples);

/// "zbatch 0.1.0 (git v0.1.0-12-gabc1234)": CMake's project version and, when the build had a
/// git checkout, git describe.
std::string version_text();

/// The parser's error as a sentence naming the option and what it allows (CLI11's own text for
/// errors it does not know), with "did you mean" for a mistyped option or subcommand.
std::string explain(const CLI::ParseError& error, const CLI::App& app);

/// CLI::Range(low, high) for a floating-point option that also refuses NaN, which passes CLI11's
/// Range (every comparison with NaN is false; a new user's `--time-scale nan` ran). Fails with
/// Range's own text, so explain() words it like every range error.
CLI::Validator finite_range(double low, double high);

/// `message`, an error that starts with an option ("--count must be ..."), blamed on the --config
/// file when the option's value came from there rather than from `args` (the command line):
/// "fox.toml: count = 1E400: must be ...". A message of another shape gets a note instead,
/// "... (batch = b.jsonl is from fox.toml)". Otherwise `message` as it is.
std::string blame_config(const std::string& message, const CLI::App& app,
                         const std::vector<std::string>& args);

/// After a successful parse, the first of what CLI11 2.1 reads from the --config file without a
/// word but not as written: a key given twice ("--config FILE:LINE: 'count' is given twice
/// (first at line 1): keep one"; CLI11 keeps one of the values), a value that opens a quote it
/// does not close (CLI11 drops the lone quote and reads on; a value is one line), or a quoted
/// value holding '#' (cut there); else empty.
std::string config_file_error(const CLI::App& app);

/// For `catch (const CLI::ParseError&)`: prints help (exit 0) or the explained error and a
/// pointer to --help on stderr (exit 2). `program` is "zbatch generate", ...; `args`, the command
/// line, tells a --config file's values from typed ones (blame_config).
int parse_failed(const CLI::ParseError& error, const CLI::App& app, const std::string& program,
                 const std::vector<std::string>& args = {});

}  // namespace zbatch::cli
