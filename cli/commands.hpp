#pragma once
/// The `zbatch` subcommands. Each takes the arguments after its own name and returns the process
/// exit code; each parses its own options (CLI11) and prints its own errors.

namespace zbatch::cli {

int run_generate(int argc, char** argv);
int run_mock(int argc, char** argv);
int run_report(int argc, char** argv);
int run_scenario(int argc, char** argv);
int run_strategy(int argc, char** argv);

/// Exit codes shared by every subcommand.
inline constexpr int exit_ok = 0;
inline constexpr int exit_partial = 1;  ///< Some work failed (images, thresholds, regressions).
inline constexpr int exit_usage = 2;    ///< Bad usage or input; nothing was sent.
/// Exit codes of `zbatch generate` beyond the shared ones (all listed by cli/help.cpp).
inline constexpr int exit_submit_cap = 3;  ///< --max-submits stopped the batch; images remain.
inline constexpr int exit_quota = 4;       ///< The daily quota stopped the batch; images remain.
/// `zbatch scenario run`: the run failed inside, or a result file could not be written.
inline constexpr int exit_run_failed = 3;
inline constexpr int exit_interrupted = 130;  ///< SIGINT (or SIGTERM): stopped, manifest written.

}  // namespace zbatch::cli
