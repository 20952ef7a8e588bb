#include "reports/render.hpp"

#include <fstream>
#include <stdexcept>
#include <system_error>

#include "reports/results.hpp"

namespace zbatch::reports {
namespace {

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error(path.string() + ": cannot be opened for writing");
  }
  out << content;
  out.close();
  if (!out) {
    throw std::runtime_error(path.string() + ": write failed");
  }
}

}  // namespace

std::vector<std::filesystem::path> render_all(const nlohmann::json& results,
                                              const std::filesystem::path& out_dir) {
  validate_results(results, "results");
  // Render everything before touching the disk so bad input leaves no partial report behind.
  const std::pair<const char*, std::string> files[] = {
      {"report.md", render_markdown(results)},
      {"report.html", render_html(results)},
      {"results.csv", render_csv(results)},
      {"junit.xml", render_junit(results)},
  };
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    throw std::runtime_error(out_dir.string() + ": cannot create directory: " + ec.message());
  }
  std::vector<std::filesystem::path> written;
  for (const auto& [name, content] : files) {
    const auto path = out_dir / name;
    write_file(path, content);
    written.push_back(path);
  }
  return written;
}

std::vector<std::filesystem::path> render_all(const nlohmann::ordered_json& results,
                                              const std::filesystem::path& out_dir) {
  return render_all(nlohmann::json::parse(results.dump()), out_dir);
}

}  // namespace zbatch::reports
