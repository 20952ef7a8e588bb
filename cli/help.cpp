#include "cli/help.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "base/json_reader.hpp"
#include "base/suggest.hpp"
#include "cli/commands.hpp"
#include "cli/zbatch_version.hpp"

namespace zbatch::cli {

std::vector<exit_code_doc> exit_codes(std::string_view command) {
  const bool all = command.empty();
  const bool generate = all || command == "generate";
  std::vector<exit_code_doc> out{{exit_ok, "success (help and --version too)"}};
  if (generate) {
    out.push_back({exit_partial,
                   "generate: some images failed, or an answer halted the batch (wrong key, "
                   "unknown model, unreachable service); rerun after fixing the cause"});
  }
  if (all || command == "scenario") {
    out.push_back({exit_partial, "scenario run: a threshold of the scenario failed"});
  }
  if (all || command == "report" || command == "report compare") {
    out.push_back({exit_partial, "report compare: a regression"});
  }
  out.push_back({exit_usage, "bad usage or input (an option, a file, a field): nothing was sent"});
  if (generate) {
    out.push_back({exit_submit_cap, "generate: --max-submits reached; images remain, rerun"});
  }
  if (all || command == "scenario") {
    out.push_back({exit_run_failed,
                   "scenario run: the run failed inside (or the mock at --base-url or a "
                   "run's redis-server did not answer) or a result file could not be written"});
  }
  if (generate) {
    out.push_back({exit_quota,
                   "generate: the daily quota ran out, or the batch does not fit in the calls "
                   "left today (without --fit-quota); images remain, rerun after the reset"});
    out.push_back({exit_interrupted,
                   "generate: interrupted (Ctrl-C, SIGTERM); the journal keeps every task, "
                   "rerun to resume"});
  }
  return out;
}

std::string help_footer(std::string_view command, const std::vector<std::string>& examples) {
  std::string out = "Examples:\n";
  for (const auto& example : examples) {
    out += "  " + example + "\n";
  }
  out += "\nExit codes:\n";
  constexpr std::size_t indent = 7;
  constexpr std::size_t columns = 80;
  for (const auto& code : exit_codes(command)) {
    const auto number = std::to_string(code.code);
    std::string line = "  " + number + std::string(indent - 2 - number.size(), ' ');
    std::istringstream words(code.meaning);
    std::string word;
    bool first = true;
    while (words >> word) {
      if (!first && line.size() + 1 + word.size() > columns) {
        out += line + "\n";
        line = std::string(indent, ' ') + word;
      } else {
        line += (first ? "" : " ") + word;
      }
      first = false;
    }
    out += line + "\n";
  }
  return out;
}

std::string version_text() {
  std::string out = std::string("zbatch ") + ZBATCH_VERSION;
  const std::string describe = ZBATCH_GIT_DESCRIBE;
  if (!describe.empty()) {
    out += " (git " + describe + ")";
  }
  return out;
}

namespace {

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) {
      names.push_back("--" + name);
    }
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

/// The option (of `app` or one of its subcommands) that an error names, to read its type.
const CLI::Option* find_option(const CLI::App& app, const std::string& name) {
  for (const auto* option : app.get_options()) {
    if (option->check_name(name)) {
      return option;
    }
  }
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (const auto* found = find_option(*sub, name)) {
      return found;
    }
  }
  return nullptr;
}

std::string what_it_takes(const CLI::App& app, const std::string& name) {
  const auto* option = find_option(app, name);
  if (option == nullptr || option->get_type_name().empty()) {
    return "a value";
  }
  return option->get_type_name();
}

std::string readable_set(std::string set) {
  // CLI11 writes {sim,http,live}.
  if (set.size() >= 2 && set.front() == '{' && set.back() == '}') {
    set = set.substr(1, set.size() - 2);
  }
  std::string out;
  for (const char c : set) {
    out += c == ',' ? std::string(", ") : std::string(1, c);
  }
  return out;
}

/// CLI11's "OPTION: Value V not in range LOW to HIGH" as a sentence. CLI11 prints a double
/// range's bounds with printf's %f padding (0.000100 to 10.000000) and says the same for a
/// value that is not a number at all ("abc").
std::string range_sentence(const std::string& option, const std::string& value,
                           const std::string& low, const std::string& high) {
  const bool fractional = low.find('.') != std::string::npos;
  // Whole bounds stay as printed: 9223372036854775807 would round as a double.
  const auto bound = [fractional](const std::string& printed) {
    char* end = nullptr;
    const double number = std::strtod(printed.c_str(), &end);
    return fractional && end != printed.c_str() && *end == '\0' ? base::format_number(number)
                                                                : printed;
  };
  char* end = nullptr;
  std::strtod(value.c_str(), &end);
  const bool is_number = !value.empty() && end != value.c_str() && *end == '\0';
  const std::string what = is_number ? "" : fractional ? "a number " : "a whole number ";
  return option + " must be " + what + "from " + bound(low) + " to " + bound(high) + " (got \"" +
         value + "\")";
}

