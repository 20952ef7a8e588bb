#include "generate/cli_inputs.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <random>
#include <sstream>
#include <system_error>
#include <utility>

#include "actors/strategy.hpp"
#include "protocol/messages.hpp"
#include "protocol/models.hpp"
#include "protocol/size.hpp"

namespace zbatch::generate {
namespace {

// The checks below raise a status_error at the first bad option (zbatch::raise); the public
// functions at the end turn it back into a returned status (capture).
[[noreturn]] void raise_invalid(std::string message) {
  zbatch::raise(invalid_argument_error(std::move(message)));
}

std::int64_t integer_option(const std::string& option, const std::string& text, std::int64_t low,
                            std::int64_t high) {
  return value_or_raise(parse_integer_option(option, text, low, high));
}

/// With --batch, every per-image option belongs on the batch file's lines.
void check_batch_alone(const cli_inputs& in) {
  for (const auto& [given, name] :
       std::vector<std::pair<bool, std::string>>{{!in.prompt.empty(), "--prompt"},
                                                 {!in.count.empty(), "--count"},
                                                 {!in.seed.empty(), "--seed"},
                                                 {!in.size.empty(), "--size"},
                                                 {!in.aspect.empty(), "--aspect"},
                                                 {!in.base_size.empty(), "--base-size"},
                                                 {in.negative_given, "--negative-prompt"},
                                                 {!in.steps.empty(), "--steps"},
                                                 {!in.guidance.empty(), "--guidance"}}) {
    if (given) {
      raise_invalid("--batch and " + name + " are mutually exclusive: with --batch, put " +
                    name.substr(2) + " on each line of the batch file");
    }
  }
}

/// --size, or --aspect with --base-size, or the default size.
protocol::image_size image_size_of(const cli_inputs& in) {
  if (!in.size.empty() && !in.aspect.empty()) {
    raise_invalid("--size and --aspect are mutually exclusive: give one of them");
  }
  if (!in.base_size.empty() && in.aspect.empty()) {
    raise_invalid("--base-size needs --aspect (allowed " + allowed_list(protocol::aspect_ratios()) +
                  ")");
  }
  // The model's side range when the client knows the model; for another, only the form (the
  // service decides). protocol::validate then checks the size against the same rules.
  const auto* rules = protocol::find_model(protocol::default_catalogue(), in.model);
  std::string why;
  if (!in.size.empty()) {
    const auto size =
        rules != nullptr
            ? protocol::parse_size_form(in.size, &why, rules->min_side, rules->max_side, in.model)
            : protocol::parse_size_form(in.size, &why, 1, protocol::max_side, {});
    if (!size) {
      raise_invalid("--size: " + why);
    }
    return *size;
  }
  if (!in.aspect.empty()) {
    const int low = rules != nullptr ? rules->min_side : 1;
    const int high = rules != nullptr ? rules->max_side : protocol::max_side;
    const int base = in.base_size.empty()
                         ? protocol::default_base_size
                         : static_cast<int>(integer_option("--base-size", in.base_size, low, high));
    const auto size = protocol::size_for_aspect(in.aspect, base, &why, low, high,
                                                rules != nullptr ? in.model : std::string());
    if (!size) {
      raise_invalid("--aspect: " + why);
    }
    return *size;
  }
  return protocol::image_size{};
}

/// The request every variant shares (its seed comes later).
protocol::submit_request prompt_request(const cli_inputs& in) {
  protocol::submit_request request;
  request.model = in.model;
  request.prompt = in.prompt;
  if (in.negative_given) {
    request.negative_prompt = in.negative_prompt;
  }
  if (!in.steps.empty()) {
    request.steps = static_cast<int>(
        integer_option("--steps", in.steps, protocol::min_steps, protocol::max_steps));
  }
  if (!in.guidance.empty()) {
    request.guidance = value_or_raise(parse_number_option(
        "--guidance", in.guidance, protocol::min_guidance, protocol::max_guidance));
  }
  request.size = image_size_of(in);
  return request;
}

/// Seeds S..S+count-1 must all be valid seeds. Without --seed, a rerun into the same directory
/// continues the batch it started (same random seed).
std::int64_t base_seed_of(const cli_inputs& in, int count) {
  const std::int64_t last_base = protocol::max_seed - (count - 1);
  if (in.seed.empty()) {
    const auto earlier = journal_options(in.out);
    if (earlier && earlier->value("mode", "") == "prompt" && earlier->contains("seed") &&
        (*earlier)["seed"].is_number_integer()) {
      return (*earlier)["seed"].get<std::int64_t>();
    }
    std::random_device device;
    std::uniform_int_distribution<std::int64_t> pick(0, last_base);
    return pick(device);
  }
  const auto base_seed = integer_option("--seed", in.seed, 0, protocol::max_seed);
  if (base_seed > last_base) {
    raise_invalid("--seed " + in.seed + " with --count " + std::to_string(count) +
                  " would use seeds above 2147483647 (allowed --seed 0.." +
                  std::to_string(last_base) + " for this count)");
  }
  return base_seed;
}

/// A prompt option must be UTF-8: the journal and the request are JSON (a new user's check:
/// `--prompt $'a\xff'` ended in nlohmann's type_error 316, exit 1, after the journal was made).
void require_utf8(const std::string& option, const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
  } catch (const nlohmann::json::type_error&) {
    raise_invalid(option + " is not UTF-8 text (a byte that is not UTF-8; give the text as UTF-8)");
  }
}

std::vector<image_spec> images_of(const cli_inputs& in, nlohmann::json* options) {
  if (!in.batch.empty()) {
    check_batch_alone(in);
    auto images = value_or_raise(batch_file_images(in.batch, in.model));
    *options = options_json(images, true);
    return images;
  }
  if (in.prompt.empty()) {
    raise_invalid("--prompt (a non-empty string) or --batch FILE.jsonl is required");
  }
  require_utf8("--prompt", in.prompt);
  require_utf8("--negative-prompt", in.negative_prompt);
  if (protocol::is_blank(in.prompt)) {
    raise_invalid("--prompt holds only whitespace: give the text of the image");
  }
  const int count =
      in.count.empty() ? 1 : static_cast<int>(integer_option("--count", in.count, 1, max_count));
  const auto request = prompt_request(in);
  const auto base_seed = base_seed_of(in, count);
  auto check = request;
  check.seed = base_seed;
  if (auto error = protocol::validate(check)) {
    raise_invalid("--" + error->field + ": " + error->message);
  }
  auto images = value_or_raise(prompt_images(request, count, base_seed));
  *options = options_json(images, false, count);
  return images;
}

/// --strategy with the poll overrides; a bad one names the presets.
actors::strategy_spec strategy_of(const cli_inputs& in) {
  auto strategy = actors::parse_strategy(in.strategy);
  status checked = strategy.status();
  if (strategy.ok()) {
    if (!in.poll_interval_ms.empty()) {
      strategy->poll.interval = std::chrono::milliseconds(
          integer_option("--poll-interval-ms", in.poll_interval_ms, 10, 600'000));
      strategy->poll.cap = std::max(strategy->poll.cap, strategy->poll.interval);
      strategy->poll.fit = 0;  // The user's schedule, not one fitted more often than asked.
    }
    if (!in.deadline_s.empty()) {
      strategy->poll.deadline =
          std::chrono::seconds(integer_option("--deadline-s", in.deadline_s, 1, 86'400));
    }
    checked = actors::validate(*strategy);
  }
  if (!checked.ok()) {
    // An unknown name's message lists the presets already; a bad spec's has no use for them.
    raise_invalid("--strategy: " + checked.message());
  }
  return *std::move(strategy);
}

/// The strategy as typed, short enough for the start line (the full spec: --verbose, JSON).
std::string strategy_label(const cli_inputs& in) {
  constexpr std::size_t longest = 48;
  std::string label =
      in.strategy.size() <= longest ? in.strategy : in.strategy.substr(0, longest - 3) + "...";
  if (!in.poll_interval_ms.empty()) {
    label += " with --poll-interval-ms " + in.poll_interval_ms;
    // It also turns fitted polls off (strategy_of): say so where the strategy had them.
    const auto parsed = actors::parse_strategy(in.strategy);
    if (parsed.ok() && parsed->poll.fit > 0) {
      label += " (fitted polls off)";
    }
  }
  if (!in.deadline_s.empty()) {
    label += " with --deadline-s " + in.deadline_s;
  }
  return label;
}

}  // namespace

result<std::int64_t> parse_integer_option(const std::string& option, const std::string& text,
                                          std::int64_t low, std::int64_t high) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < low || value > high) {
    return invalid_argument_error(option + " must be an integer from " + std::to_string(low) +
                                  " to " + std::to_string(high) + " (got \"" + text + "\")");
  }
  return value;
}

result<double> parse_number_option(const std::string& option, const std::string& text, double low,
                                   double high) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !(value >= low && value <= high)) {
    std::ostringstream range;
    range << low << " to " << high;
    return invalid_argument_error(option + " must be a number from " + range.str() + " (got \"" +
                                  text + "\")");
  }
  return value;
}

