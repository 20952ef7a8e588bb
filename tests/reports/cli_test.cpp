// `zbatch report` and the CI gate script, through the built executable.
#include <cstdlib>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "tests/reports/test_util.hpp"

namespace zbatch::reports {
namespace {

using testing::read_file;
using testing::read_fixture;
using testing::temp_dir;
using testing::write_file;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

// Runs a shell command with stdout and stderr captured to files in `dir`; returns the exit code.
int run(const std::string& command, const temp_dir& dir, std::string* out = nullptr,
        std::string* err = nullptr) {
  const auto out_file = dir.path() / "stdout.txt", err_file = dir.path() / "stderr.txt";
  const int status = std::system(
      (command + " >" + quote(out_file.string()) + " 2>" + quote(err_file.string())).c_str());
  if (out != nullptr) {
    *out = read_file(out_file);
  }
  if (err != nullptr) {
    *err = read_file(err_file);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string zbatch() { return quote(ZBATCH_EXE); }

std::string write_json(const temp_dir& dir, const std::string& name, const nlohmann::json& doc) {
  const auto path = dir.path() / name;
  write_file(path, doc.dump(1));
  return path.string();
}

nlohmann::json worsened_mixed() {
  auto head = read_fixture("results-mixed.json");
  auto& adaptive = head["strategies"][2];
  adaptive["makespan_ms"] = adaptive["makespan_ms"].get<double>() * 1.25;
  return head;
}

TEST(report_cli, render_writes_the_report_files) {
  temp_dir dir;
  const auto out = dir.path() / "report";
  std::string stdout_text;
  EXPECT_EQ(run(zbatch() + " report render " + quote(testing::fixture("results-mixed.json")) +
                    " --out " + quote(out.string()),
                dir, &stdout_text),
            0);
  for (const char* name : {"report.md", "report.html", "results.csv", "junit.xml"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(out / name)) << name;
    EXPECT_NE(stdout_text.find(name), std::string::npos);
  }
}

TEST(report_cli, render_bad_input_exits_2_naming_the_file) {
  temp_dir dir;
  const auto broken = dir.path() / "broken.json";
  write_file(broken, "{not json");
  std::string err;
  EXPECT_EQ(run(zbatch() + " report render " + quote(broken.string()) + " --out " +
                    quote((dir.path() / "o").string()),
                dir, nullptr, &err),
            2);
  EXPECT_NE(err.find(broken.string() + ":1:3: not valid JSON"), std::string::npos) << err;
  EXPECT_EQ(run(zbatch() + " report render " + quote(broken.string()), dir), 2);  // no --out
  EXPECT_EQ(run(zbatch() + " report", dir), 2);
  EXPECT_EQ(run(zbatch() + " report --help", dir), 0);
}

TEST(report_cli, compare_exit_codes_equal_worse_better_noisy) {
  temp_dir dir;
  const std::string base = testing::fixture("results-mixed.json").string();
  std::string out;
  // equal
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " + quote(base), dir, &out), 0);
  EXPECT_NE(out.find("no regression"), std::string::npos) << out;
  // worse
  const auto worse = write_json(dir, "worse.json", worsened_mixed());
  const auto md = dir.path() / "compare.md";
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " + quote(worse) + " --markdown " +
                    quote(md.string()),
                dir, &out),
            1);
  EXPECT_NE(out.find("| adaptive | makespan"), std::string::npos) << out;
  EXPECT_EQ(read_file(md), out);
  // worse but within a wider margin
  EXPECT_EQ(
      run(zbatch() + " report compare " + quote(base) + " " + quote(worse) + " --max-regression 30",
          dir),
      0);
  // better: the worse file as base
  EXPECT_EQ(run(zbatch() + " report compare " + quote(worse) + " " + quote(base), dir, &out), 0);
  EXPECT_NE(out.find("improvement"), std::string::npos);
  // noisy but equal repetitions (http mode)
  EXPECT_EQ(run(zbatch() + " report compare " +
                    quote(testing::fixture("results-noisy-base.json").string()) + " " +
                    quote(testing::fixture("results-noisy-head.json").string()),
                dir, &out),
            0);
  EXPECT_NE(out.find("mann-whitney"), std::string::npos) << out;
}

TEST(report_cli, compare_bad_input_exits_2) {
  temp_dir dir;
  const std::string base = testing::fixture("results-mixed.json").string();
  std::string err;
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " +
                    quote((dir.path() / "nope.json").string()),
                dir, nullptr, &err),
            2);
  EXPECT_NE(err.find("nope.json: cannot be read"), std::string::npos) << err;
  auto other = read_fixture("results-mixed.json");
  other["scenario"]["name"] = "another";
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " +
                    quote(write_json(dir, "other.json", other)),
                dir, nullptr, &err),
            2);
  EXPECT_NE(err.find("scenario.name differs"), std::string::npos) << err;
  // The same name over another workload: an edited scenario file (a new user's check).
  auto bigger = read_fixture("results-mixed.json");
  for (auto& s : bigger["strategies"]) {
    s["images"] = 40;
  }
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " +
                    quote(write_json(dir, "bigger.json", bigger)),
                dir, nullptr, &err),
            2);
  EXPECT_NE(err.find("the number of images differs: serial ran 4 in "), std::string::npos) << err;
  auto ideal = read_fixture("results-mixed.json");
  ideal["profile"]["name"] = "ideal";
  EXPECT_EQ(run(zbatch() + " report compare " + quote(base) + " " +
                    quote(write_json(dir, "ideal.json", ideal)),
                dir, nullptr, &err),
            2);
  EXPECT_NE(err.find("profile.name differs"), std::string::npos) << err;
  auto v2 = read_fixture("results-mixed.json");
  v2["schema_version"] = 2;
  EXPECT_EQ(
      run(zbatch() + " report compare " + quote(base) + " " + quote(write_json(dir, "v2.json", v2)),
          dir, nullptr, &err),
      2);
  EXPECT_NE(err.find("schema_version"), std::string::npos) << err;
  EXPECT_EQ(
      run(zbatch() + " report compare " + quote(base) + " " + quote(base) + " --max-regression -3",
          dir),
      2);
}