/// The config file that was read; empty when none was.
std::string config_file(const CLI::App& app) {
  const auto* config = app.get_config_ptr();
  if (config == nullptr || config->results().empty()) {
    return {};
  }
  return config->results().front();
}

/// "--config FILE: unknown key 'cuont' (did you mean count?) ...": CLI11 2.1 says only "INI
/// was not able to parse cuont" for a key that names no option (allow_config_extras(error)).
std::string unknown_config_key(const CLI::App& app, const std::string& key) {
  std::vector<std::string> names;
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) {
      names.push_back(name);
    }
  }
  const auto read = config_file(app);
  const std::string file = read.empty() ? "" : " " + read;
  const auto dot = key.find('.');
  if (dot != std::string::npos) {  // CLI11 reads "[generate]" as generate.++, its keys generate.KEY
    return "--config" + file + ": section [" + key.substr(0, dot) +
           "] is not read: write every key at the top level, without sections (see --help)";
  }
  return "--config" + file + ": unknown key '" + key + "'" + base::did_you_mean(key, names) +
         "; a key is an option's long name without the dashes (see --help)";
}

}  // namespace

CLI::Validator finite_range(double low, double high) {
  const CLI::Range range(low, high);
  CLI::Validator out(
      [range, low, high](std::string& input) -> std::string {
        double value = 0;
        if (CLI::detail::lexical_cast(input, value) && std::isnan(value)) {
          return "Value " + input + " not in range " + std::to_string(low) + " to " +
                 std::to_string(high);
        }
        return range(input);
      },
      range.get_description());
  return out;
}

std::string explain(const CLI::ParseError& error, const CLI::App& app) {
  const std::string text = error.what();
  std::smatch m;
  static const std::regex at_most(R"(^(\S+): At Most (\d+) required but received (\d+)$)");
  static const std::regex at_least(R"(^(\S+): At least (\d+) required but received (\d+)$)");
  static const std::regex typed_missing(R"(^(\S+): (\d+) required (.*) missing$)");
  static const std::regex exactly(R"(^Expected exactly (\d+) arguments to (\S+), got (\d+)$)");
  static const std::regex range(R"(^(\S+): Value (.*) not in range (\S+) to (\S+)$)");
  static const std::regex member(R"(^(\S+): (.*) not in (\{.*\})$)");
  static const std::regex not_allowed(R"(^The value (.*) is not an allowed value for (\S+)$)");
  static const std::regex convert(R"(^Could not convert: (\S+) = (.*)$)");
  static const std::regex extras(R"(^The following arguments? (?:was|were) not expected: (.*)$)");
  static const std::regex excludes(R"(^(\S+) excludes (\S+)$)");
  static const std::regex required(R"(^(\S+) is required$)");
  static const std::regex unreadable(R"(^(.*) was not readable \(missing\?\)$)");
  static const std::regex config_extra(R"(^INI was not able to parse (.*)$)");
  if (std::regex_match(text, m, at_most)) {
    return m[1].str() + " was given " + m[3].str() + " values but takes at most " + m[2].str() +
           ": give it once, with one value";
  }
  if (std::regex_match(text, m, at_least) || std::regex_match(text, m, typed_missing)) {
    return m[1].str() + " needs " + what_it_takes(app, m[1].str()) + " after it";
  }
  if (std::regex_match(text, m, config_extra)) {
    return unknown_config_key(app, m[1].str());
  }
  if (std::regex_match(text, m, unreadable)) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(m[1].str(), ec);
    return "--config " + m[1].str() +
           (exists ? ": the file cannot be read (permission denied, or a directory)"
                   : ": no such file");
  }
  if (std::regex_match(text, m, exactly)) {
    return m[2].str() + " takes " + m[1].str() + " value(s), got " + m[3].str();
  }
  if (std::regex_match(text, m, range)) {
    return range_sentence(m[1].str(), m[2].str(), m[3].str(), m[4].str());
  }
  if (std::regex_match(text, m, member)) {
    std::vector<std::string> allowed;
    const auto list = readable_set(m[3].str());
    std::string item;
    for (const char c : list + ",") {
      if (c == ',') {
        allowed.push_back(item);
        item.clear();
      } else if (c != ' ') {
        item += c;
      }
    }
    return m[1].str() + " must be one of " + list + " (got \"" + m[2].str() + "\")" +
           base::did_you_mean(m[2].str(), allowed);
  }
  if (std::regex_match(text, m, not_allowed)) {
    return m[2].str() + " must be " + what_it_takes(app, m[2].str()) + " (got \"" + m[1].str() +
           "\")";
  }
  if (std::regex_match(text, m, convert)) {
    return m[1].str() + " must be " + what_it_takes(app, m[1].str()) + " (got \"" + m[2].str() +
           "\")";
  }
  if (std::regex_match(text, m, extras)) {
    // CLI11 lists the extras last first.
    std::vector<std::string> args;
    std::istringstream words(m[1].str());
    for (std::string word; words >> word;) {
      args.insert(args.begin(), word);
    }
    const std::string first = args.empty() ? std::string() : args.front();
    std::string listed;
    for (const auto& arg : args) {
      listed += (listed.empty() ? "" : " ") + arg;
    }
    std::string out =
        std::string(args.size() > 1 ? "unexpected arguments: " : "unexpected argument: ") + listed;
    if (!first.empty() && first[0] == '-') {
      out += base::did_you_mean(first.substr(0, first.find('=')), option_names(app));
    } else if (const auto subs = subcommand_names(app); !subs.empty()) {
      std::string list;
      for (const auto& sub : subs) {
        list += (list.empty() ? "" : ", ") + sub;
      }
      out += base::did_you_mean(first, subs) + "; the subcommands are " + list;
    }
    return out;
  }
  if (std::regex_match(text, m, excludes)) {
    return m[1].str() + " and " + m[2].str() + " cannot be used together: give one of them";
  }
  if (text == "A subcommand is required") {
    std::string list;
    const auto subs = subcommand_names(app);
    for (const auto& sub : subs) {
      list += (list.empty() ? "" : ", ") + sub;
    }
    // A mistyped subcommand ("rnu") is left over, not reported as an extra.
    const auto left = app.remaining();
    if (!left.empty() && !left.front().empty() && left.front()[0] != '-') {
      return "unknown subcommand '" + left.front() + "'" + base::did_you_mean(left.front(), subs) +
             "; the subcommands are " + list;
    }
    return "a subcommand is required: " + list;
  }
  if (std::regex_match(text, m, required)) {
    return m[1].str() + " is required (" + what_it_takes(app, m[1].str()) + ")";
  }
  return text;
}

