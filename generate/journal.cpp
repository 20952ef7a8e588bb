#include "generate/journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace zbatch::generate {
namespace {

using nlohmann::json;

constexpr int journal_version = 1;

std::string first_difference(const json& a, const json& b, const std::string& path = "") {
  if (a.is_object() && b.is_object()) {
    for (const auto& item : a.items()) {
      const auto sub = path.empty() ? item.key() : path + "." + item.key();
      if (!b.contains(item.key())) {
        return sub;
      }
      if (auto diff = first_difference(item.value(), b[item.key()], sub); !diff.empty()) {
        return diff;
      }
    }
    for (const auto& item : b.items()) {
      if (!a.contains(item.key())) {
        return path.empty() ? item.key() : path + "." + item.key();
      }
    }
    return "";
  }
  return a == b ? "" : (path.empty() ? "(options)" : path);
}

/// Why a parsed line cannot be one the journal wrote, or empty when it can: the fields this
/// reader uses must have the types (and ranges) the writer gives them. Anything else is damage
/// (bit rot, a hand edit), reported as such instead of a library exception or an overflow
/// (found by fuzz/generate_journal.cpp). Unknown events and fields are left to `apply`.
std::string line_problem(const json& line) {
  for (const char* key :
       {"event", "task_id", "file", "sha256", "error_class", "message", "endpoint", "model"}) {
    if (const auto it = line.find(key); it != line.end() && !it->is_string()) {
      return std::string("\"") + key + "\" is not a string";
    }
  }
  const auto integer = [&line](const char* key, std::int64_t min, std::int64_t max) {
    const auto it = line.find(key);
    return it == line.end() ||
           (it->is_number_integer() &&
            (it->is_number_unsigned()
                 ? it->get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                 : it->get<std::int64_t>() >= min && it->get<std::int64_t>() <= max));
  };
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  for (const auto& [key, min, max] :
       {std::tuple{"index", std::int64_t{0}, int_max},
        std::tuple{"count", std::int64_t{0}, int_max},
        std::tuple{"version", std::int64_t{0}, int_max},
        std::tuple{"attempts", std::int64_t{0}, int_max},
        std::tuple{"seed", std::numeric_limits<std::int64_t>::min(),
                   std::numeric_limits<std::int64_t>::max()},
        std::tuple{"bytes", std::int64_t{0}, std::numeric_limits<std::int64_t>::max()},
        std::tuple{"seen_at_ms", std::numeric_limits<std::int64_t>::min(),
                   std::numeric_limits<std::int64_t>::max()}}) {
    if (!integer(key, min, max)) {
      return std::string("\"") + key + "\" is not an integer in " + std::to_string(min) + ".." +
             std::to_string(max);
    }
  }
  if (line.value("event", "") == "header" &&
      !(line.contains("options") && line["options"].is_object())) {
    return "a header without its options object";
  }
  return {};
}

/// a + b for counts that a damaged journal could push past int's range.
int saturating_add(int a, int b) {
  return static_cast<int>(
      std::min<std::int64_t>(std::int64_t{a} + b, std::numeric_limits<int>::max()));
}

}  // namespace

result<std::unique_ptr<journal>> journal::open(const std::filesystem::path& dir,
                                               const json& options, fault_hook faults) {
  std::unique_ptr<journal> out(new journal(dir / "journal.jsonl"));
  out->faults_ = std::move(faults);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return internal_error(dir.string() + ": cannot create the output directory: " + ec.message());
  }
  ZBATCH_RETURN_IF_ERROR(out->lock(dir));
  ZBATCH_RETURN_IF_ERROR(out->load(dir, options, true));
  return out;
}

