#include "generate/journal.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string_view>

#include <sys/resource.h>
#include <unistd.h>
#include <csignal>

#include <gtest/gtest.h>

namespace zbatch::generate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class journal_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zbatch_journal_" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  json options() const { return json{{"prompt", "a cat"}, {"count", 3}, {"size", "1024x1024"}}; }

  fs::path dir_;
};

TEST_F(journal_test, records_survive_a_reopen) {
  {
    auto opened = journal::open(dir_, options()).value();
    journal& j = *opened;
    EXPECT_EQ(j.previous_runs(), 0);
    EXPECT_TRUE(j.record_submitted(0, 10, "task-a").ok());
    EXPECT_TRUE(j.record_delivered(0, "task-a", "0-10.png", "abc", 42).ok());
    EXPECT_TRUE(j.record_submitted(1, 11, "task-b").ok());
    EXPECT_TRUE(j.record_submitted(2, 12, "task-c").ok());
    EXPECT_TRUE(j.record_failed(2, "task-c", "moderation", "inappropriate", 1).ok());
  }
  auto opened = journal::open(dir_, options()).value();
  journal& j = *opened;
  EXPECT_EQ(j.previous_runs(), 1);
  const auto& images = j.images();
  ASSERT_EQ(images.size(), 3u);
  EXPECT_EQ(images.at(0).last, journaled_image::state::delivered);
  EXPECT_EQ(images.at(0).file, "0-10.png");
  EXPECT_EQ(images.at(0).sha256, "abc");
  EXPECT_EQ(images.at(1).last, journaled_image::state::submitted);
  EXPECT_EQ(images.at(1).task_id, "task-b");
  EXPECT_EQ(images.at(2).last, journaled_image::state::failed);
  EXPECT_EQ(images.at(2).error_class, "moderation");
  EXPECT_EQ(images.at(2).submits, 1);
}

// Issue 17 items 8-9: a journal that cannot be written is an error naming the path and the
// system's own cause, not a guess. The file size limit stands in for a full disk (EFBIG).
// A new user's check: two runs in one directory each resumed the other's images and paid twice
// (5 tasks for 4 images). The second open is refused while the first journal lives.
TEST_F(journal_test, a_second_run_in_the_same_directory_is_refused_while_the_first_runs) {
  auto first = journal::open(dir_, options());
  ASSERT_TRUE(first.ok()) << first.status().message();
  const auto second = journal::open(dir_, options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), status_code::failed_precondition);
  const std::string message{second.status().message()};
  EXPECT_NE(message.find(dir_.string() + ": another zbatch generate (pid " +
                         std::to_string(::getpid()) + ") is running in this directory"),
            std::string::npos)
      << message;
  first->reset();
  EXPECT_TRUE(journal::open(dir_, options()).ok()) << "the lock ends with its journal";
}

TEST_F(journal_test, a_failed_write_names_the_path_and_the_cause) {
  auto opened = journal::open(dir_, options()).value();
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  std::signal(SIGXFSZ, SIG_IGN);  // Fail the write instead of killing the process.
  rlimit small = before;
  small.rlim_cur = static_cast<rlim_t>(fs::file_size(dir_ / "journal.jsonl"));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const auto written = opened->record_submitted(0, 10, "task-a");
  ::setrlimit(RLIMIT_FSIZE, &before);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.message().find("journal.jsonl: write failed: File too large"),
            std::string::npos)
      << written.message();
}

// Issue 17 item 8: a disk that fills in the middle of a line. The kernel writes what fits (here:
// up to the file size limit, half a line), then fails; the torn half is cut off, so a later line
// (the disk back) does not follow it and the journal still loads whole.
TEST_F(journal_test, a_line_torn_by_a_full_disk_is_cut_off_and_later_lines_still_load) {
  {
    auto opened = journal::open(dir_, options()).value();
    ASSERT_TRUE(opened->record_submitted(0, 10, "task-a").ok());
    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = before;
    const auto size = fs::file_size(dir_ / "journal.jsonl");
    small.rlim_cur = static_cast<rlim_t>(size + 20);  // half of the next line fits
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    const auto torn = opened->record_submitted(1, 11, "task-b");
    ::setrlimit(RLIMIT_FSIZE, &before);
    ASSERT_FALSE(torn.ok());
    EXPECT_NE(torn.message().find("File too large"), std::string::npos) << torn.message();
    EXPECT_EQ(fs::file_size(dir_ / "journal.jsonl"), size) << "the torn half was cut off";
    // The disk is back: the next record goes in after the last whole line.
    ASSERT_TRUE(opened->record_submitted(2, 12, "task-c").ok());
  }
  auto opened = journal::open(dir_, options());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  const auto& images = (*opened)->images();
  EXPECT_EQ(images.at(0).task_id, "task-a");
  EXPECT_EQ(images.count(1), 0u) << "the failed record is not in the journal";
  EXPECT_EQ(images.at(2).task_id, "task-c");
}