namespace {

/// Whether `option` was typed in `args` (--name, --name=V, or -x alone or among other flags).
bool typed(const CLI::Option& option, const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    for (const auto& name : option.get_lnames()) {
      if (arg == "--" + name || arg.rfind("--" + name + "=", 0) == 0) {
        return true;
      }
    }
    for (const auto& name : option.get_snames()) {
      if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' &&
          arg.find(name, 1) != std::string::npos) {
        return true;
      }
    }
  }
  return false;
}

/// "count = 1E400" as a config file sets it (CLI11 matches a key to an option's long name).
std::string config_line(const CLI::Option& option) {
  std::string value;
  for (const auto& result : option.results()) {
    value += (value.empty() ? "" : " ") + result;
  }
  if (value.empty() || value.find_first_of(" \t\"") != std::string::npos) {
    value = "\"" + value + "\"";
  }
  return option.get_lnames().front() + " = " + value;
}

/// What `rest` (the message after the option's name) says about `value` on its own: "must be X"
/// from " must be X (got "V")", "X" from ": X" or " V X"; empty for other shapes.
std::string about_the_value(const std::string& rest, const std::string& value) {
  std::string out;
  if (rest.rfind(": ", 0) == 0) {
    out = rest.substr(2);
  } else if (rest.rfind(" must be ", 0) == 0) {
    out = rest.substr(1);
  } else if (!value.empty() && rest.rfind(" " + value + " ", 0) == 0) {
    out = rest.substr(value.size() + 2);
  }
  const std::string got = " (got \"" + value + "\")";
  if (out.size() > got.size() && out.compare(out.size() - got.size(), got.size(), got) == 0) {
    out.erase(out.size() - got.size());
  }
  return out;
}

/// The lines of `file` (1-based) setting `key` ("key = ..."), in file order.
std::vector<int> config_key_lines(const std::string& file, const std::string& key) {
  std::vector<int> lines;
  std::ifstream in(file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto eq = line.find('=');
    const auto at = line.find_first_not_of(" \t");
    if (eq == std::string::npos || at == std::string::npos) {
      continue;
    }
    auto name = line.substr(at, eq - at);
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name == key) {
      lines.push_back(number);
    }
  }
  return lines;
}

/// "--config FILE:SECOND: 'KEY' is given twice (first at line FIRST): keep one".
std::string given_twice(const std::string& file, const std::string& key, int first, int second) {
  return "--config " + file + ":" + std::to_string(second) + ": '" + key +
         "' is given twice (first at line " + std::to_string(first) + "): keep one";
}

