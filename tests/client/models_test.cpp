// The model catalogue over sockets: the client's http_backend against the mock server. Other
// models' size rules, `loras` and `image_url` where a model takes them (and refusals where not),
// images downloaded from the mock's second origin as PNG and as JPEG.

#include <string>

#include <gtest/gtest.h>

#include "client/http_backend.hpp"
#include "protocol/models.hpp"
#include "protocol/wire.hpp"
#include "tests/cli/process.hpp"
#include "tests/client/mock_fixture.hpp"

namespace zbatch {
namespace {

constexpr const char* turbo = "Tongyi-MAI/Z-Image-Turbo";
constexpr const char* qwen = "Qwen/Qwen-Image";
constexpr const char* flux = "black-forest-labs/FLUX.2-dev";
constexpr const char* edit = "Qwen/Qwen-Image-Edit";

protocol::submit_request request_for(const std::string& model, int width, int height) {
  protocol::submit_request request;
  request.model = model;
  request.prompt = "a lighthouse";
  request.seed = 7;
  request.size = protocol::image_size{width, height};
  return request;
}

protocol::lora_set weighted(std::vector<std::pair<std::string, double>> weights) {
  protocol::lora_set out;
  out.weights = std::move(weights);
  return out;
}

protocol::image_url_value urls(std::vector<std::string> list, bool as_list) {
  return protocol::image_url_value{as_list, std::move(list)};
}

class CatalogueOverSockets : public test::mock_fixture {
 protected:
  /// The submit's answer: "" when accepted, else "<status> <message>".
  std::string submit(const protocol::submit_request& request) {
    auto api = backend();
    auto answer = api->submit(request);
    if (answer.ok()) {
      EXPECT_FALSE(answer.value().task_id.empty());
      return "";
    }
    return std::to_string(answer.error().http_status) + " " + answer.error().message;
  }

