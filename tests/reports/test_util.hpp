#pragma once
// Helpers shared by the reports tests: fixtures, temporary directories, file reading.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace zbatch::reports::testing {

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(ZBATCH_FIXTURE_DIR) / name;
}

inline nlohmann::json read_fixture(const std::string& name) {
  std::ifstream in(fixture(name));
  return nlohmann::json::parse(in);
}

/// `results` with 5 repetitions per strategy, the two added at each strategy's mean makespan (so
/// every mean stays): a lead of every repetition is then testable at 5% (3 and 3 are too few,
/// and an untested lead never picks the faster).
inline nlohmann::json five_repetitions(nlohmann::json results) {
  for (auto& s : results["strategies"]) {
    while (s["runs"].size() < 5) {
      auto run = s["runs"][0];
      run["makespan_ms"] = s["makespan_ms"];
      s["runs"].push_back(run);
    }
  }
  results["repetitions"] = 5;
  return results;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// A fresh directory under the system temp dir, removed when the object goes away.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("zbatch-reports-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace zbatch::reports::testing
