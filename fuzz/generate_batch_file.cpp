// generate/: the batch-file reader (`zbatch generate --batch FILE.jsonl`). Input: a batch
// file's bytes, written to a scratch file and read by batch_file_images. What it accepts must
// be a batch the service would take: 1..max_images images, indexed in order, each request valid
// by the protocol's own rules, and its journal options object must build.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/scratch.hpp"
#include "fuzz/wire_text.hpp"
#include "generate/inputs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace generate = zbatch::generate;
  using zbatch::fuzz::expect_same;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const auto file = zbatch::fuzz::scratch_dir() / "batch.jsonl";
  zbatch::fuzz::write_file(file, input);
  const auto images = generate::batch_file_images(file, "Tongyi-MAI/Z-Image-Turbo");
  if (!images.ok()) {
    return 0;
  }
  if (images->empty() || images->size() > generate::max_images) {
    expect_same("batch_file_images", std::to_string(images->size()), "1..max_images", input);
  }
  for (std::size_t i = 0; i < images->size(); ++i) {
    const auto& image = (*images)[i];
    if (image.index != i) {
      expect_same("batch_file_images index", std::to_string(image.index), std::to_string(i), input);
    }
    if (const auto error = zbatch::protocol::validate(image.request)) {
      expect_same("batch_file_images request", error->field + ": " + error->message, "valid",
                  input);
    }
  }
  (void)generate::options_json(*images, /*from_batch_file=*/true).dump();
  return 0;
}
