#pragma once
/// The crash-safe journal of a production batch (`DIR/journal.jsonl`).
///
/// One JSON object per line, appended and flushed to disk (fdatasync) before the effect it
/// records is relied on: a task id is journaled before its task is waited on, so a rerun after a
/// crash polls that task again instead of paying for a new one. The first line holds the batch's
/// options (never the API key) so a rerun with other options is refused. A line torn by a crash
/// (the last one, without its newline) is dropped on load. Not thread-safe: one writer.
///
/// Submits are written ahead (issue 17): a `submitting` line is on disk before each submit
/// leaves, and the submit's answer closes it (`submitted`, `refused` for a free refusal, or
/// `possibly_paid`). A crash between the two leaves it open; on load every open one counts as
/// possibly paid, so the cost figures never fall below what the service charged.
///
/// Rate-limit figures (issue 14, planning): every submit answer's `modelscope-ratelimit-*`
/// headers are appended as a `ratelimit` line (endpoint, model, the four counts, when seen), so
/// a rerun knows the calls left today without sending anything. The last line per endpoint wins
/// for the account and per endpoint and model for the model's counts.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

namespace zbatch::generate {

/// A write made to fail, for tests of disk faults (issue 17 item 8): the bytes that still reach
/// the file before it fails, and the errno it fails with (ENOSPC: the disk is full).
struct write_fault {
  std::size_t bytes_written = 0;
  int error = 0;
};
/// Asked before each write of `bytes` to `path` (a journal line, an image, the manifest);
/// nullopt lets the write through. Production passes none.
using fault_hook = std::function<std::optional<write_fault>(const std::filesystem::path& path,
                                                            std::string_view bytes)>;

/// What the journal knows about one image (the latest of its lines).
struct journaled_image {
  enum class state { none, submitted, delivered, failed };
  state last = state::none;
  std::string task_id;  ///< The latest accepted task (submitted, delivered or failed).
  std::string file;     ///< When delivered: the file name inside the output directory.
  std::string sha256;
  std::int64_t bytes = 0;
  std::string error_class;
  std::string message;
  int submits = 0;  ///< Accepted submits recorded for this image across all runs.
  /// Submits whose answer was lost (time-out, dropped connection, a gateway's 5xx): the service
  /// may have created and charged a task that nobody knows the id of.
  int possibly_paid = 0;
  /// Accepted tasks that ended FAILED for a system reason, across all runs: counted in
  /// `submits`, and refunded by the service (protocol doc, "Rate limits and cost").
  int refunded = 0;
  /// Submits written ahead and not yet closed by their answer (this run's, while it runs; an
  /// earlier run's are added to `possibly_paid` on load).
  int open_submits = 0;
  /// The image's latest submit lost its answer (a `possibly_paid` line, or a submit an earlier
  /// run left open) and no submit was accepted since: a task may exist that nobody can poll,
  /// so submitting again may pay twice (a rerun holds the image unless told otherwise).
  bool answer_lost = false;
};

/// One daily allowance as the service last stated it (an answer's rate-limit headers).
struct journaled_allowance {
  std::optional<long long> limit;
  std::optional<long long> remaining;
  std::int64_t seen_at_ms = 0;  ///< Unix time in milliseconds when the answer came.
};

/// The four counts of one answer's rate-limit headers (each absent when its header was).
struct journaled_ratelimit_counts {
  std::optional<long long> account_limit;
  std::optional<long long> account_remaining;
  std::optional<long long> model_limit;
  std::optional<long long> model_remaining;
};

/// The rate-limit figures seen at one endpoint (base URL): the account's (all models) and each
/// model's; within one quota day (reset at 00:00 UTC+8) the lowest calls-left count seen, since
/// answers to concurrent submits are journaled in any order, else the newest day's.
struct journaled_ratelimit {
  std::optional<journaled_allowance> account;
  std::map<std::string, journaled_allowance> models;
  /// The newest time (Unix ms) a run stopped here for the quota ("quota_refused" line): a quota
  /// 429 may come without headers, so figures seen before it may say calls are left.
  std::optional<std::int64_t> quota_refused_at_ms;
};

class journal {
 public:
  /// Opens (creating if needed) `dir/journal.jsonl`, first taking `dir/journal.lock` for the
  /// journal's lifetime (flock, dropped when the process ends however it ends): another open
  /// journal on `dir`, in this process or another, is failed_precondition naming its pid.
  /// When the file exists, its header must
  /// carry the same `options`; otherwise failed_precondition names the first field that
  /// differs. A damaged line or an unknown version is data_loss naming the file (and line); a
  /// directory or file that cannot be created or opened is internal.
  static result<std::unique_ptr<journal>> open(const std::filesystem::path& dir,
                                               const nlohmann::json& options,
                                               fault_hook faults = {});
  /// Reads `dir/journal.jsonl` without writing anything (no directory created, no header
  /// appended, a torn line left as it is): `zbatch generate --dry-run`. A missing file is an
  /// empty journal. Every record_* call on it fails (failed_precondition).
  static result<std::unique_ptr<journal>> read_only(const std::filesystem::path& dir,
                                                    const nlohmann::json& options);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// State per image index, as loaded plus everything recorded since.
  const std::map<int, journaled_image>& images() const { return images_; }
  /// Rate-limit figures by endpoint (base URL), as loaded plus everything recorded since.
  const std::map<std::string, journaled_ratelimit>& ratelimits() const { return ratelimits_; }
  /// Number of earlier runs that wrote to this journal (0 for a fresh one).
  int previous_runs() const { return previous_runs_; }

