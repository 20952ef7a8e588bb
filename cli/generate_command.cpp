// `zbatch generate`: a production batch against the real API, any base URL, or the bundled mock
// started in process (--mock). This file parses the options, checks the connection ones (the
// other input rules are generate/cli_inputs.hpp) and maps the outcome to an exit code; the work
// (journal, resume, images, manifest, progress) lives in generate/.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "actors/strategy.hpp"
#include "base/suggest.hpp"
#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "client/http_backend.hpp"
#include "generate/cli_inputs.hpp"
#include "generate/inputs.hpp"
#include "generate/interrupt.hpp"
#include "generate/journal.hpp"
#include "generate/progress.hpp"
#include "generate/session.hpp"
#include "generate/shared_gate.hpp"
#include "mock_api/config.hpp"
#include "mock_api/server.hpp"
#include "protocol/messages.hpp"
#include "protocol/size.hpp"
#include "shared_limit/redis_store.hpp"

namespace zbatch::cli {
namespace {

/// A stand-in key for the bundled mock (the user's real key never goes to it) and for loopback
/// servers when no key is set.
constexpr const char* mock_api_key = "zbatch-mock-key";

std::string seconds(std::int64_t ms) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(ms) / 1000.0 << " s";
  return out.str();
}

/// The options as typed: the session's (checked in generate/cli_inputs) and the connection's.
struct raw_options {
  generate::cli_inputs inputs;
  std::string base_url;
  std::string endpoint;  ///< --endpoint NAME (cn, intl); empty when not given.
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  std::vector<std::string> mock;
  bool mock_given = false;
  std::string api_key_file;
  std::string shared_limit;
  std::string shared_limit_password_file;
};

/// What the options say, checked: nothing has been sent or written yet.
struct generate_plan {
  generate::session_config session;
  bool use_mock = false;
  std::string mock_profile = "ideal";
  client::http_options http;
  bool json = false;
  generate::progress_options progress;
  std::optional<generate::shared_limit_options> shared_limit;
  /// A dry run without an API key for a remote host: planned (it sends nothing), said so.
  bool dry_run_without_key = false;
};

/// The endpoints --endpoint names: the default (mainland China) and the international one
/// (protocol doc, "What newer public material adds").
const std::vector<std::pair<std::string, std::string_view>>& named_endpoints() {
  static const std::vector<std::pair<std::string, std::string_view>> names{
      {"cn", protocol::default_base_url}, {"intl", protocol::international_base_url}};
  return names;
}

/// --endpoint NAME as a base URL; invalid_argument naming the allowed names.
result<std::string> endpoint_url(const std::string& name) {
  std::vector<std::string> allowed;
  for (const auto& [key, url] : named_endpoints()) {
    if (key == name) {
      return std::string(url);
    }
    allowed.push_back(key);
  }
  return invalid_argument_error("--endpoint: unknown endpoint \"" + name + "\"" +
                                base::did_you_mean(name, allowed) + " (allowed " +
                                generate::allowed_list(allowed) + ")");
}

/// --mock [PROFILE], or --base-url | --endpoint with the key from --api-key-file or the
/// environment. Fails (invalid_argument) naming the option.
status check_connection(const raw_options& raw, generate_plan& plan) {
  plan.use_mock = raw.mock_given;
  if (!raw.endpoint.empty() && (plan.use_mock || !raw.base_url.empty())) {
    return invalid_argument_error(
        std::string("--endpoint and ") + (plan.use_mock ? "--mock" : "--base-url") +
        " are mutually exclusive: --endpoint names the service's base URL");
  }
  if (plan.use_mock) {
    if (!raw.base_url.empty()) {
      return invalid_argument_error(
          "--mock and --base-url are mutually exclusive: --mock starts its own server");
    }
    // A bare --mock reaches us as no value or as one empty value, depending on CLI11's version.
    if (!raw.mock.empty() && !raw.mock.front().empty()) {
      plan.mock_profile = raw.mock.front();
    }
    const auto names = mock::profile_names();
    if (std::find(names.begin(), names.end(), plan.mock_profile) == names.end()) {
      return invalid_argument_error("--mock: unknown profile \"" + plan.mock_profile + "\"" +
                                    base::did_you_mean(plan.mock_profile, names) + " (allowed " +
                                    generate::allowed_list(names) + ")");
    }
    plan.http.api_key = mock_api_key;
    return ok_status();
  }
  plan.http.base_url =
      raw.base_url.empty() ? std::string(protocol::default_base_url) : raw.base_url;
  if (!raw.endpoint.empty()) {
    auto url = endpoint_url(raw.endpoint);
    if (!url.ok()) {
      return url.status();
    }
    plan.http.base_url = *url;
  }
  if (!raw.api_key_file.empty()) {
    auto key = client::read_api_key_file(raw.api_key_file);
    if (!key.ok()) {
      return key.status().prefixed("--api-key-file: ");
    }
    plan.http.api_key = *key;
  } else {
    plan.http.api_key = client::api_key_from_environment();
    if (!client::api_key_is_one_token(plan.http.api_key)) {
      return invalid_argument_error(
          "MODELSCOPE_API_KEY: the key contains whitespace or control characters (a key is one "
          "token)");
    }
  }
  if (plan.http.api_key.empty() && raw.inputs.dry_run) {
    // A dry run sends nothing, so it needs no key; the placeholder never leaves the process.
    plan.http.api_key = mock_api_key;
    plan.dry_run_without_key = true;
  }
  // Checked here, before anything is sent: a remote host needs HTTPS and a key.
  if (const auto checked = client::check_options(plan.http); !checked.ok()) {
    return invalid_argument_error("--base-url: " +
                                  protocol::redact(checked.message(), plan.http.api_key));
  }
  // A loopback server (`zbatch mock`, a local proxy) still wants a non-empty bearer token.
  if (plan.http.api_key.empty()) {
    plan.http.api_key = mock_api_key;
  }
  return ok_status();
}

result<generate_plan> make_plan(const raw_options& raw) {
  generate_plan plan;
  auto session = generate::session_config_from(raw.inputs);
  if (!session.ok()) {
    return session.status();
  }
  plan.session = *std::move(session);
  plan.json = raw.json;
  plan.progress.quiet = raw.quiet;
  plan.progress.verbose = raw.verbose;
  ZBATCH_RETURN_IF_ERROR(check_connection(raw, plan));
  if (!raw.shared_limit.empty()) {
    // Checked before anything is sent; the password is read again when connecting.
    if (auto url = shared_limit::parse_redis_url(raw.shared_limit); !url.ok()) {
      return url.status();
    }
    if (auto password = shared_limit::redis_password(raw.shared_limit_password_file);
        !password.ok()) {
      return password.status();
    }
    generate::shared_limit_options shared;
    shared.url = raw.shared_limit;
    shared.password_file = raw.shared_limit_password_file;
    plan.shared_limit = shared;
  } else if (!raw.shared_limit_password_file.empty()) {
    return invalid_argument_error("--shared-limit-password-file needs --shared-limit");
  }
  return plan;
}

/// What a real run would submit, as the plan decided (it said "6 would be submitted" under a
/// plan that stops before any submit, a new user's check).
std::string dry_run_submits_text(const std::optional<generate::quota_plan>& quota) {
  const long long needed = quota ? quota->needed : 0;
  if (!quota || needed == 0) {
    return "0 image(s) would be submitted";
  }
  switch (quota->decision) {
    case generate::quota_decision::stop:
      return "0 of " + std::to_string(needed) +
             " image(s) would be submitted (they do not fit in the calls left today)";
    case generate::quota_decision::fit:
      return std::to_string(quota->allowed.value_or(0)) + " of " + std::to_string(needed) +
             " image(s) would be submitted (what fits today, --fit-quota)";
    case generate::quota_decision::probe:
      return "up to " + std::to_string(needed) +
             " image(s) would be submitted (the first alone: its answer's figures decide the "
             "rest)";
    case generate::quota_decision::go:
      break;
  }
  return std::to_string(needed) + " image(s) would be submitted";
}

/// The images whose submit lost its answer, and what a rerun does with them: holds them, unless
/// --resubmit-possibly-paid or the strategy's ambiguous=resubmit submits them again (a new
/// user's check: the summary said "holds" under `retry`, and the rerun paid again).
std::string answer_lost_text(const generate::session_outcome& o, const generate_plan& plan) {
  if (o.answer_lost == 0) {
    return {};
  }
  const std::string head =
      std::to_string(o.answer_lost) +
      " image(s) pending because a submit lost its answer: the service may have created (and "
      "charged) a task zbatch cannot find, so a rerun ";
  if (plan.session.resubmit_possibly_paid || plan.session.strategy.retry.resubmit_ambiguous) {
    return head + "submits them again, as " +
           (plan.session.resubmit_possibly_paid ? "--resubmit-possibly-paid"
                                                : "the strategy's ambiguous=resubmit") +
           " says (each may then be paid twice)\n";
  }
  return head + "holds them unless given --resubmit-possibly-paid (each may then be paid twice)\n";
}

std::string summary_text(const generate::session_outcome& o, const generate_plan& plan) {
  std::ostringstream out;
  if (o.dry_run) {
    out << "dry run: nothing was sent or written; " << o.delivered << "/" << o.total
        << " delivered in earlier runs, " << dry_run_submits_text(o.quota) << " (endpoint "
        << plan.session.endpoint << ")\n";
    out << answer_lost_text(o, plan);
    if (plan.dry_run_without_key) {
      out << "no API key was given: the real run needs MODELSCOPE_API_KEY (or --api-key-file)\n";
    }
    return out.str();
  }
  out << "delivered " << o.delivered << "/" << o.total << ", failed " << o.failed << ", pending "
      << o.pending;
  if (o.delivered_before > 0) {
    out << " (" << o.delivered_before << " delivered in earlier runs)";
  }
  out << "; this run made " << o.submit_requests
      << " submit attempt(s); paid submits over all runs " << o.submits_paid;
  if (o.submits_possibly_paid > 0) {
    out << " (+" << o.submits_possibly_paid << " possibly paid: submits whose answer was lost)";
  }
  if (o.submits_refunded > 0) {
    // A new user's check: 10 tasks FAILED by the service read as 10 paid, though refunded.
    out << " (" << o.submits_refunded
        << " of them ended FAILED for a system reason, which the service refunds: about "
        << o.submits_paid - o.submits_refunded << " charged)";
  }
  if (o.delivered > 0) {
    const auto per_image = [&o](int submits) {
      return static_cast<double>(submits) / static_cast<double>(o.delivered);
    };
    out << " = " << std::fixed << std::setprecision(2) << per_image(o.submits_paid);
    if (o.submits_possibly_paid > 0) {
      // What the service charged lies between the two (a new user's check: "1.00" while the
      // service had created 11 tasks for 6 images).
      out << " to " << per_image(o.submits_paid + o.submits_possibly_paid);
    }
    out << " per delivered image";
    if (o.pending_tasks > 0) {
      out << " so far (" << o.pending_tasks << " paid task(s) not delivered yet: "
          << (plan.use_mock ? "the bundled mock forgets them, a rerun submits them again)"
                            : "a rerun polls them, paying nothing)");
    }
  }
  auto latencies = o.latencies_ms;
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    out << "; latency min/median/max " << seconds(latencies.front()) << " / "
        << seconds(latencies[latencies.size() / 2]) << " / " << seconds(latencies.back());
  }
  out << "\n" << answer_lost_text(o, plan);
  switch (o.reason) {
    case generate::stop_reason::quota:
      if (o.quota && o.quota->decision == generate::quota_decision::stop) {
        // A probe the quota refused made no task: "after the probe" read as if one went
        // through (a new user's check).
        out << "does not fit in the calls left today: nothing was submitted"
            << (o.submit_requests > 0 && o.accepted_this_run == 0
                    ? " (the service refused the probe)"
                : o.submit_requests > 1 ? " after the probes"
                : o.submit_requests > 0 ? " after the probe"
                                        : "")
            << "; ";
      } else if (o.stopped_by_retry_after) {
        // A new user's check: a rate-limit text with Retry-After 900 read "quota exhausted".
        out << "the service asked to wait (Retry-After longer than a batch waits): ";
      } else {
        out << "quota exhausted: ";
      }
      out << o.remaining << " image(s) remain; "
          << (o.stopped_by_retry_after ? "it said to come back at " : "the quota resets at ")
          << o.quota_reset.value_or("?") << " (" << o.quota_reset_utc8.value_or("?") << ", "
          << (o.quota_reset_from_service ? "as the service said"
              : o.quota_reset_from_peer
                  ? "as the service told another process on the key (--shared-limit)"
                  : "assumed: midnight UTC+8, the service gave no time")
          << ")";
      if (o.quota && o.quota->figures.remaining() && *o.quota->figures.remaining() <= 0) {
        out << "; no call is left today: rerun the same command after the reset";
      } else if (o.quota && o.quota->over_daily_limit && !plan.session.fit_quota) {
        // The same command stops again after the reset: the batch never fits in one day.
        out << "; the batch is larger than the daily limit, so rerun with --fit-quota to make "
               "what fits now, then the same again after each reset";
      } else {
        out << "; rerun the same command after that to finish";
        // Only the plan's own stop leaves calls that --fit-quota could use; a quota 429 (or a
        // long Retry-After) refused the next call already (a new user's check).
        if (!plan.session.fit_quota && o.quota &&
            o.quota->decision == generate::quota_decision::stop &&
            o.quota->figures.remaining().value_or(0) > 0) {
          out << ", or with --fit-quota to make what fits now";
        }
      }
      out << "\n";
      break;
    case generate::stop_reason::unfinished: {
      // A new user's check: "failed 0, pending 3" and stopped "failures", with no word why.
      std::string classes;
      for (const auto& [name, count] : o.pending_by_class) {
        classes += (classes.empty() ? "" : ", ") + std::to_string(count) + " " + name;
      }
      out << "unfinished: " << o.pending << " image(s) pending after their last attempt";
      if (!classes.empty()) {
        out << " (" << classes << ")";
      }
      out << ": nothing failed for good; rerun the same command to try them again"
          << (o.pending_tasks > 0 ? " (paid tasks are polled, not paid again)" : "") << "\n";
      break;
    }
    case generate::stop_reason::submit_cap:
      out << "submit cap reached (--max-submits " << plan.session.max_submits
          << "): " << o.remaining << " image(s) remain; rerun the same command to continue\n";
      break;
    case generate::stop_reason::halted:
      // "The same command" cannot carry a fixed input (a model, a size): DIR refuses other
      // options, so say where such a fix goes (a new user's check).
      out << "stopped: nothing more was sent after " << o.halted_by << "; " << o.remaining
          << " image(s) remain; fix the cause and rerun the same command (a fix that changes an "
             "input, such as --model or --size, needs another --out directory: "
          << plan.session.out_dir.string() << " holds this batch";
      if (o.submits_paid == 0 && o.submits_possibly_paid == 0) {
        // A redirected submit is not known to be unpaid, only to have left no task id (a new
        // user's check: the server had made the task it redirected away from).
        out << (o.halted_by_redirect
                    ? " and no task id, so it can be deleted; whether the server made a task "
                      "before redirecting the submit, zbatch cannot know)\n"
                    : ", and nothing in it was paid, so it can be deleted)\n");
      } else {
        out << ")\n";
      }
      break;
    case generate::stop_reason::interrupted:
      out << "interrupted: " << o.remaining << " image(s) remain; ";
      if (o.pending_tasks == 0) {
        // A new user's check: "tasks in flight are journaled" when none was (the one submit on
        // the way is held as possibly paid: answer_lost_text says so above).
        out << "rerun the same command to go on\n";
        break;
      }
      out << o.pending_tasks << " paid task(s) are journaled";
      out << (plan.use_mock ? ", but the bundled mock keeps no task past its run: a rerun with "
                              "--mock submits them again (the real service's are polled, not "
                              "paid again)\n"
                            : " and will be polled again, not paid again, when you rerun the "
                              "same command\n");
      break;
    default:
      break;
  }
  out << "manifest: " << o.manifest.string() << "\n";
  return out.str();
}

