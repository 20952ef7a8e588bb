#pragma once
/// What a production batch is made of: the list of images (prompt, options and seed each), built
/// either from one prompt with `--count` variants or from a JSON-lines batch file, plus the
/// canonical options object the journal stores so a rerun with other inputs is refused.
///
/// Batch file (`--batch FILE.jsonl`): one JSON object per line; blank lines are skipped. Fields:
/// `prompt` (required), `negative_prompt`, `size` ("WxH") or `aspect` (+ `base_size`), `seed`,
/// `count` (variants, seeds seed..seed+count-1), `steps`, `guidance`. Unknown fields, wrong types
/// and out-of-range values are errors (a failed `zbatch::result`) naming `file:line`, the field and
/// the allowed range, worded as every JSON input of the project words them (base/json_reader.hpp),
/// e.g. `b.jsonl:2: seed: -3 is out of range (allowed 0..2147483647)`; null counts as absent. A
/// line without `seed` gets one derived from its prompt and line number (stable across reruns, so a
/// resume finds the same images). Two lines asking for the same image (equal requests, seed
/// included, e.g. through overlapping `count`s) are an error naming both lines: the second would
/// be paid for the same picture. Pure functions; no threading concerns.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.hpp"

#include "protocol/messages.hpp"

namespace zbatch::generate {

/// Most images one batch may hold.
inline constexpr std::size_t max_images = 10000;
/// Most variants of one prompt.
inline constexpr int max_count = 1000;

/// One image of the batch.
struct image_spec {
  std::size_t index = 0;             ///< Position in the batch (journal and manifest key).
  std::size_t line = 0;              ///< Batch file line (1-based); 0 for `--prompt`.
  protocol::submit_request request;  ///< Complete, with its seed; validated.
};

/// The images of one prompt: seeds base_seed .. base_seed + count - 1. `request` must be valid
/// apart from its seed. Fails (invalid_argument, naming --count/--seed) when a seed leaves
/// 0..2^31-1.
result<std::vector<image_spec>> prompt_images(const protocol::submit_request& request, int count,
                                              std::int64_t base_seed);

/// Reads and checks a batch file; `model` goes into every request. Fails (invalid_argument)
/// naming `FILE:LINE`, the field and what is allowed, or the file when it cannot be read.
result<std::vector<image_spec>> batch_file_images(const std::filesystem::path& file,
                                                  const std::string& model);

/// The inputs as the journal's options object: for one prompt {"mode":"prompt", "model",
/// "prompt", "count", "seed", "size", ...}; for a batch file {"mode":"batch", "model",
/// "images": {"0": {...}, ...}}. Equal objects mean the same images.
nlohmann::json options_json(const std::vector<image_spec>& images, bool from_batch_file,
                            int count = 0);

/// The options an existing `dir/journal.jsonl` was started with (its first header), if any.
std::optional<nlohmann::json> journal_options(const std::filesystem::path& dir);

/// "png", "jpg", "webp" or "bin", from the image's magic bytes.
std::string image_extension(std::string_view bytes);

/// The image's file name inside the output directory: "<index>-<seed>.<ext>".
std::string image_file_name(const image_spec& image, std::string_view extension);

}  // namespace zbatch::generate