status journal::lock(const std::filesystem::path& dir) {
  // An advisory lock (flock) the kernel drops when the process ends, even by kill -9: two runs
  // in one directory would each resume the other's images and pay for them twice (a new
  // user's check: a supervisor restarted zbatch while the killed wrapper's run went on).
  const auto path = dir / "journal.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return internal_error(path.string() + ": cannot open: " + std::strerror(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error != EWOULDBLOCK) {
      return internal_error(path.string() + ": cannot lock: " + std::strerror(error));
    }
    std::ifstream in(path);
    std::string pid;
    std::getline(in, pid);
    return failed_precondition_error(
        dir.string() + ": another zbatch generate" + (pid.empty() ? "" : " (pid " + pid + ")") +
        " is running in this directory (it holds " + path.string() +
        "); wait for it to end or stop it: two runs in one directory would pay twice for its "
        "images");
  }
  const auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    return internal_error(path.string() + ": cannot write: " + std::strerror(errno));
  }
  return ok_status();
}

result<std::unique_ptr<journal>> journal::read_only(const std::filesystem::path& dir,
                                                    const json& options) {
  std::unique_ptr<journal> out(new journal(dir / "journal.jsonl"));
  ZBATCH_RETURN_IF_ERROR(out->load(dir, options, false));
  return out;
}

status journal::load(const std::filesystem::path& dir, const json& options, bool write) {
  std::error_code ec;
  if (write) {
    std::filesystem::create_directories(dir, ec);
  }
  if (ec) {
    return internal_error(dir.string() + ": cannot create the output directory: " + ec.message());
  }
  bool have_header = false;
  std::uintmax_t valid_bytes = 0;
  if (std::filesystem::exists(path_)) {
    if (!std::filesystem::is_regular_file(path_, ec)) {  // A device or FIFO would never end.
      return failed_precondition_error(path_.string() + ": is not a regular file");
    }
    std::ifstream in(path_, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const auto text = buffer.str();
    std::size_t start = 0;
    int line_number = 0;
    while (start < text.size()) {
      const auto end = text.find('\n', start);
      if (end == std::string::npos) {
        break;  // A torn last line: the crash happened while writing it; drop it.
      }
      ++line_number;
      const auto line = json::parse(text.substr(start, end - start), nullptr, false);
      const auto problem =
          line.is_discarded() || !line.is_object() ? std::string("not JSON") : line_problem(line);
      if (!problem.empty()) {
        return data_loss_error(
            path_.string() + ":" + std::to_string(line_number) + ": not a journal line (" +
            problem +
            "; the journal is damaged: mend this line, or delete it if it is not a "
            "\"submitted\" line, which holds a paid task's id; moving the "
            "journal away forgets every task id, and the next run pays for "
            "them again)");
      }
      if (line.value("event", "") == "header") {
        if (line.value("version", 0) != journal_version) {
          return data_loss_error(path_.string() + ": journal version " +
                                 std::to_string(line.value("version", 0)) +
                                 " is not supported (allowed 1)");
        }
        if (!have_header) {
          if (auto diff = first_difference(line.at("options"), options); !diff.empty()) {
            return failed_precondition_error(
                dir.string() + ": holds a batch made with other options (\"" + diff +
                "\" differs): use another --out directory, or the same options");
          }
        }
        settle_open_submits();  // The run before this header ended: its open ones stay open.
        have_header = true;
        ++previous_runs_;
      } else {
        apply(line);
      }
      valid_bytes = end + 1;
      start = end + 1;
    }
    if (write && valid_bytes < text.size()) {
      std::filesystem::resize_file(path_, valid_bytes);
    }
    settle_open_submits();
  }
  if (!write) {
    return ok_status();
  }
  // A plain descriptor, not stdio: a failed write must leave no bytes buffered that a later
  // flush would add after a line cut back (see append).
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return internal_error(path_.string() +
                          ": cannot be opened for writing: " + std::strerror(errno));
  }
  const auto end = ::lseek(fd_, 0, SEEK_END);
  size_ = end < 0 ? 0 : static_cast<std::uint64_t>(end);
  if (!have_header) {
    previous_runs_ = 0;
  }
  // Every run appends a header; the first one holds the options the others are checked against.
  return append(json{{"event", "header"}, {"version", journal_version}, {"options", options}});
}

journal::~journal() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // drops the lock
  }
}

namespace {

/// Writes all of `size` bytes; 0, or the errno of the write that failed.
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

}  // namespace

