#include "client/serial_batch.hpp"

#include "client/atomic_file.hpp"

namespace zbatch::client {
namespace {

nlohmann::json image_entry(const batch_image& image) {
  const auto& r = image.record;
  nlohmann::json entry{
      {"index", image.index},
      {"seed", r.seed},
      {"task_id", r.task_id.empty() ? nlohmann::json() : nlohmann::json(r.task_id)},
      {"file", image.file.empty() ? nlohmann::json() : nlohmann::json(image.file)},
      {"bytes", r.bytes},
      {"sha256", r.sha256.empty() ? nlohmann::json() : nlohmann::json(r.sha256)},
      {"latency_ms", r.latency_ms},
      {"status", r.delivered ? "delivered" : "failed"},
      {"error_class", nullptr},
      {"message", nullptr},
      {"request_id", nullptr},
      {"attempts", r.attempts},
      {"polls", r.polls},
  };
  if (r.error) {
    entry["error_class"] = std::string(protocol::to_string(r.error->kind));
    entry["message"] = r.error->describe();
    if (!r.error->request_id.empty()) {
      entry["request_id"] = r.error->request_id;
    }
  }
  return entry;
}

}  // namespace

std::string image_extension(std::string_view bytes) {
  if (bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return "png";
  }
  if (bytes.substr(0, 3) == "\xff\xd8\xff") {
    return "jpg";
  }
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") {
    return "webp";
  }
  return "bin";
}

nlohmann::json manifest_json(const batch_spec& spec, const batch_outcome& outcome) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& image : outcome.images) {
    images.push_back(image_entry(image));
  }
  return nlohmann::json{
      {"prompt", spec.request.prompt},
      {"model", spec.request.model},
      {"size",
       spec.request.size ? nlohmann::json(spec.request.size->to_string()) : nlohmann::json()},
      {"base_url", spec.base_url},
      {"base_seed", spec.base_seed},
      {"count", spec.count},
      {"delivered", outcome.delivered},
      {"failed", outcome.failed},
      {"total_ms", outcome.total_ms},
      {"images", images},
  };
}

batch_outcome run_serial_batch(backend& api, const batch_spec& spec, job_clock& clock,
                               const std::function<void(const batch_image&)>& on_image) {
  batch_outcome outcome;
  const auto start = clock.now();
  std::filesystem::create_directories(spec.out_dir);
  for (int index = 0; index < spec.count; ++index) {
    auto request = spec.request;
    request.seed = spec.base_seed + index;
    batch_image image;
    image.index = index;
    image.record = run_image_job(api, request, spec.job, clock);
    if (image.record.delivered) {
      image.file = std::to_string(index) + "-" + std::to_string(*request.seed) + "." +
                   image_extension(image.record.image);
      write_file_atomic(spec.out_dir / image.file, image.record.image);
      ++outcome.delivered;
    } else {
      ++outcome.failed;
    }
    outcome.total_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - start).count();
    outcome.images.push_back(std::move(image));
    write_file_atomic(spec.out_dir / "manifest.json", manifest_json(spec, outcome).dump(2) + "\n");
    if (on_image) {
      on_image(outcome.images.back());
    }
    // The bytes are on disk now; keep only the size and digest in memory.
    std::string().swap(outcome.images.back().record.image);
  }
  return outcome;
}

}  // namespace zbatch::client
