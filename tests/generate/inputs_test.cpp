// Batch inputs, the quota-reset assumption and the progress styles.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "generate/inputs.hpp"
#include "generate/progress.hpp"
#include "generate/session.hpp"

namespace zbatch::generate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class inputs_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zbatch_inputs_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    const auto path = dir_ / "batch.jsonl";
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

TEST_F(inputs_test, a_batch_file_expands_counts_and_keeps_its_lines) {
  const auto file = write(
      "{\"prompt\": \"a\", \"count\": 3, \"seed\": 7, \"steps\": 9, \"guidance\": 2.5}\n"
      "\n"
      "{\"prompt\": \"b\", \"aspect\": \"9:16\", \"base_size\": 1536}\r\n");
  const auto images = batch_file_images(file, "m").value();
  ASSERT_EQ(images.size(), 4u);
  EXPECT_EQ(images[2].index, 2u);
  EXPECT_EQ(images[2].request.seed, 9);
  EXPECT_EQ(images[2].request.steps, 9);
  EXPECT_EQ(images[0].request.guidance, 2.5);
  EXPECT_EQ(images[3].line, 3u);
  EXPECT_EQ(images[3].request.model, "m");
  EXPECT_EQ(images[3].request.size->to_string(), "864x1536");
  // No seed: derived from the prompt and line, the same on every read and every version (a
  // journaled batch resumes only with the same seeds).
  EXPECT_EQ(images[3].request.seed, 1615024536);
  EXPECT_EQ(batch_file_images(file, "m").value()[3].request.seed, images[3].request.seed);
  const auto options = options_json(images, true);
  EXPECT_EQ(options["images"]["3"]["prompt"], "b");
  EXPECT_EQ(options["mode"], "batch");
}

TEST_F(inputs_test, errors_name_file_line_and_field) {
  const auto file =
      write("{\"prompt\": \"a\"}\n{\"prompt\": \"a\", \"seed\": 2147483647, \"count\": 2}\n");
  const std::string what = batch_file_images(file, "m").status().message();
  EXPECT_NE(what.find(file.string() + ":2: seed:"), std::string::npos) << what;
  EXPECT_NE(what.find("0..2147483646"), std::string::npos) << what;
  EXPECT_FALSE(batch_file_images(write("{\"prompt\": 3}\n"), "m").ok());
  EXPECT_EQ(batch_file_images(write("{\"prompt\": \"a\", \"steps\": \"nine\"}\n"), "m")
                .status()
                .message(),
            (dir_ / "batch.jsonl").string() +
                ":1: steps: must be an integer (allowed 1..100), got \"nine\"");
  EXPECT_FALSE(batch_file_images(write("[1]\n"), "m").ok());
  EXPECT_FALSE(batch_file_images(dir_ / "missing.jsonl", "m").ok());
  EXPECT_FALSE(batch_file_images(write("{\"prompt\": \"a\", \"base_size\": 1024}\n"), "m").ok());
  // A prompt of only whitespace would be sent and paid for: refused naming line and field.
  const std::string blank =
      batch_file_images(write("{\"prompt\": \"a\"}\n{\"prompt\": \" \\t \"}\n"), "m")
          .status()
          .message();
  EXPECT_EQ(blank.rfind(file.string() + ":2: prompt:", 0), 0u) << blank;
  EXPECT_NE(blank.find("only whitespace"), std::string::npos) << blank;
  // Unicode's spaces too (U+3000, U+00A0): a new user's prompt of ideographic spaces passed.
  const std::string wide =
      batch_file_images(write("{\"prompt\": \"\u3000\u00a0\"}\n"), "m").status().message();
  EXPECT_NE(wide.find(":1: prompt: holds only whitespace"), std::string::npos) << wide;
  // A directory is named as one.
  const std::string directory = batch_file_images(dir_, "m").status().message();
  EXPECT_NE(directory.find("is a directory"), std::string::npos) << directory;
}