status journal::append(const json& line, bool sync) {
  if (fd_ < 0) {
    return failed_precondition_error(path_.string() + ": opened read-only (--dry-run)");
  }
  if (!broken_.empty()) {
    return internal_error(broken_);
  }
  const auto text = line.dump() + "\n";
  const auto fault = faults_ ? faults_(path_, text) : std::nullopt;
  int cause = write_all(fd_, text.data(),
                        fault ? std::min(fault->bytes_written, text.size()) : text.size());
  if (cause == 0 && fault) {
    cause = fault->error;
  }
  if (cause == 0 && sync && ::fdatasync(fd_) != 0) {
    cause = errno;
  }
  if (cause == 0) {
    size_ += text.size();
    return ok_status();
  }
  const std::string why = path_.string() + ": write failed: " + std::strerror(cause);
  // Cut the torn line off: a later line after half of this one would make the journal
  // unreadable. If that fails too, write nothing more (the torn last line is dropped on load).
  if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    broken_ = why + " (and the torn line could not be cut off: " + std::strerror(errno) +
              "; nothing more is journaled)";
  }
  return internal_error(why);
}

namespace {

std::optional<long long> count_field(const json& line, const char* name) {
  const auto it = line.find(name);
  if (it == line.end() || !it->is_number_integer()) {
    return std::nullopt;
  }
  return it->get<long long>();
}

/// The quota day (days since the epoch in UTC+8, whose midnight is the daily reset: the protocol
/// doc's working assumption) of a Unix time in milliseconds.
std::int64_t quota_day(std::int64_t unix_ms) {
  constexpr std::int64_t utc8_ms = 8LL * 3600 * 1000;
  constexpr std::int64_t day_ms = 24LL * 3600 * 1000;
  const auto shifted = unix_ms + utc8_ms;
  return shifted / day_ms - (shifted % day_ms < 0 ? 1 : 0);
}

/// Merges a newer allowance into `at`. Within one quota day the calls left only go down, so the
/// lowest count seen wins: answers to concurrent submits reach the journal in any order, and the
/// last line may be an older answer (6 left written after 5). A new day's figures replace the
/// old day's.
void merge_allowance(std::optional<journaled_allowance>& at, journaled_allowance seen) {
  if (at && at->remaining && seen.remaining &&
      quota_day(at->seen_at_ms) == quota_day(seen.seen_at_ms) && *at->remaining < *seen.remaining) {
    seen.remaining = at->remaining;
    seen.seen_at_ms = std::max(seen.seen_at_ms, at->seen_at_ms);
  }
  at = seen;
}

/// A ratelimit line's counts into the figures of its endpoint (merge_allowance).
void apply_ratelimit(const json& line, std::map<std::string, journaled_ratelimit>& out) {
  auto& at = out[line.value("endpoint", "")];
  const auto seen = line.value("seen_at_ms", std::int64_t{0});
  const auto account_limit = count_field(line, "account_limit");
  const auto account_remaining = count_field(line, "account_remaining");
  if (account_limit || account_remaining) {
    merge_allowance(at.account, journaled_allowance{account_limit, account_remaining, seen});
  }
  const auto model_limit = count_field(line, "model_limit");
  const auto model_remaining = count_field(line, "model_remaining");
  if (model_limit || model_remaining) {
    const auto model = line.value("model", "");
    std::optional<journaled_allowance> merged;
    if (const auto it = at.models.find(model); it != at.models.end()) {
      merged = it->second;
    }
    merge_allowance(merged, journaled_allowance{model_limit, model_remaining, seen});
    at.models[model] = *merged;
  }
}

}  // namespace

void journal::settle_open_submits() {
  // Written ahead by a run that ended before the answer: possibly paid, and the image's latest
  // submit (a later run's accepted one clears answer_lost again, in order).
  for (auto& [index, image] : images_) {
    if (image.open_submits > 0) {
      image.possibly_paid = saturating_add(image.possibly_paid, image.open_submits);
      image.answer_lost = true;
      image.open_submits = 0;
    }
  }
}