/// Why an option set once in a config file holds several values: the key is on two lines
/// (CLI11 joins them: `count = 4` and `count = 8` read as "4 8"), or its value is not quoted.
std::string several_values(const std::string& file, const std::string& name, std::size_t values) {
  const auto lines = config_key_lines(file, name);
  if (lines.size() > 1) {
    return given_twice(file, name, lines[0], lines[1]);
  }
  return "--config " + file + (lines.empty() ? "" : ":" + std::to_string(lines[0])) +
         ": the value of '" + name + "' is not quoted, so it reads as " + std::to_string(values) +
         " values (a value with spaces or commas needs double quotes in a config file: " + name +
         " = \"...\")";
}

}  // namespace

std::string blame_config(const std::string& message, const CLI::App& app,
                         const std::vector<std::string>& args) {
  static const std::regex leading(R"(^--([a-z0-9][a-z0-9-]*)(.*)$)");
  std::smatch m;
  const std::string file = config_file(app);
  static const std::regex not_allowed(
      R"(^([a-z0-9][a-z0-9-]*): This option is not allowed in a configuration file$)");
  if (!file.empty() && std::regex_match(message, m, not_allowed)) {
    const auto lines = config_key_lines(file, m[1].str());
    return "--config " + file + (lines.empty() ? "" : ":" + std::to_string(lines[0])) + ": '" +
           m[1].str() + "' cannot be set in a config file: give it on the command line";
  }
  if (file.empty() || !std::regex_match(message, m, leading)) {
    return message;
  }
  const auto* option = app.get_option_no_throw("--" + m[1].str());
  if (option == nullptr || option->results().empty() || option->get_lnames().empty() ||
      typed(*option, args)) {
    return message;
  }
  if (option->results().size() > 1 && option->get_items_expected_max() == 1) {
    // CLI11 reads an unquoted value with spaces or commas as several values; its "was given 2
    // values" beside `prompt = "a fox"` read as a contradiction (a new user's check).
    return several_values(file, option->get_lnames().front(), option->results().size());
  }
  const std::string value = option->results().size() == 1 ? option->results().front() : "";
  const std::string rest = about_the_value(m[2].str(), value);
  if (rest.empty()) {
    return message + " (" + config_line(*option) + " is from " + file + ")";
  }
  return file + ": " + config_line(*option) + ": " + rest;
}

std::string config_file_error(const CLI::App& app) {
  const auto file = config_file(app);
  if (file.empty()) {
    return {};
  }
  std::ifstream in(file);
  std::string line;
  std::map<std::string, int> seen;  // key -> its first line
  for (int number = 1; std::getline(in, line); ++number) {
    const auto eq = line.find('=');
    const auto key_at = line.find_first_not_of(" \t");
    if (key_at != std::string::npos && line[key_at] == '[') {
      seen.clear();  // a [section]: its keys are its own
      continue;
    }
    if (eq == std::string::npos || key_at == std::string::npos || line[key_at] == '#' ||
        line[key_at] == ';') {
      continue;
    }
    auto key = line.substr(key_at, eq - key_at);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (const auto [first, fresh] = seen.emplace(key, number); !fresh) {
      // CLI11 keeps the first of two lines apart and joins adjacent ones ("4 8"): either way
      // one of the user's values is dropped without a word.
      return given_twice(file, key, first->second, number);
    }
    const auto value_at = line.find_first_not_of(" \t", eq + 1);
    if (value_at == std::string::npos || (line[value_at] != '"' && line[value_at] != '\'')) {
      continue;
    }
    const auto where = "--config " + file + ":" + std::to_string(number) + ": the value of '" + key;
    const auto close = line.find(line[value_at], value_at + 1);
    if (close == std::string::npos) {
      return where + "' opens a " + line[value_at] +
             " it does not close (a value is one line, e.g. prompt = \"a red fox\")";
    }
    if (line.find('#', value_at) < close) {
      // CLI11 2.1 cuts a line at its first '#', quoted or not: "a #1 fox" became `"a` and was
      // paid for (a new user's check).
      return where +
             "' holds a '#', which this config reader takes for a comment even inside "
             "quotes: move it to the command line (--" +
             key + ")";
    }
  }
  return {};
}

int parse_failed(const CLI::ParseError& error, const CLI::App& app, const std::string& program,
                 const std::vector<std::string>& args) {
  if (error.get_exit_code() == 0) {  // --help, --version
    return app.exit(error) == 0 ? exit_ok : exit_usage;
  }
  std::cerr << program << ": " << blame_config(explain(error, app), app, args) << "\nrun '"
            << program << " --help' for the options and examples\n";
  return exit_usage;
}

}  // namespace zbatch::cli