  /// Submits, waits for SUCCEED and downloads the image; returns it with its URL.
  std::pair<client::downloaded_image, std::string> generate(const protocol::submit_request& r) {
    auto api = backend();
    auto accepted = api->submit(r);
    EXPECT_TRUE(accepted.ok()) << accepted.error().message;
    std::string url;
    EXPECT_TRUE(test::wait_for([&] {
      auto state = api->poll(accepted.value().task_id);
      if (state.ok() && state.value().status == protocol::task_status::succeed) {
        url = state.value().output_images.front();
        return true;
      }
      return false;
    }));
    auto image = api->download(url);
    EXPECT_TRUE(image.ok()) << url << ": " << (image.ok() ? "" : image.error().message);
    return {image.ok() ? image.value() : client::downloaded_image{}, url};
  }
};

TEST_F(CatalogueOverSockets, EveryDefaultModelIsAcceptedAndAnUnknownOneIs404) {
  for (const char* model : {turbo, qwen, flux}) {
    EXPECT_EQ(submit(request_for(model, 1024, 1024)), "") << model;
  }
  auto with_image = request_for(edit, 1024, 1024);
  with_image.image_url = urls({"https://example.com/in.png"}, false);
  EXPECT_EQ(submit(with_image), "");
  const auto unknown = submit(request_for("someone/Not-A-Model", 1024, 1024));
  EXPECT_EQ(unknown.rfind("404 ", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("Model not found: someone/Not-A-Model"), std::string::npos) << unknown;
}

TEST_F(CatalogueOverSockets, OtherModelsSizeRules) {
  // Qwen-Image: sides 64..1664; FLUX: 64..1024; Z-Image-Turbo: 512..2048.
  EXPECT_EQ(submit(request_for(qwen, 64, 1664)), "");
  EXPECT_EQ(submit(request_for(flux, 64, 1024)), "");
  EXPECT_EQ(submit(request_for(turbo, 2048, 512)), "");
  struct refused {
    const char* model;
    int width;
    int height;
    const char* allowed;
  };
  for (const auto& r :
       {refused{qwen, 2048, 1024, "64..1664"}, refused{qwen, 1024, 63, "64..1664"},
        refused{flux, 1280, 1024, "64..1024"}, refused{turbo, 256, 256, "512..2048"}}) {
    const auto answer = submit(request_for(r.model, r.width, r.height));
    EXPECT_EQ(answer.rfind("400 ", 0), 0u) << r.model << " " << answer;
    EXPECT_NE(answer.find("size"), std::string::npos) << answer;
    EXPECT_NE(answer.find(std::string("for ") + r.model + " (allowed " + r.allowed + ")"),
              std::string::npos)
        << answer;
  }
  EXPECT_EQ(model().stats()["requests"]["submit"]["400"], 4);
}

TEST_F(CatalogueOverSockets, LorasOnlyForTheModelsThatTakeThem) {
  auto one = request_for(qwen, 1024, 1024);
  one.loras = protocol::lora_set{true, {{"someone/ink-lora", 1.0}}};
  EXPECT_EQ(submit(one), "");
  auto two = request_for(flux, 1024, 1024);
  two.loras = weighted({{"a/lora", 0.6}, {"b/lora", 0.4}});
  EXPECT_EQ(submit(two), "");

  auto on_turbo = request_for(turbo, 1024, 1024);
  on_turbo.loras = weighted({{"a/lora", 1.0}});
  const auto refused = submit(on_turbo);
  EXPECT_EQ(refused.rfind("400 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("loras is not taken by Tongyi-MAI/Z-Image-Turbo"), std::string::npos)
      << refused;

  auto bad_sum = request_for(qwen, 1024, 1024);
  bad_sum.loras = weighted({{"a/lora", 0.6}, {"b/lora", 0.6}});
  EXPECT_NE(submit(bad_sum).find("sum of 1.0"), std::string::npos);
  auto seven = request_for(qwen, 1024, 1024);
  seven.loras = weighted(
      {{"a", 0.1}, {"b", 0.1}, {"c", 0.1}, {"d", 0.1}, {"e", 0.1}, {"f", 0.1}, {"g", 0.4}});
  EXPECT_NE(submit(seven).find("allowed 1..6"), std::string::npos);
}

TEST_F(CatalogueOverSockets, ImageUrlAsStringOrListPerModel) {
  auto edit_string = request_for(edit, 1024, 1024);
  edit_string.image_url = urls({"https://example.com/in.png"}, false);
  EXPECT_EQ(submit(edit_string), "");
  auto flux_list = request_for(flux, 1024, 1024);
  flux_list.image_url = urls({"https://example.com/a.png", "https://example.com/b.png"}, true);
  EXPECT_EQ(submit(flux_list), "");

  auto edit_without = request_for(edit, 1024, 1024);
  EXPECT_NE(submit(edit_without).find("image_url is required for Qwen/Qwen-Image-Edit"),
            std::string::npos);
  auto edit_list = request_for(edit, 1024, 1024);
  edit_list.image_url = urls({"https://example.com/a.png"}, true);
  EXPECT_NE(submit(edit_list).find("must be a URL string"), std::string::npos);
  auto turbo_image = request_for(turbo, 1024, 1024);
  turbo_image.image_url = urls({"https://example.com/a.png"}, false);
  const auto refused = submit(turbo_image);
  EXPECT_EQ(refused.rfind("400 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("image_url is not taken by Tongyi-MAI/Z-Image-Turbo"), std::string::npos);
  auto too_many = request_for(flux, 1024, 1024);
  too_many.image_url = urls({"u1", "u2", "u3", "u4", "u5"}, true);
  EXPECT_NE(submit(too_many).find("allowed 1..4"), std::string::npos);
}

TEST_F(CatalogueOverSockets, PngFromTheSecondOrigin) {
  ASSERT_GT(server_->images_port(), 0);
  ASSERT_NE(server_->images_port(), server_->port());
  const auto [image, url] = generate(request_for(qwen, 640, 320));
  EXPECT_EQ(url.rfind(server_->images_url() + "/images/", 0), 0u) << url;
  EXPECT_EQ(url.substr(url.size() - 4), ".png");
  ASSERT_TRUE(image.info);
  EXPECT_EQ(image.info->format, client::image_format::png);
  EXPECT_EQ(image.info->width, 640);
  EXPECT_EQ(image.info->height, 320);
  EXPECT_EQ(image.content_type, "image/png");
}

TEST_F(CatalogueOverSockets, JpegFromTheSecondOrigin) {
  auto config = test::fast_config();
  config.images.format = "jpeg";
  model().replace_config(config);
  const auto [image, url] = generate(request_for(turbo, 768, 512));
  EXPECT_EQ(url.rfind(server_->images_url() + "/images/", 0), 0u) << url;
  EXPECT_EQ(url.substr(url.size() - 5), ".jpeg");
  ASSERT_TRUE(image.info);
  EXPECT_EQ(image.info->format, client::image_format::jpeg);
  EXPECT_EQ(image.info->width, 768);
  EXPECT_EQ(image.info->height, 512);
  EXPECT_EQ(image.content_type, "image/jpeg");
}

TEST_F(CatalogueOverSockets, TheImagesOriginServesOnlyImages) {
  httplib::Client images(server_->images_url());
  auto answer = images.Get("/v1/tasks/anything");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
  EXPECT_EQ(model().stats()["requests"].count("poll"), 0u);
}

}  // namespace
}  // namespace zbatch