  /// Each record is on disk when it returns OK; internal "FILE: write failed: CAUSE" otherwise
  /// (the disk full, an I/O error). A failed record leaves no part of its line in the file (it
  /// is cut back to the last whole line), so the journal stays readable and a rerun resumes
  /// from it; if even the cut fails, every later record fails too, rather than follow a torn
  /// line (which would make the journal unreadable).
  status record_submitted(int index, std::int64_t seed, const std::string& task_id);
  status record_delivered(int index, const std::string& task_id, const std::string& file,
                          const std::string& sha256, std::int64_t bytes);
  status record_failed(int index, const std::string& task_id, const std::string& error_class,
                       const std::string& message, int attempts);
  /// A run stopped at `endpoint` for the quota at `at_ms` (Unix ms): "quota_refused" line.
  status record_quota_refused(const std::string& endpoint, std::int64_t at_ms);
  /// Task `task_id` of image `index` ended FAILED for a system reason (not moderation): a
  /// refunded task ("task_failed" line).
  status record_task_failed(int index, const std::string& task_id);
  /// `count` submits of image `index` ended ambiguously (see journaled_image::possibly_paid).
  status record_possibly_paid(int index, int count, const std::string& message);
  /// A submit of image `index` is about to leave (on disk before it does).
  status record_submitting(int index);
  /// A submit of image `index` was refused for free (nothing charged), with the refusal's class,
  /// HTTP status (0: none) and message. Not synced: if lost in a crash, the submit counts as
  /// possibly paid, the safe side.
  status record_refused(int index, const std::string& error_class, int http_status,
                        const std::string& message);
  /// An answer from `endpoint` for `model` carried these rate-limit figures at `seen_at_ms`
  /// (Unix ms). Not synced: a figure lost in a crash only makes the next run read it again from
  /// its first submit's answer.
  status record_ratelimit(const std::string& endpoint, const std::string& model,
                          const journaled_ratelimit_counts& counts, std::int64_t seen_at_ms);

  const std::filesystem::path& path() const { return path_; }

 private:
  explicit journal(std::filesystem::path path) : path_(std::move(path)) {}
  status lock(const std::filesystem::path& dir);
  status load(const std::filesystem::path& dir, const nlohmann::json& options, bool write);
  status append(const nlohmann::json& line, bool sync = true);
  void apply(const nlohmann::json& line);
  /// On loading, at each run's end: its submits still open count as possibly paid.
  void settle_open_submits();

  std::filesystem::path path_;
  int fd_ = -1;
  int lock_fd_ = -1;        ///< `dir/journal.lock`, flocked while this journal writes.
  std::uint64_t size_ = 0;  ///< Bytes of whole lines in the file.
  std::string broken_;      ///< Why no more lines may be written (a torn line could not be cut).
  fault_hook faults_;
  std::map<int, journaled_image> images_;
  std::map<std::string, journaled_ratelimit> ratelimits_;
  int previous_runs_ = 0;
};

}  // namespace zbatch::generate