TEST_F(journal_test, an_injected_fault_fails_the_record_and_leaves_whole_lines) {
  int writes = 0;
  auto faults = [&writes](const fs::path&, std::string_view bytes) -> std::optional<write_fault> {
    if (++writes == 3) {
      return write_fault{bytes.size() / 2, EIO};
    }
    return std::nullopt;
  };
  {
    auto opened = journal::open(dir_, options(), faults).value();   // write 1: the header
    ASSERT_TRUE(opened->record_submitting(0).ok());                 // 2
    const auto failed = opened->record_submitted(0, 10, "task-a");  // 3: fails half-way
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.message().find("journal.jsonl: write failed: Input/output error"),
              std::string::npos)
        << failed.message();
    EXPECT_TRUE(opened->record_submitting(1).ok());  // 4
  }
  auto opened = journal::open(dir_, options());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  // Image 0's submit was written ahead and never closed: possibly paid, never lost.
  EXPECT_EQ((*opened)->images().at(0).possibly_paid, 1);
  EXPECT_EQ((*opened)->images().at(0).submits, 0);
}

TEST_F(journal_test, a_journal_that_is_not_a_regular_file_is_refused) {
  fs::create_directories(dir_);
  fs::create_symlink("/dev/zero", dir_ / "journal.jsonl");
  const auto opened = journal::open(dir_, options());
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("journal.jsonl: is not a regular file"),
            std::string::npos)
      << opened.status().message();
}

// Issue 17: a submit written ahead and never answered in its run (the process died in between)
// counts as possibly paid on load; an answer of any kind closes it.
TEST_F(journal_test, a_submit_written_ahead_without_its_answer_is_possibly_paid_on_load) {
  {
    auto opened = journal::open(dir_, options()).value();
    journal& j = *opened;
    ASSERT_TRUE(j.record_submitting(0).ok());
    ASSERT_TRUE(j.record_submitted(0, 10, "task-a").ok());
    ASSERT_TRUE(j.record_submitting(1).ok());
    ASSERT_TRUE(j.record_refused(1, "dynamic_429", 429, "We have to rate limit you").ok());
    ASSERT_TRUE(j.record_submitting(1).ok());
    ASSERT_TRUE(j.record_possibly_paid(1, 1, "read time-out").ok());
    ASSERT_TRUE(j.record_submitting(2).ok());  // the process dies here
    EXPECT_EQ(j.images().at(2).open_submits, 1);
    EXPECT_EQ(j.images().at(2).possibly_paid, 0) << "not while this run may still answer it";
  }
  auto opened = journal::open(dir_, options()).value();
  const auto& images = opened->images();
  // A refusal says why (a new user's check: the journal could not explain a retry).
  std::ifstream in(dir_ / "journal.jsonl");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(R"("error_class":"dynamic_429","event":"refused","http_status":429,)"
                      R"("index":1,"message":"We have to rate limit you")"),
            std::string::npos)
      << text;
  EXPECT_EQ(images.at(0).submits, 1);
  EXPECT_EQ(images.at(0).possibly_paid, 0);
  EXPECT_EQ(images.at(1).submits, 0);
  EXPECT_EQ(images.at(1).possibly_paid, 1);
  EXPECT_EQ(images.at(2).possibly_paid, 1);
  EXPECT_EQ(images.at(2).open_submits, 0);
  // Whose latest submit lost its answer (a rerun holds them): 1 and 2, not the accepted 0.
  EXPECT_FALSE(images.at(0).answer_lost);
  EXPECT_TRUE(images.at(1).answer_lost);
  EXPECT_TRUE(images.at(2).answer_lost);
  // A later run's answered submit does not close the earlier run's open one.
  ASSERT_TRUE(opened->record_submitting(2).ok());
  ASSERT_TRUE(opened->record_submitted(2, 12, "task-c").ok());
  opened.reset();
  const auto again = journal::open(dir_, options()).value();
  EXPECT_EQ(again->images().at(2).possibly_paid, 1);
  EXPECT_EQ(again->images().at(2).submits, 1);
  EXPECT_FALSE(again->images().at(2).answer_lost) << "a task was accepted since";
}