// A new user's check: two equal lines made two paid tasks for one picture, without a word.
TEST_F(inputs_test, two_lines_asking_for_the_same_image_name_both_lines) {
  auto file = write(
      "{\"prompt\": \"a\", \"seed\": 1}\n{\"prompt\": \"b\", \"seed\": 1}\n\n"
      "{\"prompt\": \"a\", \"seed\": 1}\n");
  EXPECT_EQ(batch_file_images(file, "m").status().message(),
            file.string() +
                ":4: the same image as line 1 (same prompt, seed 1, size and model): it would be "
                "paid twice for one picture; remove it or give it another seed");
  // Through overlapping counts too (seeds 3..5 and 5), and the same size written another way.
  file = write(
      "{\"prompt\": \"a\", \"seed\": 3, \"count\": 3}\n"
      "{\"prompt\": \"a\", \"seed\": 5, \"aspect\": \"1:1\"}\n");
  const std::string overlap = batch_file_images(file, "m").status().message();
  EXPECT_NE(overlap.find(":2: the same image as line 1 (same prompt, seed 5,"), std::string::npos)
      << overlap;
  // Any other field differing is another image; lines without a seed get their own.
  file = write(
      "{\"prompt\": \"a\", \"seed\": 1}\n{\"prompt\": \"a\", \"seed\": 1, \"steps\": 9}\n"
      "{\"prompt\": \"a\", \"seed\": 1, \"size\": \"768x1024\"}\n"
      "{\"prompt\": \"a\", \"seed\": 1, \"model\": \"other/model\"}\n"
      "{\"prompt\": \"a\", \"seed\": 1, \"negative_prompt\": \"x\"}\n"
      "{\"prompt\": \"a\"}\n{\"prompt\": \"a\"}\n");
  const auto images = batch_file_images(file, "m");
  ASSERT_TRUE(images.ok()) << images.status().message();
  EXPECT_EQ(images->size(), 7u);
}

// A new user's check: "0x0" said only "has a side of 0 pixels" and "99999999999x1024" "is not
// of the form WIDTHxHEIGHT": both of the right form, out of the model's range, which is named.
TEST_F(inputs_test, a_size_of_zero_or_too_many_digits_names_the_models_range) {
  const auto file = dir_ / "batch.jsonl";
  const std::string zero = batch_file_images(write("{\"prompt\": \"a\", \"size\": \"0x0\"}\n"),
                                             "Tongyi-MAI/Z-Image-Turbo")
                               .status()
                               .message();
  EXPECT_EQ(zero, file.string() +
                      ":1: size: size \"0x0\": width 0 is out of range for "
                      "Tongyi-MAI/Z-Image-Turbo (allowed 512..2048)");
  const std::string huge =
      batch_file_images(write("{\"prompt\": \"a\", \"size\": \"1024x99999999999\"}\n"),
                        "Tongyi-MAI/Z-Image-Turbo")
          .status()
          .message();
  EXPECT_NE(huge.find("height 99999999999 is out of range for Tongyi-MAI/Z-Image-Turbo (allowed "
                      "512..2048)"),
            std::string::npos)
      << huge;
}

// A new user's check: a seed written 2.147483647e9 was refused as not an integer.
TEST_F(inputs_test, a_whole_seed_written_with_an_exponent_is_read) {
  const auto file = write(
      "{\"prompt\": \"a\", \"seed\": 2.147483647e9}\n{\"prompt\": \"b\", \"seed\": 1e3, "
      "\"count\": 2E0}\n");
  const auto images = batch_file_images(file, "m").value();
  ASSERT_EQ(images.size(), 3u);
  EXPECT_EQ(images[0].request.seed, 2147483647);
  EXPECT_EQ(images[2].request.seed, 1001);
  EXPECT_EQ(
      batch_file_images(write("{\"prompt\": \"a\", \"seed\": 1.5e0}\n"), "m").status().message(),
      file.string() + ":1: seed: must be an integer (allowed 0..2147483647), got 1.5");
}

// A new user's check: a line holding 1E400 said "not a JSON object", then not the field.
TEST_F(inputs_test, a_number_too_large_names_line_column_and_field) {
  const auto file = write("{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"count\": 1E400}\n");
  EXPECT_EQ(batch_file_images(file, "m").status().message(),
            file.string() +
                ":2:26: count: the number 1E400 is too large (a number goes up to about "
                "1.8e+308)");
  EXPECT_EQ(
      batch_file_images(write("{\"prompt\": \"a\", \"count\": 99999999999999999999999}\n"), "m")
          .status()
          .message(),
      file.string() + ":1: count: 1e+23 is out of range (allowed 1..1000)");
  // A line that is no object at all gets the example.
  const std::string text = batch_file_images(write("a red fox\n"), "m").status().message();
  EXPECT_EQ(text.rfind(file.string() + ":1:", 0), 0u) << text;
  EXPECT_NE(text.find("not valid JSON"), std::string::npos) << text;
  EXPECT_NE(text.find("one object per line"), std::string::npos) << text;
  EXPECT_EQ(batch_file_images(write("[1]\n"), "m").status().message(),
            file.string() +
                ":1: not a JSON object (one object per line, e.g. {\"prompt\": \"a red fox\", "
                "\"count\": 2})");
}