std::string allowed_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

namespace {

session_config read_session_config(const cli_inputs& in) {
  if (in.out.empty()) {
    raise_invalid("--out is required: the directory for the images and manifest.json");
  }
  std::error_code ec;
  if (std::filesystem::exists(in.out, ec) && !std::filesystem::is_directory(in.out, ec)) {
    raise_invalid("--out " + in.out + " exists and is not a directory");
  }
  session_config config;
  config.out_dir = in.out;
  config.images = images_of(in, &config.options);
  config.strategy = strategy_of(in);
  config.strategy_label = strategy_label(in);
  config.max_submits =
      static_cast<int>(integer_option("--max-submits", in.max_submits, 0, 1'000'000));
  config.grace = std::chrono::seconds(integer_option("--grace-s", in.grace_s, 0, 3600));
  config.connections = static_cast<int>(integer_option("--connections", in.connections, 1, 256));
  config.retry_moderated = in.retry_moderated;
  config.resubmit_possibly_paid = in.resubmit_possibly_paid;
  config.fit_quota = in.fit_quota;
  config.dry_run = in.dry_run;
  config.seed = std::random_device{}();
  return config;
}

}  // namespace

result<session_config> session_config_from(const cli_inputs& in) {
  return capture([&] { return read_session_config(in); });
}

}  // namespace zbatch::generate