TEST_F(journal_test, a_torn_last_line_is_dropped) {
  {
    auto opened = journal::open(dir_, options()).value();
    journal& j = *opened;
    EXPECT_TRUE(j.record_submitted(0, 10, "task-a").ok());
  }
  {
    std::ofstream out(dir_ / "journal.jsonl", std::ios::app | std::ios::binary);
    out << R"({"event":"submitted","index":1,"se)";  // the crash came mid-line
  }
  auto opened = journal::open(dir_, options()).value();
  journal& j = *opened;
  EXPECT_EQ(j.images().size(), 1u);
  EXPECT_TRUE(j.record_submitted(1, 11, "task-b").ok());
  opened.reset();
  auto again = journal::open(dir_, options()).value();
  EXPECT_EQ(again->images().at(1).task_id, "task-b");
}

TEST_F(journal_test, other_options_are_refused_naming_the_field) {
  { ASSERT_TRUE(journal::open(dir_, options()).ok()); }
  auto other = options();
  other["size"] = "512x512";
  const auto error = journal::open(dir_, other).status();
  EXPECT_NE(error.message().find("\"size\" differs"), std::string::npos) << error.message();
}

TEST_F(journal_test, a_damaged_line_is_an_error_with_its_line_number) {
  { ASSERT_TRUE(journal::open(dir_, options()).ok()); }
  {
    std::ofstream out(dir_ / "journal.jsonl", std::ios::app | std::ios::binary);
    out << "garbage\n";
  }
  const auto error = journal::open(dir_, options()).status();
  EXPECT_NE(error.message().find("journal.jsonl:2:"), std::string::npos) << error.message();
}

// Found by fuzz/generate_journal.cpp: lines that parse as JSON but are not what the journal
// writes (a header without options, a field of another type, a number beyond int) aborted the
// process (nlohmann's assertion, its type_error) or overflowed a count. They are damage: data_loss
// naming the line, as for a line that is not JSON.
TEST_F(journal_test, a_line_of_the_wrong_shape_is_damage_not_a_crash) {
  const std::string header =
      R"({"event":"header","version":1,"options":{"prompt":"a cat","count":3,"size":"1024x1024"}})";
  for (const std::string& bad : {
           std::string(R"({"event":"header","version":1})"),
           std::string(R"({"event":"header","version":"1","options":{}})"),
           std::string(R"({"event":7,"index":0})"),
           std::string(R"({"event":"submitted","index":"0","task_id":"t"})"),
           std::string(R"({"event":"submitted","index":1e30,"task_id":"t"})"),
           std::string(R"({"event":"submitted","index":0,"task_id":5})"),
           std::string(R"({"event":"possibly_paid","index":0,"count":-1})"),
           std::string(R"({"event":"possibly_paid","index":0,"count":99999999999})"),
           // Rate-limit figures (issue 14's planning lines) of the wrong shape.
           std::string(R"({"event":"ratelimit","endpoint":1,"model":"m","seen_at_ms":0})"),
           std::string(R"({"event":"ratelimit","endpoint":"e","model":[],"seen_at_ms":0})"),
           std::string(R"({"event":"ratelimit","endpoint":"e","model":"m","seen_at_ms":"0"})"),
       }) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "journal.jsonl", std::ios::binary) << header << "\n" << bad << "\n";
    const auto opened = journal::open(dir_, options());
    ASSERT_FALSE(opened.ok()) << bad;
    EXPECT_EQ(opened.status().code(), status_code::data_loss) << bad;
    EXPECT_NE(opened.status().message().find("journal.jsonl:2: not a journal line"),
              std::string::npos)
        << opened.status().message();
  }
}

TEST_F(journal_test, possibly_paid_counts_saturate_instead_of_overflowing) {
  fs::create_directories(dir_);
  {
    std::ofstream out(dir_ / "journal.jsonl", std::ios::binary);
    out << R"({"event":"header","version":1,"options":{"prompt":"a cat","count":3,"size":"1024x1024"}})"
        << "\n";
    for (int i = 0; i < 3; ++i) {
      out << R"({"event":"possibly_paid","index":0,"count":2147483647})"
          << "\n";
    }
  }
  const auto opened = journal::open(dir_, options());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ((*opened)->images().at(0).possibly_paid, std::numeric_limits<int>::max());
}

}  // namespace
}  // namespace zbatch::generate