TEST_F(inputs_test, prompt_images_use_consecutive_seeds_and_refuse_overflow) {
  protocol::submit_request request;
  request.prompt = "p";
  const auto images = prompt_images(request, 3, 10).value();
  EXPECT_EQ(images[2].request.seed, 12);
  EXPECT_EQ(image_file_name(images[2], "png"), "2-12.png");
  EXPECT_FALSE(prompt_images(request, 2, protocol::max_seed).ok());
  EXPECT_FALSE(prompt_images(request, 0, 1).ok());
  EXPECT_EQ(options_json(images, false, 3)["seed"], 10);
}

TEST_F(inputs_test, journal_options_reads_the_first_header) {
  EXPECT_FALSE(journal_options(dir_).has_value());
  { ASSERT_TRUE(journal::open(dir_, json{{"seed", 42}}).ok()); }
  EXPECT_EQ((*journal_options(dir_))["seed"], 42);
}

TEST(quota_reset, is_the_next_midnight_of_utc_plus_8) {
  using namespace std::chrono;
  // 2024-01-01T15:59:59Z is 23:59:59 in UTC+8: the reset is one second later.
  const system_clock::time_point before{seconds(1704124799)};
  EXPECT_EQ(iso_utc(next_quota_reset(before)), "2024-01-01T16:00:00Z");
  // Exactly at the reset, the next one is a day later.
  const system_clock::time_point at{seconds(1704124800)};
  EXPECT_EQ(iso_utc(next_quota_reset(at)), "2024-01-02T16:00:00Z");
  const system_clock::time_point morning{seconds(1704096000)};  // 08:00Z = 16:00 UTC+8
  EXPECT_EQ(iso_utc(next_quota_reset(morning)), "2024-01-01T16:00:00Z");
}

TEST(progress, lines_and_json_styles) {
  std::ostringstream lines_out;
  progress_renderer lines(lines_out, progress_style::lines);
  lines.start(2, 1, 0, 1, "http://127.0.0.1:1", "bounded");
  lines.delivered(1, 11, "1-11.png", 100, 1500);
  lines.failed(0, 10, "moderation", "no");
  EXPECT_NE(lines_out.str().find("delivered  1.5 s  1-11.png (100 bytes)"), std::string::npos)
      << lines_out.str();
  EXPECT_NE(lines_out.str().find("FAILED     moderation: no"), std::string::npos);

  std::ostringstream json_out;
  progress_renderer events(json_out, progress_style::json);
  events.start(2, 0, 0, 2, "e", "s");
  actors::progress_event event;
  event.total = 2;
  event.delivered = 1;
  event.in_flight = 1;
  event.eta_ms = 2000;
  events.progress(event);
  events.notice("quota", "stop");
  std::istringstream in(json_out.str());
  std::string line;
  std::vector<std::string> kinds;
  while (std::getline(in, line)) {
    const auto item = json::parse(line);
    kinds.push_back(item["event"]);
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"start", "progress", "notice"}));

  std::ostringstream bar_out;
  progress_renderer bar(bar_out, progress_style::bar);
  progress_options wide;
  wide.width = [] { return std::size_t{200}; };
  bar.configure(wide);
  bar.start(4, 1, 0, 3, "e", "s");
  event.total = 3;
  event.http_429 = 2;
  event.retries = 1;
  bar.progress(event);
  EXPECT_NE(bar_out.str().find("2/4 done, 1 in flight"), std::string::npos) << bar_out.str();
  EXPECT_NE(bar_out.str().find("ETA 2s, 429s 2, retries 1"), std::string::npos) << bar_out.str();
  EXPECT_EQ(format_duration(65000), "1m05s");
}

}  // namespace
}  // namespace zbatch::generate
