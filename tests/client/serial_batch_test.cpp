// The serial batch against the mock: files, manifest, digests; failures recorded per image.
#include "client/serial_batch.hpp"

#include <fstream>
#include <sstream>

#include "client/digest.hpp"
#include "tests/client/mock_fixture.hpp"
#include "tests/client/png_check.hpp"
#include "tests/client/temp_dir.hpp"

namespace zbatch::client {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

batch_spec spec_in(const std::filesystem::path& dir, int count) {
  batch_spec spec;
  spec.request.prompt = "three foxes";
  spec.request.size = protocol::image_size{1024, 576};
  spec.count = count;
  spec.base_seed = 100;
  spec.out_dir = dir / "out";
  spec.base_url = "http://127.0.0.1";
  spec.job.poll_interval = std::chrono::milliseconds{20};
  spec.job.max_poll_interval = std::chrono::milliseconds{20};
  return spec;
}

class SerialBatch : public test::mock_fixture {};

TEST_F(SerialBatch, WritesImagesAndAManifestThatMatchesThem) {
  test::temp_dir dir;
  auto api = backend();
  wall_clock clock;
  auto spec = spec_in(dir.path(), 3);
  int reported = 0;
  auto outcome = run_serial_batch(*api, spec, clock, [&](const batch_image& image) {
    EXPECT_EQ(image.index, reported++);
    // Reported after the file and the manifest are on disk.
    EXPECT_TRUE(std::filesystem::exists(spec.out_dir / image.file));
    EXPECT_TRUE(std::filesystem::exists(spec.out_dir / "manifest.json"));
  });
  EXPECT_EQ(reported, 3);
  EXPECT_EQ(outcome.delivered, 3);
  EXPECT_EQ(outcome.failed, 0);

  auto manifest = nlohmann::json::parse(read_all(spec.out_dir / "manifest.json"));
  EXPECT_EQ(manifest["count"], 3);
  EXPECT_EQ(manifest["delivered"], 3);
  EXPECT_EQ(manifest["prompt"], "three foxes");
  EXPECT_EQ(manifest["size"], "1024x576");
  ASSERT_EQ(manifest["images"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& entry = manifest["images"][i];
    EXPECT_EQ(entry["index"], i);
    EXPECT_EQ(entry["seed"], 100 + i);
    EXPECT_EQ(entry["file"], std::to_string(i) + "-" + std::to_string(100 + i) + ".png");
    EXPECT_EQ(entry["status"], "delivered");
    EXPECT_TRUE(entry["error_class"].is_null());
    EXPECT_TRUE(entry["task_id"].is_string());
    EXPECT_GE(entry["latency_ms"].get<std::int64_t>(), 0);
    const auto bytes = read_all(spec.out_dir / entry["file"].get<std::string>());
    EXPECT_EQ(entry["bytes"], bytes.size());
    EXPECT_EQ(entry["sha256"], sha256_hex(bytes));
    auto png = test::check_png(bytes);
    EXPECT_TRUE(png.ok) << png.problem;
    EXPECT_EQ(png.width, 1024);
    EXPECT_EQ(png.height, 576);
  }
  EXPECT_NE(manifest["images"][0]["sha256"], manifest["images"][1]["sha256"]);
  // The manifest never holds the key.
  EXPECT_EQ(read_all(spec.out_dir / "manifest.json").find("test-key"), std::string::npos);
}

TEST_F(SerialBatch, FailuresAreRecordedWithTheirClass) {
  auto config = test::fast_config();
  config.faults.task.moderation = 1.0;
  model().replace_config(config);
  test::temp_dir dir;
  auto api = backend();
  wall_clock clock;
  auto spec = spec_in(dir.path(), 2);
  auto outcome = run_serial_batch(*api, spec, clock);
  EXPECT_EQ(outcome.delivered, 0);
  EXPECT_EQ(outcome.failed, 2);
  auto manifest = nlohmann::json::parse(read_all(spec.out_dir / "manifest.json"));
  for (const auto& entry : manifest["images"]) {
    EXPECT_EQ(entry["status"], "failed");
    EXPECT_EQ(entry["error_class"], "moderation");
    EXPECT_TRUE(entry["file"].is_null());
    EXPECT_NE(entry["message"].get<std::string>().find("inappropriate"), std::string::npos);
    EXPECT_EQ(entry["bytes"], 0);
  }
  // Only the manifest was written.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(spec.out_dir),
                          std::filesystem::directory_iterator{}),
            1);
}

TEST(ImageExtension, FromMagicBytes) {
  EXPECT_EQ(image_extension(std::string("\x89PNG\r\n\x1a\n....", 12)), "png");
  EXPECT_EQ(image_extension("\xff\xd8\xff\xe0...."), "jpg");
  EXPECT_EQ(image_extension(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "webp");
  EXPECT_EQ(image_extension("GIF89a"), "bin");
  EXPECT_EQ(image_extension(""), "bin");
}

}  // namespace
}  // namespace zbatch::client