void journal::apply(const json& line) {
  const auto event = line.value("event", "");
  if (event == "ratelimit") {
    apply_ratelimit(line, ratelimits_);
    return;
  }
  if (event == "quota_refused") {
    auto& refused = ratelimits_[line.value("endpoint", "")].quota_refused_at_ms;
    const auto at = line.value("seen_at_ms", std::int64_t{0});
    refused = refused ? std::max(*refused, at) : at;
    return;
  }
  const int index = line.value("index", -1);
  if (index < 0) {
    return;
  }
  auto& image = images_[index];
  const auto close = [&image](int count) {
    image.open_submits = std::max(0, image.open_submits - count);
  };
  if (event == "submitting") {
    ++image.open_submits;
  } else if (event == "refused") {
    close(1);
  } else if (event == "submitted") {
    image.last = journaled_image::state::submitted;
    image.task_id = line.value("task_id", "");
    ++image.submits;
    image.answer_lost = false;
    close(1);
  } else if (event == "delivered") {
    image.last = journaled_image::state::delivered;
    image.task_id = line.value("task_id", "");
    image.file = line.value("file", "");
    image.sha256 = line.value("sha256", "");
    image.bytes = line.value("bytes", std::int64_t{0});
  } else if (event == "failed") {
    image.last = journaled_image::state::failed;
    image.task_id = line.value("task_id", "");
    image.error_class = line.value("error_class", "");
    image.message = line.value("message", "");
  } else if (event == "task_failed") {
    image.refunded = saturating_add(image.refunded, 1);
  } else if (event == "possibly_paid") {
    image.possibly_paid = saturating_add(image.possibly_paid, line.value("count", 1));
    image.answer_lost = true;
    close(line.value("count", 1));
  }
}

status journal::record_submitting(int index) {
  json line{{"event", "submitting"}, {"index", index}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_refused(int index, const std::string& error_class, int http_status,
                               const std::string& message) {
  // Why, for a reader of the journal (a new user's check: a retry left no trace of its cause).
  json line{{"event", "refused"},
            {"index", index},
            {"error_class", error_class},
            {"http_status", http_status},
            {"message", message}};
  ZBATCH_RETURN_IF_ERROR(append(line, false));
  apply(line);
  return ok_status();
}

status journal::record_ratelimit(const std::string& endpoint, const std::string& model,
                                 const journaled_ratelimit_counts& counts,
                                 std::int64_t seen_at_ms) {
  json line{
      {"event", "ratelimit"}, {"endpoint", endpoint}, {"model", model}, {"seen_at_ms", seen_at_ms}};
  const auto put = [&line](const char* name, const std::optional<long long>& value) {
    if (value) {
      line[name] = *value;
    }
  };
  put("account_limit", counts.account_limit);
  put("account_remaining", counts.account_remaining);
  put("model_limit", counts.model_limit);
  put("model_remaining", counts.model_remaining);
  ZBATCH_RETURN_IF_ERROR(append(line, false));
  apply(line);
  return ok_status();
}

status journal::record_submitted(int index, std::int64_t seed, const std::string& task_id) {
  json line{{"event", "submitted"}, {"index", index}, {"seed", seed}, {"task_id", task_id}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_delivered(int index, const std::string& task_id, const std::string& file,
                                 const std::string& sha256, std::int64_t bytes) {
  json line{{"event", "delivered"}, {"index", index},   {"task_id", task_id},
            {"file", file},         {"sha256", sha256}, {"bytes", bytes}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_failed(int index, const std::string& task_id, const std::string& error_class,
                              const std::string& message, int attempts) {
  json line{{"event", "failed"},          {"index", index},     {"task_id", task_id},
            {"error_class", error_class}, {"message", message}, {"attempts", attempts}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_quota_refused(const std::string& endpoint, std::int64_t at_ms) {
  json line{{"event", "quota_refused"}, {"endpoint", endpoint}, {"seen_at_ms", at_ms}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_task_failed(int index, const std::string& task_id) {
  json line{{"event", "task_failed"}, {"index", index}, {"task_id", task_id}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

status journal::record_possibly_paid(int index, int count, const std::string& message) {
  json line{{"event", "possibly_paid"}, {"index", index}, {"count", count}, {"message", message}};
  ZBATCH_RETURN_IF_ERROR(append(line));
  apply(line);
  return ok_status();
}

}  // namespace zbatch::generate
