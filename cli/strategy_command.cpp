// `zbatch strategy list|show`: what a preset (or a compact spec) does, in words and as its spec
// (compact and JSON, from actors/strategy.hpp), so a user can pick one for `--strategy` or a
// scenario file without reading the source.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/strategy.hpp"
#include "cli/commands.hpp"
#include "cli/help.hpp"

namespace zbatch::cli {
namespace {

std::string duration_words(actors::millis ms) {
  const auto n = ms.count();
  if (n != 0 && n % 60000 == 0) {
    return std::to_string(n / 60000) + " min";
  }
  if (n != 0 && n % 1000 == 0) {
    return std::to_string(n / 1000) + " s";
  }
  return std::to_string(n) + " ms";
}

std::string number_words(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

const char* backoff_words(actors::backoff_kind kind) {
  switch (kind) {
    case actors::backoff_kind::constant:
      return "a constant wait";
    case actors::backoff_kind::linear:
      return "a linearly growing wait";
    case actors::backoff_kind::exponential:
      return "an exponentially growing wait";
  }
  return "a wait";
}

const char* jitter_words(actors::jitter_kind kind) {
  switch (kind) {
    case actors::jitter_kind::none:
      return "no jitter";
    case actors::jitter_kind::full:
      return "full jitter";
    case actors::jitter_kind::equal:
      return "equal jitter";
    case actors::jitter_kind::decorrelated:
      return "decorrelated jitter";
  }
  return "jitter";
}

/// The spec in sentences, one per knob group.
std::vector<std::string> strategy_in_words(const actors::strategy_spec& s) {
  std::vector<std::string> out;
  const auto& in = s.inflight;
  if (in.adaptive) {
    std::string line = "Finds the number of tasks in flight by itself (AIMD): starts at " +
                       std::to_string(in.initial) + " and stays between " + std::to_string(in.min) +
                       " and " + std::to_string(in.max) +
                       ". It grows by one per acceptance at the limit until the first drop, "
                       "then by one per round of acceptances";
    const std::string latency =
        in.latency_factor > 0 ? "A task that takes more than " + number_words(in.latency_factor) +
                                    "x the median of the last 64 seen shrinks it x" +
                                    number_words(in.beta) + ", at most once per round trip. "
                              : std::string();
    if (in.strikes > 0) {
      line +=
          ", while dynamic 429s stay within 0.95 per accepted submit (the batch's next window "
          "of images counted ahead). " +
          std::to_string(in.strikes) +
          " capacity 429(s) in a row at a level drop it to the level below; a refused "
          "submit retries after its short 429 backoff, and a 429 within " +
          duration_words(in.rate_window) +
          " of an acceptance at that level is the submit rate, not capacity. When the "
          "service takes a level it refused twice over, it grows by one per acceptance "
          "again. " +
          latency +
          "Workers sharing the key (--shared-limit) keep one such limit for the key together";
    } else {
      line += ". A 429 shrinks it x" + number_words(in.beta) + ", at most once per round trip. " +
              latency +
              "Workers sharing the key (--shared-limit) keep one such limit for the key together";
    }
    out.push_back(line + ".");
  } else if (in.limit == 0) {
    out.push_back(s.pacing.type == actors::pacing_spec::kind::none
                      ? "No limit on tasks in flight: every image is submitted at once."
                      : "No limit on tasks in flight: the pacing below sets when each submits.");
  } else {
    out.push_back("At most " + std::to_string(in.limit) + " task(s) in flight.");
  }
  switch (s.pacing.type) {
    case actors::pacing_spec::kind::none:
      out.push_back("No pacing: a free slot submits at once.");
      break;
    case actors::pacing_spec::kind::gap:
      out.push_back("Rests " + duration_words(s.pacing.gap) +
                    " after each image before its slot submits the next.");
      break;
    case actors::pacing_spec::kind::spacing:
      out.push_back("Leaves at least " + duration_words(s.pacing.gap) + " between two submits.");
      break;
    case actors::pacing_spec::kind::token:
      out.push_back("Token bucket: " + number_words(s.pacing.rate) +
                    " submit(s) a second, bursts of " + number_words(s.pacing.burst) + ".");
      break;
  }
  const auto& r = s.retry;
  if (r.max_retries == 0) {
    out.push_back("No retries: an image whose request fails (5xx, network, failed task) fails.");
  } else {
    out.push_back("Retries a failed image up to " + std::to_string(r.max_retries) +
                  " time(s), with " + backoff_words(r.backoff) + " from " + duration_words(r.base) +
                  " up to " + duration_words(r.cap) + ", " + jitter_words(r.jitter) + ".");
  }
  out.push_back(r.max_429_retries > 0
                    ? "Rides out up to " + std::to_string(r.max_429_retries) +
                          " rate-limit 429s per image without spending those retries."
                    : std::string("A rate-limit 429 counts as an ordinary failure."));
  out.push_back(r.honour_retry_after ? "Waits at least as long as the service's Retry-After."
                                     : "Ignores the service's Retry-After.");
  out.push_back(r.resubmit_ambiguous
                    ? "Resubmits after a submit whose answer was lost (the task may exist: this "
                      "can pay twice for one image)."
                    : "Never resubmits after a submit whose answer was lost (the task may exist "
                      "and be paid): zbatch generate leaves the image pending, counted as "
                      "possibly paid; a scenario counts it as not delivered.");
  if (s.budget.enabled) {
    out.push_back("Retry budget: " + number_words(s.budget.max_tokens) +
                  " tokens, a failure costs one, a success earns " +
                  number_words(s.budget.token_ratio) +
                  "; while half are spent a retry waits (one at a time) instead of starting, "
                  "and is not given up.");
  }
  std::string poll = "Polls a task after " + duration_words(s.poll.interval);
  if (s.poll.factor != 1.0) {
    poll +=
        ", then x" + number_words(s.poll.factor) + " each time up to " + duration_words(s.poll.cap);
  } else {
    poll += " and then at that interval";
  }
  out.push_back(poll + "; gives it up " + duration_words(s.poll.deadline) +
                " after it was accepted.");
  if (s.poll.fit > 0) {
    const std::string steps =
        s.poll.fit == 1 ? "at their p90" : std::to_string(s.poll.fit) + " times up to their p90";
    out.push_back("Once 5 tasks finished, polls a task first at the p10 of their latencies, then " +
                  steps + " (at least " + duration_words(s.poll.fit_min_gap) + " apart), then " +
                  (s.poll.factor != 1.0 ? "growing from that gap" : "at that gap") + ".");
  }
  if (s.poll.hung.enabled) {
    out.push_back("Gives up a task earlier when it hangs: after max(" +
                  duration_words(s.poll.hung.floor) + ", " + number_words(s.poll.hung.factor) +
                  "x the p" + number_words(s.poll.hung.quantile * 100) +
                  " latency seen), then resubmits it at most " +
                  std::to_string(s.poll.hung.resubmits) + " time(s) (a paid submit).");
  }
  if (s.circuit.enabled) {
    out.push_back("Circuit breaker: " + std::to_string(s.circuit.threshold) +
                  " server or network failures in a row pause submits for " +
                  duration_words(s.circuit.open_for) + ".");
  }
  out.push_back(s.stop_on_quota
                    ? "Stops submitting when the daily quota is gone (a quota 429); what is in "
                      "flight finishes."
                    : "Keeps submitting after a quota 429 (each further submit is refused).");
  return out;
}

}  // namespace

int run_strategy(int argc, char** argv) {
  CLI::App app{"List the strategy presets, or show what one (or a compact spec) does",
               "zbatch strategy"};
  app.require_subcommand(1);
  const std::vector<std::string> examples{
      "zbatch strategy list", "zbatch strategy show adaptive",
      "zbatch strategy show bounded,inflight=3,retry=2:exp:base=1s --json"};
  app.footer(help_footer("strategy", examples));
  auto* list = app.add_subcommand("list", "the presets, each with its compact spec");
  list->footer(help_footer("strategy", {"zbatch strategy list"}));
  auto* show = app.add_subcommand(
      "show", "a preset or a compact spec: in words, as its compact spec and as JSON");
  show->footer(help_footer("strategy", {examples[1], examples[2]}));
  std::string text;
  bool json_only = false;
  show->add_option("strategy", text, "a preset name or a compact spec (as --strategy takes)")
      ->required()
      ->type_name("NAME|SPEC");
  show->add_flag("--json", json_only, "print only the JSON spec");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failed(e, app, "zbatch strategy");
  }
  if (list->parsed()) {
    for (const auto& name : actors::preset_names()) {
      const auto spec = actors::preset(name);
      // In flight, pacing and retries: the three that tell the presets apart.
      const auto words = strategy_in_words(*spec);
      std::cout << name;
      for (std::size_t i = 0; i < 3 && i < words.size(); ++i) {
        std::cout << "\n    " << words[i];
      }
      // The one knob that can pay twice for an image is worth a line wherever it is on.
      for (const auto& line : words) {
        if (spec->retry.resubmit_ambiguous && line.rfind("Resubmits after", 0) == 0) {
          std::cout << "\n    " << line;
        }
      }
      std::cout << "\n    " << actors::to_compact(*spec) << "\n";
    }
    std::cout << "\n'zbatch strategy show NAME' explains one in full.\n";
    return exit_ok;
  }
  const auto spec = actors::parse_strategy(text);
  if (!spec.ok()) {
    std::cerr << "zbatch strategy show: " << spec.status().message() << "\n";
    return exit_usage;
  }
  if (json_only) {
    std::cout << actors::to_json(*spec).dump(2) << "\n";
    return exit_ok;
  }
  std::cout << text << (spec->name == "custom" ? " (a custom spec)" : " (a preset)")
            << "\n\nIn words:\n";
  for (const auto& line : strategy_in_words(*spec)) {
    std::cout << "  - " << line << "\n";
  }
  std::cout << "\nCompact spec (for --strategy; every knob spelled out):\n  "
            << actors::to_compact(*spec) << "\n\nJSON (for a scenario file's \"strategies\"):\n"
            << actors::to_json(*spec).dump(2) << "\n";
  return exit_ok;
}

}  // namespace zbatch::cli
