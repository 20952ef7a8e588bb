// The served image is a real PNG: signature, IHDR of the requested size, CRC-checked chunks,
// an IDAT that inflates to exactly the scanlines; pixels depend on (prompt, seed, size).
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mock_api/png.hpp"
#include "tests/mock_api/fixture.hpp"

namespace zbatch::mock::testing {
namespace {

std::uint32_t be32(const std::string& data, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(data[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + 3]));
}

struct decoded_png {
  bool ok = false;
  std::string error;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<std::string> chunks;
  std::string raw;  // inflated IDAT
};

decoded_png decode(const std::string& png) {
  decoded_png out;
  if (png.size() < 8 || png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0) {
    out.error = "bad signature";
    return out;
  }
  std::string idat;
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::uint32_t length = be32(png, at);
    if (at + 12 + length > png.size()) {
      out.error = "chunk overruns the file";
      return out;
    }
    const std::string type = png.substr(at + 4, 4);
    const std::uint32_t crc = be32(png, at + 8 + length);
    const auto computed =
        crc32(crc32(0, Z_NULL, 0), reinterpret_cast<const Bytef*>(png.data() + at + 4), 4 + length);
    if (computed != crc) {
      out.error = "bad CRC in " + type;
      return out;
    }
    out.chunks.push_back(type);
    if (type == "IHDR") {
      out.width = be32(png, at + 8);
      out.height = be32(png, at + 12);
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, length);
    }
    at += 12 + length;
  }
  if (at != png.size()) {
    out.error = "trailing bytes";
    return out;
  }
  uLongf size = static_cast<uLongf>(out.height) * (1 + 3 * out.width);
  out.raw.resize(size);
  if (uncompress(reinterpret_cast<Bytef*>(out.raw.data()), &size,
                 reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      size != out.raw.size()) {
    out.error = "IDAT does not inflate to height * (1 + 3 * width) bytes";
    return out;
  }
  out.ok = true;
  return out;
}

TEST(png, encoder_writes_a_valid_file) {
  const auto png = render_png("a lighthouse", 7, 512, 768);
  const auto decoded = decode(png);
  ASSERT_TRUE(decoded.ok) << decoded.error;
  EXPECT_EQ(decoded.width, 512u);
  EXPECT_EQ(decoded.height, 768u);
  EXPECT_EQ(decoded.chunks, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  for (std::size_t row = 0; row < decoded.height; ++row) {
    EXPECT_LE(static_cast<unsigned char>(decoded.raw[row * (1 + 3 * 512)]), 4) << row;
  }
}

TEST(png, pixels_are_a_function_of_prompt_seed_and_size) {
  EXPECT_EQ(render_png("p", 1, 512, 512), render_png("p", 1, 512, 512));
  EXPECT_NE(render_png("p", 1, 512, 512), render_png("p", 2, 512, 512));
  EXPECT_NE(render_png("p", 1, 512, 512), render_png("q", 1, 512, 512));
  EXPECT_NE(decode(render_png("p", 1, 512, 512)).raw, decode(render_png("p", 1, 512, 576)).raw);
}

TEST(png, odd_sizes_decode) {
  for (auto [w, h] : {std::pair{513, 2048}, std::pair{2048, 999}, std::pair{1, 1}}) {
    const auto decoded = decode(render_png("x", 3, w, h));
    ASSERT_TRUE(decoded.ok) << w << "x" << h << ": " << decoded.error;
    EXPECT_EQ(decoded.width, static_cast<std::uint32_t>(w));
    EXPECT_EQ(decoded.height, static_cast<std::uint32_t>(h));
  }
}

class png_server_test : public mock_fixture {};

TEST_F(png_server_test, served_image_decodes_at_the_requested_size) {
  start(quiet_config());
  for (const std::string size : {"", "1024x576", "2048x2048", "512x512"}) {
    const auto id = submit_ok(submit_body("a fox", 5, size));
    advance(60s);
    const auto state = poll_json(id);
    const std::string url = state.at("output_images").at(0);
    auto image = client_->Get(url.substr(server_->base_url().size()).c_str());
    ASSERT_TRUE(image);
    ASSERT_EQ(image->status, 200);
    const auto decoded = decode(image->body);
    ASSERT_TRUE(decoded.ok) << decoded.error;
    const auto expected = size.empty() ? protocol::image_size{} : *protocol::parse_size(size);
    EXPECT_EQ(decoded.width, static_cast<std::uint32_t>(expected.width));
    EXPECT_EQ(decoded.height, static_cast<std::uint32_t>(expected.height));
    EXPECT_EQ(image->body, render_png("a fox", 5, expected.width, expected.height));
  }
}

TEST_F(png_server_test, same_inputs_same_bytes_other_seed_other_image) {
  start(quiet_config());
  const auto a = submit_ok(submit_body("same", 1));
  const auto b = submit_ok(submit_body("same", 1));
  const auto c = submit_ok(submit_body("same", 2));
  advance(60s);
  auto get = [&](const std::string& id) {
    auto res = client_->Get(("/images/" + id + ".png").c_str());
    return res ? res->body : std::string();
  };
  EXPECT_EQ(get(a), get(b));
  EXPECT_NE(get(a), get(c));
  EXPECT_FALSE(get(a).empty());
}

}  // namespace
}  // namespace zbatch::mock::testing