// The gate script against prepared results (--no-run): the runner that produces them is a
// separate command; what is tested here is the script's comparison and exit codes.
class gate : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "scenarios" / "preview-4.json", "{}");
    write_file(dir_.path() / "baseline" / "preview-4.json",
               read_file(testing::fixture("results-mixed.json")));
  }
  int check(const nlohmann::json& fresh, std::string* err = nullptr) {
    write_file(dir_.path() / "results" / "preview-4" / "results.json", fresh.dump(1));
    return run(quote(std::string(ZBATCH_SCRIPTS_DIR) + "/check-baseline.sh") + " " + zbatch() +
                   " " + quote((dir_.path() / "results").string()) + " --scenarios-dir " +
                   quote((dir_.path() / "scenarios").string()) + " --baseline-dir " +
                   quote((dir_.path() / "baseline").string()) + " --no-run",
               dir_, nullptr, err);
  }
  temp_dir dir_;
};

TEST_F(gate, passes_unchanged_results) {
  EXPECT_EQ(check(read_fixture("results-mixed.json")), 0);
  EXPECT_NE(read_file(dir_.path() / "results" / "compare.md").find("no regression"),
            std::string::npos);
}

TEST_F(gate, fails_a_deliberately_worsened_strategy) {
  std::string err;
  EXPECT_EQ(check(worsened_mixed(), &err), 1);
  EXPECT_NE(err.find("refresh-baseline.sh"), std::string::npos) << err;
  EXPECT_NE(read_file(dir_.path() / "results" / "compare.md").find("regression"),
            std::string::npos);
}

TEST_F(gate, a_missing_baseline_is_an_error) {
  std::filesystem::remove(dir_.path() / "baseline" / "preview-4.json");
  std::string err;
  EXPECT_EQ(check(read_fixture("results-mixed.json"), &err), 2);
  EXPECT_NE(err.find("no baseline"), std::string::npos) << err;
}

}  // namespace
}  // namespace zbatch::reports