int exit_code(generate::stop_reason reason) {
  switch (reason) {
    case generate::stop_reason::complete:
      return exit_ok;
    case generate::stop_reason::failures:
      return exit_partial;
    case generate::stop_reason::submit_cap:
      return exit_submit_cap;
    case generate::stop_reason::quota:
      return exit_quota;
    case generate::stop_reason::interrupted:
      return exit_interrupted;
    case generate::stop_reason::halted:
    case generate::stop_reason::held:
    case generate::stop_reason::unfinished:
      return exit_partial;
  }
  return exit_partial;
}

int run_plan(generate_plan& plan) {
  std::unique_ptr<mock::server> mock_server;
  if (plan.use_mock && plan.session.dry_run) {
    // Not started: a dry run sends nothing. Port 1 only makes a valid URL (0 is refused).
    plan.http.base_url = "http://127.0.0.1:1";
  } else if (plan.use_mock) {
    plan.session.tasks_outlive_run = false;
    const auto options =
        mock::options_for_clients(static_cast<std::size_t>(plan.session.connections));
    const auto config = mock::load_config(plan.mock_profile, std::nullopt);
    if (!config.ok()) {
      std::cerr << "zbatch generate: --mock: " << config.status().message() << "\n";
      return exit_usage;
    }
    mock_server = std::make_unique<mock::server>(*config, 1, options);
    plan.http.base_url = mock_server->base_url();
  }
  if (const auto made = client::http_backend::create(plan.http); !made.ok()) {
    std::cerr << "zbatch generate: --base-url: " << made.status().message() << "\n";
    return exit_usage;
  }
  // No endpoint for a dry run of the bundled mock: nothing was started (a new user's check: the
  // JSON plan named "http://127.0.0.1:1"); `endpoint` says so in words.
  plan.session.base_url = plan.use_mock && plan.session.dry_run ? "" : plan.http.base_url;
  plan.session.endpoint =
      plan.use_mock && plan.session.dry_run
          ? "bundled mock, profile " + plan.mock_profile + " (not started: --dry-run)"
          : plan.http.base_url + (plan.use_mock
                                      ? " (bundled mock, profile " + plan.mock_profile + ")"
                                      : std::string());

  const auto style = plan.json               ? generate::progress_style::json
                     : isatty(STDOUT_FILENO) ? generate::progress_style::bar
                                             : generate::progress_style::lines;
  generate::progress_renderer progress(std::cout, style);
  // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
  const char* no_color = std::getenv("NO_COLOR");
  plan.progress.colour =
      style == generate::progress_style::bar && (no_color == nullptr || *no_color == '\0');
  progress.configure(plan.progress);
  if (plan.shared_limit && plan.session.dry_run) {
    // A dry run writes nothing, Redis included (a new user's check: it registered the process
    // and the key's limit); its plan reads this directory's journal only.
    progress.notice("shared_limit", "--shared-limit: not contacted by a dry run");
  } else if (plan.shared_limit) {
    auto gate = generate::connect_shared_limit(
        *plan.shared_limit, plan.session.strategy, plan.http.api_key,
        [&progress](const std::string& text) { progress.notice("shared_limit", text); });
    if (!gate.ok()) {
      std::cerr << "zbatch generate: " << gate.status().message() << "\n";
      return exit_usage;
    }
    plan.session.permits = *std::move(gate);
  }
  auto created = generate::session::create(plan.session, progress);
  if (!created.ok()) {
    std::cerr << "zbatch generate: --out: " << created.status().message() << "\n";
    return exit_usage;
  }
  std::unique_ptr<generate::session> session = *std::move(created);
  const auto grace = plan.session.grace;
  const auto journal = (plan.session.out_dir / "journal.jsonl").string();
  generate::sigint_watcher watcher(
      [&session, &progress, grace] {
        progress.notice("interrupt", "interrupted: no new submits; tasks in flight get " +
                                         std::to_string(grace.count() / 1000) +
                                         " s to finish (press Ctrl-C again to quit at once)");
        session->interrupt();
      },
      "\nzbatch generate: second Ctrl-C: exiting now (exit 130). Kept: every delivered image, "
      "and " +
          journal +
          " with every accepted task; manifest.json is not rewritten. Rerun the same command "
          "to poll those tasks again instead of paying for them twice.\n");
  const auto http = plan.http;
  auto factory = [http]() -> std::unique_ptr<client::backend> {
    auto backend = client::http_backend::create(http);
    if (!backend.ok()) {
      // The factory's contract (actors::backend_factory) is a backend or an exception.
      throw std::runtime_error(backend.status().message());
    }
    return *std::move(backend);
  };
  generate::session_outcome outcome;
  try {
    auto ran = session->run(factory);
    if (!ran.ok()) {
      std::cerr << "zbatch generate: "
                << protocol::redact(ran.status().message(), plan.http.api_key) << "\n";
      return exit_partial;
    }
    outcome = *std::move(ran);
  } catch (const std::exception& e) {
    // The backend factory and the actor system below the session still throw.
    std::cerr << "zbatch generate: " << protocol::redact(e.what(), plan.http.api_key) << "\n";
    return exit_partial;
  }
  nlohmann::json fields{
      {"total", outcome.total},
      {"delivered", outcome.delivered},
      {"delivered_before", outcome.delivered_before},
      {"failed", outcome.failed},
      {"pending", outcome.pending},
      {"remaining", outcome.remaining},
      {"submit_requests", outcome.submit_requests},
      {"submits_paid", outcome.submits_paid},
      {"submits_possibly_paid", outcome.submits_possibly_paid},
      {"submits_refunded", outcome.submits_refunded},
      {"answer_lost", outcome.answer_lost},
      {"halted_by",
       outcome.halted_by.empty() ? nlohmann::json() : nlohmann::json(outcome.halted_by)},
      {"quota_resets_at",
       outcome.quota_reset ? nlohmann::json(*outcome.quota_reset) : nlohmann::json()},
      {"quota_resets_at_utc8",
       outcome.quota_reset_utc8 ? nlohmann::json(*outcome.quota_reset_utc8) : nlohmann::json()},
      {"dry_run", outcome.dry_run},
      {"exit_code", outcome.dry_run ? exit_ok : exit_code(outcome.reason)},
      // A dry run writes no manifest: naming one sent scripts to a file that is not there.
      {"manifest", outcome.dry_run ? nlohmann::json() : nlohmann::json(outcome.manifest.string())}};
  progress.summary(fields, summary_text(outcome, plan));
  return outcome.dry_run ? exit_ok : exit_code(outcome.reason);
}

}  // namespace

