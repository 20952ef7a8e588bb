#pragma once
// Runs the zbatch executable under test (its path comes in as ZBATCH_EXE from tests/cli's
// CMakeLists) to the end and reports a failure to start as a test failure. Header-only; each
// call blocks until the process exits.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/cli/process.hpp"

namespace zbatch::test {

/// Runs zbatch with `args`; `key` sets MODELSCOPE_API_KEY (unset when empty).
inline run_result run_zbatch(const std::vector<std::string>& args, const std::string& key = {}) {
  auto result = run_to_end(ZBATCH_EXE, args, key);
  if (result.exit_code == -1) {
    ADD_FAILURE() << "cannot start " << ZBATCH_EXE;
  }
  return result;
}

}  // namespace zbatch::test
