#pragma once
/// A batch of N variants of one prompt (seeds S, S+1, ...), generated one after another, with
/// each image and `manifest.json` written atomically into the output directory.
///
/// The loop of `zbatch generate` for issue 2; later issues replace the loop (actors) but keep the
/// file layout and the manifest. The manifest is rewritten after every image, so a crash leaves
/// a valid manifest of what was done. Blocking, single-threaded.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/image_job.hpp"

namespace zbatch::client {

struct batch_spec {
  protocol::submit_request request;  ///< Prompt, model, size...; `seed` is set per image.
  int count = 1;
  std::int64_t base_seed = 0;  ///< Image i gets base_seed + i; the last must stay <= max_seed.
  std::filesystem::path out_dir;
  std::string base_url;  ///< Recorded in the manifest (never the key).
  job_options job;
};

struct batch_image {
  int index = 0;
  std::string file;  ///< File name inside out_dir; empty when not delivered.
  image_record record;
};

struct batch_outcome {
  std::vector<batch_image> images;
  std::int64_t total_ms = 0;
  int delivered = 0;
  int failed = 0;
};

/// "png", "jpg", "webp" or "bin", from the image's magic bytes.
std::string image_extension(std::string_view bytes);

/// Runs the batch. `on_image` (optional) is called after each image is done and written.
/// Throws std::system_error when a file cannot be written (disk full, permissions).
batch_outcome run_serial_batch(backend& api, const batch_spec& spec, job_clock& clock,
                               const std::function<void(const batch_image&)>& on_image = {});

/// The manifest: the batch's parameters and one entry per image (index, seed, task_id, file,
/// bytes, sha256, latency_ms, status, error_class, message, request_id, attempts, polls).
nlohmann::json manifest_json(const batch_spec& spec, const batch_outcome& outcome);

}  // namespace zbatch::client
