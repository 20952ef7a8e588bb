#pragma once
/// `manifest.json`, the batch's record for its user: one object with the batch's counts (what was
/// delivered, failed, left pending; what was paid and possibly paid; why the run stopped) and one
/// entry per image (its inputs, task, file, sha256, latency, status). The session builds a
/// `manifest_input` at the end of every run and writes `manifest_json(input).dump(2)` atomically;
/// the next run reads the entries back (`earlier_manifest_entries`) to keep the latencies and
/// attempts of images delivered before. Pure functions apart from that one file read; no
/// threading concerns.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/coordinator.hpp"
#include "generate/inputs.hpp"

namespace zbatch::generate {

/// Where an image stands at the end of a run. `failed`: settled (a rerun with the same strategy
/// would meet it again); `pending`: neither delivered nor failed, a rerun finishes it.
enum class image_status { delivered, failed, pending };
/// Which run handled an image: `earlier` (delivered before, file intact), `this_run`, or `none`
/// (this run stopped before it).
enum class image_run { none, this_run, earlier };

/// "delivered", "failed", "pending"; "none", "this", "earlier" (the manifest's spellings).
const char* to_string(image_status status);
const char* to_string(image_run run);

/// One image's entry. `file`, `bytes` and `sha256` are written only when delivered,
/// `error_class` and `message` only when not delivered and not empty.
struct manifest_image {
  image_spec spec;
  image_status status = image_status::pending;
  image_run run = image_run::none;
  std::string task_id;  ///< The latest accepted task; empty when none.
  std::string file;     ///< Inside the output directory.
  std::string sha256;   ///< Lower-case hex of the file's bytes.
  std::int64_t bytes = 0;
  std::optional<std::int64_t> latency_ms;  ///< Submit (or resumed poll) to delivery, this run.
  std::string error_class;                 ///< protocol::to_string of the last error class.
  std::string message;
  int attempts = 0;
  int submits = 0;        ///< Accepted submits over all runs (from the journal).
  int possibly_paid = 0;  ///< Submits whose answer was lost, over all runs (from the journal).
  /// With run == earlier: its entry in the previous manifest; its `latency_ms` and `attempts`
  /// are written again (this run did not measure them).
  nlohmann::json earlier;
};

/// The counters of this run's batch, when it ran one.
struct manifest_run {
  actors::batch_counters counters;
  std::int64_t makespan_ms = 0;
};

struct manifest_input {
  std::vector<manifest_image> images;                 ///< In index order, every image of the batch.
  nlohmann::json options = nlohmann::json::object();  ///< The journal's options (inputs.hpp).
  std::string endpoint;                               ///< A base URL; never the key.
  std::string strategy;                               ///< actors::to_compact of the strategy.
  int max_submits = 0;                                ///< 0 = no cap.
  std::string stopped;        ///< "complete", "failures", "quota", ... (session.hpp).
  std::size_t delivered = 0;  ///< All runs.
  std::size_t failed = 0;
  std::size_t remaining = 0;  ///< failed + pending.
  std::size_t pending = 0;
  int submits_paid = 0;  ///< Over all runs.
  int submits_possibly_paid = 0;
  int submits_refunded = 0;  ///< Of submits_paid: tasks FAILED for a system reason (refunded).
  std::string halted_by;     ///< Empty unless stopped == "halted".
  std::optional<std::string> quota_reset;       ///< ISO 8601 UTC.
  std::optional<std::string> quota_reset_utc8;  ///< The same moment as "YYYY-MM-DD HH:MM UTC+8".
  int runs = 1;                                 ///< This one included.
  std::optional<manifest_run> this_run;         ///< Absent when every image was delivered before.
};

/// The manifest (format version 2). With one prompt (`options["mode"] == "prompt"`) it also
/// holds that prompt, `count`, `base_seed` and `size` as given.
nlohmann::json manifest_json(const manifest_input& input);

/// The entries of the manifest at `path` by image index; empty when the file is missing or is
/// not a manifest (a damaged file is rewritten at the end of the run, not an error).
std::map<std::size_t, nlohmann::json> earlier_manifest_entries(const std::filesystem::path& path);

}  // namespace zbatch::generate
