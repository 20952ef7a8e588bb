#pragma once
/// The input rules of `zbatch generate`'s command line, next to the batch file's (inputs.hpp):
/// the options as typed (`cli_inputs`: texts, empty when not given) become a checked
/// `session_config` (images with their seeds, the journal's options, the output directory, the
/// strategy with its poll overrides, submit cap, grace, connections), or a failed result
/// (base/status.hpp) whose message names the option and what is allowed. Nothing is sent or
/// written.
///
/// The connection options (--mock, --base-url, --api-key-file) stay in the CLI, next to the
/// mock server it starts (generate/ does not depend on the mock). Pure functions apart from
/// reading `--out`'s journal header and drawing random seeds; no threading concerns.

#include <cstdint>
#include <string>
#include <vector>

#include "generate/inputs.hpp"
#include "generate/session.hpp"
#include "protocol/messages.hpp"

namespace zbatch::generate {

/// The options as the user typed them; defaults are those of `zbatch generate --help`.
struct cli_inputs {
  std::string prompt;
  std::string batch;  ///< A JSON-lines file; excludes the per-image options below.
  std::string count;
  std::string negative_prompt;
  bool negative_given = false;  ///< --negative-prompt was given (an empty one counts).
  std::string steps;
  std::string guidance;
  std::string size;
  std::string aspect;
  std::string base_size;
  std::string seed;
  std::string model{protocol::default_model};
  std::string strategy = "adaptive";
  std::string max_submits = "0";
  std::string grace_s = "30";
  std::string poll_interval_ms;
  std::string deadline_s;
  std::string connections = "16";
  std::string out;
  bool retry_moderated = false;
  bool resubmit_possibly_paid = false;
  bool fit_quota = false;
  bool dry_run = false;
};

/// The session the options describe, checked in this order: --out, the images (--batch, or
/// --prompt with --count, --seed, --size | --aspect [--base-size], --negative-prompt, --steps,
/// --guidance; the limits are the protocol's), --strategy with --poll-interval-ms and
/// --deadline-s, --max-submits, --grace-s, --connections. Without --seed the base seed is the
/// one an earlier run into the same --out picked, else random; `seed` (the jitter seed) is
/// random; `endpoint` is left for the caller. Fails (invalid_argument; not_found for a batch
/// file that cannot be read): "--count must be an integer from 1 to 1000 (got \"0\")", "--size
/// and --aspect are mutually exclusive: ...", ...
result<session_config> session_config_from(const cli_inputs& in);

/// `text` as an integer in low..high, else invalid_argument "OPTION must be an integer from LOW
/// to HIGH (got \"TEXT\")".
result<std::int64_t> parse_integer_option(const std::string& option, const std::string& text,
                                          std::int64_t low, std::int64_t high);
/// `text` as a number in low..high, else invalid_argument "OPTION must be a number from LOW to
/// HIGH (got \"TEXT\")".
result<double> parse_number_option(const std::string& option, const std::string& text, double low,
                                   double high);

/// "a, b, c": how the messages and the help list the allowed values.
std::string allowed_list(const std::vector<std::string>& items);

}  // namespace zbatch::generate