int run_generate(int argc, char** argv) {
  CLI::App app{
      "Generate images in a resumable, cost-aware batch: one prompt with --count variants (seeds "
      "S, S+1, ...) or a JSON-lines --batch file",
      "zbatch generate"};
  app.footer(help_footer(
      "generate",
      {"zbatch generate --mock --prompt \"a red fox in snow\" --count 4 --out out/fox",
       "zbatch generate --batch prompts.jsonl --strategy bounded,inflight=2 --max-submits 50 "
       "--out out/batch",
       "zbatch generate --prompt \"a red fox\" --count 600 --dry-run --out out/fox   (the plan: "
       "what fits today)",
       "zbatch generate --prompt \"a red fox\" --count 600 --fit-quota --out out/fox   (what "
       "fits now, the rest after the reset)",
       "zbatch generate --config fox.toml   (fox.toml: prompt = \"a red fox\", count = 4, out = "
       "\"out/fox\")"}));
  app.set_config("--config", "", "read options from this TOML/INI file (key = value per option)")
      ->type_name("FILE");
  // A mistyped key must not be dropped silently: `cuont = 600` would make one paid image.
  app.allow_config_extras(CLI::config_extras_mode::error);
  raw_options raw;
  auto& in = raw.inputs;
  app.add_option("--prompt", in.prompt, "the prompt (fewer than 2000 characters)")
      ->type_name("TEXT");
  app.add_option("--count", in.count, "number of variants of --prompt, 1..1000 (default 1)")
      ->type_name("N");
  app.add_option("--batch", in.batch,
                 "JSON-lines file, one object per line: prompt, negative_prompt, size | aspect "
                 "[base_size], seed, count, steps, guidance, model, loras, image_url (the last "
                 "two for the models that take them; README: zbatch generate)")
      ->type_name("FILE");
  app.add_option("--negative-prompt", in.negative_prompt, "what to keep out of the image")
      ->type_name("TEXT");
  app.add_option("--steps", in.steps, "inference steps, 1..100")->type_name("N");
  app.add_option("--guidance", in.guidance, "guidance scale, 1.5..20")->type_name("NUMBER");
  app.add_option("--size", in.size,
                 "WIDTHxHEIGHT, each side 512..2048 (the default model's range; another "
                 "model's is named if a size is outside it; default 1024x1024)")
      ->type_name("WxH");
  app.add_option(
         "--aspect", in.aspect,
         "aspect ratio instead of --size: " + generate::allowed_list(protocol::aspect_ratios()))
      ->type_name("RATIO");
  app.add_option("--base-size", in.base_size, "long side for --aspect, 512..2048 (default 1024)")
      ->type_name("PIXELS");
  app.add_option("--seed", in.seed,
                 "seed of the first variant, 0..2147483647 (default random, kept on rerun)")
      ->type_name("N");
  app.add_option("--model", in.model, "model id (default Tongyi-MAI/Z-Image-Turbo)")
      ->type_name("ID");
  app.add_option("--base-url", raw.base_url,
                 "API base URL (default https://api-inference.modelscope.cn)")
      ->type_name("URL");
  app.add_option("--endpoint", raw.endpoint,
                 "the service's endpoint by name instead of --base-url: cn (default, "
                 "https://api-inference.modelscope.cn) or intl (international, "
                 "https://api-inference.modelscope.ai)")
      ->type_name("NAME");
  app.add_flag("--fit-quota", in.fit_quota,
               "make what fits in the calls left today (each model's and the account's) and "
               "leave the rest pending until the reset (default: a batch that does not fit stops "
               "before its first submit, or after the probe when nothing is known for today: one "
               "per model, exit 4)");
  app.add_flag("--dry-run", in.dry_run,
               "print the plan (images, what fits today, paid submits, the reset) from the "
               "journal's figures and send nothing (exit 0)");
  app.add_option("--strategy", in.strategy,
                 "preset (" + generate::allowed_list(actors::preset_names()) +
                     ") or compact spec, e.g. bounded,inflight=3 (default adaptive; zbatch "
                     "strategy show NAME explains one)")
      ->type_name("NAME|SPEC");
  app.add_option("--max-submits", in.max_submits,
                 "most submit requests this run may send, 0..1000000 (default 0 = no cap)")
      ->type_name("N");
  app.add_option("--grace-s", in.grace_s,
                 "after Ctrl-C, seconds in-flight tasks get to finish, 0..3600 (default 30)")
      ->type_name("SECONDS");
  app.add_option("--poll-interval-ms", in.poll_interval_ms,
                 "first wait between task polls, 10..600000 (default: the strategy's); "
                 "turns adaptive's fitted polls off")
      ->type_name("MS");
  app.add_option("--deadline-s", in.deadline_s,
                 "per-task poll deadline, 1..86400 (default: the strategy's, 300)")
      ->type_name("SECONDS");
  app.add_option("--connections", in.connections, "HTTP connections, 1..256 (default 16)")
      ->type_name("N");
  auto* json_flag =
      app.add_flag("--json", raw.json, "machine-readable progress: one JSON object per line");
  auto* quiet_flag = app.add_flag("--quiet,-q", raw.quiet,
                                  "print only failed images, the answer to Ctrl-C and the final "
                                  "summary (errors still go to stderr)");
  app.add_flag("--verbose,-v", raw.verbose,
               "also print the full strategy spec, and one line per image above the bar")
      ->excludes(quiet_flag);
  quiet_flag->excludes(json_flag);
  app.add_flag("--retry-moderated", in.retry_moderated,
               "on a rerun, submit again images the service refused for moderation (each "
               "submit is paid; by default they stay failed)");
  app.add_flag("--resubmit-possibly-paid", in.resubmit_possibly_paid,
               "on a rerun, submit again images whose last submit lost its answer (a time-out, "
               "a dropped connection, a gateway's 5xx): the service may have created and charged "
               "that task, so each may be paid twice; by default they are held pending");
  app.add_option("--mock", raw.mock,
                 "start the bundled mock in process and use it; optional profile: " +
                     generate::allowed_list(mock::profile_names()) + " (default ideal)")
      ->expected(0, 1)
      ->type_name("[PROFILE]");
  app.add_option("--api-key-file", raw.api_key_file,
                 "read the API key from this file instead of MODELSCOPE_API_KEY")
      ->type_name("FILE");
  app.add_option("--shared-limit", raw.shared_limit,
                 "share this API key's in-flight limit and quota stop with other processes "
                 "through Redis: redis://HOST:PORT[/DB] (password: ZBATCH_REDIS_PASSWORD or "
                 "--shared-limit-password-file)")
      ->type_name("URL")
      // An empty value (an unset "$REDIS_URL") must not quietly run unshared.
      ->check([](const std::string& url) {
        return url.empty() ? std::string("needs a URL, redis://HOST:PORT[/DB] (got \"\")")
                           : std::string();
      });
  app.add_option("--shared-limit-password-file", raw.shared_limit_password_file,
                 "read the Redis password from the first line of this file")
      ->type_name("FILE");
  app.add_option("--out", in.out,
                 "output directory: images, manifest.json, journal.jsonl (rerun to resume)")
      ->required()
      ->type_name("DIR");
  // What was typed, to tell it from the --config file's values in errors.
  const std::vector<std::string> typed_args(argv + 1, argv + argc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failed(e, app, "zbatch generate", typed_args);
  }
  if (const auto quote = config_file_error(app); !quote.empty()) {
    std::cerr << "zbatch generate: " << quote << "\n";
    return exit_usage;
  }
  raw.mock_given = app.count("--mock") > 0;
  in.negative_given = app.count("--negative-prompt") > 0;

  auto made = make_plan(raw);
  if (!made.ok()) {
    std::cerr << "zbatch generate: " << blame_config(made.status().message(), app, typed_args)
              << "\n";
    return exit_usage;
  }
  generate_plan plan = *std::move(made);
  // A peer that closes mid-write (TLS writes can raise it) must be an error value, not a kill.
  signal(SIGPIPE, SIG_IGN);
  try {
    return run_plan(plan);
  } catch (const std::exception& e) {
    std::cerr << "zbatch generate: " << protocol::redact(e.what(), plan.http.api_key) << "\n";
    return exit_partial;
  }
}

}  // namespace zbatch::cli
