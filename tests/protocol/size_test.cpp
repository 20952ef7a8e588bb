// Size strings, per-side limits and aspect presets at base sizes.
#include "protocol/size.hpp"

#include <string>

#include <gtest/gtest.h>

namespace zbatch::protocol {
namespace {

TEST(ParseSize, AcceptsWxHAndVariants) {
  EXPECT_EQ(parse_size("1024x1024"), (image_size{1024, 1024}));
  EXPECT_EQ(parse_size("512X2048"), (image_size{512, 2048}));
  EXPECT_EQ(parse_size("768*1024"), (image_size{768, 1024}));
  EXPECT_EQ(parse_size("2048x512"), (image_size{2048, 512}));
  EXPECT_EQ(image_size({1024, 576}).to_string(), "1024x576");
}

TEST(ParseSize, RejectsMalformedWithAReason) {
  for (const char* bad : {"", "1024", "x1024", "1024x", "axb", "-512x512", " 1024x1024",
                          "1024x1024x1", "1024 x 1024", "10000000x512", "1e3x512"}) {
    std::string why;
    EXPECT_EQ(parse_size(bad, &why), std::nullopt) << bad;
    EXPECT_NE(why.find("WIDTHxHEIGHT"), std::string::npos) << bad << ": " << why;
  }
}

TEST(ParseSize, RejectsSidesOutsideLimits) {
  for (const char* bad : {"511x1024", "1024x511", "2049x1024", "1024x2049", "0x0"}) {
    std::string why;
    EXPECT_EQ(parse_size(bad, &why), std::nullopt) << bad;
    EXPECT_NE(why.find("allowed 512..2048"), std::string::npos) << why;
  }
  EXPECT_EQ(check_size({512, 512}), "");
  EXPECT_EQ(check_size({2048, 2048}), "");
  EXPECT_NE(check_size({511, 512}).find("width"), std::string::npos);
  EXPECT_NE(check_size({512, 2049}).find("height"), std::string::npos);
}

TEST(AspectRatio, ListedInCliOrder) {
  EXPECT_EQ(aspect_ratios(), (std::vector<std::string>{"1:1", "9:16", "16:9"}));
}

TEST(AspectRatio, LongSideIsTheBase) {
  EXPECT_EQ(size_for_aspect("1:1", 1024), (image_size{1024, 1024}));
  EXPECT_EQ(size_for_aspect("16:9", 1024), (image_size{1024, 576}));
  EXPECT_EQ(size_for_aspect("9:16", 1024), (image_size{576, 1024}));
  EXPECT_EQ(size_for_aspect("16:9", 2048), (image_size{2048, 1152}));
  EXPECT_EQ(size_for_aspect("9:16", 1536), (image_size{864, 1536}));
  EXPECT_EQ(size_for_aspect("1:1", 512), (image_size{512, 512}));
}

TEST(AspectRatio, ShortSideTruncatesAndMustStayInRange) {
  // 911 * 9 / 16 = 512.4 -> 512: the smallest base that works for 16:9.
  EXPECT_EQ(size_for_aspect("16:9", 911), (image_size{911, 512}));
  std::string why;
  EXPECT_EQ(size_for_aspect("16:9", 910, &why), std::nullopt);
  EXPECT_NE(why.find("910x511"), std::string::npos) << why;
  EXPECT_NE(why.find("512..2048"), std::string::npos) << why;
  EXPECT_EQ(size_for_aspect("9:16", 800, &why), std::nullopt);
  EXPECT_NE(why.find("450x800"), std::string::npos) << why;
}

TEST(AspectRatio, BaseOutsideLimitsOrUnknownRatio) {
  std::string why;
  EXPECT_EQ(size_for_aspect("1:1", 2049, &why), std::nullopt);
  EXPECT_NE(why.find("2049"), std::string::npos);
  EXPECT_EQ(size_for_aspect("1:1", 511, &why), std::nullopt);
  EXPECT_EQ(size_for_aspect("4:3", 1024, &why), std::nullopt);
  EXPECT_NE(why.find("allowed 1:1, 9:16, 16:9"), std::string::npos) << why;
}

}  // namespace
}  // namespace zbatch::protocol
