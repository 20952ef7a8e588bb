// `zbatch report render|compare`: thin glue over the reports library.
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/help.hpp"
#include "reports/compare.hpp"
#include "reports/render.hpp"
#include "reports/results.hpp"

namespace zbatch::cli {
namespace {

int render(const std::string& results_file, const std::string& out_dir) {
  const auto results = reports::load_results(results_file);
  if (!results.ok()) {
    std::cerr << "zbatch report render: " << results.status().message() << "\n";
    return exit_usage;
  }
  // Bad input, or the output directory or a file not writable.
  const auto written = reports::render_all(*results, out_dir);
  if (!written.ok()) {
    std::cerr << "zbatch report render: " << written.status().message() << "\n";
    return exit_usage;
  }
  for (const auto& path : *written) {
    std::cout << "wrote " << path.string() << "\n";
  }
  return exit_ok;
}

int compare(const std::string& base_file, const std::string& head_file,
            const reports::compare_options& options, const std::string& markdown_file) {
  const auto fail = [](const status& error) {
    std::cerr << "zbatch report compare: " << error.message() << "\n";
    return exit_usage;
  };
  const auto base = reports::load_results(base_file);
  if (!base.ok()) {
    return fail(base.status());
  }
  const auto head = reports::load_results(head_file);
  if (!head.ok()) {
    return fail(head.status());
  }
  const auto result = reports::compare_results(*base, *head, options, base_file, head_file);
  if (!result.ok()) {
    return fail(result.status());
  }
  const std::string markdown = reports::comparison_markdown(*result);
  const int regressions = result->regressions();
  std::cout << markdown;
  if (!markdown_file.empty()) {
    std::ofstream out(markdown_file, std::ios::binary | std::ios::trunc);
    out << markdown;
    out.close();
    if (!out) {
      std::cerr << "zbatch report compare: " << markdown_file << ": cannot be written\n";
      return exit_usage;
    }
  }
  return regressions > 0 ? exit_partial : exit_ok;
}

}  // namespace

int run_report(int argc, char** argv) {
  CLI::App app{"Render or compare scenario results (results.json)", "zbatch report"};
  app.require_subcommand(1);
  const std::string render_example = "zbatch report render out/preview-4/results.json --out out/r";
  const std::string compare_example =
      "zbatch report compare base/results.json head/results.json --max-regression 5";
  app.footer(help_footer("report", {render_example, compare_example}));

  std::string results_file, out_dir;
  auto* render_cmd = app.add_subcommand(
      "render", "write report.md, report.html, results.csv and junit.xml from RESULTS.json");
  render_cmd->footer(help_footer("report render", {render_example}));
  render_cmd->add_option("results", results_file, "results.json of a scenario run")
      ->required()
      ->type_name("FILE");
  render_cmd->add_option("--out", out_dir, "directory for the report files (created if needed)")
      ->required()
      ->type_name("DIR");

  std::string base_file, head_file, markdown_file;
  reports::compare_options options;
  auto* compare_cmd = app.add_subcommand(
      "compare",
      "compare HEAD.json with BASE.json; exit 1 on a regression, 0 otherwise, 2 on bad input");
  compare_cmd->footer(help_footer("report compare", {compare_example}));
  compare_cmd->add_option("base", base_file, "results.json of the baseline")
      ->required()
      ->type_name("FILE");
  compare_cmd->add_option("head", head_file, "results.json of the change")
      ->required()
      ->type_name("FILE");
  compare_cmd
      ->add_option("--max-regression", options.max_regression_pct,
                   "deterministic and single-run margin: a metric worse by more than PCT % "
                   "regresses")
      ->capture_default_str()
      ->check(finite_range(0.0, 1000.0))
      ->type_name("PCT");
  compare_cmd
      ->add_option("--min-effect", options.min_effect_pct,
                   "with repetitions: the smallest median change (PCT %) that can regress")
      ->capture_default_str()
      ->check(finite_range(0.0, 1000.0))
      ->type_name("PCT");
  compare_cmd
      ->add_option("--alpha", options.alpha, "with repetitions: Mann-Whitney significance level")
      ->capture_default_str()
      ->check(finite_range(0.0001, 0.5))
      ->type_name("NUMBER");
  compare_cmd->add_option("--markdown", markdown_file, "also write the Markdown summary to FILE")
      ->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failed(e, app, "zbatch report");
  }
  if (render_cmd->parsed()) {
    return render(results_file, out_dir);
  }
  return compare(base_file, head_file, options, markdown_file);
}

}  // namespace zbatch::cli
