#include "reports/render.hpp"

#include <fstream>
#include <system_error>

#include "reports/results.hpp"

namespace zbatch::reports {
namespace {

status write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return internal_error(path.string() + ": cannot be opened for writing");
  }
  out << content;
  out.close();
  if (!out) {
    return internal_error(path.string() + ": write failed");
  }
  return ok_status();
}

}  // namespace

std::vector<std::filesystem::path> remove_reports(const std::filesystem::path& out_dir) {
  std::vector<std::filesystem::path> removed;
  for (const char* name : report_names) {
    std::error_code ec;
    if (std::filesystem::remove(out_dir / name, ec) && !ec) {
      removed.push_back(out_dir / name);
    }
  }
  return removed;
}

result<std::vector<std::filesystem::path>> render_all(const nlohmann::json& results,
                                                      const std::filesystem::path& out_dir) {
  ZBATCH_RETURN_IF_ERROR(validate_results(results, "results"));
  // Render everything before touching the disk so bad input leaves no partial report behind.
  // Validated above, so each renderer has a value.
  const std::pair<const char*, std::string> files[] = {
      {report_names[0], render_markdown(results).value()},
      {report_names[1], render_html(results).value()},
      {report_names[2], render_csv(results).value()},
      {report_names[3], render_junit(results).value()},
  };
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return internal_error(out_dir.string() + ": cannot create directory: " + ec.message());
  }
  std::vector<std::filesystem::path> written;
  for (const auto& [name, content] : files) {
    const auto path = out_dir / name;
    ZBATCH_RETURN_IF_ERROR(write_file(path, content));
    written.push_back(path);
  }
  return written;
}

result<std::vector<std::filesystem::path>> render_all(const nlohmann::ordered_json& results,
                                                      const std::filesystem::path& out_dir) {
  return render_all(nlohmann::json::parse(results.dump()), out_dir);
}

}  // namespace zbatch::reports
