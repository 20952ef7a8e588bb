// generate/: the journal reader (a rerun's resume from `DIR/journal.jsonl`). Input: a journal's
// bytes, written to a scratch directory and opened by journal::open with the options of a
// two-image batch (the corpus' headers carry them). A journal that opens has no negative counts
// and no submit left open (an earlier run's open ones are possibly paid), and opens again with
// one more earlier run: the header it appended reads back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/scratch.hpp"
#include "fuzz/wire_text.hpp"
#include "generate/journal.hpp"

namespace {

namespace generate = zbatch::generate;

const nlohmann::json& options() {
  static const auto out = nlohmann::json::parse(
      R"({"count":2,"mode":"prompt","model":"Tongyi-MAI/Z-Image-Turbo","prompt":"a lighthouse","seed":1000})");
  return out;
}

void check_counts(const generate::journal& journal, std::string_view input) {
  for (const auto& [index, image] : journal.images()) {
    if (index < 0 || image.submits < 0 || image.possibly_paid < 0 || image.open_submits != 0) {
      zbatch::fuzz::expect_same("journal image " + std::to_string(index),
                                std::to_string(image.submits) + " submits, " +
                                    std::to_string(image.possibly_paid) + " possibly paid, " +
                                    std::to_string(image.open_submits) + " open",
                                "no negative count, none open", input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const auto dir = zbatch::fuzz::scratch_dir() / "out";
  std::filesystem::create_directories(dir);
  zbatch::fuzz::write_file(dir / "journal.jsonl", input);
  int runs = 0;
  {
    const auto opened = generate::journal::open(dir, options());
    if (!opened.ok()) {
      return 0;
    }
    check_counts(**opened, input);
    runs = (*opened)->previous_runs();
  }
  const auto again = generate::journal::open(dir, options());
  if (!again.ok() || (*again)->previous_runs() != runs + 1) {
    zbatch::fuzz::expect_same(
        "journal reopened",
        again.ok() ? std::to_string((*again)->previous_runs()) + " runs" : again.status().message(),
        std::to_string(runs + 1) + " runs", input);
  }
  return 0;
}
